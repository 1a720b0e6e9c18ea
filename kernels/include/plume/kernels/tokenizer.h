// The byte-level tokenizer: token = byte value, vocab 256. Datasets are plain text files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/kernels/error.h"

namespace plume::kernels {

inline constexpr int kByteVocab = 256;

std::vector<int32_t> EncodeBytes(std::string_view text);
// Tokens outside [0, 256) are an error (they cannot come from this tokenizer).
Result<std::string> DecodeBytes(std::span<const int32_t> tokens);

// Reads a whole file and tokenizes it. Error names the path when it cannot be read.
Result<std::vector<int32_t>> LoadTextTokens(const std::string& path);

}  // namespace plume::kernels
