// plume-agent: finished results. Each is signed (receipt), written to the on-disk spool, then
// delivered one at a time: push the result blob (BlobPut, resumable: a probe asks where to
// start), send TaskResult, and forget the result only on TaskResultAck. See agent_impl.h.
#include <capnp/message.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "agent_impl.h"
#include "plume/agent/metrics.h"
#include "plume/ledger/receipt.h"
#include "plume/protocol/receipt.h"
#include "task_work.h"

namespace plume::agent {
namespace {

using nlohmann::json;

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// JSON has no NaN; store it as null.
json Num(double v) { return std::isnan(v) ? json(nullptr) : json(v); }
double NumOr(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

// The receipt (protocol/receipt.h): TaskResult.receipt / receiptSignature.
std::pair<std::string, Signature> SignReceipt(const Identity& id, const HeldTask& t,
                                              const Hash256& output, const TaskOutput& out,
                                              int64_t finished_unix_ms) {
  ReceiptFields f;
  f.job_id = t.job_id;
  f.task_id = t.task_id;
  f.attempt = t.attempt;
  f.inputs = t.inputs;
  f.output = output;
  f.tokens = static_cast<uint64_t>(out.tokens_processed);
  f.flops = out.flops;
  f.finished_at_ms = static_cast<uint64_t>(finished_unix_ms);
  if (!out.commitments.empty()) f.commitment = CommitmentRoot(out.commitments);
  auto signed_receipt = plume::SignReceipt(id, std::move(f));
  if (!signed_receipt) {  // only a kj encoding failure, which these bounded fields cannot cause
    spdlog::error("cannot sign the receipt of task {}: {}", t.task_id, signed_receipt.error().message);
    return {};
  }
  return {std::move(signed_receipt->bytes), signed_receipt->signature};
}

// The ledger receipt (ledger/receipt.h) the scheduler rebuilds and countersigns so the ledger
// pays for the task. The task id is the wire id in decimal, which both sides know.
ledger::TaskReceipt LedgerReceipt(const Identity& id, const Hash256& ledger_id, const HeldTask& t,
                                  const Hash256& output, const std::string& device,
                                  const std::string& kernel_build, int64_t finished_unix_ms,
                                  uint64_t work_billed_flops) {
  ledger::TaskReceipt r;
  r.job_id = t.job_id;
  r.task_id = std::to_string(t.task_id);
  r.attempt = t.attempt;
  r.input_hashes = t.inputs;
  r.output_hash = output;
  if (t.assign) {
    const auto assign = t.assign->body().getTaskAssign();
    r.flops = work_billed_flops > 0 ? work_billed_flops : BilledFlops(assign);
    if (r.flops != assign.getFlops()) {
      spdlog::warn("job={} task={}: the scheduler bills {} FLOPs but the task's work is {}; the "
                   "receipt is signed for {}", t.job_id, t.task_id, assign.getFlops(), r.flops,
                   r.flops);
    }
  }
  r.device = device;
  r.kernel_build = kernel_build;
  r.start_unix_ms = static_cast<uint64_t>(std::max<int64_t>(0, t.started_unix_ms));
  r.end_unix_ms = static_cast<uint64_t>(std::max<int64_t>(t.started_unix_ms, finished_unix_ms));
  r.agent = id.public_key();
  r.agent_signature = ledger::SignAsAgent(r, ledger_id, id);
  spdlog::info("job={} task={} attempt={} receipt={}: ledger receipt signed for {} FLOPs",
               t.job_id, t.task_id, t.attempt, ledger::ReceiptKey(r), r.flops);
  return r;
}

}  // namespace

bool Agent::Impl::HoldsResult(uint64_t task_id, uint32_t attempt) const {
  return spool->Contains(SpoolKey(task_id, attempt));
}

Status Agent::Impl::SpoolResult(const HeldTask& t, const TaskOutput& out) {
  const int64_t finished = UnixMs();
  const Hash256 output = Blake2b256(std::span<const uint8_t>(out.result));
  auto [receipt, signature] = SignReceipt(identity, t, output, out, finished);
  const ledger::TaskReceipt lr = LedgerReceipt(
      identity, ledger_id, t, output, options.devices.empty() ? "cpu" : options.devices[0].name,
      options.kernel_build, finished, out.billed_flops);
  json meta = {
      {"job_id", t.job_id},
      {"task_id", t.task_id},
      {"attempt", t.attempt},
      {"train", t.train},
      {"output", ToHex(output)},
      {"size_bytes", out.result.size()},
      {"final_loss", Num(out.loss)},
      {"val_loss", Num(out.val_loss)},
      {"tokens", out.tokens_processed},
      {"flops", out.flops},
      {"duration_ms", std::max<int64_t>(0, finished - t.started_unix_ms)},
      {"receipt", ToHex(std::span<const uint8_t>(
                      reinterpret_cast<const uint8_t*>(receipt.data()), receipt.size()))},
      {"signature", ToHex(signature)},
      {"ledger_device", lr.device},
      {"ledger_kernel_build", lr.kernel_build},
      {"ledger_start_unix_ms", lr.start_unix_ms},
      {"ledger_end_unix_ms", lr.end_unix_ms},
      {"ledger_signature", ToHex(lr.agent_signature)},
  };
  json commitments = json::array();
  for (const auto& c : out.commitments) commitments.push_back(ToHex(c));
  meta["commitments"] = std::move(commitments);
  return spool->Put({SpoolKey(t.task_id, t.attempt), out.result, meta.dump()});
}

void Agent::Impl::StartNextDelivery(Clock::time_point now) {
  if (delivery || !registered) return;
  const auto keys = spool->Keys();
  if (keys.empty()) return;
  auto entry = spool->Get(keys.front());
  if (!entry) {
    spdlog::error("dropping unreadable spooled result {}: {}", keys.front(), entry.error().message);
    (void)spool->Remove(keys.front());
    return;
  }
  const SpoolEntry& e = *entry;
  json meta = json::parse(e.meta_json, nullptr, false);
  auto hash = meta.is_discarded() ? Result<Hash256>(Fail("bad meta"))
                                  : HashFromHex(meta.value("output", ""));
  auto stored = store->Put(std::span<const uint8_t>(e.result));
  if (!hash || !stored || *stored != *hash) {
    // A spool entry we cannot read back is useless to the scheduler; it will requeue the task.
    spdlog::error("dropping unreadable spooled result {}", e.key);
    (void)spool->Remove(e.key);
    return;
  }
  store->Pin(*hash);
  auto sender = BlobSender::Start(*store, *hash);
  if (!sender) {
    store->Unpin(*hash);
    spdlog::error("cannot read result blob {}: {}", ToHex(*hash), sender.error().message);
    return;
  }
  Delivery d;
  d.key = e.key;
  d.task_id = meta.value("task_id", uint64_t{0});
  d.attempt = meta.value("attempt", uint32_t{0});
  d.output = *hash;
  d.sender = std::move(*sender);
  delivery.emplace(std::move(d));
  SendProbe(now);
}

// A BlobPut with no bytes at offset 0 asks the scheduler where the upload should resume.
void Agent::Impl::SendProbe(Clock::time_point now) {
  delivery->last_activity = now;
  delivery->awaiting_ack = false;
  auto b = client->NewRequest();
  auto put = b.body().initBlobPut();
  put.setHash(AsData(delivery->output));
  put.setOffset(0);
  put.setTotalSizeBytes(delivery->sender->total_size_bytes());
  Send(b);
}

void Agent::Impl::OnBlobAck(const Message& m, Clock::time_point now) {
  auto ack = m.body().getBlobAck();
  auto hash = HashFromData(ack.getHash());
  if (!delivery || !hash || *hash != delivery->output || delivery->awaiting_ack) return;
  delivery->last_activity = now;
  delivery->sender->OnAck(ack.getNextOffset(), ack.getComplete());
  if (ack.getComplete() || delivery->sender->done()) {
    SendTaskResult(now);
    return;
  }
  auto chunks = delivery->sender->NextChunks();
  if (!chunks) {
    spdlog::error("cannot read result blob: {}", chunks.error().message);
    return;
  }
  for (const auto& c : *chunks) {
    auto b = client->NewRequest();
    auto put = b.body().initBlobPut();
    put.setHash(AsData(delivery->output));
    put.setOffset(c.offset);
    put.setBytes(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(c.bytes.data()),
                                     c.bytes.size()));
    put.setTotalSizeBytes(delivery->sender->total_size_bytes());
    Send(b);
  }
}

void Agent::Impl::SendTaskResult(Clock::time_point now) {
  auto e = spool->Get(delivery->key);
  json meta = e ? json::parse(e->meta_json, nullptr, false) : json();
  if (!e || meta.is_discarded()) {
    spdlog::error("spooled result {} vanished", delivery->key);
    store->Unpin(delivery->output);
    delivery.reset();
    return;
  }
  auto receipt = FromHex(meta.value("receipt", ""));
  auto signature = FromHex(meta.value("signature", ""));
  auto b = client->NewRequest();
  auto r = b.body().initTaskResult();
  r.setTaskId(delivery->task_id);
  r.setAttempt(delivery->attempt);
  auto out = r.initOutput();
  out.setHash(AsData(delivery->output));
  out.setSizeBytes(delivery->sender->total_size_bytes());
  out.setName(meta.value("train", true) ? "delta.safetensors" : "outputs.jsonl");
  auto metrics = r.initMetrics();
  metrics.setFinalLoss(NumOr(meta, "final_loss"));
  metrics.setValLoss(NumOr(meta, "val_loss"));
  metrics.setTokens(meta.value("tokens", uint64_t{0}));
  metrics.setFlops(meta.value("flops", 0.0));
  metrics.setDurationMs(meta.value("duration_ms", uint64_t{0}));
  if (receipt && signature) {
    r.setReceipt(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(receipt->data()),
                                     receipt->size()));
    r.setReceiptSignature(capnp::Data::Reader(
        reinterpret_cast<const uint8_t*>(signature->data()), signature->size()));
  }
  if (auto ls = FromHex(meta.value("ledger_signature", "")); ls && ls->size() == 64) {
    r.setLedgerDevice(meta.value("ledger_device", ""));
    r.setLedgerKernelBuild(meta.value("ledger_kernel_build", ""));
    r.setLedgerStartUnixMs(meta.value("ledger_start_unix_ms", uint64_t{0}));
    r.setLedgerEndUnixMs(meta.value("ledger_end_unix_ms", uint64_t{0}));
    r.setLedgerSignature(
        capnp::Data::Reader(reinterpret_cast<const uint8_t*>(ls->data()), ls->size()));
  }
  // The list the receipt's commitment root signs; an entry that does not parse is sent as is
  // (empty), so the scheduler sees a root mismatch rather than a silently shorter list.
  if (const auto it = meta.find("commitments"); it != meta.end() && it->is_array()) {
    auto list = r.initCommitments(static_cast<unsigned>(it->size()));
    for (unsigned i = 0; i < list.size(); ++i) {
      auto c = FromHex((*it)[i].is_string() ? (*it)[i].get<std::string>() : std::string());
      if (c) {
        list.set(i, capnp::Data::Reader(reinterpret_cast<const uint8_t*>(c->data()), c->size()));
      }
    }
  }
  Send(b);
  delivery->awaiting_ack = true;
  delivery->last_activity = now;
  spdlog::info("job={} task={} attempt={}: result {} sent", meta.value("job_id", ""),
               delivery->task_id, delivery->attempt, ToHex(delivery->output));
}

