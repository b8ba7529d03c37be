// glmasr mel AUDIO -o OUT.npy: the encoder's input features as float32 [windows, 128, 3000],
// for comparing the front end with transformers' WhisperFeatureExtractor from Python.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "args.h"
#include "audio/audio_file.h"
#include "audio/mel.h"
#include "commands.h"
#include "core/error.h"
#include "io/npy.h"

namespace glmasr::cli {
namespace {

void print_mel_help() {
  std::fprintf(stdout,
               "usage: glmasr mel AUDIO -o OUT.npy [--input-rate HZ] [--input-channels N]\n"
               "\n"
               "Writes the log-mel features the encoder sees, float32 [windows, 128, 3000].\n"
               "AUDIO is any file libsndfile reads (WAV, FLAC, Ogg, MP3), or '-' for standard\n"
               "input: one of those, or raw signed 16-bit little-endian PCM with --input-rate.\n"
               "\n"
               "  -o, --output FILE      the .npy file to write\n"
               "  --input-rate HZ        sample rate of raw PCM on standard input\n"
               "  --input-channels N     channels of raw PCM on standard input (default 1)\n"
               "  --mel-bins N           mel bins (default 128, as GLM-ASR)\n"
               "  --threads N            log-mel threads (default: all cores)\n"
               "  --time-runs N          compute the features N more times and print the\n"
               "                         fastest and median milliseconds per input\n");
}

// The latency of the features alone (what a request waits for before the encoder), for
// docs/performance.md: the first run above warmed the caches and the thread pool.
void print_mel_timing(const LogMelExtractor& extractor, const std::vector<float>& samples, int runs,
                      int threads) {
  std::vector<double> ms;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    const MelWindows mel = extractor.compute(samples);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::fprintf(stderr, "glmasr mel: %d threads, %d runs: fastest %.3f ms, median %.3f ms\n",
               threads, runs, ms.front(), ms[ms.size() / 2]);
}

}  // namespace

int run_mel(const CommandArgs& argv) {
  const Args args(argv, {{"--output", true, "-o"},
                         {"--input-rate", true},
                         {"--input-channels", true},
                         {"--mel-bins", true},
                         {"--threads", true},
                         {"--time-runs", true},
                         {"--help", false, "-h"}});
  if (args.has("--help")) {
    print_mel_help();
    return 0;
  }
  if (args.positional().size() != 1 || !args.has("--output"))
    fail_usage("expected one AUDIO argument and -o OUT.npy");
  check_stdin_options(args);
  const std::string path = args.positional()[0];
  const std::string output = *args.get("--output");
  AudioReadOptions options;
  options.raw_sample_rate = static_cast<int>(args.get_int("--input-rate", 0, 1, 1'000'000));
  options.raw_channels = static_cast<int>(args.get_int("--input-channels", 1, 1, 256));
  const int mel_bins = static_cast<int>(args.get_int("--mel-bins", 128, 1, 512));

  const Audio audio = read_audio(path, options);
  const int threads = static_cast<int>(
      args.get_int("--threads", std::max(1u, std::thread::hardware_concurrency()), 1, 256));
  const int time_runs = static_cast<int>(args.get_int("--time-runs", 0, 0, 100000));
  const LogMelExtractor extractor(mel_bins, threads);
  MelWindows mel;
  try {
    mel = extractor.compute(audio.samples);
  } catch (const Error& e) {
    fail("'", path, "': ", e.what());
  }
  write_npy_f32(output, mel.features);
  if (time_runs > 0) print_mel_timing(extractor, audio.samples, time_runs, threads);

  std::string frames;
  for (const int64_t count : mel.valid_frames) {
    if (!frames.empty()) frames += ',';
    frames += std::to_string(count);
  }
  std::fprintf(stderr, "glmasr mel: %s: %.3f s (%d Hz, %d ch) -> %s %s, valid frames %s\n",
               path.c_str(), audio.seconds(), audio.source_sample_rate, audio.source_channels,
               output.c_str(), shape_str(mel.features.shape()).c_str(), frames.c_str());
  return 0;
}

}  // namespace glmasr::cli
