// Test-only LD_PRELOAD shim that lets a test cut the power under a process: it records, for the
// files and directories under PLUME_POWERCUT_DIR, what a power cut would keep, and nothing
// else; power_cut.h rolls the directory back to that record after the test SIGKILLs the process.
//
// Why a shim: SIGKILL keeps the page cache, so a kill -9 test cannot notice a missing fsync;
// loop devices and FUSE need privileges the test machines do not give. The shim sees every
// fsync/fdatasync the process makes (the scheduler's own helpers, SQLite, the ledger, the blob
// store all go through libc) and models strict POSIX durability:
//  - a regular file's bytes are durable as they were at its last fsync/fdatasync (any later
//    write is dropped; a file never synced comes back empty if its name survives);
//  - a name (create, rename, unlink) is durable only once its directory was fsync'd; the
//    directory's listing at that fsync is what comes back;
//  - everything under the directory when the shim loads counts as durable (the test syncs first).
// Torn writes are not modelled (the whole unsynced write is lost, one of the outcomes a real
// disk can give). Files are identified by inode number and birth time, so a reused inode
// number is a different file.
//
// With PLUME_POWERCUT_KILL_AT_SYNC=N the process SIGKILLs itself right after its N-th
// successful sync under the directory: a power cut at a point of the test's choosing inside the
// write sequences (between a file's fsync and its directory's, between the database commit and
// the ledger append, ...), which an outside kill would rarely hit.
//
// Record, under PLUME_POWERCUT_STATE (outside the cut directory): ino/<key> holds a file's
// durable bytes, dir/<path> a directory's durable listing, one "f|d <TAB> key <TAB> name" line
// per entry. Each is written to a temporary name and renamed, so a SIGKILL during an update
// leaves the previous record whole.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// Plain arrays, not std::string: the constructor below may run before this file's dynamic
// initializers, which would empty a std::string it had set.
char g_root_buf[PATH_MAX];   // the cut directory, resolved; empty: the shim does nothing
char g_state_buf[PATH_MAX];  // the record
std::string Root() { return g_root_buf; }
std::string State() { return g_state_buf; }
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
long g_kill_at_sync = 0;  // 0: never
long g_syncs = 0;         // under g_mu
thread_local bool t_inside = false;
int (*real_fsync)(int) = nullptr;  // constant-initialized: safe before the constructor
int (*real_fdatasync)(int) = nullptr;

std::string Key(const struct statx& st) {
  char buf[96];
  snprintf(buf, sizeof buf, "%llu-%lld.%u", static_cast<unsigned long long>(st.stx_ino),
           static_cast<long long>(st.stx_btime.tv_sec), st.stx_btime.tv_nsec);
  return buf;
}

// "" for the root, else the path below it; false when `path` is not under the root.
bool Rel(const std::string& path, std::string& rel) {
  const std::string g_root = Root();
  if (path.compare(0, g_root.size(), g_root) != 0) return false;
  if (path.size() == g_root.size()) {
    rel.clear();
    return true;
  }
  if (path[g_root.size()] != '/') return false;
  rel = path.substr(g_root.size() + 1);
  return true;
}

std::string DirRecord(const std::string& rel) {
  std::string name = "root";
  if (!rel.empty()) name += "%";
  for (char c : rel) name += c == '/' ? '%' : c;
  return State() + "/dir/" + name;
}

bool WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp" + std::to_string(syscall(SYS_gettid));
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  return done == bytes.size() && rename(tmp.c_str(), path.c_str()) == 0;
}

bool ReadAll(int fd, std::string& out) {
  char buf[1 << 16];
  out.clear();
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Keeps the bytes of the file open as `fd` (read through /proc, whatever its open mode).
void RecordFile(int fd, const struct statx& st) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const int rd = open(proc.c_str(), O_RDONLY | O_CLOEXEC);
  if (rd < 0) return;
  std::string bytes;
  if (ReadAll(rd, bytes)) WriteAtomically(State() + "/ino/" + Key(st), bytes);
  close(rd);
}

