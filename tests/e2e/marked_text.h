// A training text whose every line carries a marker, and a scan for the marker in files: the
// data-owner tests' proof that no piece of an encrypted dataset's plaintext reached a file.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace plume::itest {

inline constexpr std::string_view kMarker = "OWNERS-SECRET-PLAINTEXT-7f3a";

inline std::filesystem::path WriteMarkedText(const std::filesystem::path& dir,
                                             const std::string& name, size_t lines) {
  const std::filesystem::path path = dir / name;
  std::ofstream out(path);
  for (size_t i = 0; i < lines; ++i) out << kMarker << " line " << i << " of the owner's data\n";
  return path;
}

// Files at `where` (a file, or a directory recursively) whose bytes contain the marker.
inline std::vector<std::string> FilesWithMarker(const std::filesystem::path& where) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  if (fs::is_regular_file(where)) {
    files.push_back(where);
  } else if (fs::is_directory(where)) {
    for (const auto& f : fs::recursive_directory_iterator(where)) {
      if (f.is_regular_file()) files.push_back(f.path());
    }
  }
  std::vector<std::string> hits;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(kMarker) != std::string::npos) hits.push_back(f.string());
  }
  return hits;
}

}  // namespace plume::itest
