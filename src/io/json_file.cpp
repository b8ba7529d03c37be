#include "io/json_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace glmasr {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GLMASR_CHECK(in.good(), path, ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  GLMASR_CHECK(!in.bad(), path, ": read failed");
  return buffer.str();
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
}

}  // namespace glmasr
