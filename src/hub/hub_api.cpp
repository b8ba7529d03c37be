#include "hub/hub_api.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/error.h"
#include "hub/http.h"
#include "io/json_file.h"

namespace glmasr {

namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string read_token_file() {
  std::string path = env_or_empty("HF_TOKEN_PATH");
  if (path.empty()) {
    std::string hf_home = env_or_empty("HF_HOME");
    if (hf_home.empty()) {
      const std::string home = env_or_empty("HOME");
      if (home.empty()) return "";
      hf_home = home + "/.cache/huggingface";
    }
    path = hf_home + "/token";
  }
  try {
    std::string token = read_text_file(path);
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
      token.pop_back();
    return token;
  } catch (const Error&) {
    return "";  // no stored login: anonymous access
  }
}

bool is_safe_relative_path(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string::npos) return false;
  size_t begin = 0;
  while (begin <= path.size()) {
    const size_t end = std::min(path.find('/', begin), path.size());
    const std::string part = path.substr(begin, end - begin);
    if (part.empty() || part == "." || part == "..") return false;
    begin = end + 1;
  }
  return true;
}

// 127.a.b.c in dotted decimal (127.0.0.0/8), not a name that merely starts with "127.".
bool is_loopback_ipv4(const std::string& host) {
  int parts = 0;
  size_t begin = 0;
  while (begin <= host.size()) {
    const size_t end = std::min(host.find('.', begin), host.size());
    const std::string part = host.substr(begin, end - begin);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); }))
      return false;
    if (parts == 0 && part != "127") return false;
    ++parts;
    begin = end + 1;
  }
  return parts == 4;
}

bool is_transient_status(long status) {
  return status == 408 || status == 429 || status >= 500;
}

}  // namespace

HubConfig make_hub_config(const std::string& repo, const std::string& revision,
                          const std::string& endpoint_override) {
  HubConfig hub;
  const auto slash = repo.find('/');
  GLMASR_CHECK(slash != std::string::npos && slash > 0 && slash + 1 < repo.size() &&
                   repo.find('/', slash + 1) == std::string::npos,
               "--repo: expected 'owner/name', got '", repo, "'");
  GLMASR_CHECK(!revision.empty(), "--revision: expected a branch, tag or commit, got ''");
  hub.repo = repo;
  hub.revision = revision;
  hub.endpoint = !endpoint_override.empty() ? endpoint_override : env_or_empty("HF_ENDPOINT");
  if (hub.endpoint.empty()) hub.endpoint = kDefaultHubEndpoint;
  while (!hub.endpoint.empty() && hub.endpoint.back() == '/') hub.endpoint.pop_back();
  GLMASR_CHECK(hub.endpoint.rfind("https://", 0) == 0 || hub.endpoint.rfind("http://", 0) == 0,
               "hub endpoint: expected an http:// or https:// URL, got '", hub.endpoint, "'");
  hub.token = env_or_empty("HF_TOKEN");
  if (hub.token.empty()) hub.token = read_token_file();
  if (!hub.token.empty() && !endpoint_may_receive_token(hub.endpoint)) {
    hub.token.clear();
    hub.token_withheld = true;
  }
  return hub;
}

