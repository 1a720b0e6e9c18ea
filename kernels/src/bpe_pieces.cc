// GPT-2's pre-tokenizer (bpe.h step 2) as a hand-written scanner: the pattern's alternatives are
// tried in order at each position, as the regular expression engine would, with the Unicode
// classes from generated tables. No regex library here has \p{L}/\p{N}.
#include <algorithm>
#include <cstdint>

#include "plume/kernels/bpe.h"

namespace plume::kernels {
namespace {

struct CodeRange {
  uint32_t first, last;
};
#include "bpe_unicode_tables.inc"

template <size_t N>
bool InRanges(const CodeRange (&ranges)[N], uint32_t cp) {
  const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                                    [](uint32_t c, const CodeRange& r) { return c < r.first; });
  return it != std::begin(ranges) && cp <= (it - 1)->last;
}

enum class Class : uint8_t { kLetter, kNumber, kSpace, kOther };

struct CodePoint {
  uint32_t cp;       // 0xFFFFFFFF for a byte that is not valid UTF-8 (classed as kOther)
  uint32_t offset;   // in the text, bytes
  uint32_t length;   // bytes
  Class cls;
};

// Decodes UTF-8; a byte that does not start a valid, shortest-form sequence stands for itself.
std::vector<CodePoint> Decode(std::string_view text) {
  std::vector<CodePoint> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = s[i];
    uint32_t cp = 0xFFFFFFFF, len = 1;
    const auto cont = [&](size_t k) { return i + k < text.size() && (s[i + k] & 0xC0) == 0x80; };
    if (b < 0x80) {
      cp = b;
    } else if (b >= 0xC2 && b <= 0xDF && cont(1)) {
      cp = (b & 0x1Fu) << 6 | (s[i + 1] & 0x3Fu), len = 2;
    } else if (b >= 0xE0 && b <= 0xEF && cont(1) && cont(2)) {
      const uint32_t c = (b & 0x0Fu) << 12 | (s[i + 1] & 0x3Fu) << 6 | (s[i + 2] & 0x3Fu);
      if (c >= 0x800 && !(c >= 0xD800 && c <= 0xDFFF)) cp = c, len = 3;
    } else if (b >= 0xF0 && b <= 0xF4 && cont(1) && cont(2) && cont(3)) {
      const uint32_t c = (b & 0x07u) << 18 | (s[i + 1] & 0x3Fu) << 12 | (s[i + 2] & 0x3Fu) << 6 |
                         (s[i + 3] & 0x3Fu);
      if (c >= 0x10000 && c <= 0x10FFFF) cp = c, len = 4;
    }
    Class cls = Class::kOther;
    if (cp != 0xFFFFFFFF) {
      if (InRanges(kLetterRanges, cp)) cls = Class::kLetter;
      else if (InRanges(kNumberRanges, cp)) cls = Class::kNumber;
      else if (InRanges(kSpaceRanges, cp)) cls = Class::kSpace;
    }
    out.push_back({cp, static_cast<uint32_t>(i), len, cls});
    i += len;
  }
  return out;
}

// Length in code points of the piece starting at i.
size_t MatchAt(const std::vector<CodePoint>& c, size_t i) {
  const size_t n = c.size();
  const auto run = [&](size_t from, Class cls) {
    size_t j = from;
    while (j < n && c[j].cls == cls) ++j;
    return j - from;
  };
  // 's|'t|'re|'ve|'m|'ll|'d
  if (c[i].cp == '\'' && i + 1 < n) {
    const uint32_t a = c[i + 1].cp, b = i + 2 < n ? c[i + 2].cp : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one class after an optional U+0020.
  for (Class cls : {Class::kLetter, Class::kNumber, Class::kOther}) {
    if (c[i].cls == cls) return run(i, cls);
    if (c[i].cp == ' ' && i + 1 < n && c[i + 1].cls == cls) return 1 + run(i + 1, cls);
  }
  // `\s+(?!\S)`: the whitespace run, less its last character when a non-space follows (so that
  // character goes with the next word); a lone space before a non-space falls to `\s+`.
  const size_t spaces = run(i, Class::kSpace);
  if (i + spaces == n || spaces < 2) return spaces;
  return spaces - 1;
}

}  // namespace

std::vector<std::string> SplitGpt2Pieces(std::string_view text) {
  const std::vector<CodePoint> c = Decode(text);
  std::vector<std::string> pieces;
  for (size_t i = 0; i < c.size();) {
    const size_t len = MatchAt(c, i);
    const size_t begin = c[i].offset, end = c[i + len - 1].offset + c[i + len - 1].length;
    pieces.emplace_back(text.substr(begin, end - begin));
    i += len;
  }
  return pieces;
}

}  // namespace plume::kernels
