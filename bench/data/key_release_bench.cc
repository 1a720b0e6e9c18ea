// What encryption and key release cost a real training job (bench/RESULTS.md): the demo network
// job (examples/train-network.toml's model and rounds) on the demo dataset, run twice in one
// process on one fresh network (a real scheduler with its ledger, two real agents, the owner's
// real `plume data serve`): once on the dataset published in the clear, once encrypted. Prints
// each job's wall time (submit to succeeded, polled), and from the agents' logs the time each
// encrypted task spent getting its key (round trip to the key service, which records the release
// in the ledger first) and decrypting in memory.
// Usage: plume_data_key_release_bench   (needs the built plume, plume-scheduler, plume-agent)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "network.h"
#include "paid_network.h"

namespace fs = std::filesystem;
using namespace plume::itest;
using nlohmann::json;

namespace {



int Die(const std::string& why) {
  std::fprintf(stderr, "key_release_bench: %s\n", why.c_str());
  return 1;
}

// The demo job's spec (examples/train-network.toml), training on a dataset given at submit.
fs::path DemoSpec(const fs::path& dir, const fs::path& data) {
  const fs::path path = dir / "demo.toml";
  std::ofstream out(path);
  out << "[job]\nname = \"demo\"\nkind = \"train\"\nseed = 1337\n"
      << "[model]\nn_layer = 2\nn_head = 4\nn_embd = 64\ncontext = 64\nvocab = 256\n"
      << "[data]\npath = \"" << data.string() << "\"\n"
      << "[train]\nsteps = 1500\nbatch = 8\nseq_len = 64\nlr = 3e-3\nmin_lr = 3e-4\n"
      << "warmup_steps = 20\nweight_decay = 0.1\ngrad_clip = 1.0\n"
      << "[network]\nworkers = 2\nrounds = 5\nlocal_steps = 100\nouter_lr = 0.7\n"
      << "outer_momentum = 0.9\nround_timeout_s = 300\n"
      << "[payment]\nmax_price_micro_plume_per_pflop = 1000000000000\n"
      << "budget_micro_plume = 500000000000\n";
  return path;
}

}  // namespace

int main() {
  Network net("keybench");
  PaidNetwork paid(net);
  std::string why;
  if (!paid.StartScheduler(&why)) return Die(why);
  if (paid.Mint("mint:team", 900'000'000'000, paid.operator_key()).exit_code != 0) {
    return Die("mint failed");
  }
  const fs::path owner = net.dir() / "keys" / "owner.key";
  MakeKey(owner);
  const fs::path keys = net.dir() / "owner-keys";
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const fs::path data = fs::path(DataDir()) / "tinyshakespeare.txt";
  const auto publish = [&](std::vector<std::string> extra) -> std::string {
    std::vector<std::string> args{"data", "publish", data.string(), "--keys-dir", keys.string(),
                                  "--json", "--key", owner.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = net.Cli(args, std::chrono::seconds(120));
    if (r.exit_code != 0) return "";
    return json::parse(r.out).value("dataset", "");
  };
  const std::string clear = publish({"--name", "clear"});
  const std::string secret = publish({"--encrypt", "--key-service", endpoint});
  if (clear.empty() || secret.empty()) return Die("publish failed" + net.Logs());
  const fs::path serve_log = net.dir() / "serve.log";
  auto serve = Process::Spawn({PLUME_CLI_BIN, "data", "serve", secret, "--keys-dir",
                               keys.string(), "--key", owner.string(), "--scheduler",
                               net.endpoint(), "--scheduler-id", net.scheduler_id()},
                              serve_log);
  for (int i = 0; i < 200 && ReadFile(serve_log).find(" on " + endpoint) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const char* a : {"a", "b"}) {
    if (!net.StartAgent(a, &why, {"--price", "1"})) return Die(why);
  }
  if (!net.WaitActiveNodes(2, std::chrono::seconds(60))) return Die("agents" + net.Logs());
  const fs::path spec = DemoSpec(net.dir().path(), data);
  const auto run = [&](const std::string& dataset) -> double {
    const auto t0 = std::chrono::steady_clock::now();
    auto ack = net.CliJson({"submit", spec.string(), "--dataset", dataset}, &why);
    if (!ack) {
      std::fprintf(stderr, "submit: %s\n", why.c_str());
      return -1;
    }
    auto done = net.WaitJobState(ack->value("job_id", ""), {"succeeded", "failed", "cancelled"},
                                 std::chrono::seconds(1200));
    if (!done || (*done)["state"] != "succeeded") {
      std::fprintf(stderr, "job: %s\n", done ? done->dump().c_str() : "no state");
      return -1;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double clear_s = run(clear);
  const double secret_s = run(secret);
  if (clear_s < 0 || secret_s < 0) return Die("a job failed" + net.Logs());
  const std::regex line(R"(decrypted in memory \(key ([0-9.]+) ms, decrypt ([0-9.]+) ms\))");
  int tasks = 0;
  double key_ms = 0, decrypt_ms = 0, worst_ms = 0;
  for (const char* a : {"a", "b"}) {
    const std::string log = ReadFile(net.agent_log(a));
    for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
      const double k = std::stod((*it)[1]), d = std::stod((*it)[2]);
      ++tasks;
      key_ms += k;
      decrypt_ms += d;
      worst_ms = std::max(worst_ms, k + d);
    }
  }
  std::printf("demo job (2 workers x 5 rounds x 100 local steps, 2L/4H/64, batch 8 x 64)\n");
  std::printf("clear dataset:     %.2f s wall\n", clear_s);
  std::printf("encrypted dataset: %.2f s wall (difference %+.2f s, %+.2f %%)\n", secret_s,
              secret_s - clear_s, 100.0 * (secret_s - clear_s) / clear_s);
  std::printf("encrypted tasks: %d; key request (round trip + ledger record) total %.1f ms, mean "
              "%.1f ms; decrypt total %.1f ms, mean %.2f ms; worst task %.1f ms\n",
              tasks, key_ms, tasks ? key_ms / tasks : 0, decrypt_ms,
              tasks ? decrypt_ms / tasks : 0, worst_ms);
  std::printf("key release + decrypt, summed over all tasks: %.3f %% of the encrypted job's wall "
              "time\n", 100.0 * (key_ms + decrypt_ms) / 1000.0 / secret_s);
  if (serve) serve->Kill();
  return tasks > 0 ? 0 : 1;
}
