#include "cuda/engine/decoder_runner.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/host_transfer.h"
#include "cuda/kernels/argmax.h"
#include "cuda/kernels/attention/attention.h"
#include "cuda/kernels/embedding.h"
#include "cuda/kernels/gemv.h"
#include "cuda/kernels/persistent_decode_step.h"
#include "cuda/kernels/rms_norm.h"
#include "cuda/kernels/skinny_gemm.h"
#include "cuda/kernels/swiglu.h"
#include "cuda/stream_timer.h"

namespace glmasr::cuda {

// y = [norm](x) W^T, then SwiGLU or the residual add: the matrix-vector kernel when it takes
// the shape, else RMSNorm / cuBLASLt / SwiGLU kernels in sequence.
struct DecoderRunner::Projection {
  const void* x = nullptr;
  int batch = 0;
  int64_t in = 0;
  const void* norm_weight = nullptr;  // RMSNorm of x first
  const void* w = nullptr;
  const float* w_scale = nullptr;       // fp8 weights: per-row scales
  const void* w_dequantized = nullptr;  // fp8 weights: w in the element type, for cuBLASLt
  int64_t out = 0;                      // weight rows (2F for the fused gate|up)
  bool swiglu = false;                  // y [batch, out/2] = swiglu(gate|up)
  bool residual = false;                // y += x W^T (y is the residual stream)
  void* y = nullptr;
  int shared_carveout = -1;  // the launch's shared-memory carveout (matrix-vector kernel only)
  StepProjection which = kStepProjections;  // which of the step's projections, if one
  // The step's QKV projection with RoPE and the cache write as its epilogue (y unused); only
  // for the matrix-vector and the skinny kernel.
  const QkvRopeEpilogue* rope = nullptr;
};

enum class ProjectionKernel : int { kGemv, kSkinny, kCublasLt };

namespace {

// Which kernel may multiply a projection of `batch` rows. Measured on the H200 (glmasr bench: the
// step's projections x28 by batch, docs/performance.md):
//   - the matrix-vector kernel at batch 1 (from batch 2 its rows in registers cost more than they
//     save: alone, the skinny kernel multiplies each of a step's projections of 2 rows faster,
//     and it too fuses RMSNorm, RoPE, SwiGLU and the residual at these batches);
//   - the skinny-batch tensor-core kernel up to kSkinnyGemmMaxBatch where it beats cuBLASLt for
//     that projection and batch class on this device (DecoderRunner::choose_step_kernels: on the
//     H200 it wins below ~16 rows, where cuBLASLt pays ~10 us per projection whatever its size,
//     and loses the small matrices at 32 and 64 in bf16). With fp8 weights it reads the codes,
//     half the bytes, and cuBLASLt the model's dequantized copy;
//   - cuBLASLt beyond.
constexpr int kGemvLargestBatch = 1;
// The skinny kernel replaces cuBLASLt only where it is this much faster when timed: near-ties
// would otherwise flip with timing noise from run to run, and the two round a residual add
// differently (cuBLASLt once, the skinny kernel as the reference does), so the tokens of a
// near-tied logit could too.
constexpr double kSkinnyMargin = 0.97;

ProjectionKernel projection_kernel(int batch, int64_t in, bool fp8) {
  if (batch <= kGemvLargestBatch && gemv_supported(batch, in, fp8)) return ProjectionKernel::kGemv;
  if (skinny_gemm_supported(batch, in)) return ProjectionKernel::kSkinny;
  if (fp8 && gemv_supported(batch, in, fp8)) return ProjectionKernel::kGemv;  // odd widths
  return ProjectionKernel::kCublasLt;
}

// Shared-memory carveouts (percent of the 228 KB each SM splits between shared memory and L1)
// that the batch-1 decoding step's kernels ask for. The step's kernels overlap through dependent
// launches, and a block of the next kernel can only join an SM whose split suits it; by default
// the driver sizes each kernel for itself (8 to 32 KB), and the SMs it configures then turn away
// the next kernel's blocks until they drain. Which split is best depends on the device: on the
// H100 (session 3, docs/performance.md) the first candidate gave 1.283 ms, the driver's choice
// 1.306, one 64 KB split everywhere 1.312, and 100% for QKV, attention and o_proj 1.389 (the
// matrix-vector kernels need the L1). So the batch-1 step times these candidates on the device
// it runs on, once (DecoderRunner::choose_single_step); larger batches keep the driver's choice.
struct CarveoutCandidate {
  const char* name;
  DecoderRunner::StepCarveouts carveouts;
};
constexpr CarveoutCandidate kCarveoutCandidates[] = {
    {"H100-tuned (-/64/64/64/32 KB)", {-1, 28, 28, 28, 14}},  // 28%: 64 KB, 14%: 32 KB
    {"driver's", {-1, -1, -1, -1, -1}},
    {"32 KB", {14, 14, 14, 14, 14}},
    {"64 KB after QKV", {-1, 28, 28, 28, 28}},
};
size_t element_bytes() {
  return 2;
}
}  // namespace

DecoderRunner::DecoderRunner(const DeviceModel& model, Gemm& gemm, int max_slots, int max_seq,
                             int prefill_chunk, cudaStream_t stream)
    : model_(model),
      gemm_(gemm),
      max_slots_(max_slots),
      max_seq_(max_seq),
      chunk_(std::min(prefill_chunk, max_seq)),
      rows_(std::min<int64_t>(prefill_chunk, int64_t{max_slots} * max_seq)),
      stream_(stream) {
  const DecoderConfig& dec = model.config.decoder;
  GLMASR_CHECK(max_slots > 0 && max_seq > 0 && prefill_chunk > 0,
               "decoder: expected positive slots, sequence capacity and chunk, got ", max_slots,
               ", ", max_seq, ", ", prefill_chunk);
  rope_ = make_rope_table(model.dtype, max_seq, dec.head_dim, dec.rope_theta);
  const size_t e = element_bytes();
  const int64_t d = dec.hidden_size, f = dec.intermediate_size, v = dec.vocab_size;
  const int64_t q = int64_t{dec.num_heads} * dec.head_dim;
  const int64_t width = int64_t{dec.num_heads + 2 * dec.num_kv_heads} * dec.head_dim;
  kv_ = KvCache(dec.num_layers,
                {.kv_heads = dec.num_kv_heads,
                 .positions = max_seq,
                 .head_dim = dec.head_dim,
                 .slots = max_slots},
                e, stream_);

  const size_t id_rows = std::max<size_t>(max_seq, rows_);
  ids_ = DeviceBuffer(id_rows * sizeof(int32_t));
  audio_row_ = DeviceBuffer(id_rows * sizeof(int32_t));
  row_positions_ = DeviceBuffer(rows_ * sizeof(int32_t));
  row_slots_ = DeviceBuffer(rows_ * sizeof(int32_t));
  attention_spans_ = DeviceBuffer(size_t(max_slots) * sizeof(FlashAttentionSpan));
  hidden_ = DeviceBuffer(rows_ * d * e);
  normed_ = DeviceBuffer(rows_ * d * e);
  qkv_ = DeviceBuffer(rows_ * width * e);
  attn_ = DeviceBuffer(rows_ * q * e);
  gate_up_ = DeviceBuffer(rows_ * 2 * f * e);
  act_ = DeviceBuffer(rows_ * f * e);

  const int64_t s = max_slots;
  control_ = DeviceBuffer(kControlRows * s * sizeof(int32_t));
  step_hidden_ = DeviceBuffer(s * d * e);
  step_normed_ = DeviceBuffer(s * d * e);
  step_qkv_ = DeviceBuffer(s * width * e);
  step_q_ = DeviceBuffer(s * q * e);
  step_attn_ = DeviceBuffer(s * q * e);
  step_gate_up_ = DeviceBuffer(s * 2 * f * e);
  step_act_ = DeviceBuffer(s * f * e);
  logits_ = DeviceBuffer(s * v * e);
  out_token_ = DeviceBuffer(s * sizeof(int32_t));
  out_logprob_ = DeviceBuffer(s * sizeof(float));
  step_token_ = DeviceBuffer(s * sizeof(int32_t));
  argmax_workspace_ = DeviceBuffer(greedy_argmax_workspace_bytes(s));
  GLMASR_CUDA_CHECK(cudaMemset(argmax_workspace_.get(), 0, argmax_workspace_.bytes()));
  attention_workspace_ = DeviceBuffer(
      decode_attention_workspace_bytes(max_slots, dec.num_heads, dec.head_dim, max_seq));
  const bool fp8 = model.weights == WeightFormat::kFP8;
  // The skinny kernel's split partial sums: the largest any step projection needs.
  size_t skinny_bytes = 0;
  const std::array<ProjectionShape, kStepProjections> shapes = projection_shapes();
  for (int which = 0; which < kStepProjections; ++which) {
    const ProjectionShape& projection = shapes[which];
    SkinnyGemmParams shape;
    shape.dtype = model.dtype;
    shape.w_scale = fp8 ? model.lm_head_scale : nullptr;  // only whether it is set matters
    shape.out = projection.out;
    shape.in = projection.in;
    shape.swiglu_width = projection.swiglu ? projection.out / 2 : 0;
    if (!skinny_gemm_supported(1, projection.in)) continue;
    const int max_batch = std::min(max_slots, kSkinnyGemmMaxBatch);
    skinny_bytes = std::max(skinny_bytes, skinny_gemm_workspace_bytes(shape, max_batch));
    if (which == kQkvProjection && skinny_gemm_rope_supported(dec.head_dim)) {
      shape.rope = step_rope_epilogue(0);  // with its epilogue the tiles pair rows
      skinny_bytes = std::max(skinny_bytes, skinny_gemm_workspace_bytes(shape, max_batch));
    }
  }
  if (skinny_bytes > 0) {
    skinny_workspace_ = DeviceBuffer(skinny_bytes);
    GLMASR_CUDA_CHECK(cudaMemset(skinny_workspace_.get(), 0, skinny_bytes));
  }
  // choose_step_kernels' RoPE: zero positions and slots, then a one-position K and V cache.
  static_assert(kChoiceScratchIndexBytes >= kSkinnyGemmMaxBatch * sizeof(int32_t));
  choice_scratch_ =
      DeviceBuffer(kChoiceScratchIndexBytes + 2 * size_t(dec.num_kv_heads) * dec.head_dim * e);
  GLMASR_CUDA_CHECK(cudaMemset(choice_scratch_.get(), 0, choice_scratch_.bytes()));
  // The persistent batch-1 step reads its layer table from the device (fp8: the codes and scales
  // the matrix-vector kernel reads).
  {
    std::vector<PersistentStepLayer> table;
    for (const DeviceDecoderLayer& layer : model.decoder_layers)
      table.push_back({layer.attn_norm_weight, layer.qkv_weight, layer.o_weight,
                       layer.mlp_norm_weight, layer.gate_up_weight, layer.down_weight,
                       layer.qkv_scale, layer.o_scale, layer.gate_up_scale, layer.down_scale});
    persistent_layers_ = DeviceBuffer(table.size() * sizeof(PersistentStepLayer));
    GLMASR_CUDA_CHECK(cudaMemcpy(persistent_layers_.get(), table.data(), persistent_layers_.bytes(),
                                 cudaMemcpyHostToDevice));
    const PersistentStepParams shape = persistent_params();
    if (persistent_decode_step_supported(shape, &persistent_unsupported_)) {
      persistent_unsupported_.clear();
      persistent_workspace_ = DeviceBuffer(persistent_decode_step_workspace_bytes(shape));
      GLMASR_CUDA_CHECK(cudaMemset(persistent_workspace_.get(), 0, persistent_workspace_.bytes()));
    }
  }
  GLMASR_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_token_), s * sizeof(int32_t)));
  GLMASR_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_logprob_), s * sizeof(float)));
  for (StepStaging& staging : staging_) {
    GLMASR_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&staging.control),
                                     kControlRows * s * sizeof(int32_t)));
    GLMASR_CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&staging.token), s * sizeof(int32_t)));
    GLMASR_CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&staging.logprob), s * sizeof(float)));
    GLMASR_CUDA_CHECK(cudaEventCreateWithFlags(&staging.done, cudaEventDisableTiming));
  }
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

