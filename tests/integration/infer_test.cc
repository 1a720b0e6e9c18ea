// Issue 3, integration test 2: an inference job over two agents returns every prompt once, in
// prompt order, byte-identical across two runs with the same seed (and the same text as
// `plume run-local`, since each prompt samples from its own global index).
#include <gtest/gtest.h>

#include <sstream>

#include "network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

TEST(InferIntegration, TwoAgentsReturnEveryPromptOnceInOrderAndReproducibly) {
  Network net("infer");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  const fs::path ckpt = WriteRandomCheckpoint(net.dir().path(), 5);
  ASSERT_FALSE(ckpt.empty());
  const std::vector<std::string> prompts = {"ROMEO:", "JULIET:", "First Citizen:", "KING:",
                                            "O", "", "To be"};
  const fs::path spec = WriteInferSpec(net.dir().path(), "gen", ckpt, prompts, 2, 42, 12);

  std::vector<std::string> outputs;
  for (int run = 0; run < 2; ++run) {
    CommandResult submit = net.Cli({"submit", spec.string(), "--wait", "--json"}, seconds(120));
    ASSERT_EQ(submit.exit_code, 0) << submit.err << "\n" << net.Logs();
    const std::string job = json::parse(submit.out)["job_id"];
    const fs::path dir = net.dir() / ("fetched-" + std::to_string(run));
    CommandResult fetch = net.Cli({"fetch", job, "-o", dir.string()});
    ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
    outputs.push_back(ReadFile(dir / "outputs.jsonl"));
  }
  const auto lines = JsonLines(outputs[0]);
  ASSERT_EQ(lines.size(), prompts.size()) << outputs[0];
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_EQ(lines[i]["prompt"], prompts[i]);
    EXPECT_EQ(lines[i]["tokens"], 12);
  }
  EXPECT_EQ(outputs[0], outputs[1]) << "same seed, different outputs";
  // The work was split: both agents ran a shard.
  EXPECT_TRUE(net.AgentLogHas("a", "finished")) << net.Logs();
  EXPECT_TRUE(net.AgentLogHas("b", "finished")) << net.Logs();

  // The same spec on one machine gives the same completions.
  CommandResult local = net.Cli({"run-local", spec.string(), "--threads", "1"}, seconds(60));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const auto local_lines = JsonLines(ReadFile(net.dir() / "gen-out" / "outputs.jsonl"));
  ASSERT_EQ(local_lines.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(local_lines[i]["completion"], lines[i]["completion"]) << "prompt " << i;
  }
}

}  // namespace
}  // namespace plume::itest
