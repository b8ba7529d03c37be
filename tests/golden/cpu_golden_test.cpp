// The CPU reference against transformers, stage by stage, on the tiny fixture checkpoint.
// Stages are checked in pipeline order and the failure message names the first that broke.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cpu/cpu_model.h"
#include "engine/engine_factory.h"
#include "io/safetensors.h"
#include "model/audio_tokens.h"
#include "runtime/batch_decoder.h"
#include "runtime/parity.h"
#include "runtime/sampling.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

constexpr double kTolerance = 1e-4;

struct StageCheck {
  std::string name;
  double error;
};

class CpuGolden : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    model_ = cpu::CpuModel::load(testing::data_dir() + "/tiny").release();
  }
  static void TearDownTestSuite() { delete model_; }
  static cpu::CpuModel* model_;
};
cpu::CpuModel* CpuGolden::model_ = nullptr;

// Every stage of the forward pass, in order, with its relative error against the dump.
std::vector<StageCheck> run_stages(const cpu::CpuModel& model, const SafetensorsFile& golden) {
  auto ref = [&](const char* name) { return to_float(golden.view(name), name); };
  std::vector<StageCheck> checks;
  const FloatTensor features = ref("input_features");
  const auto frames = to_int64(golden.view("window_frames"), "window_frames");
  const int64_t windows = features.dim(0), window_size = features.numel() / windows;
  const FloatTensor conv = ref("conv_stem"), layer0 = ref("encoder_layer0");
  const FloatTensor encoded_ref = ref("encoder_output"), projected_ref = ref("projector_output");
  const int64_t conv_size = conv.numel() / windows, proj_size = projected_ref.numel() / windows;

  std::vector<float> conv_all, layer0_all, encoded_all, projected_all;
  for (int64_t w = 0; w < windows; ++w) {
    const float* mel = features.data() + w * window_size;
    const FloatTensor stem = model.conv_stem(mel);
    conv_all.insert(conv_all.end(), stem.values().begin(), stem.values().end());
    FloatTensor first;
    const FloatTensor encoded = model.encode_window(mel, &first);
    layer0_all.insert(layer0_all.end(), first.values().begin(), first.values().end());
    encoded_all.insert(encoded_all.end(), encoded.values().begin(), encoded.values().end());
    const FloatTensor projected = model.project(encoded);
    projected_all.insert(projected_all.end(), projected.values().begin(), projected.values().end());
  }
  (void)conv_size;
  (void)proj_size;
  checks.push_back(
      {"conv_stem", testing::relative_error(FloatTensor(conv.shape(), conv_all), conv)});
  checks.push_back(
      {"encoder_layer0", testing::relative_error(FloatTensor(layer0.shape(), layer0_all), layer0)});
  checks.push_back(
      {"encoder_output",
       testing::relative_error(FloatTensor(encoded_ref.shape(), encoded_all), encoded_ref)});
  checks.push_back(
      {"projector_output",
       testing::relative_error(FloatTensor(projected_ref.shape(), projected_all), projected_ref)});
  MelWindows mel{features, frames};
  const FloatTensor audio = model.audio_embeddings(
      mel, audio_rows_per_window(mel.valid_frames, model.config().encoder.merge_factor));
  checks.push_back({"audio_embeds", testing::relative_error(audio, ref("audio_embeds"))});

  const auto prompt64 = to_int64(golden.view("prompt_ids"), "prompt_ids");
  const std::vector<int32_t> prompt(prompt64.begin(), prompt64.end());
  const auto tokens = to_int64(golden.view("tokens"), "tokens");
  const FloatTensor logits_ref = ref("logits");
  const int64_t V = logits_ref.dim(1);
  cpu::KvCache cache = model.new_cache(static_cast<int64_t>(prompt.size() + tokens.size()));
  FloatTensor decoder_layer0;
  FloatTensor logits = model.decode(model.embed(prompt, audio), cache, &decoder_layer0);
  checks.push_back(
      {"decoder_layer0", testing::relative_error(decoder_layer0, ref("decoder_layer0"))});
  for (size_t s = 0; s < tokens.size(); ++s) {
    const FloatTensor expected(
        {V}, std::vector<float>(logits_ref.data() + s * V, logits_ref.data() + (s + 1) * V));
    checks.push_back(
        {"logits step " + std::to_string(s), testing::relative_error(logits, expected)});
    if (s + 1 < tokens.size())  // teacher forcing with the reference token
      logits = model.decode(model.embed({static_cast<int32_t>(tokens[s])}, FloatTensor()), cache);
  }
  return checks;
}

TEST_P(CpuGolden, EveryStageMatchesTransformers) {
  const SafetensorsFile golden(testing::data_dir() + "/golden/" + GetParam() + ".safetensors");
  for (const auto& check : run_stages(*model_, golden)) {
    ASSERT_LE(check.error, kTolerance) << "first stage over tolerance: " << check.name
                                       << " (relative error " << check.error << ")";
  }
}

TEST_P(CpuGolden, GreedyTokensEqualTransformers) {
  const std::string path = testing::data_dir() + "/golden/" + GetParam() + ".safetensors";
  const ReferenceDump dump = read_reference_dump(path);
  auto engine = create_engine(testing::data_dir() + "/tiny", EngineOptions{.device = "cpu"});
  const GenerationRequest request{.mel = &dump.mel,
                                  .audio_rows = audio_rows_per_window(
                                      dump.mel.valid_frames, engine->config().encoder.merge_factor),
                                  .prompt_ids = dump.prompt_ids,
                                  .max_new_tokens = static_cast<int>(dump.tokens.size())};
  const auto results = generate(*engine, {request});
  ASSERT_EQ(results.size(), 1u);
  std::vector<int32_t> expected = dump.tokens;
  const auto& eos = engine->config().eos_token_ids;
  if (!expected.empty() && std::count(eos.begin(), eos.end(), expected.back()))
    expected.pop_back();  // the engine reports the stop token as the stop reason, not a token
  EXPECT_EQ(results[0].tokens, expected);
}

TEST_P(CpuGolden, ParityReportPassesThroughTheEngineInterface) {
  const ReferenceDump dump =
      read_reference_dump(testing::data_dir() + "/golden/" + GetParam() + ".safetensors");
  auto engine = create_engine(testing::data_dir() + "/tiny", EngineOptions{.device = "cpu"});
  const ParityReport report = compare_with_reference(*engine, dump, 0.0f);
  EXPECT_TRUE(report.passed(kTolerance)) << report.format();
  EXPECT_EQ(report.first_mismatch, -1) << report.format();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CpuGolden, ::testing::Values("tiny_jfk", "tiny_two_window"));

// Perturbing any single parameter tensor must break at least one stage: proves the golden test
// can fail and that every tensor is used.
TEST(CpuGoldenSensitivity, PerturbingAnyTensorIsDetected) {
  auto model = cpu::CpuModel::load(testing::data_dir() + "/tiny");
  const SafetensorsFile golden(testing::data_dir() + "/golden/tiny_jfk.safetensors");
  for (auto& [name, tensor] : model->named_parameters()) {
    const std::vector<float> saved = tensor->values();
    for (int64_t i = 0; i < tensor->numel(); ++i)  // a ~10% change of every element
      (*tensor)[i] += 0.033f * ((i % 7) - 3) * (std::fabs((*tensor)[i]) + 1e-3f);
    double worst = 0;
    for (const auto& check : run_stages(*model, golden)) worst = std::max(worst, check.error);
    EXPECT_GT(worst, kTolerance) << "perturbing " << name << " went unnoticed";
    tensor->values() = saved;
  }
}

}  // namespace
}  // namespace glmasr
