// An infer job's tokenizer on the scheduler: which of the job's blobs are its files, and the
// tokenizer built from them, which counts each prompt's tokens for billing (kernels/flops.h
// PromptTokens) and bounds a completion's length for the screen (verify/screen.h).
//
// `plume submit` uploads the files of infer.tokenizer_files as "tokenizer.0", "tokenizer.1"
// (in the spec's order); the job keeps them at the end of its data blobs, after the checkpoint
// and the prompts, so they are inputs of its tasks (blob_access.h, receipts) and are listed by
// FetchJob like the other data.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plume/kernels/job_spec.h"
#include "plume/kernels/tokenizer.h"
#include "plume/protocol/blob_store.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

std::string TokenizerBlobName(size_t index);  // "tokenizer.0", ...

// The uploaded files' hashes in spec order; the error names a file that was not uploaded.
Result<std::vector<BlobHash>> NamedTokenizerBlobs(const kernels::JobSpec& spec,
                                                  const std::map<std::string, BlobHash>& named);
// A stored job's tokenizer blobs: the last infer.tokenizer_files.size() data blobs.
std::vector<BlobHash> StoredTokenizerBlobs(const kernels::JobSpec& spec,
                                           const std::vector<BlobHash>& data_blobs);
// Builds the tokenizer `name` from stored blobs (each at most kernels kBpeFileBytesMax). Reads
// and parses the files: call it off the reactor thread where it can run often.
Result<std::unique_ptr<kernels::Tokenizer>> LoadTokenizer(BlobStore& store, const std::string& name,
                                                          const std::vector<BlobHash>& blobs);

// Each prompt's token count under the job's tokenizer (kernels/flops.h PromptTokens, saturated
// to 32 bits), after checking that the tokenizer builds and fits a model of `model_vocab`
// tokens, and the tokenizer's longest token (what bounds a completion, verify/screen.h). Errors
// are the submitter's to fix. The work is bounded by what a quote or submit may carry (prompts:
// one message or a kPromptsBlobBytesMax blob; each tokenizer file kBpeFileBytesMax) but a BPE
// count of megabytes of prompts takes seconds: off the reactor thread (CountsOnWorker).
struct PromptCount {
  std::vector<uint32_t> tokens;
  uint64_t token_bytes_max = 0;
};
Result<PromptCount> CountPromptTokens(BlobStore& store, const std::string& name,
                                      const std::vector<BlobHash>& blobs, int64_t model_vocab,
                                      const std::vector<std::string>& prompts);

// Whether counting `spec`'s prompts is work for the offload worker: any tokenizer but the byte
// one, whose count is each prompt's length.
bool CountsOnWorker(const kernels::JobSpec& spec);

}  // namespace plume::scheduler
