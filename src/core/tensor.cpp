#include "core/tensor.h"

#include <sstream>

#include "core/error.h"

namespace glmasr {

int64_t shape_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

FloatTensor::FloatTensor(Shape shape, float fill)
    : shape_(std::move(shape)), values_(static_cast<size_t>(shape_numel(shape_)), fill) {}

FloatTensor::FloatTensor(Shape shape, std::vector<float> values)
    : shape_(std::move(shape)), values_(std::move(values)) {
  GLMASR_CHECK(static_cast<int64_t>(values_.size()) == shape_numel(shape_), "FloatTensor: shape ",
               shape_str(shape_), " needs ", shape_numel(shape_), " values, got ", values_.size());
}

FloatTensor FloatTensor::reshaped(Shape shape) const {
  GLMASR_CHECK(shape_numel(shape) == numel(), "reshape ", shape_str(shape_), " to ",
               shape_str(shape), ": element counts differ");
  return FloatTensor(std::move(shape), values_);
}

float element_to_float(const TensorView& view, int64_t i, const char* what) {
  const std::byte* p = view.data + static_cast<size_t>(i) * dtype_size(view.dtype);
  switch (view.dtype) {
    case DType::kBF16:
    case DType::kF16: {
      uint16_t bits;
      std::memcpy(&bits, p, 2);
      return view.dtype == DType::kBF16 ? bf16_to_float(bits) : fp16_to_float(bits);
    }
    case DType::kF32: {
      float value;
      std::memcpy(&value, p, 4);
      return value;
    }
    case DType::kF64: {
      double value;
      std::memcpy(&value, p, 8);
      return static_cast<float>(value);
    }
    default:
      fail(what, ": expected a floating-point tensor, got ", dtype_name(view.dtype));
  }
}

FloatTensor to_float(const TensorView& view, const std::string& what) {
  const int64_t count = view.numel();
  GLMASR_CHECK(view.nbytes == static_cast<size_t>(count) * dtype_size(view.dtype), what,
               ": byte size does not match shape ", shape_str(view.shape));
  std::vector<float> out(static_cast<size_t>(count));
  const std::byte* src = view.data;
  switch (view.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), src, view.nbytes);
      break;
    case DType::kF64:
      for (int64_t i = 0; i < count; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      break;
    case DType::kBF16:
    case DType::kF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        out[i] = view.dtype == DType::kBF16 ? bf16_to_float(bits) : fp16_to_float(bits);
      }
      break;
    default:
      fail(what, ": expected a floating-point tensor, got ", dtype_name(view.dtype));
  }
  return FloatTensor(view.shape, std::move(out));
}

std::vector<int64_t> to_int64(const TensorView& view, const std::string& what) {
  const int64_t count = view.numel();
  std::vector<int64_t> out(static_cast<size_t>(count));
  if (view.dtype == DType::kI64) {
    std::memcpy(out.data(), view.data, static_cast<size_t>(count) * 8);
  } else if (view.dtype == DType::kI32) {
    for (int64_t i = 0; i < count; ++i) {
      int32_t v;
      std::memcpy(&v, view.data + 4 * i, 4);
      out[i] = v;
    }
  } else {
    fail(what, ": expected an integer tensor (I64 or I32), got ", dtype_name(view.dtype));
  }
  return out;
}

}  // namespace glmasr
