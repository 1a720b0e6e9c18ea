// Owner attestations: signing bytes, the check, the text file and the wire form (see owner.h).
#include "plume/protocol/owner.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "plume/protocol/codec.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"

namespace plume {
namespace {

std::string Short(const PublicKey& k) { return ToHex(k).substr(0, 16); }

template <size_t N>
Result<std::array<uint8_t, N>> FixedFromHex(std::string_view name, std::string_view hex) {
  if (hex.size() != 2 * N) {
    return Fail(std::string(name) + " is " + std::to_string(hex.size()) + " hex characters; " +
                std::to_string(2 * N) + " expected");
  }
  auto bytes = FromHex(hex);
  if (!bytes) return Fail(std::string(name) + ": " + bytes.error().message);
  std::array<uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

template <size_t N>
Result<std::array<uint8_t, N>> FixedFromData(std::string_view name, capnp::Data::Reader d) {
  if (d.size() != N) {
    return Fail("ownerAttestation." + std::string(name) + " is " + std::to_string(d.size()) +
                " bytes; it must be " + std::to_string(N));
  }
  std::array<uint8_t, N> out{};
  std::copy(d.begin(), d.end(), out.begin());
  return out;
}

}  // namespace

std::vector<uint8_t> OwnerAttestationSigningBytes(const PublicKey& owner, const PublicKey& agent,
                                                  const PublicKey& scheduler) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, kOwnerAttestationDomain);
  protocol::codec::PutRaw(out, owner);
  protocol::codec::PutRaw(out, agent);
  protocol::codec::PutRaw(out, scheduler);
  return out;
}

OwnerAttestation AttestOwner(const Identity& owner, const PublicKey& agent,
                             const PublicKey& scheduler) {
  OwnerAttestation a{owner.public_key(), agent, scheduler, {}};
  a.signature = owner.Sign(OwnerAttestationSigningBytes(a.owner, agent, scheduler));
  return a;
}

AttestationCheck CheckOwnerAttestation(const OwnerAttestation& a, const PublicKey& agent,
                                       const PublicKey& scheduler) {
  // The named keys first: a signature that is good for another agent is still no good here, and
  // the refusal can say which key is wrong.
  if (a.agent != agent) return AttestationCheck::kWrongAgent;
  if (a.scheduler != scheduler) return AttestationCheck::kWrongScheduler;
  const std::vector<uint8_t> bytes = OwnerAttestationSigningBytes(a.owner, a.agent, a.scheduler);
  if (!VerifySignature(a.owner, bytes, a.signature)) return AttestationCheck::kBadSignature;
  return AttestationCheck::kOk;
}

std::string AttestationRefusal(AttestationCheck check, const OwnerAttestation& a) {
  switch (check) {
    case AttestationCheck::kOk:
      return "ok";
    case AttestationCheck::kWrongAgent:
      return "owner attestation is for agent " + Short(a.agent) +
             ", not this agent's key (make one for this agent: plume owner attest AGENT_ID)";
    case AttestationCheck::kWrongScheduler:
      return "owner attestation is for scheduler " + Short(a.scheduler) +
             ", not this one (make it with --scheduler-id of this network)";
    case AttestationCheck::kBadSignature:
      return "owner attestation's signature is not owner " + Short(a.owner) +
             "'s over this agent and scheduler (the file was changed, or signed by another key)";
  }
  return "owner attestation refused";
}

std::string FormatOwnerAttestation(const OwnerAttestation& a) {
  std::string out(kOwnerAttestationFileTag);
  out += "\nowner " + ToHex(a.owner) + "\nagent " + ToHex(a.agent) + "\nscheduler " +
         ToHex(a.scheduler) + "\nsignature " + ToHex(a.signature) + "\n";
  return out;
}