DecoderRunner::~DecoderRunner() {
  // A step still in flight would copy into the staging buffers freed here.
  cudaStreamSynchronize(stream_);
  cudaFreeHost(host_token_);
  cudaFreeHost(host_logprob_);
  for (StepStaging& staging : staging_) {
    cudaFreeHost(staging.control);
    cudaFreeHost(staging.token);
    cudaFreeHost(staging.logprob);
    if (staging.done) cudaEventDestroy(staging.done);
  }
}

RopeQkvParams DecoderRunner::rope_params(int layer, void* qkv, int64_t rows) const {
  const DecoderConfig& dec = model_.config.decoder;
  // The decoder's table rotates every dimension.
  RopeQkvParams rope = rope_qkv_params(model_.dtype, qkv, rows, dec.num_heads, dec.num_kv_heads,
                                       dec.head_dim, rope_);
  rope.k_cache = kv_.k(layer);
  rope.v_cache = kv_.v(layer);
  rope.max_seq = kv_.layout().positions;
  return rope;
}

const void* DecoderRunner::gemm_weight(const void* w, const float* scale, const void* dequantized) {
  if (!scale) return w;
  GLMASR_CHECK(dequantized, "decoder: an fp8 projection without its dequantized copy");
  return dequantized;
}

std::array<DecoderRunner::ProjectionShape, DecoderRunner::kStepProjections>
DecoderRunner::projection_shapes() const {
  const DecoderConfig& dec = model_.config.decoder;
  const int64_t d = dec.hidden_size, f = dec.intermediate_size;
  const int64_t q = int64_t{dec.num_heads} * dec.head_dim;
  const int64_t width = int64_t{dec.num_heads + 2 * dec.num_kv_heads} * dec.head_dim;
  std::array<ProjectionShape, kStepProjections> shapes;
  shapes[kQkvProjection] = {.out = width, .in = d};
  shapes[kOutProjection] = {.out = d, .in = q, .residual = true};
  shapes[kGateUpProjection] = {.out = 2 * f, .in = d, .swiglu = true};
  shapes[kDownProjection] = {.out = d, .in = f, .residual = true};
  shapes[kHeadProjection] = {.out = dec.vocab_size, .in = d};
  return shapes;
}

