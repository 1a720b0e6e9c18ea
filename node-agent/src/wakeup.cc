// Self-pipe wakeup (see wakeup.h). Both ends are non-blocking so Notify never stalls a worker or
// a signal handler and Drain never stalls the reactor.
#include "plume/agent/wakeup.h"

#include <fcntl.h>
#include <unistd.h>

namespace plume::agent {

Wakeup::Wakeup() {
  if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
    fds_[0] = fds_[1] = -1;
  }
}

Wakeup::~Wakeup() {
  if (fds_[0] >= 0) ::close(fds_[0]);
  if (fds_[1] >= 0) ::close(fds_[1]);
}

void Wakeup::Notify() const {
  if (fds_[1] < 0) return;
  const char byte = 1;
  [[maybe_unused]] ssize_t n = ::write(fds_[1], &byte, 1);
}

void Wakeup::Drain() const {
  if (fds_[0] < 0) return;
  char buf[256];
  while (::read(fds_[0], buf, sizeof(buf)) > 0) {
  }
}

}  // namespace plume::agent
