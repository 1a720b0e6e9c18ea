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

}  // namespace plume::ledger
