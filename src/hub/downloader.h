// `glmasr download`: fetches every file of a hub model repository into a folder, resumably and
// verified. Each file is written to "<dir>/<path>.incomplete", resumed with a Range request when
// that exists, checked against the hub's size and digest (SHA-256 for LFS files, the git blob
// id otherwise) and only then renamed into place. Files already present and matching are kept.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "hub/hub_api.h"

namespace glmasr {

struct DownloadOptions {
  HubConfig hub;
  std::string dir;  // created if missing
  bool quiet = false;
  FILE* log = stderr;                    // progress bar and per-file lines
  std::optional<bool> force_terminal;    // progress bar regardless of isatty (tests)
  int max_retries = 5;                   // per request, for transient failures
  double initial_backoff_seconds = 1.0;  // doubled after each failed attempt
  // When set, a file of this name is written into dir once the file list is in and removed when
  // every file is verified: a folder that still holds it is an unfinished download.
  std::string incomplete_marker;
};

struct DownloadSummary {
  int files = 0;       // files in the repository
  int downloaded = 0;  // fetched in this run (fully or resumed)
  int up_to_date = 0;  // already present and verified
  int64_t bytes_received = 0;
};

// Throws glmasr::Error naming the file and URL for HTTP errors (401/403/404 with advice),
// exhausted retries, and size or digest mismatches (the bad data is deleted first).
DownloadSummary download_model(const DownloadOptions& options);

// Checks a local file against the listed size and digest; the message says what differs.
struct VerifyResult {
  bool ok = false;
  std::string problem;  // "size 12 bytes, expected 34", "SHA-256 abc..., expected def..."
};
VerifyResult verify_file(const std::string& local_path, const RepoFile& file);

}  // namespace glmasr
