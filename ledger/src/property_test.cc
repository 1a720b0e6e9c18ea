// Property test: a long seeded random sequence of operations (transfers, mints, holds,
// settles, duplicate receipts, releases, stakes, unstakes, withdraws right and wrong, slashes
// with clawback/compensation/finder/treasury legs reaching into tranches, duplicate slashes,
// dataset publishes, revokes (by the owner or not), data-access records (with grants right,
// forged, for unknown datasets), settles paying royalties right and wrong, retries, forged
// signatures, overflowing amounts) goes through the Ledger in batches. A model
// State applies the same entries one at a time with the invariants checked after every single
// one, and the Ledger must answer every entry exactly as the model does. Reopening (midway and
// at the end) must replay to the same balances, tranches and head, and Verify must recompute
// the same balances from the log alone. The generator reads the model (what is withdrawable,
// what is slashable), so most stake operations are ones that can succeed. Governance entries
// (property_gov.h: proposals with deposits, votes, outcomes refunding or burning, executions
// and grants, early and late ones) go through the same path; a governance book is fed every
// applied entry, its outcomes are the ones appended, and at the end gov::Recount over the log
// alone must agree with every outcome.
//
// Seed: random per run and printed; set PLUME_LEDGER_SEED to replay one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <iostream>
#include <random>
#include <set>

#include "plume/gov/book.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/verdict.h"
#include "plume/ledger/verify.h"
#include "property_gov.h"
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

struct Fault {
  std::string job;
  std::string task;
};

