// Dataset terms: encoding, shape checks, ids and the team/kind check (see terms.h).
#include "plume/data/terms.h"

#include <algorithm>

#include "plume/data/limits.h"
#include "plume/protocol/codec.h"

namespace plume::data {
namespace {
constexpr std::string_view kIdDomain = "plume-dataset-id-v1";

bool IsPrintable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}
}  // namespace

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kTrain:
      return "train";
    case JobKind::kEvaluate:
      return "evaluate";
  }
  return "unknown";
}

std::vector<uint8_t> EncodeTerms(const Terms& t) {
  std::vector<uint8_t> out;
  protocol::codec::PutRaw(out, t.owner);
  protocol::codec::PutString(out, t.name);
  protocol::codec::PutRaw(out, t.blob_hash);
  protocol::codec::PutU64(out, t.bytes);
  protocol::codec::PutU64(out, t.tokens);
  protocol::codec::PutU8(out, t.encrypted ? 1 : 0);
  protocol::codec::PutString(out, t.key_service);
  protocol::codec::PutU8(out, t.kinds);
  protocol::codec::PutU8(out, t.any_team ? 1 : 0);
  protocol::codec::PutU32(out, static_cast<uint32_t>(t.teams.size()));
  for (const PublicKey& k : t.teams) protocol::codec::PutRaw(out, k);
  protocol::codec::PutU64(out, t.royalty_micro_plume_per_mtoken);
  return out;
}

Result<Terms> DecodeTerms(std::span<const uint8_t> bytes) {
  if (bytes.size() > kTermsBytesMax) return Fail("dataset terms are too long");
  protocol::codec::Reader in(bytes);
  Terms t;
  t.owner = in.Raw<32>();
  t.name = in.String(kDatasetNameBytesMax);
  t.blob_hash = in.Raw<32>();
  t.bytes = in.U64();
  t.tokens = in.U64();
  const uint8_t encrypted = in.U8();
  t.key_service = in.String(kKeyServiceBytesMax);
  t.kinds = in.U8();
  const uint8_t any_team = in.U8();
  const uint32_t teams = in.U32();
  if (teams > kTermsTeamsMax) in.Fail();
  for (uint32_t i = 0; i < teams && in.ok(); ++i) t.teams.push_back(in.Raw<32>());
  t.royalty_micro_plume_per_mtoken = in.U64();
  if (!in.done() || encrypted > 1 || any_team > 1) return Fail("dataset terms are malformed");
  t.encrypted = encrypted == 1;
  t.any_team = any_team == 1;
  if (std::string problem = TermsProblem(t); !problem.empty()) return Fail(problem);
  return t;
}

std::string TermsProblem(const Terms& t) {
  if (t.name.empty() || t.name.size() > kDatasetNameBytesMax || !IsPrintable(t.name)) {
    return "dataset name must be 1.." + std::to_string(kDatasetNameBytesMax) +
           " printable ASCII characters";
  }
  if (t.tokens == 0 || t.bytes == 0) return "a dataset has at least one byte and one token";
  if (t.encrypted == t.key_service.empty()) {
    return "an encrypted dataset names its key service, and only an encrypted one does";
  }
  if (t.key_service.size() > kKeyServiceBytesMax || !IsPrintable(t.key_service)) {
    return "key service endpoint is too long or not printable";
  }
  if (t.kinds == 0 || (t.kinds & ~kAllJobKinds) != 0) return "job kinds must be train, evaluate";
  if (t.any_team != t.teams.empty()) {
    return "terms allow either any team or a list of 1.." + std::to_string(kTermsTeamsMax) +
           " teams";
  }
  if (t.teams.size() > kTermsTeamsMax) return "too many teams in the terms";
  // Sorted and unique, so one set of teams has one encoding (and one dataset id).
  if (!std::is_sorted(t.teams.begin(), t.teams.end()) ||
      std::adjacent_find(t.teams.begin(), t.teams.end()) != t.teams.end()) {
    return "the terms' teams must be sorted and unique";
  }
  // The largest rate whose royalty for any int64-sized token count still fits is not a useful
  // bound; 1e12 micro-PLUME (a million PLUME) per million tokens is far past any real price.
  if (t.royalty_micro_plume_per_mtoken > 1'000'000'000'000ULL) return "royalty rate is too high";
  return {};
}

std::string DatasetId(const Terms& terms) {
  Hasher h;
  h.Update(kIdDomain);
  h.Update(EncodeTerms(terms));
  const Hash256 full = h.Final();
  return ToHex(std::span<const uint8_t>(full.data(), kDatasetIdChars / 2));
}

bool IsDatasetId(std::string_view text) {
  return text.size() == kDatasetIdChars &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::vector<uint8_t> EncodeRevocation(const Revocation& r) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, r.dataset);
  protocol::codec::PutRaw(out, r.owner);
  return out;
}

Result<Revocation> DecodeRevocation(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  Revocation r;
  r.dataset = in.String(kDatasetIdChars);
  r.owner = in.Raw<32>();
  if (!in.done() || !IsDatasetId(r.dataset)) return Fail("dataset revocation is malformed");
  return r;
}

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone:
      return "allowed";
    case Refusal::kTeamNotAllowed:
      return "team_not_allowed";
    case Refusal::kKindNotAllowed:
      return "kind_not_allowed";
    case Refusal::kRevoked:
      return "revoked";
  }
  return "unknown";
}

Refusal Allows(const Terms& terms, const PublicKey& team, JobKind kind) {
  if ((terms.kinds & static_cast<uint8_t>(kind)) == 0) return Refusal::kKindNotAllowed;
  if (terms.any_team) return Refusal::kNone;
  return std::binary_search(terms.teams.begin(), terms.teams.end(), team)
             ? Refusal::kNone
             : Refusal::kTeamNotAllowed;
}

}  // namespace plume::data
