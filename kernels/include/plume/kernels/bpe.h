// GPT-2's byte-level BPE tokenizer, loaded from the Hugging Face files a GPT-2 checkpoint comes
// with: `vocab.json` plus `merges.txt`, or a single `tokenizer.json`.
//
// Encoding, as GPT-2 does it:
//  1. "<|endoftext|>" in the text is the end-of-text token (id 50256 in GPT-2's vocabulary),
//     as Hugging Face's added special tokens and tiktoken's allowed special tokens treat it;
//  2. the rest is split into pieces by GPT-2's pattern
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     with \p{L}, \p{N} and \s as JavaScript's regular expressions define them (tables generated
//     by scripts/gen-unicode-tables.js). Python's GPT-2 differs on a handful of code points
//     (U+0085, U+001C..U+001F count as space there, U+FEFF does not);
//  3. each piece's UTF-8 bytes become printable code points (GPT-2's byte-to-unicode table) and
//     are merged pairwise, lowest merge rank first, until no listed pair is left.
// Decoding maps ids back to bytes; any byte string round-trips (Decode(Encode(s)) == s).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "plume/kernels/error.h"
#include "plume/kernels/tokenizer.h"

namespace plume::kernels {

// Bounds on what a tokenizer file may hold (the files travel as blobs a submitter chooses).
inline constexpr size_t kBpeVocabMax = 1 << 20;
inline constexpr size_t kBpeFileBytesMax = 64u << 20;

// `vocab_json`: {"token": id, ...}; `merges_txt`: an optional "#version" line, then one merge
// ("left right") per line, by rank. Fails on malformed files, duplicate ids, ids outside
// [0, vocab size), merges naming unknown tokens, or a vocabulary missing a byte's token.
Result<std::unique_ptr<Tokenizer>> LoadBpeTokenizer(std::string_view vocab_json,
                                                    std::string_view merges_txt);
// A Hugging Face `tokenizer.json` of a byte-level BPE model (model.type "BPE"; merges as
// "left right" strings or [left, right] pairs); its added tokens join the vocabulary.
Result<std::unique_ptr<Tokenizer>> LoadBpeTokenizerJson(std::string_view tokenizer_json);

// The pre-tokenizer alone (step 2 above), for tests: the pieces, in order, covering `text`.
std::vector<std::string> SplitGpt2Pieces(std::string_view text);

}  // namespace plume::kernels
