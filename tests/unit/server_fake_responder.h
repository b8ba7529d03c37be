// A Responder that records the answer, for testing routes without sockets.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "server/responder.h"

namespace glmasr::server::testing_responder {

class RecordingResponder : public Responder {
 public:
  void respond(HttpResponse response) override {
    std::lock_guard lock(mutex_);
    if (!response_) response_ = std::move(response);
    changed_.notify_all();
  }
  void start_stream(StreamHead head) override {
    respond({.status = head.status,
             .content_type = head.content_type,
             .body = {},
             .headers = head.headers,
             .close = false});
  }
  void write_chunk(std::string data) override {
    std::lock_guard lock(mutex_);
    if (response_) response_->body += data;
  }
  void end_stream() override {}
  std::shared_ptr<std::atomic<bool>> cancelled_flag() const override {
    return cancellation_.flag();
  }
  void on_cancel(std::function<void()> callback) override {
    cancellation_.on_cancel(std::move(callback));
  }

  void cancel() { cancellation_.cancel(); }
  bool answered() const {
    std::lock_guard lock(mutex_);
    return response_.has_value();
  }
  // The answer, waiting up to `timeout` for it; a 599 response when none came.
  HttpResponse wait(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return response_.has_value(); }))
      return {
          .status = 599, .content_type = "", .body = "no answer", .headers = {}, .close = false};
    return *response_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<HttpResponse> response_;
  mutable Cancellation cancellation_;
};

}  // namespace glmasr::server::testing_responder
