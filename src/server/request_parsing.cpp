#include "server/request_parsing.h"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

namespace glmasr::server {

namespace net = boost::asio;
namespace http = boost::beast::http;

RequestLimits request_limits_of(const HttpServerOptions& options) {
  return {.max_head_bytes = options.max_head_bytes,
          .max_body_bytes = options.max_body_bytes,
          .max_chunk_extension_bytes = options.max_chunk_extension_bytes};
}

void limit_request_parser(BeastRequestParser& parser, const RequestLimits& limits,
                          ChunkHeaderCallback& on_chunk_header, bool& extension_too_long) {
  parser.header_limit(static_cast<std::uint32_t>(limits.max_head_bytes));
  parser.body_limit(limits.max_body_bytes);
  extension_too_long = false;
  on_chunk_header = [&extension_too_long, limit = limits.max_chunk_extension_bytes](
                        std::uint64_t, boost::beast::string_view extensions,
                        boost::beast::error_code& error) {
    if (extensions.size() > limit) {
      extension_too_long = true;
      error = http::error::bad_chunk_extension;
    }
  };
  parser.on_chunk_header(on_chunk_header);
}

std::optional<HttpResponse> refusal_for(const boost::beast::error_code& error, bool reading_body,
                                        bool chunk_extension_too_long,
                                        const RequestLimits& limits) {
  if (error == http::error::end_of_stream || error == http::error::partial_message ||
      error == net::error::eof || error == net::error::connection_reset ||
      error == net::error::operation_aborted || error == net::error::broken_pipe)
    return std::nullopt;
  if (error == http::error::body_limit)
    return error_response(
        413, cat("the request body is over the limit of ", limits.max_body_bytes, " bytes"));
  if (error == http::error::header_limit || error == http::error::buffer_overflow)
    return error_response(
        431, cat(reading_body ? "a chunk line or the trailers are" : "the request head is",
                 " over the limit of ", limits.max_head_bytes, " bytes"));
  if (error == http::error::bad_version)  // Beast takes HTTP/1.0 and 1.1 only
    return error_response(505, "unsupported HTTP version: expected HTTP/1.0 or HTTP/1.1");
  if (chunk_extension_too_long)
    return error_response(400, cat("a chunk extension is over the limit of ",
                                   limits.max_chunk_extension_bytes, " bytes"));
  return error_response(400, cat("malformed HTTP request (", error.message(),
                                 "): expected HTTP/1.1 with a valid head and framing"));
}

HttpRequest to_http_request(BeastRequest&& message) {
  HttpRequest request =
      make_request(std::string(message.method_string()), std::string(message.target()));
  for (const auto& field : message)
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  request.keep_alive = message.keep_alive();
  request.body = std::move(message.body());
  return request;
}

}  // namespace glmasr::server
