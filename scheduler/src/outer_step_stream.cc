// The outer step streamed over checkpoint blobs; see outer_step_stream.h.
#include "outer_step_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "plume/scheduler/outer_step.h"

namespace plume::scheduler {
namespace {

constexpr size_t kPieceFloats = static_cast<size_t>(kernels::kCheckpointPieceFloats);
// A checkpoint header of the scheduler's own or one the result screen admitted (verify's
// kHeaderBytesMax): larger ones are refused rather than read whole.
constexpr uint64_t kHeaderBytesMax = 1 << 20;

std::string Errno() { return std::strerror(errno); }

// One input file, read at offsets (pread), closed when dropped.
class InputFile {
 public:
  static Result<InputFile> Open(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail("cannot open " + path.string() + ": " + Errno());
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size < 0) {
      ::close(fd);
      return Fail("cannot size " + path.string() + ": " + Errno());
    }
    return InputFile(fd, static_cast<uint64_t>(size), path);
  }
  InputFile(InputFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), size_(o.size_), path_(o.path_) {}
  InputFile& operator=(InputFile&&) = delete;
  ~InputFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint64_t size() const { return size_; }

  Status Read(uint64_t offset, void* into, size_t bytes) const {
    if (offset > size_ || bytes > size_ - offset) {
      return Fail(path_.string() + " ends before byte " + std::to_string(offset + bytes));
    }
    auto* p = static_cast<uint8_t*>(into);
    while (bytes > 0) {
      const ssize_t n = ::pread(fd_, p, bytes, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail("cannot read " + path_.string() + ": " + (n < 0 ? Errno() : "EOF"));
      p += n;
      offset += static_cast<uint64_t>(n);
      bytes -= static_cast<size_t>(n);
    }
    return {};
  }

 private:
  InputFile(int fd, uint64_t size, std::filesystem::path path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  int fd_;
  uint64_t size_;
  std::filesystem::path path_;
};

// The file's bytes hash to `want` (BlobStore::Get's check against a blob damaged on disk),
// read in 1 MiB pieces.
Status CheckHash(const InputFile& file, const Hash256& want) {
  std::vector<uint8_t> piece(kPieceFloats * sizeof(float));
  Hasher hasher;
  for (uint64_t at = 0; at < file.size(); at += piece.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), file.size() - at));
    if (auto st = file.Read(at, piece.data(), n); !st) return st;
    hasher.Update(std::span<const uint8_t>(piece.data(), n));
  }
  if (hasher.Final() != want) return Fail("corrupt on disk (its bytes do not hash to its name)");
  return {};
}

// Where each of the model's tensors (kernels::CheckpointTensors order) starts in the file, from
// the file's own header: F32, the model's shapes, nothing else, inside the file.
Result<std::vector<uint64_t>> TensorOffsets(const InputFile& file,
                                            const kernels::ModelConfig& model) {
  uint64_t header_bytes = 0;
  if (auto st = file.Read(0, &header_bytes, 8); !st) return tl::unexpected(st.error());
  if (header_bytes > kHeaderBytesMax || header_bytes > file.size() - 8) {
    return Fail("checkpoint header of " + std::to_string(header_bytes) + " bytes (at most " +
                std::to_string(kHeaderBytesMax) + ", and inside the file)");
  }
  std::string text(static_cast<size_t>(header_bytes), '\0');
  if (auto st = file.Read(8, text.data(), text.size()); !st) return tl::unexpected(st.error());
  const auto header = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return Fail("checkpoint header is not a JSON object");
  if (auto meta = header.find("__metadata__"); meta != header.end()) {
    // As LoadCheckpointBytes's expectation: a file that says it is another model is refused.
    const std::pair<const char*, int> fields[] = {
        {"plume.n_layer", model.n_layer}, {"plume.n_head", model.n_head},
        {"plume.n_embd", model.n_embd},   {"plume.context", model.context},
        {"plume.vocab", model.vocab}};
    for (const auto& [key, value] : fields) {
      auto v = meta->is_object() ? meta->find(key) : meta->end();
      if (meta->is_object() && v != meta->end() && *v != std::to_string(value)) {
        return Fail(std::string("checkpoint metadata ") + key + " is not the model's " +
                    std::to_string(value));
      }
    }
  }
  const uint64_t data_at = 8 + header_bytes;
  std::vector<uint64_t> offsets;
  size_t named = 0;
  for (const kernels::TensorSummary& t : kernels::CheckpointTensors(model)) {
    auto it = header.find(t.name);
    if (it == header.end() || !it->is_object()) return Fail("missing tensor '" + t.name + "'");
    const auto dtype = it->find("dtype"), shape = it->find("shape"), at = it->find("data_offsets");
    if (dtype == it->end() || *dtype != "F32") return Fail("tensor '" + t.name + "' is not F32");
    if (shape == it->end() || *shape != nlohmann::json(t.shape)) {
      return Fail("tensor '" + t.name + "' does not have the model's shape");
    }
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
    if (at == it->end() || !at->is_array() || at->size() != 2 || !(*at)[0].is_number_unsigned() ||
        !(*at)[1].is_number_unsigned()) {
      return Fail("tensor '" + t.name + "' has no data_offsets");
    }
    const uint64_t begin = (*at)[0], end = (*at)[1];
    if (end < begin || end - begin != numel * sizeof(float) || end > file.size() - data_at) {
      return Fail("tensor '" + t.name + "' data_offsets do not fit its shape or the file");
    }
    offsets.push_back(data_at + begin);
    ++named;
  }
  if (header.size() != named + (header.contains("__metadata__") ? 1 : 0)) {
    return Fail("checkpoint holds tensors that are not part of the model");
  }
  return offsets;
}

