// Private: what a job spec reads from blobs when it is quoted or submitted, bounded so that no
// quote costs the reactor more than one message does (security review F6): the prompts blob
// (a JSON array of strings) is refused past kPromptsBlobBytesMax, the size of one message, as
// inline prompts are; an inference checkpoint gives its model config from its safetensors header
// alone (at most kCheckpointHeaderBytesMax), never by loading the weights.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/protocol/blob_store.h"
#include "plume/protocol/error.h"

namespace plume::scheduler {

Result<std::vector<std::string>> ReadPromptsBlob(BlobStore& blobs, const Hash256& hash);
Result<kernels::ModelConfig> ReadCheckpointConfig(BlobStore& blobs, const Hash256& hash);
// The model config in a safetensors header's __metadata__ (plume.n_layer, ...); pure.
Result<kernels::ModelConfig> ConfigFromSafetensorsHeader(std::string_view header_json);

}  // namespace plume::scheduler