ProjectionKernel DecoderRunner::kernel_for(const Projection& p) const {
  const ProjectionKernel kernel = projection_kernel(p.batch, p.in, p.w_scale != nullptr);
  if (kernel == ProjectionKernel::kSkinny && !skinny_preferred(p.which, p.batch))
    return ProjectionKernel::kCublasLt;
  return kernel;
}

size_t DecoderRunner::step_weight_bytes(int batch) const {
  size_t bytes = model_.decoder_bytes;
  if (model_.weights != WeightFormat::kFP8) return bytes;
  const std::array<ProjectionShape, kStepProjections> shapes = projection_shapes();
  const size_t layers = model_.decoder_layers.size();
  for (int which = 0; which < kStepProjections; ++which) {
    Projection p;
    p.which = static_cast<StepProjection>(which);
    p.batch = batch;
    p.in = shapes[which].in;
    p.w_scale = model_.lm_head_scale;  // any non-null scale: the choice for fp8 weights
    if (kernel_for(p) != ProjectionKernel::kCublasLt) continue;
    const size_t count = size_t(shapes[which].out * shapes[which].in);
    const size_t codes = count + size_t(shapes[which].out) * sizeof(float);
    const size_t copies = which == kHeadProjection ? 1 : layers;
    bytes += copies * (count * element_bytes() - codes);
  }
  return bytes;
}

void DecoderRunner::project(const Projection& p) {
  project_with(kernel_for(p), p);
}

QkvRopeEpilogue DecoderRunner::step_rope_epilogue(int layer) const {
  const DecoderConfig& dec = model_.config.decoder;
  QkvRopeEpilogue rope;
  rope.heads = dec.num_heads;
  rope.kv_heads = dec.num_kv_heads;
  rope.head_dim = dec.head_dim;
  rope.cos = rope_.cos();
  rope.sin = rope_.sin();
  rope.positions = control_row(kControlPositions);
  rope.slots = control_row(kControlSlots);
  rope.q_out = step_q_.get();
  rope.k_cache = kv_.k(layer);
  rope.v_cache = kv_.v(layer);
  rope.max_seq = kv_.layout().positions;
  return rope;
}

void DecoderRunner::project_with(ProjectionKernel kernel, const Projection& p) {
  const DType dtype = model_.dtype;
  const float eps = model_.config.decoder.rms_norm_eps;
  if (kernel == ProjectionKernel::kGemv) {
    GemvParams g;
    g.dtype = dtype;
    g.w = p.w;
    g.w_scale = p.w_scale;
    g.out = p.out;
    g.in = p.in;
    g.x = p.x;
    g.batch = p.batch;
    g.norm_weight = p.norm_weight;
    g.eps = eps;
    g.swiglu_width = p.swiglu ? p.out / 2 : 0;
    g.residual = p.residual ? p.y : nullptr;
    g.y = p.y;
    if (p.rope) g.rope = *p.rope;
    g.shared_carveout = p.shared_carveout;
    // Not with the RoPE epilogue: at 64 registers it spills ~300 bytes a thread.
    g.blocks_per_sm = p.batch == 1 && !p.rope ? single_step_gemv_blocks_ : 0;
    gemv(g, stream_);
    return;
  }
  GLMASR_CHECK(!p.rope || kernel == ProjectionKernel::kSkinny,
               "decoder: the RoPE epilogue needs the matrix-vector or the skinny kernel");
  // The skinny kernel takes the RMSNorm of a few rows itself; else a kernel writes them first.
  const bool fused_norm = kernel == ProjectionKernel::kSkinny && p.batch <= kSkinnyGemmMaxNormBatch;
  const void* input = p.x;
  if (p.norm_weight && !fused_norm) {
    rms_norm(dtype, p.x, p.batch, static_cast<int>(p.in), p.norm_weight, eps, step_normed_.get(),
             stream_);
    input = step_normed_.get();
  }
  if (kernel == ProjectionKernel::kSkinny) {
    SkinnyGemmParams g;
    g.dtype = dtype;
    g.w = p.w;
    g.w_scale = p.w_scale;
    g.out = p.out;
    g.in = p.in;
    g.x = input;
    g.batch = p.batch;
    if (fused_norm) {
      g.norm_weight = p.norm_weight;
      g.eps = eps;
    }
    g.swiglu_width = p.swiglu ? p.out / 2 : 0;
    g.residual = p.residual;
    if (p.rope) g.rope = *p.rope;
    g.y = p.y;
    g.workspace = skinny_workspace_.get();
    g.workspace_bytes = skinny_workspace_.bytes();
    skinny_gemm(g, stream_);
    return;
  }
  const void* w = gemm_weight(p.w, p.w_scale, p.w_dequantized);
  if (p.swiglu) {
    gemm_.run(input, p.batch, p.in, w, p.out, nullptr, step_gate_up_.get(), false, stream_);
    swiglu(dtype, step_gate_up_.get(), p.batch, p.out / 2, p.y, stream_);
  } else {
    gemm_.run(input, p.batch, p.in, w, p.out, nullptr, p.y, p.residual, stream_);
  }
}

std::vector<int32_t> DecoderRunner::audio_row_of_ids(const std::vector<int32_t>& ids,
                                                     int64_t first_audio_row,
                                                     int64_t audio_rows) const {
  const DecoderConfig& dec = model_.config.decoder;
  std::vector<int32_t> audio_row(ids.size(), -1);
  int64_t placeholders = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    GLMASR_CHECK(ids[t] >= 0 && ids[t] < dec.vocab_size, "prefill: expected token ids in 0..",
                 dec.vocab_size - 1, ", got ", ids[t], " at position ", t);
    if (ids[t] == model_.config.audio_token_id)
      audio_row[t] = static_cast<int32_t>(first_audio_row + placeholders++);
  }
  GLMASR_CHECK(placeholders == audio_rows, "prefill: the prompt has ", placeholders,
               " audio placeholders (id ", model_.config.audio_token_id, ") but the audio gives ",
               audio_rows, " embedding rows; expected them to be equal");
  return audio_row;
}

