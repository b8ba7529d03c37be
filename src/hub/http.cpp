#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "core/strings.h"

namespace glmasr {

namespace {

constexpr size_t kMaxErrorBody = 4096;

struct TransferState {
  const HttpRequest* request = nullptr;
  CURL* curl = nullptr;
  HttpResponse response;
  bool body_started = false;
  bool stream_body = false;
  bool aborted_by_sink = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& state = *static_cast<TransferState*>(user);
  const std::string line(data, size * count);
  // A new status line starts the headers of the next response in a redirect chain.
  if (line.rfind("HTTP/", 0) == 0) {
    state.response.headers.clear();
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    state.response.headers[ascii_lower(trim(line.substr(0, colon)))] =
        std::string(trim(line.substr(colon + 1)));
  }
  return size * count;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto& state = *static_cast<TransferState*>(user);
  const size_t bytes = size * count;
  if (!state.body_started) {
    state.body_started = true;
    long status = 0;
    curl_easy_getinfo(state.curl, CURLINFO_RESPONSE_CODE, &status);
    state.stream_body = state.request->on_body_start
                            ? state.request->on_body_start(status, state.response.headers)
                            : false;
  }
  if (state.stream_body) {
    if (state.request->on_body && !state.request->on_body(data, bytes)) {
      state.aborted_by_sink = true;
      return 0;
    }
  } else if (state.response.error_body.size() < kMaxErrorBody) {
    state.response.error_body.append(
        data, std::min(bytes, kMaxErrorBody - state.response.error_body.size()));
  }
  return bytes;
}

bool is_transient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

HttpResponse http_perform(const HttpRequest& request) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  GLMASR_CHECK(curl, "curl_easy_init failed");
  TransferState state;
  state.request = &request;
  state.curl = curl.get();

  curl_slist* header_list = nullptr;
  for (const auto& header : request.headers)
    header_list = curl_slist_append(header_list, header.c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(header_list, &curl_slist_free_all);
  const std::string range = std::to_string(request.range_start) + "-";
  char error_text[CURL_ERROR_SIZE] = {0};

  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "glmasr/0.1");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_seconds);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_seconds);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &state);
  if (request.range_start > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());

  const CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    if (state.aborted_by_sink) throw HttpError(cat("transfer of ", request.url, " aborted"), false);
    const std::string detail = error_text[0] ? error_text : curl_easy_strerror(code);
    throw HttpError(cat("GET ", request.url, " failed: ", detail), is_transient(code));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &state.response.status);
  char* effective = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
  state.response.url = effective ? effective : request.url;
  return state.response;
}

HttpResponse http_get_text(const std::string& url, const std::vector<std::string>& headers,
                           std::string& body) {
  HttpRequest request;
  request.url = url;
  request.headers = headers;
  request.on_body_start = [](long status, const HttpHeaders&) { return status == 200; };
  request.on_body = [&body](const char* data, size_t size) {
    body.append(data, size);
    return true;
  };
  return http_perform(request);
}

std::string link_next_url(const std::string& link_header) {
  // Link: <url1>; rel="next", <url2>; rel="last"
  size_t pos = 0;
  while ((pos = link_header.find('<', pos)) != std::string::npos) {
    const size_t close = link_header.find('>', pos);
    if (close == std::string::npos) break;
    const std::string target = link_header.substr(pos + 1, close - pos - 1);
    const size_t next_entry = link_header.find('<', close);
    const std::string params = ascii_lower(link_header.substr(
        close + 1, next_entry == std::string::npos ? std::string::npos : next_entry - close - 1));
    if (params.find("rel=\"next\"") != std::string::npos ||
        params.find("rel=next") != std::string::npos)
      return target;
    pos = close;
  }
  return "";
}

}  // namespace glmasr
