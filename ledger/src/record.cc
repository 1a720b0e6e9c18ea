// Log record payloads and signed tree heads (see record.h and head.h).
#include "record.h"

#include "plume/protocol/codec.h"

namespace plume::ledger {
namespace {
constexpr std::string_view kHeadDomain = "plume-tree-head-v1";
constexpr size_t kHeadRecordBytes = 1 + 8 + 8 + 32 + 64;
}  // namespace

std::vector<uint8_t> HeadSigningBytes(const SignedTreeHead& head) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, kHeadDomain);
  protocol::codec::PutU64(out, head.tree_size);
  protocol::codec::PutU64(out, head.timestamp_unix_ms);
  protocol::codec::PutRaw(out, head.root);
  return out;
}

SignedTreeHead SignHead(uint64_t tree_size, uint64_t timestamp_unix_ms, const Hash256& root,
                        const Identity& ledger) {
  SignedTreeHead head{tree_size, timestamp_unix_ms, root, {}};
  head.signature = ledger.Sign(HeadSigningBytes(head));
  return head;
}

bool VerifyHead(const SignedTreeHead& head, const PublicKey& ledger) {
  return VerifySignature(ledger, HeadSigningBytes(head), head.signature);
}

void EncodeEntryRecord(uint64_t index, const Hash256& prev_hash, const Entry& entry,
                       std::vector<uint8_t>& out) {
  protocol::codec::PutU8(out, static_cast<uint8_t>(RecordKind::kEntry));
  protocol::codec::PutU64(out, index);
  protocol::codec::PutRaw(out, prev_hash);
  AppendEncoded(entry, out);
}

std::vector<uint8_t> EncodeHeadRecord(const SignedTreeHead& head) {
  std::vector<uint8_t> out;
  out.reserve(kHeadRecordBytes);
  protocol::codec::PutU8(out, static_cast<uint8_t>(RecordKind::kHead));
  protocol::codec::PutU64(out, head.tree_size);
  protocol::codec::PutU64(out, head.timestamp_unix_ms);
  protocol::codec::PutRaw(out, head.root);
  protocol::codec::PutRaw(out, head.signature);
  return out;
}

bool IsHeadRecord(std::span<const uint8_t> payload) {
  return payload.size() == kHeadRecordBytes &&
         payload[0] == static_cast<uint8_t>(RecordKind::kHead);
}

Result<std::variant<EntryRecord, SignedTreeHead>> DecodeRecord(std::span<const uint8_t> payload) {
  protocol::codec::Reader in(payload);
  const uint8_t kind = in.U8();
  if (kind == static_cast<uint8_t>(RecordKind::kHead)) {
    SignedTreeHead head;
    head.tree_size = in.U64();
    head.timestamp_unix_ms = in.U64();
    head.root = in.Raw<32>();
    head.signature = in.Raw<64>();
    if (!in.done()) return Fail("tree head record is malformed");
    return head;
  }
  if (kind != static_cast<uint8_t>(RecordKind::kEntry)) {
    return Fail("record has unknown kind " + std::to_string(kind));
  }
  EntryRecord rec;
  rec.index = in.U64();
  rec.prev_hash = in.Raw<32>();
  if (!in.ok()) return Fail("entry record is cut short");
  auto entry = Decode(payload.subspan(in.pos()));
  if (!entry) return tl::unexpected(entry.error());
  rec.entry = std::move(*entry);
  return rec;
}

}  // namespace plume::ledger
