// Run under the power-cut shim by powercut_shim_test.cc: writes files the durable way and the
// ways a power cut takes, so the test can show which survive the cut.
#include <fstream>
#include <iostream>

#include "plume/protocol/file_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: powercut_writer DIR\n";
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path dir = argv[1];
  auto bytes = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  // The scheduler's settle file before: ofstream, flush, rename, no fsync at all, in a
  // directory that itself is durable.
  if (!plume::CreateDirsDurably(dir / "settles")) return 1;
  {
    std::ofstream out(dir / "settles" / "old-style.tmp", std::ios::binary);
    out << "settle";
  }
  fs::rename(dir / "settles" / "old-style.tmp", dir / "settles" / "old-style");
  // The bytes synced, the new name not: the file is lost.
  if (!plume::WriteFileSynced(dir / "settles" / "name-unsynced", bytes("bytes"))) return 1;
  // Kept: temp, fsync, rename, fsync of the directory.
  if (!plume::WriteFileDurably(dir / "durable", bytes("kept"))) return 1;
  // A durable file overwritten in place without fsync: its old bytes come back.
  std::ofstream(dir / "pre", std::ios::binary | std::ios::trunc) << "new";
  // New directories made durably, and one whose own entry was never synced.
  if (!plume::CreateDirsDurably(dir / "a" / "b")) return 1;
  if (!plume::WriteFileDurably(dir / "a" / "b" / "f", bytes("deep"))) return 1;
  fs::create_directories(dir / "c");
  if (!plume::WriteFileDurably(dir / "c" / "f", bytes("lost with c"))) return 1;
  return 0;
}
