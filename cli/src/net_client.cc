// The CLI side of the wire protocol: flag resolution, request/reply, chunked blob transfer.
#include "net_client.h"

#include <cstdlib>
#include <map>

#include "plume/protocol/limits.h"

namespace plume::cli {
namespace {

constexpr auto kChunkTimeout = std::chrono::seconds(10);
constexpr int kTransferRetriesMax = 5;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

CliError ConnectionHint(const std::string& endpoint, const std::string& what) {
  return {kExitFailure, what + " (is plume-scheduler running at " + endpoint +
                            ", and is --scheduler-id / PLUME_SCHEDULER_ID its id?)"};
}

}  // namespace

std::string DefaultKeyPath() {
  const std::string home = Env("HOME");
  return (home.empty() ? std::string(".") : home) + "/.config/plume/key";
}

CliResult<NetFlags> ResolveNetFlags(NetFlags f) {
  if (f.scheduler.empty()) f.scheduler = Env("PLUME_SCHEDULER");
  if (f.scheduler_id.empty()) f.scheduler_id = Env("PLUME_SCHEDULER_ID");
  if (f.key.empty()) f.key = Env("PLUME_KEY");
  if (f.key.empty()) f.key = DefaultKeyPath();
  if (f.scheduler.empty()) {
    return tl::unexpected(CliError{kExitBadInput,
        "no scheduler given: pass --scheduler tcp://HOST:PORT or set PLUME_SCHEDULER"});
  }
  if (f.scheduler_id.empty()) {
    return tl::unexpected(CliError{kExitBadInput,
        "no scheduler id given: pass --scheduler-id HEX (the scheduler's public key, printed "
        "when it starts) or set PLUME_SCHEDULER_ID"});
  }
  return f;
}

CliResult<std::unique_ptr<NetClient>> NetClient::Connect(const NetFlags& flags) {
  auto id = Identity::Load(flags.key);
  if (!id) {
    return tl::unexpected(CliError{kExitBadInput, id.error().message +
                                                   " (create one with `plume keygen -o PATH`, or "
                                                   "point --key / PLUME_KEY at yours)"});
  }
  auto server = PublicKeyFromHex(flags.scheduler_id);
  if (!server) {
    return tl::unexpected(CliError{kExitBadInput, "--scheduler-id: " + server.error().message});
  }
  auto client = TransportClient::Connect(flags.scheduler, *server, *id);
  if (!client) {
    return tl::unexpected(CliError{kExitBadInput, "--scheduler: " + client.error().message});
  }
  return std::unique_ptr<NetClient>(new NetClient(std::move(*client), flags.scheduler));
}

CliResult<Message> NetClient::Call(const MessageBuilder& request,
                                   std::chrono::milliseconds timeout) {
  // PLUME_TIMEOUT_MS overrides every reply timeout (scripts and tests that expect no answer).
  if (const std::string env = Env("PLUME_TIMEOUT_MS"); !env.empty()) {
    timeout = std::chrono::milliseconds(std::atoll(env.c_str()));
  }
  auto reply = client_->Call(request, timeout);
  if (!reply) return tl::unexpected(ConnectionHint(endpoint_, reply.error().message));
  if (reply->kind() == MessageKind::ERROR) {
    auto e = reply->body().getError();
    const auto code = e.getCode();
    const bool usage = code == wire::ErrorCode::INVALID_SPEC ||
                       code == wire::ErrorCode::NOT_FOUND || code == wire::ErrorCode::BAD_MESSAGE;
    return tl::unexpected(CliError{usage ? kExitBadInput : kExitFailure,
                                   "scheduler refused: " + std::string(e.getMessage().cStr())});
  }
  return std::move(*reply);
}

CliResult<Hash256> NetClient::Upload(std::span<const uint8_t> bytes) {
  const Hash256 hash = Blake2b256(bytes);
  const uint64_t total = bytes.size();
  const uint64_t window = uint64_t{limits::kBlobWindowChunks} * limits::kBlobChunkBytes;
  auto put = [&](uint64_t offset, size_t len) {
    auto b = client_->NewRequest();
    auto p = b.body().initBlobPut();
    p.setHash(AsData(hash));
    p.setOffset(offset);
    p.setBytes(capnp::Data::Reader(bytes.data() + offset, len));
    p.setTotalSizeBytes(total);
    return client_->Send(b);
  };
  int stalls = 0;
  uint64_t sent_upto = 0;
  uint64_t last_ack = UINT64_MAX;
  bool probe = true;
  while (true) {
    if (probe) {  // an empty put at 0 asks where to resume
      if (auto s = put(0, 0); !s) return tl::unexpected(CliError{kExitFailure, s.error().message});
      probe = false;
    }
    auto in = client_->Recv(kChunkTimeout);
    if (!in) return tl::unexpected(CliError{kExitFailure, in.error().message});
    if (!in->has_value()) {
      if (++stalls > kTransferRetriesMax) {
        return tl::unexpected(ConnectionHint(endpoint_, "upload of blob " + ToHex(hash) +
                                                            " got no answer"));
      }
      probe = true;
      continue;
    }
    const Message& m = **in;
    if (m.kind() == MessageKind::ERROR) {
      return tl::unexpected(CliError{kExitFailure, "upload refused: " +
                                         std::string(m.body().getError().getMessage().cStr())});
    }
    if (m.kind() != MessageKind::BLOB_ACK) continue;
    auto ack = m.body().getBlobAck();
    auto acked_hash = HashFromData(ack.getHash());
    if (!acked_hash || *acked_hash != hash) continue;
    if (ack.getComplete()) return hash;
    const uint64_t next = ack.getNextOffset();
    if (next > total) return tl::unexpected(CliError{kExitFailure, "scheduler acked past the end"});
    // The receiver ignores chunks past its next offset, so a repeated ack means a chunk was
    // lost: rewind and send again from there (duplicates are ignored by the receiver).
    if (sent_upto < next || (next == last_ack && sent_upto > next)) sent_upto = next;
    last_ack = next;
    while (sent_upto < total && sent_upto < next + window) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(limits::kBlobChunkBytes,
                                                                total - sent_upto));
      if (auto s = put(sent_upto, len); !s) {
        return tl::unexpected(CliError{kExitFailure, s.error().message});
      }
      sent_upto += len;
    }
    stalls = 0;
  }
}

