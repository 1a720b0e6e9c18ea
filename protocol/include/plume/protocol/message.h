// Framing: one Cap'n Proto Envelope (protocol/schema/plume.capnp) per ZeroMQ frame.
//
// Sending side: MessageBuilder fills version, request id and sender; the caller sets one body
// through the generated builder (`b.body().initSubmitJob()...`); Encode() gives the frame bytes.
// Receiving side: Decode() checks size, version and the whole message against the schema (every
// pointer followed, every text terminated, every enum and union member known) before it returns,
// so reading fields of a decoded Message afterwards cannot throw. Cap'n Proto exceptions never
// leave this file's implementation; they become Error values.
//
// Thread safety: a Message or MessageBuilder is used by one thread at a time; Decode and Encode
// are reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/plume.capnp.h"

namespace plume {

using MessageKind = wire::Envelope::Body::Which;

// A decoded, validated Envelope that owns its bytes. Readers obtained from envelope() stay valid
// as long as the Message lives (moving the Message keeps them valid: the bytes do not move).
class Message {
 public:
  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  ~Message();

  wire::Envelope::Reader envelope() const;
  wire::Envelope::Body::Reader body() const { return envelope().getBody(); }
  MessageKind kind() const { return body().which(); }
  uint64_t request_id() const { return envelope().getRequestId(); }
  // The sender field as written by the peer. TransportServer/TransportClient only hand out
  // messages whose sender matches the connection's CURVE key; a Message from Decode() alone
  // has not been checked.
  PublicKey sender() const;
  size_t size_bytes() const;

 private:
  struct Impl;
  explicit Message(std::unique_ptr<Impl> impl);
  friend Result<Message> Decode(std::span<const uint8_t> bytes);
  std::unique_ptr<Impl> impl_;
};

// Parses and validates one frame. Errors name the problem: too large (limits::kMessageBytesMax),
// not a multiple of 8 bytes, bad segment table, unsupported version, unknown message kind, a
// field that does not match the schema, sender not 32 bytes, trailing bytes.
Result<Message> Decode(std::span<const uint8_t> bytes);
Result<Message> Decode(std::string_view bytes);

// Builds one Envelope. Not copyable; encode as often as needed.
class MessageBuilder {
 public:
  MessageBuilder(uint64_t request_id, const PublicKey& sender);
  MessageBuilder(MessageBuilder&&) noexcept;
  ~MessageBuilder();

  wire::Envelope::Builder envelope();
  wire::Envelope::Body::Builder body() { return envelope().getBody(); }
  uint64_t request_id() const;
  // The frame bytes; fails only when the message exceeds limits::kMessageBytesMax.
  Result<std::string> Encode() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An Error reply in one call (what servers send back to malformed or refused requests).
// What a SubmitJob's signature covers: a domain tag and the spec's BLAKE2b-256, so a client's
// spec signature is never a signature of a bare 32-byte value that another protocol could use.
inline constexpr std::string_view kSpecSignatureDomain = "plume/job-spec/v1";
std::string SpecSigningBytes(const Hash256& spec_hash);

std::string EncodeError(uint64_t request_id, const PublicKey& sender, wire::ErrorCode code,
                        std::string_view message);

// "submitJob", "heartbeat", ...: the schema's name of a body, for logs and metric labels.
std::string_view KindName(MessageKind kind);

// Hashes travel as Data; these convert with a length check (a malformed hash is an input error).
Result<Hash256> HashFromData(capnp::Data::Reader data);
Result<PublicKey> PublicKeyFromData(capnp::Data::Reader data);
capnp::Data::Reader AsData(std::span<const uint8_t> bytes);

}  // namespace plume
