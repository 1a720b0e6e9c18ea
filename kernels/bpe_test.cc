// The GPT-2 BPE tokenizer: the pre-tokenizer on hand-checked cases, a small hand-made model,
// refusals of malformed files, and agreement with an independent implementation (js-tiktoken)
// on 10,000+ strings when tests/tokenizer has made the reference (ctest: tokenizer.agreement).
#include "plume/kernels/bpe.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "bpe_test_util.h"
#include <nlohmann/json.hpp>

namespace plume::kernels {
namespace {

using Pieces = std::vector<std::string>;

TEST(Gpt2PiecesTest, SplitsAsThePatternDoes) {
  EXPECT_EQ(SplitGpt2Pieces("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(SplitGpt2Pieces("it's they'll I'M"), (Pieces{"it", "'s", " they", "'ll", " I", "'", "M"}));
  // A whitespace run gives its last space to the next word; at the end it stays whole.
  EXPECT_EQ(SplitGpt2Pieces("a   b  "), (Pieces{"a", "  ", " b", "  "}));
  EXPECT_EQ(SplitGpt2Pieces("a\n\nb"), (Pieces{"a", "\n", "\n", "b"}));
  EXPECT_EQ(SplitGpt2Pieces("x 123 4.5?!"), (Pieces{"x", " 123", " 4", ".", "5", "?!"}));
  EXPECT_EQ(SplitGpt2Pieces("naïve Ωμέγα 東京"), (Pieces{"naïve", " Ωμέγα", " 東京"}));
  // Emoji are neither letters nor numbers; an invalid byte is "other" and is kept.
  EXPECT_EQ(SplitGpt2Pieces("hi 🙂🙂"), (Pieces{"hi", " 🙂🙂"}));
  EXPECT_EQ(SplitGpt2Pieces(std::string("a\xff") + "b"), (Pieces{"a", "\xff", "b"}));
  EXPECT_TRUE(SplitGpt2Pieces("").empty());
}

// A model with the 256 byte tokens (spelled through GPT-2's table), two merges and an
// end-of-text token, in both file formats.
struct TinyModel {
  std::string vocab_json, merges_txt;
};
std::string Spell(unsigned char b) {
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  uint32_t cp = b;
  if (!printable) {
    uint32_t next = 256;
    for (uint32_t x = 0; x < b; ++x) {
      const bool p = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
      next += !p;
    }
    cp = next;
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}
TinyModel MakeTiny() {
  nlohmann::json v = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) v[Spell(static_cast<unsigned char>(b))] = b;
  const std::string sp = Spell(' ');
  v[sp + "t"] = 256;
  v[sp + "th"] = 257;
  v["<|endoftext|>"] = 258;
  return {v.dump(), "#version: 0.2\n" + sp + " t\n" + sp + "t h\n"};
}

TEST(BpeTokenizerTest, MergesByRankAndRoundTripsAnyBytes) {
  const TinyModel m = MakeTiny();
  auto t = LoadBpeTokenizer(m.vocab_json, m.merges_txt);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)->vocab_size(), 259);
  EXPECT_EQ((*t)->end_of_text(), 258);
  EXPECT_EQ((*t)->Encode(" the"), (std::vector<int32_t>{257, 'e'}));
  EXPECT_EQ((*t)->Encode("a<|endoftext|> t"), (std::vector<int32_t>{'a', 258, 256}));
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    auto back = (*t)->Decode((*t)->Encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE((*t)->Decode(std::vector<int32_t>{259}));
  EXPECT_FALSE((*t)->Decode(std::vector<int32_t>{-1}));
}

TEST(BpeTokenizerTest, MalformedFilesAreRefusedWithAReason) {
  const TinyModel m = MakeTiny();
  ASSERT_TRUE(LoadBpeTokenizer(m.vocab_json, m.merges_txt));
  const auto refused = [](std::string_view v, std::string_view merges, std::string_view why) {
    auto t = LoadBpeTokenizer(v, merges);
    ASSERT_FALSE(t) << "accepted: " << why;
    EXPECT_NE(t.error().message.find(why), std::string::npos) << t.error().message;
  };
  refused("{not json", m.merges_txt, "not valid JSON");
  refused(m.vocab_json, m.merges_txt + "zz qq\n", "names a token");
  refused(m.vocab_json, m.merges_txt + "onlyone\n", "is not 'left right'");
  nlohmann::json v = nlohmann::json::parse(m.vocab_json);
  v.erase(Spell('q'));
  refused(v.dump(), "", "no token for byte");
  v = nlohmann::json::parse(m.vocab_json);
  v[Spell(' ') + "t"] = 'e';  // the id of another token
  refused(v.dump(), "", "given to two tokens");
  v = nlohmann::json::parse(m.vocab_json);
  v["\xe2\x82\xac"] = 300;  // U+20AC is not in GPT-2's byte table
  refused(v.dump(), "", "not a byte-level token");
  auto json_model = LoadBpeTokenizerJson(R"({"model": {"type": "WordPiece"}})");
  ASSERT_FALSE(json_model);
  EXPECT_NE(json_model.error().message.find("BPE"), std::string::npos);
}

// The made-up file set other tests use (bpe_test_util.h) loads, has GPT-2's shape at 50257
// tokens, merges common text and round-trips.
TEST(BpeTokenizerTest, TheSyntheticFileSetHasGpt2sShape) {
  const auto files = testing::SyntheticBpeFiles(50257);
  auto t = LoadBpeTokenizer(files.vocab_json, files.merges_txt);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)->vocab_size(), 50257);
  EXPECT_EQ((*t)->end_of_text(), 50256);
  const std::string text = "the rain in spain stays mainly in the plain<|endoftext|>";
  const auto ids = (*t)->Encode(text);
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(ids.back(), 50256);
  EXPECT_EQ(*(*t)->Decode(ids), text);
  EXPECT_GT((*t)->token_bytes_max(), 4u);
}

// Agreement with js-tiktoken's GPT-2 encoding. The ctest entry tokenizer.agreement makes the
// reference (npm, pinned) and sets PLUME_BPE_REFERENCE_DIR; run alone, this test skips.
TEST(BpeReferenceTest, AgreesWithAnIndependentGpt2Tokenizer) {
  const char* dir_env = std::getenv("PLUME_BPE_REFERENCE_DIR");
  if (dir_env == nullptr) GTEST_SKIP() << "PLUME_BPE_REFERENCE_DIR not set (ctest -R tokenizer)";
  const std::filesystem::path dir(dir_env);
  const auto read = [&](const char* name) {
    std::ifstream in(dir / name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto files = LoadBpeTokenizer(read("vocab.json"), read("merges.txt"));
  ASSERT_TRUE(files) << files.error().message;
  auto single = LoadBpeTokenizerJson(read("tokenizer.json"));
  ASSERT_TRUE(single) << single.error().message;
  EXPECT_EQ((*files)->vocab_size(), 50257);
  EXPECT_EQ((*files)->end_of_text(), 50256);
  std::ifstream lines(dir / "reference.jsonl");
  std::string line;
  size_t checked = 0, with_eot = 0, disagreements = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    const std::string text = j["text"];
    const std::vector<int32_t> want = j["ids"];
    const std::vector<int32_t> got = (*files)->Encode(text);
    if (got != want && ++disagreements <= 5) {
      ADD_FAILURE() << "disagreement on " << nlohmann::json(text).dump() << ": got "
                    << nlohmann::json(got).dump() << " want " << nlohmann::json(want).dump();
    }
    EXPECT_EQ((*single)->Encode(text), got);
    auto back = (*files)->Decode(want);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, text);
    with_eot += std::count(want.begin(), want.end(), 50256) > 0;
    ++checked;
  }
  EXPECT_EQ(disagreements, 0u);
  EXPECT_GE(checked, 10000u);
  EXPECT_GT(with_eot, 0u);
}

}  // namespace
}  // namespace plume::kernels
