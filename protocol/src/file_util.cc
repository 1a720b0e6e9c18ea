// Durable-file helpers: POSIX open/write/fsync because iostreams cannot fsync.
#include "plume/protocol/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace plume {

Status WriteFileSynced(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail("cannot write " + path.string() + ": " + std::strerror(errno) +
                " (check the directory's permissions and free space)");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Fail("cannot write " + path.string() + ": " + std::strerror(err) +
                  " (is the disk full?)");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Fail("cannot fsync " + path.string() + ": " + std::strerror(err));
  }
  ::close(fd);
  return {};
}

Status WriteFileDurably(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  if (auto st = WriteFileSynced(tmp, bytes); !st) return st;
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Fail("cannot rename " + tmp.string() + ": " + ec.message());
  return SyncDir(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

Result<std::vector<uint8_t>> ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("cannot read " + path.string() + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) return Fail("error while reading " + path.string());
  return bytes;
}

Status SyncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail("cannot open directory " + dir.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail("cannot fsync directory " + dir.string() + ": " + std::strerror(errno));
  return {};
}

Status CreateDirsDurably(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return {};
  const std::filesystem::path parent =
      dir.has_parent_path() ? dir.parent_path() : std::filesystem::path(".");
  if (parent != dir) {
    if (auto st = CreateDirsDurably(parent); !st) return st;
  }
  std::filesystem::create_directory(dir, ec);
  if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message());
  return SyncDir(parent);
}

}  // namespace plume
