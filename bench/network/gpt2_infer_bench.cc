// GPT-2 124M on the network, end to end (issue 13, item 4): a checkpoint of GPT-2 small's shape
// (12 layers, 12 heads, width 768, context 1024, vocabulary 50,257) in Hugging Face tensor
// names with seeded random weights, and a GPT-2-shaped BPE tokenizer file set (made up:
// kernels/bpe_test_util.h), travel as blobs from a real plume-scheduler (with its ledger) to two
// real plume-agent processes on loopback. 12 prompts of varied length, 32 new tokens each.
//
// Checked (a failure fails the run): the joined outputs.jsonl is in prompt order and byte for
// byte what `plume run-local` writes for the same spec; each shard's settle receipt in the ledger
// bills exactly kernels::InferTaskFlops of that shard's BPE prompt counts (the FLOPs a KV cache
// needs, kernels/flops.h); both agents ran a shard.
// Measured (printed, figures in bench/RESULTS.md): the job's wall time from submit to done, the
// generation tokens/s of each agent (its receipt's compute time) and of the job, run-local's for
// comparison, and the peak RSS of the scheduler and of each agent.
//
//   ninja -C build plume-scheduler plume-agent plume plume_gpt2_infer_bench
//   build/bench/network/plume_gpt2_infer_bench
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "bpe_test_util.h"
#include "network.h"
#include "paid_network.h"
#include "plume/kernels/bpe.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/tokenizer.h"
#include "plume/scheduler/work.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kMaxNewTokens = 32;
constexpr int kShards = 2;
constexpr uint64_t kPrice = 500'000'000;      // micro-PLUME per PFLOP, both agents
constexpr uint64_t kMaxPrice = 1'000'000'000;

kernels::ModelConfig Gpt2Small() {
  kernels::ModelConfig m;
  m.n_layer = 12;
  m.n_head = 12;
  m.n_embd = 768;
  m.context = 1024;
  m.vocab = 50257;
  return m;
}

// Varied lengths: empty, one word, sentences, and a paragraph of a few hundred BPE tokens.
std::vector<std::string> Prompts() {
  std::string paragraph;
  for (int i = 0; i < 12; ++i) {
    paragraph += "the quiet river ran past the old mill, and the miller's daughter counted "
                 "the boats as they went down to the sea. ";
  }
  return {"the rain in spain",
          "",
          "<|endoftext|>once upon a time",
          "hello world",
          paragraph,
          "a",
          "the sea and the shore and the wind over the hills",
          "Numbers: 3.14159, 2.71828; symbols {}[]()<>!?",
          paragraph.substr(0, 400),
          "Unicode: caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac",
          "to be or not to be, that is the question",
          "    indented    with   runs of spaces"};
}

fs::path WriteSpec(const fs::path& dir, const fs::path& ckpt, const std::vector<std::string>& p,
                   const fs::path& vocab, const fs::path& merges) {
  std::ostringstream o;
  o << "[job]\nname = \"gpt2-124m\"\nkind = \"infer\"\nseed = 2026\n\n"
    << "[infer]\ncheckpoint = " << json(ckpt.string()).dump() << "\nprompts = " << json(p).dump()
    << "\nmax_new_tokens = " << kMaxNewTokens << "\ntemperature = 0.8\ntop_k = 40\n"
    << "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [" << json(vocab.string()).dump() << ", "
    << json(merges.string()).dump() << "]\n\n"
    << "[output]\ndir = " << json((dir / "local-out").string()).dump() << "\n\n"
    << "[network]\nworkers = " << kShards << "\n\n"
    << "[payment]\nmax_price_micro_plume_per_pflop = " << kMaxPrice
    << "\nbudget_micro_plume = 100000000\n";
  const fs::path path = dir / "gpt2-124m.toml";
  std::ofstream(path) << o.str();
  return path;
}

// The peak resident set (VmHWM) of a live process, in MiB; -1 when unreadable.
double PeakRssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

