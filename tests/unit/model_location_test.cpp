#include "model/model_location.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

namespace fs = std::filesystem;

std::string make_model_dir(const std::string& root, const std::string& name) {
  const std::string dir = root + "/" + name;
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << "{}";
  return dir;
}

std::string error_of(const ModelSearch& search) {
  try {
    locate_model(search);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelLocation, PrefersTheCommandLineThenTheEnvironmentThenTheDefault) {
  const std::string root = testing::make_temp_dir("model-location");
  const std::string cli = make_model_dir(root, "cli"), env = make_model_dir(root, "env"),
                    fallback = make_model_dir(root, "default");
  auto found = locate_model(ModelSearch{cli, env, fallback});
  EXPECT_EQ(found.dir, cli);
  EXPECT_EQ(found.origin, "--model");
  found = locate_model(ModelSearch{std::nullopt, env, fallback});
  EXPECT_EQ(found.dir, env);
  EXPECT_EQ(found.origin, "$GLMASR_MODEL");
  found = locate_model(ModelSearch{std::nullopt, std::nullopt, fallback});
  EXPECT_EQ(found.dir, fallback);
  EXPECT_EQ(found.origin, "default");
  // An empty $GLMASR_MODEL counts as unset.
  EXPECT_EQ(locate_model(ModelSearch{std::nullopt, "", fallback}).dir, fallback);
}

TEST(ModelLocation, AnExplicitChoiceWithoutConfigIsAnErrorNotAFallback) {
  const std::string root = testing::make_temp_dir("model-location-explicit");
  const std::string fallback = make_model_dir(root, "default");
  fs::create_directories(root + "/empty");
  const std::string message = error_of(ModelSearch{root + "/empty", std::nullopt, fallback});
  EXPECT_NE(message.find("using --model"), std::string::npos) << message;
  EXPECT_NE(message.find(root + "/empty' (no config.json)"), std::string::npos) << message;
}

TEST(ModelLocation, ErrorNamesAllThreePlaces) {
  const std::string root = testing::make_temp_dir("model-location-none");
  const std::string message =
      error_of(ModelSearch{std::nullopt, root + "/missing-env", root + "/missing-default"});
  EXPECT_NE(message.find("--model not set"), std::string::npos) << message;
  EXPECT_NE(message.find("$GLMASR_MODEL '" + root + "/missing-env' (does not exist)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("default '" + root + "/missing-default' (does not exist)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("glmasr download"), std::string::npos) << message;
}

TEST(ModelLocation, DefaultIsUnderTheHomeCache) {
  const char* home = std::getenv("HOME");
  if (!home || !*home) GTEST_SKIP() << "HOME is unset";
  EXPECT_EQ(default_model_dir(), std::string(home) + "/.cache/glmasr/GLM-ASR-Nano-2512");
}

TEST(ModelLocation, AnUnfinishedDownloadIsNamedAsSuch) {
  const std::string root = testing::make_temp_dir("model-location-incomplete");
  const std::string dir = make_model_dir(root, "model");
  EXPECT_EQ(locate_model(ModelSearch{dir, std::nullopt, dir}).dir, dir);
  std::ofstream(dir + "/" + kIncompleteDownloadMarker) << "unfinished";
  const std::string error = error_of(ModelSearch{dir, std::nullopt, dir});
  EXPECT_NE(error.find("incomplete download"), std::string::npos) << error;
  EXPECT_NE(error.find("run glmasr download again"), std::string::npos) << error;
  EXPECT_THROW(check_download_complete(dir), Error);
  // Also when the download stopped before config.json arrived.
  fs::remove(dir + "/config.json");
  EXPECT_NE(error_of(ModelSearch{dir, std::nullopt, dir}).find("incomplete download"),
            std::string::npos);
}

}  // namespace
}  // namespace glmasr
