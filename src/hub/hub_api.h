// The parts of the Hugging Face hub HTTP API that `glmasr download` uses, as huggingface_hub
// calls them:
//   GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true   file list (paged by the
//       Link header), each file with its size, git blob id and, for LFS files, "lfs.oid" (SHA-256)
//   GET {endpoint}/{repo}/resolve/{revision}/{path}                   contents (redirects to a CDN)
// HF_ENDPOINT overrides the endpoint and HF_TOKEN is sent as "Authorization: Bearer", but only
// over https or to a loopback host: a plain-http endpoint elsewhere would expose it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr {

inline constexpr const char* kDefaultHubEndpoint = "https://huggingface.co";
inline constexpr const char* kDefaultModelRepo = "zai-org/GLM-ASR-Nano-2512";

struct HubConfig {
  std::string endpoint = kDefaultHubEndpoint;  // no trailing slash
  std::string repo = kDefaultModelRepo;        // "owner/name"
  std::string revision = "main";
  std::string token;            // empty: anonymous
  bool token_withheld = false;  // a token was found but the endpoint may not receive it
};

// https://..., or http:// to localhost, 127.0.0.0/8 or [::1].
bool endpoint_may_receive_token(const std::string& endpoint);

// endpoint: the given one, else $HF_ENDPOINT, else https://huggingface.co. token: $HF_TOKEN,
// else the file huggingface_hub's login writes ($HF_TOKEN_PATH, $HF_HOME/token or
// ~/.cache/huggingface/token), withheld (token_withheld) where endpoint_may_receive_token is
// false. Throws for a repo that is not "owner/name".
HubConfig make_hub_config(const std::string& repo, const std::string& revision,
                          const std::string& endpoint_override);

struct RepoFile {
  std::string path;     // relative, '/'-separated
  int64_t size = 0;     // bytes
  std::string sha256;   // LFS files: the SHA-256 of the contents; empty otherwise
  std::string git_oid;  // git blob id (SHA-1 of "blob <size>\0" + contents); for LFS files the
                        // pointer's id, so not a check of the contents
};

// Percent-encoding as urllib.parse.quote: unreserved characters stay; '/' stays if keep_slash.
std::string url_quote(std::string_view text, bool keep_slash);

std::string tree_url(const HubConfig& hub);
std::string resolve_url(const HubConfig& hub, const std::string& path);
// "Authorization: Bearer ..." when a token is set.
std::vector<std::string> auth_headers(const HubConfig& hub);

// Files of one tree page (directories are left out). Throws naming source_url for JSON that is
// not a list of entries, and for unsafe paths (absolute, "..", empty components).
std::vector<RepoFile> parse_tree_page(const nlohmann::json& page, const std::string& source_url);

// Fetches every page of the tree. max_retries / backoff as for file downloads.
std::vector<RepoFile> list_repo_files(const HubConfig& hub, int max_retries,
                                      double initial_backoff_seconds);

// The message for a failed HTTP status, naming the URL (401/403: token advice; 404: check the
// repo and revision).
std::string http_status_message(long status, const std::string& url, const std::string& body);

}  // namespace glmasr
