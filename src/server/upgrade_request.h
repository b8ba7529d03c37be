// A WebSocket upgrade request as the HTTP server hands it over (GET with Upgrade: websocket):
// the connection's socket and the parsed head, taken out of the HTTP connection so that a
// WebSocket session (realtime_socket.h) owns them from here on.
//
// The socket's executor lives in the HTTP server's io_context. `io_owner` keeps that context
// alive: whatever holds the socket, or any copy of its executor, must also hold io_owner, and
// declare it before them, so that they are destroyed first (an Asio strand that outlives its
// io_context frees into freed memory).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>

#include "server/http_message.h"

namespace glmasr::server {

struct UpgradeRequest {
  std::shared_ptr<void> io_owner;
  boost::asio::ip::tcp::socket socket;
  boost::beast::http::request<boost::beast::http::string_body> message;  // for the handshake
  HttpRequest request;  // the same head as the routes see it (path, query, headers)
};

}  // namespace glmasr::server
