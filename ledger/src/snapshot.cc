// Snapshot files (see snapshot.h).
#include "snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "plume/protocol/codec.h"

namespace plume::ledger {
namespace {
constexpr std::string_view kMagic = "PLUMESNP";
// 3: the state carries unbonding tranches and slashed tasks; 4: datasets, hold royalties and
// governance proposals.
constexpr uint32_t kVersion = 4;
constexpr std::string_view kSnapshotDomain = "plume-ledger-snapshot-v3";
constexpr size_t kPrefixBytes = 8 + 4 + 8 + 32 + 64;

std::vector<uint8_t> SnapshotSigningBytes(const LedgerId& ledger, const Hash256& digest) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, kSnapshotDomain);
  protocol::codec::PutRaw(out, ledger);
  protocol::codec::PutRaw(out, digest);
  return out;
}

Status SyncPath(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return Fail("cannot open " + path.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail("cannot fsync " + path.string() + ": " + std::strerror(errno));
  return {};
}
}  // namespace

Status WriteSnapshot(const std::filesystem::path& dir, const Snapshot& s,
                     const Identity& ledger_key, const LedgerId& ledger) {
  std::vector<uint8_t> body;
  body.reserve(128 + s.offsets.size() * 40);
  protocol::codec::PutU64(body, s.head.tree_size);
  protocol::codec::PutU64(body, s.head.timestamp_unix_ms);
  protocol::codec::PutRaw(body, s.head.root);
  protocol::codec::PutRaw(body, s.head.signature);
  protocol::codec::PutU64(body, s.head_offset);
  protocol::codec::PutU64(body, s.committed_end);
  for (uint64_t o : s.offsets) protocol::codec::PutU64(body, o);
  for (const Hash256& h : s.leaves) protocol::codec::PutRaw(body, h);
  s.state.EncodeTo(body);
  std::vector<uint8_t> file(kMagic.begin(), kMagic.end());
  protocol::codec::PutU32(file, kVersion);
  protocol::codec::PutU64(file, body.size());
  const Hash256 digest = Blake2b256(body);
  protocol::codec::PutRaw(file, digest);
  protocol::codec::PutRaw(file, ledger_key.Sign(SnapshotSigningBytes(ledger, digest)));
  file.insert(file.end(), body.begin(), body.end());

  const std::filesystem::path tmp = dir / "snapshot.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(file.data()),
              static_cast<std::streamsize>(file.size()));
    if (!out) return Fail("cannot write " + tmp.string() + " (disk full?)");
  }
  if (auto st = SyncPath(tmp, O_RDONLY); !st) return st;
  std::error_code ec;
  std::filesystem::rename(tmp, dir / "snapshot", ec);
  if (ec) return Fail("cannot replace the snapshot: " + ec.message());
  return SyncPath(dir, O_RDONLY | O_DIRECTORY);
}

Result<Snapshot> ReadSnapshot(const std::filesystem::path& dir, const Keys& keys) {
  std::ifstream in(dir / "snapshot", std::ios::binary);
  if (!in) return Fail("no snapshot");
  const std::vector<uint8_t> file(std::istreambuf_iterator<char>(in), {});
  if (file.size() < kPrefixBytes || std::memcmp(file.data(), kMagic.data(), kMagic.size()) != 0) {
    return Fail("snapshot has no PLUMESNP header");
  }
  const std::span<const uint8_t> all(file);
  protocol::codec::Reader prefix(all.first(kPrefixBytes).subspan(8));
  const uint32_t version = prefix.U32();
  const uint64_t body_bytes = prefix.U64();
  const Hash256 digest = prefix.Raw<32>();
  const Signature signature = prefix.Raw<64>();
  if (version != kVersion || body_bytes != file.size() - kPrefixBytes) {
    return Fail("snapshot version or length is wrong");
  }
  const std::span<const uint8_t> body = all.subspan(kPrefixBytes);
  if (Blake2b256(body) != digest) return Fail("snapshot checksum mismatch");
  if (!VerifySignature(keys.ledger, SnapshotSigningBytes(keys.ledger_id, digest), signature)) {
    return Fail("snapshot is not signed by this ledger's key");
  }
  protocol::codec::Reader r(body);
  Snapshot s;
  s.head.tree_size = r.U64();
  s.head.timestamp_unix_ms = r.U64();
  s.head.root = r.Raw<32>();
  s.head.signature = r.Raw<64>();
  s.head_offset = r.U64();
  s.committed_end = r.U64();
  if (!r.ok() || s.head.tree_size > body.size() / 40) return Fail("snapshot is malformed");
  s.offsets.resize(s.head.tree_size);
  s.leaves.resize(s.head.tree_size);
  for (uint64_t& o : s.offsets) o = r.U64();
  for (Hash256& h : s.leaves) h = r.Raw<32>();
  if (!r.ok()) return Fail("snapshot is cut short");
  auto state = State::Decode(body.subspan(r.pos()));
  if (!state) return tl::unexpected(state.error());
  s.state = std::move(*state);
  if (s.state.entry_count() != s.head.tree_size) return Fail("snapshot state size mismatch");
  return s;
}

}  // namespace plume::ledger
