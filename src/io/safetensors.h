// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw bytes. Files are mmapped; tensors are views into the map.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace glmasr {

struct SafetensorsEntry {
  DType dtype;
  Shape shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

// Parses and validates a header (the JSON text) against a data section of data_size bytes.
// Every failure throws glmasr::Error whose message starts with `origin` (the file name).
// Pure function of its inputs: this is what the fuzz target drives.
std::map<std::string, SafetensorsEntry> parse_safetensors_header(std::string_view header_json,
                                                                 uint64_t data_size,
                                                                 const std::string& origin);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  std::vector<std::string> names() const;
  // Throws naming the file and the tensor when absent.
  TensorView view(const std::string& name) const;
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }

 private:
  MappedFile file_;
  const std::byte* data_section_ = nullptr;
  std::map<std::string, SafetensorsEntry> entries_;
};

// One tensor to write: raw little-endian bytes of dtype, row-major.
struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

TensorToWrite make_f32_tensor(std::string name, const FloatTensor& tensor);
TensorToWrite make_i64_tensor(std::string name, const std::vector<int64_t>& values);

// Writes a safetensors file (tensors in the order given). Throws naming the path on I/O errors.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace glmasr
