// GPT checkpoints: our flat parameter buffer <-> Hugging Face GPT-2 tensors in safetensors
// (names, shapes and the Conv1D transpose are listed in checkpoint.h).
#include "plume/kernels/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "plume/kernels/param_layout.h"
#include "safetensors.h"
#include "status_macros.h"

namespace plume::kernels {
namespace {

// One Hugging Face tensor and where it lives in our buffer.
struct HfTensor {
  std::string name;
  std::vector<int64_t> shape;  // Hugging Face shape
  ParamKind kind;
  int layer;
  bool transpose;  // Conv1D weights: HF (in, out) vs our (out, in)
};

std::vector<HfTensor> HfTensors(const ModelConfig& c) {
  const int64_t C = c.n_embd;
  using K = ParamKind;
  std::vector<HfTensor> out = {{"wte.weight", {c.vocab, C}, K::kWte, 0, false},
                               {"wpe.weight", {c.context, C}, K::kWpe, 0, false}};
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    out.push_back({h + "ln_1.weight", {C}, K::kLn1w, l, false});
    out.push_back({h + "ln_1.bias", {C}, K::kLn1b, l, false});
    out.push_back({h + "attn.c_attn.weight", {C, 3 * C}, K::kQkvw, l, true});
    out.push_back({h + "attn.c_attn.bias", {3 * C}, K::kQkvb, l, false});
    out.push_back({h + "attn.c_proj.weight", {C, C}, K::kAttprojw, l, true});
    out.push_back({h + "attn.c_proj.bias", {C}, K::kAttprojb, l, false});
    out.push_back({h + "ln_2.weight", {C}, K::kLn2w, l, false});
    out.push_back({h + "ln_2.bias", {C}, K::kLn2b, l, false});
    out.push_back({h + "mlp.c_fc.weight", {C, 4 * C}, K::kFcw, l, true});
    out.push_back({h + "mlp.c_fc.bias", {4 * C}, K::kFcb, l, false});
    out.push_back({h + "mlp.c_proj.weight", {4 * C, C}, K::kFcprojw, l, true});
    out.push_back({h + "mlp.c_proj.bias", {C}, K::kFcprojb, l, false});
  }
  out.push_back({"ln_f.weight", {C}, K::kLnfw, 0, false});
  out.push_back({"ln_f.bias", {C}, K::kLnfb, 0, false});
  return out;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Copies rows x cols from src to dst, transposing when asked (dst is cols x rows then).
void CopyMatrix(const float* src, float* dst, int64_t rows, int64_t cols, bool transpose) {
  if (!transpose) {
    std::copy(src, src + rows * cols, dst);
    return;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const std::vector<std::pair<const char*, int ModelConfig::*>> kConfigFields = {
    {"n_layer", &ModelConfig::n_layer}, {"n_head", &ModelConfig::n_head},
    {"n_embd", &ModelConfig::n_embd},   {"context", &ModelConfig::context},
    {"vocab", &ModelConfig::vocab}};

Result<ModelConfig> ConfigFromMetadata(const std::map<std::string, std::string>& metadata) {
  ModelConfig c;
  for (const auto& [field, member] : kConfigFields) {
    const auto it = metadata.find(std::string("plume.") + field);
    if (it == metadata.end()) return Fail(std::string("checkpoint metadata lacks plume.") + field);
    try {
      size_t used = 0;
      c.*member = std::stoi(it->second, &used);
      if (used != it->second.size()) throw std::invalid_argument(it->second);
    } catch (const std::exception&) {
      return Fail(std::string("checkpoint metadata plume.") + field + " = '" + it->second +
                  "' is not an integer");
    }
  }
  return c;
}

// No plume metadata (a Hugging Face file): everything but n_head follows from the shapes.
Result<ModelConfig> ConfigFromShapes(const std::map<std::string, TensorView>& tensors, int n_head) {
  const auto wte = tensors.find("wte.weight");
  const auto wpe = tensors.find("wpe.weight");
  if (wte == tensors.end()) return Fail("missing tensor 'wte.weight'");
  if (wpe == tensors.end()) return Fail("missing tensor 'wpe.weight'");
  if (wte->second.shape.size() != 2 || wpe->second.shape.size() != 2) {
    return Fail("tensors 'wte.weight' and 'wpe.weight' must be 2-D");
  }
  if (n_head <= 0) {
    return Fail("checkpoint has no plume metadata, and its shapes do not determine the number "
                "of heads: give model.n_head");
  }
  ModelConfig c;
  c.vocab = static_cast<int>(std::min<int64_t>(wte->second.shape[0], kMaxVocab + 1));
  c.n_embd = static_cast<int>(std::min<int64_t>(wte->second.shape[1], kMaxEmbd + 1));
  c.context = static_cast<int>(std::min<int64_t>(wpe->second.shape[0], kMaxContext + 1));
  c.n_head = n_head;
  while (c.n_layer <= kMaxLayers &&
         tensors.count("h." + std::to_string(c.n_layer) + ".ln_1.weight")) {
    ++c.n_layer;
  }
  return c;
}

Status CheckExpected(const ModelConfig& got, const ModelConfig& want) {
  for (const auto& [field, member] : kConfigFields) {
    if (got.*member != want.*member) {
      return Fail(std::string("checkpoint has model.") + field + " = " +
                  std::to_string(got.*member) + " but the job expects " +
                  std::to_string(want.*member));
    }
  }
  return {};
}

// Strips the optional "transformer." prefix and drops tensors we deliberately ignore.
Result<std::map<std::string, TensorView>> Normalize(std::map<std::string, TensorView> in) {
  std::map<std::string, TensorView> out;
  for (auto& [raw, view] : in) {
    std::string name = raw.rfind("transformer.", 0) == 0 ? raw.substr(12) : raw;
    const bool mask_buffer = name.size() > 10 && name.rfind("h.", 0) == 0 &&
                             (name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"));
    if (mask_buffer || name == "lm_head.weight") continue;
    if (out.count(name)) return Fail("tensor '" + name + "' appears twice");
    out.emplace(std::move(name), view);
  }
  return out;
}

}  // namespace

std::string CheckpointPrefix(const ModelConfig& config) {
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
  for (const auto& [field, member] : kConfigFields) {
    metadata[std::string("plume.") + field] = std::to_string(config.*member);
  }
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const HfTensor& t : HfTensors(config)) shapes.emplace_back(t.name, t.shape);
  return SafetensorsPrefix(metadata, shapes);
}

Status WriteCheckpoint(const ModelConfig& config, std::span<const float> params,
                       const CheckpointSink& sink) {
  if (auto s = config.Validate(); !s) return tl::unexpected(s.error());
  if (static_cast<int64_t>(params.size()) != config.NumParams()) {
    return Fail("parameter vector has " + std::to_string(params.size()) +
                " floats; the config needs " + std::to_string(config.NumParams()));
  }
  const auto hf = HfTensors(config);
  const std::string prefix = CheckpointPrefix(config);
  PLUME_RETURN_IF_ERROR(sink(std::span(reinterpret_cast<const uint8_t*>(prefix.data()),
                                       prefix.size())));
  auto bytes_of = [](const float* p, size_t n) {
    return std::span(reinterpret_cast<const uint8_t*>(p), n * sizeof(float));
  };
  const auto layout = ParamTensors(config);
  std::vector<float> piece;  // one bounded piece of a transposed tensor, allocated once
  piece.reserve(static_cast<size_t>(kCheckpointPieceFloats));
  for (const HfTensor& t : hf) {
    const auto& info = layout[static_cast<int>(t.kind)];
    const float* src = params.data() + info.offset + t.layer * info.per_layer_size;
    const int64_t numel = Numel(t.shape);
    if (!t.transpose) {  // wte: only the first vocab rows, dropping the padding
      for (int64_t at = 0; at < numel; at += kCheckpointPieceFloats) {
        const int64_t n = std::min(kCheckpointPieceFloats, numel - at);
        PLUME_RETURN_IF_ERROR(sink(bytes_of(src + at, static_cast<size_t>(n))));
      }
      continue;
    }
    // HF (rows, cols) is our (cols, rows) transposed: each HF row is one of our columns.
    const int64_t rows = t.shape[0], cols = t.shape[1];
    const int64_t rows_per_piece = std::max<int64_t>(1, kCheckpointPieceFloats / cols);
    for (int64_t r0 = 0; r0 < rows; r0 += rows_per_piece) {
      const int64_t n = std::min(rows_per_piece, rows - r0);
      piece.resize(static_cast<size_t>(n * cols));
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < cols; ++c) piece[r * cols + c] = src[c * rows + r0 + r];
      PLUME_RETURN_IF_ERROR(sink(bytes_of(piece.data(), piece.size())));
    }
  }
  return {};
}

Result<std::vector<uint8_t>> SaveCheckpointBytes(const ModelConfig& config,
                                                 std::span<const float> params) {
  std::vector<uint8_t> out;
  out.reserve(params.size() * sizeof(float) + (64u << 10));  // the data and most headers
  auto written = WriteCheckpoint(config, params, [&](std::span<const uint8_t> bytes) -> Status {
    out.insert(out.end(), bytes.begin(), bytes.end());
    return {};
  });
  if (!written) return tl::unexpected(written.error());
  return out;
}

Result<Checkpoint> LoadCheckpointBytes(std::span<const uint8_t> bytes, const LoadOptions& options) {
  auto file = ParseSafetensors(bytes);
  if (!file) return tl::unexpected(file.error());
  auto tensors = Normalize(std::move(file->tensors));
  if (!tensors) return tl::unexpected(tensors.error());
  const bool has_metadata = file->metadata.count("plume.n_layer") > 0;
  const int n_head = options.n_head > 0 ? options.n_head : (options.expect ? options.expect->n_head : 0);
  auto config = has_metadata ? ConfigFromMetadata(file->metadata) : ConfigFromShapes(*tensors, n_head);
  if (!config) return tl::unexpected(config.error());
  if (auto s = config->Validate(); !s) return Fail("checkpoint config: " + s.error().message);
  if (options.expect) {
    if (auto s = CheckExpected(*config, *options.expect); !s) return tl::unexpected(s.error());
  }

  Checkpoint out{*config, std::vector<float>(static_cast<size_t>(config->NumParams()), 0.0f)};
  const auto layout = ParamTensors(*config);
  std::set<std::string> used;
  for (const HfTensor& t : HfTensors(*config)) {
    const auto it = tensors->find(t.name);
    if (it == tensors->end()) return Fail("missing tensor '" + t.name + "'");
    if (it->second.shape != t.shape) {
      return Fail("tensor '" + t.name + "' has shape " + ShapeString(it->second.shape) +
                  " but the config needs " + ShapeString(t.shape));
    }
    const std::vector<float> values = ToFloat(it->second);
    const auto& info = layout[static_cast<int>(t.kind)];
    float* dst = out.params.data() + info.offset + t.layer * info.per_layer_size;
    if (t.transpose) {
      CopyMatrix(values.data(), dst, t.shape[0], t.shape[1], true);
    } else {
      std::copy(values.begin(), values.end(), dst);
    }
    used.insert(t.name);
  }
  for (const auto& [name, view] : *tensors) {
    if (!used.count(name)) {
      return Fail("unexpected tensor '" + name + "' (not part of a GPT-2 model with " +
                  std::to_string(config->n_layer) + " layers)");
    }
  }
  return out;
}

Result<CheckpointSummary> InspectCheckpointBytes(std::span<const uint8_t> bytes) {
  auto file = ParseSafetensors(bytes);
  if (!file) return tl::unexpected(file.error());
  CheckpointSummary out{std::move(file->metadata), {}};
  for (const auto& [name, view] : file->tensors) {
    const char* dtype = view.dtype == DType::kF32   ? "F32"
                        : view.dtype == DType::kF16 ? "F16"
                                                    : "BF16";
    out.tensors.push_back({name, dtype, view.shape, view.data});
  }
  return out;
}

std::vector<TensorSummary> CheckpointTensors(const ModelConfig& config) {
  std::vector<TensorSummary> out;
  for (HfTensor& t : HfTensors(config)) out.push_back({std::move(t.name), "F32", t.shape, {}});
  return out;
}

Status SaveCheckpoint(const std::string& path, const ModelConfig& config,
                      std::span<const float> params) {
  auto bytes = SaveCheckpointBytes(config, params);
  if (!bytes) return tl::unexpected(bytes.error());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Fail("cannot create '" + tmp + "': check that the directory exists and is writable");
    out.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return Fail("cannot write '" + tmp + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Fail("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  return {};
}

Result<Checkpoint> LoadCheckpoint(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("cannot open checkpoint '" + path + "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Fail("error while reading checkpoint '" + path + "'");
  auto checkpoint = LoadCheckpointBytes(bytes, options);
  if (!checkpoint) return Fail(path + ": " + checkpoint.error().message);
  return checkpoint;
}

}  // namespace plume::kernels
