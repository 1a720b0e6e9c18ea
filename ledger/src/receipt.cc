// Canonical bytes and signatures of task receipts (see receipt.h).
#include "plume/ledger/receipt.h"

#include "plume/ledger/limits.h"
#include "receipt_codec.h"

namespace plume::ledger {
namespace {
constexpr std::string_view kAgentDomain = "plume-receipt-agent-v2";
constexpr std::string_view kSchedulerDomain = "plume-receipt-scheduler-v2";

void PutAgentFields(const TaskReceipt& r, std::vector<uint8_t>& out) {
  protocol::codec::PutString(out, r.job_id);
  protocol::codec::PutString(out, r.task_id);
  protocol::codec::PutU32(out, r.attempt);
  protocol::codec::PutU32(out, static_cast<uint32_t>(r.input_hashes.size()));
  for (const Hash256& h : r.input_hashes) protocol::codec::PutRaw(out, h);
  protocol::codec::PutRaw(out, r.output_hash);
  protocol::codec::PutU64(out, r.flops);
  protocol::codec::PutString(out, r.device);
  protocol::codec::PutString(out, r.kernel_build);
  protocol::codec::PutU64(out, r.start_unix_ms);
  protocol::codec::PutU64(out, r.end_unix_ms);
  protocol::codec::PutRaw(out, r.agent);
}
}  // namespace

std::vector<uint8_t> AgentSigningBytes(const TaskReceipt& r, const LedgerId& ledger) {
  std::vector<uint8_t> out;
  out.reserve(288 + 32 * r.input_hashes.size());
  protocol::codec::PutString(out, kAgentDomain);
  protocol::codec::PutRaw(out, ledger);
  PutAgentFields(r, out);
  return out;
}

std::vector<uint8_t> SchedulerSigningBytes(const TaskReceipt& r, const LedgerId& ledger) {
  std::vector<uint8_t> out;
  out.reserve(352 + 32 * r.input_hashes.size());
  protocol::codec::PutString(out, kSchedulerDomain);
  protocol::codec::PutRaw(out, ledger);
  PutAgentFields(r, out);
  protocol::codec::PutRaw(out, r.agent_signature);
  protocol::codec::PutU64(out, r.price_micro_plume_per_pflop);
  protocol::codec::PutU32(out, r.fee_bps);
  return out;
}

Signature SignAsAgent(const TaskReceipt& r, const LedgerId& ledger, const Identity& agent) {
  return agent.Sign(AgentSigningBytes(r, ledger));
}

std::string ReceiptKey(const TaskReceipt& r) {
  std::vector<uint8_t> fields;
  PutAgentFields(r, fields);
  return ToHex(Blake2b256(std::span<const uint8_t>(fields))).substr(0, 16);
}

Signature Countersign(const TaskReceipt& r, const LedgerId& ledger, const Identity& scheduler) {
  return scheduler.Sign(SchedulerSigningBytes(r, ledger));
}

bool VerifyAgentSignature(const TaskReceipt& r, const LedgerId& ledger) {
  return VerifySignature(r.agent, AgentSigningBytes(r, ledger), r.agent_signature);
}

bool VerifyCountersignature(const TaskReceipt& r, const LedgerId& ledger,
                            const PublicKey& scheduler) {
  return VerifySignature(scheduler, SchedulerSigningBytes(r, ledger), r.scheduler_signature);
}

void PutReceipt(const TaskReceipt& r, std::vector<uint8_t>& out) {
  PutAgentFields(r, out);
  protocol::codec::PutRaw(out, r.agent_signature);
  protocol::codec::PutU64(out, r.price_micro_plume_per_pflop);
  protocol::codec::PutU32(out, r.fee_bps);
  protocol::codec::PutRaw(out, r.scheduler_signature);
}

TaskReceipt ReadReceipt(protocol::codec::Reader& in) {
  TaskReceipt r;
  r.job_id = in.String(kJobIdBytesMax);
  r.task_id = in.String(kTaskIdBytesMax);
  r.attempt = in.U32();
  const uint32_t inputs = in.U32();
  if (inputs > kReceiptInputsMax) in.Fail();
  for (uint32_t i = 0; in.ok() && i < inputs; ++i) r.input_hashes.push_back(in.Raw<32>());
  r.output_hash = in.Raw<32>();
  r.flops = in.U64();
  r.device = in.String(kDeviceBytesMax);
  r.kernel_build = in.String(kKernelBuildBytesMax);
  r.start_unix_ms = in.U64();
  r.end_unix_ms = in.U64();
  r.agent = in.Raw<32>();
  r.agent_signature = in.Raw<64>();
  r.price_micro_plume_per_pflop = in.U64();
  r.fee_bps = in.U32();
  r.scheduler_signature = in.Raw<64>();
  return r;
}

std::string ReceiptShapeProblem(const TaskReceipt& r) {
  if (r.job_id.empty() || r.job_id.size() > kJobIdBytesMax)
    return "receipt job id must be 1..64 bytes";
  if (r.task_id.empty() || r.task_id.size() > kTaskIdBytesMax)
    return "receipt task id must be 1..64 bytes";
  if (r.input_hashes.size() > kReceiptInputsMax) return "receipt has more than 1024 input hashes";
  if (r.device.size() > kDeviceBytesMax) return "receipt device name is over 128 bytes";
  if (r.kernel_build.size() > kKernelBuildBytesMax) return "receipt kernel build is over 128 bytes";
  if (r.end_unix_ms < r.start_unix_ms) return "receipt ends before it starts";
  if (r.fee_bps > kFeeBpsMax) return "receipt fee is over 10000 basis points";
  return {};
}

}  // namespace plume::ledger
