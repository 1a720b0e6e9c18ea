// The parameter buffer layout documented in param_layout.h.
#include "plume/kernels/param_layout.h"

namespace plume::kernels {

std::array<ParamTensorInfo, kNumParamTensors> ParamTensors(const ModelConfig& config) {
  const int64_t C = config.n_embd, L = config.n_layer, Vp = config.padded_vocab(),
                maxT = config.context;
  using K = ParamKind;
  std::array<ParamTensorInfo, kNumParamTensors> t = {{
      {K::kWte, "wte", 0, 0, 0, {Vp, C}, false, true},
      {K::kWpe, "wpe", 0, 0, 0, {maxT, C}, false, true},
      {K::kLn1w, "ln1w", 0, 0, 0, {C}, true, false},
      {K::kLn1b, "ln1b", 0, 0, 0, {C}, true, false},
      {K::kQkvw, "qkvw", 0, 0, 0, {3 * C, C}, true, true},
      {K::kQkvb, "qkvb", 0, 0, 0, {3 * C}, true, false},
      {K::kAttprojw, "attprojw", 0, 0, 0, {C, C}, true, true},
      {K::kAttprojb, "attprojb", 0, 0, 0, {C}, true, false},
      {K::kLn2w, "ln2w", 0, 0, 0, {C}, true, false},
      {K::kLn2b, "ln2b", 0, 0, 0, {C}, true, false},
      {K::kFcw, "fcw", 0, 0, 0, {4 * C, C}, true, true},
      {K::kFcb, "fcb", 0, 0, 0, {4 * C}, true, false},
      {K::kFcprojw, "fcprojw", 0, 0, 0, {C, 4 * C}, true, true},
      {K::kFcprojb, "fcprojb", 0, 0, 0, {C}, true, false},
      {K::kLnfw, "lnfw", 0, 0, 0, {C}, false, false},
      {K::kLnfb, "lnfb", 0, 0, 0, {C}, false, false},
  }};
  int64_t offset = 0;
  for (auto& info : t) {
    int64_t n = 1;
    for (int64_t d : info.shape) n *= d;
    info.offset = offset;
    info.per_layer_size = n;
    info.size = info.layered ? n * L : n;
    offset += info.size;
  }
  return t;
}

}  // namespace plume::kernels
