#include "testing/testing.h"

#include <sndfile.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace glmasr::testing {

namespace fs = std::filesystem;

std::string source_dir() {
  return GLMASR_SOURCE_DIR;
}
std::string data_dir() {
  return source_dir() + "/tests/data";
}

std::string shared_dir() {
  if (const char* env = std::getenv("GLMASR_SHARED_DIR"); env && *env) return env;
  const fs::path candidate = fs::path(source_dir()).parent_path() / "shared";
  return fs::is_directory(candidate) ? candidate.string() : std::string();
}

std::string glmasr_binary() {
  return GLMASR_BINARY;
}

std::string make_temp_dir(const std::string& tag) {
  const fs::path dir =
      fs::temp_directory_path() / ("glmasr-test-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

CommandResult run_command(const std::string& command_line) {
  const std::string err_path = make_temp_dir("cmd") + "/stderr";
  const std::string full = command_line + " 2>" + shell_quote(err_path);
  CommandResult result;
  FILE* pipe = ::popen(full.c_str(), "r");
  GLMASR_CHECK(pipe, "cannot run: ", command_line);
  char buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, got);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream err(err_path);
  std::ostringstream text;
  text << err.rdbuf();
  result.err = text.str();
  return result;
}

void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  GLMASR_CHECK(file, path, ": cannot write WAV: ", sf_strerror(nullptr));
  const sf_count_t written =
      sf_write_float(file, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(file);
  GLMASR_CHECK(written == static_cast<sf_count_t>(samples.size()), path, ": short write");
}

double relative_error(const FloatTensor& actual, const FloatTensor& expected) {
  GLMASR_CHECK(actual.shape() == expected.shape(), "relative_error: shape ",
               shape_str(actual.shape()), " versus ", shape_str(expected.shape()));
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double d = static_cast<double>(actual[i]) - expected[i];
    if (std::isnan(actual[i])) return INFINITY;
    diff += d * d;
    norm += static_cast<double>(expected[i]) * expected[i];
  }
  if (norm == 0) return diff == 0 ? 0 : INFINITY;
  return std::sqrt(diff / norm);
}

double max_abs_error(const FloatTensor& actual, const FloatTensor& expected) {
  GLMASR_CHECK(actual.shape() == expected.shape(), "max_abs_error: shape ",
               shape_str(actual.shape()), " versus ", shape_str(expected.shape()));
  double worst = 0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double d = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

std::vector<float> gaussian_noise(int64_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<float> samples(static_cast<size_t>(count));
  for (auto& s : samples) s = normal(generator);
  return samples;
}

}  // namespace glmasr::testing
