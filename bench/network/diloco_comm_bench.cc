// Training communication (issue 3, "Benchmarks"): bytes one worker moves per DiLoCo round against
// what per-step ring all-reduce would move for the same H steps.
//
// DiLoCo, as the scheduler and agent implement it: per round each worker downloads the round's
// parameters blob once (BlobGet/BlobChunk) and uploads one delta blob (BlobPut/BlobAck); both
// are checkpoints of the whole flat parameter buffer (kernels/checkpoint.h, param_layout.h). The
// blob sizes below are the real encodings (SaveCheckpointBytes of a buffer of the model's size)
// and the framing is the real Cap'n Proto encoding of the transfer messages; CURVE and ZMTP add
// under 50 bytes per frame on top, which is left out (it is < 0.01 % of a 1 MiB chunk).
// Ring all-reduce of fp32 gradients: 2 (W-1)/W x 4 x params bytes per worker per step.
#include <sodium.h>

#include <cstdio>
#include <string>
#include <vector>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/config.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"

using namespace plume;

namespace {

struct Named {
  const char* name;
  kernels::ModelConfig config;
};

// Encoded size of a message minus the payload it carries: what framing costs per frame.
size_t FrameBytes(MessageBuilder& m) {
  auto bytes = m.Encode();
  return bytes ? bytes->size() : 0;
}

struct Framing {
  size_t get = 0, chunk_overhead = 0, put_overhead = 0, ack = 0;
};

Framing MeasureFraming() {
  const PublicKey me{};
  const Hash256 h{};
  const std::string data(limits::kBlobChunkBytes, 'x');
  Framing f;
  {
    MessageBuilder m(1, me);
    auto g = m.body().initBlobGet();
    g.setHash(AsData(h));
    g.setOffset(123456789);
    f.get = FrameBytes(m);
  }
  {
    MessageBuilder m(1, me);
    auto c = m.body().initBlobChunk();
    c.setHash(AsData(h));
    c.setOffset(123456789);
    c.setTotalSizeBytes(500'000'000);
    c.setBytes(AsData(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size())));
    f.chunk_overhead = FrameBytes(m) - data.size();
  }
  {
    MessageBuilder m(1, me);
    auto p = m.body().initBlobPut();
    p.setHash(AsData(h));
    p.setOffset(123456789);
    p.setTotalSizeBytes(500'000'000);
    p.setBytes(AsData(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size())));
    f.put_overhead = FrameBytes(m) - data.size();
  }
  {
    MessageBuilder m(1, me);
    auto a = m.body().initBlobAck();
    a.setHash(AsData(h));
    a.setNextOffset(123456789);
    f.ack = FrameBytes(m);
  }
  return f;
}

std::string Human(double bytes) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", bytes, unit[u]);
  return buf;
}

}  // namespace

int main() {
  if (sodium_init() < 0) return 1;
  const std::vector<Named> models = {
      {"tiny demo (net-train.toml, 2L 2H 64)", {2, 2, 64, 64, 256}},
      {"GPT-2 124M (12L 12H 768, ctx 1024)", {12, 12, 768, 1024, 50257}},
  };
  const std::vector<int> h_values = {25, 100, 500};
  const std::vector<int> w_values = {2, 8, 64};
  const Framing f = MeasureFraming();
  std::printf(
      "# transfer framing (Cap'n Proto, measured): BlobGet %zu B, BlobChunk +%zu B per "
      "chunk, BlobPut +%zu B per chunk, BlobAck %zu B; chunk %zu B\n\n",
      f.get, f.chunk_overhead, f.put_overhead, f.ack, limits::kBlobChunkBytes);
  std::printf(
      "| model | params (padded) | fp32 bytes | blob bytes (encoded) | DiLoCo bytes/worker/"
      "round (wire) | W | H | all-reduce bytes/worker for H steps | all-reduce / DiLoCo |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Named& m : models) {
    if (auto st = m.config.Validate(); !st) {
      std::fprintf(stderr, "%s: %s\n", m.name, st.error().message.c_str());
      return 1;
    }
    const int64_t params = m.config.NumParams();
    const double fp32 = 4.0 * static_cast<double>(params);
    std::vector<float> zeros(static_cast<size_t>(params), 0.0f);
    auto blob = kernels::SaveCheckpointBytes(m.config, zeros);
    if (!blob) {
      std::fprintf(stderr, "%s: %s\n", m.name, blob.error().message.c_str());
      return 1;
    }
    const double b = static_cast<double>(blob->size());
    zeros = {};
    const double chunks =
        static_cast<double>((blob->size() + limits::kBlobChunkBytes - 1) / limits::kBlobChunkBytes);
    // Download: one BlobGet and one BlobChunk per chunk; upload: one BlobPut and one BlobAck.
    const double diloco = 2 * b + chunks * (f.get + f.chunk_overhead + f.put_overhead + f.ack);
    for (int w : w_values) {
      for (int h : h_values) {
        const double ring = 2.0 * (w - 1) / w * fp32 * h;
        std::printf("| %s | %lld | %s | %s | %s | %d | %d | %s | %.1f |\n", m.name,
                    static_cast<long long>(params), Human(fp32).c_str(), Human(b).c_str(),
                    Human(diloco).c_str(), w, h, Human(ring).c_str(), ring / diloco);
      }
    }
  }
  std::printf(
      "\n# ratio = H (W-1)/W x fp32 / (blob + framing): DiLoCo moves the parameters "
      "twice per round, all-reduce about twice per step\n");
  return 0;
}
