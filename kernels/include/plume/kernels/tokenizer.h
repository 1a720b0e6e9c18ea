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
  // The most bytes one token decodes to (1 for bytes): what bounds a completion's length.
  virtual size_t token_bytes_max() const = 0;
};

// The byte tokenizer as a Tokenizer (no end-of-text token).
std::unique_ptr<Tokenizer> MakeByteTokenizer();

// The tokenizers a job spec can name (infer.tokenizer) and the files each is built from, in
// order: "bytes" takes none; "gpt2-bpe" takes a Hugging Face tokenizer.json, or vocab.json and
// merges.txt (bpe.h). The files travel with a network job as blobs.
inline constexpr std::string_view kBytesTokenizer = "bytes";
inline constexpr std::string_view kGpt2BpeTokenizer = "gpt2-bpe";
inline constexpr size_t kTokenizerFilesMax = 2;
// Whether `name` is known and takes `files` files; the error says what it takes.
Status CheckTokenizerFiles(std::string_view name, size_t files);
// Builds the named tokenizer from its files' contents. A malformed file is an error naming it.
Result<std::unique_ptr<Tokenizer>> MakeTokenizer(std::string_view name,
                                                 std::span<const std::string_view> files);
// A tokenizer whose ids fit the model: a token id the model cannot embed, or a generated id the
// tokenizer cannot decode, would fail a task, so a BPE tokenizer's vocabulary must be the
// model's. The byte tokenizer fits any model (a byte-level model may have fewer than 256 tokens;
// a prompt byte outside its vocabulary is refused when generation starts).
Status CheckTokenizerFitsModel(const Tokenizer& tokenizer, int64_t model_vocab);

// Reads a whole file and tokenizes it. Error names the path when it cannot be read.
Result<std::vector<int32_t>> LoadTextTokens(const std::string& path);

}  // namespace plume::kernels
