// Real-process test harness for the network integration tests: spawns plume-scheduler,
// plume-agent and plume (the CLI) as child processes with posix_spawn, waits on conditions with
// deadlines (never fixed sleeps), and cleans up every child and temp directory it made.
//
// Binaries come from compile definitions set by tests/integration/CMakeLists.txt; a test whose
// binary is not built (a component not landed yet) is skipped, not failed.
#pragma once

#include <cstdint>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plume::itest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A child process. The destructor SIGKILLs and reaps it if it is still running.
class Process {
 public:
  Process() = default;
  // Starts argv[0] (an absolute path) with stdout+stderr appended to log_path.
  static std::optional<Process> Spawn(const std::vector<std::string>& argv,
                                      const std::filesystem::path& log_path,
                                      const std::map<std::string, std::string>& env = {});
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig) const;
  // Waits until the process exits or the deadline passes. Returns the wait status
  // (WIFEXITED/WEXITSTATUS apply) or nullopt on timeout.
  std::optional<int> Wait(milliseconds timeout);
  // SIGKILL + reap.
  void Kill();

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;     // stdout
  std::string err;     // stderr
  bool timed_out = false;
};

// Runs a command to completion (or timeout), capturing stdout and stderr separately.
CommandResult RunCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         const std::map<std::string, std::string>& env = {});

// Polls cond every poll until it holds or timeout passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& cond, milliseconds timeout,
               milliseconds poll = milliseconds(50));

std::string ReadFile(const std::filesystem::path& path);
// A loopback TCP port free at the time of the call, for a process that cannot report the port it
// bound (another process may take it before it is used; tests that can, use --port-file).
uint16_t FreeLoopbackPort();
// The last `max_bytes` of a log file, for failure messages.
std::string Tail(const std::filesystem::path& path, size_t max_bytes = 3000);

}  // namespace plume::itest
