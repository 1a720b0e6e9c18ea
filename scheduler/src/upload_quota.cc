#include "upload_quota.h"

namespace plume::scheduler {

void UploadQuota::Expire(Window& w, int64_t now_ms) const {
  while (!w.uploads.empty() && w.uploads.front().first <= now_ms - window_ms_) {
    w.bytes -= w.uploads.front().second;
    w.uploads.pop_front();
  }
}

uint64_t UploadQuota::Used(const std::string& who, int64_t now_ms) {
  auto it = by_key_.find(who);
  if (it == by_key_.end()) return 0;
  Expire(it->second, now_ms);
  const uint64_t used = it->second.bytes;
  if (it->second.uploads.empty()) by_key_.erase(it);  // keys that went quiet cost nothing
  return used;
}

bool UploadQuota::Allows(const std::string& who, uint64_t size_bytes, int64_t now_ms) {
  if (limit_ == 0) return true;
  const uint64_t used = Used(who, now_ms);
  const uint64_t charge = Charge(size_bytes);
  return charge <= limit_ && used <= limit_ - charge;
}

void UploadQuota::Record(const std::string& who, uint64_t size_bytes, int64_t now_ms) {
  if (limit_ == 0) return;
  Window& w = by_key_[who];
  Expire(w, now_ms);
  w.uploads.emplace_back(now_ms, Charge(size_bytes));
  w.bytes += Charge(size_bytes);
}

}  // namespace plume::scheduler
