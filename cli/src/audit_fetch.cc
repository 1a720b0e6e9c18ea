// FetchJob and BlobGet for `plume audit` (audit_fetch.h).
#include "audit_fetch.h"

#include "cmd_net.h"
#include "plume/protocol/limits.h"

namespace plume::cli {
namespace {

std::optional<Hash256> OptHash(capnp::Data::Reader d) {
  auto h = HashFromData(d);
  if (!h) return std::nullopt;
  return *h;
}

// A missing or malformed hash reads as all zeros, which no blob has: the checks then report
// the round or shard it belongs to.
Hash256 HashOrZero(capnp::Data::Reader d) { return OptHash(d).value_or(Hash256{}); }

}  // namespace

CliResult<JobRecord> FetchJobRecord(NetClient& client, const std::string& job) {
  auto req = client.NewRequest();
  req.body().initFetchJob().setJobId(job);
  auto reply = client.Call(req);
  if (!reply) return tl::unexpected(reply.error());
  if (reply->kind() != MessageKind::FETCH_JOB_REPLY) {
    return tl::unexpected(CliError{kExitFailure, "the scheduler answered FetchJob with " +
                                                     std::string(KindName(reply->kind()))});
  }
  auto f = reply->body().getFetchJobReply();
  JobRecord r;
  r.job = job;
  r.train = f.getKind() == wire::JobKind::TRAIN;
  r.state = JobStateName(f.getState());
  r.succeeded = f.getState() == wire::JobState::SUCCEEDED;
  if (f.hasSpecHash()) r.spec_hash = OptHash(f.getSpecHash());
  for (auto d : f.getDataBlobs()) r.data_blobs.emplace_back(d.getName(), HashOrZero(d.getHash()));
  for (auto w : f.getRounds()) {
    RoundFacts round;
    round.round = w.getRound();
    round.params_in = HashOrZero(w.getParamsIn());
    round.params_out = HashOrZero(w.getParamsOut());
    for (auto d : w.getDeltas()) round.deltas.push_back(HashOrZero(d));
    for (uint64_t weight : w.getWeights()) round.weights.push_back(weight);
    round.outer_lr = w.getOuterLr();
    round.outer_momentum = w.getOuterMomentum();
    r.rounds.push_back(std::move(round));
  }
  for (auto s : f.getOutputShards()) r.output_shards.push_back(HashOrZero(s));
  return r;
}

BlobSource NetBlobSource(NetClient& client) {
  return [&client](const Hash256& hash) -> Result<std::string> {
    std::string out;
    uint64_t total = 1;  // learnt from the first chunk
    while (out.size() < total) {
      auto req = client.NewRequest();
      auto g = req.body().initBlobGet();
      g.setHash(AsData(hash));
      g.setOffset(out.size());
      g.setMaxBytes(static_cast<uint32_t>(limits::kBlobChunkBytes));
      auto reply = client.Call(req);
      if (!reply) return Fail(reply.error().message);
      if (reply->kind() != MessageKind::BLOB_CHUNK) return Fail("the scheduler sent no blob chunk");
      auto c = reply->body().getBlobChunk();
      total = c.getTotalSizeBytes();
      auto bytes = c.getBytes();
      if (c.getOffset() != out.size() || (bytes.size() == 0 && out.size() < total)) {
        return Fail("the scheduler sent a chunk out of order");
      }
      out.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    }
    return out;
  };
}

}  // namespace plume::cli
