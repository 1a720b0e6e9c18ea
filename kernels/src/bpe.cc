// GPT-2 byte-level BPE (bpe.h): loading the Hugging Face files, encoding and decoding. Tokens
// are kept as the raw bytes they stand for (the files spell them through GPT-2's byte-to-unicode
// table), so merging works on byte strings and decoding is a concatenation.
#include "plume/kernels/bpe.h"

#include <algorithm>
#include <array>
#include <limits>
#include <queue>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace plume::kernels {
namespace {

using json = nlohmann::json;

// GPT-2's table: printable bytes stand for themselves, the others get code points from 256 up.
std::array<uint32_t, 256> ByteToCodePoint() {
  std::array<uint32_t, 256> table{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? b : next++;
  }
  return table;
}

// A token as spelled in the files (UTF-8 of mapped code points) -> the bytes it stands for;
// nullopt when a code point is outside the table (not a byte-level BPE token).
std::optional<std::string> SpelledToBytes(std::string_view spelled) {
  static const auto inverse = [] {
    std::unordered_map<uint32_t, char> m;
    const auto table = ByteToCodePoint();
    for (uint32_t b = 0; b < 256; ++b) m[table[b]] = static_cast<char>(b);
    return m;
  }();
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(spelled.data());
  for (size_t i = 0; i < spelled.size();) {
    uint32_t cp = 0;
    size_t len = 1;
    if (s[i] < 0x80) {
      cp = s[i];
    } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < spelled.size()) {
      cp = (s[i] & 0x1Fu) << 6 | (s[i + 1] & 0x3Fu), len = 2;
    } else {
      return std::nullopt;  // the table's code points are all below 0x800
    }
    auto it = inverse.find(cp);
    if (it == inverse.end()) return std::nullopt;
    out.push_back(it->second);
    i += len;
  }
  return out;
}

std::string PairKey(std::string_view left, std::string_view right) {
  std::string key(4, '\0');
  const uint32_t n = static_cast<uint32_t>(left.size());
  for (int k = 0; k < 4; ++k) key[k] = static_cast<char>(n >> (8 * k));
  key.append(left);
  key.append(right);
  return key;
}

