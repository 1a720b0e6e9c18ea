// Dataset encryption and key sealing with libsodium (see crypt.h).
#include "plume/data/crypt.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string_view>

#include "plume/data/limits.h"
#include "plume/protocol/file_util.h"
#include "plume/protocol/hash.h"

namespace plume::data {
namespace {
constexpr std::string_view kMagic = "PLUMEDE1";
constexpr size_t kHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr size_t kTagBytes = crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr std::string_view kKeyFileMagic = "plume-data-key-v1\n";
static_assert(sizeof(DataKey) == crypto_secretstream_xchacha20poly1305_KEYBYTES);

// Pushes chunks to a sink; the sink sees the magic and header first.
class Pusher {
 public:
  explicit Pusher(const DataKey& key) {
    header_.resize(kHeaderBytes);
    crypto_secretstream_xchacha20poly1305_init_push(&state_, header_.data(), key.data());
  }
  ~Pusher() { sodium_memzero(&state_, sizeof(state_)); }
  std::vector<uint8_t> Start() const {
    std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
    out.insert(out.end(), header_.begin(), header_.end());
    return out;
  }
  void Push(std::span<const uint8_t> chunk, bool last, std::vector<uint8_t>& out) {
    const size_t at = out.size();
    out.resize(at + chunk.size() + kTagBytes);
    unsigned long long written = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state_, out.data() + at, &written, chunk.data(), chunk.size(), nullptr, 0,
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    out.resize(at + written);
  }

 private:
  crypto_secretstream_xchacha20poly1305_state state_;
  std::vector<uint8_t> header_;
};
}  // namespace

DataKey NewDataKey() {
  DataKey key;
  crypto_secretstream_xchacha20poly1305_keygen(key.data());
  return key;
}

uint64_t CiphertextBytes(uint64_t plaintext_bytes) {
  // Full chunks, then one final chunk holding the rest (empty when the size divides evenly).
  const uint64_t chunks = plaintext_bytes / kCryptChunkBytes + 1;
  return kMagic.size() + kHeaderBytes + plaintext_bytes + chunks * kTagBytes;
}

std::vector<uint8_t> Encrypt(std::span<const uint8_t> plaintext, const DataKey& key) {
  Pusher pusher(key);
  std::vector<uint8_t> out = pusher.Start();
  out.reserve(CiphertextBytes(plaintext.size()));
  size_t at = 0;
  while (plaintext.size() - at >= kCryptChunkBytes) {
    pusher.Push(plaintext.subspan(at, kCryptChunkBytes), false, out);
    at += kCryptChunkBytes;
  }
  pusher.Push(plaintext.subspan(at), true, out);
  return out;
}

Result<std::vector<uint8_t>> Decrypt(std::span<const uint8_t> ciphertext, const DataKey& key) {
  const size_t prefix = kMagic.size() + kHeaderBytes;
  if (ciphertext.size() < prefix + kTagBytes ||
      std::memcmp(ciphertext.data(), kMagic.data(), kMagic.size()) != 0) {
    return Fail("not an encrypted Plume dataset (bad magic or too short)");
  }
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state, ciphertext.data() + kMagic.size(),
                                                      key.data()) != 0) {
    return Fail("encrypted dataset header is invalid");
  }
  std::vector<uint8_t> out;
  out.reserve(ciphertext.size() - prefix);
  size_t at = prefix;
  bool final = false;
  while (at < ciphertext.size() && !final) {
    const size_t chunk = std::min(ciphertext.size() - at, kCryptChunkBytes + kTagBytes);
    const size_t was = out.size();
    out.resize(was + chunk);
    unsigned long long got = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state, out.data() + was, &got, &tag,
                                                   ciphertext.data() + at, chunk, nullptr,
                                                   0) != 0) {
      sodium_memzero(out.data(), out.size());
      sodium_memzero(&state, sizeof(state));
      return Fail("encrypted dataset does not authenticate: wrong key, or the blob was altered");
    }
    out.resize(was + got);
    final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    at += chunk;
  }
  sodium_memzero(&state, sizeof(state));
  if (!final || at != ciphertext.size()) {
    sodium_memzero(out.data(), out.size());
    return Fail("encrypted dataset is truncated or has bytes after its end");
  }
  return out;
}

