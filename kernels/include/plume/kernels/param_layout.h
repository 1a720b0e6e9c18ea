// The flat parameter buffer of a GPT: ONE contiguous float array holding every tensor, in this
// order (L = n_layer, C = n_embd, Vp = padded vocab, maxT = context). Per-layer tensors are
// stacked over layers: tensor k of layer l starts at offset(k) + l * per_layer_size(k).
//
//    #  name        shape         notes
//    0  wte         (Vp, C)       token embedding, also the tied lm head; rows >= vocab are 0
//    1  wpe         (maxT, C)     position embedding
//    2  ln1w        (L, C)        LayerNorm before attention
//    3  ln1b        (L, C)
//    4  qkvw        (L, 3C, C)    (OC, C) layout: out = in @ W^T (Hugging Face Conv1D is W^T)
//    5  qkvb        (L, 3C)
//    6  attprojw    (L, C, C)
//    7  attprojb    (L, C)
//    8  ln2w        (L, C)
//    9  ln2b        (L, C)
//   10  fcw         (L, 4C, C)
//   11  fcb         (L, 4C)
//   12  fcprojw     (L, C, 4C)
//   13  fcprojb     (L, C)
//   14  lnfw        (C)           final LayerNorm
//   15  lnfb        (C)
//
// Gradients and the AdamW moments use the same layout. Parameter vectors that leave the model
// (checkpoints, TrainShard outputs, DiLoCo deltas) are exactly this buffer.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "plume/kernels/config.h"

namespace plume::kernels {

enum class ParamKind {
  kWte, kWpe, kLn1w, kLn1b, kQkvw, kQkvb, kAttprojw, kAttprojb,
  kLn2w, kLn2b, kFcw, kFcb, kFcprojw, kFcprojb, kLnfw, kLnfb,
};
inline constexpr int kNumParamTensors = 16;

struct ParamTensorInfo {
  ParamKind kind;
  const char* name;
  int64_t offset = 0;          // floats from the start of the buffer
  int64_t per_layer_size = 0;  // floats of one layer's slice (the whole tensor if !layered)
  int64_t size = 0;            // floats in total (per_layer_size * L when layered)
  std::vector<int64_t> shape;  // of one layer's slice, row-major
  bool layered = false;
  bool weight_decay = false;   // 2-D matrices decay; biases and LayerNorm gains do not
};

// The 16 tensors in buffer order. Requires a valid config.
std::array<ParamTensorInfo, kNumParamTensors> ParamTensors(const ModelConfig& config);

}  // namespace plume::kernels
