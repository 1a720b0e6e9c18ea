// Tokenizers: text <-> token ids. The byte-level tokenizer (token = byte value, vocab 256) is
// the default and what training datasets use (plain text files); GPT-2's byte-level BPE
// (bpe.h) is the other. Generation works against the Tokenizer interface.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
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

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string_view name() const = 0;  // "bytes", "gpt2-bpe"
  virtual int32_t vocab_size() const = 0;     // ids are in [0, vocab_size)
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;
  // Ids outside [0, vocab_size) are an error. The result may be invalid UTF-8 when a multi-byte
  // character is split across tokens (decode whole sequences, not single tokens, for text).
  virtual Result<std::string> Decode(std::span<const int32_t> tokens) const = 0;
  // The end-of-text id ("<|endoftext|>" for GPT-2), if the tokenizer has one: generation stops
  // at it.
  virtual std::optional<int32_t> end_of_text() const = 0;
};

// The byte tokenizer as a Tokenizer (no end-of-text token).
std::unique_ptr<Tokenizer> MakeByteTokenizer();

// Reads a whole file and tokenizes it. Error names the path when it cannot be read.
Result<std::vector<int32_t>> LoadTextTokens(const std::string& path);

}  // namespace plume::kernels
