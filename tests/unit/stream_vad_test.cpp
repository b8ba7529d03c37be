// The energy VAD on synthetic speech-like bursts (a voiced harmonic tone with syllable-rate
// amplitude modulation) and quiet noise: turn boundaries, the server_vad parameters,
// hysteresis, clicks, chunking, and parameter checks. Also base64 and LocalAgreement-2.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "stream/base64.h"
#include "stream/energy_vad.h"
#include "stream/local_agreement.h"

namespace glmasr::stream {
namespace {

constexpr int kRate = 16000;

// Builds a signal piece by piece, in milliseconds.
class Signal {
 public:
  // Voiced "speech": 140 Hz with harmonics, modulated at 4 Hz (syllables) between 35% and
  // 100% of `peak`.
  Signal& speech(int ms, double peak = 0.3) {
    for (int i = 0; i < ms * kRate / 1000; ++i, ++t_) {
      const double time = double(t_) / kRate;
      const double envelope = 0.675 + 0.325 * std::sin(2 * M_PI * 4 * time);
      double voiced = 0;
      for (int h = 1; h <= 5; ++h) voiced += std::sin(2 * M_PI * 140 * h * time) / h;
      push(peak * envelope * voiced / 2.3);
    }
    return *this;
  }
  // Background noise at about `db` dBFS RMS.
  Signal& silence(int ms, double db = -65) {
    std::normal_distribution<double> noise(0.0, std::pow(10.0, db / 20));
    for (int i = 0; i < ms * kRate / 1000; ++i, ++t_) push(noise(random_));
    return *this;
  }
  // A steady tone at about `db` dBFS RMS.
  Signal& tone(int ms, double db) {
    const double amplitude = std::pow(10.0, db / 20) * std::sqrt(2.0);
    for (int i = 0; i < ms * kRate / 1000; ++i, ++t_)
      push(amplitude * std::sin(2 * M_PI * 300 * double(t_) / kRate));
    return *this;
  }
  const std::vector<int16_t>& samples() const { return samples_; }

 private:
  void push(double x) {
    samples_.push_back(static_cast<int16_t>(std::lround(std::clamp(x, -1.0, 1.0) * 32767)));
  }
  std::vector<int16_t> samples_;
  int64_t t_ = 0;
  std::mt19937 random_{7};
};

std::vector<VadEvent> run(const std::vector<int16_t>& samples, VadParams params = {},
                          size_t chunk = 480) {
  EnergyVad vad(params, kRate);
  std::vector<VadEvent> events;
  for (size_t at = 0; at < samples.size(); at += chunk) {
    const size_t n = std::min(chunk, samples.size() - at);
    for (const VadEvent& event : vad.push({samples.data() + at, n})) events.push_back(event);
  }
  return events;
}

int64_t ms_of(int64_t sample) {
  return sample * 1000 / kRate;
}

TEST(EnergyVad, FindsTwoBurstsSeparatedByALongPause) {
  Signal signal;
  signal.silence(1000).speech(1500).silence(900).speech(1200).silence(1000);
  const auto events = run(signal.samples(),
                          {.threshold = 0.5, .prefix_padding_ms = 300, .silence_duration_ms = 500});
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, VadEvent::Kind::kSpeechStarted);
  EXPECT_EQ(events[1].kind, VadEvent::Kind::kSpeechStopped);
  // Start: the first loud frame (at 1000 ms, give or take a frame of the envelope) less the
  // padding; stop: the end of the burst plus the silence duration.
  EXPECT_NEAR(ms_of(events[0].sample), 700, 20);
  EXPECT_NEAR(ms_of(events[1].sample), 2500 + 500, 20);
  EXPECT_NEAR(ms_of(events[2].sample), 3400 - 300, 20);
  EXPECT_NEAR(ms_of(events[3].sample), 4600 + 500, 20);
  for (const VadEvent& event : events) EXPECT_EQ(event.sample % (kRate / 100), 0) << "frame edge";
}

TEST(EnergyVad, APauseShorterThanTheSilenceDurationKeepsOneTurn) {
  Signal signal;
  signal.silence(500).speech(1000).silence(300).speech(1000).silence(800);
  const auto short_pause = run(
      signal.samples(), {.threshold = 0.5, .prefix_padding_ms = 100, .silence_duration_ms = 500});
  EXPECT_EQ(short_pause.size(), 2u);
  // With a shorter silence duration the same pause ends the turn.
  const auto split = run(signal.samples(),
                         {.threshold = 0.5, .prefix_padding_ms = 100, .silence_duration_ms = 200});
  EXPECT_EQ(split.size(), 4u);
}

TEST(EnergyVad, PrefixPaddingIsHonouredAndClampedToTheStart) {
  Signal signal;
  signal.silence(200).speech(800).silence(700);
  const auto events = run(signal.samples(),
                          {.threshold = 0.5, .prefix_padding_ms = 500, .silence_duration_ms = 500});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].sample, 0);  // 200 - 500 ms: clamped to the first sample
}

