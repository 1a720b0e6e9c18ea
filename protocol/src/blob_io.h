// Private POSIX file helpers shared by the blob store and the transfer state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "plume/protocol/error.h"

namespace plume::detail {

std::string Errno(const std::string& what, const std::filesystem::path& path);
Status WriteAll(int fd, const uint8_t* data, size_t size, uint64_t offset,
                const std::filesystem::path& path);
Result<std::string> ReadAt(int fd, uint64_t offset, size_t length,
                           const std::filesystem::path& path);
Status FsyncDir(const std::filesystem::path& dir);

}  // namespace plume::detail
