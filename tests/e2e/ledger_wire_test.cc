// The scheduler's answers to ledger messages (LedgerBridge::Answer, AppendMint) and the wire
// helpers both ends use (ledger_wire.h), on a real ledger directory, with every request and
// reply going through the real encoder and decoder (MessageBuilder::Encode, Decode). Shown:
// entries, heads and proofs survive the wire and verify on the reading side with its own leaf
// hashes; malformed heads and entries are refused; a history of large entries stays under its
// byte bound (newest kept, `truncated` set) so the reply always encodes; a mint not signed by
// the operator opens no account; a retried mint is applied once.
#include "plume/scheduler/ledger_wire.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/ledger.h"
#include "plume/ledger/query.h"
#include "plume/ledger/receipt.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"
#include "plume/scheduler/ledger_bridge.h"
#include "bridge_fixture.h"

namespace plume::scheduler {
namespace {
namespace fs = std::filesystem;
using ledger::MicroPlume;

class LedgerWireTest : public testing::BridgeFixture {
 protected:

  // Sends `build`'s request through Encode/Decode to the bridge, and its reply back the same way.
  template <class Build>
  Message Ask(Build build, const std::string& account) {
    MessageBuilder request(1, team_.public_key());
    build(request.body());
    auto frame = request.Encode();
    EXPECT_TRUE(frame);
    auto decoded = Decode(*frame);
    EXPECT_TRUE(decoded) << decoded.error().message;
    MessageBuilder reply(1, scheduler_.public_key());
    bridge_->Answer(decoded->body(), account, reply.body());
    auto out = reply.Encode();
    EXPECT_TRUE(out) << (out ? "" : out.error().message);
    auto back = Decode(*out);
    EXPECT_TRUE(back) << back.error().message;
    return std::move(*back);
  }
  ledger::Entry Mint(const std::string& id, const std::string& to, const Identity& signer) {
    ledger::Entry m = ledger::MakeMint(id, to, MicroPlume(1'000'000));
    m.signatures.push_back(ledger::SignEntry(m, ledger_id(), signer));
    return m;
  }
  // A countersigned receipt with `inputs` input hashes: about 32 bytes each on the wire.
  ledger::Entry BigReceipt(int n, size_t inputs) {
    ledger::TaskReceipt r;
    r.job_id = "job-0123456789abcdef";
    r.task_id = std::to_string(n);
    r.attempt = 1;
    for (size_t i = 0; i < inputs; ++i) r.input_hashes.push_back(Blake2b256(std::to_string(i)));
    r.output_hash = Blake2b256("out " + std::to_string(n));
    r.flops = 1'000'000;
    r.device = "cpu";
    r.kernel_build = "test";
    r.start_unix_ms = 1000;
    r.end_unix_ms = 2000;
    r.agent = agent_.public_key();
    r.agent_signature = ledger::SignAsAgent(r, ledger_id(), agent_);
    r.price_micro_plume_per_pflop = 1;
    r.fee_bps = 0;
    r.scheduler_signature = ledger::Countersign(r, ledger_id(), scheduler_);
    ledger::Entry e = ledger::MakeTaskReceipt("receipt:" + std::to_string(n), r);
    e.signatures.push_back(ledger::SignEntry(e, ledger_id(), scheduler_));
    return e;
  }

