// What the data-owner path adds to a training job on an encrypted dataset, measured on the demo
// dataset (data/tinyshakespeare.txt): the owner encrypts once at publish; per task, the key
// service seals the data key to the agent, the agent opens it and decrypts the whole dataset in
// memory (the CPU work of a key release; the round trip to the key service is not in it).
// Each figure is the median of kRuns runs. Usage: plume_data_crypt_bench [FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "plume/data/crypt.h"

namespace {
constexpr int kRuns = 15;

template <class F>
double MedianMs(F f) {
  std::vector<double> ms;
  for (int i = 0; i < kRuns; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : PLUME_DATA_FILE;
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> plain((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (plain.empty()) {
    std::fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  const plume::data::DataKey key = plume::data::NewDataKey();
  const plume::Identity agent = plume::Identity::Generate();
  std::vector<uint8_t> sealed_data;
  const double encrypt_ms = MedianMs([&] { sealed_data = plume::data::Encrypt(plain, key); });
  size_t checked = 0;
  const double decrypt_ms = MedianMs([&] {
    auto back = plume::data::Decrypt(sealed_data, key);
    checked += back ? back->size() : 0;
  });
  std::vector<uint8_t> sealed_key;
  const double seal_ms = MedianMs([&] { sealed_key = *plume::data::SealDataKey(key, agent.public_key()); });
  const double open_ms = MedianMs([&] { (void)plume::data::OpenDataKey(sealed_key, agent); });
  const double mb = static_cast<double>(plain.size()) / 1e6;
  std::printf("dataset %s: %zu bytes, ciphertext %zu bytes (+%.3f %%)\n", path, plain.size(),
              sealed_data.size(),
              100.0 * static_cast<double>(sealed_data.size() - plain.size()) /
                  static_cast<double>(plain.size()));
  std::printf("encrypt (owner, once):      %8.3f ms  (%.0f MB/s)\n", encrypt_ms, mb / encrypt_ms * 1e3);
  std::printf("decrypt (agent, per task):  %8.3f ms  (%.0f MB/s)\n", decrypt_ms, mb / decrypt_ms * 1e3);
  std::printf("seal key (service, per task): %6.3f ms\n", seal_ms);
  std::printf("open key (agent, per task):   %6.3f ms\n", open_ms);
  std::printf("per task total (seal + open + decrypt): %.3f ms\n", seal_ms + open_ms + decrypt_ms);
  return checked == static_cast<size_t>(kRuns) * plain.size() ? 0 : 1;
}
