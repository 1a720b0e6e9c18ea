// A self-pipe that lets another thread (the task worker) or a signal handler wake the agent's
// reactor out of zmq_poll: zmq_poll accepts plain file descriptors next to sockets, so the
// ZeroMQ socket stays on one thread and nothing polls on a timer to find finished work.
#pragma once

namespace plume::agent {

class Wakeup {
 public:
  Wakeup();
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Async-signal-safe; never blocks (a full pipe already means "wake up").
  void Notify() const;
  // Empties the pipe; call after poll reports read_fd() readable.
  void Drain() const;
  int read_fd() const { return fds_[0]; }
  bool ok() const { return fds_[0] >= 0; }

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace plume::agent
