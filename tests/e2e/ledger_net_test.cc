// The ledger over the protocol, end to end: a real plume-scheduler with the ledger on
// (--operator-id) on loopback, real ledger files, and the real plume CLI with no --ledger-dir,
// so every command goes through LedgerQuery/LedgerMint. Shown here:
//  - the operator mints over the wire and the team's balance shows it; a retry of the same id
//    mints once;
//  - a mint signed by any other key is refused (exit 1, bad_signature) and changes nothing, not
//    even an account open;
//  - history: own accounts and own jobs' escrows yes, another team's account and the whole log
//    no (exit 1), the operator everything;
//  - `ledger prove` over the wire verifies against the pinned scheduler id and fails (exit 1)
//    against any other --ledger-id; `ledger head --since` proves the ledger only grew;
//  - schema-valid but hostile ledger messages and mutated frames get answers (or nothing), and
//    the scheduler keeps serving;
//  - an unreachable scheduler is a clear failure (exit 1).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "network.h"
#include "paid_network.h"
#include "plume/ledger/entry.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class LedgerNetE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    other_id_ = MakeKey(other_key());
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  }

  fs::path operator_key() const { return paid_.operator_key(); }
  fs::path other_key() const { return net_.dir() / "keys" / "other.key"; }

  CommandResult Mint(const std::string& to, int64_t amount, const std::string& id,
                     const fs::path& key, bool json = false) {
    std::vector<std::string> args = {
        "ledger", "mint", "--to",  to,          "--amount", std::to_string(amount),
        "--id",   id,     "--key", key.string()};
    if (json) args.push_back("--json");
    return net_.Cli(args);
  }
  // The balance as the scheduler reports it; -1 when the account is not open.
  int64_t Balance(const std::string& account) {
    std::string why;
    auto b = net_.CliJson({"balance", account}, &why);
    EXPECT_TRUE(b) << why;
    if (!b || !(*b)["open"].get<bool>()) return -1;
    return (*b)["balance_micro_plume"].get<int64_t>();
  }
  CommandResult As(const fs::path& key, std::vector<std::string> args) {
    args.insert(args.end(), {"--key", key.string()});
    return net_.Cli(args);
  }

  Network net_{"ledgernet"};
  PaidNetwork paid_{net_};
  const std::string& operator_id_ = paid_.operator_id();
  const std::string& team_ = paid_.team();
  std::string other_id_;
};