CliResult<std::string> NetClient::Download(const Hash256& hash, uint64_t size_bytes) {
  std::string out;
  out.reserve(size_bytes);
  std::map<uint64_t, std::string> early;  // chunks that arrived ahead of `out`
  uint64_t requested = 0;
  int stalls = 0;
  auto request = [&](uint64_t offset) {
    auto b = client_->NewRequest();
    auto g = b.body().initBlobGet();
    g.setHash(AsData(hash));
    g.setOffset(offset);
    g.setMaxBytes(static_cast<uint32_t>(limits::kBlobChunkBytes));
    return client_->Send(b);
  };
  while (out.size() < size_bytes) {
    while (requested < size_bytes &&
           requested < out.size() + uint64_t{limits::kBlobWindowChunks} * limits::kBlobChunkBytes) {
      if (auto s = request(requested); !s) {
        return tl::unexpected(CliError{kExitFailure, s.error().message});
      }
      requested += limits::kBlobChunkBytes;
    }
    auto in = client_->Recv(kChunkTimeout);
    if (!in) return tl::unexpected(CliError{kExitFailure, in.error().message});
    if (!in->has_value()) {
      if (++stalls > kTransferRetriesMax) {
        return tl::unexpected(ConnectionHint(endpoint_, "download of blob " + ToHex(hash) +
                                                            " got no answer"));
      }
      requested = out.size();  // ask again for everything not yet here
      early.clear();
      continue;
    }
    const Message& m = **in;
    if (m.kind() == MessageKind::ERROR) {
      return tl::unexpected(CliError{kExitFailure, "download refused: " +
                                         std::string(m.body().getError().getMessage().cStr())});
    }
    if (m.kind() != MessageKind::BLOB_CHUNK) continue;
    auto c = m.body().getBlobChunk();
    auto h = HashFromData(c.getHash());
    if (!h || *h != hash || c.getOffset() < out.size()) continue;
    auto bytes = c.getBytes();
    early[c.getOffset()] = std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    for (auto it = early.find(out.size()); it != early.end(); it = early.find(out.size())) {
      if (it->second.empty()) break;
      out += it->second;
      early.erase(it);
    }
    stalls = 0;
  }
  if (out.size() != size_bytes || Blake2b256(out) != hash) {
    return tl::unexpected(CliError{kExitFailure, "blob " + ToHex(hash) +
                                                     " arrived corrupted (hash mismatch); retry"});
  }
  return out;
}

}  // namespace plume::cli
