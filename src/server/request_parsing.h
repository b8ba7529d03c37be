// The socket-free half of reading an HTTP request: Beast's request parser with the server's
// limits, the refusal a parse error earns (413, 431, 505, 400, or none when the client just
// went away), and the parsed message as the routes see it (HttpRequest). HttpServer drives
// these from its connections; the request fuzzer (tests/fuzz/request_fuzz.cpp) from bytes.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "server/http_message.h"
#include "server/http_server.h"

namespace glmasr::server {

// What HttpServerOptions sets (its defaults are the service's).
struct RequestLimits {
  size_t max_head_bytes;  // request line + headers; also bounds a chunk line/trailers
  size_t max_body_bytes;
  size_t max_chunk_extension_bytes;
};
RequestLimits request_limits_of(const HttpServerOptions& options);

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
// Beast keeps a reference to the chunk-header callback: its owner must outlive the parser.
using ChunkHeaderCallback =
    std::function<void(std::uint64_t, boost::beast::string_view, boost::beast::error_code&)>;

// Sets the head and body limits of a fresh parser (an oversized Content-Length is refused when
// the head arrives, before the body is sent) and stores in `on_chunk_header` the check of chunk
// extensions, which sets `extension_too_long` when it refuses one.
void limit_request_parser(BeastRequestParser& parser, const RequestLimits& limits,
                          ChunkHeaderCallback& on_chunk_header, bool& extension_too_long);

// The answer to a request whose head or body did not parse: 413 (body limit), 431 (head, chunk
// line or trailers over max_head_bytes), 505 (not HTTP/1.0 or 1.1), else 400 naming the error.
// nullopt when the client closed or reset the connection mid-request (nothing to answer).
std::optional<HttpResponse> refusal_for(const boost::beast::error_code& error, bool reading_body,
                                        bool chunk_extension_too_long, const RequestLimits& limits);

// The parsed message as the routes take it: method, target split into path and query, the
// headers in order with names as sent, the body (moved out) and the keep-alive wish.
HttpRequest to_http_request(BeastRequest&& message);

}  // namespace glmasr::server
