// Private: an inference job's output shards joined into the one outputs.jsonl blob that
// `plume fetch` downloads (reactor_fetch.cc, on the offload worker). Streamed (security review
// F6): each shard is read in 1 MiB pieces into a BlobWriter, hashed as it is read and checked
// against its name at its end, so the join holds one piece, not the outputs (which a job's
// shards bound at their prompts times max_new_tokens times the tokenizer's longest token: far
// more than one model-sized buffer can be for a large job). Touches only the blob store.
#pragma once

#include <vector>

#include "plume/protocol/blob_store.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

// The shards' bytes in order (shards hold consecutive prompts, so shard order is prompt order), a newline added after any shard that does not end with one,
// stored; the blob's hash. A missing or damaged shard is an error and nothing is stored.
Result<BlobHash> JoinOutputs(BlobStore& blobs, const std::vector<BlobHash>& shards);

}  // namespace plume::scheduler
