// How a route answers: asynchronously, from any thread, exactly once. A route receives the
// request and a Responder; it may answer at once (on the I/O thread) or later from another
// thread (the engine's), with a whole response or as a stream of chunks (Transfer-Encoding:
// chunked; text/event-stream for server-sent events). The responder also carries the request's
// cancellation: it fires when the client disconnects while the request waits or runs, or when
// the request deadline passes, so the engine can drop the work.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/http_message.h"

namespace glmasr::server {

// The status line and headers of a streamed response; the body follows in chunks.
struct StreamHead {
  int status = 200;
  std::string content_type = "text/event-stream";
  std::vector<std::pair<std::string, std::string>> headers;
};

class Responder {
 public:
  virtual ~Responder() = default;

  // The whole response. The first answer wins: later respond/start_stream calls are ignored,
  // and so is an answer after the client went away.
  virtual void respond(HttpResponse response) = 0;

  // A streamed response: start_stream once, then any number of write_chunk, then end_stream.
  // Chunks are written in order; empty chunks are skipped (an empty chunk would end the body).
  virtual void start_stream(StreamHead head) = 0;
  virtual void write_chunk(std::string data) = 0;
  virtual void end_stream() = 0;

  // Set (never cleared) when the request is cancelled; hand it to the engine.
  virtual std::shared_ptr<std::atomic<bool>> cancelled_flag() const = 0;
  bool cancelled() const { return cancelled_flag()->load(); }
  // Runs `callback` once when the request is cancelled (at once if it already is). It runs on
  // an I/O thread, so it must only signal (set a flag, notify), never wait.
  virtual void on_cancel(std::function<void()> callback) = 0;
};

using ResponderPtr = std::shared_ptr<Responder>;

// Cancellation state shared by the responders: a flag and the callbacks waiting for it.
class Cancellation {
 public:
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }
  // Sets the flag and runs every registered callback once. Returns false when already set.
  bool cancel();
  void on_cancel(std::function<void()> callback);

 private:
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mutex_;
  std::vector<std::function<void()>> callbacks_;
};

}  // namespace glmasr::server
