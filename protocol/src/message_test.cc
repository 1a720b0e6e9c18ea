// Framing tests: a message survives encode/decode; random, truncated, bit-flipped and oversized
// frames come back as errors (never a crash or an exception), and the schema walk rejects
// unknown union members and enum values.
#include "plume/protocol/message.h"

#include <random>

#include <cstring>
#include <gtest/gtest.h>

#include "plume/protocol/limits.h"
#include "message_samples.h"
#include "schema_check.h"

#include <capnp/serialize.h>

namespace plume {
namespace {

using testing_samples::SampleFrames;
using testing_samples::SampleTaskAssign;
using testing_samples::TestKey;

TEST(MessageTest, RoundTripKeepsEveryField) {
  auto decoded = Decode(SampleTaskAssign());
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->request_id(), 42u);
  EXPECT_EQ(decoded->sender(), TestKey());
  ASSERT_EQ(decoded->kind(), MessageKind::TASK_ASSIGN);
  EXPECT_EQ(KindName(decoded->kind()), "taskAssign");
  auto task = decoded->body().getTaskAssign();
  EXPECT_EQ(std::string(task.getJobId().cStr()), "job-1");
  EXPECT_EQ(task.getTaskId(), 7u);
  EXPECT_EQ(task.getModel().getNEmbd(), 128u);
  ASSERT_TRUE(task.getParams().isTrain());
  EXPECT_EQ(task.getParams().getTrain().getLocalSteps(), 50u);
  auto shard = HashFromData(task.getParams().getTrain().getDataShard().getHash());
  ASSERT_TRUE(shard);
  EXPECT_EQ(*shard, Blake2b256(std::string_view("shard")));
}

TEST(MessageTest, ErrorHelperEncodesCodeAndText) {
  auto decoded = Decode(EncodeError(9, TestKey(), wire::ErrorCode::NOT_FOUND, "no job x"));
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->kind(), MessageKind::ERROR);
  EXPECT_EQ(decoded->body().getError().getCode(), wire::ErrorCode::NOT_FOUND);
  EXPECT_EQ(std::string(decoded->body().getError().getMessage().cStr()), "no job x");
}

TEST(MessageTest, WrongVersionIsRefused) {
  MessageBuilder b(1, TestKey());
  b.envelope().setVersion(limits::kProtocolVersion + 1);
  b.body().setPing();
  auto decoded = Decode(*b.Encode());
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("version"), std::string::npos);
}

TEST(MessageTest, SenderMustBe32Bytes) {
  MessageBuilder b(1, TestKey());
  b.envelope().initSender(5);
  b.body().setPing();
  EXPECT_FALSE(Decode(*b.Encode()));
}

TEST(MessageTest, OversizedFrameIsRefusedBeforeParsing) {
  std::string big(limits::kMessageBytesMax + 8, '\0');
  auto decoded = Decode(big);
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("too large"), std::string::npos);
}

TEST(MessageTest, EncodeRefusesOversizedMessage) {
  MessageBuilder b(1, TestKey());
  b.body().initBlobChunk().initBytes(limits::kMessageBytesMax);
  EXPECT_FALSE(b.Encode());
}

// An unknown union discriminant (what a newer peer might send) must be an error at Decode, not
// a surprise for the code that switches on kind().
TEST(MessageTest, UnknownBodyIsRefused) {
  std::string b = SampleTaskAssign();
  ASSERT_TRUE(Decode(b));
  // The envelope's data section follows the segment table (8 bytes) and the root pointer (8):
  // version (uint16), then the body's union tag (uint16). Change the tag to one no schema has.
  const uint16_t tag = static_cast<uint16_t>(MessageKind::TASK_ASSIGN);
  bool changed = false;
  for (size_t i = 16; i + 1 < 24 && !changed; i += 2) {
    uint16_t v;
    std::memcpy(&v, b.data() + i, 2);
    if (v == tag) {
      uint16_t bad = 999;
      std::memcpy(b.data() + i, &bad, 2);
      changed = true;
    }
  }
  ASSERT_TRUE(changed);
  auto refused = Decode(b);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("union"), std::string::npos) << refused.error().message;
}

