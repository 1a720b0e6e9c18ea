// Record file reading and writing (see log.h).
#include "plume/ledger/log.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "plume/ledger/limits.h"
#include "plume/protocol/codec.h"

namespace plume::ledger {
namespace {
constexpr std::string_view kMagic = "PLUMELOG";
// 3: entries carry at_ms, legs and memo (unbonding, withdraw, slash with legs); 2: every
// signature covers the ledger's id; 1: neither.
constexpr uint32_t kLogVersion = 4;
constexpr std::string_view kLedgerIdDomain = "plume-ledger-id-v2";
constexpr size_t kHeaderCrcOffset = kLogHeaderBytes - 4;

// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), byte-at-a-time table. Records are a
// few hundred bytes, so a table is fast enough and needs no CPU-specific code.
constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

std::string Errno(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

Status SyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Fail(Errno("cannot open directory", dir));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(Errno("cannot fsync directory", dir));
  return {};
}

Status WriteAll(int fd, std::span<const uint8_t> bytes, uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Fail(std::string("ledger write failed: ") + std::strerror(errno) +
                  " (disk full? free space and reopen the ledger)");
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}
}  // namespace

uint32_t Crc32c(std::span<const uint8_t> bytes) {
  uint32_t c = 0xffffffffu;
  for (uint8_t b : bytes) c = kCrcTable[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::vector<uint8_t> EncodeLogHeader(const LogHeader& header) {
  std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
  protocol::codec::PutU32(out, kLogVersion);
  protocol::codec::PutRaw(out, header.ledger);
  protocol::codec::PutRaw(out, header.operator_key);
  protocol::codec::PutRaw(out, header.nonce);
  protocol::codec::PutU32(out, Crc32c(out));
  return out;
}

LedgerId LedgerIdOf(const LogHeader& header) {
  std::vector<uint8_t> bytes;
  protocol::codec::PutString(bytes, kLedgerIdDomain);
  protocol::codec::PutRaw(bytes, header.ledger);
  protocol::codec::PutRaw(bytes, header.operator_key);
  protocol::codec::PutRaw(bytes, header.nonce);
  return Blake2b256(bytes);
}

Hash256 NewLedgerNonce() {
  Hash256 nonce;
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

Status CheckLogVersion(std::span<const uint8_t> bytes) {
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0 ||
      LoadU32(bytes.data() + 8) == kLogVersion) {
    return {};
  }
  const uint32_t version = LoadU32(bytes.data() + 8);
  std::string why;
  if (version < kLogVersion) {
    why =
        " (version 4 entries carry a typed body under their signatures, and version 3 added "
        "unbonding release times, withdrawals and slash legs; older entries were signed without "
        "them)";
  }
  return Fail("ledger.log has format version " + std::to_string(version) + ", this build reads " +
              std::to_string(kLogVersion) + " only" + why +
              "; keep this directory for the build that wrote it and start a new ledger directory");
}

Result<LogHeader> DecodeLogHeader(std::span<const uint8_t> bytes) {
  // Checked before the length: a version 1 header is shorter than this build's.
  if (auto s = CheckLogVersion(bytes); !s) return tl::unexpected(s.error());
  if (bytes.size() < kLogHeaderBytes) return Fail("ledger.log is shorter than its header");
  if (std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    return Fail("ledger.log does not start with PLUMELOG: not a Plume ledger file");
  }
  if (LoadU32(bytes.data() + kHeaderCrcOffset) != Crc32c(bytes.first(kHeaderCrcOffset))) {
    return Fail("ledger.log header checksum mismatch: the header is corrupt");
  }
  protocol::codec::Reader in(bytes.subspan(12, kHeaderCrcOffset - 12));
  LogHeader h;
  h.ledger = in.Raw<32>();
  h.operator_key = in.Raw<32>();
  h.nonce = in.Raw<32>();
  return h;
}

void AppendRecord(std::span<const uint8_t> payload, std::vector<uint8_t>& out) {
  protocol::codec::PutU32(out, static_cast<uint32_t>(payload.size()));
  protocol::codec::PutU32(out, Crc32c(payload));
  protocol::codec::PutRaw(out, payload);
}

Result<std::unique_ptr<LogReader>> LogReader::Open(const std::filesystem::path& path) {
  std::unique_ptr<LogReader> r(new LogReader());
  r->path_ = path;
  r->file_ = std::fopen(path.c_str(), "rb");
  if (r->file_ == nullptr) return Fail(Errno("cannot open", path));
  std::setvbuf(r->file_, nullptr, _IOFBF, 1 << 20);
  std::error_code ec;
  r->file_bytes_ = std::filesystem::file_size(path, ec);
  if (ec) return Fail("cannot stat " + path.string() + ": " + ec.message());
  std::vector<uint8_t> header(kLogHeaderBytes);
  header.resize(std::fread(header.data(), 1, header.size(), r->file_));
  if (header.size() < kLogHeaderBytes) {
    // Decoding a short header fails; it names an older version rather than call it short.
    return Fail(DecodeLogHeader(header).error().message + ": " + path.string());
  }
  auto decoded = DecodeLogHeader(header);
  if (!decoded) return tl::unexpected(decoded.error());
  r->header_ = *decoded;
  return r;
}

LogReader::~LogReader() {
  if (file_ != nullptr) std::fclose(file_);
}

LogReader::Next LogReader::ReadNext() {
  offset_ = end_offset_;
  if (offset_ == file_bytes_) return Next::kEnd;
  const auto bad = [&](std::string why) {
    bad_reason_ = std::move(why);
    return Next::kBad;
  };
  uint8_t frame[kRecordFrameBytes];
  if (file_bytes_ - offset_ < kRecordFrameBytes ||
      std::fread(frame, 1, sizeof(frame), file_) != sizeof(frame)) {
    return bad("record frame cut short");
  }
  const uint32_t length = LoadU32(frame);
  if (length == 0 || length > kRecordBytesMax) {
    return bad("record length " + std::to_string(length) + " out of range");
  }
  if (file_bytes_ - offset_ - kRecordFrameBytes < length) return bad("record cut short");
  payload_.resize(length);
  if (std::fread(payload_.data(), 1, length, file_) != length) return bad("record unreadable");
  if (Crc32c(payload_) != LoadU32(frame + 4)) return bad("record checksum mismatch");
  end_offset_ = offset_ + kRecordFrameBytes + length;
  return Next::kRecord;
}

bool LogReader::SeekTo(uint64_t offset) {
  if (offset < kLogHeaderBytes || offset > file_bytes_) return false;
  if (std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0) return false;
  end_offset_ = offset;
  return true;
}

bool LogReader::ValidRecordFollows(uint64_t offset,
                                   const std::function<bool(std::span<const uint8_t>)>& accept) {
  std::FILE* f = std::fopen(path_.c_str(), "rb");
  if (f == nullptr) return true;  // cannot tell: answer the safe way (refuse to cut)
  // Slide a window over the rest of the file so memory stays bounded however large it is; the
  // window always holds the longest record that could start at the current position.
  constexpr uint64_t kLongest = kRecordFrameBytes + kRecordBytesMax;
  constexpr uint64_t kWindowBytes = (1 << 20) + kLongest;
  std::vector<uint8_t> window;
  uint64_t base = 0;  // file offset of window[0]
  bool found = false;
  for (uint64_t at = offset + 1; !found && at + kRecordFrameBytes <= file_bytes_; ++at) {
    const uint64_t need = std::min(kLongest, file_bytes_ - at);
    if (window.empty() || at + need > base + window.size()) {
      base = at;
      window.resize(std::min(kWindowBytes, file_bytes_ - at));
      if (std::fseek(f, static_cast<long>(at), SEEK_SET) != 0 ||
          std::fread(window.data(), 1, window.size(), f) != window.size()) {
        found = true;  // unreadable: answer the safe way
        break;
      }
    }
    const uint8_t* p = window.data() + (at - base);
    const uint32_t length = LoadU32(p);
    if (length == 0 || length > kRecordBytesMax || need - kRecordFrameBytes < length) continue;
    const std::span<const uint8_t> payload(p + kRecordFrameBytes, length);
    found = Crc32c(payload) == LoadU32(p + 4) && accept(payload);
  }
  std::fclose(f);
  return found;
}

Result<std::unique_ptr<LogWriter>> LogWriter::Create(const std::filesystem::path& path,
                                                     const LogHeader& header) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(Errno("cannot create", path));
  std::unique_ptr<LogWriter> w(new LogWriter(fd, 0));
  const std::vector<uint8_t> bytes = EncodeLogHeader(header);
  if (auto s = w->WriteAndSync(bytes); !s) return tl::unexpected(s.error());
  if (auto s = SyncDirectory(path.parent_path()); !s) return tl::unexpected(s.error());
  return w;
}

Result<std::unique_ptr<LogWriter>> LogWriter::OpenAt(const std::filesystem::path& path,
                                                     uint64_t end_offset) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Fail(Errno("cannot open for writing", path));
  std::unique_ptr<LogWriter> w(new LogWriter(fd, end_offset));
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0) return Fail(Errno("cannot seek", path));
  if (static_cast<uint64_t>(size) != end_offset) {
    if (::ftruncate(fd, static_cast<off_t>(end_offset)) != 0 || ::fdatasync(fd) != 0) {
      return Fail(Errno("cannot cut the torn tail of", path));
    }
  }
  return w;
}

