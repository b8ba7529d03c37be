#include "server/responder.h"

namespace glmasr::server {

bool Cancellation::cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mutex_);
    if (flag_->exchange(true)) return false;
    callbacks.swap(callbacks_);
  }
  for (auto& callback : callbacks) callback();
  return true;
}

void Cancellation::on_cancel(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!flag_->load()) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

}  // namespace glmasr::server
