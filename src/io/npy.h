// NumPy .npy files of float32 (format 1.0, little-endian '<f4', C order): how `glmasr mel`
// hands features to Python (numpy.load) and how tests read them back.
#pragma once

#include <string>

#include "core/tensor.h"

namespace glmasr {

// The header numpy writes for a '<f4' C-order array of `shape`: magic, version 1.0, length,
// and the dict padded with spaces and a newline to a multiple of 64 bytes.
std::string npy_header_f32(const Shape& shape);

// Throws glmasr::Error naming the path when it cannot be written.
void write_npy_f32(const std::string& path, const FloatTensor& tensor);

// Reads a '<f4' C-order .npy (format 1.x or 2.x). Throws naming the path for anything else.
FloatTensor read_npy_f32(const std::string& path);

}  // namespace glmasr
