// See scrape_util.h.
#include "scrape_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <sstream>

#include "../integration/harness.h"

namespace plume::otest {
namespace fs = std::filesystem;

namespace {

// Whether `response` holds the headers and as many body bytes as Content-Length says.
bool BodyComplete(const std::string& response) {
  const auto head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::string head = response.substr(0, head_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = head.find("content-length:");
  if (at == std::string::npos) return false;  // read until the server closes
  const size_t length = std::strtoull(head.c_str() + at + 15, nullptr, 10);
  return response.size() - (head_end + 4) >= length;
}

}  // namespace

std::optional<std::string> HttpGet(int port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{5, 0};  // a stuck server fails the request, not the test run
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[16384];
      // Read to the end of the body: the server may keep the connection open after it.
      for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
        response.append(buf, n);
        if (BodyComplete(response)) break;
      }
    }
  }
  ::close(fd);
  const auto head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || response.find(" 200 ") > response.find("\r\n")) {
    return std::nullopt;
  }
  return response.substr(head_end + 4);
}

std::string FindTool(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/bin:/usr/local/bin";
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

CheckResult CheckExposition(const std::string& process, const fs::path& scrape,
                            const std::string& allow_absent) {
  std::vector<std::string> argv = {FindTool("node"),
                                   std::string(PLUME_SOURCE_DIR) +
                                       "/deploy/tools/check-exposition.mjs",
                                   "--process", process};
  if (!allow_absent.empty()) {
    argv.push_back("--allow-absent");
    argv.push_back(allow_absent);
  }
  argv.push_back(scrape.string());
  const auto r = itest::RunCommand(argv, std::chrono::seconds(30));
  return {r.exit_code == 0, r.out + r.err};
}

CheckResult PromtoolCheckMetrics(const fs::path& scrape) {
  const auto r = itest::RunCommand(
      {"/bin/sh", "-c", FindTool("promtool") + " check metrics < '" + scrape.string() + "'"},
      std::chrono::seconds(30));
  const std::string text = r.out + r.err;
  std::stringstream lines(text);
  bool ok = true;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line.find("label names should be written in 'snake_case' not 'camelCase'") ==
        std::string::npos) {
      ok = false;
    }
  }
  return {ok, text};
}

}  // namespace plume::otest
