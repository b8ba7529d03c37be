#include "cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"

namespace glmasr::cpu {

namespace {

float dot(const float* a, const float* b, int64_t n) {
  // Four partial sums let the compiler vectorise without -ffast-math.
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

void linear(const float* x, int64_t rows, int64_t in, const float* w, const float* bias,
            int64_t out, float* y) {
  // Output columns are split across threads; a block of x rows is reused against each weight
  // row while both are in cache.
  parallel_for(out, rows * in, [&](int64_t o_begin, int64_t o_end) {
    constexpr int64_t kRowBlock = 16;
    for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
      const int64_t r1 = std::min(rows, r0 + kRowBlock);
      for (int64_t o = o_begin; o < o_end; ++o) {
        const float* w_row = w + o * in;
        const float b = bias ? bias[o] : 0.0f;
        for (int64_t r = r0; r < r1; ++r) y[r * out + o] = dot(x + r * in, w_row, in) + b;
      }
    }
  });
}

void layer_norm(const float* x, int64_t rows, int64_t dim, const float* weight, const float* bias,
                float eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double mean = 0;
    for (int64_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= dim;
    double var = 0;
    for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= dim;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    for (int64_t i = 0; i < dim; ++i)
      y[r * dim + i] = (xr[i] - static_cast<float>(mean)) * inv * weight[i] + bias[i];
  }
}

void rms_norm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double sum = 0;
    for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(sum / dim + eps));
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] = xr[i] * inv * weight[i];
  }
}

void gelu(float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * static_cast<float>(M_SQRT1_2)));
}

void silu_mul(const float* gate, const float* up, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void conv1d_k3(const float* x, int64_t in_ch, int64_t length, const float* w, const float* bias,
               int64_t out_ch, int stride, float* y) {
  const int64_t out_len = (length - 1) / stride + 1;
  // Gather the three shifted input columns as rows of an im2col matrix [out_len, in_ch*3], so
  // the convolution is one linear() against w viewed as [out_ch, in_ch*3].
  std::vector<float> columns(static_cast<size_t>(out_len * in_ch * 3), 0.0f);
  for (int64_t t = 0; t < out_len; ++t)
    for (int64_t c = 0; c < in_ch; ++c)
      for (int64_t k = 0; k < 3; ++k) {
        const int64_t src = t * stride + k - 1;
        if (src >= 0 && src < length) columns[(t * in_ch + c) * 3 + k] = x[c * length + src];
      }
  std::vector<float> transposed(static_cast<size_t>(out_len * out_ch));
  linear(columns.data(), out_len, in_ch * 3, w, bias, out_ch, transposed.data());
  for (int64_t t = 0; t < out_len; ++t)
    for (int64_t o = 0; o < out_ch; ++o) y[o * out_len + t] = transposed[t * out_ch + o];
}

void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t rotary_dim, float theta,
          int64_t first_position) {
  const int64_t half = rotary_dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t d = 0; d < half; ++d)  // as transformers: 1 / theta^(2d / rotary_dim) in float32
    inv_freq[d] =
        1.0f / std::pow(theta, static_cast<float>(2 * d) / static_cast<float>(rotary_dim));
  for (int64_t r = 0; r < rows; ++r) {
    const float position = static_cast<float>(first_position + r);
    for (int64_t d = 0; d < half; ++d) {
      const float angle = position * inv_freq[d];
      const float c = std::cos(angle), s = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (r * heads + h) * head_dim;
        const float a = v[d], b = v[d + half];
        v[d] = a * c - b * s;
        v[d + half] = b * c + a * s;
      }
    }
  }
}

void attention(const float* q, int64_t q_rows, int64_t heads, const float* k, const float* v,
               int64_t kv_rows, int64_t kv_heads, int64_t head_dim, float scale, bool causal,
               float* out) {
  const int64_t group = heads / kv_heads;
  parallel_for(q_rows * heads, kv_rows * head_dim * 2, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(kv_rows));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / heads, h = item % heads, kvh = h / group;
      const int64_t visible = causal ? kv_rows - q_rows + i + 1 : kv_rows;
      const float* qi = q + (i * heads + h) * head_dim;
      float best = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) {
        scores[j] = dot(qi, k + (j * kv_heads + kvh) * head_dim, head_dim) * scale;
        best = std::max(best, scores[j]);
      }
      double total = 0;
      for (int64_t j = 0; j < visible; ++j) {
        scores[j] = std::exp(scores[j] - best);
        total += scores[j];
      }
      float* o = out + (i * heads + h) * head_dim;
      std::fill(o, o + head_dim, 0.0f);
      for (int64_t j = 0; j < visible; ++j) {
        const float p = static_cast<float>(scores[j] / total);
        const float* vj = v + (j * kv_heads + kvh) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) o[d] += p * vj[d];
      }
    }
  });
}

void add_inplace(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

}  // namespace glmasr::cpu