  Identity agent_ = Identity::Generate();
};

TEST_F(LedgerWireTest, ProofsSurviveTheWireAndVerifyWithLocalLeafHashes) {
  const std::string team = ledger::TeamAccount(team_.public_key());
  for (int i = 0; i < 5; ++i) {
    auto r = bridge_->AppendMint(Mint("mint:" + std::to_string(i), team, op_));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->code, ledger::Code::kOk);
  }
  Message reply = Ask([](auto b) { b.initLedgerQuery().initInclusion().setEntryId("mint:3"); }, "");
  ASSERT_EQ(reply.kind(), MessageKind::LEDGER_REPLY);
  auto r = reply.body().getLedgerReply();
  ledger::InclusionBundle bundle;
  auto logged = ReadEntry(r.getInclusion().getEntry());
  ASSERT_TRUE(logged) << logged.error().message;
  bundle.logged = *logged;
  bundle.path = *ReadHashes(r.getInclusion().getPath());
  bundle.head = *ReadHead(r.getHead());
  EXPECT_EQ(bundle.logged.entry.id, "mint:3");
  EXPECT_EQ(bundle.logged.leaf_hash, bridge_->ledger().ReadEntry(bundle.logged.index)->leaf_hash);
  EXPECT_TRUE(ledger::CheckInclusion(bundle, scheduler_.public_key()));
  EXPECT_FALSE(ledger::CheckInclusion(bundle, op_.public_key()));
  bundle.logged.entry.amount = MicroPlume(999);  // a changed entry no longer hashes to the leaf
  bundle.logged.leaf_hash =
      ledger::EntryLeafHash(bundle.logged.index, bundle.logged.prev_hash, bundle.logged.entry);
  EXPECT_FALSE(ledger::CheckInclusion(bundle, scheduler_.public_key()));

  // Consistency from an older size to the head verifies with the old root kept by the client.
  const Hash256 old_root = *bridge_->ledger().RootAt(3);
  reply = Ask([](auto b) { b.initLedgerQuery().initConsistency().setOldSize(3); }, "");
  auto c = reply.body().getLedgerReply().getConsistency();
  auto head = ReadHead(reply.body().getLedgerReply().getHead());
  ASSERT_TRUE(head);
  EXPECT_TRUE(ledger::VerifyConsistency(3, head->tree_size, old_root, head->root,
                                        *ReadHashes(c.getProof())));
}

TEST_F(LedgerWireTest, MalformedHeadsAndEntriesAreRefused) {
  capnp::MallocMessageBuilder mb;
  auto head = mb.initRoot<wire::LedgerHead>();
  const std::vector<uint8_t> short_root(31, 1);
  head.setRoot(AsData(short_root));
  head.setSignature(AsData(std::vector<uint8_t>(64, 2)));
  EXPECT_FALSE(ReadHead(head.asReader()));
  auto entry = mb.initRoot<wire::LedgerEntry>();
  entry.setPrevHash(AsData(std::vector<uint8_t>(32, 0)));
  std::vector<uint8_t> bytes = ledger::Encode(Mint("mint:x", "treasury", op_));
  bytes.push_back(0);  // trailing byte: not canonical
  entry.setEntry(AsData(bytes));
  EXPECT_FALSE(ReadEntry(entry.asReader()));
  bytes.pop_back();
  entry.setEntry(AsData(bytes));
  EXPECT_TRUE(ReadEntry(entry.asReader()));
  capnp::MallocMessageBuilder lb;
  auto list = lb.initRoot<wire::LedgerReply>().initInclusion().initPath(2);
  list.set(0, AsData(std::vector<uint8_t>(32, 0)));
  list.set(1, AsData(std::vector<uint8_t>(33, 0)));
  EXPECT_FALSE(ReadHashes(list.asReader()));
}

TEST_F(LedgerWireTest, HistoryStaysUnderItsByteBoundAndKeepsTheNewest) {
  std::vector<ledger::Entry> batch;
  // 160 entries of about 33 KiB: more than kLedgerHistoryBytesMax (4 MiB) together.
  for (int i = 0; i < 160; ++i) batch.push_back(BigReceipt(i, 1024));
  auto answers = bridge_->ledger().Append(batch);
  ASSERT_TRUE(answers);
  for (const auto& a : *answers) ASSERT_EQ(a.code, ledger::Code::kOk) << ledger::CodeName(a.code);

  Message reply = Ask([](auto b) { b.initLedgerQuery().initHistory().setLimit(UINT32_MAX); }, "*");
  ASSERT_EQ(reply.kind(), MessageKind::LEDGER_REPLY);
  EXPECT_LT(reply.size_bytes(), limits::kMessageBytesMax);
  auto h = reply.body().getLedgerReply().getHistory();
  EXPECT_TRUE(h.getTruncated());
  const auto entries = h.getEntries();
  ASSERT_GT(entries.size(), 100u);
  ASSERT_LT(entries.size(), 160u);
  size_t bytes = 0;
  for (auto e : entries) bytes += e.getEntry().size();
  EXPECT_LE(bytes, limits::kLedgerHistoryBytesMax);
  EXPECT_EQ(entries[entries.size() - 1].getIndex(), 159u);  // the newest is kept
  // Every entry is consecutive and decodes.
  for (unsigned i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].getIndex(), 160 - entries.size() + i);
    EXPECT_TRUE(ReadEntry(entries[i]));
  }

  // A small limit is honoured without truncation.
  reply = Ask([](auto b) { b.initLedgerQuery().initHistory().setLimit(3); }, "*");
  EXPECT_EQ(reply.body().getLedgerReply().getHistory().getEntries().size(), 3u);
  EXPECT_FALSE(reply.body().getLedgerReply().getHistory().getTruncated());
}

