// Inference with the GPT-2 BPE tokenizer on the network: a checkpoint of GPT-2's vocabulary
// (50,257 tokens, Hugging Face tensor names; one narrow layer so it runs on CI's CPUs) and a
// GPT-2-shaped tokenizer file set (made up: bpe_test_util.h) travel as blobs to two agents.
// Shown: the joined outputs.jsonl is byte for byte what `plume run-local` writes for the same
// spec (top_p and a stop sequence included); prompts are counted and billed in BPE tokens (the
// quote is InferTaskFlops of those counts); `plume status` reports a measured tokens/s; an
// unknown tokenizer, a malformed tokenizer file and a tokenizer of another vocabulary than the
// model's are refused at submit with the reason.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bpe_test_util.h"
#include "network.h"
#include "plume/kernels/bpe.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kGpt2Vocab = 50257;

kernels::ModelConfig Gpt2VocabModel() {
  kernels::ModelConfig m;
  m.n_layer = 1;
  m.n_head = 2;
  m.n_embd = 32;
  m.context = 64;
  m.vocab = kGpt2Vocab;
  return m;
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

// An infer spec without [model] (the checkpoint says what it is), with the tokenizer table
// lines given.
fs::path WriteSpec(const fs::path& dir, const std::string& name, const fs::path& ckpt,
                   const std::vector<std::string>& prompts, const std::string& tokenizer_toml) {
  std::ostringstream o;
  o << "[job]\nname = \"" << name << "\"\nkind = \"infer\"\nseed = 11\n\n"
    << "[infer]\ncheckpoint = " << json(ckpt.string()).dump()
    << "\nprompts = " << json(prompts).dump()
    << "\nmax_new_tokens = 10\ntemperature = 0.9\ntop_k = 0\ntop_p = 0.95\n"
    << "stop = [\"q\"]\n" << tokenizer_toml << "\n"
    << "[output]\ndir = " << json((dir / (name + "-out")).string()).dump() << "\n\n"
    << "[network]\nworkers = 2\n\n"
    << "[payment]\nmax_price_micro_plume_per_pflop = 2500000000000\n"
       "budget_micro_plume = 1000000000000\n";
  const fs::path path = dir / (name + ".toml");
  std::ofstream(path) << o.str();
  return path;
}

TEST(InferBpeIntegration, Gpt2VocabularyJobOnTwoAgentsEqualsRunLocalAndBillsBpeTokens) {
  Network net("infer-bpe");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  const fs::path dir = net.dir().path();
  const auto model = Gpt2VocabModel();
  auto params = kernels::InitialParams(model, 21);
  ASSERT_TRUE(params);
  const fs::path ckpt = dir / "gpt2-vocab.safetensors";
  ASSERT_TRUE(kernels::SaveCheckpoint(ckpt.string(), model, *params));
  const auto files = kernels::testing::SyntheticBpeFiles(kGpt2Vocab);
  std::ofstream(dir / "vocab.json") << files.vocab_json;
  std::ofstream(dir / "merges.txt") << files.merges_txt;
  const std::string bpe_toml =
      "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [" + json((dir / "vocab.json").string()).dump() +
      ", " + json((dir / "merges.txt").string()).dump() + "]\n";
  const std::vector<std::string> prompts = {"the rain in spain", "", "<|endoftext|>once upon",
                                            "hello world", "a", "the sea and the shore"};
  const fs::path spec = WriteSpec(dir, "bpe", ckpt, prompts, bpe_toml);

  // The quote counts BPE tokens: InferTaskFlops of the tokenizer's counts, not of the bytes.
  auto tokenizer = kernels::LoadBpeTokenizer(files.vocab_json, files.merges_txt);
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  std::vector<int64_t> counts, bytes;
  for (const auto& p : prompts) {
    counts.push_back(kernels::PromptTokens(**tokenizer, p));
    bytes.push_back(kernels::PromptTokens(p));
  }
  EXPECT_LT(counts[0], bytes[0]);
  CommandResult quote = net.Cli({"quote", spec.string(), "--json"});
  ASSERT_EQ(quote.exit_code, 0) << quote.err;
  EXPECT_EQ(json::parse(quote.out)["flops"].get<int64_t>(),
            kernels::InferTaskFlops(model, counts, 10));

  CommandResult submit = net.Cli({"submit", spec.string(), "--wait", "--json"}, seconds(180));
  ASSERT_EQ(submit.exit_code, 0) << submit.err << "\n" << net.Logs();
  const std::string job = json::parse(submit.out)["job_id"];
  CommandResult fetch = net.Cli({"fetch", job, "-o", (dir / "fetched").string()});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  const std::string network_out = ReadFile(dir / "fetched" / "outputs.jsonl");
  EXPECT_TRUE(net.AgentLogHas("a", "finished")) << net.Logs();
  EXPECT_TRUE(net.AgentLogHas("b", "finished")) << net.Logs();

  CommandResult local = net.Cli({"run-local", spec.string(), "--threads", "1"}, seconds(120));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(network_out, ReadFile(dir / "bpe-out" / "outputs.jsonl"))
      << "the network's outputs differ from run-local's";
  const auto lines = JsonLines(network_out);
  ASSERT_EQ(lines.size(), prompts.size());
  size_t stopped = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    stopped += lines[i]["finish_reason"] == "stop";
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_EQ(lines[i]["prompt_tokens"], counts[i]) << "prompt " << i;
    const std::string finish = lines[i]["finish_reason"];
    EXPECT_TRUE(finish == "length" || finish == "stop") << finish;
    EXPECT_EQ(lines[i]["completion"].get<std::string>().find('q'), std::string::npos);
  }
  // Seeded: some completions met the stop sequence, some ran to max_new_tokens.
  EXPECT_GT(stopped, 0u) << network_out;
  EXPECT_LT(stopped, prompts.size()) << network_out;


  CommandResult status = net.Cli({"status", job, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const json info = json::parse(status.out);
  EXPECT_EQ(info["state"], "succeeded");
  ASSERT_TRUE(info["tokens_per_sec"].is_number()) << status.out;
  EXPECT_GT(info["tokens_per_sec"].get<double>(), 0.0) << status.out;
  CommandResult human = net.Cli({"status", job});
  EXPECT_NE(human.out.find("tok/s"), std::string::npos) << human.out;

  // Refusals at submit, each with its reason and a non-zero exit.
  const auto refused = [&](const std::string& name, const std::string& toml,
                           const std::string& reason) {
    const fs::path bad = WriteSpec(dir, name, ckpt, prompts, toml);
    CommandResult r = net.Cli({"submit", bad.string()}, seconds(60));
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_NE(r.err.find(reason), std::string::npos) << name << ": " << r.err;
  };
  refused("unknown", "tokenizer = \"sentencepiece\"\n", "unknown tokenizer");
  std::ofstream(dir / "broken.json") << "{\"model\": {\"type\": \"BPE\", \"vocab\": [1, 2]}}";
  refused("broken",
          "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [" + json((dir / "broken.json").string()).dump() +
              "]\n",
          "not a JSON object");
  // Only the scheduler knows the model's vocabulary (from the checkpoint): it refuses this.
  const auto small = kernels::testing::SyntheticBpeFiles(1000);
  std::ofstream(dir / "small-vocab.json") << small.vocab_json;
  std::ofstream(dir / "small-merges.txt") << small.merges_txt;
  refused("other-vocab",
          "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [" +
              json((dir / "small-vocab.json").string()).dump() + ", " +
              json((dir / "small-merges.txt").string()).dump() + "]\n",
          "the tokenizer has 1000 tokens but the model's vocabulary is 50257");
}

}  // namespace
}  // namespace plume::itest
