// Pay through the reactor, with a scripted ledger hook standing in for the ledger: a result
// whose settle cannot be kept is refused with retryLater (the agent keeps it and sends it again)
// rather than acknowledged; the ack and the job's spent report pay only once the ledger applied
// the settle (0 when it refused); a settle deferred by a ledger error is not overtaken by the
// job's release; and a reactor with a ledger refuses Sync::kNormal.
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "plume/protocol/blob_service.h"
#include "plume/protocol/receipt.h"
#include "plume/scheduler/reactor.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

// A price high enough that the tiny job's shards earn more than 0 micro-PLUME.
constexpr int64_t kPrice = 1'000'000'000'000;

std::string PaidSpec() {
  std::string spec = kSpec;
  const std::string old = "max_price_micro_plume_per_pflop = 1000";
  spec.replace(spec.find(old), old.size(),
               "max_price_micro_plume_per_pflop = " + std::to_string(kPrice));
  return spec;
}

// The scripted ledger: what was applied, in order; settles fail (an I/O error) while
// `fail_settles` holds, and are refused (as kHoldClosed) once the job's release was applied.
struct ScriptedLedger {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> applied;
  int settle_errors = 0;
  bool fail_settles = false;
  bool refuse_settles = false;

  Result<bool> Apply(const LedgerOp& op, std::string& refusal) {
    std::lock_guard lock(mu);
    cv.notify_all();
    if (op.kind == LedgerOpKind::kSettle) {
      if (fail_settles) {
        ++settle_errors;
        return Fail("ledger disk busy");
      }
      const bool released =
          std::find(applied.begin(), applied.end(), "release:" + op.job) != applied.end();
      if (refuse_settles || released) {
        refusal = "hold closed";
        return false;
      }
    }
    applied.push_back(op.id);
    return true;
  }
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 20s, pred);
  }
};

