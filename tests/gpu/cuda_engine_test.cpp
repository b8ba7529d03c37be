// The whole CUDA engine on the tiny fixture checkpoint against the transformers golden dumps
// (tools/glmasr_reference.py): encoder output, audio embeddings, teacher-forced logits, greedy
// tokens, and continuous batching giving each request its batch-1 result.
#include "cuda/engine/cuda_engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "audio/mel.h"
#include "io/safetensors.h"
#include "model/audio_tokens.h"
#include "runtime/batch_decoder.h"
#include "testing/gpu.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

struct Golden {
  MelWindows mel;
  std::vector<int32_t> prompt_ids, tokens;
  FloatTensor encoder_output, audio_embeds, logits, margins;
};

Golden load_golden(const std::string& name) {
  const SafetensorsFile file(testing::data_dir() + "/golden/" + name);
  Golden g;
  g.mel.features = to_float(file.view("input_features"), "input_features");
  g.mel.valid_frames = to_int64(file.view("window_frames"), "window_frames");
  for (int64_t id : to_int64(file.view("prompt_ids"), "prompt_ids"))
    g.prompt_ids.push_back(int32_t(id));
  for (int64_t id : to_int64(file.view("tokens"), "tokens")) g.tokens.push_back(int32_t(id));
  g.encoder_output = to_float(file.view("encoder_output"), "encoder_output");
  g.audio_embeds = to_float(file.view("audio_embeds"), "audio_embeds");
  g.logits = to_float(file.view("logits"), "logits");
  g.margins = to_float(file.view("margins"), "margins");
  return g;
}

std::unique_ptr<Engine> tiny_engine(int max_batch = 2, const std::string& dtype = "bf16") {
  EngineOptions options;
  options.device = "cuda";
  options.dtype = dtype;
  options.max_batch = max_batch;
  options.max_sequence = 1024;
  return make_cuda_engine(testing::data_dir() + "/tiny", options);
}

// One request per golden input, decoding up to max_new_tokens[i] tokens from its prompt.
std::vector<GenerationRequest> requests_of(const std::vector<const Golden*>& sources,
                                           const std::vector<int>& max_new_tokens,
                                           int merge_factor) {
  std::vector<GenerationRequest> requests(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    requests[i].mel = &sources[i]->mel;
    requests[i].audio_rows = audio_rows_per_window(sources[i]->mel.valid_frames, merge_factor);
    requests[i].prompt_ids = sources[i]->prompt_ids;
    requests[i].max_new_tokens = max_new_tokens[i];
  }
  return requests;
}

// (golden file, element type): fp16 keeps 3 more mantissa bits than bf16, so the same bounds
// hold for both.
class CudaEngineGoldenTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  Golden golden() const { return load_golden(std::get<0>(GetParam())); }
  std::unique_ptr<Engine> engine() const { return tiny_engine(2, std::get<1>(GetParam())); }
};

TEST_P(CudaEngineGoldenTest, EncoderAndProjectorMatchTransformers) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden g = golden();
  auto engine = this->engine();
  EXPECT_LE(testing::relative_error(engine->encoder_output(g.mel), g.encoder_output), 2e-2);
  EXPECT_LE(testing::relative_error(engine->audio_embeddings(g.mel), g.audio_embeds), 2e-2);
}

TEST_P(CudaEngineGoldenTest, TeacherForcedLogitsMatchTransformers) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden g = golden();
  auto engine = this->engine();
  const std::vector<int32_t> forced(g.tokens.begin(), g.tokens.end() - 1);
  const FloatTensor logits = engine->teacher_forced_logits(g.mel, g.prompt_ids, forced);
  ASSERT_EQ(logits.shape(), g.logits.shape());
  EXPECT_LE(testing::relative_error(logits, g.logits), 2e-2);
}

