// Private: the safetensors container (8-byte little-endian header length, JSON header, data),
// parsed with every bound checked. checkpoint.cc maps its tensors to GPT parameters.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "plume/kernels/error.h"

namespace plume::kernels {

enum class DType { kF32, kF16, kBF16 };

struct TensorView {
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;  // exactly numel * dtype size bytes, inside the file
  int64_t numel() const;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, TensorView> tensors;  // views into the parsed bytes
};

// The result's views point into `bytes`, which must outlive it.
Result<SafetensorsFile> ParseSafetensors(std::span<const uint8_t> bytes);

// Converts a tensor to float (F32 copied, F16/BF16 widened exactly).
std::vector<float> ToFloat(const TensorView& tensor);

// The file's first bytes for F32 tensors of these names and shapes stored in this order: the
// 8-byte length, the JSON header (data offsets in the given order) padded to 8 bytes. The data
// follows: checkpoint.cc WriteCheckpoint streams it.
std::string SafetensorsPrefix(
    const std::map<std::string, std::string>& metadata,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors);

}  // namespace plume::kernels
