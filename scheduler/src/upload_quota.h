// How many blob bytes one key may upload in a sliding window (the scheduler's BlobWritePolicy
// for clients: content addressing stops overwrites, this stops one key filling the disk).
// Pure and single-threaded: the reactor's thread asks and records.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace plume::scheduler {

class UploadQuota {
 public:
  // bytes_per_window 0: no limit.
  UploadQuota(uint64_t bytes_per_window, int64_t window_ms)
      : limit_(bytes_per_window), window_ms_(window_ms) {}

  // Whether `who` may start an upload of size_bytes now, given what it stored in the window.
  bool Allows(const std::string& who, uint64_t size_bytes, int64_t now_ms);
  // A completed upload of size_bytes by `who`.
  void Record(const std::string& who, uint64_t size_bytes, int64_t now_ms);
  // Bytes `who` stored within the window ending now.
  uint64_t Used(const std::string& who, int64_t now_ms);

 private:
  struct Window {
    std::deque<std::pair<int64_t, uint64_t>> uploads;  // (time, bytes), oldest first
    uint64_t bytes = 0;
  };
  void Expire(Window& w, int64_t now_ms) const;

  uint64_t limit_;
  int64_t window_ms_;
  std::map<std::string, Window> by_key_;
};

}  // namespace plume::scheduler
