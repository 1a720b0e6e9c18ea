// Private to the Gpt implementation: where each activation of a forward/backward pass lives
// inside the activation buffer, for N = B * T rows. Shared by gpt.cc and gpt_graph.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "plume/kernels/gpt.h"

namespace plume::kernels {

struct LayerActs {
  float* ln1;        // (N, C)
  float* ln1_mean;   // (N)
  float* ln1_rstd;   // (N)
  float* qkv;        // (N, 3C)
  float* atty;       // (N, C)
  float* lse;        // (B, NH, T)
  float* attproj;    // (N, C)
  float* residual2;  // (N, C)
  float* ln2;        // (N, C)
  float* ln2_mean;   // (N)
  float* ln2_rstd;   // (N)
  float* fch;        // (N, 4C)
  float* fch_gelu;   // (N, 4C)
  float* fcproj;     // (N, C)
  float* residual3;  // (N, C)
};

struct Gpt::Activations {
  int64_t capacity_rows = 0;
  std::unique_ptr<Buffer> floats;   // forward activations
  std::unique_ptr<Buffer> scratch;  // backward activation gradients
  std::unique_ptr<Buffer> tokens;   // (N) int32
  std::unique_ptr<Buffer> targets;  // (N) int32

  // Pointers for N rows (N <= capacity_rows), recomputed per call so any B*T fits.
  float* encoded = nullptr;  // (N, C)
  std::vector<LayerActs> layers;
  float* lnf = nullptr;       // (N, C)
  float* lnf_mean = nullptr;  // (N)
  float* lnf_rstd = nullptr;  // (N)
  float* logits = nullptr;    // (N, Vp); holds dlogits after a Forward with targets
  float* losses = nullptr;    // (N)
  // Backward scratch. dres carries the gradient of the residual stream down the layers; dln is
  // the gradient of a LayerNorm output; big1/big2 hold (N, 4C) MLP gradients and are reused
  // (after the MLP is done) for dqkv (N, 3C) and datty (N, C).
  float* dres = nullptr;
  float* dln = nullptr;
  float* big1 = nullptr;
  float* big2 = nullptr;

  static int64_t FloatsPerRow(const ModelConfig& c);
  static int64_t ScratchPerRow(const ModelConfig& c);
  void Point(const ModelConfig& c, int64_t rows);
};

// The KV cache and the activations of inference (gpt_decode.cc). Keys and values of layer l are
// (slots, NH, max_len, HS) at k/v + l * slots * max_len * C. Inference needs no activation past
// the op that consumes it, so one set of buffers serves every layer.
struct Gpt::KvCache {
  int slots = 0;
  int max_len = 0;
  int64_t rows = 0;  // activation rows: max(max_len, slots)
  std::unique_ptr<Buffer> k, v;
  std::unique_ptr<Buffer> floats;
  std::unique_ptr<Buffer> index;  // int32: tokens | slots | positions | lengths, `rows` each
  std::vector<int> length;        // positions each slot holds (host)

  float* x = nullptr;       // (rows, C) residual stream
  float* x2 = nullptr;      // (rows, C) residual stream after attention
  float* ln = nullptr;      // (rows, C)
  float* mean = nullptr;    // (rows)
  float* rstd = nullptr;    // (rows)
  float* qkv = nullptr;     // (rows, 3C)
  float* atty = nullptr;    // (rows, C)
  float* lse = nullptr;     // (NH, rows)
  float* proj = nullptr;    // (rows, C)
  float* fch = nullptr;     // (rows, 4C)
  float* gelu = nullptr;    // (rows, 4C)
  float* logits = nullptr;  // (slots, V): real vocabulary only, no padding

  static int64_t FloatsPerRow(const ModelConfig& c);
};

}  // namespace plume::kernels
