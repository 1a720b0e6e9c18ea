// `plume lineage`'s pure chain (cli/src/lineage.h) on a real ledger written through the library:
// an owner publishes a dataset; a two-round training job reads it (settles with royalty claims,
// one checkpoint entry per round); an inference job reads the model the job made. The chain of
// an inference output reaches the dataset and its owner through proven entries, and each
// breakage fails: a wrong checkpoint, a tampered proof, a proof under another key, a dataset the
// step did not read, a dropped royalty claim, a missing round, a blob no entry produced.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "lineage.h"
#include "plume/data/terms.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/receipt.h"

namespace plume::cli {
namespace {

namespace fs = std::filesystem;
using namespace plume::ledger;

class LineageChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("plume-lineage-" + std::to_string(std::random_device{}()));
    auto l = Ledger::Open(dir_, scheduler_, operator_.public_key());
    ASSERT_TRUE(l.has_value()) << l.error().message;
    ledger_ = std::move(*l);
    id_ = ledger_->keys().ledger_id;
    const std::string team = TeamAccount(team_.public_key());
    Append({Signed(MakeOpenAccount("open-team", team), team_),
            Signed(MakeMint("mint", team, MicroPlume(1'000'000)), operator_),
            Signed(MakeEscrowHold("hold-train", team, "job-train", MicroPlume(100000)), team_),
            Signed(MakeEscrowHold("hold-infer", team, "job-infer", MicroPlume(100000)), team_),
            Signed(MakeEscrowHold("hold-upload", team, "job-upload", MicroPlume(100000)), team_)});
    for (size_t w = 0; w < workers_.size(); ++w) {
      const std::string provider = ProviderAccount(workers_[w].public_key());
      Append({Signed(MakeOpenAccount("open-w" + std::to_string(w), provider), scheduler_)});
    }
    terms_.owner = owner_.public_key();
    terms_.name = "corpus";
    terms_.blob_hash = Blake2b256("the owner's text");
    terms_.bytes = terms_.tokens = 10'000;
    terms_.any_team = true;
    terms_.royalty_micro_plume_per_mtoken = 1'000'000;
    Append({Signed(MakeDatasetPublish(terms_), owner_)});
    // Training: round r starts from params[r] and makes params[r + 1] from two workers' deltas.
    for (uint32_t r = 0; r < 2; ++r) {
      CheckpointFact f;
      f.round = r;
      f.final = r == 1;
      f.params_in = Params(r);
      f.params_out = Params(r + 1);
      for (int w = 0; w < 2; ++w) {
        const Hash256 delta = Blake2b256("delta " + std::to_string(r) + "/" + std::to_string(w));
        Settle("job-train", std::to_string(10 * r + w), workers_[w], {Params(r), terms_.blob_hash},
               delta, 2048);
        f.deltas.push_back(delta);
        f.weights.push_back(2048);
      }
      Append({Signed(MakeCheckpoint("job-train", f), scheduler_)});
    }
    Settle("job-infer", "100", workers_[1], {Params(2), Blake2b256("tokenizer")}, output_, 0);
  }
  void TearDown() override {
    ledger_.reset();
    fs::remove_all(dir_);
  }

  static Hash256 Params(uint32_t round) { return Blake2b256("params " + std::to_string(round)); }
  Entry Signed(Entry e, const Identity& by) {
    e.signatures.push_back(SignEntry(e, id_, by));
    return e;
  }
  void Append(const std::vector<Entry>& entries) {
    auto got = ledger_->Append(entries);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    for (const ApplyResult& a : *got) ASSERT_EQ(a.code, Code::kOk) << CodeName(a.code);
  }
  // A settle of a task by `agent`; with tokens > 0 it pays the dataset's royalty for them.
  void Settle(const std::string& job, const std::string& task, const Identity& agent,
              std::vector<Hash256> inputs, const Hash256& output, uint64_t tokens) {
    const TaskReceipt r = Receipt(job, task, agent, std::move(inputs), output);
    std::vector<RoyaltyPart> parts;
    if (tokens > 0) parts.push_back(*MakeRoyaltyPart(terms_, tokens));
    Entry e = parts.empty() ? MakeSettle("settle:" + job + "/" + task, r)
                            : MakeRoyaltySettle("settle:" + job + "/" + task, r, parts);
    Append({Signed(std::move(e), scheduler_)});
  }
  TaskReceipt Receipt(const std::string& job, const std::string& task, const Identity& agent,
                      std::vector<Hash256> inputs, const Hash256& output) {
    TaskReceipt r;
    r.job_id = job;
    r.task_id = task;
    r.attempt = 1;
    r.input_hashes = std::move(inputs);
    r.output_hash = output;
    r.flops = 1'000'000'000'000'000ULL;
    r.device = "cpu";
    r.kernel_build = "test";
    r.agent = agent.public_key();
    r.agent_signature = SignAsAgent(r, id_, agent);
    r.price_micro_plume_per_pflop = 1;
    r.scheduler_signature = Countersign(r, id_, scheduler_);
    return r;
  }
  EntryIndex Entries() const {
    EntryIndex out;
    auto st = ledger_->ForEachEntry(0, [&](const LoggedEntry& l) {
      if (IsLineageEntry(l.entry)) out.emplace(l.index, l);
      return true;
    });
    EXPECT_TRUE(st.has_value());
    return out;
  }
  ProofSource Proofs() const {
    return [this](uint64_t index) -> std::optional<InclusionBundle> {
      auto b = ledger_->ProveInclusion(index);
      if (!b) return std::nullopt;
      return *b;
    };
  }
  LineageCheck Check(const Lineage& l) const {
    return CheckLineage(l, Proofs(), scheduler_.public_key());
  }
  static std::string Problems(const LineageCheck& c) {
    std::string out;
    for (const std::string& p : c.problems) out += p + "\n";
    return out;
  }

