// Rolls a directory back to the powercut shim's record (power_cut.h).
#include "power_cut.h"

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

namespace plume::powercut {
namespace fs = std::filesystem;

namespace {

struct Entry {
  char kind = 'f';
  std::string key;
};

// As the shim names a directory's record.
fs::path DirRecord(const fs::path& state, const std::string& rel) {
  std::string name = "root";
  if (!rel.empty()) name += "%";
  for (char c : rel) name += c == '/' ? '%' : c;
  return state / "dir" / name;
}

std::map<std::string, Entry> Listing(const fs::path& state, const std::string& rel) {
  std::map<std::string, Entry> out;
  std::ifstream in(DirRecord(state, rel));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string kind, key, name;
    if (!std::getline(fields, kind, '\t') || !std::getline(fields, key, '\t') ||
        !std::getline(fields, name)) {
      continue;
    }
    out[name] = Entry{kind.empty() ? 'f' : kind[0], key};
  }
  return out;
}

Status Restore(const fs::path& abs, const std::string& rel, const fs::path& state) {
  const std::map<std::string, Entry> durable = Listing(state, rel);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(abs, ec)) {
    const std::string name = e.path().filename().string();
    auto it = durable.find(name);
    const bool is_dir = e.is_directory();
    if (it == durable.end() || (it->second.kind == 'd') != is_dir) fs::remove_all(e.path(), ec);
  }
  for (const auto& [name, entry] : durable) {
    const fs::path child = abs / name;
    const std::string child_rel = rel.empty() ? name : rel + "/" + name;
    if (entry.kind == 'd') {
      fs::create_directories(child, ec);
      if (auto st = Restore(child, child_rel, state); !st) return st;
      continue;
    }
    std::string bytes;
    if (std::ifstream in(state / "ino" / entry.key, std::ios::binary); in) {
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::ofstream out(child, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return Fail("power cut: cannot restore " + child.string());
  }
  return {};
}

}  // namespace

std::map<std::string, std::string> ShimEnv(const fs::path& dir, const fs::path& state,
                                           long kill_at_sync) {
  std::map<std::string, std::string> env = {{"LD_PRELOAD", PLUME_POWERCUT_SHIM},
                                            {"PLUME_POWERCUT_DIR", dir.string()},
                                            {"PLUME_POWERCUT_STATE", state.string()}};
  if (kill_at_sync > 0) env["PLUME_POWERCUT_KILL_AT_SYNC"] = std::to_string(kill_at_sync);
  return env;
}

Status CutPower(const fs::path& dir, const fs::path& state) {
  if (!fs::exists(DirRecord(state, ""))) {
    return Fail("power cut: no record in " + state.string() + " (was the shim loaded?)");
  }
  if (auto st = Restore(dir, "", state); !st) return st;
  std::error_code ec;
  fs::remove_all(state, ec);
  ::sync();
  return {};
}

}  // namespace plume::powercut
