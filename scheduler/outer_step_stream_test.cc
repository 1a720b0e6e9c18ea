// The streamed outer step (outer_step_stream.h) against the computation it replaced, on a random
// model with real blob files: the round's parameters and three weighted deltas decoded whole
// (LoadCheckpointBytes), OuterStep on the whole model, SaveCheckpointBytes of the result. The
// stored checkpoint must be the same bytes and the momentum the same floats, for round 0 (no
// momentum) and a later round (m_{r-1} random, given in the old parameter layout and converted).
// The model's vocabulary is padded and its token table spans two pieces, so padding and piece
// boundaries are both crossed. Then: a delta whose tensors are stored in another order gives the
// same result, and damaged inputs are refused with nothing written.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <cstring>

#include "outer_step_stream.h"
#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "plume/scheduler/outer_step.h"

namespace plume::scheduler {
namespace {

// wte alone is 5001 x 64 = 320,064 floats: more than one 262,144-float piece; vocab padded.
const kernels::ModelConfig kModel{2, 4, 64, 32, 5001};

class StreamedOuterStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plume-outer-stream-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "momentum");
    blobs_ = std::move(*BlobStore::Open(dir_ / "blobs"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Random parameters in the kernels' layout, padding rows zero (as a loaded checkpoint has them).
  std::vector<float> Random(float scale) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> p(static_cast<size_t>(kModel.NumParams()));
    for (float& x : p) x = normal(rng_);
    auto round_trip = kernels::LoadCheckpointBytes(*kernels::SaveCheckpointBytes(kModel, p));
    return round_trip->params;
  }
  BlobHash Store(const std::vector<uint8_t>& bytes) {
    return ToHex(*blobs_->Put(std::span<const uint8_t>(bytes)));
  }
  BlobHash Store(const std::vector<float>& params) {
    return Store(*kernels::SaveCheckpointBytes(kModel, params));
  }
  std::vector<float> Params(const BlobHash& hex) {
    auto bytes = blobs_->Get(*HashFromHex(hex));
    return kernels::LoadCheckpointBytes(std::span(reinterpret_cast<const uint8_t*>(bytes->data()),
                                                  bytes->size()))
        ->params;
  }
  // The old computation: everything decoded whole, OuterStep on the whole model.
  OuterStepResult WholeModel(const StreamedRound& r, const std::vector<float>& momentum_prev) {
    OuterStep step(static_cast<size_t>(kModel.NumParams()));
    for (size_t w = 0; w < r.deltas.size(); ++w) {
      EXPECT_TRUE(step.AddDelta(Params(r.deltas[w]), r.weights[w]));
    }
    return *step.Finish(Params(r.params), momentum_prev, r.outer_lr, r.outer_momentum);
  }
  // A momentum in the kernels' layout, as the streamed step keeps it: checkpoint data order.
  static std::string InCheckpointOrder(const std::vector<float>& flat) {
    auto bytes = *kernels::SaveCheckpointBytes(kModel, flat);
    return std::string(bytes.begin() + static_cast<long>(kernels::CheckpointPrefix(kModel).size()),
                       bytes.end());
  }
  static std::string ReadAll(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  StreamedRound Round() {
    StreamedRound r;
    r.model = kModel;
    r.params = Store(Random(0.02f));
    for (uint64_t w : {3, 1, 5}) {
      r.deltas.push_back(Store(Random(1e-3f)));
      r.weights.push_back(w);
    }
    r.momentum_out = dir_ / "momentum" / "job.r0.hf";
    r.outer_lr = 0.7;
    r.outer_momentum = 0.9;
    return r;
  }

  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> blobs_;
  std::mt19937 rng_{42};
};

TEST_F(StreamedOuterStepTest, SameBytesAsTheWholeModelStep) {
  // Round 0: no momentum.
  StreamedRound r = Round();
  auto streamed = StreamOuterStep(*blobs_, r);
  ASSERT_TRUE(streamed) << streamed.error().message;
  OuterStepResult whole = WholeModel(r, {});
  EXPECT_EQ(*streamed, Store(whole.params));  // one blob: the same bytes
  EXPECT_EQ(ReadAll(r.momentum_out), InCheckpointOrder(whole.momentum));

  // Round 1 from round 0's result, m_0 random and stored in the old layout, converted first.
  const std::vector<float> m_prev = Random(1e-2f);
  const auto converted = dir_ / "momentum" / "job.r1-prev.hf";
  ASSERT_TRUE(WriteMomentumInCheckpointOrder(kModel, m_prev, converted));
  EXPECT_EQ(ReadAll(converted), InCheckpointOrder(m_prev));
  r.params = *streamed;
  r.momentum_prev = converted;
  r.momentum_out = dir_ / "momentum" / "job.r1.hf";
  auto next = StreamOuterStep(*blobs_, r);
  ASSERT_TRUE(next) << next.error().message;
  whole = WholeModel(r, m_prev);
  EXPECT_EQ(*next, Store(whole.params));
  EXPECT_EQ(ReadAll(r.momentum_out), InCheckpointOrder(whole.momentum));
}

// A valid checkpoint need not store its tensors in the writer's order (an agent's delta is
// screened for names, shapes and dtype, not offsets): each is read where its header says.
TEST_F(StreamedOuterStepTest, ADeltaStoredInAnotherOrderGivesTheSameResult) {
  StreamedRound r = Round();
  auto expected = StreamOuterStep(*blobs_, r);
  ASSERT_TRUE(expected);
  const std::string want_momentum = ReadAll(r.momentum_out);

  auto bytes = blobs_->Get(*HashFromHex(r.deltas[1]));
  ASSERT_TRUE(bytes);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes->data(), 8);
  auto header = nlohmann::json::parse(bytes->substr(8, header_bytes));
  const std::string data = bytes->substr(8 + header_bytes);
  auto tensors = kernels::CheckpointTensors(kModel);
  std::string reversed_data;
  for (auto t = tensors.rbegin(); t != tensors.rend(); ++t) {
    auto& entry = header[t->name];
    const uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    entry["data_offsets"] = {reversed_data.size(), reversed_data.size() + (end - begin)};
    reversed_data += data.substr(begin, end - begin);
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  std::string file(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(file.data(), &n, 8);
  file += text + reversed_data;
  const BlobHash writers_order = r.deltas[1];
  r.deltas[1] = Store(std::vector<uint8_t>(file.begin(), file.end()));
  ASSERT_NE(r.deltas[1], writers_order);

  r.momentum_out = dir_ / "momentum" / "job.r0.again.hf";
  auto got = StreamOuterStep(*blobs_, r);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, *expected);
  EXPECT_EQ(ReadAll(r.momentum_out), want_momentum);
}

TEST_F(StreamedOuterStepTest, DamagedInputsAreRefusedAndNothingIsWritten) {
  auto files = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      n += e.is_regular_file() ? 1 : 0;
    }
    return n;
  };
  auto refused = [&](const StreamedRound& r, const std::string& why) {
    const size_t before = files();
    auto got = StreamOuterStep(*blobs_, r);
    ASSERT_FALSE(got) << why;
    EXPECT_NE(got.error().message.find(why), std::string::npos) << got.error().message;
    EXPECT_EQ(files(), before) << why << ": no blob, momentum or temporary file was left";
  };
  const StreamedRound good = Round();