class BpeTokenizer final : public Tokenizer {
 public:
  std::string_view name() const override { return "gpt2-bpe"; }
  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_bytes_.size()); }
  std::optional<int32_t> end_of_text() const override { return end_of_text_; }
  size_t token_bytes_max() const override { return token_bytes_max_; }

  std::vector<int32_t> Encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    while (!text.empty()) {
      // The earliest special token, longest first at one position.
      size_t at = std::string_view::npos;
      const std::pair<std::string, int32_t>* hit = nullptr;
      for (const auto& sp : specials_) {
        const size_t p = text.find(sp.first);
        if (p != std::string_view::npos && (p < at || (p == at && sp.first.size() > hit->first.size()))) {
          at = p, hit = &sp;
        }
      }
      const std::string_view plain = text.substr(0, at);
      for (const std::string& piece : SplitGpt2Pieces(plain)) EncodePiece(piece, ids);
      if (hit == nullptr) break;
      ids.push_back(hit->second);
      text.remove_prefix(at + hit->first.size());
    }
    return ids;
  }

  Result<std::string> Decode(std::span<const int32_t> tokens) const override {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= vocab_size() || !known_[tokens[i]]) {
        return Fail("token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                    " is not in the tokenizer's vocabulary of " + std::to_string(vocab_size()));
      }
      out += id_to_bytes_[tokens[i]];
    }
    return out;
  }

  // Builds from (spelled token, id) pairs and spelled merges; `special` lists added tokens
  // matched verbatim in text.
  static Result<std::unique_ptr<Tokenizer>> Build(
      const std::vector<std::pair<std::string, int64_t>>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges,
      const std::vector<std::pair<std::string, int64_t>>& special) {
    if (vocab.empty() || vocab.size() > kBpeVocabMax) {
      return Fail("tokenizer: the vocabulary must hold 1.." + std::to_string(kBpeVocabMax) + " tokens");
    }
    auto t = std::make_unique<BpeTokenizer>();
    int64_t max_id = -1;
    for (const auto& [tok, id] : vocab) max_id = std::max(max_id, id);
    for (const auto& [tok, id] : special) max_id = std::max(max_id, id);
    if (max_id >= static_cast<int64_t>(kBpeVocabMax)) return Fail("tokenizer: token id too large");
    t->id_to_bytes_.assign(static_cast<size_t>(max_id + 1), {});
    t->known_.assign(static_cast<size_t>(max_id + 1), false);
    const auto add = [&](const std::string& bytes, int64_t id) -> Status {
      if (id < 0) return Fail("tokenizer: negative token id");
      if (t->known_[id] && t->id_to_bytes_[id] != bytes) {
        return Fail("tokenizer: id " + std::to_string(id) + " is given to two tokens");
      }
      t->known_[id] = true;
      t->id_to_bytes_[id] = bytes;
      return {};
    };
    for (const auto& [spelled, id] : special) {
      if (spelled.empty()) return Fail("tokenizer: an empty special token");
      if (auto st = add(spelled, id); !st) return tl::unexpected(st.error());
      t->specials_.emplace_back(spelled, static_cast<int32_t>(id));
      if (spelled == "<|endoftext|>") t->end_of_text_ = static_cast<int32_t>(id);
    }
    for (const auto& [spelled, id] : vocab) {
      if (spelled == "<|endoftext|>") {  // vocab.json lists it among the others
        if (auto st = add(spelled, id); !st) return tl::unexpected(st.error());
        if (!t->end_of_text_) t->specials_.emplace_back(spelled, static_cast<int32_t>(id));
        t->end_of_text_ = static_cast<int32_t>(id);
        continue;
      }
      if (std::any_of(special.begin(), special.end(), [&](auto& s) { return s.first == spelled; })) {
        continue;
      }
      auto bytes = SpelledToBytes(spelled);
      if (!bytes || bytes->empty()) return Fail("tokenizer: '" + spelled.substr(0, 40) + "' is not a byte-level token");
      if (auto st = add(*bytes, id); !st) return tl::unexpected(st.error());
      if (!t->bytes_to_id_.emplace(*bytes, static_cast<int32_t>(id)).second) {
        return Fail("tokenizer: token '" + spelled.substr(0, 40) + "' is listed twice");
      }
    }
    for (int b = 0; b < 256; ++b) {
      if (!t->bytes_to_id_.contains(std::string(1, static_cast<char>(b)))) {
        return Fail("tokenizer: the vocabulary has no token for byte " + std::to_string(b));
      }
    }
    // Every id in [0, vocab) names a token: a model samples any id below its vocabulary, and one
    // the tokenizer could not decode would fail the task halfway.
    for (size_t id = 0; id < t->known_.size(); ++id) {
      if (!t->known_[id]) {
        return Fail("tokenizer: id " + std::to_string(id) + " names no token (ids must run 0.." +
                    std::to_string(t->known_.size() - 1) + " without gaps)");
      }
      t->token_bytes_max_ = std::max(t->token_bytes_max_, t->id_to_bytes_[id].size());
    }
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      auto l = SpelledToBytes(merges[rank].first), r = SpelledToBytes(merges[rank].second);
      if (!l || !r || !t->bytes_to_id_.contains(*l) || !t->bytes_to_id_.contains(*r) ||
          !t->bytes_to_id_.contains(*l + *r)) {
        return Fail("tokenizer: merge " + std::to_string(rank + 1) + " ('" +
                    merges[rank].first.substr(0, 40) + " " + merges[rank].second.substr(0, 40) +
                    "') names a token the vocabulary lacks");
      }
      t->ranks_.emplace(PairKey(*l, *r), static_cast<uint32_t>(rank));  // first listing wins
    }
    return std::unique_ptr<Tokenizer>(std::move(t));
  }

 private:
  // Merges the lowest-ranked adjacent pair, leftmost first, until no pair has a rank: GPT-2's
  // rule (merge the best pair everywhere, then look again) for merge lists in which a merge's
  // parts come from earlier merges, as trained lists do. A heap of candidate pairs makes a piece
  // of n bytes cost O(n log n): the pass-per-rank form costs a pass for every distinct merge
  // used, which for 100 kB of random letters under GPT-2's merges took 17 s (a prompt of that
  // size would stall the scheduler, which counts prompt tokens).
  void EncodePiece(std::string_view piece, std::vector<int32_t>& ids) const {
    const auto n = static_cast<int32_t>(piece.size());
    // Symbol i starts at byte i; len 0 once merged into the symbol on its left.
    struct Symbol {
      int32_t len, prev, next;
    };
    std::vector<Symbol> sym(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) sym[i] = {1, i - 1, i + 1 < n ? i + 1 : -1};
    // A candidate: merge the symbol at `left` (of left_len bytes) with its right neighbour (of
    // right_len bytes); stale once either has changed length.
    struct Candidate {
      uint32_t rank;
      int32_t left, left_len, right_len;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : left > o.left;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    std::string key;
    const auto consider = [&](int32_t left) {
      const int32_t right = sym[left].next;
      if (right < 0) return;
      const std::string_view l = piece.substr(left, sym[left].len);
      const std::string_view r = piece.substr(right, sym[right].len);
      key.assign(4, '\0');
      const auto ln = static_cast<uint32_t>(l.size());
      for (int k = 0; k < 4; ++k) key[k] = static_cast<char>(ln >> (8 * k));
      key.append(l);
      key.append(r);
      if (auto it = ranks_.find(key); it != ranks_.end()) {
        heap.push({it->second, left, sym[left].len, sym[right].len});
      }
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      Symbol& left = sym[c.left];
      if (left.len != c.left_len || left.next < 0 || sym[left.next].len != c.right_len) continue;
      const int32_t right = left.next;
      left.len += sym[right].len;
      left.next = sym[right].next;
      if (left.next >= 0) sym[left.next].prev = c.left;
      sym[right].len = 0;
      if (left.prev >= 0) consider(left.prev);
      consider(c.left);
    }
    for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next) {
      ids.push_back(bytes_to_id_.at(std::string(piece.substr(i, sym[i].len))));  // Build checked
    }
  }

  std::vector<std::string> id_to_bytes_;
  std::vector<bool> known_;
  std::unordered_map<std::string, int32_t> bytes_to_id_;
  std::unordered_map<std::string, uint32_t> ranks_;
  std::vector<std::pair<std::string, int32_t>> specials_;
  std::optional<int32_t> end_of_text_;
  size_t token_bytes_max_ = 1;
};

