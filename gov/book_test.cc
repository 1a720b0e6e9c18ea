// The governance book: snapshot voting power (stake moved after the proposal does not count,
// twice or at all), vote replacement, the recount catching a wrong outcome, executions applying
// parameters once and only after the timelock of a passed proposal, and what is due when.
#include "plume/gov/book.h"

#include <gtest/gtest.h>

#include "plume/gov/proposal.h"

namespace plume::gov {
namespace {
using ledger::MicroPlume;
using ledger::OutcomeResult;
using ledger::VoteOption;

PublicKey Key(uint8_t b) {
  PublicKey k{};
  k.fill(b);
  return k;
}
const std::string kProposer = "team:" + std::string(64, 'a');
constexpr uint64_t kOpen = 1000;

class BookTest : public ::testing::Test {
 protected:
  void Feed(const ledger::Entry& e) { ASSERT_TRUE(Ok(e)); }
  bool Ok(const ledger::Entry& e) {
    auto s = book_.Apply(index_, e);
    entries_.push_back(e);
    ++index_;
    if (!s) last_error_ = s.error().message;
    return s.has_value();
  }
  void Stake(uint8_t k, int64_t amount) {
    Feed(ledger::MakeStake("s" + std::to_string(index_), Key(k), MicroPlume(amount)));
  }
  void Propose(const std::string& id, const std::string& param, int64_t value) {
    ledger::ProposalBody b;
    b.param = param;
    b.value = value;
    Feed(ledger::MakeProposal(id, kProposer, MicroPlume(100'000'000), kOpen,
                              WithTerms(b, params_, kOpen)));
  }
  void Vote(uint8_t k, const std::string& id, VoteOption o, uint64_t at = kOpen + 1) {
    Feed(ledger::MakeVote("v" + std::to_string(index_), Key(k), at, ledger::VoteBody{id, o}));
  }
  // Appends the outcome the book says is due (as the scheduler does).
  ledger::OutcomeBody Decide(const std::string& id) {
    const uint64_t end = book_.Find(id)->body.voting_end_ms;
    for (const auto& o : book_.DueAt(end).outcomes) {
      if (o.proposal == id) {
        Feed(ledger::MakeOutcome(MicroPlume(100'000'000), kProposer, end, o));
        return o;
      }
    }
    ADD_FAILURE() << "no outcome due for " << id;
    return {};
  }

