// The CLI's connection to a scheduler: resolves --scheduler / --scheduler-id / --key (or
// PLUME_SCHEDULER, PLUME_SCHEDULER_ID, PLUME_KEY, ~/.config/plume/key), sends requests and
// turns Error replies into messages that say what to fix, and moves blobs in chunks (push with
// a window and a resume probe; pull with a window, verified against the hash).
// Single-threaded, one request in flight (the CLI).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "commands.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"

namespace plume::cli {

struct NetFlags {
  std::string scheduler;     // tcp://host:port
  std::string scheduler_id;  // hex ed25519 public key
  std::string key;           // key file path
  bool json = false;
};

// An error with the exit code it should produce (usage / bad input = 2, else 1).
struct CliError {
  int exit_code = kExitFailure;
  std::string message;
};
template <class T>
using CliResult = tl::expected<T, CliError>;

// Fills empty flags from the environment and defaults; the error says which flag is missing.
CliResult<NetFlags> ResolveNetFlags(NetFlags flags);
std::string DefaultKeyPath();

class NetClient {
 public:
  static CliResult<std::unique_ptr<NetClient>> Connect(const NetFlags& flags);

  const Identity& identity() const { return client_->identity(); }
  MessageBuilder NewRequest() { return client_->NewRequest(); }
  // Sends and waits for the reply (PLUME_TIMEOUT_MS overrides the timeout); an Error reply becomes a CliError (invalidSpec, notFound and
  // badMessage map to exit code 2).
  CliResult<Message> Call(const MessageBuilder& request,
                          std::chrono::milliseconds timeout = std::chrono::seconds(15));

  // Pushes bytes as a blob (resumes where the scheduler already has a prefix).
  CliResult<Hash256> Upload(std::span<const uint8_t> bytes);
  // Pulls a blob of known size and verifies it.
  CliResult<std::string> Download(const Hash256& hash, uint64_t size_bytes);

 private:
  explicit NetClient(std::unique_ptr<TransportClient> c, std::string endpoint)
      : client_(std::move(c)), endpoint_(std::move(endpoint)) {}
  std::unique_ptr<TransportClient> client_;
  std::string endpoint_;
};

}  // namespace plume::cli
