#include "transcribe_outputs.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "args.h"
#include "core/error.h"

namespace glmasr::cli {

namespace fs = std::filesystem;

void prepare_output_dir(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  GLMASR_CHECK(!error, "-o ", dir, ": cannot create the folder: ", error.message());
  GLMASR_CHECK(fs::is_directory(dir, error), "-o ", dir, ": exists and is not a folder");
  // Permission bits do not tell (root, read-only mounts, ACLs): create a file and remove it.
  std::string probe = (fs::path(dir) / ".glmasr-write-test-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  GLMASR_CHECK(fd >= 0, "-o ", dir, ": cannot write files there: ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::vector<std::vector<std::string>> plan_output_paths(const std::vector<std::string>& inputs,
                                                        const std::vector<OutputFormat>& formats,
                                                        const std::string& dir) {
  std::vector<std::vector<std::string>> paths(inputs.size());
  std::map<std::string, size_t> writer_of;  // output path -> the input that writes it
  for (size_t input = 0; input < inputs.size(); ++input) {
    const std::string stem =
        inputs[input] == "-" ? "stdin" : fs::path(inputs[input]).filename().string();
    for (const OutputFormat format : formats) {
      const std::string path = (fs::path(dir) / (stem + "." + format_extension(format))).string();
      const auto [it, fresh] = writer_of.emplace(path, input);
      if (!fresh)
        fail_usage("inputs '", inputs[it->second], "' and '", inputs[input],
                   "' would both be written to '", path,
                   "'; rename one, or transcribe them into different -o folders");
      paths[input].push_back(path);
    }
  }
  return paths;
}

void write_output_file(const std::string& path, const std::string& text) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(path.c_str(), "wb"), &std::fclose);
  GLMASR_CHECK(out, path, ": cannot open for writing: ", std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), out.get()) == text.size();
  GLMASR_CHECK(written && std::fflush(out.get()) == 0, path,
               ": write failed: ", std::strerror(errno));
}

}  // namespace glmasr::cli
