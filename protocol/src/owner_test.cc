// Owner attestations: an owner's signature holds for exactly the agent and scheduler it names;
// another agent, another scheduler, a changed byte or another signer is refused, and each says
// which. The file and the wire form round-trip, and malformed or oversized input of either is
// refused with a message instead of being truncated or trusted.
#include "plume/protocol/owner.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <fstream>

#include "plume/protocol/hash.h"
#include "plume/protocol/limits.h"

namespace plume {
namespace {

struct Keys {
  Identity owner = Identity::Generate();
  Identity agent = Identity::Generate();
  Identity scheduler = Identity::Generate();
};

TEST(OwnerAttestationTest, HoldsForTheAgentAndSchedulerItNames) {
  Keys k;
  const OwnerAttestation a = AttestOwner(k.owner, k.agent.public_key(), k.scheduler.public_key());
  EXPECT_EQ(a.owner, k.owner.public_key());
  EXPECT_EQ(CheckOwnerAttestation(a, k.agent.public_key(), k.scheduler.public_key()),
            AttestationCheck::kOk);
}

TEST(OwnerAttestationTest, AnotherAgentOrSchedulerIsRefused) {
  Keys k;
  const Identity other = Identity::Generate();
  const OwnerAttestation a = AttestOwner(k.owner, k.agent.public_key(), k.scheduler.public_key());
  EXPECT_EQ(CheckOwnerAttestation(a, other.public_key(), k.scheduler.public_key()),
            AttestationCheck::kWrongAgent);
  EXPECT_EQ(CheckOwnerAttestation(a, k.agent.public_key(), other.public_key()),
            AttestationCheck::kWrongScheduler);
  EXPECT_NE(AttestationRefusal(AttestationCheck::kWrongAgent, a).find(ToHex(a.agent).substr(0, 16)),
            std::string::npos);
}

TEST(OwnerAttestationTest, ChangedFieldsOrAnotherSignerFailTheSignature) {
  Keys k;
  const OwnerAttestation good =
      AttestOwner(k.owner, k.agent.public_key(), k.scheduler.public_key());
  // Rewriting the agent (and the check's agent with it) keeps the names consistent: only the
  // signature can tell.
  OwnerAttestation moved = good;
  const Identity other = Identity::Generate();
  moved.agent = other.public_key();
  EXPECT_EQ(CheckOwnerAttestation(moved, other.public_key(), k.scheduler.public_key()),
            AttestationCheck::kBadSignature);
  OwnerAttestation flipped = good;
  flipped.signature[5] ^= 1;
  EXPECT_EQ(CheckOwnerAttestation(flipped, k.agent.public_key(), k.scheduler.public_key()),
            AttestationCheck::kBadSignature);
  // Claiming another owner with this owner's signature.
  OwnerAttestation claimed = good;
  claimed.owner = other.public_key();
  EXPECT_EQ(CheckOwnerAttestation(claimed, k.agent.public_key(), k.scheduler.public_key()),
            AttestationCheck::kBadSignature);
  // The domain tag is signed: the bare keys signed by the owner are not an attestation.
  OwnerAttestation bare = good;
  std::vector<uint8_t> keys(good.owner.begin(), good.owner.end());
  keys.insert(keys.end(), good.agent.begin(), good.agent.end());
  keys.insert(keys.end(), good.scheduler.begin(), good.scheduler.end());
  bare.signature = k.owner.Sign(keys);
  EXPECT_EQ(CheckOwnerAttestation(bare, k.agent.public_key(), k.scheduler.public_key()),
            AttestationCheck::kBadSignature);
}

TEST(OwnerAttestationTest, FileRoundTripsAndMalformedFilesAreRefused) {
  Keys k;
  const OwnerAttestation a = AttestOwner(k.owner, k.agent.public_key(), k.scheduler.public_key());
  const std::string text = FormatOwnerAttestation(a);
  auto back = ParseOwnerAttestation(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, a);
  std::string crlf;
  for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  ASSERT_TRUE(ParseOwnerAttestation(crlf));

  EXPECT_FALSE(ParseOwnerAttestation("plume-ed25519-v1\n" + text.substr(text.find('\n') + 1)));
  EXPECT_FALSE(ParseOwnerAttestation(text.substr(0, text.find("signature"))));  // missing line
  EXPECT_FALSE(ParseOwnerAttestation(text + "owner " + ToHex(a.owner) + "\n"));  // repeated
  EXPECT_FALSE(ParseOwnerAttestation(text + "extra line\n"));
  std::string short_key = text;
  short_key.erase(short_key.find("agent ") + 6, 2);
  auto refused = ParseOwnerAttestation(short_key);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("agent is 62 hex characters"), std::string::npos)
      << refused.error().message;
  std::string padded = text + std::string(limits::kOwnerAttestationFileBytesMax, '\n');
  EXPECT_FALSE(ParseOwnerAttestation(padded));
}

TEST(OwnerAttestationTest, ReadRefusesAFileTooLargeBeforeReadingIt) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("owner_test_" + ToHex(Identity::Generate().public_key()).substr(0, 12));
  std::filesystem::create_directories(dir);
  Keys k;
  const OwnerAttestation a = AttestOwner(k.owner, k.agent.public_key(), k.scheduler.public_key());
  std::ofstream(dir / "good") << FormatOwnerAttestation(a);
  auto read = ReadOwnerAttestation(dir / "good");
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, a);
  std::ofstream(dir / "big") << std::string(1 << 20, 'x');
  auto big = ReadOwnerAttestation(dir / "big");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("too large"), std::string::npos) << big.error().message;
  EXPECT_FALSE(ReadOwnerAttestation(dir / "missing"));
  std::filesystem::remove_all(dir);
}

TEST(OwnerAttestationTest, WireFormRoundTripsAndWrongLengthsAreRefused) {
  Keys k;
  const OwnerAttestation a = AttestOwner(k.owner, k.agent.public_key(), k.scheduler.public_key());
  capnp::MallocMessageBuilder m;
  auto b = m.initRoot<wire::OwnerAttestation>();
  OwnerAttestationToWire(a, b);
  auto back = OwnerAttestationFromWire(b.asReader());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, a);

  const std::vector<uint8_t> big(1 << 16, 7);
  b.setSignature(capnp::Data::Reader(big.data(), big.size()));  // oversized
  auto refused = OwnerAttestationFromWire(b.asReader());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("signature is 65536 bytes; it must be 64"),
            std::string::npos)
      << refused.error().message;
  OwnerAttestationToWire(a, b);
  b.setOwner(capnp::Data::Reader(big.data(), 31));
  EXPECT_FALSE(OwnerAttestationFromWire(b.asReader()));
  capnp::MallocMessageBuilder empty;
  EXPECT_FALSE(OwnerAttestationFromWire(empty.initRoot<wire::OwnerAttestation>().asReader()));
}

}  // namespace
}  // namespace plume