// A file written in pieces that appears whole, durably, at Finish (file_util.h's contract:
// <path>.tmp, fsync, rename, fsync of the directory). Dropped unfinished, the .tmp is removed.
class DurableStream {
 public:
  static Result<DurableStream> Start(const std::filesystem::path& path) {
    const std::filesystem::path tmp = path.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Fail("cannot create " + tmp.string() + ": " + Errno());
    return DurableStream(fd, path);
  }
  DurableStream(DurableStream&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(o.path_) {}
  DurableStream& operator=(DurableStream&&) = delete;
  ~DurableStream() {
    if (fd_ < 0) return;
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove(path_.string() + ".tmp", ec);
  }
  Status Append(std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Fail("cannot write " + path_.string() + ".tmp: " + Errno());
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return {};
  }
  Status Finish() {
    const std::string tmp = path_.string() + ".tmp";
    if (::fsync(fd_) != 0) return Fail("cannot fsync " + tmp + ": " + Errno());
    ::close(std::exchange(fd_, -1));
    std::error_code ec;
    std::filesystem::rename(tmp, path_, ec);
    if (ec) return Fail("cannot rename " + tmp + ": " + ec.message());
    return SyncDir(path_.has_parent_path() ? path_.parent_path() : std::filesystem::path("."));
  }

 private:
  DurableStream(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::filesystem::path path_;
};

template <typename T>
std::span<const uint8_t> Bytes(std::span<const T> v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size_bytes()};
}

// An input checkpoint blob, hashed and its tensors located.
struct Input {
  InputFile file;
  std::vector<uint64_t> offsets;
};

Result<Input> OpenInput(BlobStore& blobs, const BlobHash& hex, const kernels::ModelConfig& model) {
  auto hash = HashFromHex(hex);
  if (!hash) return Fail("blob id " + hex + ": " + hash.error().message);
  if (!blobs.Has(*hash)) return Fail("blob " + hex + " not found");
  auto file = InputFile::Open(blobs.PathOf(*hash));
  if (!file) return Fail("blob " + hex + ": " + file.error().message);
  if (auto st = CheckHash(*file, *hash); !st) return Fail("blob " + hex + ": " + st.error().message);
  auto offsets = TensorOffsets(*file, model);
  if (!offsets) return Fail("blob " + hex + ": " + offsets.error().message);
  return Input{std::move(*file), std::move(*offsets)};
}

}  // namespace

