// Receipt verification pool: every submitted result comes back exactly once, marked verified iff
// its receipt is the agent's signature over matching fields; forged, mismatched and truncated
// receipts are not.
#include "receipt_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "plume/protocol/receipt.h"

namespace plume::scheduler {
namespace {

ResultToVerify Signed(const Identity& agent, uint64_t task, uint32_t attempt, uint8_t out_byte,
                      std::optional<Hash256> commitment_root = std::nullopt) {
  ReceiptFields f;
  f.job_id = "j";
  f.task_id = task;
  f.attempt = attempt;
  f.output.fill(out_byte);
  f.commitment = commitment_root;
  auto s = SignReceipt(agent, f);
  EXPECT_TRUE(s);
  ResultToVerify r;
  r.agent = agent.public_key();
  r.task_wire_id = task;
  r.job_id = "j";
  r.attempt = attempt;
  r.output = f.output;
  r.receipt = s->bytes;
  r.receipt_signature.assign(reinterpret_cast<const char*>(s->signature.data()),
                             s->signature.size());
  return r;
}

TEST(ReceiptPool, ChecksEveryResultOnceAndOnlyGoodReceiptsVerify) {
  const Identity agent = Identity::Generate(), other = Identity::Generate();
  ReceiptPool pool(3);
  std::map<uint64_t, bool> want;
  for (uint64_t task = 1; task <= 60; ++task) {
    ResultToVerify r = Signed(agent, task, 1, static_cast<uint8_t>(task));
    bool good = true;
    switch (task % 7) {
      case 1: r.agent = other.public_key(); good = false; break;  // someone else's result
      case 2: r.attempt = 2; good = false; break;                  // another attempt
      case 3: r.output[0] ^= 1; good = false; break;               // another output
      case 4: r.receipt.pop_back(); good = false; break;           // truncated bytes
      case 5: r.job_id = "another-job"; good = false; break;       // same task number, other job
      case 6: {  // signed over the bare bytes: no domain tag, so not a receipt signature
        const Signature bare = agent.Sign(r.receipt);
        r.receipt_signature.assign(reinterpret_cast<const char*>(bare.data()), bare.size());
        good = false;
        break;
      }
      default: break;
    }
    want[task] = good;
    EXPECT_EQ(ReceiptMatches(r), good) << task;
    pool.Submit(std::move(r));
  }
  std::map<uint64_t, bool> got;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < want.size() && std::chrono::steady_clock::now() < give_up) {
    for (const ResultToVerify& r : pool.TakeDone()) {
      EXPECT_FALSE(got.contains(r.task_wire_id)) << "reported twice: " << r.task_wire_id;
      got[r.task_wire_id] = r.verified;
    }
    if (got.size() < want.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(pool.Outstanding(), 0u);
}

// TaskResult.commitments must be what the signed receipt's commitment root covers: the reactor
// refuses the result otherwise (reactor_tasks.cc, reason bad_commitments), so a chain cannot be
// changed after signing, added to a receipt without one, or left out of one that has one.
TEST(ReceiptPool, CommitmentsMatchOnlyTheRootTheReceiptSigns) {
  const Identity agent = Identity::Generate();
  std::vector<Hash256> chain(10);
  for (size_t i = 0; i < chain.size(); ++i) chain[i].fill(static_cast<uint8_t>(i + 1));
  const Hash256 root = CommitmentRoot(chain);
  ReceiptPool pool(2);
  std::map<uint64_t, bool> want;
  for (uint64_t task = 1; task <= 6; ++task) {
    ResultToVerify r = Signed(agent, task, 1, 9, task == 5 ? std::nullopt : std::optional(root));
    r.commitments = chain;
    switch (task) {
      case 2: r.commitments[4][0] ^= 1; break;  // one link changed after signing
      case 3: r.commitments.pop_back(); break;  // a link left out
      case 4: r.commitments.clear(); break;     // the chain withheld
      case 5: break;                            // a chain the receipt does not sign
      case 6: r = Signed(agent, task, 1, 9); break;  // neither: an older agent
      default: break;
    }
    want[task] = task == 1 || task == 6;
    pool.Submit(std::move(r));
  }
  std::map<uint64_t, bool> got;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < want.size() && std::chrono::steady_clock::now() < give_up) {
    for (const ResultToVerify& r : pool.TakeDone()) {
      EXPECT_TRUE(r.verified) << r.task_wire_id;  // the receipt itself is good in every case
      got[r.task_wire_id] = r.commitments_match;
    }
    if (got.size() < want.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(got, want);
}

TEST(ReceiptPool, DestroyingWithWorkPendingJoinsCleanly) {
  const Identity agent = Identity::Generate();
  auto pool = std::make_unique<ReceiptPool>(1);
  for (uint64_t task = 1; task <= 200; ++task) pool->Submit(Signed(agent, task, 1, 7));
  pool.reset();  // must not hang or crash; unfinished checks are dropped
  SUCCEED();
}

}  // namespace
}  // namespace plume::scheduler
