#include "io/npy.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmasr {
namespace {

static_assert(std::endian::native == std::endian::little,
              "npy '<f4' data is written straight from memory");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlignment = 64;

std::string shape_tuple(const Shape& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";  // a one-element Python tuple needs the comma
  return text + ")";
}

// The value text after `'key':` in the header dict, up to the next top-level ',' or '}'.
std::string dict_value(const std::string& dict, const std::string& key, const std::string& path) {
  const std::string quoted = "'" + key + "':";
  const size_t at = dict.find(quoted);
  GLMASR_CHECK(at != std::string::npos, "npy file '", path, "': header lacks '", key, "'");
  size_t pos = at + quoted.size();
  while (pos < dict.size() && dict[pos] == ' ') ++pos;
  int depth = 0;
  size_t end = pos;
  for (; end < dict.size(); ++end) {
    const char c = dict[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  return dict.substr(pos, end - pos);
}

Shape parse_shape(const std::string& tuple, const std::string& path) {
  GLMASR_CHECK(tuple.size() >= 2 && tuple.front() == '(' && tuple.back() == ')', "npy file '", path,
               "': expected a shape tuple, got '", tuple, "'");
  Shape shape;
  std::string inner = tuple.substr(1, tuple.size() - 2);
  std::stringstream parts(inner);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const size_t first = part.find_first_not_of(' ');
    if (first == std::string::npos) continue;  // the trailing comma of "(5,)"
    char* end = nullptr;
    const long long value = std::strtoll(part.c_str() + first, &end, 10);
    GLMASR_CHECK(end != part.c_str() + first && value >= 0, "npy file '", path,
                 "': expected non-negative dimensions, got '", tuple, "'");
    shape.push_back(value);
  }
  return shape;
}

}  // namespace

std::string npy_header_f32(const Shape& shape) {
  std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  const size_t prefix = kMagicSize + 2 + 2;          // magic, version, uint16 header length
  const size_t unpadded = prefix + dict.size() + 1;  // + the final newline
  dict.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  dict += '\n';
  GLMASR_CHECK(dict.size() <= 0xFFFF, "npy header for shape ", shape_str(shape),
               " exceeds format 1.0's 65535 bytes");
  std::string header(kMagic, kMagicSize);
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xFF);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

void write_npy_f32(const std::string& path, const FloatTensor& tensor) {
  const std::string header = npy_header_f32(tensor.shape());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  GLMASR_CHECK(out, "cannot open '", path, "' for writing");
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(tensor.data()),
            static_cast<std::streamsize>(tensor.numel() * sizeof(float)));
  out.close();
  GLMASR_CHECK(out, "writing '", path, "' failed (disk full?)");
}

FloatTensor read_npy_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GLMASR_CHECK(in, "cannot open npy file '", path, "'");
  char prefix[kMagicSize + 2];
  in.read(prefix, sizeof prefix);
  GLMASR_CHECK(in && std::memcmp(prefix, kMagic, kMagicSize) == 0, "npy file '", path,
               "': expected the \\x93NUMPY magic");
  const int major = static_cast<unsigned char>(prefix[kMagicSize]);
  GLMASR_CHECK(major == 1 || major == 2, "npy file '", path,
               "': expected format version 1 or 2, got ", major);
  unsigned char length_bytes[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(length_bytes), major == 1 ? 2 : 4);
  const uint32_t dict_size = length_bytes[0] | length_bytes[1] << 8 | length_bytes[2] << 16 |
                             static_cast<uint32_t>(length_bytes[3]) << 24;
  std::string dict(dict_size, '\0');
  in.read(dict.data(), dict_size);
  GLMASR_CHECK(in, "npy file '", path, "': truncated header");
  const std::string descr = dict_value(dict, "descr", path);
  GLMASR_CHECK(descr == "'<f4'", "npy file '", path, "': expected dtype '<f4', got ", descr);
  const std::string order = dict_value(dict, "fortran_order", path);
  GLMASR_CHECK(order == "False", "npy file '", path, "': expected C order, got fortran_order ",
               order);
  const Shape shape = parse_shape(dict_value(dict, "shape", path), path);
  // Checked against the bytes present before allocating, so a bad header cannot ask for more.
  const std::streampos data_start = in.tellg();
  in.seekg(0, std::ios::end);
  const auto data_bytes = static_cast<uint64_t>(in.tellg() - data_start);
  in.seekg(data_start);
  uint64_t expected_values = 1;
  for (const int64_t dim : shape) {
    GLMASR_CHECK(dim == 0 || expected_values <= data_bytes / sizeof(float) / dim, "npy file '",
                 path, "': shape ", shape_str(shape), " needs more data than the file holds");
    expected_values *= static_cast<uint64_t>(dim);
  }
  GLMASR_CHECK(expected_values * sizeof(float) <= data_bytes, "npy file '", path, "': expected ",
               expected_values, " float32 values after the header, the file ", "holds ",
               data_bytes / sizeof(float));
  FloatTensor tensor(shape);
  in.read(reinterpret_cast<char*>(tensor.data()),
          static_cast<std::streamsize>(tensor.numel() * sizeof(float)));
  GLMASR_CHECK(in, "npy file '", path, "': expected ", tensor.numel(),
               " float32 values after the header, the file is shorter");
  return tensor;
}

}  // namespace glmasr
