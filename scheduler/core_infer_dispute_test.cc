// Inference disputes in the scheduler core (core_dispute.cc): on an audit mismatch of a shard
// whose two runs committed to one hash per completion, the referee regenerates only the prompts
// whose hashes differ; its hashes convict the run they do not match, the recomputed fraction is
// the verdict's, and the referee is paid for the prompts it ran. A list of the wrong length
// convicts without a referee; equal lists, a shard that differs everywhere, or no lists fall back
// to the full referee; a referee that matches neither side convicts nobody; a dispute open across
// a restart carries on. Hashes here are made-up digests (verify/infer_dispute_test.cc generates
// real ones).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core_test_util.h"
#include "plume/scheduler/store.h"
#include "plume/verify/dispute.h"

namespace plume::scheduler {
namespace {

using testing::Agent;
using testing::Blob;
using testing::Harness;
using testing::InferSpec;
using testing::Only;

constexpr uint32_t kPrompts = 8;  // one shard

// The honest shard's hashes, with those at `bad` positions changed (a run that cheated there).
// Real digests (testing::Blob has only 16 distinct values).
std::vector<std::string> HashesOf(std::initializer_list<size_t> bad = {}, size_t n = kPrompts) {
  std::vector<std::string> c;
  for (size_t i = 0; i < n; ++i) {
    const bool cheated = std::find(bad.begin(), bad.end(), i) != bad.end();
    const verify::Digest d = verify::CompletionHash(static_cast<int64_t>(i), cheated ? "junk" : "ok");
    std::string hex;
    for (uint8_t b : d) {
      hex.push_back("0123456789abcdef"[b >> 4]);
      hex.push_back("0123456789abcdef"[b & 15]);
    }
    c.push_back(hex);
  }
  return c;
}

TaskSucceeded Result(const SendTaskAssign& a, const std::string& output,
                     std::vector<std::string> hashes = {}) {
  TaskSucceeded e{a.task, a.attempt, a.node, Blob(output), TaskMetrics{1.0, 10, 10}};
  e.commitments = std::move(hashes);
  return e;
}

std::vector<std::string> Settled(const Harness& h) {
  std::vector<std::string> out;
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == LedgerOpKind::kSettle) out.push_back(op.task);
  }
  return out;
}

// "x" runs the shard with `original` hashes; "y" audits it with `audit`; "c" is the third
// provider of the class. Returns what the mismatch queued.
struct Dispute {
  Harness h{Config{}};
  SendTaskAssign original, audit;
  std::vector<SendTaskAssign> next;

  Dispute(std::vector<std::string> original_hashes, std::vector<std::string> audit_hashes,
          const std::string& original_out = "x-out", const std::string& audit_out = "y-out") {
    h.Do(AgentRegistered{Agent("x")});
    original = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(kPrompts, 1)})).at(0);
    h.Do(AgentRegistered{Agent("y")});
    audit = Only<SendTaskAssign>(h.Do(Result(original, original_out, std::move(original_hashes))))
                .at(0);
    EXPECT_EQ(audit.node, "y");
    h.Do(AgentRegistered{Agent("c", 200)});
    next = Only<SendTaskAssign>(h.Do(Result(audit, audit_out, std::move(audit_hashes))));
  }
  const Verdict& verdict() const { return h.core.state().verdicts.at("j/s0"); }
  const Task& referee() const { return h.TaskAt("j/s0/referee"); }
};

TEST(CoreInferDispute, ACheatOnOnePromptIsDecidedByRegeneratingThatPromptAlone) {
  Dispute d(HashesOf({2}), HashesOf());
  ASSERT_EQ(d.next.size(), 1u);
  EXPECT_EQ(d.next[0].node, "c");
  EXPECT_EQ(d.next[0].task, "j/s0/referee");
  EXPECT_EQ(d.referee().dispute_prompts, std::vector<uint32_t>{2});
  EXPECT_EQ(d.referee().dispute_link, 2);
  // Every prompt of InferSpec is billed alike: one eighth of the shard's FLOPs.
  EXPECT_EQ(d.referee().flops, d.h.TaskAt("j/s0").flops / kPrompts);
  EXPECT_TRUE(Settled(d.h).empty());
  d.h.Do(Result(d.next[0], "referee-out", {HashesOf()[2]}));
  EXPECT_EQ(d.h.TaskAt("j/s0").audit, AuditStatus::kOriginalFaulty);
  EXPECT_EQ(d.verdict().faulty, "x");
  EXPECT_EQ(d.verdict().policy, verify::kDisputePolicy);
  EXPECT_EQ(d.verdict().dispute_link, 2);
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 1.0 / kPrompts);
  EXPECT_EQ(Settled(d.h), (std::vector<std::string>{"j/s0/audit", "j/s0/referee"}));
  EXPECT_EQ(d.h.core.state().nodes.at("x").proven_faulty, 1);
  for (const char* honest : {"y", "c"}) {
    EXPECT_EQ(d.h.core.state().nodes.at(honest).proven_faulty, 0) << honest;
  }
  const AuditTotals totals = CountAudits(d.h.core.state());
  EXPECT_EQ(totals.segment_disputes, 1u);
  EXPECT_EQ(totals.recomputed_flops, d.h.TaskAt("j/s0").flops / kPrompts);
}

