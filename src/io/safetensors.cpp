#include "io/safetensors.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace glmasr {

namespace {

// A header larger than this is not a checkpoint we should trust to parse (real ones are < 1 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t checked_u64(const nlohmann::json& value, const std::string& origin,
                     const std::string& what) {
  // nlohmann marks every non-negative integer unsigned; signed ones here are negative.
  GLMASR_CHECK(value.is_number_unsigned(), origin, ": ", what,
               " must be a non-negative integer, got ", value.dump());
  return value.get<uint64_t>();
}

}  // namespace

std::map<std::string, SafetensorsEntry> parse_safetensors_header(std::string_view header_json,
                                                                 uint64_t data_size,
                                                                 const std::string& origin) {
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_json.begin(), header_json.end());
  } catch (const nlohmann::json::exception& e) {
    fail(origin, ": corrupt safetensors header (not valid JSON): ", e.what());
  }
  GLMASR_CHECK(header.is_object(), origin, ": safetensors header must be a JSON object");

  std::map<std::string, SafetensorsEntry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor '" + name + "'";
    GLMASR_CHECK(info.is_object(), origin, ": ", where, ": entry must be an object");
    GLMASR_CHECK(info.contains("dtype") && info["dtype"].is_string(), origin, ": ", where,
                 ": missing dtype");
    GLMASR_CHECK(info.contains("shape") && info["shape"].is_array(), origin, ": ", where,
                 ": missing shape");
    GLMASR_CHECK(info.contains("data_offsets") && info["data_offsets"].is_array() &&
                     info["data_offsets"].size() == 2,
                 origin, ": ", where, ": data_offsets must be [begin, end]");
    SafetensorsEntry entry;
    const std::string dtype = info["dtype"].get<std::string>();
    GLMASR_CHECK(parse_dtype(dtype, &entry.dtype), origin, ": ", where, ": unsupported dtype '",
                 dtype, "'");
    // Shapes are int64 downstream, so every extent and the product of the non-zero extents must
    // fit in int64 (a zero extent must not hide an overflowing [0, 2^62, 2^62]).
    constexpr uint64_t kMaxExtent = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t count = 1, nonzero_product = 1;
    for (const auto& extent : info["shape"]) {
      const uint64_t e = checked_u64(extent, origin, where + " shape extent");
      GLMASR_CHECK(e == 0 || nonzero_product <= kMaxExtent / e, origin, ": ", where,
                   ": shape overflows");
      if (e != 0) nonzero_product *= e;
      count *= e;
      entry.shape.push_back(static_cast<int64_t>(e));
    }
    entry.begin = checked_u64(info["data_offsets"][0], origin, where + " data_offsets[0]");
    entry.end = checked_u64(info["data_offsets"][1], origin, where + " data_offsets[1]");
    GLMASR_CHECK(entry.begin <= entry.end, origin, ": ", where, ": data_offsets reversed");
    GLMASR_CHECK(entry.end <= data_size, origin, ": ", where, ": data ends at byte ", entry.end,
                 " but the file holds only ", data_size, " bytes of tensor data (truncated file?)");
    const uint64_t element = dtype_size(entry.dtype);
    GLMASR_CHECK(count <= std::numeric_limits<uint64_t>::max() / element &&
                     count * element == entry.end - entry.begin,
                 origin, ": ", where, ": shape ", shape_str(entry.shape), " of ", dtype, " needs ",
                 count * element, " bytes, data_offsets span ", entry.end - entry.begin);
    entries.emplace(name, std::move(entry));
  }
  return entries;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint64_t size = file_.size();
  GLMASR_CHECK(size >= 8, path, ": not a safetensors file (", size,
               " bytes; expected at least an 8-byte header length)");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, file_.data(), 8);  // little-endian on every supported host
  GLMASR_CHECK(header_bytes <= size - 8, path, ": header length ", header_bytes,
               " runs past the end of the file (", size, " bytes; truncated file?)");
  GLMASR_CHECK(header_bytes <= kMaxHeaderBytes, path, ": header length ", header_bytes,
               " exceeds the ", kMaxHeaderBytes, "-byte limit");
  const std::string_view header(reinterpret_cast<const char*>(file_.data()) + 8, header_bytes);
  entries_ = parse_safetensors_header(header, size - 8 - header_bytes, path);
  data_section_ = file_.data() + 8 + header_bytes;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

TensorView SafetensorsFile::view(const std::string& name) const {
  const auto it = entries_.find(name);
  GLMASR_CHECK(it != entries_.end(), path(), ": no tensor named '", name, "'");
  const SafetensorsEntry& entry = it->second;
  return TensorView{entry.dtype, entry.shape, data_section_ + entry.begin,
                    static_cast<size_t>(entry.end - entry.begin)};
}

TensorToWrite make_f32_tensor(std::string name, const FloatTensor& tensor) {
  TensorToWrite out{std::move(name), DType::kF32, tensor.shape(), {}};
  out.bytes.resize(static_cast<size_t>(tensor.numel()) * 4);
  std::memcpy(out.bytes.data(), tensor.data(), out.bytes.size());
  return out;
}

TensorToWrite make_i64_tensor(std::string name, const std::vector<int64_t>& values) {
  TensorToWrite out{std::move(name), DType::kI64, {static_cast<int64_t>(values.size())}, {}};
  out.bytes.resize(values.size() * 8);
  std::memcpy(out.bytes.data(), values.data(), out.bytes.size());
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (const auto& tensor : tensors) {
    header[tensor.name] = {{"dtype", std::string(dtype_name(tensor.dtype))},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');  // align the data section
  std::ofstream out(path, std::ios::binary);
  GLMASR_CHECK(out.good(), path, ": cannot open for writing");
  const uint64_t length = text.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& tensor : tensors)
    out.write(reinterpret_cast<const char*>(tensor.bytes.data()),
              static_cast<std::streamsize>(tensor.bytes.size()));
  GLMASR_CHECK(out.good(), path, ": write failed");
}

}  // namespace glmasr