TEST(Gpt2InferBench, Gpt2SmallOnTwoAgentsMatchesRunLocalAndBillsCachedFlops) {
  Network net("gpt2-bench");
  PaidNetwork paid(net);
  // A lease of 15 s, not the default 3 s: on two loaded cores an agent's loop stalls for more
  // than 3 s while it verifies, stores and loads a 500 MB checkpoint (measured: 10-11 s from
  // assignment to "inputs ready"), the scheduler declares it lost and re-places its shard, and
  // the job ends up on one agent or fails (docs/inference.md, "Large checkpoints").
  paid.SetSchedulerFlags({"--lease-ms", "15000"});
  std::string why;
  ASSERT_TRUE(paid.StartScheduler(&why)) << why;
  for (const char* name : {"a", "b"}) {
    // One CPU thread each (the harness's): the two agents share the machine's cores.
    ASSERT_TRUE(net.StartAgent(name, &why, {"--price", std::to_string(kPrice)})) << why;
  }
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();
  ASSERT_EQ(paid.Mint("mint:team", 1'000'000'000, paid.operator_key()).exit_code, 0);

  const fs::path dir = net.dir().path();
  const kernels::ModelConfig model = Gpt2Small();
  const auto made = Clock::now();
  {
    auto params = kernels::InitialParams(model, 124);
    ASSERT_TRUE(params);
    ASSERT_TRUE(kernels::SaveCheckpoint((dir / "gpt2.safetensors").string(), model, *params));
  }
  const double make_s = Seconds(made);
  const auto files = kernels::testing::SyntheticBpeFiles(model.vocab);
  std::ofstream(dir / "vocab.json") << files.vocab_json;
  std::ofstream(dir / "merges.txt") << files.merges_txt;
  const std::vector<std::string> prompts = Prompts();
  const fs::path spec =
      WriteSpec(dir, dir / "gpt2.safetensors", prompts, dir / "vocab.json", dir / "merges.txt");
  auto tokenizer = kernels::LoadBpeTokenizer(files.vocab_json, files.merges_txt);
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  std::vector<int64_t> counts;
  for (const auto& p : prompts) counts.push_back(kernels::PromptTokens(**tokenizer, p));

  const auto submitted = Clock::now();
  CommandResult submit = net.Cli({"submit", spec.string(), "--wait", "--json"}, seconds(900));
  ASSERT_EQ(submit.exit_code, 0) << submit.err << "\n" << net.Logs();
  const double job_s = Seconds(submitted);
  const std::string job = json::parse(submit.out)["job_id"];
  const double rss_scheduler = PeakRssMib(net.scheduler().pid());
  const double rss_a = PeakRssMib(net.agent("a").pid()), rss_b = PeakRssMib(net.agent("b").pid());
  ASSERT_EQ(net.Cli({"fetch", job, "-o", (dir / "fetched").string()}).exit_code, 0);
  const std::string network_out = ReadFile(dir / "fetched" / "outputs.jsonl");

  const auto local_started = Clock::now();
  CommandResult local = net.Cli({"run-local", spec.string(), "--threads", "2"}, seconds(900));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const double local_s = Seconds(local_started);
  ASSERT_EQ(network_out, ReadFile(dir / "local-out" / "outputs.jsonl"))
      << "the network's outputs differ from run-local's";

  // Prompt order, BPE counts, and each shard's generated tokens.
  std::istringstream lines(network_out);
  std::vector<int64_t> generated;
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line);
    ASSERT_EQ(j["index"].get<size_t>(), generated.size());
    ASSERT_EQ(j["prompt_tokens"].get<int64_t>(), counts[generated.size()]);
    generated.push_back(j["tokens"].get<int64_t>());
  }
  ASSERT_EQ(generated.size(), prompts.size());

  // Each shard's settle receipt bills the cached-generation FLOPs of its BPE counts.
  auto history = paid.History(&why);
  ASSERT_TRUE(history) << why;
  std::map<std::string, json> receipts;  // entry id ("settle:<task>") -> receipt
  for (const json& e : *history) {
    if (e["type"] == "settle" && e["job"] == job) receipts[e["id"]] = e["receipt"];
  }
  ASSERT_EQ(receipts.size(), static_cast<size_t>(kShards)) << history->dump();
  std::map<std::string, std::pair<int64_t, double>> per_agent;  // tokens, compute seconds
  int64_t first = 0, billed = 0, tokens = 0;
  for (uint32_t s = 0; s < kShards; ++s) {
    const int64_t n = scheduler::PromptsInShard(static_cast<uint32_t>(prompts.size()), kShards, s);
    const std::span<const int64_t> shard(counts.data() + first, static_cast<size_t>(n));
    const auto it = receipts.find("settle:" + job + "/s" + std::to_string(s));
    ASSERT_NE(it, receipts.end()) << "no settle of shard " << s << ": " << history->dump();
    const json& r = it->second;
    const int64_t want = kernels::InferTaskFlops(model, shard, kMaxNewTokens);
    EXPECT_EQ(r["flops"].get<int64_t>(), want) << "shard " << s;
    billed += r["flops"].get<int64_t>();
    int64_t shard_tokens = 0;
    for (int64_t i = first; i < first + n; ++i) shard_tokens += generated[static_cast<size_t>(i)];
    auto& [t, secs] = per_agent[r["agent"].get<std::string>()];
    t += shard_tokens;
    secs += (r["end_unix_ms"].get<double>() - r["start_unix_ms"].get<double>()) / 1000.0;
    tokens += shard_tokens;
    first += n;
  }
  EXPECT_EQ(per_agent.size(), 2u) << "both agents should have run a shard";

  const int64_t weights = static_cast<int64_t>(fs::file_size(dir / "gpt2.safetensors"));
  std::printf("GPT-2 124M (12x12x768, ctx 1024, vocab 50257; %.0f MiB checkpoint, made in %.1f s)"
              "\n%zu prompts (%lld..%lld BPE tokens), %d new tokens each, %d shards\n",
              static_cast<double>(weights) / (1 << 20), make_s, prompts.size(),
              static_cast<long long>(*std::min_element(counts.begin(), counts.end())),
              static_cast<long long>(*std::max_element(counts.begin(), counts.end())),
              kMaxNewTokens, kShards);
  std::printf("job wall (submit --wait): %.1f s; %lld tokens generated: %.2f tok/s overall\n",
              job_s, static_cast<long long>(tokens), static_cast<double>(tokens) / job_s);
  for (const auto& [agent, ts] : per_agent) {
    std::printf("agent %s..: %lld tokens in %.1f s of compute: %.2f tok/s\n",
                agent.substr(0, 12).c_str(), static_cast<long long>(ts.first), ts.second,
                static_cast<double>(ts.first) / ts.second);
  }
  std::printf("run-local (2 threads, one process): %.1f s: %.2f tok/s\n", local_s,
              static_cast<double>(tokens) / local_s);
  std::printf("billed %.4f PFLOP (= InferTaskFlops of the BPE counts, per shard)\n",
              static_cast<double>(billed) / 1e15);
  std::printf("peak RSS: scheduler %.0f MiB, agent a %.0f MiB, agent b %.0f MiB\n",
              rss_scheduler, rss_a, rss_b);
  // An agent holds the checkpoint at most twice while it loads and once while it generates
  // (node-agent/src/task_work.cc RunInfer): 2.3x measured with the process and the KV cache.
  // Holding it three times, as the agent once did (3.3-3.8x), fails this.
  const double ckpt_mib = static_cast<double>(weights) / (1 << 20);
  for (const double rss : {rss_a, rss_b}) {
    EXPECT_GT(rss, 0.0) << "VmHWM unreadable";
    EXPECT_LT(rss, 2.75 * ckpt_mib) << "an agent's peak RSS against the " << ckpt_mib
                                    << " MiB checkpoint";
  }
}

}  // namespace
}  // namespace plume::itest