// The bridge answers history from its own index, extended as the ledger grows: it must give
// exactly what a full scan (ledger::History) gives, for every account and limit, across appends
// made between queries.
TEST_F(LedgerWireTest, IndexedHistoryMatchesAFullScan) {
  const std::vector<std::string> accounts = {
      ledger::TeamAccount(team_.public_key()), ledger::TeamAccount(agent_.public_key()),
      ledger::ProviderAccount(agent_.public_key()), "treasury", "operator"};
  auto history_of = [&](const std::string& account, uint32_t limit) {
    Message reply = Ask(
        [&](auto b) {
          auto h = b.initLedgerQuery().initHistory();
          h.setAccount(account);
          h.setLimit(limit);
        },
        account);
    std::vector<uint64_t> got;
    for (auto e : reply.body().getLedgerReply().getHistory().getEntries()) {
      got.push_back(e.getIndex());
    }
    return got;
  };
  int n = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i, ++n) {
      const std::string& to = accounts[static_cast<size_t>(n) % 3];
      auto r = bridge_->AppendMint(Mint("mint:" + std::to_string(n), to, op_));
      ASSERT_TRUE(r);
      ASSERT_EQ(r->code, ledger::Code::kOk) << ledger::CodeName(r->code);
    }
    for (const std::string& account : accounts) {
      for (uint32_t limit : {1u, 2u, 1000u}) {
        auto want = ledger::History(bridge_->ledger(), account, limit);
        ASSERT_TRUE(want);
        std::vector<uint64_t> want_idx;
        for (const auto& e : *want) want_idx.push_back(e.index);
        EXPECT_EQ(history_of(account, limit), want_idx) << account << " limit " << limit;
      }
    }
    EXPECT_EQ(history_of("*", 1000).size(), bridge_->ledger().size());
  }
}

