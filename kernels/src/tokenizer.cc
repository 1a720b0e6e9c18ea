// Byte-level tokenizer and text-file loading.
#include "plume/kernels/tokenizer.h"

#include <fstream>
#include <iterator>

#include "plume/kernels/bpe.h"

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
  size_t token_bytes_max() const override { return 1; }
};
}  // namespace

std::unique_ptr<Tokenizer> MakeByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

Status CheckTokenizerFiles(std::string_view name, size_t files) {
  if (name == kBytesTokenizer) {
    if (files != 0) return Fail("infer.tokenizer_files: the \"bytes\" tokenizer takes no files");
    return {};
  }
  if (name == kGpt2BpeTokenizer) {
    if (files != 1 && files != 2) {
      return Fail("infer.tokenizer_files: \"gpt2-bpe\" takes [\"tokenizer.json\"] or "
                  "[\"vocab.json\", \"merges.txt\"] (Hugging Face files), got " +
                  std::to_string(files) + " files");
    }
    return {};
  }
  return Fail("infer.tokenizer: unknown tokenizer \"" + std::string(name.substr(0, 64)) +
              "\" (known: \"bytes\", \"gpt2-bpe\")");
}

Result<std::unique_ptr<Tokenizer>> MakeTokenizer(std::string_view name,
                                                 std::span<const std::string_view> files) {
  if (auto st = CheckTokenizerFiles(name, files.size()); !st) return tl::unexpected(st.error());
  if (name == kBytesTokenizer) return MakeByteTokenizer();
  return files.size() == 1 ? LoadBpeTokenizerJson(files[0]) : LoadBpeTokenizer(files[0], files[1]);
}

Status CheckTokenizerFitsModel(const Tokenizer& tokenizer, int64_t model_vocab) {
  if (tokenizer.name() == kBytesTokenizer || tokenizer.vocab_size() == model_vocab) return {};
  return Fail("infer.tokenizer: the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
              " tokens but the model's vocabulary is " + std::to_string(model_vocab) +
              ": use the tokenizer files the checkpoint was trained with");
}

Result<std::vector<int32_t>> LoadTextTokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("cannot open data file '" + path + "': check data.path");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Fail("error while reading data file '" + path + "'");
  return EncodeBytes(text);
}

}  // namespace plume::kernels