  fs::path dir_;
  Identity scheduler_ = Identity::Generate();
  Identity operator_ = Identity::Generate();
  Identity team_ = Identity::Generate();
  Identity owner_ = Identity::Generate();
  std::vector<Identity> workers_{Identity::Generate(), Identity::Generate()};
  std::unique_ptr<Ledger> ledger_;
  LedgerId id_{};
  data::Terms terms_;
  const Hash256 output_ = Blake2b256("completions");
};

TEST_F(LineageChecks, AnInferenceOutputReachesTheDatasetAndItsOwnerAndVerifies) {
  const Lineage l = BuildLineage(ToHex(output_), Entries());
  EXPECT_TRUE(l.gaps.empty()) << l.gaps.front();
  EXPECT_EQ(l.job, "job-infer");
  ASSERT_EQ(l.outputs.size(), 1u);
  EXPECT_EQ(l.outputs[0].agent, workers_[1].public_key());
  ASSERT_TRUE(l.model.has_value());
  EXPECT_EQ(l.model->checkpoint, Params(2));
  EXPECT_EQ(l.model->job, "job-train");
  ASSERT_EQ(l.model->rounds.size(), 2u);
  EXPECT_EQ(l.model->rounds[0].round, 1u);
  EXPECT_TRUE(l.model->rounds[0].final);
  for (const RoundLink& r : l.model->rounds) {
    ASSERT_EQ(r.workers.size(), 2u);
    for (size_t w = 0; w < 2; ++w) {
      EXPECT_EQ(r.workers[w].agent, workers_[w].public_key());
      ASSERT_EQ(r.workers[w].datasets.size(), 1u);
      EXPECT_EQ(r.workers[w].datasets[0].dataset, data::DatasetId(terms_));
      EXPECT_EQ(r.workers[w].datasets[0].owner, owner_.public_key());
      EXPECT_EQ(r.workers[w].datasets[0].tokens, 2048u);
    }
  }
  const LineageCheck c = Check(l);
  EXPECT_TRUE(c.ok()) << Problems(c);
  // 1 inference settle + 2 checkpoints + 4 worker settles + 4 dataset links.
  EXPECT_EQ(c.links, 11u);
  EXPECT_EQ(c.proofs, l.CitedEntries().size());
  // By job: the same chain.
  const Lineage by_job = BuildLineage("job-infer", Entries());
  EXPECT_TRUE(Check(by_job).ok()) << Problems(Check(by_job));
  EXPECT_EQ(by_job.CitedEntries(), l.CitedEntries());
}

TEST_F(LineageChecks, AWrongCheckpointFails) {
  Lineage l = BuildLineage(ToHex(output_), Entries());
  l.model->checkpoint = Params(1);  // claims the inference read the round-0 model
  EXPECT_FALSE(Check(l).ok());
  Lineage swapped = BuildLineage(ToHex(output_), Entries());
  std::swap(swapped.model->rounds[0].params_out, swapped.model->rounds[1].params_out);
  EXPECT_FALSE(Check(swapped).ok());
  Lineage skipped = BuildLineage(ToHex(output_), Entries());
  skipped.model->rounds.pop_back();  // stops before round 0
  EXPECT_FALSE(Check(skipped).ok());
}

TEST_F(LineageChecks, ATamperedProofOrAnotherKeyFails) {
  const Lineage l = BuildLineage(ToHex(output_), Entries());
  const uint64_t target = l.model->rounds[0].entry;
  ProofSource tampered = [&](uint64_t index) -> std::optional<InclusionBundle> {
    auto b = ledger_->ProveInclusion(index);
    if (!b) return std::nullopt;
    if (index == target) b->logged.entry.body[5] ^= 1;  // another params_in, same leaf claimed
    return *b;
  };
  LineageCheck c = CheckLineage(l, tampered, scheduler_.public_key());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(Problems(c).find("inclusion proof does not verify"), std::string::npos) << Problems(c);
  ProofSource bad_path = [&](uint64_t index) -> std::optional<InclusionBundle> {
    auto b = ledger_->ProveInclusion(index);
    if (!b) return std::nullopt;
    if (index == target && !b->path.empty()) b->path[0][0] ^= 1;
    return *b;
  };
  EXPECT_FALSE(CheckLineage(l, bad_path, scheduler_.public_key()).ok());
  EXPECT_FALSE(CheckLineage(l, Proofs(), operator_.public_key()).ok());
}