void RecordDir(const std::string& abs, const std::string& rel) {
  DIR* d = opendir(abs.c_str());
  if (d == nullptr) return;
  std::string listing;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct statx st;
    if (statx(dirfd(d), e->d_name, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME | STATX_TYPE,
              &st) != 0) {
      continue;
    }
    if (!S_ISDIR(st.stx_mode) && !S_ISREG(st.stx_mode)) continue;
    listing += std::string(S_ISDIR(st.stx_mode) ? "d" : "f") + "\t" + Key(st) + "\t" + name + "\n";
  }
  closedir(d);
  WriteAtomically(DirRecord(rel), listing);
}

// Everything under the root counts as durable: the record starts from it.
void RecordTree(const std::string& abs, const std::string& rel) {
  RecordDir(abs, rel);
  DIR* d = opendir(abs.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : names) {
    const std::string child = abs + "/" + name;
    const std::string child_rel = rel.empty() ? name : rel + "/" + name;
    struct statx st;
    if (statx(AT_FDCWD, child.c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME | STATX_TYPE,
              &st) != 0) {
      continue;
    }
    if (S_ISDIR(st.stx_mode)) {
      RecordTree(child, child_rel);
    } else if (S_ISREG(st.stx_mode)) {
      const int fd = open(child.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        RecordFile(fd, st);
        close(fd);
      }
    }
  }
}

void OnSynced(int fd) {
  if (g_root_buf[0] == '\0' || t_inside) return;
  char path[PATH_MAX];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(proc.c_str(), path, sizeof path - 1);
  if (n <= 0) return;
  path[n] = '\0';
  std::string rel;
  if (!Rel(path, rel)) return;  // elsewhere, or unlinked ("... (deleted)")
  struct statx st;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME | STATX_TYPE, &st) != 0) return;
  t_inside = true;
  pthread_mutex_lock(&g_mu);
  if (S_ISDIR(st.stx_mode)) {
    RecordDir(path, rel);
  } else if (S_ISREG(st.stx_mode)) {
    RecordFile(fd, st);
  }
  // The record is complete: the cut comes after this sync, before the caller's next step.
  if (g_kill_at_sync > 0 && ++g_syncs == g_kill_at_sync) {
    fprintf(stderr, "powercut shim: cutting the power after sync %ld (%s)\n", g_syncs, path);
    kill(getpid(), SIGKILL);
  }
  pthread_mutex_unlock(&g_mu);
  t_inside = false;
}

__attribute__((constructor)) void Init() {
  real_fsync = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fsync"));
  real_fdatasync = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fdatasync"));
  const char* root = getenv("PLUME_POWERCUT_DIR");
  const char* state = getenv("PLUME_POWERCUT_STATE");
  if (root == nullptr || state == nullptr) return;
  char resolved[PATH_MAX];
  if (realpath(root, resolved) == nullptr) return;
  if (const char* n = getenv("PLUME_POWERCUT_KILL_AT_SYNC")) g_kill_at_sync = atol(n);
  snprintf(g_state_buf, sizeof g_state_buf, "%s", state);
  mkdir(g_state_buf, 0700);
  mkdir((State() + "/ino").c_str(), 0700);
  mkdir((State() + "/dir").c_str(), 0700);
  snprintf(g_root_buf, sizeof g_root_buf, "%s", resolved);
  // A record left by an earlier process (restarted without a cut) is still the truth.
  if (access(DirRecord("").c_str(), F_OK) != 0) RecordTree(Root(), "");
  fprintf(stderr, "powercut shim: recording what survives a power cut under %s\n", g_root_buf);
}

}  // namespace

extern "C" int fsync(int fd) {
  const int rc = real_fsync(fd);
  if (rc == 0) OnSynced(fd);
  return rc;
}

extern "C" int fdatasync(int fd) {
  const int rc = real_fdatasync(fd);
  if (rc == 0) OnSynced(fd);
  return rc;
}