bool endpoint_may_receive_token(const std::string& endpoint) {
  if (endpoint.rfind("https://", 0) == 0) return true;
  const std::string scheme = "http://";
  if (endpoint.rfind(scheme, 0) != 0) return false;
  std::string authority = endpoint.substr(scheme.size());
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  std::string host;
  if (authority.rfind('[', 0) == 0) {
    host = authority.substr(0, authority.find(']') + 1);  // "[::1]"
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host == "localhost" || host == "[::1]" || is_loopback_ipv4(host);
}

std::string url_quote(std::string_view text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string tree_url(const HubConfig& hub) {
  return hub.endpoint + "/api/models/" + hub.repo + "/tree/" + url_quote(hub.revision, false) +
         "?recursive=true";
}

std::string resolve_url(const HubConfig& hub, const std::string& path) {
  return hub.endpoint + "/" + hub.repo + "/resolve/" + url_quote(hub.revision, false) + "/" +
         url_quote(path, true);
}

std::vector<std::string> auth_headers(const HubConfig& hub) {
  if (hub.token.empty()) return {};
  return {"Authorization: Bearer " + hub.token};
}

std::vector<RepoFile> parse_tree_page(const nlohmann::json& page, const std::string& source_url) {
  GLMASR_CHECK(page.is_array(), "file list from ", source_url, ": expected a JSON array, got ",
               page.type_name());
  std::vector<RepoFile> files;
  for (const auto& entry : page) {
    GLMASR_CHECK(entry.is_object() && entry.contains("path") && entry["path"].is_string(),
                 "file list from ", source_url, ": expected entries with a \"path\", got ",
                 entry.dump());
    const std::string type = entry.value("type", "file");
    if (type != "file") continue;
    RepoFile file;
    file.path = entry["path"].get<std::string>();
    GLMASR_CHECK(is_safe_relative_path(file.path), "file list from ", source_url,
                 ": unsafe file path '", file.path, "'");
    GLMASR_CHECK(entry.contains("size") && entry["size"].is_number_integer() &&
                     entry["size"].get<int64_t>() >= 0,
                 "file list from ", source_url, ": expected a size for '", file.path, "'");
    file.size = entry["size"].get<int64_t>();
    if (entry.contains("oid") && entry["oid"].is_string()) file.git_oid = entry["oid"];
    if (entry.contains("lfs") && entry["lfs"].is_object()) {
      const auto& lfs = entry["lfs"];
      GLMASR_CHECK(lfs.contains("oid") && lfs["oid"].is_string() &&
                       lfs["oid"].get<std::string>().size() == 64,
                   "file list from ", source_url, ": expected a 64-digit lfs.oid for '", file.path,
                   "'");
      file.sha256 = lfs["oid"].get<std::string>();
      if (lfs.contains("size") && lfs["size"].is_number_integer()) file.size = lfs["size"];
    }
    files.push_back(std::move(file));
  }
  return files;
}

std::string http_status_message(long status, const std::string& url, const std::string& body) {
  std::string detail = body.substr(0, 300);
  for (char& c : detail)
    if (c == '\n' || c == '\r') c = ' ';
  if (status == 401 || status == 403)
    return cat("HTTP ", status, " for ", url,
               ": access denied; the repository may be private or gated: set HF_TOKEN to a token "
               "that has access");
  if (status == 404)
    return cat("HTTP 404 for ", url, ": not found; check --repo, --revision and --endpoint");
  return cat("HTTP ", status, " for ", url, detail.empty() ? "" : ": ", detail);
}

std::vector<RepoFile> list_repo_files(const HubConfig& hub, int max_retries,
                                      double initial_backoff_seconds) {
  std::vector<RepoFile> files;
  std::string url = tree_url(hub);
  while (!url.empty()) {
    std::string body;
    HttpResponse response;
    for (int attempt = 0;; ++attempt) {
      body.clear();
      std::string failure;
      try {
        response = http_get_text(url, auth_headers(hub), body);
        if (!is_transient_status(response.status)) break;
        failure = http_status_message(response.status, url, response.error_body);
      } catch (const HttpError& e) {
        if (!e.transient()) throw;
        failure = e.what();
      }
      GLMASR_CHECK(attempt < max_retries, failure, " (gave up after ", attempt + 1, " attempts)");
      std::this_thread::sleep_for(
          std::chrono::duration<double>(initial_backoff_seconds * (1 << std::min(attempt, 6))));
    }
    GLMASR_CHECK(response.status == 200,
                 http_status_message(response.status, url, response.error_body));
    nlohmann::json page;
    try {
      page = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
      fail("file list from ", url, ": invalid JSON: ", e.what());
    }
    for (auto& file : parse_tree_page(page, url)) files.push_back(std::move(file));
    std::string next;
    if (const auto it = response.headers.find("link"); it != response.headers.end())
      next = link_next_url(it->second);
    if (!next.empty() && next.front() == '/') {
      // A relative link: resolve it against the endpoint's scheme and host.
      const auto host_end = hub.endpoint.find('/', hub.endpoint.find("://") + 3);
      next = hub.endpoint.substr(0, host_end) + next;
    }
    GLMASR_CHECK(next != url, "file list from ", url, ": the next page link points to itself");
    url = next;
  }
  return files;
}

}  // namespace glmasr
