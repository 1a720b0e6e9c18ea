// The tokenizer of an infer job from its blobs (infer_tokenizer.h).
#include "infer_tokenizer.h"

#include <algorithm>
#include <limits>

#include "plume/kernels/bpe.h"
#include "plume/kernels/flops.h"

namespace plume::scheduler {

std::string TokenizerBlobName(size_t index) { return "tokenizer." + std::to_string(index); }

Result<std::vector<BlobHash>> NamedTokenizerBlobs(const kernels::JobSpec& spec,
                                                  const std::map<std::string, BlobHash>& named) {
  std::vector<BlobHash> out;
  for (size_t i = 0; i < spec.infer.tokenizer_files.size(); ++i) {
    auto it = named.find(TokenizerBlobName(i));
    if (it == named.end()) {
      return Fail("infer.tokenizer_files: no \"" + TokenizerBlobName(i) + "\" blob was uploaded "
                  "with the job (plume submit uploads each tokenizer file)");
    }
    out.push_back(it->second);
  }
  return out;
}

std::vector<BlobHash> StoredTokenizerBlobs(const kernels::JobSpec& spec,
                                           const std::vector<BlobHash>& data_blobs) {
  const size_t n = std::min(spec.infer.tokenizer_files.size(), data_blobs.size());
  return std::vector<BlobHash>(data_blobs.end() - static_cast<long>(n), data_blobs.end());
}

Result<std::unique_ptr<kernels::Tokenizer>> LoadTokenizer(BlobStore& store, const std::string& name,
                                                          const std::vector<BlobHash>& blobs) {
  std::vector<std::string> contents;
  for (const BlobHash& hex : blobs) {
    auto hash = HashFromHex(hex);
    if (!hash) return Fail("tokenizer blob: " + hash.error().message);
    auto size = store.SizeOf(*hash);
    if (!size) return Fail("tokenizer blob " + hex.substr(0, 16) + ": " + size.error().message);
    if (*size > kernels::kBpeFileBytesMax) {
      return Fail("a tokenizer file is " + std::to_string(*size) + " bytes; at most " +
                  std::to_string(kernels::kBpeFileBytesMax));
    }
    auto bytes = store.Get(*hash);
    if (!bytes) return Fail("tokenizer blob " + hex.substr(0, 16) + ": " + bytes.error().message);
    contents.push_back(std::move(*bytes));
  }
  const std::vector<std::string_view> views(contents.begin(), contents.end());
  auto t = kernels::MakeTokenizer(name, views);
  if (!t) return Fail(t.error().message);
  return std::move(*t);
}

Result<PromptCount> CountPromptTokens(BlobStore& store, const std::string& name,
                                      const std::vector<BlobHash>& blobs, int64_t model_vocab,
                                      const std::vector<std::string>& prompts) {
  auto tokenizer = LoadTokenizer(store, name, blobs);
  if (!tokenizer) return Fail("infer.tokenizer_files: " + tokenizer.error().message);
  if (auto st = kernels::CheckTokenizerFitsModel(**tokenizer, model_vocab); !st) {
    return Fail(st.error().message);
  }
  PromptCount out;
  out.token_bytes_max = (*tokenizer)->token_bytes_max();
  out.tokens.reserve(prompts.size());
  for (const std::string& p : prompts) {
    out.tokens.push_back(static_cast<uint32_t>(std::min<int64_t>(
        kernels::PromptTokens(**tokenizer, p), std::numeric_limits<uint32_t>::max())));
  }
  return out;
}

bool CountsOnWorker(const kernels::JobSpec& spec) {
  return spec.kind == kernels::JobKind::kInfer && spec.infer.tokenizer != kernels::kBytesTokenizer;
}

}  // namespace plume::scheduler