Result<OwnerAttestation> ParseOwnerAttestation(std::string_view text) {
  if (text.size() > limits::kOwnerAttestationFileBytesMax) {
    return Fail("owner attestation is " + std::to_string(text.size()) + " bytes; at most " +
                std::to_string(limits::kOwnerAttestationFileBytesMax));
  }
  std::istringstream in{std::string(text)};
  std::string line;
  // A file edited on Windows ends its lines in "\r\n": the same attestation.
  auto next = [&] {
    if (!std::getline(in, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  };
  if (!next() || line != kOwnerAttestationFileTag) {
    return Fail("not an owner attestation (first line is not " +
                std::string(kOwnerAttestationFileTag) + "; make one with `plume owner attest`)");
  }
  std::map<std::string, std::string> fields;
  while (next()) {
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    const std::string key = line.substr(0, sp);
    if (sp == std::string::npos || !fields.emplace(key, line.substr(sp + 1)).second) {
      return Fail("owner attestation: bad or repeated line \"" + line.substr(0, 40) + "\"");
    }
  }
  OwnerAttestation a;
  for (const char* key : {"owner", "agent", "scheduler", "signature"}) {
    if (!fields.contains(key)) return Fail(std::string("owner attestation has no ") + key + " line");
  }
  if (fields.size() != 4) return Fail("owner attestation has lines other than the four fields");
  auto owner = FixedFromHex<32>("owner", fields["owner"]);
  if (!owner) return tl::unexpected(owner.error());
  auto agent = FixedFromHex<32>("agent", fields["agent"]);
  if (!agent) return tl::unexpected(agent.error());
  auto scheduler = FixedFromHex<32>("scheduler", fields["scheduler"]);
  if (!scheduler) return tl::unexpected(scheduler.error());
  auto signature = FixedFromHex<64>("signature", fields["signature"]);
  if (!signature) return tl::unexpected(signature.error());
  return OwnerAttestation{*owner, *agent, *scheduler, *signature};
}

Result<OwnerAttestation> ReadOwnerAttestation(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Fail("cannot read owner attestation " + path.string() + ": " + ec.message());
  if (size > limits::kOwnerAttestationFileBytesMax) {
    return Fail(path.string() + " is " + std::to_string(size) +
                " bytes, too large for an owner attestation");
  }
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) return Fail("cannot read owner attestation " + path.string());
  auto a = ParseOwnerAttestation(ss.str());
  if (!a) return Fail(path.string() + ": " + a.error().message);
  return a;
}

Result<OwnerAttestation> ReadOwnerAttestationFor(const std::filesystem::path& path,
                                                 const PublicKey& agent,
                                                 const PublicKey& scheduler) {
  auto a = ReadOwnerAttestation(path);
  if (!a) return a;
  if (const AttestationCheck c = CheckOwnerAttestation(*a, agent, scheduler);
      c != AttestationCheck::kOk) {
    return Fail(path.string() + ": " + AttestationRefusal(c, *a));
  }
  return a;
}

void OwnerAttestationToWire(const OwnerAttestation& a, wire::OwnerAttestation::Builder b) {
  b.setOwner(AsData(a.owner));
  b.setAgent(AsData(a.agent));
  b.setScheduler(AsData(a.scheduler));
  b.setSignature(AsData(a.signature));
}

Result<OwnerAttestation> OwnerAttestationFromWire(wire::OwnerAttestation::Reader r) {
  auto owner = FixedFromData<32>("owner", r.getOwner());
  if (!owner) return tl::unexpected(owner.error());
  auto agent = FixedFromData<32>("agent", r.getAgent());
  if (!agent) return tl::unexpected(agent.error());
  auto scheduler = FixedFromData<32>("scheduler", r.getScheduler());
  if (!scheduler) return tl::unexpected(scheduler.error());
  auto signature = FixedFromData<64>("signature", r.getSignature());
  if (!signature) return tl::unexpected(signature.error());
  return OwnerAttestation{*owner, *agent, *scheduler, *signature};
}

}  // namespace plume