TEST(EnergyVad, HysteresisKeepsAnOpenTurnThroughQuieterFrames) {
  const double open = vad_open_level_db(0.5);  // -40 dBFS
  Signal held;  // a loud start, then a level between the close and the open levels
  held.silence(300).tone(300, open + 10).tone(1000, open - 3).silence(800);
  const auto events =
      run(held.samples(), {.threshold = 0.5, .prefix_padding_ms = 0, .silence_duration_ms = 400});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NEAR(ms_of(events[1].sample), 1600 + 400, 20);  // closed only after the quiet tone

  Signal only_between;  // the same in-between level never opens a turn
  only_between.silence(300).tone(1000, open - 3).silence(300);
  EXPECT_TRUE(run(only_between.samples()).empty());
}

TEST(EnergyVad, ClicksShorterThanTheMinimumSpeechDoNotOpenATurn) {
  Signal signal;
  signal.silence(500).tone(kVadFrameMs * (kMinSpeechFrames - 1), -10).silence(500);
  EXPECT_TRUE(run(signal.samples()).empty());
}

TEST(EnergyVad, AHigherThresholdIgnoresQuieterSpeech) {
  Signal signal;
  signal.silence(300).speech(1000, 0.02).silence(800);  // about -40 dBFS speech
  EXPECT_EQ(
      run(signal.samples(), {.threshold = 0.3, .prefix_padding_ms = 0, .silence_duration_ms = 300})
          .size(),
      2u);
  EXPECT_TRUE(
      run(signal.samples(), {.threshold = 0.8, .prefix_padding_ms = 0, .silence_duration_ms = 300})
          .empty());
}

TEST(EnergyVad, TheSameSamplesGiveTheSameBoundariesHoweverTheyAreChunked) {
  Signal signal;
  signal.silence(700).speech(1300).silence(700).speech(400).silence(900);
  const auto reference = run(signal.samples(), {}, 160);
  ASSERT_EQ(reference.size(), 4u);
  for (size_t chunk : {1u, 7u, 333u, 4000u, 100000u}) {
    const auto events = run(signal.samples(), {}, chunk);
    ASSERT_EQ(events.size(), reference.size()) << chunk;
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sample, reference[i].sample);
  }
}

TEST(EnergyVad, ResetForgetsAnOpenTurn) {
  Signal signal;
  signal.silence(200).speech(600);
  EnergyVad vad({}, kRate);
  vad.push(signal.samples());
  EXPECT_TRUE(vad.in_speech());
  vad.reset();
  EXPECT_FALSE(vad.in_speech());
  Signal quiet;
  quiet.silence(1000);
  EXPECT_TRUE(vad.push(quiet.samples()).empty());  // no stop for the forgotten turn
}

TEST(EnergyVad, BadParametersNameTheField) {
  EXPECT_THROW(
      EnergyVad({.threshold = 1.5, .prefix_padding_ms = 0, .silence_duration_ms = 500}, kRate),
      InputError);
  try {
    EnergyVad({.threshold = 0.5, .prefix_padding_ms = 0, .silence_duration_ms = 0}, kRate);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("silence_duration_ms"), std::string::npos);
  }
  EXPECT_THROW(
      EnergyVad({.threshold = 0.5, .prefix_padding_ms = -1, .silence_duration_ms = 500}, kRate),
      InputError);
}

TEST(Base64, RoundTripsAndRefusesWhatIsNotBase64) {
  for (const std::string& bytes :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(decode_base64(encode_base64(bytes)), bytes);
  EXPECT_EQ(encode_base64("hello"), "aGVsbG8=");
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_FALSE(decode_base64("aGVsbG8"));   // length
  EXPECT_FALSE(decode_base64("aGV*bG8="));  // alphabet
  EXPECT_FALSE(decode_base64("aG=sbG8="));  // padding inside
  EXPECT_FALSE(decode_base64("aGVs=G8="));  // padding in an earlier group
  EXPECT_FALSE(decode_base64("a==="));      // three padding characters
}

TEST(LocalAgreement, AgreesOnWholeLeadingWords) {
  EXPECT_EQ(agreed_prefix("", "hello world"), "");
  EXPECT_EQ(agreed_prefix("hello wor", "hello world again"), "hello");
  EXPECT_EQ(agreed_prefix("hello world", "hello world again"), "hello world");
  EXPECT_EQ(agreed_prefix(" And so my", " And so my fellow"), " And so my");
  EXPECT_EQ(agreed_prefix("Hello", "hello"), "");
  // CJK characters are words of their own.
  EXPECT_EQ(
      agreed_prefix("\xe4\xbd\xa0\xe5\xa5\xbd\xe5\x90\x97", "\xe4\xbd\xa0\xe5\xa5\xbd\xe5\x95\x8a"),
      "\xe4\xbd\xa0\xe5\xa5\xbd");
  const auto words = split_words(" a bc,d  e");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0], " a");
  EXPECT_EQ(words[1], " bc,d");
  EXPECT_EQ(words[2], "  e");
}

}  // namespace
}  // namespace glmasr::stream
