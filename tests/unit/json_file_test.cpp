// Reading text and JSON files (io/json_file.h): errors name the file and the system's reason.
#include "io/json_file.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

std::string error_reading(const std::string& path) {
  try {
    read_text_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonFile, ReadsAWholeFile) {
  const std::string dir = testing::make_temp_dir("json-file");
  std::string text(200000, 'x');  // more than one read buffer
  text += "{\"a\": 1}";
  std::ofstream(dir + "/big.txt", std::ios::binary) << text;
  EXPECT_EQ(read_text_file(dir + "/big.txt"), text);
  std::ofstream(dir + "/config.json") << R"({"a": [1, 2]})";
  EXPECT_EQ(read_json_file(dir + "/config.json")["a"][1], 2);
}

TEST(JsonFile, SaysWhyAFileCannotBeRead) {
  const std::string dir = testing::make_temp_dir("json-file-errors");
  const std::string missing = error_reading(dir + "/tokenizer.json");
  EXPECT_NE(missing.find(dir + "/tokenizer.json: cannot open: No such file or directory"),
            std::string::npos)
      << missing;
  const std::string directory = error_reading(dir);
  EXPECT_NE(directory.find("Is a directory"), std::string::npos) << directory;
  std::ofstream(dir + "/bad.json") << "{";
  EXPECT_THROW(read_json_file(dir + "/bad.json"), Error);
}

}  // namespace
}  // namespace glmasr
