#include "pipeline/loop_guard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace glmasr {
namespace {

// Token ids drawn from a Zipf-like distribution over a 5000-word vocabulary, as in real text:
// frequent words recur often, but no phrase repeats back to back.
std::vector<int> natural_tokens(size_t count, unsigned seed) {
  std::vector<double> weights(5000);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 / static_cast<double>(i + 1);
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  std::mt19937 rng(seed);
  std::vector<int> tokens(count);
  for (auto& token : tokens) token = zipf(rng);
  return tokens;
}

// Pushes tokens until the guard trips; returns how many it took (0 if it never did).
size_t tokens_until_trip(LoopGuard& guard, const std::vector<int>& tokens) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (guard.push(tokens[i])) return i + 1;
  return 0;
}

TEST(LoopGuard, NaturalTokenStreamsNeverTrip) {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    LoopGuard guard;
    EXPECT_EQ(tokens_until_trip(guard, natural_tokens(4000, seed)), 0u) << guard.reason();
  }
}

TEST(LoopGuard, ShortGenuineRepetitionsDoNotTrip) {
  // "no no no", a repeated phrase, and a sentence with internal echoes stay below the limits.
  std::vector<int> tokens = {5, 6, 7, 7, 7, 8, 9, 10, 11, 9, 10, 11, 12};
  // "ask not what your country can do for you, ask what you can do for your country"
  const std::vector<int> jfk = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 3, 9, 6, 7, 8, 4, 5};
  tokens.insert(tokens.end(), jfk.begin(), jfk.end());
  tokens.insert(tokens.end(), jfk.begin(), jfk.end());  // even the whole speech said twice
  LoopGuard guard;
  EXPECT_EQ(tokens_until_trip(guard, tokens), 0u) << guard.reason();
}

// A natural prefix, then one phrase of the given period repeated until the token limit.
std::vector<int> looping_stream(int period, size_t prefix, unsigned seed) {
  std::vector<int> tokens = natural_tokens(prefix, seed);
  const std::vector<int> phrase = natural_tokens(period, seed + 100);
  for (int repeat = 0; repeat < 400 / period + 10; ++repeat)
    tokens.insert(tokens.end(), phrase.begin(), phrase.end());
  return tokens;
}

TEST(LoopGuard, LoopsOfEveryPeriodTripWithinABoundedNumberOfTokens) {
  for (int period : {1, 2, 3, 5, 8, 13, 20, 32}) {
    const size_t prefix = 50;
    auto tokens = looping_stream(period, prefix, 7);
    LoopGuard guard;
    const size_t trip = tokens_until_trip(guard, tokens);
    ASSERT_GT(trip, prefix) << "period " << period << ": " << guard.reason();
    // Never later than min_repeats copies or 24 tokens into the loop (plus one, since the
    // first copy only becomes a loop once the second starts).
    const size_t bound = std::max<size_t>(24, 3 * period);
    EXPECT_LE(trip - prefix, bound) << "period " << period;
    EXPECT_TRUE(guard.triggered());
    EXPECT_GE(guard.period(), 1);
    EXPECT_LE(guard.period(), period);
    EXPECT_NE(guard.reason().find("period"), std::string::npos);
    EXPECT_TRUE(guard.push(1)) << "stays tripped";
  }
}

TEST(LoopGuard, ResetForgetsTheLoop) {
  LoopGuard guard;
  for (int i = 0; i < 30; ++i) guard.push(42);
  ASSERT_TRUE(guard.triggered());
  EXPECT_EQ(guard.period(), 1);
  guard.reset();
  EXPECT_FALSE(guard.triggered());
  EXPECT_EQ(guard.tokens_seen(), 0u);
  for (int i = 0; i < 23; ++i) EXPECT_FALSE(guard.push(42)) << i;
  EXPECT_TRUE(guard.push(42));  // the 24th identical token
}

TEST(LoopGuard, LongerPeriodsThanTheLimitAreLeftToTheTextTest) {
  LoopGuard guard({.max_period = 8});
  EXPECT_EQ(tokens_until_trip(guard, looping_stream(20, 10, 3)), 0u);
}

TEST(LoopGuard, CompressionRatioSeparatesSpeechFromLoops) {
  const std::string speech =
      "And so my fellow Americans, ask not what your country can do for you, ask what you can do "
      "for your country. My fellow citizens of the world, ask not what America will do for you, "
      "but what together we can do for the freedom of man.";
  std::string loop = "Thank you for watching. ";
  while (loop.size() < speech.size()) loop += "Thank you for watching. ";
  EXPECT_LT(compression_ratio(speech), 2.0);
  EXPECT_GT(compression_ratio(loop), 2.4);
  EXPECT_EQ(compression_ratio(""), 0.0);

  LoopGuard guard;
  EXPECT_FALSE(guard.check_text(speech));
  EXPECT_FALSE(guard.check_text(loop.substr(0, 60))) << "too short to judge";
  EXPECT_TRUE(guard.check_text(loop));
  EXPECT_NE(guard.reason().find("compression ratio"), std::string::npos) << guard.reason();
  EXPECT_EQ(guard.period(), 0);
  EXPECT_TRUE(guard.push(1)) << "push reports the tripped guard too";
}

TEST(LoopGuard, RejectsNonsenseOptions) {
  EXPECT_THROW(LoopGuard({.max_period = 0}), Error);
  EXPECT_THROW(LoopGuard({.min_repeats = 1}), Error);
}

}  // namespace
}  // namespace glmasr
