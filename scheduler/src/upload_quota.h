// How many blob bytes one key may upload in a sliding window (the scheduler's BlobWritePolicy
// for clients: content addressing stops overwrites, this stops one key filling the disk).
// Pure and single-threaded: the reactor's thread asks and records.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace plume::scheduler {

class UploadQuota {
 public:
  // bytes_per_window 0: no limit. Each upload is charged at least charge_bytes_min (limits.h
  // kUploadChargeBytesMin), so the window also bounds the number of uploads it holds.
  UploadQuota(uint64_t bytes_per_window, int64_t window_ms, uint64_t charge_bytes_min = 1)
      : limit_(bytes_per_window), window_ms_(window_ms), charge_min_(charge_bytes_min) {}

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

  uint64_t Charge(uint64_t size_bytes) const { return std::max(size_bytes, charge_min_); }

  uint64_t limit_;
  int64_t window_ms_;
  uint64_t charge_min_;
  std::map<std::string, Window> by_key_;
};

}  // namespace plume::scheduler
