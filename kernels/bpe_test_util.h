// A GPT-2-style tokenizer file set made up for tests (real GPT-2 files cannot be assumed to be
// on a test machine): `vocab.json` and `merges.txt` in Hugging Face's format, with the 256 byte
// tokens spelled through GPT-2's byte-to-unicode table (ids 0..255 by byte value), then merges
// that grow tokens from lowercase letters and the space one letter at a time ("e", "t", ...,
// " t", "th", ..., " the"), in a fixed order, and "<|endoftext|>" as the last id. With
// vocab_size 50257 it has GPT-2's shape (vocabulary and end-of-text id); its encodings are not
// GPT-2's. Header-only, for the tests of kernels, node-agent and tests/.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace plume::kernels::testing {

// GPT-2's spelling of one byte (bpe.h): printable bytes stand for themselves, the others get
// code points from 256 up, in byte order.
inline std::string SpellByte(unsigned char b) {
  const auto printable = [](uint32_t x) {
    return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
  };
  uint32_t cp = b;
  if (!printable(b)) {
    cp = 256;
    for (uint32_t x = 0; x < b; ++x) cp += !printable(x);
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

inline std::string SpellBytes(const std::string& bytes) {
  std::string s;
  for (unsigned char b : bytes) s += SpellByte(b);
  return s;
}

struct BpeFiles {
  std::string vocab_json;
  std::string merges_txt;
};

// vocab_size >= 257 tokens: 256 bytes, vocab_size - 257 merges, the end-of-text token.
inline BpeFiles SyntheticBpeFiles(int vocab_size) {
  std::vector<std::string> tokens;  // bytes of each id
  for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
  const std::string grow = "etaoinshrdlcumwfgypbvkjxqz ";
  std::unordered_set<std::string> known(tokens.begin(), tokens.end());
  std::vector<std::string> queue;
  for (char c : grow) queue.emplace_back(1, c);
  std::string merges = "#version: 0.2\n";
  for (size_t q = 0; static_cast<int>(tokens.size()) < vocab_size - 1 && q < queue.size(); ++q) {
    for (char c : grow) {
      if (static_cast<int>(tokens.size()) >= vocab_size - 1) break;
      const std::string left = queue[q], merged = left + c;
      if (!known.insert(merged).second) continue;
      tokens.push_back(merged);
      queue.push_back(merged);
      merges += SpellBytes(left) + " " + SpellBytes(std::string(1, c)) + "\n";
    }
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t id = 0; id < tokens.size(); ++id) vocab[SpellBytes(tokens[id])] = id;
  vocab["<|endoftext|>"] = tokens.size();
  return {vocab.dump(), merges};
}

}  // namespace plume::kernels::testing