TEST_F(LedgerNetE2E, OperatorMintsOverTheWireAndOnlyTheOperator) {
  EXPECT_EQ(Balance(""), -1);  // "" = own team: not open before any mint

  CommandResult mint = Mint(team_, 7'000'000, "mint:net-1", operator_key(), true);
  ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
  const json m = json::parse(mint.out);
  EXPECT_FALSE(m["repeated"].get<bool>());
  EXPECT_EQ(m["index"].get<uint64_t>(), 1u);  // #0 opened the team's account
  EXPECT_EQ(Balance(""), 7'000'000);
  EXPECT_EQ(Balance(team_), 7'000'000);

  // A retry with the same id is applied once.
  CommandResult again = Mint(team_, 7'000'000, "mint:net-1", operator_key(), true);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(json::parse(again.out)["repeated"].get<bool>());
  EXPECT_EQ(Balance(team_), 7'000'000);

  // Signed by the team's own key, or any key but the operator's: refused, nothing written.
  const std::string other_team = "team:" + other_id_;
  CommandResult forged = Mint(other_team, 1'000'000'000, "mint:forged", net_.client_key());
  EXPECT_EQ(forged.exit_code, 1) << forged.out << forged.err;
  EXPECT_NE(forged.err.find("bad_signature"), std::string::npos) << forged.err;
  EXPECT_EQ(Balance(other_team), -1);  // not even opened
  CommandResult forged_own = Mint(team_, 1'000'000'000, "mint:forged-own", net_.client_key());
  EXPECT_EQ(forged_own.exit_code, 1) << forged_own.err;
  EXPECT_EQ(Balance(team_), 7'000'000);
  std::string why;
  auto all =
      net_.CliJson({"ledger", "history", "--account", "*", "--key", operator_key().string()}, &why);
  ASSERT_TRUE(all) << why;
  EXPECT_EQ(all->size(), 2u) << all->dump();  // open + the one mint

  // Bad input is refused before anything is sent.
  EXPECT_EQ(Mint(team_, -5, "mint:neg", operator_key()).exit_code, 2);
  EXPECT_EQ(Mint("nobody", 5, "mint:who", operator_key()).exit_code, 2);
}

TEST_F(LedgerNetE2E, HistoryOfOwnAccountsAndJobsOnly) {
  ASSERT_EQ(Mint(team_, 50'000'000, "mint:h", operator_key()).exit_code, 0);
  ASSERT_EQ(Mint("team:" + other_id_, 1'000'000, "mint:o", operator_key()).exit_code, 0);

  std::string why;
  auto own = net_.CliJson({"ledger", "history"}, &why);  // default: own team
  ASSERT_TRUE(own) << why;
  ASSERT_EQ(own->size(), 2u) << own->dump();
  EXPECT_EQ((*own)[1]["id"], "mint:h");

  // Another team's history: refused to the team, allowed to the operator and to its owner.
  CommandResult theirs = net_.Cli({"ledger", "history", "--account", "team:" + other_id_});
  EXPECT_EQ(theirs.exit_code, 1) << theirs.out << theirs.err;
  EXPECT_NE(theirs.err.find("not yours"), std::string::npos) << theirs.err;
  EXPECT_EQ(net_.Cli({"ledger", "history", "--account", "*"}).exit_code, 1);
  EXPECT_EQ(As(other_key(), {"ledger", "history", "--account", "team:" + other_id_}).exit_code, 0);
  EXPECT_EQ(As(operator_key(), {"ledger", "history", "--account", team_}).exit_code, 0);
  // Balances are public.
  EXPECT_EQ(Balance("team:" + other_id_), 1'000'000);

  // The escrow of the team's own job: readable by the team, not by another team.
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  TrainShape shape;
  shape.rounds = 1;
  shape.local_steps = 2;
  const fs::path spec = WriteTrainSpec(net_.dir().path(), "escrowed", data, shape);
  {
    // A maximum price high enough that the tiny job's hold is not 0 micro-PLUME.
    std::ifstream in(spec);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = std::regex_replace(text, std::regex("max_price_micro_plume_per_pflop = [0-9]+"),
                              "max_price_micro_plume_per_pflop = 2500000000000");
    std::ofstream(spec, std::ios::trunc) << text;
  }
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty()) << net_.Logs();
  const std::string escrow = "escrow:" + job;
  std::optional<json> hist;
  ASSERT_TRUE(WaitUntil(
      [&] {
        hist = net_.CliJson({"ledger", "history", "--account", escrow}, &why);
        return hist && !hist->empty();
      },
      seconds(20)))
      << why << net_.Logs();
  EXPECT_EQ((*hist)[0]["type"], "escrow_hold") << hist->dump();
  EXPECT_EQ(As(other_key(), {"ledger", "history", "--account", escrow}).exit_code, 1);
}

TEST_F(LedgerNetE2E, ProveOverTheWireChecksTheSignedHead) {
  ASSERT_EQ(Mint(team_, 3'000'000, "mint:p1", operator_key()).exit_code, 0);
  std::string why;
  auto head1 = net_.CliJson({"ledger", "head"}, &why);
  ASSERT_TRUE(head1) << why;
  EXPECT_TRUE((*head1)["ok"].get<bool>());
  EXPECT_EQ((*head1)["ledger_key"], net_.scheduler_id());
  ASSERT_EQ(Mint(team_, 4'000'000, "mint:p2", operator_key()).exit_code, 0);

  auto proof = net_.CliJson({"ledger", "prove", "mint:p1"}, &why);
  ASSERT_TRUE(proof) << why;
  EXPECT_TRUE((*proof)["ok"].get<bool>());
  EXPECT_EQ((*proof)["entry"]["id"], "mint:p1");
  EXPECT_EQ((*proof)["tree_size"].get<uint64_t>(), 3u);
  CommandResult by_index = net_.Cli({"ledger", "prove", "2", "--ledger-id", net_.scheduler_id()});
  EXPECT_EQ(by_index.exit_code, 0) << by_index.out << by_index.err;
  EXPECT_NE(by_index.out.find("PROVEN: entry #2"), std::string::npos) << by_index.out;

  // The same proof against a key that did not sign the head: exit 1.
  CommandResult wrong = net_.Cli({"ledger", "prove", "mint:p1", "--ledger-id", operator_id_});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out << wrong.err;
  EXPECT_NE(wrong.out.find("NOT PROVEN"), std::string::npos) << wrong.out;
  EXPECT_NE(wrong.err.find("not signed by"), std::string::npos) << wrong.err;
  EXPECT_EQ(net_.Cli({"ledger", "prove", "no-such-entry"}).exit_code, 2);

  // The ledger only grew since head1; a made-up root for that size does not pass.
  const std::string since = std::to_string((*head1)["tree_size"].get<uint64_t>()) + ":" +
                            (*head1)["root"].get<std::string>();
  CommandResult grew = net_.Cli({"ledger", "head", "--since", since});
  EXPECT_EQ(grew.exit_code, 0) << grew.out << grew.err;
  EXPECT_NE(grew.out.find("VERIFIED"), std::string::npos) << grew.out;
  const std::string fake = std::to_string((*head1)["tree_size"].get<uint64_t>()) + ":" +
                           ToHex(Blake2b256("not the root"));
  EXPECT_EQ(net_.Cli({"ledger", "head", "--since", fake}).exit_code, 1);
  EXPECT_EQ(net_.Cli({"ledger", "head", "--since", "garbage"}).exit_code, 2);

  // The offline path still reads the same ledger and proves the same entry.
  const std::string dir = (net_.dir() / "scheduler-data" / "ledger").string();
  CommandResult offline = net_.Cli(
      {"ledger", "prove", "mint:p1", "--ledger-dir", dir, "--ledger-id", net_.scheduler_id()});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
}

// Sends one request on a raw client and waits for its answer (nullopt: none within 5 s).
std::optional<Message> Ask(TransportClient& client, const MessageBuilder& m) {
  auto reply = client.Call(m, std::chrono::seconds(5));
  if (!reply) return std::nullopt;
  return std::move(*reply);
}

TEST_F(LedgerNetE2E, HostileLedgerMessagesDoNotHurtTheScheduler) {
  auto me = Identity::Load(net_.client_key());
  ASSERT_TRUE(me);
  auto server = PublicKeyFromHex(net_.scheduler_id());
  ASSERT_TRUE(server);
  auto client = TransportClient::Connect(net_.endpoint(), *server, *me);
  ASSERT_TRUE(client) << client.error().message;
  TransportClient& c = **client;
  auto expect_error = [&](const MessageBuilder& m, const char* what) {
    auto r = Ask(c, m);
    ASSERT_TRUE(r) << what << ": no answer\n" << net_.Logs();
    EXPECT_EQ(r->kind(), MessageKind::ERROR) << what;
  };
  {
    auto m = c.NewRequest();
    const std::string junk(200, '\x7f');
    m.body().initLedgerMint().setEntry(
        AsData(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(junk.data()), 200)));
    expect_error(m, "mint of junk bytes");
  }
  {
    auto m = c.NewRequest();
    m.body().initLedgerMint();  // no entry at all
    expect_error(m, "empty mint");
  }
  {
    // A well-formed transfer entry posing as a mint.
    ledger::Entry t = ledger::MakeTransfer("t:1", team_, "treasury", ledger::MicroPlume(5));
    t.signatures.push_back(ledger::SignEntry(t, ledger::LedgerId{}, *me));
    const std::vector<uint8_t> bytes = ledger::Encode(t);
    auto m = c.NewRequest();
    m.body().initLedgerMint().setEntry(AsData(bytes));
    expect_error(m, "transfer as a mint");
  }
  {
    auto m = c.NewRequest();
    m.body().initLedgerQuery().initInclusion().setIndex(UINT64_MAX);
    expect_error(m, "inclusion past the end");
  }
  {
    auto m = c.NewRequest();
    auto q = m.body().initLedgerQuery().initConsistency();
    q.setOldSize(10);
    q.setNewSize(3);
    expect_error(m, "consistency backwards");
  }
  {
    auto m = c.NewRequest();
    m.body().initLedgerQuery().setBalance(std::string(5000, 'x'));
    expect_error(m, "huge account name");
  }
  {
    auto m = c.NewRequest();
    auto h = m.body().initLedgerQuery().initHistory();
    h.setAccount("team:" + me->Id());
    h.setLimit(UINT32_MAX);  // capped, not trusted
    auto r = Ask(c, m);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind(), MessageKind::LEDGER_REPLY);
  }
  // Mutated frames of a valid query: the transport or the handler refuses each; none crashes.
  auto base = c.NewRequest();
  base.body().initLedgerQuery().initHistory().setAccount("team:" + me->Id());
  auto frame = base.Encode();
  ASSERT_TRUE(frame);
  std::mt19937 rng(20261126);
  for (int i = 0; i < 300; ++i) {
    std::string bad = *frame;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    ASSERT_TRUE(c.Send(bad));
  }
  // Still serving: a fresh request is answered and the process is alive.
  auto ping = c.NewRequest();
  ping.body().initLedgerQuery().setHead();
  auto r = Ask(c, ping);  // Call skips the replies to mutated frames that still decoded
  ASSERT_TRUE(r) << net_.Logs();
  EXPECT_EQ(r->kind(), MessageKind::LEDGER_REPLY);
  EXPECT_TRUE(net_.scheduler().Running());
  std::string why;
  EXPECT_TRUE(net_.CliJson({"ledger", "head"}, &why)) << why;
}

TEST_F(LedgerNetE2E, UnreachableSchedulerIsAClearFailure) {
  CommandResult r = net_.Cli({"balance", "--scheduler", "tcp://127.0.0.1:1"}, seconds(30),
                             {{"PLUME_TIMEOUT_MS", "500"}});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("is plume-scheduler running"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace plume::itest