Result<BlobHash> StreamOuterStep(BlobStore& blobs, const StreamedRound& r) {
  if (r.weights.size() != r.deltas.size()) return Fail("one weight per delta is needed");
  double total_weight = 0;  // added in worker order, as OuterStep::AddDelta does
  for (uint64_t w : r.weights) total_weight += static_cast<double>(w);
  if (total_weight <= 0) return Fail("round has no weighted deltas");
  auto theta = OpenInput(blobs, r.params, r.model);
  if (!theta) return tl::unexpected(theta.error());
  std::vector<Input> deltas;
  for (const BlobHash& d : r.deltas) {
    auto in = OpenInput(blobs, d, r.model);
    if (!in) return Fail("worker delta: " + in.error().message);
    deltas.push_back(std::move(*in));
  }
  const uint64_t momentum_bytes = static_cast<uint64_t>(r.model.NumRealParams()) * sizeof(float);
  std::optional<InputFile> momentum_prev;
  if (!r.momentum_prev.empty()) {
    auto m = InputFile::Open(r.momentum_prev);
    if (!m) return Fail("momentum file " + r.momentum_prev.string() + " missing");
    if (m->size() != momentum_bytes) {
      return Fail("momentum file " + r.momentum_prev.string() + " is truncated");
    }
    momentum_prev.emplace(std::move(*m));
  }

  auto out = BlobWriter::Start(blobs);
  if (!out) return tl::unexpected(out.error());
  auto momentum_out = DurableStream::Start(r.momentum_out);
  if (!momentum_out) return tl::unexpected(momentum_out.error());
  if (auto st = (*out)->Append(Bytes(std::span<const char>(kernels::CheckpointPrefix(r.model))));
      !st) {
    return tl::unexpected(st.error());
  }
  std::vector<double> sum(kPieceFloats);
  std::vector<float> in(kPieceFloats), params_in(kPieceFloats), m_in, params(kPieceFloats),
      momentum(kPieceFloats);
  if (momentum_prev) m_in.resize(kPieceFloats);
  const auto tensors = kernels::CheckpointTensors(r.model);
  uint64_t momentum_at = 0;  // bytes of m_{r-1} read so far, in the same order
  for (size_t t = 0; t < tensors.size(); ++t) {
    size_t numel = 1;
    for (int64_t d : tensors[t].shape) numel *= static_cast<size_t>(d);
    for (size_t at = 0; at < numel; at += kPieceFloats) {
      const size_t n = std::min(kPieceFloats, numel - at);
      const uint64_t skip = at * sizeof(float), bytes = n * sizeof(float);
      std::fill_n(sum.begin(), n, 0.0);
      for (size_t w = 0; w < deltas.size(); ++w) {
        if (auto st = deltas[w].file.Read(deltas[w].offsets[t] + skip, in.data(), bytes); !st) {
          return Fail("worker delta: " + st.error().message);
        }
        AccumulateDelta(std::span(sum).first(n), std::span<const float>(in).first(n),
                        static_cast<double>(r.weights[w]));
      }
      if (auto st = theta->file.Read(theta->offsets[t] + skip, params_in.data(), bytes); !st) {
        return Fail("round parameters: " + st.error().message);
      }
      std::span<const float> m_prev;
      if (momentum_prev) {
        if (auto st = momentum_prev->Read(momentum_at, m_in.data(), bytes); !st) {
          return tl::unexpected(st.error());
        }
        m_prev = std::span<const float>(m_in).first(n);
      }
      momentum_at += bytes;
      ApplyOuterStep(std::span<const double>(sum).first(n), total_weight,
                     std::span<const float>(params_in).first(n), m_prev, r.outer_lr,
                     r.outer_momentum, std::span(params).first(n), std::span(momentum).first(n));
      if (auto st = momentum_out->Append(Bytes(std::span<const float>(momentum).first(n))); !st) {
        return tl::unexpected(st.error());
      }
      if (auto st = (*out)->Append(Bytes(std::span<const float>(params).first(n))); !st) {
        return tl::unexpected(st.error());
      }
    }
  }
  // m_r is durable before theta_{r+1} exists: a round aggregated again after a crash reads
  // m_{r-1} only, so it makes the same blob.
  if (auto st = momentum_out->Finish(); !st) return tl::unexpected(st.error());
  auto hash = (*out)->Commit();
  if (!hash) return tl::unexpected(hash.error());
  return ToHex(*hash);
}

Status WriteMomentumInCheckpointOrder(const kernels::ModelConfig& model,
                                      const std::vector<float>& flat,
                                      const std::filesystem::path& path) {
  auto file = DurableStream::Start(path);
  if (!file) return tl::unexpected(file.error());
  bool header = true;  // the checkpoint's header is not part of a momentum file
  auto written = kernels::WriteCheckpoint(
      model, flat, [&](std::span<const uint8_t> piece) -> kernels::Status {
        if (std::exchange(header, false)) return {};
        if (auto st = file->Append(piece); !st) return kernels::Fail(st.error().message);
        return {};
      });
  if (!written) return Fail(written.error().message);
  return file->Finish();
}

}  // namespace plume::scheduler
