// Checkpoint tests: bit-identical round trips (bytes and file), the Hugging Face layout
// (Conv1D transpose, no metadata, "transformer." prefix, mask buffers, BF16/F16), and every kind
// of malformed file, each rejected with an error naming the tensor or field.
#include "plume/kernels/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "plume/kernels/param_layout.h"
#include "plume/kernels/rng.h"

namespace plume::kernels {
namespace {

using nlohmann::json;

const ModelConfig kConfig{2, 2, 8, 16, 200};  // padded vocab 256: 56 padding rows

std::vector<float> RandomParams(const ModelConfig& c) {
  SplitMix64 rng(17);
  std::vector<float> p(static_cast<size_t>(c.NumParams()));
  for (auto& x : p) x = static_cast<float>(rng.Normal());
  std::fill(p.begin() + int64_t{c.vocab} * c.n_embd, p.begin() + int64_t{c.padded_vocab()} * c.n_embd, 0.0f);
  return p;
}

// A safetensors file taken apart so that tests can corrupt the header and re-assemble it.
struct Parts {
  json header;
  std::vector<uint8_t> data;
};

Parts Split(const std::vector<uint8_t>& bytes) {
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  return {json::parse(bytes.begin() + 8, bytes.begin() + 8 + n),
          std::vector<uint8_t>(bytes.begin() + 8 + n, bytes.end())};
}

std::vector<uint8_t> Join(const std::string& header_text, const std::vector<uint8_t>& data) {
  const uint64_t n = header_text.size();
  std::vector<uint8_t> out(8 + n + data.size());
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header_text.data(), n);
  if (!data.empty()) std::memcpy(out.data() + 8 + n, data.data(), data.size());
  return out;
}
std::vector<uint8_t> Join(const Parts& p) { return Join(p.header.dump(), p.data); }

std::vector<uint8_t> Saved() { return *SaveCheckpointBytes(kConfig, RandomParams(kConfig)); }

void ExpectRejected(const std::vector<uint8_t>& bytes, const std::string& needle,
                    const LoadOptions& options = {}) {
  const auto r = LoadCheckpointBytes(bytes, options);
  ASSERT_FALSE(r) << "accepted a file that should fail with '" << needle << "'";
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

TEST(CheckpointTest, RoundTripIsBitIdentical) {
  const auto params = RandomParams(kConfig);
  const auto bytes = SaveCheckpointBytes(kConfig, params);
  ASSERT_TRUE(bytes) << bytes.error().message;
  const auto loaded = LoadCheckpointBytes(*bytes);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->config, kConfig);
  ASSERT_EQ(loaded->params.size(), params.size());
  EXPECT_EQ(0, std::memcmp(loaded->params.data(), params.data(), params.size() * 4));
}

// A model whose Conv1D weights span several encoder pieces (c_attn is 512 x 1536 floats, three
// pieces): the streamed pieces are bounded, join to SaveCheckpointBytes' bytes, and load back
// bit for bit through the loader's own transpose.
TEST(CheckpointTest, WriteCheckpointStreamsBoundedPiecesOfTheSameBytes) {
  const ModelConfig big{1, 8, 512, 8, 64};
  const auto params = RandomParams(big);
  std::vector<uint8_t> joined;
  size_t pieces = 0, largest_data_piece = 0;
  auto st = WriteCheckpoint(big, params, [&](std::span<const uint8_t> piece) -> Status {
    if (pieces++ > 0) largest_data_piece = std::max(largest_data_piece, piece.size());
    joined.insert(joined.end(), piece.begin(), piece.end());
    return {};
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_GT(pieces, 3u * big.n_layer + 16);  // the large tensors came in several pieces
  EXPECT_LE(largest_data_piece, static_cast<size_t>(kCheckpointPieceFloats) * sizeof(float));
  EXPECT_EQ(joined, *SaveCheckpointBytes(big, params));
  const auto loaded = LoadCheckpointBytes(joined);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(0, std::memcmp(loaded->params.data(), params.data(), params.size() * 4));

  // A sink that fails stops the writer, which returns the sink's error.
  size_t calls = 0;
  st = WriteCheckpoint(big, params, [&](std::span<const uint8_t>) -> Status {
    return ++calls == 2 ? Fail("disk full") : Status{};
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "disk full");
  EXPECT_EQ(calls, 2u);
}

TEST(CheckpointTest, FileRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / ("plume_ckpt_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();
  const auto params = RandomParams(kConfig);
  ASSERT_TRUE(SaveCheckpoint(path, kConfig, params));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto loaded = LoadCheckpoint(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(0, std::memcmp(loaded->params.data(), params.data(), params.size() * 4));
  const auto missing = LoadCheckpoint((dir / "nope.safetensors").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope.safetensors"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(CheckpointTest, UsesHuggingFaceNamesShapesAndConv1DLayout) {
  const auto params = RandomParams(kConfig);
  const Parts p = Split(*SaveCheckpointBytes(kConfig, params));
  const int64_t C = kConfig.n_embd;
  EXPECT_EQ(p.header["wte.weight"]["shape"], json({200, C}));  // padding dropped
  EXPECT_EQ(p.header["h.1.attn.c_attn.weight"]["shape"], json({C, 3 * C}));
  EXPECT_EQ(p.header["h.1.mlp.c_proj.weight"]["shape"], json({4 * C, C}));
  EXPECT_EQ(p.header["__metadata__"]["plume.n_head"], "2");
  EXPECT_EQ(p.header.size(), 1u + 2 + 12 * 2 + 2);
  // HF c_attn.weight[i][j] is our qkvw[j][i] (Conv1D computes x @ W).
  const auto layout = ParamTensors(kConfig);
  const auto& qkvw = layout[static_cast<int>(ParamKind::kQkvw)];
  const uint64_t begin = p.header["h.1.attn.c_attn.weight"]["data_offsets"][0];
  float hf_1_2;  // row 1, column 2
  std::memcpy(&hf_1_2, p.data.data() + begin + (1 * 3 * C + 2) * 4, 4);
  EXPECT_EQ(hf_1_2, params[qkvw.offset + qkvw.per_layer_size + 2 * C + 1]);
}

TEST(CheckpointTest, LoadsHuggingFaceStyleFileWithoutMetadata) {
  const auto params = RandomParams(kConfig);
  Parts p = Split(*SaveCheckpointBytes(kConfig, params));
  p.header.erase("__metadata__");
  // Rename with the "transformer." prefix some exports use, and add the causal-mask buffers.
  json renamed = json::object();
  for (auto& [name, entry] : p.header.items()) renamed["transformer." + name] = entry;
  renamed["h.0.attn.bias"] = {{"dtype", "F32"}, {"shape", json::array({0})}, {"data_offsets", {0, 0}}};
  p.header = renamed;
  ExpectRejected(Join(p), "n_head");
  LoadOptions options;
  options.n_head = 2;
  const auto loaded = LoadCheckpointBytes(Join(p), options);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->config, kConfig);
  EXPECT_EQ(0, std::memcmp(loaded->params.data(), params.data(), params.size() * 4));
}

TEST(CheckpointTest, ReadsBf16AndF16) {
  Parts p = Split(Saved());
  const int C = kConfig.n_embd;
  // ln_f.weight as BF16 of 1.5 (0x3FC0) and ln_f.bias as F16 of -2 (0xC000), appended.
  const uint64_t at = p.data.size();
  for (int i = 0; i < C; ++i) { p.data.push_back(0xC0); p.data.push_back(0x3F); }
  for (int i = 0; i < C; ++i) { p.data.push_back(0x00); p.data.push_back(0xC0); }
  p.header["ln_f.weight"] = {{"dtype", "BF16"}, {"shape", {C}}, {"data_offsets", {at, at + 2 * C}}};
  p.header["ln_f.bias"] = {{"dtype", "F16"}, {"shape", {C}}, {"data_offsets", {at + 2 * C, at + 4 * C}}};
  const auto loaded = LoadCheckpointBytes(Join(p));
  ASSERT_TRUE(loaded) << loaded.error().message;
  const auto layout = ParamTensors(kConfig);
  EXPECT_EQ(loaded->params[layout[static_cast<int>(ParamKind::kLnfw)].offset], 1.5f);
  EXPECT_EQ(loaded->params[layout[static_cast<int>(ParamKind::kLnfb)].offset + C - 1], -2.0f);
}

TEST(CheckpointTest, RejectsTruncatedFilesAtEveryKindOfCut) {
  const auto bytes = Saved();
  const uint64_t header_len = Split(bytes).header.dump().size();
  for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{8 + header_len / 2}, bytes.size() - 1,
                     bytes.size() - 100}) {
    const std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + cut);
    const auto r = LoadCheckpointBytes(truncated);
    ASSERT_FALSE(r) << "cut at " << cut;
    EXPECT_FALSE(r.error().message.empty());
  }
  ExpectRejected(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 4), "truncated");
  ExpectRejected(std::vector<uint8_t>(bytes.begin(), bytes.end() - 1), "outside the data section");
}

TEST(CheckpointTest, RejectsHeaderLengthPastTheEnd) {
  auto bytes = Saved();
  const uint64_t huge = bytes.size();
  std::memcpy(bytes.data(), &huge, 8);
  ExpectRejected(bytes, "header length");
  const uint64_t max = UINT64_MAX;
  std::memcpy(bytes.data(), &max, 8);
  ExpectRejected(bytes, "header length");
}

TEST(CheckpointTest, RejectsBadJson) {
  const Parts p = Split(Saved());
  ExpectRejected(Join("{\"wte.weight\": {\"dtype\": ", p.data), "not valid JSON");
  ExpectRejected(Join("[1, 2, 3]", p.data), "not a JSON object");
  ExpectRejected(Join("{\"wte.weight\": 7}", p.data), "wte.weight");
}

TEST(CheckpointTest, RejectsOffsetsPastTheEnd) {
  Parts p = Split(Saved());
  const uint64_t end = p.data.size();
  p.header["h.1.ln_2.bias"]["data_offsets"] = {end - 16, end + 16};
  ExpectRejected(Join(p), "h.1.ln_2.bias");
  p.header["h.1.ln_2.bias"]["data_offsets"] = {40, 8};  // begin > end
  ExpectRejected(Join(p), "h.1.ln_2.bias");
  p.header["h.1.ln_2.bias"]["data_offsets"] = {-8, 24};
  ExpectRejected(Join(p), "h.1.ln_2.bias");
}

TEST(CheckpointTest, RejectsOverlappingRanges) {
  Parts p = Split(Saved());
  p.header["h.0.ln_1.bias"]["data_offsets"] = p.header["h.0.ln_1.weight"]["data_offsets"];
  ExpectRejected(Join(p), "overlapping");
}

TEST(CheckpointTest, RejectsSizesThatLie) {
  Parts p = Split(Saved());
  const uint64_t begin = p.header["ln_f.bias"]["data_offsets"][0];
  p.header["ln_f.bias"]["data_offsets"] = {begin, begin + 4 * (kConfig.n_embd - 1)};
  ExpectRejected(Join(p), "ln_f.bias");
  Parts q = Split(Saved());
  q.header["ln_f.bias"]["shape"] = {kConfig.n_embd, 1000000000000LL};  // overflow-sized
  ExpectRejected(Join(q), "ln_f.bias");
}

TEST(CheckpointTest, RejectsUnknownDtype) {
  Parts p = Split(Saved());
  p.header["wpe.weight"]["dtype"] = "F64";
  ExpectRejected(Join(p), "dtype 'F64'");
}

TEST(CheckpointTest, RejectsMissingAndUnexpectedTensors) {
  Parts p = Split(Saved());
  p.header.erase("h.1.mlp.c_fc.bias");
  ExpectRejected(Join(p), "missing tensor 'h.1.mlp.c_fc.bias'");
  Parts q = Split(Saved());
  q.header["h.7.ln_1.weight"] = q.header["ln_f.weight"];
  q.header["h.7.ln_1.weight"]["data_offsets"] = {0, 0};
  q.header["h.7.ln_1.weight"]["shape"] = {0};
  ExpectRejected(Join(q), "unexpected tensor 'h.7.ln_1.weight'");
}

TEST(CheckpointTest, RejectsWrongShapesForTheConfig) {
  Parts p = Split(Saved());
  const int64_t C = kConfig.n_embd;
  p.header["h.0.attn.c_attn.weight"]["shape"] = {3 * C, C};  // our layout, not Conv1D
  ExpectRejected(Join(p), "tensor 'h.0.attn.c_attn.weight' has shape [24, 8]");
  LoadOptions options;
  options.expect = kConfig;
  options.expect->n_layer = 3;
  ExpectRejected(Saved(), "model.n_layer = 2", options);
  Parts q = Split(Saved());
  q.header["__metadata__"]["plume.n_embd"] = "eight";
  ExpectRejected(Join(q), "plume.n_embd");
}

TEST(CheckpointTest, SaveRejectsWrongParameterCount) {
  const auto r = SaveCheckpointBytes(kConfig, std::vector<float>(10));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("10 floats"), std::string::npos);
}

}  // namespace
}  // namespace plume::kernels