Result<std::vector<std::pair<std::string, int64_t>>> VocabOf(const json& v) {
  if (!v.is_object()) return Fail("tokenizer: the vocabulary is not a JSON object");
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [tok, id] : v.items()) {
    if (!id.is_number_integer()) return Fail("tokenizer: the id of '" + tok.substr(0, 40) + "' is not an integer");
    out.emplace_back(tok, id.get<int64_t>());
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadBpeTokenizer(std::string_view vocab_json,
                                                    std::string_view merges_txt) {
  if (vocab_json.size() > kBpeFileBytesMax || merges_txt.size() > kBpeFileBytesMax) {
    return Fail("tokenizer: a file is over " + std::to_string(kBpeFileBytesMax) + " bytes");
  }
  const json v = json::parse(vocab_json, nullptr, false);
  if (v.is_discarded()) return Fail("tokenizer: vocab.json is not valid JSON");
  auto vocab = VocabOf(v);
  if (!vocab) return tl::unexpected(vocab.error());
  std::vector<std::pair<std::string, std::string>> merges;
  size_t line_no = 0;
  while (!merges_txt.empty()) {
    const size_t eol = merges_txt.find('\n');
    std::string_view line = merges_txt.substr(0, eol);
    merges_txt.remove_prefix(eol == std::string_view::npos ? merges_txt.size() : eol + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos) {
      return Fail("tokenizer: merges.txt line " + std::to_string(line_no) + " is not 'left right'");
    }
    merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  return BpeTokenizer::Build(*vocab, merges, {});
}

Result<std::unique_ptr<Tokenizer>> LoadBpeTokenizerJson(std::string_view tokenizer_json) {
  if (tokenizer_json.size() > kBpeFileBytesMax) {
    return Fail("tokenizer: tokenizer.json is over " + std::to_string(kBpeFileBytesMax) + " bytes");
  }
  const json j = json::parse(tokenizer_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Fail("tokenizer: tokenizer.json is not a JSON object");
  const json* model = j.contains("model") ? &j["model"] : nullptr;
  if (model == nullptr || !model->is_object() || model->value("type", "") != "BPE") {
    return Fail("tokenizer: tokenizer.json has no BPE model (model.type must be \"BPE\")");
  }
  auto vocab = VocabOf(model->value("vocab", json()));
  if (!vocab) return tl::unexpected(vocab.error());
  std::vector<std::pair<std::string, std::string>> merges;
  for (const json& m : model->value("merges", json::array())) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size()) {
        return Fail("tokenizer: merge '" + s.substr(0, 40) + "' is not 'left right'");
      }
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Fail("tokenizer: a merge is neither 'left right' nor [left, right]");
    }
  }
  std::vector<std::pair<std::string, int64_t>> special;
  for (const json& a : j.value("added_tokens", json::array())) {
    if (!a.is_object() || !a.contains("content") || !a["content"].is_string() ||
        !a.contains("id") || !a["id"].is_number_integer()) {
      return Fail("tokenizer: an added token lacks content or id");
    }
    special.emplace_back(a["content"].get<std::string>(), a["id"].get<int64_t>());
  }
  return BpeTokenizer::Build(*vocab, merges, special);
}

}  // namespace plume::kernels
