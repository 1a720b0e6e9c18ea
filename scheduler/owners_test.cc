// Independence by owner (owners.h), apart from the core: a node counts under its declared owner
// or, declaring none, under itself; a judge must share an owner with none of the runs it judges;
// retryable=false fails a job only from two different owners, however many keys one owner runs.
#include "plume/scheduler/owners.h"

#include <gtest/gtest.h>

namespace plume::scheduler {
namespace {

Node NodeOf(const NodeId& id, const OwnerId& owner) {
  Node n;
  n.info.id = id;
  n.info.owner = owner;
  return n;
}

TEST(Owners, ANodeWithoutAnOwnerIsItsOwnOwner) {
  EXPECT_EQ(OwnerOf(NodeOf("k1", "").info), "k1");
  EXPECT_EQ(OwnerOf(NodeOf("k1", "o").info), "o");
}

TEST(Owners, OwnersOfMapsEveryNodeAndUnknownNodesToThemselves) {
  const std::map<NodeId, Node> nodes = {
      {"a1", NodeOf("a1", "alice")}, {"a2", NodeOf("a2", "alice")}, {"b", NodeOf("b", "")}};
  EXPECT_EQ(OwnersOf({"a1", "a2"}, nodes), std::set<OwnerId>{"alice"});
  EXPECT_EQ(OwnersOf({"a1", "b"}, nodes), (std::set<OwnerId>{"alice", "b"}));
  EXPECT_EQ(OwnersOf({"gone"}, nodes), std::set<OwnerId>{"gone"});
  EXPECT_TRUE(OwnersOf({}, nodes).empty());
}

TEST(Owners, AJudgeMustShareAnOwnerWithNoneOfTheJudged) {
  EXPECT_TRUE(IndependentOf("carol", {"alice", "bob"}));
  EXPECT_FALSE(IndependentOf("alice", {"alice"}));
  EXPECT_FALSE(IndependentOf("bob", {"alice", "bob"}));  // a referee judges both runs
  EXPECT_TRUE(IndependentOf("alice", {}));               // nothing judged: an export, a task
}

TEST(Owners, RetryableFalseFailsAJobOnlyFromTwoOwners) {
  const std::map<NodeId, Node> nodes = {{"a1", NodeOf("a1", "alice")},
                                        {"a2", NodeOf("a2", "alice")},
                                        {"a3", NodeOf("a3", "alice")},
                                        {"b", NodeOf("b", "")}};
  EXPECT_FALSE(NonRetryableFailsJob(OwnersOf({}, nodes)));
  EXPECT_FALSE(NonRetryableFailsJob(OwnersOf({"a1"}, nodes)));
  EXPECT_FALSE(NonRetryableFailsJob(OwnersOf({"a1", "a2", "a3"}, nodes)));  // one owner, 3 keys
  EXPECT_TRUE(NonRetryableFailsJob(OwnersOf({"a1", "b"}, nodes)));
  // Two keys without attestations are two owners, as before owners were known.
  EXPECT_TRUE(NonRetryableFailsJob(OwnersOf({"x", "y"}, {})));
}

}  // namespace
}  // namespace plume::scheduler