DecodedToken DecoderRunner::prefill(int slot, const std::vector<int32_t>& ids, const void* audio,
                                    int64_t audio_rows) {
  const DecoderConfig& dec = model_.config.decoder;
  const int64_t total = static_cast<int64_t>(ids.size());
  GLMASR_CHECK(slot >= 0 && slot < max_slots_, "prefill: expected a slot in 0..", max_slots_ - 1,
               ", got ", slot);
  GLMASR_CHECK(total >= 1 && total <= max_seq_, "prefill: expected a prompt of 1..", max_seq_,
               " tokens (the KV capacity), got ", total);
  const std::vector<int32_t> audio_row = audio_row_of_ids(ids, 0, audio_rows);
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(ids_.get(), ids.data(), ids.size() * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_));
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(audio_row_.get(), audio_row.data(),
                                    audio_row.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                                    stream_));
  int64_t last_rows = 0;
  for (int64_t start = 0; start < total; start += chunk_) {
    const int64_t rows = std::min<int64_t>(chunk_, total - start);
    last_rows = rows;
    embed_tokens(model_.dtype, model_.embed_tokens, dec.vocab_size, dec.hidden_size,
                 ids_.as<int32_t>() + start, audio_row_.as<int32_t>() + start, audio, rows,
                 hidden_.get(), stream_);
    prefill_pass(rows, {{.slot = slot, .first_row = 0, .rows = rows, .first_position = start}});
  }
  return choose_after_prefill({last_rows - 1}).front();
}

std::vector<DecodedToken> DecoderRunner::prefill_packed(const std::vector<PackedPrompt>& prompts,
                                                        const void* audio) {
  const DecoderConfig& dec = model_.config.decoder;
  GLMASR_CHECK(!prompts.empty() && static_cast<int>(prompts.size()) <= max_slots_,
               "packed prefill: expected 1..", max_slots_, " prompts, got ", prompts.size());
  std::vector<int32_t> ids, audio_row;
  PackedPass pass;
  std::vector<int64_t> last_rows;
  for (const PackedPrompt& prompt : prompts) {
    const int64_t length = static_cast<int64_t>(prompt.ids->size());
    GLMASR_CHECK(prompt.slot >= 0 && prompt.slot < max_slots_, "packed prefill: expected a slot ",
                 "in 0..", max_slots_ - 1, ", got ", prompt.slot);
    GLMASR_CHECK(length >= 1 && length <= max_seq_, "packed prefill: expected a prompt of 1..",
                 max_seq_, " tokens (the KV capacity), got ", length);
    const std::vector<int32_t> rows =
        audio_row_of_ids(*prompt.ids, prompt.audio_first_row, prompt.audio_rows);
    pass.add(prompt.slot, length);
    ids.insert(ids.end(), prompt.ids->begin(), prompt.ids->end());
    audio_row.insert(audio_row.end(), rows.begin(), rows.end());
    last_rows.push_back(static_cast<int64_t>(ids.size()) - 1);
  }
  const int64_t total = pass.rows();
  GLMASR_CHECK(total <= rows_, "packed prefill: expected at most ", rows_, " rows in all, got ",
               total);
  const auto upload = [&](DeviceBuffer& to, const std::vector<int32_t>& from) {
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(to.get(), from.data(), from.size() * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream_));
  };
  upload(ids_, ids);
  upload(audio_row_, audio_row);
  upload_pass_rows(pass);
  embed_tokens(model_.dtype, model_.embed_tokens, dec.vocab_size, dec.hidden_size,
               ids_.as<int32_t>(), audio_row_.as<int32_t>(), audio, total, hidden_.get(), stream_);
  prefill_pass(total, pass.spans);
  // The host vectors above are pageable: cudaMemcpyAsync staged them before returning.
  return choose_after_prefill(last_rows);
}

void DecoderRunner::PackedPass::add(int slot, int64_t length) {
  const int64_t first_row = rows();
  spans.push_back({.slot = slot, .first_row = first_row, .rows = length, .first_position = 0});
  attention.push_back({.first_row = static_cast<int32_t>(first_row),
                       .q_len = static_cast<int32_t>(length),
                       .kv_batch = slot,
                       .kv_len = static_cast<int32_t>(length)});
  for (int64_t t = 0; t < length; ++t) {
    positions.push_back(static_cast<int32_t>(t));
    slots.push_back(slot);
  }
}

