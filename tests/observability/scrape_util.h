// Helpers for the observability tests: a plain HTTP GET on loopback (to scrape /metrics and to
// ask Prometheus's API), and the two checkers every exposition must pass: the project's
// catalogue check (deploy/tools/check-exposition.mjs) and `promtool check metrics`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace plume::otest {

// GET http://127.0.0.1:<port><target>; the body of a 200 answer, nullopt otherwise.
std::optional<std::string> HttpGet(int port, const std::string& target);

// The absolute path of `name` on $PATH (or of a well-known install), empty when absent.
std::string FindTool(const std::string& name);

struct CheckResult {
  bool ok = false;
  std::string output;  // what the checker printed, for the failure message
};

// node deploy/tools/check-exposition.mjs --process <process> [--allow-absent RE] <file>.
CheckResult CheckExposition(const std::string& process, const std::filesystem::path& scrape,
                            const std::string& allow_absent = "");
// promtool check metrics < file, accepting exactly the finding docs/metrics.md accepts: DCGM's
// camelCase label names (UUID, modelName), the rule scripts/check-deploy.sh applies.
CheckResult PromtoolCheckMetrics(const std::filesystem::path& scrape);

}  // namespace plume::otest