  Params params_;
  Book book_;
  uint64_t index_ = 0;
  std::vector<ledger::Entry> entries_;
  std::string last_error_;
};

TEST_F(BookTest, StakeMovedAfterTheSnapshotDoesNotCount) {
  Stake(1, 600);
  Stake(2, 400);
  Propose("p1", "fee_bps", 300);
  Vote(1, "p1", VoteOption::kYes);
  // Voter 1 unstakes after voting and stakes again: its power on p1 stays 600.
  Feed(ledger::MakeUnstake("u1", Key(1), MicroPlume(600), 99));
  Stake(1, 50);
  // Voter 3 stakes after the proposal: no power on p1, and the quorum's base is unchanged.
  Stake(3, 5000);
  Vote(3, "p1", VoteOption::kVeto);
  const Tally t = book_.Find("p1")->tally;
  EXPECT_EQ(t.yes.value(), 600);
  EXPECT_EQ(t.veto.value(), 0);
  EXPECT_EQ(t.staked.value(), 1000);
  EXPECT_EQ(t.voters, 2u);
  EXPECT_EQ(book_.PowerOf("p1", ledger::StakeAccount(Key(3))).value(), 0);
  EXPECT_EQ(book_.PowerOf("p1", ledger::StakeAccount(Key(1))).value(), 600);
  EXPECT_EQ(Decide("p1").result, OutcomeResult::kPassed);
}

TEST_F(BookTest, ALaterVoteReplacesTheEarlierOne) {
  Stake(1, 600);
  Stake(2, 400);
  Propose("p1", "fee_bps", 300);
  Vote(1, "p1", VoteOption::kYes);
  Vote(1, "p1", VoteOption::kNo);
  const Tally t = book_.Find("p1")->tally;
  EXPECT_EQ(t.yes.value(), 0);
  EXPECT_EQ(t.no.value(), 600);
  EXPECT_EQ(t.voters, 1u);
  EXPECT_EQ(Decide("p1").result, OutcomeResult::kRejected);
}

TEST_F(BookTest, SlashDuringVotingKeepsTheSnapshotPower) {
  Stake(1, 600);
  Propose("p1", "fee_bps", 300);
  ledger::Entry slash;
  slash.type = ledger::EntryType::kSlash;
  slash.id = "slash";
  slash.from = ledger::StakeAccount(Key(1));
  slash.amount = MicroPlume(200);
  Feed(slash);
  Vote(1, "p1", VoteOption::kYes);
  EXPECT_EQ(book_.Find("p1")->tally.yes.value(), 600);
  EXPECT_EQ(book_.StakeOf(ledger::StakeAccount(Key(1))).value(), 400);
}

TEST_F(BookTest, RecountRefusesAnOutcomeThatDoesNotMatch) {
  Stake(1, 600);
  Stake(2, 400);
  Propose("p1", "fee_bps", 300);
  Vote(1, "p1", VoteOption::kNo);
  Vote(2, "p1", VoteOption::kYes);
  auto due = book_.DueAt(UINT64_MAX).outcomes.at(0);
  EXPECT_EQ(due.result, OutcomeResult::kRejected);
  EXPECT_TRUE(Recount(entries_).ok);
  // A scheduler that claims the proposal passed is caught: by the counts and by the result.
  ledger::OutcomeBody lie = due;
  lie.result = OutcomeResult::kPassed;
  std::vector<ledger::Entry> forged = entries_;
  forged.push_back(ledger::MakeOutcome(MicroPlume(1), kProposer, 1'000'000'000, lie));
  RecountReport r = Recount(forged);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("recount gives rejected"), std::string::npos) << r.problem;
  lie = due;
  lie.yes = MicroPlume(601);
  forged.back() = ledger::MakeOutcome(MicroPlume(1), kProposer, 1'000'000'000, lie);
  EXPECT_FALSE(Recount(forged).ok);
  forged.back() = ledger::MakeOutcome(MicroPlume(1), kProposer, 1'000'000'000, due);
  r = Recount(forged);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.outcomes, 1u);
  EXPECT_EQ(r.votes, 2u);
}

TEST_F(BookTest, ExecutionAppliesAfterTheTimelockOnceAndOnlyIfPassed) {
  Stake(1, 1000);
  Propose("p1", "fee_bps", 300);
  Propose("p2", "slash_bps", 2000);
  Vote(1, "p1", VoteOption::kYes);
  Vote(1, "p2", VoteOption::kNo);
  Decide("p1");
  Decide("p2");
  const uint64_t exec_at = book_.Find("p1")->ExecutableAtMs();
  EXPECT_TRUE(book_.DueAt(exec_at - 1).executions.empty());
  EXPECT_EQ(book_.DueAt(exec_at).executions, std::vector<std::string>{"p1"});
  EXPECT_FALSE(Ok(ledger::MakeExecution("p1", "", MicroPlume(0), exec_at - 1)));
  EXPECT_NE(last_error_.find("timelock"), std::string::npos);
  EXPECT_FALSE(Ok(ledger::MakeExecution("p2", "", MicroPlume(0), exec_at)));
  EXPECT_EQ(book_.params().Get(Param::kFeeBps), 500);
  Feed(ledger::MakeExecution("p1", "", MicroPlume(0), exec_at));
  EXPECT_EQ(book_.params().Get(Param::kFeeBps), 300);
  EXPECT_EQ(book_.SetBy(Param::kFeeBps), "p1");
  EXPECT_EQ(book_.SetBy(Param::kSlashBps), "");
  EXPECT_FALSE(Ok(ledger::MakeExecution("p1", "", MicroPlume(0), exec_at)));
  EXPECT_TRUE(book_.DueAt(UINT64_MAX).executions.empty());
  EXPECT_EQ(book_.outcomes(OutcomeResult::kPassed), 1u);
  EXPECT_EQ(book_.outcomes(OutcomeResult::kRejected), 1u);
  EXPECT_EQ(book_.open_count(), 0u);
}

TEST_F(BookTest, NoQuorumAndVetoAreDecidedByTheRule) {
  Stake(1, 300);
  Stake(2, 700);
  Propose("quiet", "fee_bps", 300);
  Vote(1, "quiet", VoteOption::kYes);  // 30 % < 33.4 %
  EXPECT_EQ(Decide("quiet").result, OutcomeResult::kNoQuorum);
  Propose("loud", "fee_bps", 300);
  Vote(1, "loud", VoteOption::kYes);
  Vote(2, "loud", VoteOption::kVeto);
  EXPECT_EQ(Decide("loud").result, OutcomeResult::kVetoed);
}

TEST_F(BookTest, OutOfBoundsProposalsAndUnknownVotesAreRefused) {
  ledger::ProposalBody b;
  b.param = "audit_rate_min_ppm";
  b.value = 0;
  EXPECT_FALSE(Ok(ledger::MakeProposal("bad", kProposer, MicroPlume(1), kOpen,
                                       WithTerms(b, params_, kOpen))));
  EXPECT_NE(last_error_.find("outside its bounds"), std::string::npos);
  EXPECT_FALSE(Ok(ledger::MakeVote("v", Key(1), kOpen, ledger::VoteBody{"nope"})));
  Propose("p1", "fee_bps", 300);
  const uint64_t end = book_.Find("p1")->body.voting_end_ms;
  EXPECT_FALSE(Ok(ledger::MakeVote("late", Key(1), end, ledger::VoteBody{"p1"})));
}

}  // namespace
}  // namespace plume::gov