class PayReactorTest : public ReactorFixture {
 protected:
  void Start() {
    MakeDir("plume-pay-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.core.lease_ms = 60'000;  // the test sends no heartbeats
    // No challenge window: results are settled at acceptance, so the ack can report the pay this
    // test is about (core_stake_test.cc tests the window).
    o.core.challenge_window_ms = 0;
    o.tick = 200ms;
    o.ledger = [this](const LedgerOp& op, std::string& refusal) {
      return ledger_.Apply(op, refusal);
    };
    o.settle_receipt = [this](const SettleReceipt&) -> Result<bool> {
      if (keep_failures_ > 0) {
        --keep_failures_;
        return Fail("No space left on device");
      }
      return true;
    };
    StartReactor(o);
    if (HasFatalFailure()) return;
    agent_ = Connect(agent_id_);
    agent_bulk_ = Connect(agent_id_);
    client_ = Connect(client_id_);
    agent_store_ = std::move(*BlobStore::Open(dir_ / "agent-blobs"));
    client_store_ = std::move(*BlobStore::Open(dir_ / "client-blobs"));
  }
  // The team's signed submit of `spec` naming the uploaded checkpoint; the scheduler's answer.
  Message Submit(const std::string& spec, const std::string& key, const Hash256& ckpt_hash,
                 size_t ckpt_bytes) {
    auto sub = client_->NewRequest();
    auto s = sub.body().initSubmitJob();
    const Hash256 spec_hash = Blake2b256(std::string_view(spec));
    s.setSpecToml(spec);
    s.setSpecHash(AsData(spec_hash));
    s.setSignature(AsData(client_id_.Sign(SpecSigningBytes(spec_hash))));
    s.setClientJobKey(key);
    auto ref = s.initDataBlobs(1)[0];
    ref.setName("checkpoint");
    ref.setHash(AsData(ckpt_hash));
    ref.setSizeBytes(ckpt_bytes);
    return Call(*client_, sub);
  }
  // Registers the agent, submits the job, and returns its first assignment's result message.
  MessageBuilder FirstResult() {
    auto reg = agent_->NewRequest();
    auto r = reg.body().initRegister();
    r.setName("pay-agent");
    r.setPriceMicroPlumePerPflop(kPrice);
    auto gpu = r.initGpus(1)[0];
    gpu.setName("cpu");
    gpu.setMemoryBytes(8ULL << 30);
    gpu.setCount(1);
    gpu.setBackend(wire::Backend::CPU);
    gpu.setSelftestPassed(true);
    gpu.setMeasuredFlopsPerSec(1e9);
    EXPECT_EQ(Call(*agent_, reg).kind(), MessageKind::REGISTER_ACK);
    const std::vector<uint8_t> ckpt = TinyCheckpoint();
    const Hash256 ckpt_hash = *client_store_->Put(std::span<const uint8_t>(ckpt));
    EXPECT_TRUE(PushBlob(*client_, *client_store_, ckpt_hash, 5s));
    Message ack = Submit(PaidSpec(), "pay", ckpt_hash, ckpt.size());
    EXPECT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << KindName(ack.kind());
    job_ = ack.body().getSubmitAck().getJobId();

    auto m = agent_->Recv(20s);
    EXPECT_TRUE(m && m->has_value()) << "no task assignment";
    auto a = (*m)->body().getTaskAssign();
    // A well-formed shard (the screens refuse anything else) for the prompts assigned.
    const Hash256 out_hash = *agent_store_->Put(ShardOutput(a));
    EXPECT_TRUE(PushBlob(*agent_bulk_, *agent_store_, out_hash, 5s));
    auto res = agent_->NewRequest();
    FillTaskResult(res, agent_id_, job_, a, ckpt_hash, out_hash);
    return res;
  }
  struct JobPay {
    uint32_t tasks_done = 0;
    int64_t spent_micro_plume = 0;
  };
  JobPay Status() {
    auto st = client_->NewRequest();
    st.body().initJobStatus().setJobId(job_);
    Message reply = Call(*client_, st);
    auto job = reply.body().getJobStatusReply().getJob();
    return {job.getTasksDone(), job.getSpentMicroPlume()};
  }

  Identity agent_id_ = Identity::Generate(), client_id_ = Identity::Generate();
  ScriptedLedger ledger_;
  std::atomic<int> keep_failures_{0};
  std::unique_ptr<TransportClient> agent_, agent_bulk_, client_;
  std::unique_ptr<BlobStore> agent_store_, client_store_;
  std::string job_;
};

TEST_F(PayReactorTest, ASettleThatCannotBeKeptRefusesTheResultUntilItIsKept) {
  keep_failures_ = 1;
  Start();
  MessageBuilder result = FirstResult();
  Message refused = Call(*agent_bulk_, result);
  ASSERT_EQ(refused.kind(), MessageKind::ERROR) << "accepted although its settle was not kept";
  EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::RETRY_LATER);
  EXPECT_EQ(Status().tasks_done, 0u);

  Message ack = Call(*agent_bulk_, result);  // the agent sends it again
  ASSERT_EQ(ack.kind(), MessageKind::TASK_RESULT_ACK) << KindName(ack.kind());
  EXPECT_TRUE(ack.body().getTaskResultAck().getAccepted());
  const int64_t paid = ack.body().getTaskResultAck().getPaidMicroPlume();
  EXPECT_GT(paid, 0);
  EXPECT_EQ(Status().tasks_done, 1u);
  EXPECT_EQ(Status().spent_micro_plume, paid);
}

TEST_F(PayReactorTest, PayIsReportedOnlyWhenTheLedgerAppliedTheSettle) {
  ledger_.refuse_settles = true;
  Start();
  MessageBuilder result = FirstResult();
  Message ack = Call(*agent_bulk_, result);
  ASSERT_EQ(ack.kind(), MessageKind::TASK_RESULT_ACK) << KindName(ack.kind());
  EXPECT_TRUE(ack.body().getTaskResultAck().getAccepted());  // the result is used
  EXPECT_EQ(ack.body().getTaskResultAck().getPaidMicroPlume(), 0) << "refused settle reported paid";
  EXPECT_NE(std::string(ack.body().getTaskResultAck().getMessage()).find("refused"),
            std::string::npos);
  EXPECT_EQ(Status().tasks_done, 1u);
  EXPECT_EQ(Status().spent_micro_plume, 0);
  EXPECT_EQ(reactor_->core().state().tasks.begin()->second.settle, SettleState::kRefused);
}

