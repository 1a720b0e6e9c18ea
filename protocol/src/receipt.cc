// Canonical encoding, signing and verification of task receipts.
#include "plume/protocol/receipt.h"

#include <cstring>

#include <capnp/any.h>
#include <capnp/message.h>

#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"
#include "plume/protocol/plume.capnp.h"

namespace plume {

std::string ReceiptSigningBytes(std::string_view receipt_bytes) {
  std::string out(kReceiptDomain);
  out.push_back('\0');
  out.append(receipt_bytes);
  return out;
}

Result<SignedReceipt> SignReceipt(const Identity& agent, ReceiptFields fields) {
  fields.agent = agent.public_key();
  try {
    capnp::MallocMessageBuilder builder;
    auto r = builder.initRoot<wire::Receipt>();
    r.setJobId(fields.job_id);
    r.setTaskId(fields.task_id);
    r.setAttempt(fields.attempt);
    r.setAgent(AsData(fields.agent));
    auto inputs = r.initInputs(static_cast<unsigned>(fields.inputs.size()));
    for (unsigned i = 0; i < inputs.size(); ++i) inputs.set(i, AsData(fields.inputs[i]));
    r.setOutput(AsData(fields.output));
    r.setTokens(fields.tokens);
    r.setFlops(fields.flops);
    r.setFinishedAtMs(fields.finished_at_ms);
    if (fields.commitment) r.setCommitment(AsData(*fields.commitment));
    auto words = capnp::AnyStruct::Reader(r.asReader()).canonicalize();
    auto bytes = words.asBytes();
    SignedReceipt out;
    out.bytes.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    out.signature = agent.Sign(ReceiptSigningBytes(out.bytes));
    return out;
  } catch (const kj::Exception& e) {
    return Fail(std::string("cannot encode receipt: ") + e.getDescription().cStr());
  }
}

Result<ReceiptFields> VerifyReceipt(std::span<const uint8_t> bytes,
                                    std::span<const uint8_t> signature) {
  if (signature.size() != 64) return Fail("receipt signature must be 64 bytes, got " + std::to_string(signature.size()));
  if (bytes.empty() || bytes.size() % 8 != 0 || bytes.size() > limits::kMessageBytesMax) {
    return Fail("receipt is not a canonical Cap'n Proto struct (" + std::to_string(bytes.size()) + " bytes)");
  }
  auto words = kj::heapArray<capnp::word>(bytes.size() / 8);
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  ReceiptFields f;
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = limits::kTraversalWordsMax;
    options.nestingLimit = limits::kNestingDepthMax;
    kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1), options);
    if (!reader.isCanonical()) return Fail("receipt bytes are not canonical; refusing to verify them");
    auto r = reader.getRoot<wire::Receipt>();
    auto agent = PublicKeyFromData(r.getAgent());
    if (!agent) return Fail("receipt agent: " + agent.error().message);
    auto output = HashFromData(r.getOutput());
    if (!output) return Fail("receipt output: " + output.error().message);
    f.job_id = r.getJobId().cStr();
    f.task_id = r.getTaskId();
    f.attempt = r.getAttempt();
    f.agent = *agent;
    for (auto in : r.getInputs()) {
      auto h = HashFromData(in);
      if (!h) return Fail("receipt input: " + h.error().message);
      f.inputs.push_back(*h);
    }
    f.output = *output;
    f.tokens = r.getTokens();
    f.flops = r.getFlops();
    f.finished_at_ms = r.getFinishedAtMs();
    if (r.hasCommitment()) {
      auto c = HashFromData(r.getCommitment());
      if (!c) return Fail("receipt commitment: " + c.error().message);
      f.commitment = *c;
    }
  } catch (const kj::Exception& e) {
    return Fail(std::string("malformed receipt: ") + e.getDescription().cStr());
  }
  Signature sig;
  std::copy(signature.begin(), signature.end(), sig.begin());
  const std::string signed_bytes = ReceiptSigningBytes(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!VerifySignature(f.agent, signed_bytes, sig)) {
    return Fail("receipt signature does not match agent " + ToHex(f.agent));
  }
  return f;
}

Hash256 CommitmentRoot(std::span<const Hash256> commitments) {
  Hasher h;
  h.Update(std::string_view("plume/commitments/1"));
  const uint64_t n = commitments.size();
  h.Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&n), sizeof(n)));
  for (const auto& c : commitments) h.Update(std::span<const uint8_t>(c));
  return h.Final();
}

Hash256 ReceiptHash(std::span<const uint8_t> bytes) { return Blake2b256(bytes); }

}  // namespace plume
