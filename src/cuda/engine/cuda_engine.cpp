#include "cuda/engine/cuda_engine.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "audio/features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/engine/encoder_runner.h"
#include "cuda/host_transfer.h"
#include "cuda/kernels/gemm.h"
#include "model/audio_tokens.h"
#include "model/checkpoint.h"
#include "model/weights.h"

namespace glmasr {
namespace {

// Windows encoded together: enough rows (8 x 1500) to fill the GPU, few enough that the
// activations stay a few hundred MB. 16 (with a prefill chunk of 8192) was measured no faster on
// the H200: the encoder 4.64 against 4.58 ms per window, the packed prefill 2.27 against 2.24 ms
// per prompt, the hour 1.470 against 1.492 s (docs/performance.md, session 10).
constexpr int kEncoderWindowsPerBatch = 8;
// Prefill rows per pass: one long prompt's chunk, or the prompts of an encoder batch together
// (8 segments of ~390 positions each).
constexpr int kPrefillChunk = 4096;

class CudaEngine final : public Engine {
 public:
  CudaEngine(const std::string& model_dir, const EngineOptions& options)
      : device_(options.device_index) {
    const int devices = cuda::device_count();
    GLMASR_CHECK(device_ >= 0 && device_ < devices, "--devices: expected a GPU ordinal below ",
                 devices, ", got ", device_);
    bind_device();
    GLMASR_CHECK(options.dtype == "bf16" || options.dtype == "fp16",
                 "--dtype: expected bf16 or fp16, got '", options.dtype, "'");
    dtype_ = options.dtype == "bf16" ? DType::kBF16 : DType::kF16;
    GLMASR_CHECK(options.max_batch >= 1, "--max-batch: expected at least 1, got ",
                 options.max_batch);
    const ModelFolder folder{model_dir};
    const ModelConfig config =
        load_model_config(folder.config_path(), folder.generation_config_path());
    const int max_seq =
        options.max_sequence > 0 ? options.max_sequence : config.decoder.max_positions;
    GLMASR_CHECK(max_seq >= 1, model_dir, ": expected a positive sequence capacity, got ", max_seq);
    GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&upload_stream_, cudaStreamNonBlocking));
    for (cudaEvent_t* event : {&admit_start_, &admit_uploaded_, &admit_encoded_, &admit_end_})
      GLMASR_CUDA_CHECK(cudaEventCreate(event));
    GLMASR_CUDA_CHECK(cudaEventCreateWithFlags(&mel_copied_, cudaEventDisableTiming));
    gemm_ = std::make_unique<cuda::Gemm>(dtype_);
    // The runners are built, and their kernels loaded, while the weights upload.
    const auto build_and_warm_up = [&](const cuda::DeviceModel& model) {
      encoder_ =
          std::make_unique<cuda::EncoderRunner>(model, *gemm_, kEncoderWindowsPerBatch, stream_);
      decoder_ = std::make_unique<cuda::DecoderRunner>(model, *gemm_, options.max_batch, max_seq,
                                                       kPrefillChunk, stream_);
      warm_up_kernels(model.config);
    };
    {
      const Checkpoint checkpoint(model_dir);
      const ModelWeights weights = load_weights(checkpoint, config);
      model_ = cuda::upload_model(config, weights, dtype_, options.weights, build_and_warm_up);
    }
    audio_ = cuda::DeviceBuffer(size_t(max_seq) * config.decoder.hidden_size * 2);
    GLMASR_CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&mel_staging_),
                       size_t(encoder_->max_windows()) * mel_window_values() * sizeof(float)));
    description_ = cat("cuda ", dtype_ == DType::kBF16 ? "bf16" : "fp16",
                       options.weights == WeightFormat::kFP8 ? " (fp8 decoder weights)" : "",
                       " on ", cuda::device_description());
  }

  ~CudaEngine() override {
    cudaSetDevice(device_);  // never throws: a failure leaves the frees below to fail quietly
    decoder_.reset();
    encoder_.reset();
    gemm_.reset();
    for (cudaEvent_t event :
         {admit_start_, admit_uploaded_, admit_encoded_, admit_end_, mel_copied_})
      if (event) cudaEventDestroy(event);
    if (stream_) cudaStreamDestroy(stream_);
    if (upload_stream_) cudaStreamDestroy(upload_stream_);
    if (mel_staging_) cudaFreeHost(mel_staging_);
  }

  const ModelConfig& config() const override { return model_->config; }
  std::string describe() const override { return description_; }
  std::string device() const override { return cat("cuda:", device_); }

  FloatTensor encoder_output(const MelWindows& mel) override {
    bind_device();
    const int64_t h = config().encoder.hidden_size, frames = encoder_->frames();
    std::vector<float> values;
    encode(mel, [&](int64_t, int count) {
      GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
      const auto chunk =
          cuda::download_floats(encoder_->encoder_output(), count * frames * h, dtype_);
      values.insert(values.end(), chunk.begin(), chunk.end());
    });
    return FloatTensor({mel.windows(), frames, h}, std::move(values));
  }

  FloatTensor audio_embeddings(const MelWindows& mel) override {
    bind_device();
    const int64_t rows = gather_audio(mel, kept_rows_of(mel));
    return FloatTensor(
        {rows, int64_t{config().decoder.hidden_size}},
        cuda::download_floats(audio_.get(), rows * config().decoder.hidden_size, dtype_));
  }

  FloatTensor teacher_forced_logits(const MelWindows& mel, const std::vector<int32_t>& prompt_ids,
                                    const std::vector<int32_t>& forced) override {
    bind_device();
    const int64_t v = config().decoder.vocab_size;
    const int64_t rows = gather_audio(mel, kept_rows_of(mel));
    FloatTensor out({static_cast<int64_t>(forced.size()) + 1, v});
    decoder_->prefill(0, prompt_ids, audio_.get(), rows);
    auto copy_row = [&](size_t s) {
      const std::vector<float> logits = decoder_->logits(0);
      std::copy(logits.begin(), logits.end(), out.data() + s * v);
    };
    copy_row(0);
    for (size_t s = 0; s < forced.size(); ++s) {
      decoder_->step({{0, forced[s], static_cast<int>(prompt_ids.size() + s)}});
      copy_row(s + 1);
    }
    return out;
  }

  int kv_slots() const override { return decoder_->max_slots(); }
  int kv_positions() const override { return decoder_->max_seq(); }
  int encoder_batch_windows() const override { return encoder_->max_windows(); }

  // Sequences joining together have their windows encoded in one batch (one window per segment
  // is the common case: a batch of 8 fills the GPU far better than 8 encoder passes), then their
  // prompts are prefilled together, one pass through the decoder's GEMMs for all of them.
  std::vector<AdmissionResult> admit(const std::vector<SequenceAdmission>& admissions) override {
    bind_device();
    std::vector<AdmissionResult> results(admissions.size());
    std::vector<const void*> audio(admissions.size(), nullptr);
    std::vector<int64_t> rows(admissions.size(), 0);
    last_split_ = {};
    GLMASR_CUDA_CHECK(cudaEventRecord(admit_start_, stream_));
    // Recorded again by encode_group after its uploads; here in case there is no batch.
    GLMASR_CUDA_CHECK(cudaEventRecord(admit_uploaded_, stream_));
    try {
      if (admissions.size() > 1) encode_group(admissions, audio, rows);
    } catch (const Error&) {  // the batch failed as a whole: each request alone below
      std::fill(audio.begin(), audio.end(), nullptr);
    }
    GLMASR_CUDA_CHECK(cudaEventRecord(admit_encoded_, stream_));
    const std::vector<bool> done = prefill_packed(admissions, audio, rows, results);
    for (size_t g = 0; g < admissions.size(); ++g) {
      if (done[g]) continue;
      const GenerationRequest& request = *admissions[g].request;
      try {
        if (!audio[g]) {  // encode alone (rows not contiguous, or the batch failed)
          rows[g] = gather_audio(*request.mel, request.audio_rows);
          audio[g] = audio_.get();
          // That pass overwrote the batch's projector output: the rest encode alone too.
          for (size_t later = g + 1; later < admissions.size(); ++later) audio[later] = nullptr;
        }
        const cuda::DecodedToken first =
            decoder_->prefill(admissions[g].slot, request.prompt_ids, audio[g], rows[g]);
        results[g].first = {first.token, first.logprob};
      } catch (const Error& e) {  // one bad request must not sink the others
        results[g].error = e.what();
      }
    }
    // The prefills read their first tokens back: the stream is idle, the events are done.
    GLMASR_CUDA_CHECK(cudaEventRecord(admit_end_, stream_));
    GLMASR_CUDA_CHECK(cudaEventSynchronize(admit_end_));
    float upload_ms = 0, encoder_ms = 0, prefill_ms = 0;
    GLMASR_CUDA_CHECK(cudaEventElapsedTime(&upload_ms, admit_start_, admit_uploaded_));
    GLMASR_CUDA_CHECK(cudaEventElapsedTime(&encoder_ms, admit_uploaded_, admit_encoded_));
    GLMASR_CUDA_CHECK(cudaEventElapsedTime(&prefill_ms, admit_encoded_, admit_end_));
    last_split_ = {upload_ms * 1e-3, encoder_ms * 1e-3, prefill_ms * 1e-3};
    return results;
  }

  AdmissionSplit last_admission_split() const override { return last_split_; }

  std::vector<TokenChoice> step(const std::vector<StepInput>& batch) override {
    bind_device();
    return choices(decoder_->step(sequence_steps(batch)));
  }

  void launch_step(const std::vector<StepInput>& batch) override {
    bind_device();
    decoder_->launch_step(sequence_steps(batch));
  }

  std::vector<TokenChoice> collect_step() override {
    bind_device();
    return choices(decoder_->collect_step());
  }

  void discard_steps() override {
    bind_device();
    decoder_->discard_steps();
  }

  // The slot's rows are overwritten by its next prefill; nothing to free.
  void release(int) override {}

  // A service also loads the GEMM kernels of a spread of prefill row counts (the steps' shapes
  // among them) before it listens: ~50 more kernels, 0.2-0.45 s that a one-shot command would
  // add to its model load to save about half of it later (docs/performance.md, session 15).
  int warm_up(int max_batch) override {
    bind_device();
    decoder_->warm_up_row_counts();
    return decoder_->capture_step_graphs(max_batch);
  }

 private:
  const std::vector<cuda::SequenceStep>& sequence_steps(const std::vector<StepInput>& batch) {
    steps_.clear();
    for (const StepInput& s : batch) steps_.push_back({s.slot, s.token, s.position, s.follows});
    return steps_;
  }
  static std::vector<TokenChoice> choices(const std::vector<cuda::DecodedToken>& chosen) {
    std::vector<TokenChoice> out;
    out.reserve(chosen.size());
    for (const cuda::DecodedToken& c : chosen) out.push_back({c.token, c.logprob});
    return out;
  }

  // The CUDA runtime's current device is per thread: the engine is built on one thread, driven
  // by its loop's and destroyed on a third, and several engines share those threads' process.
  // Every entry point makes its GPU current first (a no-op when it already is).
  void bind_device() const { GLMASR_CUDA_CHECK(cudaSetDevice(device_)); }

  // CUDA loads a kernel on its first launch, and cuBLASLt an algorithm's kernel on its own
  // first launch: in the hour of speech the second cost the GPU ~133 ms of idle, 3-5 ms at a
  // time (docs/performance.md, sessions 12 and 15). This moves the loading into the weight
  // upload, which it overlaps (upload_model's `beside`): the commonest shapes first, each with
  // the heuristic's best algorithm (the encoder on a full batch and on one window, the prefill
  // on one prompt of about a window's length and on a packed pass of them), then the other
  // window counts keeping to loaded kernels where the heuristic ranks one among its best
  // (gemm.h). Shapes met later do the same, so a run loads a third of the kernels it did. The
  // warm-up is the load's critical path (each kernel adds ~4 ms): the spread of prefill row
  // counts waits for warm_up(). Nothing here is timed: the measurement-based choices (the
  // step's kernels, the batch-1 step) wait for a quiet GPU.
  void warm_up_kernels(const ModelConfig& config) {
    GLMASR_CUDA_CHECK(cudaMemsetAsync(encoder_->mel_input(), 0,
                                      size_t(encoder_->max_windows()) *
                                          config.encoder.num_mel_bins * encoder_->mel_frames() *
                                          sizeof(float),
                                      stream_));
    encoder_->warm_up(encoder_->max_windows());
    encoder_->warm_up(1);
    // A prompt is a window's audio rows and a few text tokens: the shapes are near enough.
    decoder_->warm_up_prompts(encoder_->rows_per_window());
    gemm_->use_loaded_kernels_for_new_shapes();
    for (int windows = 2; windows < encoder_->max_windows(); ++windows) encoder_->warm_up(windows);
  }

  // Prefills the admissions whose audio the batch left in the encoder's output together, in
  // passes of at most the decoder's packed rows; returns which ones are done (results set). A
  // pass that fails leaves its prompts to be prefilled alone, so that only a bad one fails.
  std::vector<bool> prefill_packed(const std::vector<SequenceAdmission>& admissions,
                                   const std::vector<const void*>& audio,
                                   const std::vector<int64_t>& rows,
                                   std::vector<AdmissionResult>& results) {
    std::vector<bool> done(admissions.size(), false);
    const int64_t row_bytes = int64_t{config().decoder.hidden_size} * 2;
    const auto* base = static_cast<const std::byte*>(encoder_->projector_output());
    std::vector<cuda::PackedPrompt> pass;
    std::vector<size_t> members;
    int64_t pass_rows = 0;
    const auto run_pass = [&] {
      if (pass.size() >= 2) {
        try {
          const std::vector<cuda::DecodedToken> first = decoder_->prefill_packed(pass, base);
          for (size_t k = 0; k < members.size(); ++k) {
            results[members[k]].first = {first[k].token, first[k].logprob};
            done[members[k]] = true;
          }
        } catch (const Error&) {  // each alone, in admit()
        }
      }
      pass.clear();
      members.clear();
      pass_rows = 0;
    };
    for (size_t g = 0; g < admissions.size(); ++g) {
      const auto length = static_cast<int64_t>(admissions[g].request->prompt_ids.size());
      if (!audio[g] || length > decoder_->packed_rows()) continue;
      if (pass_rows + length > decoder_->packed_rows()) run_pass();
      pass.push_back(
          {.slot = admissions[g].slot,
           .ids = &admissions[g].request->prompt_ids,
           .audio_first_row = (static_cast<const std::byte*>(audio[g]) - base) / row_bytes,
           .audio_rows = rows[g]});
      members.push_back(g);
      pass_rows += length;
    }
    run_pass();
    return done;
  }

  // Encodes the windows of every admission as one batch (their total is at most the encoder's
  // max_windows). Sets audio[g] to admission g's kept projector rows inside the encoder's output
  // (contiguous: only a request's last window can be partial) and rows[g] to their count; leaves
  // audio[g] null for a request whose rows are not contiguous.
  void encode_group(const std::vector<SequenceAdmission>& admissions,
                    std::vector<const void*>& audio, std::vector<int64_t>& rows) {
    const int64_t per_window = mel_window_values();
    const size_t row_bytes = static_cast<size_t>(config().decoder.hidden_size) * 2;
    int64_t window = 0;
    std::vector<int64_t> first_window(admissions.size());
    for (size_t g = 0; g < admissions.size(); ++g) {
      const MelWindows& mel = *admissions[g].request->mel;
      GLMASR_CHECK(mel.features.numel() == mel.windows() * per_window,
                   "cuda encoder: expected mel features of ", mel.windows(), " x ", per_window,
                   " values, got ", mel.features.numel());
      GLMASR_CHECK(window + mel.windows() <= encoder_->max_windows(), "cuda encoder: a batch of ",
                   window + mel.windows(), " windows, expected at most ", encoder_->max_windows());
      first_window[g] = window;
      window += mel.windows();
    }
    // The windows go through pinned memory on a stream of their own, so that they upload while
    // the decoding step in flight still runs: from pageable memory the copy first waits for the
    // stream (docs/performance.md, session 13). The previous admission has finished with the
    // staging buffer and the encoder's input (it synchronised). One window (1.5 MB) per thread,
    // so that the host's copy of a batch (12 MB) stays short beside the step.
    std::vector<const float*> window_source(static_cast<size_t>(window));
    for (size_t g = 0; g < admissions.size(); ++g) {
      const MelWindows& mel = *admissions[g].request->mel;
      for (int64_t w = 0; w < mel.windows(); ++w)
        window_source[first_window[g] + w] = mel.features.data() + w * per_window;
    }
    parallel_indices(window, static_cast<int>(window), [&](int64_t w) {
      std::memcpy(mel_staging_ + w * per_window, window_source[w], per_window * sizeof(float));
    });
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(encoder_->mel_input(), mel_staging_,
                                      window * per_window * sizeof(float), cudaMemcpyHostToDevice,
                                      upload_stream_));
    GLMASR_CUDA_CHECK(cudaEventRecord(mel_copied_, upload_stream_));
    GLMASR_CUDA_CHECK(cudaStreamWaitEvent(stream_, mel_copied_));
    GLMASR_CUDA_CHECK(cudaEventRecord(admit_uploaded_, stream_));
    encoder_->run(static_cast<int>(window));
    for (size_t g = 0; g < admissions.size(); ++g) {
      const std::vector<int64_t>& kept_rows = admissions[g].request->audio_rows;
      bool contiguous = true;
      int64_t kept_total = 0;
      for (size_t w = 0; w < kept_rows.size(); ++w) {
        const int64_t kept = std::min<int64_t>(encoder_->rows_per_window(), kept_rows[w]);
        contiguous &= w + 1 == kept_rows.size() || kept == encoder_->rows_per_window();
        kept_total += kept;
      }
      if (!contiguous) continue;
      audio[g] = static_cast<const std::byte*>(encoder_->projector_output()) +
                 first_window[g] * encoder_->rows_per_window() * row_bytes;
      rows[g] = kept_total;
    }
  }

  // Encodes the windows of `mel` in batches; calls done(first_window, count) after each batch
  // was enqueued.
  template <typename Done>
  void encode(const MelWindows& mel, Done done) {
    const EncoderConfig& enc = config().encoder;
    const int64_t windows = mel.windows();
    GLMASR_CHECK(mel.features.rank() == 3 && mel.features.dim(0) == windows &&
                     mel.features.dim(1) == enc.num_mel_bins &&
                     mel.features.dim(2) == encoder_->mel_frames(),
                 "cuda encoder: expected mel features [", windows, ", ", enc.num_mel_bins, ", ",
                 encoder_->mel_frames(), "], got ", shape_str(mel.features.shape()));
    GLMASR_CHECK(windows >= 1, "cuda encoder: expected at least one window, got none");
    const int64_t per_window = int64_t{enc.num_mel_bins} * encoder_->mel_frames();
    for (int64_t first = 0; first < windows; first += encoder_->max_windows()) {
      const int count =
          static_cast<int>(std::min<int64_t>(encoder_->max_windows(), windows - first));
      GLMASR_CUDA_CHECK(
          cudaMemcpyAsync(encoder_->mel_input(), mel.features.data() + first * per_window,
                          count * per_window * sizeof(float), cudaMemcpyHostToDevice, stream_));
      encoder_->run(count);
      done(first, count);
    }
  }

  // Encodes `mel` and gathers the first kept_rows[w] projector rows of every window w into
  // audio_; returns their count.
  int64_t gather_audio(const MelWindows& mel, const std::vector<int64_t>& kept_rows) {
    GLMASR_CHECK(static_cast<int64_t>(kept_rows.size()) == mel.windows(),
                 "cuda encoder: expected the kept rows of ", mel.windows(), " windows, got ",
                 kept_rows.size());
    const int64_t d = config().decoder.hidden_size;
    const size_t row_bytes = static_cast<size_t>(d) * 2;
    int64_t rows = 0;
    encode(mel, [&](int64_t first, int count) {
      for (int w = 0; w < count; ++w) {
        const int64_t kept = std::min<int64_t>(encoder_->rows_per_window(), kept_rows[first + w]);
        if (kept <= 0) continue;
        GLMASR_CHECK(static_cast<size_t>(rows + kept) * row_bytes <= audio_.bytes(), "audio of ",
                     mel.windows(), " windows gives more audio tokens than the ",
                     decoder_->max_seq(), " positions of the KV cache");
        GLMASR_CUDA_CHECK(
            cudaMemcpyAsync(audio_.as<std::byte>() + rows * row_bytes,
                            static_cast<const std::byte*>(encoder_->projector_output()) +
                                int64_t{w} * encoder_->rows_per_window() * row_bytes,
                            kept * row_bytes, cudaMemcpyDeviceToDevice, stream_));
        rows += kept;
      }
    });
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return rows;
  }

  std::vector<int64_t> kept_rows_of(const MelWindows& mel) const {
    return audio_rows_per_window(mel.valid_frames, config().encoder.merge_factor);
  }

  // Floats of one window's log-mel features.
  int64_t mel_window_values() const {
    return int64_t{config().encoder.num_mel_bins} * encoder_->mel_frames();
  }

  int device_ = 0;
  DType dtype_ = DType::kBF16;
  std::unique_ptr<cuda::DeviceModel> model_;
  cudaStream_t stream_ = nullptr;
  cudaStream_t upload_stream_ = nullptr;  // a batch's log-mel windows, beside the step in flight
  float* mel_staging_ = nullptr;          // pinned [encoder max_windows, mel window values]
  cudaEvent_t mel_copied_ = nullptr;
  // Device timers of admit(): its start, the end of its log-mel uploads (as far as the stream
  // waited for them) and of its batched encoder pass, its end.
  cudaEvent_t admit_start_ = nullptr, admit_uploaded_ = nullptr, admit_encoded_ = nullptr,
              admit_end_ = nullptr;
  AdmissionSplit last_split_;
  std::unique_ptr<cuda::Gemm> gemm_;
  std::unique_ptr<cuda::EncoderRunner> encoder_;
  std::unique_ptr<cuda::DecoderRunner> decoder_;
  cuda::DeviceBuffer audio_;
  std::vector<cuda::SequenceStep> steps_;  // reused by every step: no allocation per token
  std::string description_;
};

}  // namespace

std::unique_ptr<Engine> make_cuda_engine(const std::string& model_dir,
                                         const EngineOptions& options) {
  return std::make_unique<CudaEngine>(model_dir, options);
}

}  // namespace glmasr