// F14: the history index is built when the bridge opens, not by the first history query (any
// key may ask, and that query would read the whole log on the reactor thread); it keeps at most
// kLedgerHistoryRowsMax entry numbers per account, the most a reply returns, and still answers
// exactly what a full scan does.
TEST_F(LedgerWireTest, HistoryIsIndexedAtOpenAndBoundedPerAccount) {
  const std::string team = ledger::TeamAccount(team_.public_key());
  auto first = bridge_->AppendMint(Mint("mint:0", team, op_));  // opens the account
  ASSERT_TRUE(first);
  ASSERT_EQ(first->code, ledger::Code::kOk);
  const size_t n = limits::kLedgerHistoryRowsMax + 300;
  std::vector<ledger::Entry> batch;
  for (size_t i = 1; i < n; ++i) batch.push_back(Mint("mint:" + std::to_string(i), team, op_));
  auto answers = bridge_->ledger().Append(batch);
  ASSERT_TRUE(answers);
  for (const auto& a : *answers) ASSERT_EQ(a.code, ledger::Code::kOk) << ledger::CodeName(a.code);
  const uint64_t size = bridge_->ledger().size();

  bridge_.reset();  // a restart over the same log
  auto reopened = LedgerBridge::Open(dir_, scheduler_, op_.public_key(), std::chrono::milliseconds(0));
  ASSERT_TRUE(reopened) << reopened.error().message;
  bridge_ = std::move(*reopened);
  const auto indexed = bridge_->history_index_size();  // before any query
  EXPECT_EQ(indexed.entries_indexed, size);
  EXPECT_EQ(indexed.longest, limits::kLedgerHistoryRowsMax);
  EXPECT_LE(indexed.indexes, indexed.accounts * limits::kLedgerHistoryRowsMax);

  Message reply = Ask(
      [&](auto b) {
        auto h = b.initLedgerQuery().initHistory();
        h.setAccount(team);
        h.setLimit(limits::kLedgerHistoryRowsMax);
      },
      team);
  auto want = ledger::History(bridge_->ledger(), team, limits::kLedgerHistoryRowsMax);
  ASSERT_TRUE(want);
  std::vector<uint64_t> want_idx, got_idx;
  for (const auto& e : *want) want_idx.push_back(e.index);
  for (auto e : reply.body().getLedgerReply().getHistory().getEntries()) {
    got_idx.push_back(e.getIndex());
  }
  EXPECT_EQ(got_idx, want_idx);
  EXPECT_EQ(got_idx.size(), limits::kLedgerHistoryRowsMax);
  // An append after the open is indexed by the next query, and the bound still holds.
  ASSERT_TRUE(bridge_->AppendMint(Mint("mint:late", team, op_)));
  reply = Ask([&](auto b) { b.initLedgerQuery().initHistory().setAccount(team); }, team);
  auto entries = reply.body().getLedgerReply().getHistory().getEntries();
  ASSERT_GT(entries.size(), 0u);
  EXPECT_EQ(entries[entries.size() - 1].getIndex(), size);
  EXPECT_EQ(bridge_->history_index_size().longest, limits::kLedgerHistoryRowsMax);
}

TEST_F(LedgerWireTest, MintsNeedTheOperatorAndApplyOnce) {
  const std::string team = ledger::TeamAccount(team_.public_key());
  auto forged = bridge_->AppendMint(Mint("mint:f", team, team_));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->code, ledger::Code::kBadSignature);
  EXPECT_FALSE(bridge_->ledger().Balance(team));  // not even opened
  EXPECT_EQ(bridge_->ledger().size(), 0u);

  // Over the wire: the refusal is an Error naming the ledger's code.
  const std::vector<uint8_t> forged_bytes = ledger::Encode(Mint("mint:f", team, team_));
  Message reply = Ask([&](auto b) { b.initLedgerMint().setEntry(AsData(forged_bytes)); }, "");
  ASSERT_EQ(reply.kind(), MessageKind::ERROR);
  EXPECT_EQ(reply.body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
  EXPECT_NE(std::string(reply.body().getError().getMessage().cStr()).find("bad_signature"),
            std::string::npos);

  const std::vector<uint8_t> good = ledger::Encode(Mint("mint:g", team, op_));
  for (bool repeated : {false, true}) {
    reply = Ask([&](auto b) { b.initLedgerMint().setEntry(AsData(good)); }, "");
    ASSERT_EQ(reply.kind(), MessageKind::LEDGER_REPLY);
    auto m = reply.body().getLedgerReply().getApplied();
    EXPECT_EQ(m.getRepeated(), repeated);
    EXPECT_EQ(m.getIndex(), 1u);  // #0 opened the account
  }
  EXPECT_EQ(bridge_->ledger().Balance(team), MicroPlume(1'000'000));

  // Balance of any account, with the hold for escrows, and a bad name refused.
  reply = Ask([&](auto b) { b.initLedgerQuery().setBalance(team); }, team);
  EXPECT_EQ(reply.body().getLedgerReply().getBalance().getBalanceMicroPlume(), 1'000'000);
  reply = Ask([](auto b) { b.initLedgerQuery().setBalance("x"); }, "no such:name");
  ASSERT_EQ(reply.kind(), MessageKind::ERROR);
  EXPECT_EQ(reply.body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE);
}

}  // namespace
}  // namespace plume::scheduler
