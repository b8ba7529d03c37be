#include "core/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace glmasr {
namespace {

// A FILE* writing into memory, read back after closing.
class MemoryStream {
 public:
  MemoryStream() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryStream() {
    if (file_) std::fclose(file_);
    std::free(data_);
  }
  FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  FILE* file_;
};

// A clock the test moves by hand.
struct FakeClock {
  double now = 100.0;
  std::function<double()> function() {
    return [this] { return now; };
  }
};

TEST(ProgressFormat, ShowsDoneTotalSpeedAndTimeLeft) {
  EXPECT_EQ(format_audio_progress(12.0, 3600.0, 12.0 / 850.0),
            "12.0/3600.0 s audio, 850x real time, 4 s left");
  EXPECT_EQ(format_audio_progress(1.0, 10.0, 2.0), "1.0/10.0 s audio, 0.5x real time, 18 s left");
  EXPECT_EQ(format_audio_progress(0.0, 10.0, 5.0), "0.0/10.0 s audio");
  EXPECT_EQ(format_audio_progress(10.0, 10.0, 0.0), "10.0/10.0 s audio");
}

TEST(Progress, WritesNothingWhenNotATerminal) {
  MemoryStream stream;  // a memory stream has no terminal behind it
  ASSERT_FALSE(is_terminal(stream.file()));
  AudioProgress progress(10.0, stream.file(), {.min_redraw_seconds = 0});
  EXPECT_FALSE(progress.enabled());
  progress.add_done(5.0);
  progress.finish();
  EXPECT_EQ(stream.text(), "");
  EXPECT_DOUBLE_EQ(progress.done_seconds(), 5.0);
}

TEST(Progress, WritesNothingWhenQuietEvenOnATerminal) {
  MemoryStream stream;
  AudioProgress progress(10.0, stream.file(),
                         {.quiet = true, .force_terminal = true, .min_redraw_seconds = 0});
  progress.add_done(5.0);
  progress.finish();
  EXPECT_EQ(stream.text(), "");
}

TEST(Progress, RewritesOneLineWithCarriageReturnsAndEndsIt) {
  MemoryStream stream;
  FakeClock clock;
  AudioProgress progress(
      100.0, stream.file(),
      {.force_terminal = true, .min_redraw_seconds = 0, .clock = clock.function()});
  clock.now += 1.0;
  progress.add_done(50.0);
  clock.now += 1.0;
  progress.add_done(50.0);
  progress.finish();
  progress.finish();  // idempotent
  EXPECT_EQ(stream.text(),
            "\r50.0/100.0 s audio, 50x real time, 1 s left"
            "\r100.0/100.0 s audio, 50x real time, 0 s left\n");
}

TEST(Progress, TotalGrowsAsInputsAreDecoded) {
  MemoryStream stream;
  FakeClock clock;
  AudioProgress progress(
      0.0, stream.file(),
      {.force_terminal = true, .min_redraw_seconds = 0, .clock = clock.function()});
  progress.add_total(60.0);
  clock.now += 1.0;
  progress.add_done(30.0);
  progress.finish();
  EXPECT_EQ(stream.text(),
            "\r0.0/60.0 s audio"
            "\r30.0/60.0 s audio, 30x real time, 1 s left\n");
}

TEST(Progress, PadsAShorterLineToEraseTheLongerOne) {
  MemoryStream stream;
  {
    StatusLine line(stream.file(), true);
    line.show("long text");
    line.show("short");
  }  // the destructor ends the line
  EXPECT_EQ(stream.text(), "\rlong text\rshort    \n");
}

TEST(Progress, RedrawsAtMostAtTheGivenRate) {
  MemoryStream stream;
  FakeClock clock;
  AudioProgress progress(
      100.0, stream.file(),
      {.force_terminal = true, .min_redraw_seconds = 1.0, .clock = clock.function()});
  for (int i = 0; i < 20; ++i) {
    clock.now += 0.1;
    progress.add_done(1.0);
  }
  progress.finish();
  const std::string text = stream.text();
  const auto redraws = std::count(text.begin(), text.end(), '\r');
  EXPECT_GE(redraws, 2);
  EXPECT_LE(redraws, 4);  // 2 s of updates at most once a second, plus the final one
  EXPECT_NE(text.find("20.0/100.0 s audio"), std::string::npos) << text;
}

TEST(Progress, CountsUpdatesFromManyThreads) {
  MemoryStream stream;
  AudioProgress progress(80.0, stream.file(), {.force_terminal = true, .min_redraw_seconds = 0});
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) progress.add_done(0.01);
    });
  for (auto& worker : workers) worker.join();
  progress.finish();
  EXPECT_NEAR(progress.done_seconds(), 80.0, 1e-6);
  const std::string text = stream.text();
  const std::string last = text.substr(text.rfind('\r'));
  EXPECT_EQ(last.rfind("\r80.0/80.0 s audio", 0), 0u) << last;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

}  // namespace
}  // namespace glmasr
