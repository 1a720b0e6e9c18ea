// The canonical byte encoding's primitives, shared by every signed or hashed record (ledger
// entries, data terms, grants, royalty settlements): little-endian fixed-width integers,
// u32-length-prefixed byte strings, fields in struct order, one encoding per meaning and no
// trailing bytes. Encodings are hashed and signed, so a change here changes every id: never
// change the byte layout.
//
// Reader never reads past its span; a failed read sets ok() false and every later read returns
// zeros, so decoders check once at the end (done() also demands that nothing is left over).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plume::protocol::codec {

inline void PutU8(std::vector<uint8_t>& out, uint8_t v) { out.push_back(v); }
inline void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
// Fixed-size bytes (keys, hashes, signatures): no length prefix, the reader knows the size.
inline void PutRaw(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
inline void PutString(std::vector<uint8_t>& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}
inline void PutBytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  PutU32(out, static_cast<uint32_t>(bytes.size()));
  PutRaw(out, bytes);
}

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == bytes_.size(); }
  size_t pos() const { return pos_; }

  uint8_t U8() { return static_cast<uint8_t>(Int(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Int(4)); }
  uint64_t U64() { return Int(8); }
  template <size_t N>
  std::array<uint8_t, N> Raw() {
    std::array<uint8_t, N> out{};
    if (Need(N)) {
      std::memcpy(out.data(), bytes_.data() + pos_, N);
      pos_ += N;
    }
    return out;
  }
  // A length-prefixed string of at most max_bytes; the bound is checked before anything is
  // allocated, since the length is the sender's word.
  std::string String(size_t max_bytes) {
    const uint32_t n = U32();
    if (n > max_bytes) ok_ = false;
    if (!Need(n)) return {};
    std::string out(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return out;
  }
  // A length-prefixed byte string of at most max_bytes.
  std::vector<uint8_t> Bytes(size_t max_bytes) {
    const uint32_t n = U32();
    if (n > max_bytes) ok_ = false;
    if (!Need(n)) return {};
    std::vector<uint8_t> out(bytes_.begin() + pos_, bytes_.begin() + pos_ + n);
    pos_ += n;
    return out;
  }
  void Fail() { ok_ = false; }

 private:
  bool Need(size_t n) {
    if (!ok_ || bytes_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  uint64_t Int(size_t n) {
    if (!Need(n)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace plume::protocol::codec
