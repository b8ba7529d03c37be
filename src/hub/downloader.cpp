#include "hub/downloader.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "hub/http.h"
#include "hub/sha256.h"

namespace glmasr {

namespace fs = std::filesystem;

namespace {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return buffer;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool is_transient_status(long status) {
  return status == 408 || status == 429 || status >= 500;
}

int64_t file_size_or_zero(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

// "bytes 100-199/200" -> 100; -1 when absent or malformed.
int64_t content_range_start(const HttpHeaders& headers) {
  const auto it = headers.find("content-range");
  if (it == headers.end()) return -1;
  const std::string& value = it->second;
  const auto space = value.find(' ');
  if (space == std::string::npos) return -1;
  char* end = nullptr;
  const long long start = std::strtoll(value.c_str() + space + 1, &end, 10);
  return end && *end == '-' ? start : -1;
}

class Downloader {
 public:
  explicit Downloader(const DownloadOptions& options)
      : options_(options),
        bar_(options.log,
             !options.quiet && options.force_terminal.value_or(is_terminal(options.log))) {}

  DownloadSummary run() {
    std::error_code error;
    fs::create_directories(options_.dir, error);
    GLMASR_CHECK(!error, "cannot create the download folder '", options_.dir,
                 "': ", error.message());
    const auto files =
        list_repo_files(options_.hub, options_.max_retries, options_.initial_backoff_seconds);
    GLMASR_CHECK(!files.empty(), "repository ", options_.hub.repo, " at revision ",
                 options_.hub.revision, " lists no files (", tree_url(options_.hub), ")");
    int64_t total = 0;
    for (const auto& file : files) total += file.size;
    note(cat(options_.hub.repo, "@", options_.hub.revision, ": ", files.size(), " files, ",
             human_bytes(static_cast<double>(total)), " from ", options_.hub.endpoint, " into ",
             options_.dir));
    summary_.files = static_cast<int>(files.size());
    const fs::path marker = options_.incomplete_marker.empty()
                                ? fs::path()
                                : fs::path(options_.dir) / options_.incomplete_marker;
    if (!marker.empty()) write_marker(marker);
    for (const auto& file : files) fetch(file);
    if (!marker.empty()) {
      fs::remove(marker, error);
      GLMASR_CHECK(!error, "cannot remove '", marker.string(), "': ", error.message());
    }
    return summary_;
  }

 private:
  void write_marker(const fs::path& marker) {
    std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(marker.c_str(), "wb"), &std::fclose);
    GLMASR_CHECK(out, "cannot write '", marker.string(), "': ", std::strerror(errno));
    std::fprintf(out.get(),
                 "glmasr download of %s@%s has not finished; run glmasr download again.\n",
                 options_.hub.repo.c_str(), options_.hub.revision.c_str());
    GLMASR_CHECK(std::fflush(out.get()) == 0, "cannot write '", marker.string(),
                 "': ", std::strerror(errno));
  }

  void note(const std::string& line) {
    if (options_.quiet) return;
    bar_.finish();
    std::fprintf(options_.log, "%s\n", line.c_str());
    std::fflush(options_.log);
  }

  void backoff(int attempt, const std::string& file, const std::string& failure) {
    const double seconds = options_.initial_backoff_seconds * (1 << std::min(attempt, 6));
    note(cat(file, ": ", failure, "; retrying in ", seconds, " s"));
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  }

  void fetch(const RepoFile& file) {
    const fs::path final_path = fs::path(options_.dir) / file.path;
    const fs::path partial_path = fs::path(final_path.string() + ".incomplete");
    std::error_code error;
    fs::create_directories(final_path.parent_path(), error);
    GLMASR_CHECK(!error, "cannot create '", final_path.parent_path().string(),
                 "': ", error.message());

    if (fs::exists(final_path)) {
      const VerifyResult existing = verify_file(final_path.string(), file);
      if (existing.ok) {
        ++summary_.up_to_date;
        note(cat(file.path, ": up to date"));
        return;
      }
      note(cat(file.path, ": local copy differs (", existing.problem, "), downloading again"));
    }

    const std::string url = resolve_url(options_.hub, file.path);
    bool restarted = false;
    int failures = 0;
    for (;;) {
      int64_t offset = fs::exists(partial_path) ? file_size_or_zero(partial_path) : 0;
      if (offset > file.size) {
        fs::remove(partial_path, error);
        offset = 0;
      }
      const bool resumed = offset > 0;
      std::string failure;
      if (offset == 0 || offset < file.size) {
        if (resumed)
          note(cat(file.path, ": resuming at ", human_bytes(static_cast<double>(offset)), " of ",
                   human_bytes(static_cast<double>(file.size))));
        failure = transfer(file, url, partial_path, offset);
      }
      if (failure.empty() && file_size_or_zero(partial_path) < file.size)
        failure =
            cat("transfer ended at ", file_size_or_zero(partial_path), " of ", file.size, " bytes");
      if (!failure.empty()) {
        GLMASR_CHECK(failures < options_.max_retries, "file ", file.path, ": ", failure,
                     " (gave up after ", failures + 1, " attempts; run again to resume)");
        backoff(failures++, file.path, failure);
        continue;
      }
      const VerifyResult check = verify_file(partial_path.string(), file);
      if (!check.ok) {
        fs::remove(partial_path, error);
        // A partial file left by another revision or a broken earlier run can spoil a resumed
        // transfer: start once from scratch before calling the server's data bad.
        if (resumed && !restarted) {
          restarted = true;
          note(cat(file.path, ": ", check.problem,
                   " after resuming; downloading again from the start"));
          continue;
        }
        fail("file ", file.path, " downloaded from ", url, " is corrupt: ", check.problem,
             "; the downloaded data was deleted");
      }
      fs::rename(partial_path, final_path, error);
      GLMASR_CHECK(!error, "cannot rename '", partial_path.string(), "' to '", final_path.string(),
                   "': ", error.message());
      ++summary_.downloaded;
      note(cat(file.path, ": downloaded, ", human_bytes(static_cast<double>(file.size)),
               file.sha256.empty() ? "" : ", SHA-256 verified"));
      return;
    }
  }

  // One GET into the partial file from offset. Returns a retryable failure, or "" when the
  // response ended normally (the caller checks the size); throws for permanent failures.
  std::string transfer(const RepoFile& file, const std::string& url, const fs::path& partial_path,
                       int64_t offset) {
    std::unique_ptr<FILE, int (*)(FILE*)> out(
        std::fopen(partial_path.c_str(), offset > 0 ? "ab" : "wb"), &std::fclose);
    GLMASR_CHECK(out, "cannot write '", partial_path.string(), "'");
    int64_t written = offset;
    bool range_mismatch = false, too_long = false, write_failed = false;
    const double started = seconds_now();
    double last_draw = 0;

    HttpRequest request;
    request.url = url;
    request.headers = auth_headers(options_.hub);
    request.range_start = offset;
    request.on_body_start = [&](long status, const HttpHeaders& headers) {
      if (status == 206) {
        if (content_range_start(headers) != offset) {
          range_mismatch = true;
          return false;
        }
        return true;
      }
      if (status != 200) return false;
      if (offset > 0) {  // the server ignored the Range header: start over
        std::fflush(out.get());
        if (::ftruncate(::fileno(out.get()), 0) != 0) write_failed = true;
        std::rewind(out.get());
        written = 0;
      }
      return true;
    };
    request.on_body = [&](const char* data, size_t size) {
      if (written + static_cast<int64_t>(size) > file.size) {
        too_long = true;
        return false;
      }
      if (std::fwrite(data, 1, size, out.get()) != size) {
        write_failed = true;
        return false;
      }
      written += static_cast<int64_t>(size);
      summary_.bytes_received += static_cast<int64_t>(size);
      const double now = seconds_now();
      if (bar_.enabled() && now - last_draw >= 0.1) {
        last_draw = now;
        draw(file, written, offset, now - started);
      }
      return true;
    };

    HttpResponse response;
    try {
      response = http_perform(request);
    } catch (const HttpError& e) {
      std::fflush(out.get());
      if (write_failed) fail("cannot write '", partial_path.string(), "' (disk full?)");
      if (too_long) {
        out.reset();
        std::error_code ignored;
        fs::remove(partial_path, ignored);
        fail("file ", file.path, " from ", url, ": the server sent more than the listed ",
             file.size, " bytes; the downloaded data was deleted");
      }
      if (!e.transient()) throw;
      return e.what();
    }
    GLMASR_CHECK(std::fflush(out.get()) == 0 && !write_failed, "cannot write '",
                 partial_path.string(), "' (disk full?)");
    if (bar_.enabled()) draw(file, written, offset, seconds_now() - started);
    out.reset();
    if (response.status == 200 || (response.status == 206 && !range_mismatch)) return "";
    std::error_code ignored;
    if (response.status == 416 || range_mismatch) {
      fs::remove(partial_path, ignored);
      return cat("the server refused to resume at byte ", offset, " (HTTP ", response.status,
                 "); starting over");
    }
    if (offset == 0) fs::remove(partial_path, ignored);
    const std::string message = http_status_message(response.status, url, response.error_body);
    if (is_transient_status(response.status)) return message;
    fail("file ", file.path, ": ", message);
  }

  void draw(const RepoFile& file, int64_t written, int64_t offset, double elapsed) {
    const double rate = elapsed > 0 ? static_cast<double>(written - offset) / elapsed : 0;
    const double percent =
        file.size > 0 ? 100.0 * static_cast<double>(written) / static_cast<double>(file.size) : 100;
    std::string text = cat(file.path, "  ", static_cast<int>(percent), "%  ",
                           human_bytes(static_cast<double>(written)), "/",
                           human_bytes(static_cast<double>(file.size)));
    if (rate > 0)
      text +=
          cat("  ", human_bytes(rate), "/s  ",
              static_cast<long long>(std::ceil(static_cast<double>(file.size - written) / rate)),
              " s left");
    bar_.show(text);
  }

  const DownloadOptions& options_;
  StatusLine bar_;
  DownloadSummary summary_;
};

}  // namespace

VerifyResult verify_file(const std::string& local_path, const RepoFile& file) {
  const int64_t size = file_size_or_zero(local_path);
  if (size != file.size) return {false, cat("size ", size, " bytes, expected ", file.size)};
  if (!file.sha256.empty()) {
    const std::string actual = sha256_file_hex(local_path);
    if (actual != file.sha256) return {false, cat("SHA-256 ", actual, ", expected ", file.sha256)};
    return {true, ""};
  }
  if (file.git_oid.size() == 40) {
    const std::string actual = git_blob_sha1_file_hex(local_path);
    if (actual != file.git_oid)
      return {false, cat("git blob id ", actual, ", expected ", file.git_oid)};
  }
  return {true, ""};
}

DownloadSummary download_model(const DownloadOptions& options) {
  GLMASR_CHECK(!options.dir.empty(), "download: expected a target folder, got ''");
  GLMASR_CHECK(options.max_retries >= 0, "download: expected max_retries >= 0, got ",
               options.max_retries);
  Downloader downloader(options);
  return downloader.run();
}

}  // namespace glmasr