// Thousands of random buffers and every truncation and many bit flips of a valid message: each
// must give a value (ok or error), and any message that does decode must be fully readable.
TEST(MessageTest, RandomTruncatedAndFlippedFramesNeverCrash) {
  std::mt19937_64 rng(12345);
  const std::string good = SampleTaskAssign();
  int errors = 0, decoded_ok = 0;
  auto check = [&](const std::string& frame) {
    auto m = Decode(frame);
    if (!m) {
      EXPECT_FALSE(m.error().message.empty());
      ++errors;
      return;
    }
    ++decoded_ok;
    // The property Decode promises: reading every field of an accepted message never throws.
    try {
      EXPECT_EQ(detail::CheckStructDynamic(capnp::toDynamic(m->envelope())), "");
    } catch (const kj::Exception& e) {
      ADD_FAILURE() << "reading an accepted message threw: " << e.getDescription().cStr();
    }
    (void)KindName(m->kind());
    if (m->kind() == MessageKind::TASK_ASSIGN) {
      auto t = m->body().getTaskAssign();
      (void)t.getJobId().size();
      (void)t.getParams().which();
    }
  };
  for (int i = 0; i < 4000; ++i) {
    size_t words = rng() % 64;
    std::string frame(words * 8 + (i % 5 == 0 ? rng() % 8 : 0), '\0');
    for (auto& c : frame) c = static_cast<char>(rng());
    // Half of them get a plausible segment table so the parser goes deeper.
    if (i % 2 == 0 && frame.size() >= 8) {
      uint32_t seg_count_minus_one = 0, seg_words = static_cast<uint32_t>(words ? words - 1 : 0);
      std::memcpy(frame.data(), &seg_count_minus_one, 4);
      std::memcpy(frame.data() + 4, &seg_words, 4);
    }
    check(frame);
  }
  for (size_t len = 0; len < good.size(); ++len) check(good.substr(0, len));
  for (const std::string& sample : SampleFrames()) {
    for (size_t len = 0; len < sample.size(); len += 8) check(sample.substr(0, len));
  }
  for (int i = 0; i < 4000; ++i) {
    std::string frame = good;
    for (int f = 0; f < 1 + i % 4; ++f) frame[rng() % frame.size()] ^= static_cast<char>(1 << (rng() % 8));
    check(frame);
  }
  EXPECT_GT(errors, 4000);
  EXPECT_GT(decoded_ok, 0);  // some flips land in plain data and still decode
}

// The fast plan check and the dynamic-API walk must agree on every frame: both accept, or both
// refuse (by error text or exception).
TEST(MessageTest, FastCheckAgreesWithDynamicWalk) {
  std::mt19937_64 rng(777);
  auto verdict = [](const std::string& frame, bool fast) -> bool {
    if (frame.empty() || frame.size() % 8 != 0) return false;
    auto words = kj::heapArray<capnp::word>(frame.size() / 8);
    std::memcpy(words.begin(), frame.data(), frame.size());
    try {
      capnp::FlatArrayMessageReader reader(words);
      auto root = reader.getRoot<wire::Envelope>();
      return fast ? detail::CheckEnvelopeFast(capnp::AnyStruct::Reader(root)).empty()
                  : detail::CheckStructDynamic(capnp::toDynamic(root)).empty();
    } catch (const kj::Exception&) {
      return false;
    }
  };
  for (const std::string& good : SampleFrames()) {
    ASSERT_TRUE(verdict(good, true));
    int accepted = 0;
    for (int i = 0; i < 5000; ++i) {
      std::string frame = good;
      for (int f = 0; f < 1 + i % 3; ++f) frame[rng() % frame.size()] ^= static_cast<char>(1 << (rng() % 8));
      bool fast = verdict(frame, true), slow = verdict(frame, false);
      ASSERT_EQ(fast, slow) << "disagreement on mutation " << i;
      accepted += fast;
    }
    EXPECT_GT(accepted, 0);
  }
}

}  // namespace
}  // namespace plume
