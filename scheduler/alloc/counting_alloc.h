// The allocation count of the scheduler's memory tests: counting_alloc.cc replaces the global
// operator new and delete of the binary it is linked into (which is why these tests have a
// binary of their own: the count must not reach the other tests). A PeakCounter measures the
// most bytes held through operator new at once, beyond what was held when it started, until
// Stop(). Memory taken otherwise (malloc, mmap) is not seen. One counter at a time.
#pragma once

#include <cstdint>

namespace plume::scheduler {

class PeakCounter {
 public:
  PeakCounter();
  int64_t Stop();  // the peak above the start, in bytes; counting ends

 private:
  int64_t base_;
};

}  // namespace plume::scheduler
