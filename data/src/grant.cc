// Key grants: encoding, signing and the key service's checks (see grant.h).
#include "plume/data/grant.h"

#include "plume/data/limits.h"
#include "plume/data/terms.h"
#include "plume/protocol/codec.h"

namespace plume::data {
namespace {
constexpr std::string_view kGrantDomain = "plume-data-grant-v1";

void PutFields(const Grant& g, std::vector<uint8_t>& out) {
  protocol::codec::PutString(out, g.dataset);
  protocol::codec::PutString(out, g.job);
  protocol::codec::PutString(out, g.task);
  protocol::codec::PutU32(out, g.attempt);
  protocol::codec::PutRaw(out, g.agent);
  protocol::codec::PutU64(out, g.issued_unix_ms);
  protocol::codec::PutU64(out, g.expires_unix_ms);
}

bool Shaped(const Grant& g) {
  return IsDatasetId(g.dataset) && !g.job.empty() && g.job.size() <= kGrantIdBytesMax &&
         !g.task.empty() && g.task.size() <= kGrantIdBytesMax &&
         g.issued_unix_ms < g.expires_unix_ms &&
         g.expires_unix_ms - g.issued_unix_ms <= kGrantLifetimeMsMax;
}
}  // namespace

std::vector<uint8_t> GrantSigningBytes(const Grant& grant, const Hash256& ledger_id) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, kGrantDomain);
  protocol::codec::PutRaw(out, ledger_id);
  PutFields(grant, out);
  return out;
}

Signature SignGrant(const Grant& grant, const Hash256& ledger_id, const Identity& scheduler) {
  return scheduler.Sign(GrantSigningBytes(grant, ledger_id));
}

std::vector<uint8_t> EncodeGrant(const Grant& grant) {
  std::vector<uint8_t> out;
  PutFields(grant, out);
  protocol::codec::PutRaw(out, grant.scheduler_signature);
  return out;
}

Result<Grant> DecodeGrant(std::span<const uint8_t> bytes) {
  if (bytes.size() > kGrantBytesMax) return Fail("grant is too long");
  protocol::codec::Reader in(bytes);
  Grant g;
  g.dataset = in.String(kDatasetIdChars);
  g.job = in.String(kGrantIdBytesMax);
  g.task = in.String(kGrantIdBytesMax);
  g.attempt = in.U32();
  g.agent = in.Raw<32>();
  g.issued_unix_ms = in.U64();
  g.expires_unix_ms = in.U64();
  g.scheduler_signature = in.Raw<64>();
  if (!in.done()) return Fail("grant is malformed");
  return g;
}

std::string_view GrantCheckName(GrantCheck check) {
  switch (check) {
    case GrantCheck::kOk:
      return "ok";
    case GrantCheck::kMalformed:
      return "malformed";
    case GrantCheck::kBadSignature:
      return "bad_signature";
    case GrantCheck::kExpired:
      return "expired";
    case GrantCheck::kWrongAgent:
      return "wrong_agent";
    case GrantCheck::kWrongDataset:
      return "wrong_dataset";
    case GrantCheck::kWrongTask:
      return "wrong_task";
  }
  return "unknown";
}

std::vector<uint8_t> EncodeAccessRecord(const AccessRecord& r) {
  std::vector<uint8_t> out;
  protocol::codec::PutRaw(out, r.owner);
  const std::vector<uint8_t> grant = EncodeGrant(r.grant);
  protocol::codec::PutU32(out, static_cast<uint32_t>(grant.size()));
  protocol::codec::PutRaw(out, grant);
  protocol::codec::PutU64(out, r.released_unix_ms);
  return out;
}

Result<AccessRecord> DecodeAccessRecord(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  AccessRecord r;
  r.owner = in.Raw<32>();
  const uint32_t n = in.U32();
  if (!in.ok() || n > kGrantBytesMax || bytes.size() < 36 + size_t{n}) {
    return Fail("data access record is malformed");
  }
  auto grant = DecodeGrant(bytes.subspan(36, n));
  if (!grant) return tl::unexpected(grant.error());
  r.grant = std::move(*grant);
  protocol::codec::Reader rest(bytes.subspan(36 + n));
  r.released_unix_ms = rest.U64();
  if (!rest.done()) return Fail("data access record is malformed");
  return r;
}

std::string GrantKey(const Grant& grant) {
  const Hash256 h = Blake2b256(EncodeGrant(grant));
  return ToHex(std::span<const uint8_t>(h.data(), 16));
}

GrantCheck CheckGrantSignature(const Grant& grant, const Hash256& ledger_id,
                               const PublicKey& scheduler) {
  if (!Shaped(grant)) return GrantCheck::kMalformed;
  return VerifySignature(scheduler, GrantSigningBytes(grant, ledger_id),
                         grant.scheduler_signature)
             ? GrantCheck::kOk
             : GrantCheck::kBadSignature;
}

GrantCheck CheckGrant(const Grant& grant, const Hash256& ledger_id, const PublicKey& scheduler,
                      const GrantRequest& request) {
  if (GrantCheck c = CheckGrantSignature(grant, ledger_id, scheduler); c != GrantCheck::kOk) {
    return c;
  }
  // Clocks differ a little between the scheduler and an owner's machine: a grant issued a
  // moment "in the future" is still good, one past its expiry is not.
  if (request.now_unix_ms + kClockSkewMsMax < grant.issued_unix_ms ||
      request.now_unix_ms >= grant.expires_unix_ms) {
    return GrantCheck::kExpired;
  }
  if (grant.agent != request.peer) return GrantCheck::kWrongAgent;
  if (grant.dataset != request.dataset) return GrantCheck::kWrongDataset;
  if (grant.job != request.job || grant.task != request.task) return GrantCheck::kWrongTask;
  return GrantCheck::kOk;
}

}  // namespace plume::data