void DecoderRunner::warm_up_prompts(int64_t prompt_rows) {
  const int64_t single = std::min<int64_t>({prompt_rows, chunk_, max_seq_});
  if (single < 1) return;
  warm_up_pass(single, single);
  const int64_t prompts = std::min<int64_t>(rows_ / single, max_slots_);
  if (prompts >= 2) warm_up_pass(prompts * single, single);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void DecoderRunner::warm_up_row_counts() {
  const DecoderConfig& dec = model_.config.decoder;
  const bool fp8 = model_.weights == WeightFormat::kFP8;
  const int64_t largest = std::min<int64_t>(rows_, int64_t{chunk_} * max_slots_);
  for (int step = 0;; ++step) {
    const auto rows = std::min<int64_t>(largest, std::llround(8 * std::exp2(step / 4.0)));
    warm_up_pass(rows, chunk_);
    // lm_head's GEMM where a step or a packed prefill of `rows` sequences may take cuBLASLt.
    const ProjectionKernel head = projection_kernel(static_cast<int>(rows), dec.hidden_size, fp8);
    if (rows <= max_slots_ &&
        (head == ProjectionKernel::kCublasLt || head == ProjectionKernel::kSkinny))
      project_with(ProjectionKernel::kCublasLt,
                   head_projection(step_hidden_.get(), static_cast<int>(rows)));
    if (rows == largest) break;
  }
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

DecoderRunner::Projection DecoderRunner::head_projection(const void* x, int batch) const {
  const DecoderConfig& dec = model_.config.decoder;
  return {.x = x,
          .batch = batch,
          .in = dec.hidden_size,
          .norm_weight = model_.final_norm_weight,
          .w = model_.lm_head,
          .w_scale = model_.lm_head_scale,
          .w_dequantized = model_.lm_head_dequantized,
          .out = dec.vocab_size,
          .y = logits_.get(),
          .which = kHeadProjection};
}

void DecoderRunner::warm_up_pass(int64_t rows, int64_t prompt_rows) {
  if (rows < 1) return;
  PackedPass pass;
  for (int g = 0; pass.rows() < rows; ++g) pass.add(g, std::min(prompt_rows, rows - pass.rows()));
  if (pass.spans.size() > 1) upload_pass_rows(pass);
  prefill_pass(rows, pass.spans, 1);
}

void DecoderRunner::upload_pass_rows(const PackedPass& pass) {
  const auto upload = [&](DeviceBuffer& to, const auto& from) {
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(to.get(), from.data(), from.size() * sizeof(from[0]),
                                      cudaMemcpyHostToDevice, stream_));
  };
  upload(row_positions_, pass.positions);
  upload(row_slots_, pass.slots);
  upload(attention_spans_, pass.attention);
}

void DecoderRunner::prefill_pass(int64_t rows, const std::vector<PassSpan>& spans, int layers) {
  const DecoderConfig& dec = model_.config.decoder;
  const DType dtype = model_.dtype;
  const int64_t d = dec.hidden_size, f = dec.intermediate_size;
  const int heads = dec.num_heads, kv_heads = dec.num_kv_heads, hd = dec.head_dim;
  const int64_t q_width = int64_t{heads} * hd, width = int64_t{heads + 2 * kv_heads} * hd;
  const size_t e = element_bytes();
  const bool packed = spans.size() > 1;
  for (int l = 0; l < (layers < 0 ? dec.num_layers : std::min(layers, dec.num_layers)); ++l) {
    const DeviceDecoderLayer& layer = model_.decoder_layers[l];
    rms_norm(dtype, hidden_.get(), rows, static_cast<int>(d), layer.attn_norm_weight,
             dec.rms_norm_eps, normed_.get(), stream_);
    gemm_.run(normed_.get(), rows, d,
              gemm_weight(layer.qkv_weight, layer.qkv_scale, layer.qkv_dequantized), width, nullptr,
              qkv_.get(), false, stream_);
    RopeQkvParams rope = rope_params(l, qkv_.get(), rows);
    if (packed) {
      rope.positions = row_positions_.as<int32_t>();
      rope.slots = row_slots_.as<int32_t>();
    } else {
      rope.first_position = static_cast<int>(spans.front().first_position);
      rope.slot = spans.front().slot;
    }
    rope_qkv(rope, stream_);

    // Each span's queries against its slot's keys and values: [kv_heads, positions, hd] with
    // the layout's strides. Packed prompts go in one launch (attention_spans_), so that a pass
    // of many short prompts fills the GPU instead of running a small grid per prompt.
    const KvLayout& kv = kv_.layout();
    FlashAttentionParams attention{};
    attention.q = {qkv_.get(), rows * width, width, hd};
    attention.k = {rope.k_cache, kv.slot_stride(), hd, kv.head_stride()};
    attention.v = {rope.v_cache, kv.slot_stride(), hd, kv.head_stride()};
    attention.out = {attn_.get(), rows * q_width, q_width, hd};
    attention.batch = 1;
    attention.heads = heads;
    attention.kv_heads = kv_heads;
    attention.head_dim = hd;
    attention.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    attention.causal = true;
    attention.dtype = dtype;
    if (packed) {
      attention.batch = static_cast<int>(spans.size());
      attention.spans = attention_spans_.as<FlashAttentionSpan>();
      for (const PassSpan& span : spans) {
        attention.q_len = std::max(attention.q_len, static_cast<int>(span.rows));
        attention.kv_len =
            std::max(attention.kv_len, static_cast<int>(span.first_position + span.rows));
      }
    } else {
      const PassSpan& span = spans.front();
      const int64_t slot_offset = kv.offset(span.slot, 0, 0) * e;
      attention.q.ptr = qkv_.as<std::byte>() + span.first_row * width * e;
      attention.out.ptr = attn_.as<std::byte>() + span.first_row * q_width * e;
      attention.k.ptr = static_cast<std::byte*>(rope.k_cache) + slot_offset;
      attention.v.ptr = static_cast<std::byte*>(rope.v_cache) + slot_offset;
      attention.q_len = static_cast<int>(span.rows);
      attention.kv_len = static_cast<int>(span.first_position + span.rows);
    }
    flash_attention(attention, stream_);

    gemm_.run(attn_.get(), rows, q_width,
              gemm_weight(layer.o_weight, layer.o_scale, layer.o_dequantized), d, nullptr,
              hidden_.get(), true, stream_);
    rms_norm(dtype, hidden_.get(), rows, static_cast<int>(d), layer.mlp_norm_weight,
             dec.rms_norm_eps, normed_.get(), stream_);
    gemm_.run(normed_.get(), rows, d,
              gemm_weight(layer.gate_up_weight, layer.gate_up_scale, layer.gate_up_dequantized),
              2 * f, nullptr, gate_up_.get(), false, stream_);
    swiglu(dtype, gate_up_.get(), rows, f, act_.get(), stream_);
    gemm_.run(act_.get(), rows, f,
              gemm_weight(layer.down_weight, layer.down_scale, layer.down_dequantized), d, nullptr,
              hidden_.get(), true, stream_);
  }
}

std::vector<DecodedToken> DecoderRunner::choose_after_prefill(
    const std::vector<int64_t>& last_rows) {
  const DecoderConfig& dec = model_.config.decoder;
  const int64_t d = dec.hidden_size;
  const size_t row_bytes = static_cast<size_t>(d) * element_bytes();
  const int batch = static_cast<int>(last_rows.size());
  // One prompt reads its last row in place; several are gathered into the step's rows first.
  const std::byte* x = hidden_.as<std::byte>() + last_rows.front() * row_bytes;
  if (batch > 1) {
    for (int g = 0; g < batch; ++g)
      GLMASR_CUDA_CHECK(cudaMemcpyAsync(step_hidden_.as<std::byte>() + g * row_bytes,
                                        hidden_.as<std::byte>() + last_rows[g] * row_bytes,
                                        row_bytes, cudaMemcpyDeviceToDevice, stream_));
    x = step_hidden_.as<std::byte>();
  }
  choose_step_kernels(batch);  // after the gather: it times on the prefill's buffers
  project(head_projection(x, batch));
  greedy_argmax(model_.dtype, logits_.get(), batch, dec.vocab_size, out_token_.as<int32_t>(),
                out_logprob_.as<float>(), argmax_workspace_.get(), stream_);
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(host_token_, out_token_.get(), batch * sizeof(int32_t),
                                    cudaMemcpyDeviceToHost, stream_));
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(host_logprob_, out_logprob_.get(), batch * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream_));
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  std::vector<DecodedToken> out(static_cast<size_t>(batch));
  for (int g = 0; g < batch; ++g) out[g] = {host_token_[g], host_logprob_[g]};
  return out;
}

void DecoderRunner::check_follows(int follows) const {
  const int previous_batch = steps_launched_ > 0 ? staging_of(steps_launched_ - 1).batch : 0;
  GLMASR_CHECK(follows < previous_batch, "decoding step: a row follows row ", follows,
               " of the step before, which had ", previous_batch);
}

void DecoderRunner::upload_step(const std::vector<SequenceStep>& sequences) {
  const int batch = static_cast<int>(sequences.size());
  GLMASR_CHECK(batch >= 1 && batch <= max_slots_, "decoding step: expected 1..", max_slots_,
               " sequences, got ", batch);
  const DecoderConfig& dec = model_.config.decoder;
  int32_t* control = staging_of(steps_launched_).control;
  for (int b = 0; b < batch; ++b) {
    const SequenceStep& s = sequences[b];
    GLMASR_CHECK(s.slot >= 0 && s.slot < max_slots_ && s.position >= 0 && s.position < max_seq_,
                 "decoding step: expected slot < ", max_slots_, " and position < ", max_seq_,
                 ", got slot ", s.slot, " position ", s.position);
    if (s.follows >= 0) {
      check_follows(s.follows);
    } else {
      GLMASR_CHECK(s.token >= 0 && s.token < dec.vocab_size,
                   "decoding step: expected a token id < ", dec.vocab_size, ", got ", s.token);
    }
    control[kControlTokens * max_slots_ + b] = s.follows >= 0 ? 0 : s.token;
    control[kControlSlots * max_slots_ + b] = s.slot;
    control[kControlPositions * max_slots_ + b] = s.position;
    control[kControlLengths * max_slots_ + b] = s.position + 1;
    control[kControlFollows * max_slots_ + b] = s.follows;
  }
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(control_.get(), control,
                                    kControlRows * size_t(max_slots_) * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_));
}

