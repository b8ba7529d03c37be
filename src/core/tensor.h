// Host tensors: a non-owning typed view (checkpoint data, mmapped) and an owning float32 tensor
// (the CPU reference engine's activations and the golden fixtures after upcasting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace glmasr {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[3, 4]"

// A view of typed, contiguous, row-major bytes owned by someone else (an mmapped file).
struct TensorView {
  DType dtype = DType::kF32;
  Shape shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim(size_t i) const { return shape.at(i); }
};

// Owning float32 tensor, contiguous and row-major.
class FloatTensor {
 public:
  FloatTensor() = default;
  explicit FloatTensor(Shape shape, float fill = 0.0f);
  FloatTensor(Shape shape, std::vector<float> values);

  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return static_cast<int64_t>(values_.size()); }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  std::vector<float>& values() { return values_; }
  const std::vector<float>& values() const { return values_; }
  float& operator[](int64_t i) { return values_[static_cast<size_t>(i)]; }
  float operator[](int64_t i) const { return values_[static_cast<size_t>(i)]; }

  // Same data, new shape with the same element count.
  FloatTensor reshaped(Shape shape) const;

 private:
  Shape shape_;
  std::vector<float> values_;
};

// Element i of a floating view (F32, F16, BF16, F64) as float32; throws glmasr::Error naming
// `what` for integer types.
float element_to_float(const TensorView& view, int64_t i, const char* what);
// Converts any floating view (F32, F16, BF16, F64) to float32; throws for integer types.
FloatTensor to_float(const TensorView& view, const std::string& what);
// Converts an integer view (I64, I32) to int64 values; throws for floating types.
std::vector<int64_t> to_int64(const TensorView& view, const std::string& what);

}  // namespace glmasr
