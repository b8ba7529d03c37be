// Helpers shared by the test suites: where fixtures live, running the glmasr binary, and
// comparing float tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace glmasr::testing {

std::string source_dir();  // the repository root
std::string data_dir();    // tests/data
// ../shared beside the checkout (or $GLMASR_SHARED_DIR); empty when absent.
std::string shared_dir();
std::string glmasr_binary();  // build/glmasr
// A fresh empty directory under the system temp dir, unique to this process and tag.
std::string make_temp_dir(const std::string& tag);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};
// Runs a shell command line, capturing stdout and stderr.
CommandResult run_command(const std::string& command_line);
// Quotes a string for the shell.
std::string shell_quote(const std::string& text);

// `count` samples of Gaussian noise (standard deviation 0.1) from `seed`: test audio.
std::vector<float> gaussian_noise(int64_t count, unsigned seed);

// Writes mono 16-bit PCM WAV (samples in [-1, 1]); throws on failure.
void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate = 16000);

// ||a - b|| / ||b|| over all elements (0 when both are zero); throws if shapes differ.
double relative_error(const FloatTensor& actual, const FloatTensor& expected);
double max_abs_error(const FloatTensor& actual, const FloatTensor& expected);

}  // namespace glmasr::testing
