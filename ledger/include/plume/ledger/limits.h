// Every bound of the ledger in one place. Inputs beyond these are refused (kInvalid), records
// beyond them are treated as corrupt, so a bad byte can never make us allocate gigabytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plume::ledger {

inline constexpr size_t kEntryIdBytesMax = 64;
inline constexpr size_t kJobIdBytesMax = 64;
inline constexpr size_t kTaskIdBytesMax = 64;
inline constexpr size_t kAccountBytesMax = 96;  // "provider:" + 64 hex fits
inline constexpr size_t kDeviceBytesMax = 128;
inline constexpr size_t kKernelBuildBytesMax = 128;
inline constexpr size_t kReceiptInputsMax = 1024;  // input blob hashes per receipt
inline constexpr size_t kEntrySignaturesMax = 4;
inline constexpr uint32_t kFeeBpsMax = 10'000;        // a fee can be at most 100 % of the pay
inline constexpr size_t kRecordBytesMax = 64 * 1024;  // one encoded log record (payload)
inline constexpr size_t kAppendBatchMax = 1 << 16;    // entries per Append call
// A slash's legs (entry.h): one per leg kind would do (4); 8 leaves room for a clawback to more
// than one team without letting a slash grow without bound.
inline constexpr size_t kSlashLegsMax = 8;
inline constexpr size_t kMemoBytesMax = 1024;  // a slash's evidence text (UTF-8)
// A typed entry body (entry.h, format version 4): dataset terms, proposals and the like. Bounded
// so that it fits one record beside every other field at its largest.
inline constexpr size_t kBodyBytesMax = 16 * 1024;
// Worker deltas one checkpoint entry (lineage.h) lists: 40 bytes each (hash, weight), so 256 of
// them fit a body with room to spare. The scheduler bounds a training job's workers by it.
inline constexpr size_t kCheckpointDeltasMax = 256;

// The longest canonical entry (entry.h), field by field, so that the bounds above can be checked
// against the record size below at compile time: a slash carrying a receipt with every input
// hash, every leg and the longest memo must still fit one log record, or it could be accepted
// in memory and then never written.
constexpr size_t EncodedStringBytes(size_t bytes) { return 4 + bytes; }
inline constexpr size_t kReceiptBytesMax =
    EncodedStringBytes(kJobIdBytesMax) + EncodedStringBytes(kTaskIdBytesMax) + 4 /* attempt */ +
    4 /* input count */ + kReceiptInputsMax * 32 + 32 /* output */ + 8 /* flops */ +
    EncodedStringBytes(kDeviceBytesMax) + EncodedStringBytes(kKernelBuildBytesMax) +
    16 /* start, end */ + 32 /* agent */ + 64 /* agent signature */ + 8 /* price */ + 4 /* fee */ +
    64 /* scheduler signature */;
inline constexpr size_t kLegBytesMax = 1 /* kind */ + EncodedStringBytes(kAccountBytesMax) + 8;
inline constexpr size_t kEntryBytesMax =
    1 /* type */ + EncodedStringBytes(kEntryIdBytesMax) +
    2 * EncodedStringBytes(kAccountBytesMax) /* from, to */ + 8 /* amount */ +
    EncodedStringBytes(kJobIdBytesMax) + 1 /* receipt flag */ + kReceiptBytesMax + 8 /* at_ms */ +
    4 /* leg count */ + kSlashLegsMax * kLegBytesMax + EncodedStringBytes(kMemoBytesMax) +
    EncodedStringBytes(kBodyBytesMax) + 4 /* signature count */ + kEntrySignaturesMax * (32 + 64);
// An entry record is kind u8 | index u64 | prev hash (32) | entry (record.h).
static_assert(1 + 8 + 32 + kEntryBytesMax <= kRecordBytesMax,
              "the largest entry must fit one log record");
static_assert(4 + 1 + 2 * 32 + 2 * 4 + kCheckpointDeltasMax * 40 + 16 <= kBodyBytesMax,
              "a checkpoint body with every delta must fit a body");
static_assert(kSlashLegsMax >= 4, "a slash needs room for one leg of each kind");

}  // namespace plume::ledger
