#include "model/model_location.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace glmasr {

namespace fs = std::filesystem;

namespace {

bool has_config(const std::string& dir) {
  std::error_code ignored;
  return fs::is_regular_file(fs::path(dir) / "config.json", ignored);
}

bool has_incomplete_marker(const std::string& dir) {
  std::error_code ignored;
  return fs::exists(fs::path(dir) / kIncompleteDownloadMarker, ignored);
}

std::string describe(const std::optional<std::string>& dir) {
  if (!dir) return "not set";
  std::error_code ignored;
  if (!fs::exists(*dir, ignored)) return "'" + *dir + "' (does not exist)";
  if (!fs::is_directory(*dir, ignored)) return "'" + *dir + "' (not a directory)";
  if (has_incomplete_marker(*dir)) return "'" + *dir + "' (incomplete download)";
  if (!has_config(*dir)) return "'" + *dir + "' (no config.json)";
  return "'" + *dir + "' (has config.json)";
}

}  // namespace

std::string glmasr_cache_dir() {
  std::string home;
  if (const char* env = std::getenv("HOME"); env && *env) {
    home = env;
  } else if (const passwd* entry = ::getpwuid(::getuid()); entry && entry->pw_dir) {
    home = entry->pw_dir;
  }
  GLMASR_CHECK(!home.empty(), "cannot find the home directory: $HOME is unset");
  return (fs::path(home) / ".cache" / "glmasr").string();
}

std::string default_model_dir() {
  return (fs::path(glmasr_cache_dir()) / kDefaultModelName).string();
}

void check_download_complete(const std::string& dir) {
  GLMASR_CHECK(!has_incomplete_marker(dir), "model folder '", dir,
               "': incomplete download: run glmasr download again (the folder holds ",
               kIncompleteDownloadMarker, ", which a finished download removes)");
}

ModelLocation locate_model(const ModelSearch& search) {
  std::optional<std::string> env_dir = search.env_dir;
  if (env_dir && env_dir->empty()) env_dir.reset();
  ModelLocation chosen;
  if (search.cli_dir)
    chosen = {*search.cli_dir, "--model"};
  else if (env_dir)
    chosen = {*env_dir, "$GLMASR_MODEL"};
  else
    chosen = {search.default_dir, "default"};
  check_download_complete(chosen.dir);
  if (has_config(chosen.dir)) return chosen;
  fail("no model folder with config.json (using ", chosen.origin, "); looked at: --model ",
       describe(search.cli_dir), "; $GLMASR_MODEL ", describe(env_dir), "; default ",
       describe(search.default_dir),
       ". Pass --model DIR, set GLMASR_MODEL, or run 'glmasr download' to fetch the model into ",
       search.default_dir);
}

ModelLocation locate_model(const std::optional<std::string>& cli_dir) {
  ModelSearch search;
  search.cli_dir = cli_dir;
  if (const char* env = std::getenv("GLMASR_MODEL")) search.env_dir = std::string(env);
  search.default_dir = default_model_dir();
  return locate_model(search);
}

}  // namespace glmasr
