// A bounded, seeded stand-in for libFuzzer, so the fuzz targets build with the project's own
// compiler and run in every CI pass: it feeds the target each seed frame, then mutations of the
// seeds (bit flips, byte sets, truncations, duplicated and dropped ranges, splices of two seeds)
// until the time or iteration budget is spent. A crash, an abort (the targets abort on a broken
// property) or a sanitizer report fails the run; the seed is printed so a failure replays.
//
//   plume_protocol_decode_fuzz [--seconds S] [--iterations N] [--seed X]
//
// With clang, the same target also builds as a real libFuzzer binary (see the target's header).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
std::vector<std::string> FuzzSeeds();  // defined by each target

namespace {

std::string Mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  std::string s = seeds[rng() % seeds.size()];
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t at = rng() % s.size();
    switch (rng() % 6) {
      case 0: s[at] = static_cast<char>(s[at] ^ (1u << (rng() % 8))); break;
      case 1: s[at] = static_cast<char>(rng()); break;
      case 2: s.resize(at); break;
      case 3: s.insert(at, s.substr(at, rng() % 64)); break;
      case 4: s.erase(at, rng() % 64); break;
      default: {
        const std::string& other = seeds[rng() % seeds.size()];
        s = s.substr(0, at) + other.substr(rng() % (other.size() + 1));
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  long iterations = -1;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--iterations")) iterations = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--iterations N] [--seed X]\n", argv[0]);
      return 2;
    }
  }
  const std::vector<std::string> seeds = FuzzSeeds();
  if (seeds.empty()) {
    std::fprintf(stderr, "fuzz: the target gave no seeds\n");
    return 2;
  }
  std::printf("fuzz: seed %llu, %zu seed frames, budget %.0f s\n",
              static_cast<unsigned long long>(seed), seeds.size(), seconds);
  std::fflush(stdout);
  for (const auto& s : seeds) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::mt19937_64 rng(seed);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  long n = 0;
  for (; iterations < 0 || n < iterations; ++n) {
    if ((n & 255) == 0 && std::chrono::steady_clock::now() > end) break;
    const std::string input = Mutate(seeds, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("fuzz: %ld mutated inputs, no crash\n", n);
  return 0;
}
