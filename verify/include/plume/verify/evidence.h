// Dispute evidence: what a "dispute/1" verdict (ledger/verdict.h) was decided on, as a blob a
// third party recomputes the verdict from. The scheduler builds it when the verdict is recorded
// (scheduler/src/core_evidence.cc), stores it in its blob store and names its hash in the verdict
// body; `plume audit JOB` fetches it and runs the checks below.
//
// The blob holds, per run of the verdict (original, audit, then the referee when one ran), the
// commitments the run sent (a training chain, or one completion hash per prompt of an inference
// shard; a referee's: the link or the completion hashes it recomputed) and the agent's signed
// receipt (protocol/receipt.h), whose `commitment` is CommitmentRoot of that list. What a
// third party checks, all pure:
//   1. ReceiptRoots: each receipt's signature, and that it is the run the verdict names (job,
//      task id, output hash) by the agent the ledger's receipt names; it yields the roots.
//   2. DisputeEvidenceProblem: every list is the one its receipt's root signs, the plan
//      (PlanDispute / PlanInferDispute on the two lists) gives the verdict's link and share, and
//      the referee's commitments (Judge / JudgeCompletions) give the verdict's outcome.
// `size` (the task's inner steps H, or the shard's prompt count) comes from the job spec, not
// from a receipt: without the spec it is the scheduler's word; with it, EvidenceSizeProblem
// checks it (`plume audit JOB --spec FILE`).
//
// Encoding (canonical, protocol/codec.h): the tag "plume/dispute-evidence/1", the original's
// task id, u8 kind, u64 size, u32 run count, then per run: u32 n and n 32-byte commitments, the
// receipt bytes and the receipt signature (byte strings, empty when the scheduler had none).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/ledger/verdict.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume::verify {

inline constexpr std::string_view kEvidenceTag = "plume/dispute-evidence/1";
// A list is at most what a result may carry (protocol limits kResultCommitmentsMax).
inline constexpr size_t kEvidenceListMax = 65536;
inline constexpr size_t kEvidenceReceiptBytesMax = 256 * 1024;

enum class EvidenceKind : uint8_t { kTrain = 1, kInfer = 2 };

struct EvidenceRun {
  std::vector<Hash256> commitments;
  std::string receipt;            // the agent's canonical receipt bytes (protocol/receipt.h)
  std::string receipt_signature;  // 64 bytes, over ReceiptSigningBytes(receipt)
  bool operator==(const EvidenceRun&) const = default;
};

struct DisputeEvidence {
  std::string task;  // the original's task id, as the verdict names it
  EvidenceKind kind = EvidenceKind::kTrain;
  uint64_t size = 0;              // training: inner steps H; inference: prompts in the shard
  std::vector<EvidenceRun> runs;  // original, audit, then the referee if one ran
  bool operator==(const DisputeEvidence&) const = default;
};

std::vector<uint8_t> EncodeEvidence(const DisputeEvidence& e);
// Refuses another tag, an unknown kind, a run count outside 2..3, a list over kEvidenceListMax,
// a signature that is neither empty nor 64 bytes, and trailing bytes.
Result<DisputeEvidence> DecodeEvidence(std::span<const uint8_t> bytes);
// The blob's name: BLAKE2b-256 of the encoding (what the verdict's `evidence` is).
Hash256 EvidenceHash(std::span<const uint8_t> encoded);

struct EvidenceRoots {
  std::vector<std::optional<Hash256>> roots;  // per run: its receipt's commitment root, if any
  std::string problem;                        // "" when every receipt is the run it should be
};
// Checks each run's receipt in `e` against the verdict: a good signature, job `job`, the task id
// and output hash fact.runs[i] names, and the agent `agents[i]` where the ledger's receipt of that
// run names one (nullopt: the ledger holds none). A run without a receipt gets no root.
EvidenceRoots ReceiptRoots(const ledger::VerdictFact& fact, std::string_view job,
                           const DisputeEvidence& e,
                           std::span<const std::optional<PublicKey>> agents);

// "" when `e` gives the verdict `fact` states, else why not. `roots[i]` is the commitment root
// the receipt of run i signs (ReceiptRoots); a run without one fails the check, since its list
// would then be only the scheduler's word.
std::string DisputeEvidenceProblem(const ledger::VerdictFact& fact, const DisputeEvidence& e,
                                   std::span<const std::optional<Hash256>> roots);

// How a job spec splits work, as the scheduler applies it and a third party recomputes it: an
// infer job's `workers` prompts shards, never more shards than prompts nor fewer than one, and
// the first prompt_count % shards shards hold one prompt more than the others.
uint32_t InferShardCount(uint32_t workers, uint32_t prompt_count);
uint32_t PromptsInShard(uint32_t prompt_count, uint32_t shards, uint32_t shard);
// The global index of a shard's first prompt: the prompts of the shards before it.
uint64_t FirstPromptOfShard(uint32_t prompt_count, uint32_t shards, uint32_t shard);

// What a job's spec fixes about its evidence blobs' `size`.
struct EvidenceSpec {
  EvidenceKind kind = EvidenceKind::kTrain;
  uint64_t inner_steps = 0;   // train: [network] local_steps
  uint32_t prompt_count = 0;  // infer: the prompts, and InferShardCount of them
  uint32_t shards = 0;
};
// "" when `e.size` is what `spec` gives for its task (an infer task's shard is the number after
// the "/s" that ends its id, scheduler task ids being "<job>/s<shard>"), else why not.
std::string EvidenceSizeProblem(const DisputeEvidence& e, const EvidenceSpec& spec);

}  // namespace plume::verify