TEST_F(LineageChecks, ADatasetTheStepDidNotReadOrAnUnlistedClaimFails) {
  Lineage l = BuildLineage(ToHex(output_), Entries());
  DatasetLink& d = l.model->rounds[1].workers[0].datasets[0];
  d.blob = Blake2b256("some other text");
  EXPECT_FALSE(Check(l).ok());
  Lineage dropped = BuildLineage(ToHex(output_), Entries());
  dropped.model->rounds[1].workers[0].datasets.clear();  // the settle still claims a royalty
  const LineageCheck c = Check(dropped);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(Problems(c).find("which the chain does not list"), std::string::npos) << Problems(c);
  Lineage tokens = BuildLineage(ToHex(output_), Entries());
  tokens.model->rounds[0].workers[1].datasets[0].tokens += 1;
  EXPECT_FALSE(Check(tokens).ok());
  Lineage agent = BuildLineage(ToHex(output_), Entries());
  agent.model->rounds[0].workers[1].agent = owner_.public_key();  // credits someone else
  EXPECT_FALSE(Check(agent).ok());
}

TEST_F(LineageChecks, ABlobNoEntryProducedAndAnUnfinishedChainFail) {
  const Lineage unknown = BuildLineage(ToHex(Blake2b256("never made")), Entries());
  EXPECT_FALSE(unknown.gaps.empty());
  EXPECT_FALSE(Check(unknown).ok());
  // A ledger missing round 0's checkpoint: the chain from the model stops, and says so.
  EntryIndex entries = Entries();
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (it->second.entry.id == CheckpointEntryId("job-train", 0)) {
      entries.erase(it);
      break;
    }
  }
  const Lineage cut = BuildLineage(ToHex(output_), entries);
  ASSERT_FALSE(cut.gaps.empty());
  EXPECT_NE(cut.gaps[0].find("round 0"), std::string::npos) << cut.gaps[0];
  EXPECT_FALSE(Check(cut).ok());
  // A model uploaded by its team (no checkpoint entry made it) is said to be external.
  Settle("job-upload", "1", workers_[0], {Blake2b256("uploaded model")}, Blake2b256("out2"), 0);
  const Lineage external = BuildLineage(ToHex(Blake2b256("out2")), Entries());
  EXPECT_TRUE(external.model_external);
  EXPECT_FALSE(external.model.has_value());
  EXPECT_TRUE(Check(external).ok()) << Problems(Check(external));
}

TEST_F(LineageChecks, ADeltaProvenFaultyAfterItsRoundStaysInTheChainAsSlashed) {
  // Worker 0 stakes; its round-0 delta of job-t2 is averaged, then proven faulty and slashed.
  const std::string provider = ProviderAccount(workers_[0].public_key());
  Append({Signed(MakeMint("mint-w0", provider, MicroPlume(1000)), operator_),
          Signed(MakeStake("stake-w0", workers_[0].public_key(), MicroPlume(500)), workers_[0]),
          Signed(MakeEscrowHold("hold-t2", TeamAccount(team_.public_key()), "job-t2",
                                MicroPlume(1000)),
                 team_)});
  const Hash256 bad = Blake2b256("halved delta");
  const TaskReceipt faulty = Receipt("job-t2", "1", workers_[0], {Params(0)}, bad);
  Append({Signed(MakeSlash("slash:job-t2/r0/w0", faulty, MicroPlume(100),
                           {Leg{LegKind::kTreasury, "treasury", MicroPlume(100)}}, "proven"),
                 scheduler_)});
  CheckpointFact f;
  f.final = true;
  f.params_in = Params(0);
  f.params_out = Blake2b256("t2 model");
  f.deltas = {bad};
  f.weights = {100};
  Append({Signed(MakeCheckpoint("job-t2", f), scheduler_)});

  const Lineage l = BuildLineage("job-t2", Entries());
  ASSERT_TRUE(l.model.has_value());
  ASSERT_EQ(l.model->rounds.size(), 1u);
  ASSERT_EQ(l.model->rounds[0].workers.size(), 1u);
  EXPECT_TRUE(l.model->rounds[0].workers[0].slashed);
  EXPECT_FALSE(l.model->rounds[0].workers[0].settled);
  EXPECT_TRUE(Check(l).ok()) << Problems(Check(l));
  // Claiming the run was paid instead contradicts the entry.
  Lineage paid = l;
  paid.model->rounds[0].workers[0].slashed = false;
  paid.model->rounds[0].workers[0].settled = true;
  EXPECT_FALSE(Check(paid).ok());
}

}  // namespace
}  // namespace plume::cli
