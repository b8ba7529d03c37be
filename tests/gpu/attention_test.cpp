// Parity of the CUDA attention kernels with glmasr::cpu::attention (fp32) on random inputs
// rounded to the element type (bf16 or fp16; every parity case runs in both, named "_bf16" /
// "_fp16"), laid out as the engine lays them out (fused QKV rows, KV-cache slots), plus argument
// checks, and CUDA-graph replay of decode with changing lengths. Their timings are a bench case:
// `glmasr bench --attention`.
#include "cuda/kernels/attention/attention.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cpu/ops.h"
#include "cuda/check.h"
#include "cuda/cuda_graph.h"
#include "cuda/device.h"
#include "testing/gpu.h"
#include "testing/testing.h"

namespace glmasr::cuda {
namespace {

using gpu_test::expect_rejected;

// A NaN in bf16 and in fp16: any output left unwritten fails the check.
constexpr uint16_t kPoison = 0xFFFF;

// Host rounding of a float to the 16-bit element type (nearest even) and back.
uint16_t to_element(float value, DType dtype) {
  return dtype == DType::kF16 ? float_to_fp16(value) : float_to_bf16(value);
}

float from_element(uint16_t bits, DType dtype) {
  return dtype == DType::kF16 ? fp16_to_float(bits) : bf16_to_float(bits);
}

const char* dtype_suffix(DType dtype) {
  return dtype == DType::kF16 ? "_fp16" : "_bf16";
}

// The tolerance (testing/gpu.h) bounds the largest relative (L2) error against the fp32
// reference on inputs already rounded to the element type: what is left is the rounding of the
// probabilities fed to the tensor cores and of the output (a host model of the tensor-core kernel
// gives about 2e-3 in bf16 and 2.5e-4 in fp16).
using gpu_test::tolerance;

// A plain device allocation for the tests, freed on scope exit.
class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes) : bytes_(bytes) {
    GLMASR_CUDA_CHECK(cudaMalloc(&ptr_, std::max<size_t>(bytes, 16)));
  }
  ~DeviceMemory() { cudaFree(ptr_); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  template <typename T>
  void upload(const std::vector<T>& host) {
    GLMASR_CUDA_CHECK(
        cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  template <typename T>
  std::vector<T> download() const {
    std::vector<T> host(bytes_ / sizeof(T));
    GLMASR_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes_, cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

class Stream {
 public:
  Stream() { GLMASR_CUDA_CHECK(cudaStreamCreate(&stream_)); }
  ~Stream() { cudaStreamDestroy(stream_); }
  operator cudaStream_t() const { return stream_; }

 private:
  cudaStream_t stream_{};
};

// Random values of the element type (never an all-zero tensor): normal with the given deviation.
std::vector<uint16_t> random_elements(size_t count, float deviation, DType dtype,
                                      std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, deviation);
  std::vector<uint16_t> values(count);
  for (auto& v : values) v = to_element(normal(rng), dtype);
  return values;
}

// Each case once per element type, the type appended to its name.
template <typename Case>
std::vector<Case> in_both_dtypes(std::initializer_list<Case> cases) {
  std::vector<Case> out;
  for (DType dtype : {DType::kBF16, DType::kF16})
    for (Case c : cases) {
      c.name += dtype_suffix(dtype);
      c.dtype = dtype;
      out.push_back(std::move(c));
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// flash_attention

enum class KvLayout {
  FusedQkv,  // q, k, v interleaved per token: [batch, tokens, heads + 2 kv_heads, hd]
  Cache,     // q fused as above; k, v in cache slots [batch, kv_heads, max_seq, hd]
};
// Rows*: mma.sync tensor cores, rows per warp; Wgmma*: warpgroup MMA, warpgroups per block.
enum class Path { Auto, Generic, Rows16, Rows32, Wgmma2, Wgmma3 };

struct FlashCase {
  std::string name;
  int batch, q_len, kv_len, heads, kv_heads, head_dim;
  bool causal;
  KvLayout layout;
  Path path;
  int out_row_padding;       // extra elements after each output row, checked untouched
  bool expect_tensor_cores;  // what flash_attention should pick on its own
  DType dtype = DType::kBF16;
};

void PrintTo(const FlashCase& c, std::ostream* os) {
  *os << c.name;
}

// The device buffers of one flash case, with the logical (contiguous fp32) views of the inputs
// that the CPU reference reads.
struct FlashSetup {
  FlashAttentionParams params{};
  std::vector<float> q, k, v;  // [batch][rows][heads or kv_heads][hd]
  std::vector<uint16_t> qkv_host, kv_host, out_host;
  size_t out_elems = 0;
};

class FlashBuffers {
 public:
  explicit FlashBuffers(const FlashCase& c, uint32_t seed) {
    std::mt19937 rng(seed);
    const int hd = c.head_dim, fused_heads = c.heads + 2 * c.kv_heads;
    const int q_tokens = c.layout == KvLayout::FusedQkv ? c.kv_len : c.q_len;
    if (c.layout == KvLayout::FusedQkv && c.q_len != c.kv_len)
      fail("test setup: the fused layout needs q_len == kv_len");
    // q (and for the fused layout k, v) come from one [batch, tokens, fused_heads, hd] buffer.
    auto qkv = random_elements(static_cast<size_t>(c.batch) * q_tokens * fused_heads * hd, 1.5f,
                               c.dtype, rng);
    const int64_t qkv_row = static_cast<int64_t>(fused_heads) * hd;
    const int64_t qkv_batch = q_tokens * qkv_row;
    qkv_mem_ = std::make_unique<DeviceMemory>(qkv.size() * 2);
    qkv_mem_->upload(qkv);
    auto* qkv_ptr = qkv_mem_->as<uint16_t>();
    AttentionTensor q{qkv_ptr, qkv_batch, qkv_row, hd};
    AttentionTensor k{qkv_ptr + c.heads * hd, qkv_batch, qkv_row, hd};
    AttentionTensor v{qkv_ptr + (c.heads + c.kv_heads) * hd, qkv_batch, qkv_row, hd};
    std::vector<uint16_t> kv;  // cache layout: k slots then v slots
    if (c.layout == KvLayout::Cache) {
      const int max_seq = c.kv_len + 24;  // unused cache rows past kv_len hold random values
      const int64_t slot = static_cast<int64_t>(c.kv_heads) * max_seq * hd;
      kv = random_elements(static_cast<size_t>(2 * c.batch * slot), 1.0f, c.dtype, rng);
      kv_mem_ = std::make_unique<DeviceMemory>(kv.size() * 2);
      kv_mem_->upload(kv);
      auto* kv_ptr = kv_mem_->as<uint16_t>();
      k = {kv_ptr, slot, hd, static_cast<int64_t>(max_seq) * hd};
      v = {kv_ptr + c.batch * slot, slot, hd, static_cast<int64_t>(max_seq) * hd};
    }
    const uint16_t* qkv_base = qkv.data();
    const uint16_t* kv_base = kv.data();
    auto gather = [&](const AttentionTensor& t, const uint16_t* host_base, const void* dev_base,
                      int rows, int heads) {
      const int64_t offset =
          static_cast<const uint16_t*>(t.ptr) - static_cast<const uint16_t*>(dev_base);
      std::vector<float> logical(static_cast<size_t>(c.batch) * rows * heads * hd);
      for (int b = 0; b < c.batch; ++b)
        for (int r = 0; r < rows; ++r)
          for (int h = 0; h < heads; ++h)
            for (int d = 0; d < hd; ++d)
              logical[((static_cast<size_t>(b) * rows + r) * heads + h) * hd + d] = from_element(
                  host_base[offset + b * t.batch_stride + r * t.row_stride + h * t.head_stride + d],
                  c.dtype);
      return logical;
    };
    setup_.q = gather(q, qkv_base, qkv_ptr, c.q_len, c.heads);
    if (c.layout == KvLayout::FusedQkv) {
      setup_.k = gather(k, qkv_base, qkv_ptr, c.kv_len, c.kv_heads);
      setup_.v = gather(v, qkv_base, qkv_ptr, c.kv_len, c.kv_heads);
    } else {
      setup_.k = gather(k, kv_base, kv_mem_->as<uint16_t>(), c.kv_len, c.kv_heads);
      setup_.v = gather(v, kv_base, kv_mem_->as<uint16_t>(), c.kv_len, c.kv_heads);
    }

    out_row_ = static_cast<int64_t>(c.heads) * hd + c.out_row_padding;
    out_batch_ = c.q_len * out_row_ + 8;
    setup_.out_elems = static_cast<size_t>(c.batch) * out_batch_;
    out_mem_ = std::make_unique<DeviceMemory>(setup_.out_elems * 2);
    AttentionTensor out{out_mem_->as<uint16_t>(), out_batch_, out_row_, hd};
    setup_.params = {q,
                     k,
                     v,
                     out,
                     c.batch,
                     c.q_len,
                     c.kv_len,
                     c.heads,
                     c.kv_heads,
                     hd,
                     1.0f / std::sqrt(static_cast<float>(hd)),
                     c.causal,
                     c.dtype};
  }

  const FlashAttentionParams& params() const { return setup_.params; }
  const FlashSetup& setup() const { return setup_; }

  void poison_output() {
    GLMASR_CUDA_CHECK(cudaMemset(out_mem_->as<void>(), 0xFF, setup_.out_elems * 2));
  }

  // Checks that exactly the logical output elements were written and returns them.
  std::vector<float> read_output(const FlashCase& c) const {
    const auto raw = out_mem_->download<uint16_t>();
    std::vector<float> logical(static_cast<size_t>(c.batch) * c.q_len * c.heads * c.head_dim);
    std::vector<bool> is_output(raw.size(), false);
    for (int b = 0; b < c.batch; ++b)
      for (int r = 0; r < c.q_len; ++r)
        for (int i = 0; i < c.heads * c.head_dim; ++i) {
          const size_t at = b * out_batch_ + r * out_row_ + i;
          is_output[at] = true;
          logical[(static_cast<size_t>(b) * c.q_len + r) * c.heads * c.head_dim + i] =
              from_element(raw[at], c.dtype);
        }
    size_t unwritten = 0, clobbered = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (is_output[i] && !std::isfinite(from_element(raw[i], c.dtype))) ++unwritten;
      if (!is_output[i] && raw[i] != kPoison) ++clobbered;
    }
    EXPECT_EQ(unwritten, 0u) << "output elements left unwritten (or non-finite)";
    EXPECT_EQ(clobbered, 0u) << "elements outside the output view were written";
    return logical;
  }

 private:
  std::unique_ptr<DeviceMemory> qkv_mem_, kv_mem_, out_mem_;
  FlashSetup setup_;
  int64_t out_row_ = 0, out_batch_ = 0;
};

std::vector<float> cpu_reference(const FlashCase& c, const FlashSetup& s) {
  std::vector<float> out(static_cast<size_t>(c.batch) * c.q_len * c.heads * c.head_dim);
  const size_t q_batch = static_cast<size_t>(c.q_len) * c.heads * c.head_dim;
  const size_t kv_batch = static_cast<size_t>(c.kv_len) * c.kv_heads * c.head_dim;
  for (int b = 0; b < c.batch; ++b)
    cpu::attention(s.q.data() + b * q_batch, c.q_len, c.heads, s.k.data() + b * kv_batch,
                   s.v.data() + b * kv_batch, c.kv_len, c.kv_heads, c.head_dim, s.params.scale,
                   c.causal, out.data() + b * q_batch);
  return out;
}

double relative_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  const Shape shape{static_cast<int64_t>(expected.size())};
  return testing::relative_error(FloatTensor(shape, actual), FloatTensor(shape, expected));
}

class FlashAttentionParity : public ::testing::TestWithParam<FlashCase> {};

TEST_P(FlashAttentionParity, MatchesCpuReference) {
  GLMASR_SKIP_WITHOUT_GPU();
  const FlashCase& c = GetParam();
  FlashBuffers buffers(c, 1234u + c.q_len * 7 + c.head_dim);
  EXPECT_EQ(detail::flash_attention_uses_tensor_cores(buffers.params()), c.expect_tensor_cores);
  buffers.poison_output();
  const bool wgmma = c.path == Path::Wgmma2 || c.path == Path::Wgmma3;
  if (wgmma && !detail::flash_attention_uses_wgmma(buffers.params()))
    GTEST_SKIP() << "the wgmma kernel needs an sm_90 GPU: test skipped";
  Stream stream;
  if (wgmma)
    detail::flash_attention_wgmma(buffers.params(), c.path == Path::Wgmma2 ? 2 : 3, stream);
  else if (c.path == Path::Generic)
    detail::flash_attention_generic(buffers.params(), stream);
  else if (c.path == Path::Rows16 || c.path == Path::Rows32)
    detail::flash_attention_tensor_cores(buffers.params(), c.path == Path::Rows16 ? 16 : 32,
                                         stream);
  else
    flash_attention(buffers.params(), stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  const auto actual = buffers.read_output(c);
  const auto expected = cpu_reference(c, buffers.setup());
  const double error = relative_error(actual, expected);
  EXPECT_LE(error, tolerance(c.dtype)) << c.name;
  std::printf("[ attention ] %-40s relative error %.2e\n", c.name.c_str(), error);
}

constexpr auto kFused = KvLayout::FusedQkv;
constexpr auto kCache = KvLayout::Cache;
constexpr auto kAuto = Path::Auto;
constexpr auto kGeneric = Path::Generic;
constexpr auto kRows16 = Path::Rows16;
constexpr auto kRows32 = Path::Rows32;
constexpr auto kWgmma2 = Path::Wgmma2;
constexpr auto kWgmma3 = Path::Wgmma3;

INSTANTIATE_TEST_SUITE_P(
    Encoder, FlashAttentionParity,
    ::testing::ValuesIn(in_both_dtypes<FlashCase>(
        {FlashCase{"encoder_b1_1500", 1, 1500, 1500, 20, 20, 64, false, kFused, kAuto, 8, true},
         FlashCase{"encoder_b2_1500", 2, 1500, 1500, 20, 20, 64, false, kFused, kAuto, 8, true},
         FlashCase{"encoder_b2_37", 2, 37, 37, 20, 20, 64, false, kFused, kAuto, 8, true},
         FlashCase{"encoder_b1_1", 1, 1, 1, 20, 20, 64, false, kFused, kAuto, 8, true},
         FlashCase{"encoder_b1_200_4heads", 1, 200, 200, 4, 4, 64, false, kFused, kAuto, 8, true},
         FlashCase{"encoder_b2_1500_rows16", 2, 1500, 1500, 20, 20, 64, false, kFused, kRows16, 8,
                   true},
         FlashCase{"encoder_b2_1500_rows32", 2, 1500, 1500, 20, 20, 64, false, kFused, kRows32, 8,
                   true},
         FlashCase{"encoder_b1_200_rows16", 1, 200, 200, 4, 4, 64, false, kFused, kRows16, 8, true},
         FlashCase{"encoder_b1_200_rows32", 1, 200, 200, 4, 4, 64, false, kFused, kRows32, 8, true},
         FlashCase{"encoder_b2_37_rows32", 2, 37, 37, 20, 20, 64, false, kFused, kRows32, 8, true},
         FlashCase{"causal_hd64_rows32", 1, 150, 300, 4, 2, 64, true, kCache, kRows32, 8, true},
         // Warpgroup MMA: one and several windows, tails of rows and keys shorter than a tile,
         // one row, a tile and one key, q heads sharing kv heads.
         FlashCase{"encoder_b2_1500_wgmma2", 2, 1500, 1500, 20, 20, 64, false, kFused, kWgmma2, 8,
                   true},
         FlashCase{"encoder_b3_1500_wgmma3", 3, 1500, 1500, 20, 20, 64, false, kFused, kWgmma3, 8,
                   true},
         FlashCase{"encoder_b2_37_wgmma2", 2, 37, 37, 20, 20, 64, false, kFused, kWgmma2, 8, true},
         FlashCase{"encoder_b1_1_wgmma3", 1, 1, 1, 4, 4, 64, false, kFused, kWgmma3, 8, true},
         FlashCase{"encoder_b1_200_wgmma2", 1, 200, 200, 4, 4, 64, false, kFused, kWgmma2, 8, true},
         FlashCase{"gqa_b2_300_wgmma2", 2, 300, 300, 8, 2, 64, false, kFused, kWgmma2, 8, true},
         FlashCase{"gqa_b1_129_wgmma3", 1, 129, 129, 8, 2, 64, false, kFused, kWgmma3, 8, true},
         FlashCase{"encoder_b1_130_generic", 1, 130, 130, 4, 4, 64, false, kFused, kGeneric, 8,
                   true},
         // An output row padded by 2 elements breaks 16-byte alignment: generic path.
         FlashCase{"encoder_b1_77_unaligned", 1, 77, 77, 4, 4, 64, false, kFused, kAuto, 2, false},
         FlashCase{"tiny_encoder_hd16", 2, 37, 37, 2, 2, 16, false, kFused, kAuto, 8, false}})),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Prefill, FlashAttentionParity,
    ::testing::ValuesIn(in_both_dtypes<FlashCase>(
        {FlashCase{"prefill_1", 1, 1, 1, 16, 4, 128, true, kCache, kAuto, 8, true},
         FlashCase{"prefill_15", 1, 15, 15, 16, 4, 128, true, kCache, kAuto, 8, true},
         FlashCase{"prefill_390", 1, 390, 390, 16, 4, 128, true, kCache, kAuto, 8, true},
         FlashCase{"prefill_441_b2", 2, 441, 441, 16, 4, 128, true, kCache, kAuto, 8, true},
         // Queries that are the last rows of a longer cache (chunked prefill).
         FlashCase{"prefill_q15_kv100", 1, 15, 100, 16, 4, 128, true, kCache, kAuto, 8, true},
         FlashCase{"prefill_q70_kv200", 1, 70, 200, 16, 4, 128, true, kCache, kAuto, 8, true},
         FlashCase{"prefill_fused_200", 1, 200, 200, 16, 4, 128, true, kFused, kAuto, 8, true},
         FlashCase{"prefill_131_generic", 1, 131, 131, 16, 4, 128, true, kCache, kGeneric, 8, true},
         FlashCase{"tiny_decoder_hd12_15", 1, 15, 15, 2, 1, 12, true, kCache, kAuto, 8, false},
         FlashCase{"tiny_decoder_hd12_390", 1, 390, 390, 2, 1, 12, true, kCache, kAuto, 8,
                   false}})),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// flash_attention over packed spans (the prefill of several prompts in one launch)

struct PackedCase {
  std::string name;
  std::vector<int> q_lens;           // one span each, packed in this order
  std::vector<int> first_positions;  // keys before the span's queries (a chunked prefill)
  int heads, kv_heads, head_dim;
  Path path;
  DType dtype = DType::kBF16;
};

void PrintTo(const PackedCase& c, std::ostream* os) {
  *os << c.name;
}

class FlashAttentionPacked : public ::testing::TestWithParam<PackedCase> {};

void run_flash_path(const FlashAttentionParams& p, Path path, cudaStream_t stream) {
  if (path == Path::Generic)
    detail::flash_attention_generic(p, stream);
  else if (path == Path::Rows16 || path == Path::Rows32)
    detail::flash_attention_tensor_cores(p, path == Path::Rows16 ? 16 : 32, stream);
  else
    flash_attention(p, stream);
}

// The spans' queries sit in one fused QKV run of rows, their keys and values in cache slots
// taken in reverse order. One launch over the spans must write exactly what one launch per
// span writes (the same kernel on the same values: the same bits), nothing outside the spans'
// rows, and match the CPU reference.
TEST_P(FlashAttentionPacked, MatchesOneLaunchPerSpanAndCpuReference) {
  GLMASR_SKIP_WITHOUT_GPU();
  const PackedCase& c = GetParam();
  const int n = static_cast<int>(c.q_lens.size()), hd = c.head_dim;
  std::vector<FlashAttentionSpan> spans;
  int rows = 0, max_kv = 0, max_q = 0;
  for (int i = 0; i < n; ++i) {
    const int kv_len = c.first_positions[i] + c.q_lens[i];
    spans.push_back({rows, c.q_lens[i], n - 1 - i, kv_len});
    rows += c.q_lens[i];
    max_q = std::max(max_q, c.q_lens[i]);
    max_kv = std::max(max_kv, kv_len);
  }
  const int tail_rows = 3;  // rows after the last span: must stay untouched
  std::mt19937 rng(77u + rows);
  const int64_t qkv_row = int64_t{c.heads + 2 * c.kv_heads} * hd, out_row = int64_t{c.heads} * hd;
  const auto qkv = random_elements((rows + tail_rows) * qkv_row, 1.5f, c.dtype, rng);
  const int max_seq = max_kv + 8;
  const int64_t head = int64_t{max_seq} * hd, slot = c.kv_heads * head;
  const auto kv = random_elements(2 * n * slot, 1.0f, c.dtype, rng);
  DeviceMemory qkv_mem(qkv.size() * 2), kv_mem(kv.size() * 2), spans_mem(n * sizeof(spans[0]));
  qkv_mem.upload(qkv);
  kv_mem.upload(kv);
  spans_mem.upload(spans);
  const size_t out_elems = (rows + tail_rows) * out_row;
  DeviceMemory packed_out(out_elems * 2), per_span_out(out_elems * 2);
  GLMASR_CUDA_CHECK(cudaMemset(packed_out.as<void>(), 0xFF, out_elems * 2));
  GLMASR_CUDA_CHECK(cudaMemset(per_span_out.as<void>(), 0xFF, out_elems * 2));

  auto* qkv_ptr = qkv_mem.as<uint16_t>();
  auto* k_ptr = kv_mem.as<uint16_t>();
  auto* v_ptr = k_ptr + n * slot;
  FlashAttentionParams packed{};
  packed.q = {qkv_ptr, 0, qkv_row, hd};
  packed.k = {k_ptr, slot, hd, head};
  packed.v = {v_ptr, slot, hd, head};
  packed.out = {packed_out.as<uint16_t>(), 0, out_row, hd};
  packed.batch = n;
  packed.q_len = max_q;
  packed.kv_len = max_kv;
  packed.heads = c.heads;
  packed.kv_heads = c.kv_heads;
  packed.head_dim = hd;
  packed.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  packed.causal = true;
  packed.dtype = c.dtype;
  packed.spans = spans_mem.as<FlashAttentionSpan>();
  Stream stream;
  run_flash_path(packed, c.path, stream);
  for (const FlashAttentionSpan& span : spans) {
    FlashAttentionParams one = packed;
    one.spans = nullptr;
    one.batch = 1;
    one.q.ptr = qkv_ptr + span.first_row * qkv_row;
    one.out.ptr = per_span_out.as<uint16_t>() + span.first_row * out_row;
    one.k.ptr = k_ptr + span.kv_batch * slot;
    one.v.ptr = v_ptr + span.kv_batch * slot;
    one.q_len = span.q_len;
    one.kv_len = span.kv_len;
    run_flash_path(one, c.path, stream);
  }
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  const auto got = packed_out.download<uint16_t>();
  const auto want = per_span_out.download<uint16_t>();
  size_t differing = 0;
  for (size_t i = 0; i < out_elems; ++i) differing += got[i] != want[i];
  EXPECT_EQ(differing, 0u) << "elements where the packed launch differs from one per span";
  for (size_t i = rows * out_row; i < out_elems; ++i)
    ASSERT_EQ(got[i], kPoison) << "the packed launch wrote past its spans' rows, element " << i;

  double worst = 0.0;
  for (const FlashAttentionSpan& span : spans) {
    auto logical = [&](const std::vector<uint16_t>& from, int64_t base, int64_t row_stride,
                       int count, int heads) {
      std::vector<float> out(size_t(count) * heads * hd);
      for (int r = 0; r < count; ++r)
        for (int i = 0; i < heads * hd; ++i)
          out[size_t(r) * heads * hd + i] = from_element(from[base + r * row_stride + i], c.dtype);
      return out;
    };
    // The cache is [kv_heads, max_seq, hd] per slot: gather it as [position, kv_heads, hd].
    auto cache_rows = [&](int64_t base) {
      std::vector<float> out(size_t(span.kv_len) * c.kv_heads * hd);
      for (int t = 0; t < span.kv_len; ++t)
        for (int h = 0; h < c.kv_heads; ++h)
          for (int d = 0; d < hd; ++d)
            out[(size_t(t) * c.kv_heads + h) * hd + d] =
                from_element(kv[base + h * head + t * hd + d], c.dtype);
      return out;
    };
    const auto q = logical(qkv, span.first_row * qkv_row, qkv_row, span.q_len, c.heads);
    const auto k = cache_rows(span.kv_batch * slot);
    const auto v = cache_rows(n * slot + span.kv_batch * slot);
    std::vector<float> expected(q.size());
    cpu::attention(q.data(), span.q_len, c.heads, k.data(), v.data(), span.kv_len, c.kv_heads, hd,
                   packed.scale, true, expected.data());
    const auto actual = logical(got, span.first_row * out_row, out_row, span.q_len, c.heads);
    worst = std::max(worst, relative_error(actual, expected));
  }
  EXPECT_LE(worst, tolerance(c.dtype)) << c.name;
  std::printf("[ attention ] %-40s worst span relative error %.2e\n", c.name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(
    Prefill, FlashAttentionPacked,
    ::testing::ValuesIn(in_both_dtypes<PackedCase>(
        {// The hour's admissions: prompts of ~390 rows, with short ones among them.
         PackedCase{
             "prompts_390_mixed", {390, 17, 1, 388, 64, 65}, {0, 0, 0, 0, 0, 0}, 16, 4, 128, kAuto},
         // Chunked spans: queries that are the last rows of longer caches.
         PackedCase{"chunked_spans", {15, 70, 128}, {85, 130, 3}, 16, 4, 128, kAuto},
         PackedCase{"head_dim_64_rows32", {150, 3, 97}, {0, 40, 0}, 4, 2, 64, kRows32},
         PackedCase{"head_dim_128_generic", {131, 9}, {0, 20}, 16, 4, 128, kGeneric},
         PackedCase{"tiny_decoder_hd12", {15, 390, 2}, {0, 0, 5}, 2, 1, 12, kAuto}})),
    [](const auto& info) { return info.param.name; });

// `call` must throw glmasr::Error whose message contains `fragment`.
TEST(FlashAttentionArguments, RejectsUnsupportedShapes) {
  GLMASR_SKIP_WITHOUT_GPU();
  FlashCase c{"args", 1, 8, 8, 4, 2, 64, false, kFused, kAuto, 8, true};
  FlashBuffers buffers(c, 1);
  auto expect_error = [](const FlashAttentionParams& p, const std::string& fragment) {
    expect_rejected([&] { flash_attention(p, nullptr); }, fragment);
  };
  FlashAttentionParams p = buffers.params();
  p.head_dim = 130;
  expect_error(p, "head_dim");
  p = buffers.params();
  p.head_dim = 13;
  expect_error(p, "head_dim");
  p = buffers.params();
  p.heads = 3;
  expect_error(p, "heads % kv_heads");
  p = buffers.params();
  p.causal = true;
  p.kv_len = 4;
  expect_error(p, "kv_len >= q_len");
  p = buffers.params();
  p.q.ptr = nullptr;
  expect_error(p, "q.ptr");
  p = buffers.params();
  p.k.row_stride = 7;
  expect_error(p, "even strides");
  p = buffers.params();
  p.q_len = 0;
  expect_error(p, "q_len");
  p = buffers.params();
  p.scale = -1.0f;
  expect_error(p, "scale");
  p = buffers.params();
  p.head_dim = 16;
  EXPECT_THROW(detail::flash_attention_tensor_cores(p, 16, nullptr), Error);
  EXPECT_THROW(detail::flash_attention_tensor_cores(buffers.params(), 24, nullptr), Error);
  EXPECT_THROW(detail::flash_attention_wgmma(buffers.params(), 4, nullptr), Error);
  p = buffers.params();
  p.causal = true;
  EXPECT_FALSE(detail::flash_attention_uses_wgmma(p));
  expect_rejected([&] { detail::flash_attention_wgmma(p, 2, nullptr); }, "no causal mask");
  p = buffers.params();
  p.head_dim = 128;
  EXPECT_FALSE(detail::flash_attention_uses_wgmma(p));
  // Packed spans live in device memory the wgmma kernel's tensor maps cannot follow.
  p = buffers.params();
  const FlashAttentionSpan span{0, 8, 0, 8};
  p.spans = &span;
  EXPECT_FALSE(detail::flash_attention_uses_wgmma(p));
  expect_rejected([&] { detail::flash_attention_wgmma(p, 2, nullptr); }, "no packed spans");
}

// Only the two 16-bit types have kernels: any other dtype must fail on every entry point, with a
// message naming it, before anything reaches the device. So these run without a GPU: the pointers
// are host addresses that nothing may dereference (an unknown dtype also has no kernel to launch).
alignas(16) uint16_t fake_tensor[64];

FlashAttentionParams host_only_flash_params(DType dtype) {
  FlashAttentionParams p{};
  p.q = p.k = p.v = p.out = {fake_tensor, 0, 8, 8};
  p.batch = p.q_len = p.kv_len = p.heads = p.kv_heads = 1;
  p.head_dim = 64;
  p.scale = 0.125f;
  p.dtype = dtype;
  return p;
}

TEST(FlashAttentionArguments, RejectsUnsupportedDtype) {
  for (DType dtype : {DType::kF32, DType::kI8}) {
    const FlashAttentionParams p = host_only_flash_params(dtype);
    const std::string expected = cat("dtype: expected bf16 or fp16, got ", dtype_name(dtype));
    SCOPED_TRACE(dtype_name(dtype));
    expect_rejected([&] { flash_attention(p, nullptr); }, expected);
    expect_rejected([&] { detail::flash_attention_generic(p, nullptr); }, expected);
    expect_rejected([&] { detail::flash_attention_tensor_cores(p, 16, nullptr); }, expected);
  }
  // Both 16-bit types pass the dtype check: a bad head_dim is then what fails.
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    FlashAttentionParams p = host_only_flash_params(dtype);
    p.head_dim = 13;
    try {
      flash_attention(p, nullptr);
      ADD_FAILURE() << "expected glmasr::Error for head_dim 13";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
    }
  }
}

TEST(DecodeAttentionArguments, RejectsUnsupportedDtype) {
  DecodeAttentionParams p{};
  p.q = p.k_cache = p.v_cache = fake_tensor;
  p.out = fake_tensor;
  p.slot_of_seq = p.seq_len = reinterpret_cast<const int*>(fake_tensor);
  p.workspace = reinterpret_cast<float*>(fake_tensor);
  p.batch = p.heads = p.kv_heads = p.max_seq = 1;
  p.head_dim = 64;
  p.scale = 0.125f;
  p.dtype = DType::kF32;
  const std::string expected = "decode_attention: dtype: expected bf16 or fp16, got F32";
  expect_rejected([&] { decode_attention(p, nullptr); }, expected);
  expect_rejected([&] { detail::decode_attention_with_splits(p, 1, nullptr); }, expected);
}

// ---------------------------------------------------------------------------------------------
// decode_attention

struct DecodeCase {
  std::string name;
  int heads, kv_heads, head_dim, max_seq;
  std::vector<int> lengths;  // one per sequence
  DType dtype = DType::kBF16;
};

void PrintTo(const DecodeCase& c, std::ostream* os) {
  *os << c.name;
}

class DecodeBuffers {
 public:
  DecodeBuffers(const DecodeCase& c, uint32_t seed)
      : c_(c),
        batch_(static_cast<int>(c.lengths.size())),
        slots_(batch_ + 2),
        slot_elems_(static_cast<size_t>(c.kv_heads) * c.max_seq * c.head_dim),
        q_mem_(static_cast<size_t>(batch_) * c.heads * c.head_dim * 2),
        k_mem_(slots_ * slot_elems_ * 2),
        v_mem_(slots_ * slot_elems_ * 2),
        slot_mem_(batch_ * sizeof(int)),
        len_mem_(batch_ * sizeof(int)),
        out_mem_(static_cast<size_t>(batch_) * c.heads * c.head_dim * 2),
        workspace_bytes_(decode_attention_workspace_bytes(batch_, c.heads, c.head_dim, c.max_seq)),
        workspace_(workspace_bytes_) {
    std::mt19937 rng(seed);
    q_ = random_elements(static_cast<size_t>(batch_) * c.heads * c.head_dim, 1.5f, c.dtype, rng);
    k_ = random_elements(slots_ * slot_elems_, 1.0f, c.dtype, rng);
    v_ = random_elements(slots_ * slot_elems_, 1.0f, c.dtype, rng);
    // Sequences use the slots in reverse, skipping slot 0: a kernel that ignored slot_of_seq
    // would read the wrong rows.
    for (int b = 0; b < batch_; ++b) slot_of_seq_.push_back(slots_ - 1 - b);
    q_mem_.upload(q_);
    slot_mem_.upload(slot_of_seq_);
    // Workspace garbage must not matter: fill it with NaN bytes.
    GLMASR_CUDA_CHECK(cudaMemset(workspace_.as<void>(), 0xFF, workspace_bytes_));
    set_lengths(c.lengths);
  }

  // Keys past a sequence's length get a large value, so reading them would swamp the softmax.
  void set_lengths(const std::vector<int>& lengths) {
    lengths_ = lengths;
    std::vector<uint16_t> k = k_;
    const int hd = c_.head_dim;
    for (int b = 0; b < batch_; ++b)
      for (int h = 0; h < c_.kv_heads; ++h)
        for (int t = lengths[b]; t < c_.max_seq; ++t)
          for (int d = 0; d < hd; ++d)
            k[slot_of_seq_[b] * slot_elems_ + (static_cast<size_t>(h) * c_.max_seq + t) * hd + d] =
                to_element(40.0f, c_.dtype);
    k_mem_.upload(k);
    v_mem_.upload(v_);
    len_mem_.upload(lengths);
  }

  DecodeAttentionParams params() const {
    return {q_mem_.as<void>(),
            k_mem_.as<void>(),
            v_mem_.as<void>(),
            slot_mem_.as<int>(),
            len_mem_.as<int>(),
            out_mem_.as<void>(),
            workspace_.as<float>(),
            batch_,
            c_.heads,
            c_.kv_heads,
            c_.head_dim,
            c_.max_seq,
            1.0f / std::sqrt(static_cast<float>(c_.head_dim)),
            c_.dtype};
  }

  void poison_output() {
    GLMASR_CUDA_CHECK(cudaMemset(out_mem_.as<void>(), 0xFF,
                                 static_cast<size_t>(batch_) * c_.heads * c_.head_dim * 2));
  }

  // Relative error of every sequence against the CPU reference; length 0 must give zeros.
  void expect_matches_reference() const {
    const int hd = c_.head_dim;
    const auto raw = out_mem_.download<uint16_t>();
    for (int b = 0; b < batch_; ++b) {
      const int len = lengths_[b];
      std::vector<float> actual(static_cast<size_t>(c_.heads) * hd);
      for (size_t i = 0; i < actual.size(); ++i)
        actual[i] = from_element(raw[b * actual.size() + i], c_.dtype);
      for (float value : actual) ASSERT_TRUE(std::isfinite(value)) << c_.name << " sequence " << b;
      if (len == 0) {
        for (float value : actual) EXPECT_EQ(value, 0.0f) << c_.name << " sequence " << b;
        continue;
      }
      std::vector<float> q(actual.size()), k(static_cast<size_t>(len) * c_.kv_heads * hd),
          v(k.size()), expected(actual.size());
      for (size_t i = 0; i < q.size(); ++i) q[i] = from_element(q_[b * q.size() + i], c_.dtype);
      const size_t slot_base = slot_of_seq_[b] * slot_elems_;
      for (int t = 0; t < len; ++t)
        for (int h = 0; h < c_.kv_heads; ++h)
          for (int d = 0; d < hd; ++d) {
            const size_t from = slot_base + (static_cast<size_t>(h) * c_.max_seq + t) * hd + d;
            const size_t to = (static_cast<size_t>(t) * c_.kv_heads + h) * hd + d;
            k[to] = from_element(k_[from], c_.dtype);
            v[to] = from_element(v_[from], c_.dtype);
          }
      cpu::attention(q.data(), 1, c_.heads, k.data(), v.data(), len, c_.kv_heads, hd,
                     1.0f / std::sqrt(static_cast<float>(hd)), false, expected.data());
      const double error = relative_error(actual, expected);
      EXPECT_LE(error, tolerance(c_.dtype)) << c_.name << " sequence " << b << " length " << len;
    }
  }

  int batch() const { return batch_; }

 private:
  DecodeCase c_;
  int batch_, slots_;
  size_t slot_elems_;
  DeviceMemory q_mem_, k_mem_, v_mem_, slot_mem_, len_mem_, out_mem_;
  size_t workspace_bytes_;
  DeviceMemory workspace_;
  std::vector<uint16_t> q_, k_, v_;
  std::vector<int> slot_of_seq_, lengths_;
};

class DecodeAttentionParity : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeAttentionParity, MatchesCpuReference) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DecodeCase& c = GetParam();
  DecodeBuffers buffers(c, 99u + c.max_seq);
  buffers.poison_output();
  Stream stream;
  decode_attention(buffers.params(), stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  buffers.expect_matches_reference();
}

INSTANTIATE_TEST_SUITE_P(
    Decode, DecodeAttentionParity,
    ::testing::ValuesIn(in_both_dtypes<DecodeCase>(
        {DecodeCase{"b1_seq400", 16, 4, 128, 500, {400}},
         DecodeCase{"b3_mixed", 16, 4, 128, 500, {1, 500, 77}},
         DecodeCase{"b8_chunk_edges", 16, 4, 128, 448, {1, 2, 63, 64, 65, 128, 448, 300}},
         DecodeCase{"b3_with_empty", 16, 4, 128, 100, {0, 100, 33}},
         DecodeCase{"tiny_hd12", 2, 1, 12, 40, {1, 40, 17}},
         DecodeCase{"mha_hd64", 4, 4, 64, 130, {130, 5}},
         // Groups of 3 and 8 q heads per kv head; head_dim 6 is not a multiple of 4.
         DecodeCase{"group3_hd64", 6, 2, 64, 300, {299, 3}},
         DecodeCase{"group8_hd128", 8, 1, 128, 700, {700, 129}},
         DecodeCase{"hd6", 2, 2, 6, 50, {50, 7}},
         DecodeCase{"long_2048", 16, 4, 128, 2048, {2048, 1000}}})),
    [](const auto& info) { return info.param.name; });

// The grid depends on max_seq only: a graph captured once stays right as lengths change.
TEST(DecodeAttentionGraph, ReplaysWithChangingLengths) {
  GLMASR_SKIP_WITHOUT_GPU();
  DecodeCase c{"graph", 16, 4, 128, 300, {10, 200, 1}};
  DecodeBuffers buffers(c, 7);
  Stream stream;
  const CudaGraph graph =
      CudaGraph::capture(stream, [&] { decode_attention(buffers.params(), stream); });
  for (const std::vector<int>& lengths :
       {std::vector<int>{10, 200, 1}, std::vector<int>{11, 300, 65}, std::vector<int>{150, 1, 2},
        std::vector<int>{0, 299, 16}, std::vector<int>{300, 300, 300}}) {
    buffers.set_lengths(lengths);
    buffers.poison_output();
    graph.launch(stream);
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
    buffers.expect_matches_reference();
  }
}

// Every cluster size (blocks per sequence and kv head) must give the same function, including
// lengths shorter than the number of blocks (some blocks get no keys) and length 0.
// So must every number of q heads per block (the whole group of 4, or 1 or 2 of its heads).
TEST(DecodeAttentionSplits, EveryClusterSizeMatchesReference) {
  GLMASR_SKIP_WITHOUT_GPU();
  for (int splits : {1, 2, 3, 4, 5, 8, 16}) {
    for (int heads_per_block : {4, 2, 1}) {
      SCOPED_TRACE("splits " + std::to_string(splits) + ", q heads per block " +
                   std::to_string(heads_per_block));
      DecodeBuffers buffers(DecodeCase{"splits", 16, 4, 128, 512, {400, 1, 0, 7, 512, 130}},
                            11u + splits + 100u * heads_per_block);
      buffers.poison_output();
      Stream stream;
      try {
        detail::decode_attention_with_splits(buffers.params(), splits, stream, heads_per_block);
      } catch (const std::runtime_error& e) {
        // Clusters above 8 blocks are optional hardware support (the launch fails: a
        // DeviceError): report, do not fail.
        if (splits <= 8) throw;
        std::printf("[ decode ] %d splits unavailable: %s\n", splits, e.what());
        cudaGetLastError();
        continue;
      }
      GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
      buffers.expect_matches_reference();
    }
  }
}

// The staged kernel (keys streamed through shared-memory stages of 64 rows, 16 per warp, a ring
// of 3; products on the tensor cores) against the reference: lengths shorter than a warp's keys,
// ending on and off a warp's and a stage's edge, several rounds of the ring (2048 keys are 32
// stages), length 0, every group size and head_dim it instantiates, each cluster size (some
// blocks and warps get no keys).
struct StagedCase {
  DecodeCase shape;
  int splits;
};

void PrintTo(const StagedCase& c, std::ostream* os) {
  *os << c.shape.name << "_splits" << c.splits;
}

class DecodeAttentionStagedParity : public ::testing::TestWithParam<StagedCase> {};

TEST_P(DecodeAttentionStagedParity, MatchesCpuReference) {
  GLMASR_SKIP_WITHOUT_GPU();
  const StagedCase& c = GetParam();
  DecodeBuffers buffers(c.shape, 31u + c.shape.max_seq + c.splits);
  buffers.poison_output();
  Stream stream;
  detail::decode_attention_with_splits(buffers.params(), c.splits, stream, 0,
                                       detail::DecodeKernel::kStaged);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  buffers.expect_matches_reference();
}

std::vector<StagedCase> staged_cases() {
  std::vector<StagedCase> cases;
  for (const DecodeCase& shape : in_both_dtypes<DecodeCase>(
           {DecodeCase{"b8_stage_edges", 16, 4, 128, 448, {1, 15, 16, 17, 64, 65, 448, 0}},
            DecodeCase{"long_2048", 16, 4, 128, 2048, {2048, 1000, 129}},
            DecodeCase{"mha_hd64", 4, 4, 64, 130, {130, 5}},
            DecodeCase{"group2_hd64", 8, 4, 64, 300, {299, 64}},
            DecodeCase{"group3_hd64", 6, 2, 64, 300, {299, 3}},
            DecodeCase{"group8_hd128", 8, 1, 128, 700, {700, 129}},
            DecodeCase{"group4_hd64", 16, 4, 64, 200, {200, 1, 65}}}))
    for (int splits : {1, 2, 5}) cases.push_back({shape, splits});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Decode, DecodeAttentionStagedParity, ::testing::ValuesIn(staged_cases()),
                         [](const auto& info) {
                           return info.param.shape.name + "_splits" +
                                  std::to_string(info.param.splits);
                         });

// decode_attention takes the staged kernel once one block per (sequence, kv head) fills the GPU,
// and it stays right in a graph replayed as the lengths change.
TEST(DecodeAttentionStaged, ChosenForManySequencesAndReplaysInAGraph) {
  GLMASR_SKIP_WITHOUT_GPU();
  const int batch = sm_count() / 4 + 3;
  std::vector<int> lengths(batch);
  for (int b = 0; b < batch; ++b) lengths[b] = (b * 37) % 301;
  DecodeBuffers buffers(DecodeCase{"many", 16, 4, 128, 300, lengths}, 17);
  ASSERT_EQ(detail::decode_attention_kernel(buffers.params()), detail::DecodeKernel::kStaged);
  DecodeBuffers few(DecodeCase{"few", 16, 4, 128, 300, {10, 20}}, 18);
  EXPECT_EQ(detail::decode_attention_kernel(few.params()), detail::DecodeKernel::kRegisters);
  Stream stream;
  const CudaGraph graph =
      CudaGraph::capture(stream, [&] { decode_attention(buffers.params(), stream); });
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < batch; ++b) lengths[b] = (b * 37 + round * 101) % 301;
    buffers.set_lengths(lengths);
    buffers.poison_output();
    graph.launch(stream);
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
    buffers.expect_matches_reference();
  }
}

// A group of 3 q heads per kv head spread one head per block, and padded to 4 in one block.
TEST(DecodeAttentionSplits, OddGroupSpreadOrPadded) {
  GLMASR_SKIP_WITHOUT_GPU();
  for (int heads_per_block : {1, 3, 8}) {
    SCOPED_TRACE("q heads per block " + std::to_string(heads_per_block));
    DecodeBuffers buffers(DecodeCase{"group3", 6, 2, 64, 300, {299, 3, 150}}, 5u + heads_per_block);
    buffers.poison_output();
    Stream stream;
    detail::decode_attention_with_splits(buffers.params(), 4, stream, heads_per_block);
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
    buffers.expect_matches_reference();
  }
}

TEST(DecodeAttentionArguments, RejectsUnsupportedShapes) {
  GLMASR_SKIP_WITHOUT_GPU();
  DecodeBuffers buffers(DecodeCase{"args", 4, 2, 64, 16, {3}}, 3);
  auto expect_error = [](const DecodeAttentionParams& p, const std::string& fragment) {
    expect_rejected([&] { decode_attention(p, nullptr); }, fragment);
  };
  DecodeAttentionParams p = buffers.params();
  p.head_dim = 256;
  expect_error(p, "head_dim");
  p = buffers.params();
  p.heads = 5;
  expect_error(p, "heads % kv_heads");
  p = buffers.params();
  p.heads = 32;
  p.kv_heads = 2;
  expect_error(p, "heads / kv_heads");
  p = buffers.params();
  p.workspace = nullptr;
  expect_error(p, "workspace");
  p = buffers.params();
  p.dtype = DType::kF32;
  expect_error(p, "dtype: expected bf16 or fp16, got F32");
  p = buffers.params();
  p.shared_carveout = 101;
  expect_error(p,
               "shared_carveout: expected -1 (the driver's choice) or a percent 0..100, got 101");
  EXPECT_THROW(decode_attention_workspace_bytes(0, 16, 128, 100), Error);
  // The cluster kernel merges in shared memory: a token workspace, whatever the shape.
  EXPECT_EQ(decode_attention_workspace_bytes(3, 16, 128, 100), 256u);
  EXPECT_EQ(decode_attention_workspace_bytes(64, 32, 128, 8192), 256u);
  EXPECT_THROW(detail::decode_attention_with_splits(buffers.params(), 0, nullptr), Error);
  EXPECT_THROW(detail::decode_attention_with_splits(buffers.params(), 17, nullptr), Error);
  // 8 q heads over 2 kv heads: a group of 4; 1, 2 or 4 (or more) q heads per block are valid.
  DecodeBuffers group4(DecodeCase{"args4", 8, 2, 64, 16, {3}}, 3);
  expect_rejected(
      [&] { detail::decode_attention_with_splits(group4.params(), 1, nullptr, 3); },
      "heads_per_block: expected the group of 4 q heads per kv head or a power-of-two divisor "
      "of it, got 3");
  expect_rejected([&] { detail::decode_attention_with_splits(group4.params(), 1, nullptr, -1); },
                  "heads_per_block");
  // The staged kernel bulk-copies whole rows and reads each key once per block.
  expect_rejected(
      [&] {
        detail::decode_attention_with_splits(group4.params(), 1, nullptr, 2,
                                             detail::DecodeKernel::kStaged);
      },
      "the staged kernel serves the whole group of 4 q heads in a block, got heads_per_block 2");
  DecodeBuffers odd(DecodeCase{"args_hd16", 2, 2, 16, 16, {3}}, 3);
  expect_rejected(
      [&] {
        detail::decode_attention_with_splits(odd.params(), 1, nullptr, 0,
                                             detail::DecodeKernel::kStaged);
      },
      "the staged kernel expects head_dim 64 or 128 and 16-byte aligned tensors, got head_dim 16");
}

}  // namespace
}  // namespace glmasr::cuda
