// The ledger's record file (ledger.log). Layout:
//   header: "PLUMELOG" | version u32 (4) | ledger public key (32) | operator public key (32) |
//           genesis nonce (32) | crc32c of the preceding 108 bytes (u32)        = 112 bytes
//   records: length u32 | crc32c(payload) u32 | payload (1..kRecordBytesMax bytes)
// The nonce is random at creation, so two ledgers created with the same keys still differ: every
// signature made for a ledger covers its LedgerIdOf() (a hash of the header), which is what keeps
// an entry or receipt signed for one ledger from being appended to another. Version 1 logs (80-byte
// headers, signatures without a ledger id) version 2 logs (entries without at_ms, legs and
// memo) and version 3 logs (entries without a body) are refused by version, never rewritten.
// All integers little-endian. A batch of records is written with one write() and made durable
// with one fdatasync() (group commit); the record framing knows nothing of what payloads mean.
//
// Torn tails: a crash can leave the last write partial. LogReader reports the first record that
// is cut short or fails its checksum as kBad; the caller decides whether that is a torn tail
// (cut it) or corruption of committed data (refuse), see ValidRecordFollows().
// LogReader and LogWriter are single-threaded objects; one LogWriter per file at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plume/ledger/receipt.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume::ledger {

inline constexpr size_t kLogHeaderBytes = 112;
inline constexpr size_t kRecordFrameBytes = 8;

uint32_t Crc32c(std::span<const uint8_t> bytes);

struct LogHeader {
  PublicKey ledger{};
  PublicKey operator_key{};
  Hash256 nonce{};  // random, chosen once when the log is created
};
// BLAKE2b-256 over a domain tag and the header's keys and nonce: the ledger's id, which every
// entry and receipt signature for this ledger covers (entry.h SigningBytes, receipt.h).
LedgerId LedgerIdOf(const LogHeader& header);
// A fresh random nonce for a new log.
Hash256 NewLedgerNonce();
std::vector<uint8_t> EncodeLogHeader(const LogHeader& header);
Result<LogHeader> DecodeLogHeader(std::span<const uint8_t> bytes);
// An error when `bytes` (a file's first bytes, any length) start a log of another format version.
Status CheckLogVersion(std::span<const uint8_t> bytes);

// Appends one framed record (length, checksum, payload) to out.
void AppendRecord(std::span<const uint8_t> payload, std::vector<uint8_t>& out);

class LogReader {
 public:
  enum class Next { kRecord, kEnd, kBad };

  static Result<std::unique_ptr<LogReader>> Open(const std::filesystem::path& path);
  ~LogReader();

  const LogHeader& header() const { return header_; }
  uint64_t file_bytes() const { return file_bytes_; }

  // Reads the next record. kRecord: payload()/offset()/end_offset() describe it. kBad: offset()
  // is where the bad record starts and bad_reason() says why.
  Next ReadNext();
  // Continues reading at `offset` (the end of a record known to be good). False on I/O error.
  bool SeekTo(uint64_t offset);
  const std::vector<uint8_t>& payload() const { return payload_; }
  uint64_t offset() const { return offset_; }
  uint64_t end_offset() const { return end_offset_; }
  const std::string& bad_reason() const { return bad_reason_; }

  // True when some offset after `offset` starts a whole record with a good checksum whose
  // payload satisfies `accept`: the damage at `offset` is then not a torn tail.
  bool ValidRecordFollows(uint64_t offset,
                          const std::function<bool(std::span<const uint8_t>)>& accept);

 private:
  LogReader() = default;
  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
  LogHeader header_;
  uint64_t file_bytes_ = 0;
  std::vector<uint8_t> payload_;
  uint64_t offset_ = 0;
  uint64_t end_offset_ = kLogHeaderBytes;
  std::string bad_reason_;
};

class LogWriter {
 public:
  // Creates a new log holding only the header; fsyncs the file and its directory.
  static Result<std::unique_ptr<LogWriter>> Create(const std::filesystem::path& path,
                                                   const LogHeader& header);
  // Opens an existing log for appending at `end_offset`, first cutting anything after it
  // (a torn or uncommitted tail) and syncing the cut.
  static Result<std::unique_ptr<LogWriter>> OpenAt(const std::filesystem::path& path,
                                                   uint64_t end_offset);
  ~LogWriter();

  // Writes `bytes` at the end and fdatasyncs. On error the file may hold a partial write past
  // size(); the caller must stop using this writer (reopening cuts the partial tail).
  Status WriteAndSync(std::span<const uint8_t> bytes);
  uint64_t size() const { return size_; }

 private:
  LogWriter(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Reads the record framed at `offset` (checksum verified) with pread on `fd`.
Result<std::vector<uint8_t>> ReadRecordAt(int fd, uint64_t offset);

}  // namespace plume::ledger
