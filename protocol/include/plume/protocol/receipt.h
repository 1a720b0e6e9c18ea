// Task receipts: what an agent signs for each finished task (schema struct Receipt). The bytes are
// the canonical Cap'n Proto encoding (one segment, no segment table), so the same fields always
// give the same bytes and the same signature check everywhere (scheduler, ledger, offline
// verification). TaskResult.receipt / receiptSignature carry them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume {

struct ReceiptFields {
  std::string job_id;
  uint64_t task_id = 0;
  uint32_t attempt = 0;
  PublicKey agent{};
  std::vector<Hash256> inputs;
  Hash256 output{};
  uint64_t tokens = 0;
  double flops = 0;
  uint64_t finished_at_ms = 0;
  // CommitmentRoot of the task's commitments (TaskResult.commitments); none: not committed.
  std::optional<Hash256> commitment;

  bool operator==(const ReceiptFields&) const = default;
};

struct SignedReceipt {
  std::string bytes;    // canonical encoding
  Signature signature;  // by `agent` over `bytes`
};

// What the agent's signature covers: a domain tag, then the canonical bytes, so a receipt
// signature can never be taken for a signature of anything else the agent's key signs.
inline constexpr std::string_view kReceiptDomain = "plume/task-receipt/v1";
std::string ReceiptSigningBytes(std::string_view receipt_bytes);

// Sets fields.agent to the signer's key, encodes canonically and signs.
Result<SignedReceipt> SignReceipt(const Identity& agent, ReceiptFields fields);
// Decodes, checks that the bytes are canonical and that the signature is the named agent's.
Result<ReceiptFields> VerifyReceipt(std::span<const uint8_t> bytes,
                                    std::span<const uint8_t> signature);
// What a receipt signs for a task's commitments: BLAKE2b-256 of a tag, the count and every
// entry in order, so that the signature covers each link or completion hash, not just the last.
Hash256 CommitmentRoot(std::span<const Hash256> commitments);

// BLAKE2b-256 of the receipt bytes: the id the ledger records.
Hash256 ReceiptHash(std::span<const uint8_t> bytes);

}  // namespace plume