  StreamedRound r = good;
  r.weights = {0, 0, 0};
  refused(r, "no weighted deltas");
  r = good;
  r.deltas[2] = ToHex(Blake2b256(std::string_view("never stored")));
  refused(r, "not found");
  r = good;  // a delta in F16 (the kernels read one; a result may not be one)
  {
    auto bytes = *blobs_->Get(*HashFromHex(good.deltas[0]));
    const size_t at = bytes.find("\"F32\"");
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, 5, "\"F16\"");
    r.deltas[0] = Store(std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  refused(r, "is not F32");
  r = good;
  r.momentum_prev = dir_ / "momentum" / "short.hf";
  ASSERT_TRUE(WriteFileDurably(r.momentum_prev, std::vector<uint8_t>(64, 0)));
  refused(r, "is truncated");
  r.momentum_prev = dir_ / "momentum" / "absent.hf";
  refused(r, "missing");
  r = good;  // a byte changed on disk after the blob was stored
  {
    const auto path = blobs_->PathOf(*HashFromHex(good.deltas[2]));
    std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(4096);
    const char was = static_cast<char>(f.get());
    f.seekp(4096);
    f.put(static_cast<char>(was ^ 1));
  }
  refused(r, "corrupt on disk");
}

}  // namespace
}  // namespace plume::scheduler
