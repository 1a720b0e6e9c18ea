// Heavy work off the reactor thread; see reactor_offload.h.
#include "reactor_offload.h"

namespace plume::scheduler {

Offload::Offload(std::function<void()> before_each)
    : before_each_(std::move(before_each)), thread_([this] { Run(); }) {}

Offload::~Offload() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Offload::Submit(Work work, bool from_client) {
  {
    std::lock_guard lock(mu_);
    if (from_client && client_pieces_ >= kOffloadClientWorkMax) return false;
    (from_client ? client_todo_ : core_todo_).push_back(Piece{std::move(work), from_client});
    ++outstanding_;
    client_pieces_ += from_client ? 1 : 0;
  }
  cv_.notify_one();
  return true;
}

std::vector<Offload::Continuation> Offload::TakeDone() {
  std::vector<Continuation> out;
  std::lock_guard lock(mu_);
  out.swap(done_);
  outstanding_ -= out.size();
  return out;
}

size_t Offload::Outstanding() const {
  std::lock_guard lock(mu_);
  return outstanding_;
}

void Offload::Run() {
  for (;;) {
    Piece piece;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !core_todo_.empty() || !client_todo_.empty(); });
      if (stop_) return;
      auto& todo = core_todo_.empty() ? client_todo_ : core_todo_;
      piece = std::move(todo.front());
      todo.pop_front();
    }
    if (before_each_) before_each_();
    Continuation next = piece.work();
    std::lock_guard lock(mu_);
    client_pieces_ -= piece.from_client ? 1 : 0;
    if (next)
      done_.push_back(std::move(next));
    else
      --outstanding_;
  }
}

}  // namespace plume::scheduler
