// The C API (include/glmasr/glmasr.h) as a program linked against libglmasr.so sees it: status
// codes and per-thread messages, the segment callback (order, cancellation), PCM input and
// result accessors, on the tiny checkpoint.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "glmasr/glmasr.h"
#include "testing/testing.h"

namespace glmasr::testing {
namespace {

std::string jfk() {
  return shared_dir().empty() ? "" : shared_dir() + "/audio/jfk.wav";
}

class CApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    glmasr_model_options options;
    glmasr_model_options_init(&options);
    options.device = "cpu";
    ASSERT_EQ(glmasr_model_open((data_dir() + "/tiny").c_str(), &options, &model_), GLMASR_OK)
        << glmasr_last_error();
  }
  static void TearDownTestSuite() {
    glmasr_model_close(model_);
    model_ = nullptr;
  }
  void SetUp() override {
    if (jfk().empty()) GTEST_SKIP() << "../shared/audio is not present";
  }

  static glmasr_model* model_;
};

glmasr_model* CApi::model_ = nullptr;

struct Seen {
  std::vector<int> ids;
  std::vector<std::string> texts;
  int stop_after = -1;  // return nonzero once this many were seen
};

int record(const glmasr_segment* segment, void* user_data) {
  auto* seen = static_cast<Seen*>(user_data);
  seen->ids.push_back(segment->id);
  seen->texts.push_back(segment->text);
  return static_cast<int>(seen->ids.size()) == seen->stop_after ? 1 : 0;
}

// The samples of jfk.wav (16 kHz mono s16): the bytes of its "data" chunk.
std::vector<int16_t> jfk_pcm() {
  const CommandResult bytes = run_command("cat " + shell_quote(jfk()));
  const size_t data = bytes.out.find("data");
  EXPECT_NE(data, std::string::npos);
  uint32_t size = 0;
  std::memcpy(&size, bytes.out.data() + data + 4, 4);
  std::vector<int16_t> samples(size / 2);
  std::memcpy(samples.data(), bytes.out.data() + data + 8, samples.size() * 2);
  return samples;
}

// jfk.wav three times with 2 s of silence after each: several segments.
std::vector<int16_t> long_pcm() {
  const std::vector<int16_t> once = jfk_pcm();
  std::vector<int16_t> out;
  for (int k = 0; k < 3; ++k) {
    out.insert(out.end(), once.begin(), once.end());
    out.insert(out.end(), 32000, 0);
  }
  return out;
}

TEST_F(CApi, CallbackSeesEverySegmentInOrderAsTheResultHasThem) {
  const std::vector<int16_t> pcm = long_pcm();
  Seen seen;
  glmasr_transcribe_options options;
  glmasr_transcribe_options_init(&options);
  options.on_segment = record;
  options.user_data = &seen;
  glmasr_result* result = nullptr;
  ASSERT_EQ(glmasr_transcribe_s16(model_, pcm.data(), pcm.size(), 16000, 1, &options, &result),
            GLMASR_OK)
      << glmasr_last_error();
  const size_t count = glmasr_result_segment_count(result);
  ASSERT_GE(count, 2u);
  ASSERT_EQ(seen.ids.size(), count);
  for (size_t i = 0; i < count; ++i) {
    glmasr_segment segment;
    ASSERT_EQ(glmasr_result_segment(result, i, &segment), GLMASR_OK);
    EXPECT_EQ(seen.ids[i], static_cast<int>(i));
    EXPECT_EQ(seen.texts[i], segment.text);
    EXPECT_LE(segment.start, segment.end);
    EXPECT_EQ(segment.id, static_cast<int>(i));
  }
  EXPECT_NEAR(glmasr_result_duration(result), pcm.size() / 16000.0, 1e-6);
  EXPECT_GT(glmasr_result_seconds(result), 0);
  glmasr_result_free(result);
}

TEST_F(CApi, ANonzeroCallbackReturnCancelsAndTheModelStaysUsable) {
  const std::vector<int16_t> pcm = long_pcm();
  Seen seen{.stop_after = 1};
  glmasr_transcribe_options options;
  glmasr_transcribe_options_init(&options);
  options.on_segment = record;
  options.user_data = &seen;
  glmasr_result* result = nullptr;
  EXPECT_EQ(glmasr_transcribe_s16(model_, pcm.data(), pcm.size(), 16000, 1, &options, &result),
            GLMASR_ERROR_CANCELLED);
  EXPECT_EQ(result, nullptr);
  EXPECT_EQ(seen.ids.size(), 1u);
  EXPECT_NE(std::string(glmasr_last_error()).find("stopped by the segment callback"),
            std::string::npos)
      << glmasr_last_error();
  ASSERT_EQ(glmasr_transcribe_file(model_, jfk().c_str(), nullptr, &result), GLMASR_OK);
  EXPECT_STRNE(glmasr_result_text(result), "");
  EXPECT_STREQ(glmasr_last_error(), "");  // a successful call clears the message
  glmasr_result_free(result);
}

