// Property test: a long seeded random sequence of operations (transfers, mints, holds,
// settles, duplicate receipts, releases, stakes, retries, forged signatures, overflowing
// amounts) goes through the Ledger in batches. A model State applies the same entries one at a
// time with the invariants checked after every single one, and the Ledger must answer every
// entry exactly as the model does. Reopening (midway and at the end) must replay to the same
// balances and head, and Verify must recompute the same balances from the log alone.
//
// Seed: random per run and printed; set PLUME_LEDGER_SEED to replay one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <iostream>
#include <random>

#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;

constexpr int kOperations = 100'000;
constexpr int kBatchEntries = 500;
constexpr int kJobsMax = 300;
constexpr size_t kRetryPool = 256;

struct Job {
  std::string id;
  int team;
  int next_task = 0;
};

struct Planned {
  Entry entry;
  Code forced = Code::kOk;  // kOk: the model decides; else the code the entry must get
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed), cast_(8, 6) {}
  test::Cast& cast() { return cast_; }

  Planned Next() {
    const int dice = Uniform(0, 999);
    const std::string id = "op-" + std::to_string(counter_++);
    Planned p;
    if (dice < 50 && !pool_.empty()) return pool_[Uniform(0, static_cast<int>(pool_.size()) - 1)];
    if (dice < 400) {
      const int from = Team();
      const bool to_provider = Uniform(0, 9) == 0;
      p.entry =
          Signed(cast_.id,
                 MakeTransfer(id, cast_.team(from),
                              to_provider ? cast_.provider(Agent()) : cast_.team(Team()), Amount()),
                 cast_.teams[from]);
      if (p.entry.from == p.entry.to) p.forced = Code::kInvalid;
    } else if (dice < 450) {
      const int a = Agent();
      p.entry = Signed(cast_.id, MakeTransfer(id, cast_.provider(a), cast_.team(Team()), Amount()),
                       cast_.agents[a]);
    } else if (dice < 500) {
      // Now and then a mint big enough to overflow the total.
      const MicroPlume amount = Uniform(0, 199) == 0 ? MicroPlume(INT64_MAX / 3) : Amount();
      p.entry =
          Signed(cast_.id,
                 MakeMint(id, Uniform(0, 1) ? cast_.team(Team()) : cast_.provider(Agent()), amount),
                 cast_.operator_id);
    } else if (dice < 620) {
      p.entry = Hold(id);
    } else if (dice < 800) {
      p.entry = Settle(id);
    } else if (dice < 840) {
      Job& job = RandomJob();
      // Mostly the right team; sometimes another (kHoldOwnerMismatch).
      const int team = Uniform(0, 9) == 0 ? Team() : job.team;
      p.entry = Signed(cast_.id, MakeRelease(id, job.id, cast_.team(team)), cast_.ledger);
    } else if (dice < 900) {
      const int a = Agent();
      const PublicKey& k = cast_.agents[a].public_key();
      const int kind = Uniform(0, 2);
      if (kind == 0) p.entry = Signed(cast_.id, MakeStake(id, k, Amount()), cast_.agents[a]);
      if (kind == 1)
        p.entry = Signed(cast_.id, MakeUnstake(id, k, Amount()), cast_.agents[a], cast_.ledger);
      if (kind == 2) p.entry = Signed(cast_.id, MakeSlash(id, k, Amount()), cast_.operator_id);
    } else if (dice < 910) {
      p.entry = Signed(cast_.id, MakeOpenAccount(id, cast_.team(Team())), cast_.teams[0]);
      // Only team 0 may open its own account (and it exists); others need their own key.
      p.forced = p.entry.to == cast_.team(0) ? Code::kAccountExists : Code::kBadSignature;
    } else if (dice < 930) {
      const int from = Team();
      p.entry = Signed(
          cast_.id, MakeTransfer(id, cast_.team(from), cast_.team((from + 1) % 8), MicroPlume(0)),
          cast_.teams[from]);
      p.forced = Code::kInvalid;
    } else {
      // A forged or broken signature: spend from a team with someone else's key.
      const int from = Team();
      p.entry =
          Signed(cast_.id, MakeTransfer(id, cast_.team(from), cast_.team((from + 1) % 8), Amount()),
                 cast_.teams[(from + 1) % 8]);
      p.forced = Code::kBadSignature;
    }
    if (pool_.size() == kRetryPool) pool_.pop_front();
    pool_.push_back(p);
    return p;
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int Team() { return Uniform(0, 7); }
  int Agent() { return Uniform(0, 5); }
  MicroPlume Amount() {
    // Mostly small, sometimes more than any balance.
    const int kind = Uniform(0, 9);
    if (kind == 0) return MicroPlume(std::uniform_int_distribution<int64_t>(1, INT64_MAX)(rng_));
    return MicroPlume(std::uniform_int_distribution<int64_t>(1, 5'000'000)(rng_));
  }
  Job& RandomJob() {
    if (jobs_.empty() || (jobs_.size() < kJobsMax && Uniform(0, 9) == 0)) {
      jobs_.push_back(Job{"job-" + std::to_string(jobs_.size()), Team()});
    }
    return jobs_[Uniform(0, static_cast<int>(jobs_.size()) - 1)];
  }
  Entry Hold(const std::string& id) {
    Job& job = RandomJob();
    const int team = Uniform(0, 19) == 0 ? Team() : job.team;
    return Signed(cast_.id, MakeEscrowHold(id, cast_.team(team), job.id, Amount()),
                  cast_.teams[team]);
  }
  Entry Settle(const std::string& id) {
    Job& job = RandomJob();
    // One in five reuses an earlier task id: a duplicate receipt that must pay nothing.
    const int task =
        job.next_task > 0 && Uniform(0, 4) == 0 ? Uniform(0, job.next_task - 1) : job.next_task++;
    const uint64_t flops =
        std::uniform_int_distribution<uint64_t>(0, 20'000'000'000'000'000ULL)(rng_);
    const uint64_t price = std::uniform_int_distribution<uint64_t>(0, 100'000)(rng_);
    const uint32_t fee = static_cast<uint32_t>(Uniform(0, 1000));
    const TaskReceipt r =
        test::MakeSignedReceipt(cast_.id, job.id, "task-" + std::to_string(task),
                                cast_.agents[Agent()], cast_.ledger, flops, price, fee);
    return Signed(cast_.id, MakeSettle(id, r), cast_.ledger);
  }

  std::mt19937_64 rng_;
  test::Cast cast_;
  std::vector<Job> jobs_;
  std::deque<Planned> pool_;
  uint64_t counter_ = 0;
};

std::map<std::string, MicroPlume> Sorted(const State& s) {
  return std::map<std::string, MicroPlume>(s.balances().begin(), s.balances().end());
}

TEST(LedgerProperty, RandomOperationsKeepInvariantsAndReplay) {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("PLUME_LEDGER_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::cout << "ledger property test seed: " << seed << " (PLUME_LEDGER_SEED to replay)\n";
  RecordProperty("seed", std::to_string(seed));
  Generator gen(seed);
  test::Cast& cast = gen.cast();
  test::TempDir dir;
  LedgerOptions options = cast.options();
  options.verify_threads = 2;
  options.snapshot_every_entries = 20'000;  // reopens start from a snapshot
  const auto open = [&] {
    auto l = Ledger::Open(dir.path(), cast.ledger, cast.operator_id.public_key(), options);
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
    return l ? std::move(*l) : nullptr;
  };
  std::unique_ptr<Ledger> ledger = open();
  ASSERT_TRUE(ledger);
  State model;
  std::vector<Planned> batch;
  for (const Entry& e : test::Genesis(cast, MicroPlume(1'000'000'000'000))) {
    batch.push_back(Planned{e, Code::kOk});
  }
  int done = 0;
  bool reopened = false;
  std::map<Code, int> seen;
  while (done < kOperations) {
    while (batch.size() < kBatchEntries) batch.push_back(gen.Next());
    std::vector<Entry> entries;
    std::vector<ApplyResult> expected;
    for (const Planned& p : batch) {
      entries.push_back(p.entry);
      ApplyResult want{p.forced, 0};
      if (p.forced == Code::kOk) want = model.Apply(p.entry, BodyHash(p.entry));
      expected.push_back(want);
      auto inv = model.CheckInvariants();
      ASSERT_TRUE(inv.has_value()) << "seed " << seed << ": " << inv.error().message;
    }
    auto got = ledger->Append(entries);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    for (size_t i = 0; i < entries.size(); ++i) {
      ASSERT_EQ((*got)[i].code, expected[i].code)
          << "seed " << seed << " op " << done + i << " " << EntryTypeName(entries[i].type)
          << " ledger=" << CodeName((*got)[i].code) << " model=" << CodeName(expected[i].code);
      if (expected[i].code == Code::kOk || expected[i].code == Code::kIdExists) {
        ASSERT_EQ((*got)[i].index, expected[i].index);
      }
      ++seen[expected[i].code];
    }
    done += static_cast<int>(entries.size());
    batch.clear();
    if (!reopened && done >= kOperations / 2) {
      const SignedTreeHead head = ledger->Head();
      ledger.reset();
      ledger = open();
      ASSERT_TRUE(ledger);
      EXPECT_TRUE(ledger->opened_from_snapshot());
      EXPECT_EQ(ledger->Head(), head);
      EXPECT_EQ(Sorted(ledger->StateCopy()), Sorted(model));
      reopened = true;
    }
  }
  // Every interesting answer actually happened in this run.
  for (Code c : {Code::kOk, Code::kIdExists, Code::kInvalid, Code::kBadSignature,
                 Code::kInsufficientBalance, Code::kOverflow, Code::kHoldClosed,
                 Code::kHoldExceeded, Code::kDuplicateReceipt, Code::kAccountExists}) {
    EXPECT_GT(seen[c], 0) << CodeName(c);
  }
  const SignedTreeHead head = ledger->Head();
  EXPECT_EQ(Sorted(ledger->StateCopy()), Sorted(model));
  ledger.reset();
  ledger = open();
  ASSERT_TRUE(ledger);
  EXPECT_EQ(ledger->Head(), head);
  EXPECT_EQ(Sorted(ledger->StateCopy()), Sorted(model));
  EXPECT_EQ(ledger->StateCopy().minted(), model.minted());
  ledger.reset();
  auto report = Verify(dir.path());
  ASSERT_TRUE(report.has_value());
  ASSERT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->balances, Sorted(model));
  EXPECT_EQ(report->entries, model.entry_count());
}

}  // namespace
}  // namespace plume::ledger
