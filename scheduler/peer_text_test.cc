// CheckPeerText (src/peer_text.h): what it lets through, what it refuses, and that what it
// lets through is exactly what the store's JSON writer can write (the crash it prevents).
#include "peer_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

namespace plume::scheduler {
namespace {

bool JsonWritable(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

TEST(PeerText, AcceptsUtf8NamesAndMessages) {
  for (const std::string s : {"", "gpu-host-01", "NVIDIA H100 80GB HBM3", "caf\xc3\xa9",
                              "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(CheckPeerText("name", s, 64)) << s;
    EXPECT_TRUE(JsonWritable(s)) << s;
  }
  EXPECT_TRUE(CheckPeerText("reason", "line one\nline\ttwo\r\n", 64, TextShape::kText));
}

// Each of these made nlohmann::json throw type_error 316 on save; each is refused, by name.
TEST(PeerText, RefusesWhatTheJsonWriterCannotWrite) {
  const std::string bad[] = {
      "c\x80u",             // the register of the crash: a lone continuation byte
      "\xc0\x80",           // overlong NUL
      "\xc1\xbf",           // overlong ASCII
      "\xe0\x80\xaf",       // overlong '/'
      "\xed\xa0\x80",       // UTF-16 surrogate
      "\xf4\x90\x80\x80",   // past U+10FFFF
      "\xe2\x82",           // truncated sequence
      "\xf8\x88\x80\x80\x80",  // five-byte form
      "\xff",
  };
  for (const std::string& s : bad) {
    EXPECT_FALSE(JsonWritable(s)) << "the writer accepts it: the premise of the test is wrong";
    auto st = CheckPeerText("gpus[0].name", s, 64);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message, "gpus[0].name is not valid UTF-8 text");
  }
}

TEST(PeerText, RefusesTextOverItsBound) {
  EXPECT_TRUE(CheckPeerText("name", std::string(256, 'a'), 256));
  auto st = CheckPeerText("name", std::string(3u << 20, 'a'), 256);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "name is 3145728 bytes; at most 256 are accepted");
}

TEST(PeerText, NamesRefuseControlCharactersMessagesOnlyMostOfThem) {
  for (const std::string& s : {std::string("a\nb"), std::string("a\x1b[2Jb"), std::string("a\0b", 3),
                              std::string("\x7f")}) {
    EXPECT_FALSE(CheckPeerText("name", s, 64));
  }
  EXPECT_FALSE(CheckPeerText("reason", std::string("a\x1b[2Jb"), 64, TextShape::kText));
  EXPECT_FALSE(CheckPeerText("reason", std::string("a\0b", 3), 64, TextShape::kText));
}

}  // namespace
}  // namespace plume::scheduler