struct Planned {
  Entry entry;
  Code forced = Code::kOk;  // kOk: the model decides; else the code the entry must get
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed), cast_(8, 6), gov_(rng_, cast_) {}
  test::Cast& cast() { return cast_; }

  // `model` is the state every earlier entry left: what withdraws and slashes are sized by.
  Planned Next(const State& model, const gov::Book& book) {
    now_ms_ += static_cast<uint64_t>(Uniform(0, 20));
    const int dice = Uniform(0, 999);
    const std::string id = "op-" + std::to_string(counter_++);
    Planned p;
    if (dice < 50 && !pool_.empty()) return pool_[Uniform(0, static_cast<int>(pool_.size()) - 1)];
    if (dice < 108) {
      p = DataOperation(id);
    } else if (dice < 120) {
      p = CheckpointOperation();
    } else if (dice < 128) {
      p = VerdictOperation();
    } else if (dice < 400) {
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
    } else if (dice < 920) {
      p = StakeOperation(id, model);
    } else if (dice < 960) {
      test::GovPlanned g = gov_.Next(id, model, book, now_ms_);
      p.entry = std::move(g.entry);
      p.forced = g.forced;
    } else if (dice < 970) {
      p.entry = Signed(cast_.id, MakeOpenAccount(id, cast_.team(Team())), cast_.teams[0]);
      // Only team 0 may open its own account (and it exists); others need their own key.
      p.forced = p.entry.to == cast_.team(0) ? Code::kAccountExists : Code::kBadSignature;
    } else if (dice < 985) {
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
  int64_t Uniform64(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  int64_t Bal(const State& model, const std::string& account) {
    return model.Balance(account).value_or(MicroPlume(0)).value();
  }

  Planned StakeOperation(const std::string& id, const State& model) {
    const int a = Agent();
    const PublicKey& k = cast_.agents[a].public_key();
    const int64_t staked = Bal(model, StakeAccount(k));
    Planned p;
    const int kind = Uniform(0, 9);
    if (kind <= 1) {
      p.entry = Signed(cast_.id, MakeStake(id, k, Amount()), cast_.agents[a]);
    } else if (kind <= 3) {
      // Half the time a part of the stake, so that tranches pile up.
      const MicroPlume amount =
          staked > 0 && Uniform(0, 1) == 0 ? MicroPlume(Uniform64(1, staked)) : Amount();
      const uint64_t release = now_ms_ + static_cast<uint64_t>(Uniform(0, 5000));
      const Entry e = MakeUnstake(id, k, amount, release);
      if (Uniform(0, 9) == 0) {
        p.entry = Signed(cast_.id, e, cast_.agents[a]);  // without the ledger key
        p.forced = Code::kBadSignature;
      } else {
        p.entry = Signed(cast_.id, e, cast_.agents[a], cast_.ledger);
      }
    } else if (kind <= 5) {
      // Mostly exactly what is released; sometimes one off, or at an earlier time.
      uint64_t at = now_ms_;
      if (Uniform(0, 9) == 0) at -= std::min<uint64_t>(at, static_cast<uint64_t>(Uniform(1, 3000)));
      int64_t amount = model.Withdrawable(k, at).value();
      if (amount == 0 || Uniform(0, 9) == 0) amount += Uniform(0, 1) == 0 ? 1 : -1;
      p.entry = Signed(cast_.id, MakeWithdraw(id, k, MicroPlume(amount), at), cast_.ledger);
      if (amount <= 0) p.forced = Code::kInvalid;
    } else {
      p = Slash(id, a, staked + Bal(model, UnbondAccount(k)));
    }
    return p;
  }

  // A slash of agent `a` for a new fault (or, one in six, one slashed before), sized within what
  // is slashable most of the time, its legs filled in the scheduler's order.
  Planned Slash(const std::string& id, int a, int64_t slashable) {
    Planned p;
    Fault fault;
    if (!faults_.empty() && Uniform(0, 5) == 0) {
      fault = faults_[Uniform(0, static_cast<int>(faults_.size()) - 1)];
    } else {
      fault = Fault{RandomJob().id, "fault-" + std::to_string(counter_)};
      faults_.push_back(fault);
    }
    int team = 0;
    for (const Job& j : jobs_) {
      if (j.id == fault.job) team = j.team;
    }
    const TaskReceipt r = test::MakeSignedReceipt(cast_.id, fault.job, fault.task, cast_.agents[a],
                                                  cast_.ledger, 1'000'000'000'000'000ULL, 100, 0);
    int64_t amount = slashable > 0 ? Uniform64(1, slashable) : Amount().value();
    if (Uniform(0, 9) == 0) amount = slashable + 1;  // more than there is
    std::vector<Leg> legs;
    int64_t rest = amount;
    const auto fill = [&](LegKind kind, std::string account, int64_t want) {
      const int64_t take = std::min(rest, want);
      if (take > 0) legs.push_back(Leg{kind, std::move(account), MicroPlume(take)});
      rest -= take;
    };
    fill(LegKind::kClawback, cast_.team(team), Uniform64(0, 400'000));
    fill(LegKind::kCompensation, cast_.team(team), Uniform64(0, 400'000));
    fill(LegKind::kFinder, cast_.provider((a + 1 + Uniform(0, 4)) % 6), Uniform64(0, 200'000));
    fill(LegKind::kTreasury, std::string(kTreasury), rest);
    const Entry e = MakeSlash(id, r, MicroPlume(amount), std::move(legs),
                              "fault " + fault.task + " caf\xc3\xa9");
    const int signer = Uniform(0, 19);
    if (signer == 0) {
      p.entry = Signed(cast_.id, e, cast_.agents[a]);
      p.forced = Code::kBadSignature;
    } else if (signer == 1 && e.legs.size() > 0) {
      Entry wrong = e;  // a finder's fee to a team
      wrong.legs.back().kind = LegKind::kFinder;
      wrong.legs.back().account = cast_.team(team);
      p.entry = Signed(cast_.id, wrong, cast_.ledger);
      p.forced = Code::kInvalid;
    } else {
      p.entry = Signed(cast_.id, e, signer % 2 == 0 ? cast_.ledger : cast_.operator_id);
    }
    return p;
  }

  // Publish, revoke, access or a settle with royalties. Datasets are owned by teams; the
  // generator remembers every terms it published (applied or not), so later entries name
  // datasets that exist, were never published, or were revoked.
  Planned DataOperation(const std::string& id) {
    Planned p;
    const int kind = Uniform(0, 9);
    if (kind <= 1 || datasets_.empty()) {
      data::Terms t;
      const int owner = Team();
      t.owner = cast_.teams[owner].public_key();
      t.name = "set " + id;
      // Mostly data the test receipts name as inputs; sometimes data no receipt reads.
      t.blob_hash = Blake2b256(Uniform(0, 9) == 0 ? "unread" : (Uniform(0, 1) ? "input-a" : "input-b"));
      t.tokens = t.bytes = static_cast<uint64_t>(Uniform64(1, 1'000'000'000));
      t.encrypted = Uniform(0, 2) != 0;
      if (t.encrypted) t.key_service = "tcp://owner:7700";
      t.any_team = true;
      t.royalty_micro_plume_per_mtoken = static_cast<uint64_t>(Uniform64(0, 20'000));
      datasets_.push_back(Published{t, owner});
      // One in eight is never published: later entries that name it meet kUnknownDataset.
      if (Uniform(0, 7) == 0) {
        p.entry = Signed(cast_.id, MakeDatasetPublish(t), cast_.teams[(owner + 1) % 8]);
        p.forced = Code::kBadSignature;
        return p;
      }
      p.entry = Signed(cast_.id, MakeDatasetPublish(t), cast_.teams[owner]);
      return p;
    }
    const Published& d = datasets_[Uniform(0, static_cast<int>(datasets_.size()) - 1)];
    if (kind <= 2) {
      // Mostly the owner; sometimes another team naming itself (kBadSignature from the rules).
      const int signer = Uniform(0, 4) == 0 ? Team() : d.owner;
      p.entry = Signed(
          cast_.id, MakeDatasetRevoke({data::DatasetId(d.terms), cast_.teams[signer].public_key()}),
          cast_.teams[signer]);
      return p;
    }
    if (kind <= 5) {
      data::Grant g;
      g.dataset = data::DatasetId(d.terms);
      g.job = RandomJob().id;
      g.task = "task-" + std::to_string(counter_);
      g.attempt = 1;
      g.agent = cast_.agents[Agent()].public_key();
      g.issued_unix_ms = now_ms_;
      g.expires_unix_ms = now_ms_ + 60'000;
      const bool forged = Uniform(0, 9) == 0;
      g.scheduler_signature =
          data::SignGrant(g, cast_.id, forged ? cast_.agents[0] : cast_.ledger);
      p.entry = Signed(cast_.id,
                       MakeDataAccess(data::AccessRecord{d.terms.owner, g, now_ms_ + 10}),
                       cast_.teams[d.owner]);
      if (forged) p.forced = Code::kBadSignature;
      return p;
    }
    // A settle paying one to three datasets' royalties (distinct), now and then one wrong leg.
    Entry e = Settle(id);
    std::vector<RoyaltyPart> parts;
    std::set<std::string> named;
    for (int n = Uniform(0, 3) == 0 ? 3 : 1; n > 0; --n) {
      const Published& pick = datasets_[Uniform(0, static_cast<int>(datasets_.size()) - 1)];
      const uint64_t tokens = static_cast<uint64_t>(Uniform64(1, 10'000'000));
      auto part = MakeRoyaltyPart(pick.terms, tokens);
      if (part && named.insert(part->claim.dataset).second) parts.push_back(*part);
    }
    if (!parts.empty() && Uniform(0, 9) == 0) {
      parts.back().leg.amount = MicroPlume(parts.back().leg.amount.value() + 1);
    }
    p.entry = Signed(cast_.id, MakeRoyaltySettle(id, *e.receipt, parts), cast_.ledger);
    return p;
  }

  // A round's checkpoint (lineage.h): mostly well formed and signed by the ledger key, so the
  // same round again is kIdExists (same fact) or kIdConflict (another); sometimes signed by a
  // team (kBadSignature) or under an id that names another round (kInvalid).
  Planned CheckpointOperation() {
    Planned p;
    CheckpointFact f;
    f.round = static_cast<uint32_t>(Uniform(0, 3));
    f.final = Uniform(0, 1) == 1;
    f.params_in = Blake2b256("params-" + std::to_string(f.round));
    f.params_out = Blake2b256("params-" + std::to_string(f.round + Uniform(1, 2)));
    for (int w = Uniform(1, 3); w > 0; --w) {
      f.deltas.push_back(Blake2b256("delta-" + std::to_string(Uniform(0, 5))));
      f.weights.push_back(static_cast<uint64_t>(Uniform(1, 4096)));
    }
    f.outer_lr = 0.7;
    f.outer_momentum = 0.9;
    const int kind = Uniform(0, 9);
    // The refused ones get ids no entry has, so that the answer is the refusal, not kIdExists.
    const std::string fresh = "job-x" + std::to_string(counter_++);
    Entry e = MakeCheckpoint(kind <= 1 ? fresh : RandomJob().id, f);
    if (kind == 0) {
      e.id = CheckpointEntryId(e.job, f.round + 1);
      p.forced = Code::kInvalid;
    }
    p.entry = Signed(cast_.id, std::move(e), kind == 1 ? cast_.teams[Team()] : cast_.ledger);
    if (kind == 1) p.forced = Code::kBadSignature;
    return p;
  }

  // An audit's verdict (verdict.h): moves nothing, so the invariants must hold around it; mostly
  // well formed and signed by the ledger key (the same task again is kIdExists or kIdConflict);
  // sometimes signed by a team (kBadSignature), carrying money (kInvalid) or a body that does
  // not decode (kInvalid).
  Planned VerdictOperation() {
    Planned p;
    VerdictFact f;
    f.task = "t" + std::to_string(Uniform(0, 5));
    f.policy = "audit/1";
    for (int r = Uniform(2, 3); r > 0; --r) {
      f.runs.push_back(VerdictRun{"v-run-" + std::to_string(Uniform(1, 99)),
                                  Blake2b256("out-" + std::to_string(Uniform(0, 2)))});
    }
    // The outcome its runs' outputs give (verdict.h): Verify fails any other.
    const Hash256 &o = f.runs[0].output, &a = f.runs[1].output;
    f.outcome = o == a                  ? VerdictOutcome::kMatched
                : f.runs.size() < 3     ? VerdictOutcome::kUndecided
                : f.runs[2].output == a ? VerdictOutcome::kOriginalFaulty
                : f.runs[2].output == o ? VerdictOutcome::kAuditorFaulty
                                        : VerdictOutcome::kUndecided;
    const int kind = Uniform(0, 9);
    const std::string fresh = "v" + std::to_string(counter_++);
    if (kind <= 2) f.task = fresh;  // refused below: an id no entry has
    Entry e = MakeVerdict(RandomJob().id, f);
    if (kind == 0) {
      e.amount = MicroPlume(1);
      p.forced = Code::kInvalid;
    } else if (kind == 1) {
      e.body.push_back(0);
      p.forced = Code::kInvalid;
    }
    p.entry = Signed(cast_.id, std::move(e), kind == 2 ? cast_.teams[Team()] : cast_.ledger);
    if (kind == 2) p.forced = Code::kBadSignature;
    return p;
  }

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
  test::GovGenerator gov_;
  std::vector<Job> jobs_;
  std::deque<Planned> pool_;
  std::vector<Fault> faults_;
  struct Published {
    data::Terms terms;
    int owner;
  };
  std::vector<Published> datasets_;
  uint64_t counter_ = 0;
  uint64_t now_ms_ = 1'700'000'000'000;
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
  gov::Book book;
  int done = 0;
  bool reopened = false;
  std::map<Code, int> seen;
  std::map<std::pair<EntryType, Code>, int> seen_by_type;
  int slashes_into_tranches = 0;
  int royalty_settles = 0;
  std::vector<Entry> entries;
  std::vector<ApplyResult> expected;
  // Plans one entry: the model answers it now (and must keep its invariants), so the next entry
  // is generated from the state this one left.
  const auto plan = [&](const Planned& p) {
    entries.push_back(p.entry);
    const Entry& e = p.entry;
    const int64_t staked =
        e.type == EntryType::kSlash ? model.Balance(e.from).value_or(MicroPlume(0)).value() : 0;
    ApplyResult want{p.forced, 0};
    if (p.forced == Code::kOk) want = model.Apply(e, BodyHash(e));
    expected.push_back(want);
    if (want.code == Code::kOk) {
      auto s = book.Apply(want.index, e);
      ASSERT_TRUE(s.has_value()) << "seed " << seed << ": " << s.error().message;
    }
    if (want.code == Code::kOk && e.type == EntryType::kSlash && e.amount.value() > staked) {
      ++slashes_into_tranches;
    }
    if (want.code == Code::kOk && e.type == EntryType::kSettle && !e.legs.empty()) {
      ++royalty_settles;
    }
    auto inv = model.CheckInvariants();
    ASSERT_TRUE(inv.has_value()) << "seed " << seed << ": " << inv.error().message;
  };
  for (const Entry& e : test::Genesis(cast, MicroPlume(1'000'000'000'000))) {
    plan(Planned{e, Code::kOk});
  }
  const auto same_tranches = [&](const Ledger& l) {
    for (const Identity& agent : cast.agents) {
      EXPECT_EQ(l.Unbonding(agent.public_key()), model.Unbonding(agent.public_key()));
    }
  };
  while (done < kOperations) {
    while (entries.size() < kBatchEntries) {
      plan(gen.Next(model, book));
      if (::testing::Test::HasFatalFailure()) return;
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
      ++seen_by_type[{entries[i].type, expected[i].code}];
    }
    done += static_cast<int>(entries.size());
    entries.clear();
    expected.clear();
    if (!reopened && done >= kOperations / 2) {
      const SignedTreeHead head = ledger->Head();
      ledger.reset();
      ledger = open();
      ASSERT_TRUE(ledger);
      EXPECT_TRUE(ledger->opened_from_snapshot());
      EXPECT_EQ(ledger->Head(), head);
      EXPECT_EQ(Sorted(ledger->StateCopy()), Sorted(model));
      EXPECT_EQ(ledger->StateCopy().proposals(), model.proposals());
      same_tranches(*ledger);
      reopened = true;
    }
  }
  // Every interesting answer actually happened in this run.
  for (Code c :
       {Code::kOk, Code::kIdExists, Code::kInvalid, Code::kBadSignature, Code::kInsufficientBalance,
        Code::kOverflow, Code::kHoldClosed, Code::kHoldExceeded, Code::kDuplicateReceipt,
        Code::kAccountExists, Code::kDuplicateSlash, Code::kNotReleased, Code::kUnknownDataset,
        Code::kBadRoyalty}) {
    EXPECT_GT(seen[c], 0) << CodeName(c);
  }
  for (EntryType t : {EntryType::kStake, EntryType::kUnstake, EntryType::kWithdraw,
                      EntryType::kSlash, EntryType::kDatasetPublish, EntryType::kDatasetRevoke,
                      EntryType::kDataAccess, EntryType::kCheckpoint, EntryType::kVerdict}) {
    EXPECT_GT((seen_by_type[{t, Code::kOk}]), 0) << EntryTypeName(t);
  }
  EXPECT_GT((seen_by_type[{EntryType::kSlash, Code::kInsufficientBalance}]), 0);
  for (EntryType t : {EntryType::kGovProposal, EntryType::kGovVote, EntryType::kGovOutcome,
                      EntryType::kGovExecution}) {
    EXPECT_GT((seen_by_type[{t, Code::kOk}]), 0) << EntryTypeName(t);
  }
  for (Code c : {Code::kUnknownProposal, Code::kVotingClosed, Code::kVotingOpen,
                 Code::kNotAdopted, Code::kTimelocked}) {
    EXPECT_GT(seen[c], 0) << CodeName(c);
  }
  // Deposits burned by vetoes, grants paid from the treasury.
  EXPECT_GT(book.outcomes(OutcomeResult::kVetoed), 0u);
  EXPECT_GT(model.Balance(kBurned).value_or(MicroPlume(0)).value(), 0);
  int grants = 0;
  for (const auto& [pid, p] : model.proposals()) grants += p.executed && p.kind == ProposalKind::kGrant;
  EXPECT_GT(grants, 0);
  std::cout << "gov: " << model.proposals().size() << " proposals, passed "
            << book.outcomes(OutcomeResult::kPassed) << ", vetoed "
            << book.outcomes(OutcomeResult::kVetoed) << ", no quorum "
            << book.outcomes(OutcomeResult::kNoQuorum) << ", rejected "
            << book.outcomes(OutcomeResult::kRejected) << ", grants " << grants << "\n";
  EXPECT_GT(slashes_into_tranches, 0);
  EXPECT_GT(royalty_settles, 0);
  std::cout << "data ops ok: publish " << seen_by_type[{EntryType::kDatasetPublish, Code::kOk}]
            << ", revoke " << seen_by_type[{EntryType::kDatasetRevoke, Code::kOk}] << ", access "
            << seen_by_type[{EntryType::kDataAccess, Code::kOk}] << ", royalty settles "
            << royalty_settles << "\n";
  std::cout << "stake ops ok: stake " << seen_by_type[{EntryType::kStake, Code::kOk}]
            << ", unstake " << seen_by_type[{EntryType::kUnstake, Code::kOk}] << ", withdraw "
            << seen_by_type[{EntryType::kWithdraw, Code::kOk}] << ", slash "
            << seen_by_type[{EntryType::kSlash, Code::kOk}] << " (" << slashes_into_tranches
            << " reaching tranches)\n";
  const SignedTreeHead head = ledger->Head();
  EXPECT_EQ(Sorted(ledger->StateCopy()), Sorted(model));
  ledger.reset();
  ledger = open();
  ASSERT_TRUE(ledger);
  EXPECT_EQ(ledger->Head(), head);
  EXPECT_EQ(Sorted(ledger->StateCopy()), Sorted(model));
  EXPECT_EQ(ledger->StateCopy().minted(), model.minted());
  same_tranches(*ledger);
  ledger.reset();
  auto report = Verify(dir.path());
  ASSERT_TRUE(report.has_value());
  ASSERT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->balances, Sorted(model));
  EXPECT_EQ(report->entries, model.entry_count());
  // Every tally recounted from the log alone matches its outcome.
  ledger = open();
  ASSERT_TRUE(ledger);
  std::vector<Entry> logged;
  ASSERT_TRUE(ledger->ForEachEntry(0, [&](const LoggedEntry& l) {
    logged.push_back(l.entry);
    return true;
  }));
  const gov::RecountReport recount = gov::Recount(logged);
  EXPECT_TRUE(recount.ok) << recount.problem;
  EXPECT_EQ(recount.outcomes, book.outcomes(OutcomeResult::kPassed) +
                                  book.outcomes(OutcomeResult::kVetoed) +
                                  book.outcomes(OutcomeResult::kNoQuorum) +
                                  book.outcomes(OutcomeResult::kRejected));
}

}  // namespace
}  // namespace plume::ledger