Status EncryptFile(const std::filesystem::path& in, const std::filesystem::path& out,
                   const DataKey& key) {
  std::ifstream src(in, std::ios::binary);
  if (!src) return Fail("cannot read " + in.string());
  const std::filesystem::path tmp = out.string() + ".tmp";
  std::filesystem::remove(tmp);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Fail("cannot create " + tmp.string() + ": " + std::strerror(errno));
  const auto write_all = [&](const std::vector<uint8_t>& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  };
  Pusher pusher(key);
  bool ok = write_all(pusher.Start());
  // Read one chunk ahead so the last one, and only it, carries the final tag.
  std::vector<uint8_t> chunk(kCryptChunkBytes), next(kCryptChunkBytes), sealed;
  src.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
  size_t have = static_cast<size_t>(src.gcount());
  while (ok) {
    src.read(reinterpret_cast<char*>(next.data()), static_cast<std::streamsize>(next.size()));
    const size_t next_have = static_cast<size_t>(src.gcount());
    const bool last = next_have == 0;
    sealed.clear();
    pusher.Push(std::span<const uint8_t>(chunk.data(), have), last, sealed);
    ok = write_all(sealed);
    if (last) break;
    std::swap(chunk, next);
    have = next_have;
  }
  ok = ok && !src.bad() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    std::filesystem::remove(tmp);
    return Fail("cannot encrypt " + in.string() + " to " + out.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return Fail("cannot rename " + tmp.string() + ": " + ec.message());
  return SyncDir(out.has_parent_path() ? out.parent_path() : std::filesystem::path("."));
}

Result<std::vector<uint8_t>> SealDataKey(const DataKey& key, const PublicKey& agent) {
  auto curve = CurvePublicFromEd25519(agent);
  if (!curve) return tl::unexpected(curve.error());
  std::vector<uint8_t> sealed(key.size() + crypto_box_SEALBYTES);
  crypto_box_seal(sealed.data(), key.data(), key.size(), curve->data());
  return sealed;
}

Result<DataKey> OpenDataKey(std::span<const uint8_t> sealed, const Identity& agent) {
  DataKey key;
  if (sealed.size() != key.size() + crypto_box_SEALBYTES) return Fail("sealed data key has the wrong size");
  const CurveKey pk = agent.CurvePublic();
  CurveKey sk = agent.CurveSecret();
  const int rc = crypto_box_seal_open(key.data(), sealed.data(), sealed.size(), pk.data(), sk.data());
  sodium_memzero(sk.data(), sk.size());
  if (rc != 0) return Fail("sealed data key does not open with this agent's key");
  return key;
}

Status SaveDataKey(const std::filesystem::path& path, const DataKey& key) {
  if (std::filesystem::exists(path)) return Fail(path.string() + " exists; refusing to overwrite a data key");
  std::string text(kKeyFileMagic);
  text += ToHex(key) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Fail("cannot create " + path.string() + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(text.data(), text.size());
  if (!ok) return Fail("cannot write " + path.string());
  return {};
}

Result<DataKey> LoadDataKey(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Fail("cannot read data key " + path.string());
  if ((st.st_mode & 077) != 0) {
    return Fail("data key " + path.string() + " is readable by others; chmod 600 it");
  }
  auto bytes = ReadFileBytes(path);
  if (!bytes) return tl::unexpected(bytes.error());
  std::string_view text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  if (!text.starts_with(kKeyFileMagic) || text.size() != kKeyFileMagic.size() + 65 ||
      text.back() != '\n') {
    return Fail("data key file " + path.string() + " is malformed");
  }
  auto raw = FromHex(text.substr(kKeyFileMagic.size(), 64));
  sodium_memzero(bytes->data(), bytes->size());
  if (!raw || raw->size() != 32) return Fail("data key file " + path.string() + " is malformed");
  DataKey key;
  std::memcpy(key.data(), raw->data(), key.size());
  sodium_memzero(raw->data(), raw->size());
  return key;
}

void Wipe(std::span<uint8_t> bytes) { sodium_memzero(bytes.data(), bytes.size()); }

}  // namespace plume::data