TEST_P(CudaEngineGoldenTest, GreedyTokensMatchUntilTheFirstSmallMargin) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden g = golden();
  auto engine = this->engine();
  GenerationRequest request;
  request.mel = &g.mel;
  request.audio_rows =
      audio_rows_per_window(g.mel.valid_frames, engine->config().encoder.merge_factor);
  request.prompt_ids = g.prompt_ids;
  request.max_new_tokens = static_cast<int>(g.tokens.size());
  const GenerationResult result = generate(*engine, {request}).at(0);
  ASSERT_EQ(result.stop == StopReason::kError, false) << result.error;
  const auto& eos = engine->config().eos_token_ids;
  size_t compared = 0;
  for (size_t s = 0; s < g.tokens.size() && g.margins[s] >= 0.5f; ++s, ++compared) {
    if (std::find(eos.begin(), eos.end(), g.tokens[s]) != eos.end()) {
      EXPECT_EQ(result.stop, StopReason::kEos);
      EXPECT_EQ(result.tokens.size(), s);
      break;
    }
    ASSERT_LT(s, result.tokens.size());
    EXPECT_EQ(result.tokens[s], g.tokens[s]) << "step " << s;
  }
  EXPECT_EQ(result.tokens.size(), result.logprobs.size());
  for (float lp : result.logprobs) EXPECT_LE(lp, 0.0f);
  std::cout << std::get<0>(GetParam()) << " " << std::get<1>(GetParam()) << ": compared "
            << compared << " of " << g.tokens.size() << " greedy tokens\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaEngineGoldenTest,
                         ::testing::Combine(::testing::Values("tiny_jfk.safetensors",
                                                              "tiny_two_window.safetensors"),
                                            ::testing::Values("bf16", "fp16")),
                         [](const auto& info) {
                           std::string name =
                               std::get<0>(info.param).substr(0, std::get<0>(info.param).find('.'));
                           return name + "_" + std::get<1>(info.param);
                         });

TEST(CudaEngineTest, ContinuousBatchingGivesEachRequestItsBatchOneResult) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden jfk = load_golden("tiny_jfk.safetensors");
  const Golden two = load_golden("tiny_two_window.safetensors");
  auto single = tiny_engine(1);
  auto batched = tiny_engine(2);  // three requests, two slots: the third joins when one ends
  std::vector<GenerationRequest> requests =
      requests_of({&jfk, &two, &jfk}, {12, 5, 9}, single->config().encoder.merge_factor);
  int stopped_after = 0;
  // The callback ends request 2 after its third token.
  requests[2].on_token = [&](int32_t) { return ++stopped_after < 3; };
  const auto together = generate(*batched, requests);
  ASSERT_EQ(together.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    GenerationRequest alone = requests[i];
    int count = 0;
    if (i == 2) alone.on_token = [&](int32_t) { return ++count < 3; };
    const GenerationResult expected = generate(*single, {alone}).at(0);
    EXPECT_EQ(together[i].tokens, expected.tokens) << "request " << i;
    EXPECT_EQ(together[i].stop, expected.stop) << "request " << i;
    ASSERT_EQ(together[i].logprobs.size(), expected.logprobs.size());
    for (size_t s = 0; s < expected.logprobs.size(); ++s)
      EXPECT_NEAR(together[i].logprobs[s], expected.logprobs[s], 1e-3);
  }
  EXPECT_EQ(together[2].stop, StopReason::kStopped);
  EXPECT_EQ(together[2].tokens.size(), 3u);
}

