// Generation with a KV cache: Prefill runs a sequence's window through the full-T graph and
// keeps every layer's keys and values in the sequence's slot; Decode then feeds one new token
// per sequence, many sequences per step, through row-wise ops that read the cache (gpt.h says
// what is promised; ops.h "inference with a KV cache" how the ops keep it).
//
// The lm head runs only on the rows whose next token is wanted (the last of a prefill, every
// decode row) and only over the real vocabulary: the rest of a prefill's logits would be thrown
// away, and the billing (flops.h GenerationFlops) counts exactly what runs here.
#include <algorithm>
#include <numeric>
#include <string>

#include "gpt_activations.h"
#include "status_macros.h"

namespace plume::kernels {

int64_t Gpt::KvCache::FloatsPerRow(const ModelConfig& c) {
  return 16 * int64_t{c.n_embd} + 2 + c.n_head;
}

int Gpt::kv_slots() const { return kv_ ? kv_->slots : 0; }
int Gpt::kv_max_len() const { return kv_ ? kv_->max_len : 0; }
int Gpt::SlotLength(int slot) const {
  return kv_ && slot >= 0 && slot < kv_->slots ? kv_->length[slot] : 0;
}

Status Gpt::ReserveKvCache(int slots, int max_len) {
  if (slots < 1 || max_len < 1 || max_len > config_.context) {
    return Fail("ReserveKvCache: need slots >= 1 and 1 <= max_len <= context (" +
                std::to_string(config_.context) + "); got slots = " + std::to_string(slots) +
                ", max_len = " + std::to_string(max_len));
  }
  kv_.reset();  // the old cache goes first: peak memory is the new size only
  auto kv = std::make_unique<KvCache>();
  kv->slots = slots;
  kv->max_len = max_len;
  kv->rows = std::max(max_len, slots);
  kv->length.assign(static_cast<size_t>(slots), 0);
  const int64_t C = config_.n_embd;
  const int64_t cache_floats = int64_t{config_.n_layer} * slots * max_len * C;
  const int64_t act_floats =
      kv->rows * KvCache::FloatsPerRow(config_) + int64_t{slots} * config_.vocab;
  const auto alloc = [&](std::unique_ptr<Buffer>& slot, int64_t bytes, const char* what) -> Status {
    auto buffer = ops_.Alloc(static_cast<size_t>(bytes));
    if (!buffer) {
      return Fail("cannot allocate " + std::to_string(bytes >> 20) + " MiB for the " + what +
                  " of " + std::to_string(slots) + " sequences of " + std::to_string(max_len) +
                  " tokens on " + ops_.DeviceName() +
                  " (decode fewer sequences at once): " + buffer.error().message);
    }
    slot = std::move(*buffer);
    return {};
  };
  PLUME_RETURN_IF_ERROR(alloc(kv->k, cache_floats * 4, "key cache"));
  PLUME_RETURN_IF_ERROR(alloc(kv->v, cache_floats * 4, "value cache"));
  PLUME_RETURN_IF_ERROR(alloc(kv->floats, act_floats * 4, "inference activations"));
  PLUME_RETURN_IF_ERROR(alloc(kv->index, kv->rows * 4 * 4, "token indices"));
  float* p = kv->floats->f32();
  const int64_t R = kv->rows;
  const auto take = [&p](int64_t n) {
    float* out = p;
    p += n;
    return out;
  };
  kv->x = take(R * C);
  kv->x2 = take(R * C);
  kv->ln = take(R * C);
  kv->mean = take(R);
  kv->rstd = take(R);
  kv->qkv = take(R * 3 * C);
  kv->atty = take(R * C);
  kv->lse = take(R * config_.n_head);
  kv->proj = take(R * C);
  kv->fch = take(R * 4 * C);
  kv->gelu = take(R * 4 * C);
  kv->logits = take(int64_t{slots} * config_.vocab);
  kv_ = std::move(kv);
  return {};
}

Result<std::vector<float>> Gpt::Prefill(int slot, std::span<const int32_t> tokens) {
  if (!kv_) return Fail("Prefill needs ReserveKvCache first");
  KvCache& kv = *kv_;
  const int T = static_cast<int>(tokens.size());
  if (slot < 0 || slot >= kv.slots || T < 1 || T > kv.max_len) {
    return Fail("Prefill: slot " + std::to_string(slot) + " of " + std::to_string(kv.slots) +
                " with " + std::to_string(tokens.size()) + " tokens; the cache holds 1.." +
                std::to_string(kv.max_len) + " per sequence");
  }
  PLUME_RETURN_IF_ERROR(CheckTokens(tokens, "prompt tokens", 1, T));
  kv.length[slot] = 0;  // a failure below leaves the slot empty, not half-written
  // Index upload: tokens | slots (all `slot`) | positions 0..T-1.
  std::vector<int32_t> host(static_cast<size_t>(3) * T);
  std::copy(tokens.begin(), tokens.end(), host.begin());
  std::fill(host.begin() + T, host.begin() + 2 * T, slot);
  std::iota(host.begin() + 2 * T, host.end(), 0);
  int32_t* idx = kv.index->i32();
  PLUME_RETURN_IF_ERROR(ops_.CopyToDevice(idx, host.data(), host.size() * sizeof(int32_t)));
  const int32_t* d_tokens = idx;
  const int32_t* d_slots = idx + T;
  const int32_t* d_positions = idx + 2 * T;

  using K = ParamKind;
  const int C = config_.n_embd, NH = config_.n_head, S = kv.slots, M = kv.max_len;
  const size_t layer_floats = static_cast<size_t>(S) * M * C;
  PLUME_RETURN_IF_ERROR(
      ops_.EncoderForward(kv.x, d_tokens, Param(K::kWte), Param(K::kWpe), 1, T, C));
  for (int l = 0; l < config_.n_layer; ++l) {
    float* k_cache = kv.k->f32() + l * layer_floats;
    float* v_cache = kv.v->f32() + l * layer_floats;
    PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(kv.ln, kv.mean, kv.rstd, kv.x, Param(K::kLn1w, l),
                                                Param(K::kLn1b, l), T, C));
    PLUME_RETURN_IF_ERROR(
        ops_.MatmulForward(kv.qkv, kv.ln, Param(K::kQkvw, l), Param(K::kQkvb, l), T, C, 3 * C));
    PLUME_RETURN_IF_ERROR(
        ops_.KvCacheWrite(k_cache, v_cache, kv.qkv, d_slots, d_positions, T, C, NH, S, M));
    PLUME_RETURN_IF_ERROR(ops_.AttentionForward(kv.atty, kv.lse, kv.qkv, 1, T, C, NH));
    PLUME_RETURN_IF_ERROR(ops_.MatmulForward(kv.proj, kv.atty, Param(K::kAttprojw, l),
                                             Param(K::kAttprojb, l), T, C, C));
    PLUME_RETURN_IF_ERROR(ops_.ResidualForward(kv.x2, kv.x, kv.proj, size_t(T) * C));
    PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(kv.ln, kv.mean, kv.rstd, kv.x2, Param(K::kLn2w, l),
                                                Param(K::kLn2b, l), T, C));
    PLUME_RETURN_IF_ERROR(
        ops_.MatmulForward(kv.fch, kv.ln, Param(K::kFcw, l), Param(K::kFcb, l), T, C, 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.GeluForward(kv.gelu, kv.fch, size_t(T) * 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.MatmulForward(kv.proj, kv.gelu, Param(K::kFcprojw, l),
                                             Param(K::kFcprojb, l), T, 4 * C, C));
    PLUME_RETURN_IF_ERROR(ops_.ResidualForward(kv.x, kv.x2, kv.proj, size_t(T) * C));
  }
  // Only the last position's next token is wanted.
  const float* last = kv.x + static_cast<int64_t>(T - 1) * C;
  PLUME_RETURN_IF_ERROR(
      ops_.LayerNormForward(kv.ln, kv.mean, kv.rstd, last, Param(K::kLnfw), Param(K::kLnfb), 1, C));
  const int V = config_.vocab;
  PLUME_RETURN_IF_ERROR(ops_.MatmulForward(kv.logits, kv.ln, Param(K::kWte), nullptr, 1, C, V));
  std::vector<float> logits(static_cast<size_t>(V));
  PLUME_RETURN_IF_ERROR(ops_.CopyToHost(logits.data(), kv.logits, logits.size() * sizeof(float)));
  kv.length[slot] = T;
  return logits;
}

Result<std::vector<float>> Gpt::Decode(std::span<const int32_t> slots,
                                       std::span<const int32_t> tokens) {
  if (!kv_) return Fail("Decode needs ReserveKvCache first");
  KvCache& kv = *kv_;
  const int N = static_cast<int>(slots.size());
  if (N < 1 || N > kv.slots || tokens.size() != slots.size()) {
    return Fail("Decode: " + std::to_string(slots.size()) + " slots and " +
                std::to_string(tokens.size()) + " tokens; need the same number, 1.." +
                std::to_string(kv.slots));
  }
  PLUME_RETURN_IF_ERROR(CheckTokens(tokens, "decode tokens", 1, N));
  // Index upload: tokens | slots | positions | lengths (= positions + 1).
  std::vector<int32_t> host(static_cast<size_t>(4) * N);
  std::vector<bool> seen(static_cast<size_t>(kv.slots), false);
  for (int i = 0; i < N; ++i) {
    const int s = slots[i];
    if (s < 0 || s >= kv.slots || seen[s] || kv.length[s] < 1 || kv.length[s] >= kv.max_len) {
      return Fail("Decode: slot " + std::to_string(s) + " (row " + std::to_string(i) +
                  ") is out of range, repeated, empty or full (" + std::to_string(SlotLength(s)) +
                  " of " + std::to_string(kv.max_len) + " positions)");
    }
    seen[s] = true;
    host[i] = tokens[i];
    host[N + i] = s;
    host[2 * N + i] = kv.length[s];
    host[3 * N + i] = kv.length[s] + 1;
  }
  int32_t* idx = kv.index->i32();
  PLUME_RETURN_IF_ERROR(ops_.CopyToDevice(idx, host.data(), host.size() * sizeof(int32_t)));
  const int32_t *d_tokens = idx, *d_slots = idx + N, *d_positions = idx + 2 * N,
                *d_lengths = idx + 3 * N;

  using K = ParamKind;
  const int C = config_.n_embd, NH = config_.n_head, S = kv.slots, M = kv.max_len;
  const size_t layer_floats = static_cast<size_t>(S) * M * C;
  PLUME_RETURN_IF_ERROR(
      ops_.EncoderForwardAt(kv.x, d_tokens, d_positions, Param(K::kWte), Param(K::kWpe), N, C));
  for (int l = 0; l < config_.n_layer; ++l) {
    float* k_cache = kv.k->f32() + l * layer_floats;
    float* v_cache = kv.v->f32() + l * layer_floats;
    PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(kv.ln, kv.mean, kv.rstd, kv.x, Param(K::kLn1w, l),
                                                Param(K::kLn1b, l), N, C));
    PLUME_RETURN_IF_ERROR(
        ops_.MatmulForwardRows(kv.qkv, kv.ln, Param(K::kQkvw, l), Param(K::kQkvb, l), N, C, 3 * C));
    PLUME_RETURN_IF_ERROR(
        ops_.KvCacheWrite(k_cache, v_cache, kv.qkv, d_slots, d_positions, N, C, NH, S, M));
    PLUME_RETURN_IF_ERROR(ops_.AttentionDecode(kv.atty, kv.qkv, k_cache, v_cache, d_slots,
                                               d_lengths, N, C, NH, S, M));
    PLUME_RETURN_IF_ERROR(ops_.MatmulForwardRows(kv.proj, kv.atty, Param(K::kAttprojw, l),
                                                 Param(K::kAttprojb, l), N, C, C));
    PLUME_RETURN_IF_ERROR(ops_.ResidualForward(kv.x2, kv.x, kv.proj, size_t(N) * C));
    PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(kv.ln, kv.mean, kv.rstd, kv.x2, Param(K::kLn2w, l),
                                                Param(K::kLn2b, l), N, C));
    PLUME_RETURN_IF_ERROR(
        ops_.MatmulForwardRows(kv.fch, kv.ln, Param(K::kFcw, l), Param(K::kFcb, l), N, C, 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.GeluForward(kv.gelu, kv.fch, size_t(N) * 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.MatmulForwardRows(kv.proj, kv.gelu, Param(K::kFcprojw, l),
                                                 Param(K::kFcprojb, l), N, 4 * C, C));
    PLUME_RETURN_IF_ERROR(ops_.ResidualForward(kv.x, kv.x2, kv.proj, size_t(N) * C));
  }
  PLUME_RETURN_IF_ERROR(
      ops_.LayerNormForward(kv.ln, kv.mean, kv.rstd, kv.x, Param(K::kLnfw), Param(K::kLnfb), N, C));
  const int V = config_.vocab;
  PLUME_RETURN_IF_ERROR(ops_.MatmulForwardRows(kv.logits, kv.ln, Param(K::kWte), nullptr, N, C, V));
  std::vector<float> logits(static_cast<size_t>(N) * V);
  PLUME_RETURN_IF_ERROR(ops_.CopyToHost(logits.data(), kv.logits, logits.size() * sizeof(float)));
  for (int i = 0; i < N; ++i) ++kv.length[slots[i]];
  return logits;
}

}  // namespace plume::kernels