void Agent::Impl::OnTaskResultAck(const Message& m, Clock::time_point now) {
  auto ack = m.body().getTaskResultAck();
  const std::string key = SpoolKey(ack.getTaskId(), ack.getAttempt());
  if (!ack.getAccepted()) {
    spdlog::warn("task={} attempt={}: result not accepted: {}", ack.getTaskId(),
                 ack.getAttempt(), std::string(ack.getMessage()));
  } else {
    // The scheduler has the result for good: the spool copy goes next. Logged so an operator
    // (and the power-cut test) can match every acknowledged result against the ledger.
    spdlog::info("task={} attempt={}: result accepted, paid {} micro-PLUME {}", ack.getTaskId(),
                 ack.getAttempt(), ack.getPaidMicroPlume(), std::string(ack.getMessage()));
    if (ack.getPaidMicroPlume() > 0 && options.metrics) {
      options.metrics->OnCreditsEarned(ack.getPaidMicroPlume());
    }
  }
  (void)spool->Remove(key);
  if (delivery && delivery->key == key) {
    if (auto size = store->SizeOf(delivery->output); size && options.metrics) {
      options.metrics->OnBlobBytes(false, *size);
    }
    store->Unpin(delivery->output);
    delivery.reset();
    ++stats.results_delivered;
    StartNextDelivery(now);
  }
}

void Agent::Impl::CheckDeliveryStall(Clock::time_point now) {
  if (!delivery || now - delivery->last_activity < kTransferStallMax) return;
  // No answer: the scheduler may have restarted. Ask again where the upload stands; if the blob
  // is complete there the probe's ack leads straight to a fresh TaskResult.
  spdlog::info("task={} attempt={}: no answer to the upload; probing again", delivery->task_id,
               delivery->attempt);
  auto sender = BlobSender::Start(*store, delivery->output);
  if (sender) delivery->sender = std::move(*sender);
  SendProbe(now);
}

}  // namespace plume::agent