// Four prompts admitted together (6 windows: one encoder batch) are prefilled in one packed pass:
// every GEMM over their 4 x ~100 rows at once, RoPE writing each row to its own slot, causal
// attention per prompt. Each must still get what it gets alone, and decode on from its own cache.
TEST(CudaEngineTest, PackedPrefillGivesEachPromptItsOwnResult) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden jfk = load_golden("tiny_jfk.safetensors");
  const Golden two = load_golden("tiny_two_window.safetensors");
  auto single = tiny_engine(1);
  auto packed = tiny_engine(4);
  std::vector<GenerationRequest> requests =
      requests_of({&two, &jfk, &two, &jfk}, {6, 7, 8, 9}, single->config().encoder.merge_factor);
  for (int i = 2; i < 4; ++i)
    requests[i].prompt_ids.insert(requests[i].prompt_ids.end() - 3, {100, 101});
  const auto together = generate(*packed, requests);
  for (int i = 0; i < 4; ++i) {
    const GenerationResult expected = generate(*single, {requests[i]}).at(0);
    EXPECT_EQ(together[i].tokens, expected.tokens) << "request " << i;
    ASSERT_EQ(together[i].logprobs.size(), expected.logprobs.size()) << "request " << i;
    for (size_t s = 0; s < expected.logprobs.size(); ++s)
      EXPECT_NEAR(together[i].logprobs[s], expected.logprobs[s], 1e-3) << i << " step " << s;
  }
}

// --timings splits each admission's device time into the log-mel upload, the batched encoder pass
// and the prefills; each must be measured (positive) and together they cannot exceed the
// admission's wall time.
TEST(CudaEngineTest, AdmissionSplitTimesEncoderAndPrefill) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden jfk = load_golden("tiny_jfk.safetensors");
  auto engine = tiny_engine(2);
  EXPECT_EQ(engine->last_admission_split().encoder_seconds, 0.0);
  std::vector<GenerationRequest> requests =
      requests_of({&jfk, &jfk}, {2, 2}, engine->config().encoder.merge_factor);
  std::vector<SequenceAdmission> admissions;
  for (int i = 0; i < 2; ++i) admissions.push_back({i, &requests[i]});
  const auto wall_start = std::chrono::steady_clock::now();
  const std::vector<AdmissionResult> results = engine->admit(admissions);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  for (const AdmissionResult& r : results) EXPECT_EQ(r.error, "");
  const AdmissionSplit split = engine->last_admission_split();
  EXPECT_GT(split.upload_seconds, 0.0);
  EXPECT_GT(split.encoder_seconds, 0.0);
  EXPECT_GT(split.prefill_seconds, 0.0);
  EXPECT_LE(split.upload_seconds + split.encoder_seconds + split.prefill_seconds, wall);
}

// warm_up captures the step graph of every batch size in advance (what `glmasr serve` does
// before it listens); steps replayed from those graphs must decode what lazily captured ones do.
TEST(CudaEngineTest, WarmedUpStepsDecodeWhatLazilyCapturedOnesDo) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden jfk = load_golden("tiny_jfk.safetensors");
  const Golden two = load_golden("tiny_two_window.safetensors");
  auto lazy = tiny_engine(3);
  auto warmed = tiny_engine(3);
  EXPECT_EQ(warmed->warm_up(8), 3);  // capped by the engine's slots
  EXPECT_EQ(warmed->warm_up(8), 0);  // nothing left to prepare
  // The batch shrinks 3 -> 2 -> 1 as the requests end.
  const std::vector<GenerationRequest> requests =
      requests_of({&jfk, &two, &two}, {4, 7, 10}, lazy->config().encoder.merge_factor);
  const auto expected = generate(*lazy, requests);
  const auto got = generate(*warmed, requests);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].tokens, expected[i].tokens) << "request " << i;
    EXPECT_EQ(got[i].logprobs, expected[i].logprobs) << "request " << i;
  }
}