void DecoderRunner::enqueue_step(int batch, unsigned stages) {
  const DecoderConfig& dec = model_.config.decoder;
  const DType dtype = model_.dtype;
  const int64_t d = dec.hidden_size, f = dec.intermediate_size;
  const int heads = dec.num_heads, kv_heads = dec.num_kv_heads, hd = dec.head_dim;
  const int64_t q_width = int64_t{heads} * hd, width = int64_t{heads + 2 * kv_heads} * hd;
  const int32_t* tokens = control_row(kControlTokens);
  const int32_t* slots = control_row(kControlSlots);
  const int32_t* positions = control_row(kControlPositions);
  const int32_t* lengths = control_row(kControlLengths);
  if (batch == 1 && stages == kStageAll && single_step_persistent_) {
    persistent_decode_step(persistent_params(), stream_);
    return;
  }
  const StepCarveouts carveout = batch == 1 ? single_step_carveouts_ : StepCarveouts{};

  if (stages & kStageEmbed)
    embed_tokens(dtype, model_.embed_tokens, dec.vocab_size, static_cast<int>(d), tokens, nullptr,
                 nullptr, batch, step_hidden_.get(), stream_,
                 {.follows = control_row(kControlFollows), .previous = step_token_.as<int32_t>()});
  for (int l = 0; l < dec.num_layers; ++l) {
    const DeviceDecoderLayer& layer = model_.decoder_layers[l];
    // The matrix-vector and the skinny kernel take RoPE and the KV-cache write as their
    // epilogue; the rope stage then has nothing left to do. Else (cuBLASLt) a kernel follows.
    const QkvRopeEpilogue rope = step_rope_epilogue(l);
    Projection qkv{.x = step_hidden_.get(),
                   .batch = batch,
                   .in = d,
                   .norm_weight = layer.attn_norm_weight,
                   .w = layer.qkv_weight,
                   .w_scale = layer.qkv_scale,
                   .w_dequantized = layer.qkv_dequantized,
                   .out = width,
                   .y = step_qkv_.get(),
                   .shared_carveout = carveout.qkv,
                   .which = kQkvProjection};
    const ProjectionKernel qkv_kernel = kernel_for(qkv);
    const bool fused_rope =
        qkv_kernel == ProjectionKernel::kGemv ||
        (qkv_kernel == ProjectionKernel::kSkinny && skinny_gemm_rope_supported(hd));
    if (fused_rope) qkv.rope = &rope;
    if (stages & kStageQkv) project_with(qkv_kernel, qkv);
    if ((stages & kStageRope) && !fused_rope) {
      RopeQkvParams rope_kernel = rope_params(l, step_qkv_.get(), batch);
      rope_kernel.positions = positions;
      rope_kernel.q_out = step_q_.get();
      rope_kernel.slots = slots;
      rope_qkv(rope_kernel, stream_);
    }
    if (stages & kStageAttention) {
      DecodeAttentionParams attention{};
      attention.q = step_q_.get();
      attention.k_cache = kv_.k(l);
      attention.v_cache = kv_.v(l);
      attention.slot_of_seq = slots;
      attention.seq_len = lengths;
      attention.out = step_attn_.get();
      attention.workspace = attention_workspace_.as<float>();
      attention.batch = batch;
      attention.heads = heads;
      attention.kv_heads = kv_heads;
      attention.head_dim = hd;
      attention.max_seq = max_seq_;
      attention.scale = 1.0f / std::sqrt(static_cast<float>(hd));
      attention.dtype = dtype;
      attention.shared_carveout = carveout.attention;
      decode_attention(attention, stream_);
    }
    if (stages & kStageOProj)
      project({.x = step_attn_.get(),
               .batch = batch,
               .in = q_width,
               .w = layer.o_weight,
               .w_scale = layer.o_scale,
               .w_dequantized = layer.o_dequantized,
               .out = d,
               .residual = true,
               .y = step_hidden_.get(),
               .shared_carveout = carveout.o_proj,
               .which = kOutProjection});
    if (stages & kStageGateUp)
      project({.x = step_hidden_.get(),
               .batch = batch,
               .in = d,
               .norm_weight = layer.mlp_norm_weight,
               .w = layer.gate_up_weight,
               .w_scale = layer.gate_up_scale,
               .w_dequantized = layer.gate_up_dequantized,
               .out = 2 * f,
               .swiglu = true,
               .y = step_act_.get(),
               .shared_carveout = carveout.gate_up,
               .which = kGateUpProjection});
    if (stages & kStageDown)
      project({.x = step_act_.get(),
               .batch = batch,
               .in = f,
               .w = layer.down_weight,
               .w_scale = layer.down_scale,
               .w_dequantized = layer.down_dequantized,
               .out = d,
               .residual = true,
               .y = step_hidden_.get(),
               .shared_carveout = carveout.down,
               .which = kDownProjection});
  }
  if (stages & kStageHead) project(head_projection(step_hidden_.get(), batch));
  if (stages & kStageArgmax)
    greedy_argmax(dtype, logits_.get(), batch, dec.vocab_size, step_token_.as<int32_t>(),
                  out_logprob_.as<float>(), argmax_workspace_.get(), stream_);
}

CudaGraph& DecoderRunner::step_graph(int batch) {
  auto found = graphs_.find(batch);
  if (found == graphs_.end()) {
    if (batch == 1) choose_single_step();
    choose_step_kernels(batch);
    found =
        graphs_.emplace(batch, CudaGraph::capture(stream_, [&] { enqueue_step(batch, kStageAll); }))
            .first;
  }
  return found->second;
}

void DecoderRunner::launch_step_graph(int batch) {
  step_graph(batch).launch(stream_);
}

int DecoderRunner::capture_step_graphs(int max_batch) {
  int captured = 0;
  for (int batch = 1; batch <= std::min(max_batch, max_slots_); ++batch) {
    if (graphs_.count(batch)) continue;
    step_graph(batch);
    ++captured;
  }
  return captured;
}

