// BPE encoding speed on the worst text for merging: one long word of random lowercase letters
// (one pre-tokenizer piece, so every merge acts inside it). The scheduler counts every prompt's
// tokens when a job is quoted or submitted (on its offload worker), so this bounds what one
// prompt can cost it; 8 MiB is the most prompt text a quote may carry.
// Tokenizer: GPT-2's own files when PLUME_BPE_REFERENCE_DIR names them (ctest -R tokenizer
// makes them), else the made-up GPT-2-shaped set (bpe_test_util.h).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "bpe_test_util.h"
#include "plume/kernels/bpe.h"

namespace {

std::unique_ptr<plume::kernels::Tokenizer> LoadTokenizer() {
  if (const char* dir = std::getenv("PLUME_BPE_REFERENCE_DIR")) {
    const auto read = [&](const char* name) {
      std::ifstream in(std::filesystem::path(dir) / name, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    };
    auto t = plume::kernels::LoadBpeTokenizer(read("vocab.json"), read("merges.txt"));
    if (t) return std::move(*t);
  }
  const auto files = plume::kernels::testing::SyntheticBpeFiles(50257);
  return std::move(*plume::kernels::LoadBpeTokenizer(files.vocab_json, files.merges_txt));
}

void BM_EncodeOneLongWord(benchmark::State& state) {
  static const auto tokenizer = LoadTokenizer();
  std::mt19937 rng(1);
  std::string word(static_cast<size_t>(state.range(0)), 'a');
  for (char& c : word) c = static_cast<char>('a' + rng() % 26);
  size_t tokens = 0;
  for (auto _ : state) tokens = tokenizer->Encode(word).size();
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_EncodeOneLongWord)->Arg(1000)->Arg(100'000)->Arg(1'000'000)->Arg(8 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
