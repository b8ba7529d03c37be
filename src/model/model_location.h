// Where the model folder is: `--model DIR`, else $GLMASR_MODEL, else the download cache
// ~/.cache/glmasr/GLM-ASR-Nano-2512 (where `glmasr download` puts it).
#pragma once

#include <optional>
#include <string>

namespace glmasr {

inline constexpr const char* kDefaultModelName = "GLM-ASR-Nano-2512";
// `glmasr download` writes this file into the folder before the first file and removes it once
// every file is verified, so a stopped download is recognised as such.
inline constexpr const char* kIncompleteDownloadMarker = ".glmasr-incomplete";

struct ModelLocation {
  std::string dir;
  std::string origin;  // "--model", "$GLMASR_MODEL" or "default"
};

// ~/.cache/glmasr (from $HOME, or the password database when HOME is unset).
std::string glmasr_cache_dir();
// ~/.cache/glmasr/GLM-ASR-Nano-2512
std::string default_model_dir();

// The inputs of the search, explicit so tests need not touch the environment.
struct ModelSearch {
  std::optional<std::string> cli_dir;  // --model
  std::optional<std::string> env_dir;  // $GLMASR_MODEL (empty counts as unset)
  std::string default_dir;
};

// Throws glmasr::Error when dir holds the marker of a download that did not finish.
void check_download_complete(const std::string& dir);

// The first of cli_dir, env_dir, default_dir that is given is the one used; it must not be an
// unfinished download and must hold config.json. Otherwise throws glmasr::Error saying so (for
// a missing config.json, naming all three places and what each held).
ModelLocation locate_model(const ModelSearch& search);
// The same with env_dir from $GLMASR_MODEL and default_dir from default_model_dir().
ModelLocation locate_model(const std::optional<std::string>& cli_dir);

}  // namespace glmasr