// Pipelined steps (Engine::launch_step before collect_step, rows fed on the device from the step
// in flight) must decode exactly what synchronous steps with the host's tokens do. One engine
// runs both, on different slots, so that both take the same measured kernels; the batch shrinks
// 3 -> 2 -> 1 (a row leaving from the middle). Run in both orders: pipelined first, every batch
// size's graph is captured mid-pipeline (its tokens then come from the host).
std::vector<TokenChoice> decode_schedule(Engine& engine,
                                         const std::vector<GenerationRequest>& requests,
                                         int first_slot, bool pipelined) {
  std::vector<SequenceAdmission> admissions;
  for (size_t i = 0; i < requests.size(); ++i)
    admissions.push_back({first_slot + static_cast<int>(i), &requests[i]});
  const std::vector<AdmissionResult> admitted = engine.admit(admissions);
  std::vector<TokenChoice> out;
  std::vector<int> previous_rows;  // the slots of the last step's rows
  std::vector<int32_t> token(requests.size()), position(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(admitted[i].error, "");
    out.push_back(admitted[i].first);
    token[i] = admitted[i].first.token;
    position[i] = static_cast<int>(requests[i].prompt_ids.size());
  }
  const std::vector<std::vector<int>> schedule = {{0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {0, 2},
                                                  {0, 2},    {2},       {2},       {2}};
  std::vector<std::vector<int>> launched;
  auto collect = [&] {
    const std::vector<TokenChoice> chosen = engine.collect_step();
    for (size_t r = 0; r < chosen.size(); ++r) {
      out.push_back(chosen[r]);
      token[launched.front()[r]] = chosen[r].token;
    }
    launched.erase(launched.begin());
  };
  for (const std::vector<int>& rows : schedule) {
    std::vector<StepInput> batch;
    for (int i : rows) {
      StepInput input{.slot = first_slot + i, .token = token[i], .position = position[i]++};
      if (pipelined && !launched.empty()) {
        const std::vector<int>& before = launched.back();
        input.follows =
            static_cast<int>(std::find(before.begin(), before.end(), i) - before.begin());
      }
      batch.push_back(input);
    }
    if (!pipelined) {
      for (const TokenChoice& c : engine.step(batch)) out.push_back(c);
      for (size_t r = 0; r < rows.size(); ++r)
        token[rows[r]] = out[out.size() - rows.size() + r].token;
      continue;
    }
    engine.launch_step(batch);
    launched.push_back(rows);
    if (launched.size() == 2) collect();
  }
  while (!launched.empty()) collect();
  for (size_t i = 0; i < requests.size(); ++i) engine.release(first_slot + static_cast<int>(i));
  return out;
}

TEST(CudaEngineTest, PipelinedStepsDecodeWhatSynchronousStepsDo) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden jfk = load_golden("tiny_jfk.safetensors");
  const Golden two = load_golden("tiny_two_window.safetensors");
  for (const bool pipelined_first : {false, true}) {
    auto engine = tiny_engine(6);
    const std::vector<GenerationRequest> requests =
        requests_of({&jfk, &two, &jfk}, {20, 20, 20}, engine->config().encoder.merge_factor);
    const auto first = decode_schedule(*engine, requests, 0, pipelined_first);
    const auto second = decode_schedule(*engine, requests, 3, !pipelined_first);
    ASSERT_EQ(first.size(), second.size());
    for (size_t i = 0; i < first.size(); ++i) {
      EXPECT_EQ(first[i].token, second[i].token)
          << "choice " << i << " pipelined first " << pipelined_first;
      EXPECT_EQ(first[i].logprob, second[i].logprob) << "choice " << i;
    }
  }
}

TEST(CudaEngineTest, ABadRequestFailsAloneWithAMessage) {
  GLMASR_SKIP_WITHOUT_GPU();
  const Golden jfk = load_golden("tiny_jfk.safetensors");
  auto engine = tiny_engine();
  GenerationRequest good;
  good.mel = &jfk.mel;
  good.audio_rows =
      audio_rows_per_window(jfk.mel.valid_frames, engine->config().encoder.merge_factor);
  good.prompt_ids = jfk.prompt_ids;
  good.max_new_tokens = 3;
  GenerationRequest bad = good;
  bad.prompt_ids.erase(std::find(bad.prompt_ids.begin(), bad.prompt_ids.end(),
                                 engine->config().audio_token_id));  // one placeholder short
  const auto results = generate(*engine, {bad, good});
  EXPECT_EQ(results[0].stop, StopReason::kError);
  EXPECT_NE(results[0].error.find("placeholders"), std::string::npos) << results[0].error;
  EXPECT_NE(results[1].stop, StopReason::kError);
}

}  // namespace
}  // namespace glmasr
