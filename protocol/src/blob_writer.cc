// A blob written in pieces by this process; see blob_store.h BlobWriter.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "blob_io.h"
#include "plume/protocol/blob_store.h"

namespace plume {

namespace fs = std::filesystem;

struct BlobWriter::Impl {
  BlobStore* store = nullptr;
  fs::path tmp;
  int fd = -1;
  uint64_t size_bytes = 0;
  Hasher hasher;
  bool failed = false;
  bool committed = false;
};

BlobWriter::BlobWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BlobWriter::~BlobWriter() {
  if (impl_->fd >= 0) ::close(impl_->fd);
  if (!impl_->committed) {
    std::error_code ec;
    fs::remove(impl_->tmp, ec);
  }
}

Result<std::unique_ptr<BlobWriter>> BlobWriter::Start(BlobStore& store) {
  auto impl = std::make_unique<Impl>();
  impl->store = &store;
  uint8_t rnd[8];
  randombytes_buf(rnd, sizeof(rnd));
  // Beside Put's temporary files: the store clears that directory when it opens.
  impl->tmp = store.dir() / "tmp" / ("writer." + ToHex(rnd));
  impl->fd = ::open(impl->tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (impl->fd < 0) return Fail(detail::Errno("cannot create", impl->tmp));
  return std::unique_ptr<BlobWriter>(new BlobWriter(std::move(impl)));
}

Status BlobWriter::Append(std::span<const uint8_t> bytes) {
  if (impl_->failed || impl_->committed) return Fail("blob writer: already failed or committed");
  auto st = detail::WriteAll(impl_->fd, bytes.data(), bytes.size(), impl_->size_bytes, impl_->tmp);
  if (!st) {
    impl_->failed = true;
    return st;
  }
  impl_->hasher.Update(bytes);
  impl_->size_bytes += bytes.size();
  return {};
}

Result<Hash256> BlobWriter::Commit() {
  if (impl_->failed || impl_->committed) return Fail("blob writer: already failed or committed");
  impl_->failed = true;  // until it is stored
  if (::fsync(impl_->fd) != 0) return Fail(detail::Errno("cannot fsync", impl_->tmp));
  ::close(impl_->fd);
  impl_->fd = -1;
  const Hash256 hash = impl_->hasher.Final();
  if (auto st = impl_->store->Adopt(impl_->tmp, hash, impl_->size_bytes); !st) {
    return tl::unexpected(st.error());
  }
  impl_->committed = true;
  impl_->failed = false;
  return hash;
}

uint64_t BlobWriter::size_bytes() const { return impl_->size_bytes; }

}  // namespace plume