TEST(CoreInferDispute, ACheatingAuditorIsConvictedAndTheHonestOriginalPaid) {
  Dispute d(HashesOf(), HashesOf({5, 6}));
  ASSERT_EQ(d.next.size(), 1u);
  EXPECT_EQ(d.referee().dispute_prompts, (std::vector<uint32_t>{5, 6}));
  d.h.Do(Result(d.next[0], "referee-out", {HashesOf()[5], HashesOf()[6]}));
  EXPECT_EQ(d.h.TaskAt("j/s0").audit, AuditStatus::kAuditorFaulty);
  EXPECT_EQ(d.verdict().faulty, "y");
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 2.0 / kPrompts);
  EXPECT_EQ(Settled(d.h), (std::vector<std::string>{"j/s0", "j/s0/referee"}));
  EXPECT_EQ(d.h.core.state().nodes.at("x").proven_faulty, 0);
}

TEST(CoreInferDispute, ARefereeMatchingNeitherSideConvictsNobody) {
  Dispute d(HashesOf({1}), HashesOf());
  ASSERT_EQ(d.next.size(), 1u);
  d.h.Do(Result(d.next[0], "referee-out", {HashesOf()[0]}));  // prompt 0's: neither side's 1
  EXPECT_EQ(d.h.TaskAt("j/s0").audit, AuditStatus::kUndecided);
  EXPECT_TRUE(d.verdict().faulty.empty());
  for (const char* n : {"x", "y", "c"}) EXPECT_EQ(d.h.core.state().nodes.at(n).proven_faulty, 0);
}

TEST(CoreInferDispute, AListOfTheWrongLengthConvictsItsSenderWithoutAReferee) {
  Dispute d(HashesOf({}, kPrompts - 1), HashesOf());
  EXPECT_TRUE(d.next.empty());
  EXPECT_FALSE(d.h.core.state().tasks.contains("j/s0/referee"));
  EXPECT_EQ(d.verdict().faulty, "x");
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 0);
}

TEST(CoreInferDispute, WithoutADifferenceToNarrowToTheWholeShardIsRefereed) {
  // Equal lists (the outputs differ elsewhere), lists that differ everywhere, no lists.
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {HashesOf(), HashesOf()},
      {HashesOf({0, 1, 2, 3, 4, 5, 6, 7}), HashesOf()},
      {{}, {}},
  };
  for (const auto& [a, b] : cases) {
    Dispute d(a, b);
    ASSERT_EQ(d.next.size(), 1u);
    EXPECT_TRUE(d.referee().dispute_prompts.empty());
    EXPECT_EQ(d.referee().dispute_link, -1);
    EXPECT_EQ(d.referee().flops, d.h.TaskAt("j/s0").flops);
    EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 1.0);
  }
}

TEST(CoreInferDispute, ADisputeOpenAcrossARestartCarriesOn) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plume-infer-dispute-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = Store::Open(dir / "s.db", Sync::kNormal);
  ASSERT_TRUE(store);
  Dispute d(HashesOf({3, 7}), HashesOf());
  ASSERT_EQ(d.next.size(), 1u);
  ASSERT_TRUE(store->Save(d.h.core.TakeDirty()));
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->tasks, d.h.core.state().tasks);
  EXPECT_EQ(loaded->tasks.at("j/s0/referee").dispute_prompts, (std::vector<uint32_t>{3, 7}));
  Harness again(Config{});
  again.core = Core(Config{}, std::move(*loaded));
  again.now_ms = d.h.now_ms;
  again.Do(Result(d.next[0], "referee-out", {HashesOf()[3], HashesOf()[7]}));
  const Verdict& v = again.core.state().verdicts.at("j/s0");
  EXPECT_EQ(v.faulty, "x");
  EXPECT_DOUBLE_EQ(v.recomputed_fraction, 2.0 / kPrompts);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
