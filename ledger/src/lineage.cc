// Checkpoint entries (lineage.h): their canonical body and constructor.
#include "plume/ledger/lineage.h"

#include <bit>
#include <cmath>

#include "plume/protocol/codec.h"
#include "plume/ledger/limits.h"

namespace plume::ledger {

std::vector<uint8_t> EncodeCheckpoint(const CheckpointFact& f) {
  std::vector<uint8_t> out;
  protocol::codec::PutU32(out, f.round);
  protocol::codec::PutU8(out, f.final ? 1 : 0);
  protocol::codec::PutRaw(out, f.params_in);
  protocol::codec::PutRaw(out, f.params_out);
  protocol::codec::PutU32(out, static_cast<uint32_t>(f.deltas.size()));
  for (const Hash256& d : f.deltas) protocol::codec::PutRaw(out, d);
  protocol::codec::PutU32(out, static_cast<uint32_t>(f.weights.size()));
  for (uint64_t w : f.weights) protocol::codec::PutU64(out, w);
  protocol::codec::PutU64(out, std::bit_cast<uint64_t>(f.outer_lr));
  protocol::codec::PutU64(out, std::bit_cast<uint64_t>(f.outer_momentum));
  return out;
}

Result<CheckpointFact> DecodeCheckpoint(std::span<const uint8_t> body) {
  protocol::codec::Reader in(body);
  CheckpointFact f;
  f.round = in.U32();
  const uint8_t final = in.U8();
  if (final > 1) in.Fail();  // one encoding per meaning
  f.final = final == 1;
  f.params_in = in.Raw<32>();
  f.params_out = in.Raw<32>();
  const uint32_t n = in.U32();
  if (n == 0 || n > kCheckpointDeltasMax) in.Fail();
  for (uint32_t i = 0; in.ok() && i < n; ++i) f.deltas.push_back(in.Raw<32>());
  if (in.U32() != n) in.Fail();
  for (uint32_t i = 0; in.ok() && i < n; ++i) {
    f.weights.push_back(in.U64());
    if (f.weights.back() == 0) in.Fail();  // a delta trained on nothing is not averaged
  }
  f.outer_lr = std::bit_cast<double>(in.U64());
  f.outer_momentum = std::bit_cast<double>(in.U64());
  if (!std::isfinite(f.outer_lr) || !std::isfinite(f.outer_momentum)) in.Fail();
  if (!in.done()) return Fail("checkpoint body is malformed or has trailing bytes");
  return f;
}

std::string CheckpointEntryId(std::string_view job, uint32_t round) {
  return "checkpoint:" + std::string(job) + "/r" + std::to_string(round);
}

Entry MakeCheckpoint(std::string job, const CheckpointFact& fact) {
  Entry e;
  e.type = EntryType::kCheckpoint;
  e.id = CheckpointEntryId(job, fact.round);
  e.job = std::move(job);
  e.body = EncodeCheckpoint(fact);
  return e;
}

std::string DescribeCheckpoint(const Entry& e) {
  if (e.type != EntryType::kCheckpoint) return {};
  auto f = DecodeCheckpoint(e.body);
  if (!f) return {};
  return " round=" + std::to_string(f->round) + " params_in=" + ToHex(f->params_in) +
         " params_out=" + ToHex(f->params_out) + " deltas=" + std::to_string(f->deltas.size()) +
         (f->final ? " final" : "");
}

}  // namespace plume::ledger