PersistentStepParams DecoderRunner::persistent_params() const {
  const DecoderConfig& dec = model_.config.decoder;
  PersistentStepParams p;
  p.dtype = model_.dtype;
  p.layers = dec.num_layers;
  p.hidden = dec.hidden_size;
  p.intermediate = dec.intermediate_size;
  p.heads = dec.num_heads;
  p.kv_heads = dec.num_kv_heads;
  p.head_dim = dec.head_dim;
  p.vocab = dec.vocab_size;
  p.eps = dec.rms_norm_eps;
  p.layer = persistent_layers_.as<PersistentStepLayer>();
  p.embed = model_.embed_tokens;
  p.final_norm = model_.final_norm_weight;
  p.lm_head = model_.lm_head;
  p.fp8 = model_.weights == WeightFormat::kFP8;
  p.lm_head_scale = model_.lm_head_scale;
  p.cos = rope_.cos();
  p.sin = rope_.sin();
  p.k_cache = kv_.k(0);
  p.v_cache = kv_.v(0);
  p.kv = kv_.layout();
  p.token = control_row(kControlTokens);
  p.follows = control_row(kControlFollows);
  p.slot = control_row(kControlSlots);
  p.position = control_row(kControlPositions);
  p.x = step_hidden_.get();
  p.qkv_out = step_qkv_.get();
  p.act = step_act_.get();
  p.logits = logits_.get();
  p.out_token = step_token_.as<int32_t>();
  p.out_logprob = out_logprob_.as<float>();
  p.workspace = persistent_workspace_.get();
  return p;
}

void DecoderRunner::set_single_step_kernel(SingleStepKernel kernel) {
  GLMASR_CHECK(kernel != SingleStepKernel::kPersistent || persistent_unsupported_.empty(),
               "decoder: the persistent decoding step cannot run here: ", persistent_unsupported_);
  single_step_kernel_ = kernel;
  single_step_chosen_ = false;
  single_step_persistent_ = false;
  graphs_.erase(1);
  choose_single_step();
}

std::vector<uint64_t> DecoderRunner::persistent_step_timeline() {
  GLMASR_CHECK(persistent_unsupported_.empty(),
               "decoder: the persistent decoding step cannot run here: ", persistent_unsupported_);
  const size_t count = size_t(persistent_decode_step_blocks()) *
                       persistent_decode_step_phases(model_.config.decoder.num_layers) *
                       persistent_decode_step_timeline_entries();
  DeviceBuffer stamps(count * sizeof(uint64_t));
  GLMASR_CUDA_CHECK(cudaMemsetAsync(stamps.get(), 0, stamps.bytes(), stream_));  // 0: not stamped
  PersistentStepParams p = persistent_params();
  p.timeline = stamps.as<uint64_t>();
  persistent_decode_step(p, stream_);
  std::vector<uint64_t> out(count);
  GLMASR_CUDA_CHECK(
      cudaMemcpyAsync(out.data(), stamps.get(), stamps.bytes(), cudaMemcpyDeviceToHost, stream_));
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return out;
}

bool DecoderRunner::single_step_persistent() {
  choose_single_step();
  return single_step_persistent_;
}

void DecoderRunner::choose_single_step() {
  if (single_step_chosen_) return;
  single_step_chosen_ = true;
  single_step_persistent_ = false;
  single_step_gemv_blocks_ = 0;
  single_step_timings_.clear();
  // Every candidate runs the step of the sequence in the control arrays (or slot 0 at position
  // 0): each replay writes the same K/V row and outputs, so timing them changes nothing.
  auto time_step = [&](const std::string& name) {
    CudaGraph graph = CudaGraph::capture(stream_, [&] { enqueue_step(1, kStageAll); });
    const double ms = median_stream_ms(stream_, [&] { graph.launch(stream_); });
    single_step_timings_.push_back({name, ms});
    return ms;
  };
  double kernels_ms = INFINITY;  // the graph of kernels with its fastest carveouts
  if (single_step_kernel_ != SingleStepKernel::kPersistent) {
    StepCarveouts fastest;
    for (const CarveoutCandidate& candidate : kCarveoutCandidates) {
      single_step_carveouts_ = candidate.carveouts;
      const double ms = time_step(std::string("graph of kernels, carveouts ") + candidate.name);
      if (ms < kernels_ms) kernels_ms = ms, fastest = candidate.carveouts;
    }
    single_step_carveouts_ = fastest;
    // With those carveouts, the matrix-vector kernel compiled for 4 blocks per SM instead of 3
    // (GemvParams::blocks_per_sm) after QKV: the same sums, so no margin against noise is needed.
    single_step_gemv_blocks_ = 4;
    const double ms = time_step("graph of kernels, those carveouts, 4 gemv blocks per SM");
    if (ms < kernels_ms)
      kernels_ms = ms;
    else
      single_step_gemv_blocks_ = 0;
  }
  if (!persistent_unsupported_.empty() || single_step_kernel_ == SingleStepKernel::kKernelGraph)
    return;
  single_step_persistent_ = true;
  if (single_step_kernel_ == SingleStepKernel::kPersistent) return;
  const double persistent_ms = time_step("persistent kernel");
  single_step_persistent_ = persistent_ms < kernels_ms;
}

bool DecoderRunner::skinny_preferred(StepProjection which, int batch) const {
  const auto found = skinny_beats_cublaslt_.find(skinny_gemm_batch_rows(batch));
  return which == kStepProjections || found == skinny_beats_cublaslt_.end() || found->second[which];
}

int DecoderRunner::step_kernels_to_time(int batch) const {
  if (batch <= kGemvLargestBatch) return 0;
  for (const ProjectionShape& shape : projection_shapes())
    if (!skinny_gemm_supported(batch, shape.in)) return 0;
  // Timed at the class's largest batch within the slots: the skinny kernel's cost is that of
  // its padded rows, cuBLASLt's grows a little with the batch.
  const int rows = skinny_gemm_batch_rows(batch);
  const int timed = std::min(rows, max_slots_);
  if (skinny_beats_cublaslt_.count(rows) || timed > rows_) return 0;
  return timed;
}

bool DecoderRunner::step_choice_pending(int batch) const {
  return (batch == 1 && !single_step_chosen_) || step_kernels_to_time(batch) > 0;
}

