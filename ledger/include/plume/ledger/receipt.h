// Task receipts: what an agent signs when a task finishes, and what the scheduler countersigns
// before the ledger pays for it. A settle entry carries one; the ledger pays
// price * flops / 1e15 to the provider and a fee to the treasury out of the job's escrow.
//
// Two signatures, two byte strings (both canonical, see entry.h for the encoding rules), each
// starting with a versioned domain tag and the id of the ledger the receipt is for (log.h
// LedgerIdOf), so a receipt signed for one ledger does not verify on another:
//  - agent_signature by `agent` over AgentSigningBytes(): the work facts (job, task, attempt,
//    input and output hashes, FLOPs, device, kernel build, start/end time).
//  - scheduler_signature by the scheduler (the ledger key) over SchedulerSigningBytes(): the
//    agent's bytes, the agent's signature and the payment terms (price, fee). The countersign
//    is the scheduler's statement "I checked this receipt and these are the terms".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume::ledger {

// A ledger's id (log.h LedgerIdOf): BLAKE2b-256 of its header, unique per ledger.
using LedgerId = Hash256;

struct TaskReceipt {
  // Signed by the agent.
  std::string job_id;
  std::string task_id;
  uint32_t attempt = 0;
  std::vector<Hash256> input_hashes;
  Hash256 output_hash{};
  uint64_t flops = 0;
  std::string device;
  std::string kernel_build;
  uint64_t start_unix_ms = 0;
  uint64_t end_unix_ms = 0;
  PublicKey agent{};
  Signature agent_signature{};
  // Countersigned by the scheduler.
  uint64_t price_micro_plume_per_pflop = 0;
  uint32_t fee_bps = 0;
  Signature scheduler_signature{};

  bool operator==(const TaskReceipt&) const = default;
};

std::vector<uint8_t> AgentSigningBytes(const TaskReceipt& receipt, const LedgerId& ledger);
std::vector<uint8_t> SchedulerSigningBytes(const TaskReceipt& receipt, const LedgerId& ledger);

// Returns the signature; the caller stores it in the receipt (no out-parameters).
Signature SignAsAgent(const TaskReceipt& receipt, const LedgerId& ledger, const Identity& agent);
Signature Countersign(const TaskReceipt& receipt, const LedgerId& ledger,
                      const Identity& scheduler);

bool VerifyAgentSignature(const TaskReceipt& receipt, const LedgerId& ledger);

// The receipt's key in logs: 16 hex digits of BLAKE2b-256 over the agent's fields, so the agent
// that signs it and the scheduler that countersigns it log the same key for the same work.
std::string ReceiptKey(const TaskReceipt& receipt);
bool VerifyCountersignature(const TaskReceipt& receipt, const LedgerId& ledger,
                            const PublicKey& scheduler);

// Shape checks (sizes, times, fee) without signatures; empty string when well formed, else why.
std::string ReceiptShapeProblem(const TaskReceipt& receipt);

}  // namespace plume::ledger