LogWriter::~LogWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status LogWriter::WriteAndSync(std::span<const uint8_t> bytes) {
  if (auto s = WriteAll(fd_, bytes, size_); !s) return s;
  if (::fdatasync(fd_) != 0) {
    return Fail(std::string("ledger fdatasync failed: ") + std::strerror(errno) +
                "; the last batch is not durable, reopen the ledger");
  }
  size_ += bytes.size();
  return {};
}

Result<std::vector<uint8_t>> ReadRecordAt(int fd, uint64_t offset) {
  uint8_t frame[kRecordFrameBytes];
  if (::pread(fd, frame, sizeof(frame), static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(sizeof(frame))) {
    return Fail("cannot read the record at offset " + std::to_string(offset));
  }
  const uint32_t length = LoadU32(frame);
  if (length == 0 || length > kRecordBytesMax) {
    return Fail("record at offset " + std::to_string(offset) + " has a bad length");
  }
  std::vector<uint8_t> payload(length);
  if (::pread(fd, payload.data(), length, static_cast<off_t>(offset + kRecordFrameBytes)) !=
      static_cast<ssize_t>(length)) {
    return Fail("cannot read the record at offset " + std::to_string(offset));
  }
  if (Crc32c(payload) != LoadU32(frame + 4)) {
    return Fail("record at offset " + std::to_string(offset) + " fails its checksum");
  }
  return payload;
}

}  // namespace plume::ledger