void DecoderRunner::choose_step_kernels(int batch) {
  const int timed = step_kernels_to_time(batch);
  if (timed == 0) return;
  const std::array<ProjectionShape, kStepProjections> shapes = projection_shapes();
  const int rows = skinny_gemm_batch_rows(batch);
  // The prefill buffers, idle between passes, are the inputs and outputs; layer 0's weights
  // stand for every layer's.
  const DeviceDecoderLayer& layer = model_.decoder_layers[0];
  // Timed with what the step runs around each kernel: the RMSNorm before QKV, gate|up and
  // lm_head (the skinny kernel's prologue up to kSkinnyGemmMaxNormBatch rows, else a kernel
  // before it or cuBLASLt) and, after QKV, RoPE with the cache write (the skinny kernel's
  // epilogue, or a kernel after cuBLASLt): leaving them out tipped near-ties to cuBLASLt and
  // cost the step more than the projection saved. The timed RoPE writes every row to position 0
  // of a one-position scratch cache: the control rows beyond the step's batch are stale, and the
  // real cache must not change.
  struct Operands {
    const void* x;
    const void* norm_weight;  // RMSNorm of x first
    const void* w;
    const float* w_scale;
    const void* w_dequantized;
    void* y;
  };
  std::array<Operands, kStepProjections> operands;
  operands[kQkvProjection] = {.x = hidden_.get(),
                              .norm_weight = layer.attn_norm_weight,
                              .w = layer.qkv_weight,
                              .w_scale = layer.qkv_scale,
                              .w_dequantized = layer.qkv_dequantized,
                              .y = qkv_.get()};
  operands[kOutProjection] = {.x = attn_.get(),
                              .norm_weight = nullptr,
                              .w = layer.o_weight,
                              .w_scale = layer.o_scale,
                              .w_dequantized = layer.o_dequantized,
                              .y = hidden_.get()};
  operands[kGateUpProjection] = {.x = hidden_.get(),
                                 .norm_weight = layer.mlp_norm_weight,
                                 .w = layer.gate_up_weight,
                                 .w_scale = layer.gate_up_scale,
                                 .w_dequantized = layer.gate_up_dequantized,
                                 .y = act_.get()};
  operands[kDownProjection] = {.x = act_.get(),
                               .norm_weight = nullptr,
                               .w = layer.down_weight,
                               .w_scale = layer.down_scale,
                               .w_dequantized = layer.down_dequantized,
                               .y = hidden_.get()};
  operands[kHeadProjection] = {.x = hidden_.get(),
                               .norm_weight = model_.final_norm_weight,
                               .w = model_.lm_head,
                               .w_scale = model_.lm_head_scale,
                               .w_dequantized = model_.lm_head_dequantized,
                               .y = logits_.get()};
  const int64_t cache_row_bytes = int64_t{model_.config.decoder.num_kv_heads} *
                                  model_.config.decoder.head_dim * int64_t(element_bytes());
  auto* scratch = choice_scratch_.as<std::byte>();
  const auto* zeros = reinterpret_cast<const int32_t*>(scratch);
  QkvRopeEpilogue rope = step_rope_epilogue(0);
  rope.positions = rope.slots = zeros;
  rope.k_cache = scratch + kChoiceScratchIndexBytes;
  rope.v_cache = scratch + kChoiceScratchIndexBytes + cache_row_bytes;
  rope.max_seq = 1;
  RopeQkvParams rope_kernel = rope_params(0, qkv_.get(), timed);
  rope_kernel.positions = rope_kernel.slots = zeros;
  rope_kernel.q_out = step_q_.get();
  rope_kernel.k_cache = rope.k_cache;
  rope_kernel.v_cache = rope.v_cache;
  rope_kernel.max_seq = 1;
  const bool skinny_rope = skinny_gemm_rope_supported(model_.config.decoder.head_dim);

  std::array<bool, kStepProjections> wins{};
  for (int which = 0; which < kStepProjections; ++which) {
    Projection c;
    c.x = operands[which].x;
    c.norm_weight = operands[which].norm_weight;
    c.batch = timed;
    c.in = shapes[which].in;
    c.w = operands[which].w;
    c.w_scale = operands[which].w_scale;
    c.w_dequantized = operands[which].w_dequantized;
    c.out = shapes[which].out;
    c.swiglu = shapes[which].swiglu;
    c.residual = shapes[which].residual;
    c.y = operands[which].y;
    const bool qkv = which == kQkvProjection;
    const double skinny = median_stream_ms(stream_, [&] {
      Projection fused = c;
      if (qkv && skinny_rope) fused.rope = &rope;
      project_with(ProjectionKernel::kSkinny, fused);
      if (qkv && !skinny_rope) rope_qkv(rope_kernel, stream_);
    });
    const double cublaslt = median_stream_ms(stream_, [&] {
      project_with(ProjectionKernel::kCublasLt, c);
      if (qkv) rope_qkv(rope_kernel, stream_);
    });
    wins[which] = skinny < kSkinnyMargin * cublaslt;
  }
  skinny_beats_cublaslt_[rows] = wins;
}

std::vector<DecodedToken> DecoderRunner::step(const std::vector<SequenceStep>& sequences) {
  GLMASR_CHECK(steps_launched_ == steps_collected_,
               "decoding step: a synchronous step while a launched one is not collected");
  for (const SequenceStep& s : sequences)
    GLMASR_CHECK(s.follows < 0, "decoding step: a synchronous step's tokens must be known");
  launch_step(sequences);
  return collect_step();
}

void DecoderRunner::launch_step(const std::vector<SequenceStep>& sequences) {
  GLMASR_CHECK(steps_launched_ - steps_collected_ < 2,
               "decoding step: launched with two steps not collected");
  const int batch = static_cast<int>(sequences.size());
  std::vector<SequenceStep> known;
  const std::vector<SequenceStep>* inputs = &sequences;
  const bool captured = graphs_.count(batch) > 0;
  if (!captured && step_choice_pending(batch)) {
    // The choice times kernels: let the step in flight finish, and take its tokens from the host
    // (the timed runs overwrite the device's copy).
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    known = sequences;
    if (steps_launched_ > 0) {
      const StepStaging& previous = staging_of(steps_launched_ - 1);
      for (SequenceStep& s : known) {
        if (s.follows < 0) continue;
        check_follows(s.follows);
        s.token = previous.token[s.follows];
        s.follows = -1;
      }
    }
    inputs = &known;
  }
  upload_step(*inputs);
  // A batch size's first steps are launched kernel by kernel; its graph is captured only once it
  // recurs. Capturing and instantiating a graph costs ~15 ms, five steps of 128 sequences, and
  // sizes that come and go at the end of a long file were each used once or twice
  // (docs/performance.md, session 13).
  if (!captured && ++uncaptured_steps_[batch] <= kStepsBeforeCapture) {
    if (batch == 1) choose_single_step();
    choose_step_kernels(batch);
    enqueue_step(batch, kStageAll);
  } else {
    launch_step_graph(batch);
  }
  StepStaging& staging = staging_of(steps_launched_);
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(staging.token, step_token_.get(), batch * sizeof(int32_t),
                                    cudaMemcpyDeviceToHost, stream_));
  GLMASR_CUDA_CHECK(cudaMemcpyAsync(staging.logprob, out_logprob_.get(), batch * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream_));
  GLMASR_CUDA_CHECK(cudaEventRecord(staging.done, stream_));
  staging.batch = batch;
  ++steps_launched_;
}

std::vector<DecodedToken> DecoderRunner::collect_step() {
  GLMASR_CHECK(steps_collected_ < steps_launched_,
               "decoding step: collected, but no launched step is in flight");
  const StepStaging& staging = staging_of(steps_collected_);
  GLMASR_CUDA_CHECK(cudaEventSynchronize(staging.done));
  std::vector<DecodedToken> result(staging.batch);
  for (int b = 0; b < staging.batch; ++b) result[b] = {staging.token[b], staging.logprob[b]};
  ++steps_collected_;
  return result;
}

void DecoderRunner::discard_steps() {
  cudaStreamSynchronize(stream_);  // after a fault this fails too; the buffers are then idle
  steps_collected_ = steps_launched_;
}

std::vector<float> DecoderRunner::logits(int row) const {
  const int64_t v = model_.config.decoder.vocab_size;
  return download_floats(logits_.as<std::byte>() + row * v * element_bytes(), v, model_.dtype);
}

}  // namespace glmasr::cuda
