// Register.ownerAttestation at the reactor, over real CURVE sockets: a good attestation makes the
// owner the node's owner in ListNodes (a node without one is its own); a hostile peer's
// attestation (a bad signature, one made for another agent key or another scheduler, fields of
// the wrong size, an empty one) is refused with a clean Error naming what is wrong, the node is
// not registered, and the reactor goes on serving.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "plume/protocol/hash.h"
#include "plume/protocol/owner.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

class ReactorOwnerTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-reactor-owner-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;  // the test sends no heartbeats
    StartReactor(o);
  }
  // Registers `who` with an attestation `fill` writes (none when fill is null).
  Message RegisterWith(const Identity& who,
                       const std::function<void(wire::OwnerAttestation::Builder)>& fill) {
    auto agent = Connect(who);
    auto reg = agent->NewRequest();
    auto r = reg.body().initRegister();
    FillCpuRegister(r, "owned");
    if (fill) fill(r.initOwnerAttestation());
    return Call(*agent, reg);
  }
  // ListNodes as a client: node id -> owner.
  std::map<std::string, std::string> Owners() {
    auto client = Connect(Identity::Generate());
    auto list = client->NewRequest();
    list.body().initListNodes();
    Message nodes = Call(*client, list);
    std::map<std::string, std::string> out;
    for (auto n : nodes.body().getListNodesReply().getNodes()) {
      out[n.getNodeId().cStr()] = n.getOwner().cStr();
    }
    return out;
  }
  void ExpectRefused(const Message& m, wire::ErrorCode code, const std::string& says) {
    ASSERT_EQ(m.kind(), MessageKind::ERROR);
    EXPECT_EQ(m.body().getError().getCode(), code);
    const std::string text = m.body().getError().getMessage().cStr();
    EXPECT_NE(text.find(says), std::string::npos) << text;
  }

  Identity owner_ = Identity::Generate();
};

TEST_F(ReactorOwnerTest, AnAttestedAgentIsListedUnderItsOwnerAndAnotherUnderItself) {
  const Identity agent = Identity::Generate(), loner = Identity::Generate();
  const OwnerAttestation a =
      AttestOwner(owner_, agent.public_key(), scheduler_.public_key());
  ASSERT_EQ(RegisterWith(agent, [&](auto b) { OwnerAttestationToWire(a, b); }).kind(),
            MessageKind::REGISTER_ACK);
  ASSERT_EQ(RegisterWith(loner, nullptr).kind(), MessageKind::REGISTER_ACK);
  const auto owners = Owners();
  EXPECT_EQ(owners.at(agent.Id()), owner_.Id());
  EXPECT_EQ(owners.at(loner.Id()), loner.Id());
}

TEST_F(ReactorOwnerTest, HostileAttestationsAreRefusedCleanly) {
  const Identity agent = Identity::Generate(), other = Identity::Generate();
  const OwnerAttestation good = AttestOwner(owner_, agent.public_key(), scheduler_.public_key());

  OwnerAttestation flipped = good;
  flipped.signature[0] ^= 0x80;
  ExpectRefused(RegisterWith(agent, [&](auto b) { OwnerAttestationToWire(flipped, b); }),
                wire::ErrorCode::UNAUTHORIZED, "signature is not owner");

  // A real attestation, but of another agent key: copied from that agent, replayed by this one.
  const OwnerAttestation theirs =
      AttestOwner(owner_, other.public_key(), scheduler_.public_key());
  ExpectRefused(RegisterWith(agent, [&](auto b) { OwnerAttestationToWire(theirs, b); }),
                wire::ErrorCode::UNAUTHORIZED, "is for agent " + other.Id().substr(0, 16));

  const OwnerAttestation elsewhere =
      AttestOwner(owner_, agent.public_key(), other.public_key());
  ExpectRefused(RegisterWith(agent, [&](auto b) { OwnerAttestationToWire(elsewhere, b); }),
                wire::ErrorCode::UNAUTHORIZED, "is for scheduler");

  const std::vector<uint8_t> big(1 << 20, 0xab);
  ExpectRefused(RegisterWith(agent,
                             [&](auto b) {
                               OwnerAttestationToWire(good, b);
                               b.setOwner(capnp::Data::Reader(big.data(), big.size()));
                             }),
                wire::ErrorCode::BAD_MESSAGE, "ownerAttestation.owner is 1048576 bytes");
  ExpectRefused(RegisterWith(agent,
                             [&](auto b) {
                               OwnerAttestationToWire(good, b);
                               b.setSignature(capnp::Data::Reader(big.data(), 65));
                             }),
                wire::ErrorCode::BAD_MESSAGE, "signature is 65 bytes");
  ExpectRefused(RegisterWith(agent, [](auto) {}), wire::ErrorCode::BAD_MESSAGE,
                "ownerAttestation.owner is 0 bytes");

  // None of them registered the agent, and the reactor still serves: the good one is accepted.
  EXPECT_FALSE(Owners().contains(agent.Id()));
  ASSERT_EQ(RegisterWith(agent, [&](auto b) { OwnerAttestationToWire(good, b); }).kind(),
            MessageKind::REGISTER_ACK);
  EXPECT_EQ(Owners().at(agent.Id()), owner_.Id());
}

}  // namespace
}  // namespace plume::scheduler
