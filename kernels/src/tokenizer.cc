// Byte-level tokenizer and text-file loading.
#include "plume/kernels/tokenizer.h"

#include <fstream>
#include <iterator>

namespace plume::kernels {

std::vector<int32_t> EncodeBytes(std::string_view text) {
  std::vector<int32_t> tokens(text.size());
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

Result<std::string> DecodeBytes(std::span<const int32_t> tokens) {
  std::string text(tokens.size(), '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= kByteVocab) {
      return Fail("token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                  " is not a byte (the byte tokenizer has vocab 256)");
    }
    text[i] = static_cast<char>(tokens[i]);
  }
  return text;
}

namespace {
class ByteTokenizer final : public Tokenizer {
 public:
  std::string_view name() const override { return "bytes"; }
  int32_t vocab_size() const override { return kByteVocab; }
  std::vector<int32_t> Encode(std::string_view text) const override { return EncodeBytes(text); }
  Result<std::string> Decode(std::span<const int32_t> tokens) const override {
    return DecodeBytes(tokens);
  }
  std::optional<int32_t> end_of_text() const override { return std::nullopt; }
};
}  // namespace

std::unique_ptr<Tokenizer> MakeByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

Result<std::vector<int32_t>> LoadTextTokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("cannot open data file '" + path + "': check data.path");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Fail("error while reading data file '" + path + "'");
  return EncodeBytes(text);
}

}  // namespace plume::kernels
