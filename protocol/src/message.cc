// Envelope framing: encode with Cap'n Proto's flat array serialisation, decode with explicit
// limits and a full schema walk. This file is the adapter that keeps kj::Exception inside.
#include "plume/protocol/message.h"

#include <algorithm>
#include <cstring>

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include "plume/protocol/limits.h"
#include "schema_check.h"

namespace plume {
namespace {

capnp::ReaderOptions ReaderLimits() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits::kTraversalWordsMax;
  options.nestingLimit = limits::kNestingDepthMax;
  return options;
}

Result<std::unique_ptr<capnp::FlatArrayMessageReader>> OpenReader(kj::ArrayPtr<const capnp::word> words) {
  try {
    auto reader = std::make_unique<capnp::FlatArrayMessageReader>(words, ReaderLimits());
    if (reader->getEnd() != words.end()) {
      return Fail("bad message: " + std::to_string((words.end() - reader->getEnd()) * 8) +
                  " trailing bytes after the Cap'n Proto message");
    }
    return reader;
  } catch (const kj::Exception& e) {
    return Fail(std::string("bad message: ") + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return Fail(std::string("bad message: ") + e.what());
  }
}

}  // namespace

struct Message::Impl {
  kj::Array<capnp::word> words;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader;
  wire::Envelope::Reader root;
};

Message::Message(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::~Message() = default;

wire::Envelope::Reader Message::envelope() const { return impl_->root; }

PublicKey Message::sender() const {
  PublicKey pk{};
  auto data = impl_->root.getSender();
  if (data.size() == pk.size()) std::copy(data.begin(), data.end(), pk.begin());
  return pk;
}

size_t Message::size_bytes() const { return impl_->words.size() * sizeof(capnp::word); }

Result<Message> Decode(std::span<const uint8_t> bytes) {
  if (bytes.size() > limits::kMessageBytesMax) {
    return Fail("message too large: " + std::to_string(bytes.size()) + " bytes, limit " +
                std::to_string(limits::kMessageBytesMax));
  }
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return Fail("bad message: " + std::to_string(bytes.size()) +
                " bytes is not a whole number of 8-byte words");
  }
  auto impl = std::make_unique<Message::Impl>();
  // ZeroMQ frames carry no alignment promise; Cap'n Proto wants 8-byte aligned words.
  impl->words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(impl->words.begin(), bytes.data(), bytes.size());

  // Pass 1: validate with one reader (this spends its traversal budget).
  {
    auto check = OpenReader(impl->words.asPtr());
    if (!check) return tl::unexpected(check.error());
    try {
      auto root = (*check)->getRoot<wire::Envelope>();
      if (root.getVersion() != limits::kProtocolVersion) {
        return Fail("unsupported protocol version " + std::to_string(root.getVersion()) +
                    " (this build speaks " + std::to_string(limits::kProtocolVersion) +
                    "); upgrade the older side");
      }
      // Every field checked against the schema now, so reading the message later cannot throw.
      if (auto e = detail::CheckEnvelopeFast(capnp::AnyStruct::Reader(root)); !e.empty()) {
        return Fail("bad message: " + e);
      }
      if (root.getSender().size() != 32) {
        return Fail("bad message: sender must be a 32-byte ed25519 public key, got " +
                    std::to_string(root.getSender().size()) + " bytes");
      }
    } catch (const kj::Exception& e) {
      return Fail(std::string("bad message: ") + e.getDescription().cStr());
    } catch (const std::exception& e) {
      return Fail(std::string("bad message: ") + e.what());
    }
  }
  // Pass 2: a fresh reader with a full traversal budget for the caller.
  auto reader = OpenReader(impl->words.asPtr());
  if (!reader) return tl::unexpected(reader.error());
  impl->reader = std::move(*reader);
  try {
    impl->root = impl->reader->getRoot<wire::Envelope>();
  } catch (const kj::Exception& e) {
    return Fail(std::string("bad message: ") + e.getDescription().cStr());
  }
  return Message(std::move(impl));
}

Result<Message> Decode(std::string_view bytes) {
  return Decode(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

struct MessageBuilder::Impl {
  capnp::MallocMessageBuilder builder;
  uint64_t request_id = 0;
};

MessageBuilder::MessageBuilder(uint64_t request_id, const PublicKey& sender)
    : impl_(std::make_unique<Impl>()) {
  auto env = impl_->builder.initRoot<wire::Envelope>();
  env.setVersion(limits::kProtocolVersion);
  env.setRequestId(request_id);
  impl_->request_id = request_id;
  env.setSender(AsData(sender));
}

MessageBuilder::MessageBuilder(MessageBuilder&&) noexcept = default;
MessageBuilder::~MessageBuilder() = default;

wire::Envelope::Builder MessageBuilder::envelope() {
  return impl_->builder.getRoot<wire::Envelope>();
}

uint64_t MessageBuilder::request_id() const { return impl_->request_id; }

Result<std::string> MessageBuilder::Encode() const {
  try {
    auto words = capnp::messageToFlatArray(impl_->builder);
    auto bytes = words.asBytes();
    if (bytes.size() > limits::kMessageBytesMax) {
      return Fail("message too large to send: " + std::to_string(bytes.size()) +
                  " bytes, limit " + std::to_string(limits::kMessageBytesMax) +
                  " (split the data into blobs or smaller requests)");
    }
    return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  } catch (const kj::Exception& e) {
    return Fail(std::string("cannot encode message: ") + e.getDescription().cStr());
  }
}

std::string SpecSigningBytes(const Hash256& spec_hash) {
  std::string out(kSpecSignatureDomain);
  out.push_back('\0');
  out.append(reinterpret_cast<const char*>(spec_hash.data()), spec_hash.size());
  return out;
}

std::string EncodeError(uint64_t request_id, const PublicKey& sender, wire::ErrorCode code,
                        std::string_view message) {
  MessageBuilder b(request_id, sender);
  auto err = b.body().initError();
  err.setCode(code);
  // An error text is for people; cutting a huge one keeps the reply small and always encodable.
  err.setMessage(std::string(message.substr(0, 4096)));
  auto bytes = b.Encode();
  return bytes ? std::move(*bytes) : std::string();
}

std::string_view KindName(MessageKind kind) {
  auto fields = capnp::Schema::from<wire::Envelope::Body>().getUnionFields();
  for (auto field : fields) {
    if (field.getProto().getDiscriminantValue() == static_cast<uint16_t>(kind)) {
      auto name = field.getProto().getName();
      return std::string_view(name.cStr(), name.size());
    }
  }
  return "unknown";
}

Result<Hash256> HashFromData(capnp::Data::Reader data) {
  Hash256 h{};
  if (data.size() != h.size()) {
    return Fail("a hash is 32 bytes, got " + std::to_string(data.size()));
  }
  std::copy(data.begin(), data.end(), h.begin());
  return h;
}

Result<PublicKey> PublicKeyFromData(capnp::Data::Reader data) {
  PublicKey pk{};
  if (data.size() != pk.size()) {
    return Fail("a public key is 32 bytes, got " + std::to_string(data.size()));
  }
  std::copy(data.begin(), data.end(), pk.begin());
  return pk;
}

capnp::Data::Reader AsData(std::span<const uint8_t> bytes) {
  return capnp::Data::Reader(bytes.data(), bytes.size());
}

}  // namespace plume