TEST_F(CApi, PcmFloatAndIntegerEqualTheFile) {
  const std::vector<int16_t> pcm = jfk_pcm();
  std::vector<float> stereo;
  for (int16_t s : pcm) stereo.insert(stereo.end(), 2, s / 32768.0f);
  glmasr_result *from_file = nullptr, *from_s16 = nullptr, *from_f32 = nullptr;
  ASSERT_EQ(glmasr_transcribe_file(model_, jfk().c_str(), nullptr, &from_file), GLMASR_OK);
  ASSERT_EQ(glmasr_transcribe_s16(model_, pcm.data(), pcm.size(), 16000, 1, nullptr, &from_s16),
            GLMASR_OK);
  ASSERT_EQ(glmasr_transcribe_f32(model_, stereo.data(), pcm.size(), 16000, 2, nullptr, &from_f32),
            GLMASR_OK);
  EXPECT_STREQ(glmasr_result_text(from_s16), glmasr_result_text(from_file));
  EXPECT_STREQ(glmasr_result_text(from_f32), glmasr_result_text(from_file));
  for (glmasr_result* r : {from_file, from_s16, from_f32}) glmasr_result_free(r);
}

TEST_F(CApi, BadArgumentsGetAStatusAndAMessage) {
  glmasr_result* result = nullptr;
  EXPECT_EQ(glmasr_transcribe_file(model_, nullptr, nullptr, &result),
            GLMASR_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(glmasr_last_error()).find("path"), std::string::npos);
  EXPECT_EQ(glmasr_transcribe(nullptr, nullptr, nullptr, &result), GLMASR_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(glmasr_transcribe_file(model_, "/nonexistent/a.wav", nullptr, &result),
            GLMASR_ERROR_INPUT);
  EXPECT_NE(std::string(glmasr_last_error()).find("/nonexistent/a.wav"), std::string::npos);
  const float samples[4] = {0, 0, 0, 0};
  EXPECT_EQ(glmasr_transcribe_f32(model_, samples, 4, 0, 1, nullptr, &result), GLMASR_ERROR_INPUT);
  EXPECT_EQ(glmasr_transcribe_f32(model_, samples, 4, 16000, 0, nullptr, &result),
            GLMASR_ERROR_INPUT);
  glmasr_transcribe_options options;
  glmasr_transcribe_options_init(&options);
  options.max_new_tokens = 501;  // the model was opened for 500
  EXPECT_EQ(glmasr_transcribe_file(model_, jfk().c_str(), &options, &result), GLMASR_ERROR_INPUT);
  EXPECT_NE(std::string(glmasr_last_error()).find("max_new_tokens"), std::string::npos);
  EXPECT_EQ(result, nullptr);

  ASSERT_EQ(glmasr_transcribe_file(model_, jfk().c_str(), nullptr, &result), GLMASR_OK);
  const char* document = nullptr;
  EXPECT_EQ(glmasr_result_render(result, "docx", &document), GLMASR_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(glmasr_last_error()).find("verbose_json"), std::string::npos)
      << glmasr_last_error();
  glmasr_segment segment;
  EXPECT_EQ(glmasr_result_segment(result, 99, &segment), GLMASR_ERROR_INVALID_ARGUMENT);
  glmasr_result_free(result);
}

TEST_F(CApi, BadModelOptionsAndFoldersAreRefused) {
  glmasr_model* model = nullptr;
  glmasr_model_options options;
  glmasr_model_options_init(&options);
  options.device = "tpu";
  EXPECT_EQ(glmasr_model_open((data_dir() + "/tiny").c_str(), &options, &model),
            GLMASR_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(glmasr_last_error()).find("cpu"), std::string::npos);
  glmasr_model_options_init(&options);
  options.kv_cache_gb = 1e-9;
  EXPECT_EQ(glmasr_model_open((data_dir() + "/tiny").c_str(), &options, &model),
            GLMASR_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(glmasr_model_open("/nonexistent/model", nullptr, &model), GLMASR_ERROR_MODEL);
  EXPECT_NE(std::string(glmasr_last_error()).find("/nonexistent/model"), std::string::npos);
  EXPECT_EQ(model, nullptr);
  glmasr_model_close(nullptr);
}

TEST_F(CApi, TheLastErrorBelongsToTheCallingThread) {
  glmasr_result* result = nullptr;
  EXPECT_EQ(glmasr_transcribe_file(model_, "/nonexistent/b.wav", nullptr, &result),
            GLMASR_ERROR_INPUT);
  std::string other;
  std::thread([&] { other = glmasr_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_NE(std::string(glmasr_last_error()), "");
}

TEST_F(CApi, StatusNamesAndVersion) {
  EXPECT_STREQ(glmasr_status_name(GLMASR_OK), "ok");
  EXPECT_STREQ(glmasr_status_name(GLMASR_ERROR_DEVICE), "device");
  EXPECT_STREQ(glmasr_status_name(static_cast<glmasr_status>(99)), "unknown");
  const CommandResult cli = run_command(shell_quote(glmasr_binary()) + " --version");
  EXPECT_EQ(cli.out, std::string("glmasr ") + glmasr_version() + "\n");
}

}  // namespace
}  // namespace glmasr::testing
