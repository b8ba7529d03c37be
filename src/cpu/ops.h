// The CPU reference ops: plain float32 loops written for clarity first. They define what every
// CUDA kernel must compute (the GPU parity tests call them) and run the CPU engine.
// All tensors are contiguous row-major float arrays; shapes are given in the comments.
#pragma once

#include <cstdint>

namespace glmasr::cpu {

// y[r, o] = sum_i x[r, i] * w[o, i] + bias[o]      x [rows, in], w [out, in], y [rows, out]
void linear(const float* x, int64_t rows, int64_t in, const float* w, const float* bias,
            int64_t out, float* y);

// LayerNorm over the last dim with affine weight and bias (PyTorch nn.LayerNorm).
void layer_norm(const float* x, int64_t rows, int64_t dim, const float* weight, const float* bias,
                float eps, float* y);

// RMSNorm: x / sqrt(mean(x^2) + eps) * weight (Llama).
void rms_norm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps, float* y);

// Exact GELU 0.5 x (1 + erf(x / sqrt 2)), in place.
void gelu(float* x, int64_t count);

// SwiGLU: out[i] = silu(gate[i]) * up[i].
void silu_mul(const float* gate, const float* up, int64_t count, float* out);

// Conv1d with kernel 3 and padding 1: x [in_ch, length], w [out_ch, in_ch, 3],
// y [out_ch, (length - 1) / stride + 1].
void conv1d_k3(const float* x, int64_t in_ch, int64_t length, const float* w, const float* bias,
               int64_t out_ch, int stride, float* y);

// Half-split RoPE on the first rotary_dim dims of each head, in place: for d < rotary_dim/2,
// (x[d], x[d+half]) rotate by angle position * theta^(-2d/rotary_dim).
// x [rows, heads, head_dim]; row r sits at position first_position + r.
void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t rotary_dim, float theta,
          int64_t first_position);

// Softmax attention with grouped KV heads: q [q_rows, heads, hd], k/v [kv_rows, kv_heads, hd],
// out [q_rows, heads, hd]. With causal, query row i sees keys 0..(kv_rows - q_rows + i)
// (the queries are the last q_rows positions); otherwise every key.
void attention(const float* q, int64_t q_rows, int64_t heads, const float* k, const float* v,
               int64_t kv_rows, int64_t kv_heads, int64_t head_dim, float scale, bool causal,
               float* out);

// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t count);

}  // namespace glmasr::cpu
