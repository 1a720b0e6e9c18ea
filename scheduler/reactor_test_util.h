// Shared by the reactor tests: a fixture that runs a real reactor on loopback, a small inference
// job spec, a checkpoint it can name, and a well-formed shard output for it.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/transport.h"
#include "plume/scheduler/reactor.h"
#include "plume/protocol/message.h"
#include "plume/protocol/receipt.h"

namespace plume::scheduler {

// A reactor running on its own thread in a fresh temporary directory, with CURVE clients.
class ReactorFixture : public ::testing::Test {
 protected:
  void MakeDir(const std::string& prefix) {
    dir_ = std::filesystem::temp_directory_path() / (prefix + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  // Check HasFatalFailure() after it: a reactor that did not start ends the test.
  void StartReactor(const ReactorOptions& o) {
    auto r = Reactor::Start(scheduler_, o);
    ASSERT_TRUE(r) << r.error().message;
    reactor_ = std::move(*r);
    loop_ = std::thread([this] { (void)reactor_->Run(stop_); });
  }
  void TearDown() override {
    stop_ = true;
    if (loop_.joinable()) loop_.join();
    reactor_.reset();  // before the hooks' owners (the derived fixture) go
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<TransportClient> Connect(const Identity& who) {
    auto c = TransportClient::Connect(reactor_->endpoint(), scheduler_.public_key(), who);
    EXPECT_TRUE(c);
    return std::move(*c);
  }
  Message Call(TransportClient& c, const MessageBuilder& m) {
    auto reply = c.Call(m, std::chrono::seconds(20));
    EXPECT_TRUE(reply) << reply.error().message;
    return std::move(*reply);
  }

  Identity scheduler_ = Identity::Generate();
  std::filesystem::path dir_;
  std::unique_ptr<Reactor> reactor_;
  std::atomic<bool> stop_{false};
  std::thread loop_;
};

inline constexpr const char* kSpec = R"toml(
[job]
name = "reactor-test"
kind = "infer"
seed = 5
[infer]
checkpoint = "model.safetensors"
prompts = ["alpha", "beta", "gamma"]
max_new_tokens = 4
temperature = 0.0
top_k = 0
[network]
workers = 2
rounds = 1
[payment]
max_price_micro_plume_per_pflop = 1000
budget_micro_plume = 1000000
)toml";

inline std::vector<uint8_t> TinyCheckpoint() {
  kernels::ModelConfig model{1, 2, 32, 16, 256};
  auto ops = kernels::MakeCpuOps(1);
  auto gpt = kernels::Gpt::Create(model, *ops);
  EXPECT_TRUE(gpt);
  EXPECT_TRUE((*gpt)->InitRandom(1));
  return *kernels::SaveCheckpointBytes(model, *(*gpt)->GetParams());
}

// A registration as a CPU node at price 10 that passed its selftest.
inline void FillCpuRegister(wire::Register::Builder r, const char* name) {
  r.setName(name);
  r.setPriceMicroPlumePerPflop(10);
  auto gpu = r.initGpus(1)[0];
  gpu.setName("cpu");
  gpu.setMemoryBytes(8ULL << 30);
  gpu.setCount(1);
  gpu.setBackend(wire::Backend::CPU);
  gpu.setSelftestPassed(true);
  gpu.setMeasuredFlopsPerSec(1e9);
}

// Registers `agent` as a CPU node at price 10 that passed its selftest.
inline void RegisterCpuAgent(TransportClient& agent) {
  auto reg = agent.NewRequest();
  FillCpuRegister(reg.body().initRegister(), "test-agent");
  auto ack = agent.Call(reg, std::chrono::seconds(20));
  ASSERT_TRUE(ack) << ack.error().message;
  ASSERT_EQ(ack->kind(), MessageKind::REGISTER_ACK);
}

// A signed SubmitJob of `spec` naming one uploaded blob `blob_name` (`size` bytes).
inline void FillSignedSubmit(MessageBuilder& m, const Identity& client, const std::string& spec,
                             const std::string& key, const std::string& blob_name,
                             const Hash256& blob_hash, uint64_t size) {
  auto s = m.body().initSubmitJob();
  const Hash256 spec_hash = Blake2b256(spec);
  s.setSpecToml(spec);
  s.setSpecHash(AsData(spec_hash));
  s.setSignature(AsData(client.Sign(SpecSigningBytes(spec_hash))));
  s.setClientJobKey(key);
  auto ref = s.initDataBlobs(1)[0];
  ref.setName(blob_name);
  ref.setHash(AsData(blob_hash));
  ref.setSizeBytes(size);
}

// A signed SubmitJob of `spec` naming the uploaded checkpoint `ckpt_hash` (`size` bytes).
inline void FillInferSubmit(MessageBuilder& m, const Identity& client, const std::string& spec,
                            const std::string& key, const Hash256& ckpt_hash, uint64_t size) {
  FillSignedSubmit(m, client, spec, key, "checkpoint", ckpt_hash, size);
}

// A well-formed inference shard output (what the screens accept) for an assignment's plain-ASCII
// prompts: four tokens of "abcd" each, indices from the shard's first prompt.
// For ReactorOptions::before_offloaded_work: holds the offload worker until a test opens it.
// Closed until Open(); each passage is counted with the thread it ran on. A gate left closed
// lets work through after 30 s, so a reactor that ran the work inline fails the test's ping
// instead of hanging it.
class Gate {
 public:
  void Pass() {
    std::unique_lock lock(mu_);
    ++passed_;
    threads_.push_back(std::this_thread::get_id());
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  int passed() {
    std::lock_guard lock(mu_);
    return passed_;
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int passed_ = 0;
  std::vector<std::thread::id> threads_;
};

inline std::string ShardOutput(wire::TaskAssign::Reader a) {
  const auto p = a.getParams().getInfer();
  std::string out;
  uint32_t index = p.getFirstPromptIndex();
  for (auto prompt : p.getPrompts()) {
    out += "{\"index\": " + std::to_string(index++) + ", \"prompt\": \"" +
           std::string(prompt.cStr()) + "\", \"completion\": \"abcd\", \"tokens\": 4}\n";
  }
  return out;
}

// Fills `result` (a new request) with the TaskResult of assignment `a` of `job`: output blob
// `output` made from `input`, and the receipt `agent` signs over them.
// `commitments`: sent in the result, and their root signed in the receipt.
inline void FillTaskResult(MessageBuilder& result, const Identity& agent, const std::string& job,
                           wire::TaskAssign::Reader a, const Hash256& input, const Hash256& output,
                           const std::vector<Hash256>& commitments = {}) {
  ReceiptFields f;
  f.job_id = job;
  f.task_id = a.getTaskId();
  f.attempt = a.getAttempt();
  f.inputs = {input};
  f.output = output;
  if (!commitments.empty()) f.commitment = CommitmentRoot(commitments);
  auto receipt = *SignReceipt(agent, f);
  auto tr = result.body().initTaskResult();
  tr.setTaskId(a.getTaskId());
  tr.setAttempt(a.getAttempt());
  tr.initOutput().setHash(AsData(output));
  tr.setReceipt(AsData(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(receipt.bytes.data()), receipt.bytes.size())));
  tr.setReceiptSignature(AsData(receipt.signature));
  auto list = tr.initCommitments(static_cast<unsigned>(commitments.size()));
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, AsData(commitments[i]));
}

}  // namespace plume::scheduler