// The settle fails with an I/O error (deferred to the next tick) until the owner's cancel has
// been answered; the release decided by the cancel must wait behind it. Without per-job order
// the release is applied in the cancel's turn and the retried settle finds the hold closed.
TEST_F(PayReactorTest, AReleaseDoesNotOvertakeTheJobsDeferredSettle) {
  ledger_.fail_settles = true;
  Start();
  MessageBuilder result = FirstResult();
  std::thread agent([&] {
    Message ack = Call(*agent_bulk_, result);
    EXPECT_EQ(ack.kind(), MessageKind::TASK_RESULT_ACK) << KindName(ack.kind());
  });
  ASSERT_TRUE(ledger_.WaitFor([&] { return ledger_.settle_errors > 0; }));
  auto cancel = client_->NewRequest();
  cancel.body().initCancelJob().setJobId(job_);
  EXPECT_EQ(Call(*client_, cancel).kind(), MessageKind::CANCEL_JOB_REPLY);
  {
    std::lock_guard lock(ledger_.mu);
    ledger_.fail_settles = false;
  }
  ASSERT_TRUE(ledger_.WaitFor([&] {
    return std::find(ledger_.applied.begin(), ledger_.applied.end(), "release:" + job_) !=
           ledger_.applied.end();
  }));
  agent.join();
  std::lock_guard lock(ledger_.mu);
  ASSERT_EQ(ledger_.applied.size(), 3u);
  EXPECT_EQ(ledger_.applied[0], "hold:" + job_);
  EXPECT_EQ(ledger_.applied[1].rfind("settle:", 0), 0u) << "release applied before the settle";
  EXPECT_EQ(ledger_.applied[2], "release:" + job_);
}

TEST_F(PayReactorTest, AJobTooSmallToHoldAMicroPlumeIsRefusedAtSubmit) {
  Start();
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *client_store_->Put(std::span<const uint8_t>(ckpt));
  ASSERT_TRUE(PushBlob(*client_, *client_store_, ckpt_hash, 5s));
  // 1 micro-PLUME per PFLOP: the whole job costs less than one micro-PLUME.
  std::string tiny = kSpec;
  const std::string old = "max_price_micro_plume_per_pflop = 1000";
  tiny.replace(tiny.find(old), old.size(), "max_price_micro_plume_per_pflop = 1");
  const Message refused = Submit(tiny, "tiny", ckpt_hash, ckpt.size());
  ASSERT_EQ(refused.kind(), MessageKind::ERROR) << KindName(refused.kind());
  EXPECT_NE(std::string(refused.body().getError().getMessage().cStr()).find("rounds to 0"),
            std::string::npos);
  EXPECT_TRUE(ledger_.applied.empty()) << "no hold was attempted";
  // The same job at a price that makes it cost something is accepted.
  EXPECT_EQ(Submit(PaidSpec(), "paid", ckpt_hash, ckpt.size()).kind(), MessageKind::SUBMIT_ACK);
}

TEST(PayReactor, SyncNormalIsRefusedWithALedger) {
  ReactorOptions o;
  o.state_dir = std::filesystem::temp_directory_path() / ("plume-sync-" + std::to_string(getpid()));
  o.sync = Sync::kNormal;
  o.ledger = [](const LedgerOp&, std::string&) -> Result<bool> { return true; };
  auto r = Reactor::Start(Identity::Generate(), o);
  ASSERT_FALSE(r) << "a reactor with a ledger started with synchronous=NORMAL";
  EXPECT_NE(r.error().message.find("--sync full"), std::string::npos) << r.error().message;
  o.ledger = nullptr;  // without a ledger normal is the operator's choice
  EXPECT_TRUE(Reactor::Start(Identity::Generate(), o));
  std::filesystem::remove_all(o.state_dir);
}

}  // namespace
}  // namespace plume::scheduler
