// Bounded reads of a spec's blobs; see spec_blobs.h.
#include "spec_blobs.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "plume/scheduler/limits.h"

namespace plume::scheduler {

Result<std::vector<std::string>> ReadPromptsBlob(BlobStore& blobs, const Hash256& hash) {
  auto size = blobs.SizeOf(hash);
  if (!size) return Fail("prompts blob: " + size.error().message);
  if (*size > kPromptsBlobBytesMax) {
    return Fail("the \"prompts\" blob is " + std::to_string(*size) + " bytes; at most " +
                std::to_string(kPromptsBlobBytesMax) +
                " are read (one message's worth, as for inline prompts): split the job");
  }
  auto bytes = blobs.Get(hash);
  if (!bytes) return Fail("prompts blob: " + bytes.error().message);
  try {
    return nlohmann::json::parse(*bytes).get<std::vector<std::string>>();
  } catch (const std::exception&) {
    return Fail("the \"prompts\" blob must be a JSON array of strings");
  }
}

Result<kernels::ModelConfig> ConfigFromSafetensorsHeader(std::string_view header_json) {
  nlohmann::json header = nlohmann::json::parse(header_json, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return Fail("checkpoint: the safetensors header is not a JSON object");
  const auto meta = header.find("__metadata__");
  if (meta == header.end() || !meta->is_object()) {
    return Fail(
        "checkpoint: no plume metadata in its header; give the model in the spec "
        "([model] n_layer, n_head, n_embd, context, vocab)");
  }
  kernels::ModelConfig c;
  const std::pair<const char*, int kernels::ModelConfig::*> fields[] = {
      {"n_layer", &kernels::ModelConfig::n_layer},
      {"n_head", &kernels::ModelConfig::n_head},
      {"n_embd", &kernels::ModelConfig::n_embd},
      {"context", &kernels::ModelConfig::context},
      {"vocab", &kernels::ModelConfig::vocab}};
  for (const auto& [field, member] : fields) {
    const auto it = meta->find(std::string("plume.") + field);
    if (it == meta->end() || !it->is_string()) {
      return Fail(std::string("checkpoint metadata lacks plume.") + field);
    }
    const std::string text = it->get<std::string>();
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size()) {
      return Fail(std::string("checkpoint metadata plume.") + field + " = '" + text.substr(0, 32) +
                  "' is not an integer");
    }
    c.*member = value;
  }
  return c;
}

Result<kernels::ModelConfig> ReadCheckpointConfig(BlobStore& blobs, const Hash256& hash) {
  auto size = blobs.SizeOf(hash);
  if (!size) return Fail("checkpoint: " + size.error().message);
  auto prefix = blobs.ReadRange(hash, 0, 8);
  if (!prefix || prefix->size() != 8) return Fail("checkpoint: shorter than a safetensors header");
  uint64_t length = 0;  // little-endian u64, as safetensors writes it
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<uint8_t>((*prefix)[i]);
  if (length > kCheckpointHeaderBytesMax || length > *size - 8) {
    return Fail("checkpoint: a safetensors header of " + std::to_string(length) +
                " bytes (at most " + std::to_string(kCheckpointHeaderBytesMax) +
                " are read, and no more than the file holds)");
  }
  auto header = blobs.ReadRange(hash, 8, length);
  if (!header || header->size() != length) return Fail("checkpoint: its header cannot be read");
  return ConfigFromSafetensorsHeader(*header);
}

}  // namespace plume::scheduler
