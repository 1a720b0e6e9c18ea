// The streamed join of inference outputs; see output_join.h.
#include "output_join.h"

#include "plume/protocol/limits.h"

namespace plume::scheduler {

Result<BlobHash> JoinOutputs(BlobStore& blobs, const std::vector<BlobHash>& shards) {
  auto out = BlobWriter::Start(blobs);
  if (!out) return tl::unexpected(out.error());
  bool ends_with_newline = true;  // nothing written yet: no newline to add
  for (const BlobHash& b : shards) {
    auto h = HashFromHex(b);
    if (!h) return Fail("output shard " + b + ": " + h.error().message);
    auto size = blobs.SizeOf(*h);
    if (!size) return Fail("output shard missing: " + size.error().message);
    // Read and hashed in one pass; a shard damaged on disk drops the writer (nothing stored).
    Hasher hasher;
    for (uint64_t at = 0; at < *size; at += limits::kBlobChunkBytes) {
      auto piece = blobs.ReadRange(*h, at, limits::kBlobChunkBytes);
      if (!piece) return Fail("output shard " + b + ": " + piece.error().message);
      if (piece->empty()) return Fail("output shard " + b + " is shorter than its size");
      hasher.Update(*piece);
      if (auto st = (*out)->Append(std::span(reinterpret_cast<const uint8_t*>(piece->data()),
                                             piece->size()));
          !st) {
        return tl::unexpected(st.error());
      }
      ends_with_newline = piece->back() == '\n';
    }
    if (hasher.Final() != *h) return Fail("output shard " + b + " is corrupt on disk");
    if (!ends_with_newline) {
      static constexpr uint8_t kNewline[] = {'\n'};
      if (auto st = (*out)->Append(kNewline); !st) return tl::unexpected(st.error());
      ends_with_newline = true;
    }
  }
  auto hash = (*out)->Commit();
  if (!hash) return tl::unexpected(hash.error());
  return ToHex(*hash);
}

}  // namespace plume::scheduler
