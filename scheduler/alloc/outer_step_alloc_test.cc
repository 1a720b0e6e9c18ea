// The memory a round's outer step takes on the scheduler (security review F14): every operator
// new of this binary is counted (counting_alloc.h). The streamed step (outer_step_stream.h) of a
// model of N parameters, two workers and a previous momentum may hold at any moment one piece of
// the weighted sum (8 bytes a float), five pieces of floats (an input, the round's parameters,
// m_{r-1}, the new parameters and m_r) and 256 KiB for headers and bookkeeping: about 7 MiB,
// whatever N is. The computation it replaced is run in the same test on the same inputs, from the
// same public pieces (every blob decoded whole with LoadCheckpointBytes, OuterStep on the whole
// model, m_{r-1} read whole, StoreCheckpoint): it held about 24N bytes and must exceed the bound,
// which shows the bound fails on the old code. Both must store the same blob.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <cstring>
#include <random>

#include "checkpoint_blob.h"
#include "counting_alloc.h"
#include "outer_step_stream.h"
#include "whole_outer_step.h"
#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "plume/scheduler/outer_step.h"

namespace plume::scheduler {
namespace {

TEST(OuterStepAlloc, HoldsPiecesNotTheModel) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-outer-alloc-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = std::move(*BlobStore::Open(dir / "blobs"));
  // 2 layers, 512 wide, an 8192-token vocabulary: about 10.6 M parameters, 42 MB.
  const kernels::ModelConfig model{2, 8, 512, 256, 8192};
  const int64_t params_bytes = model.NumParams() * int64_t{sizeof(float)};
  const int64_t piece_floats = kernels::kCheckpointPieceFloats;

  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  auto random = [&] {
    std::vector<float> p(static_cast<size_t>(model.NumParams()));
    for (float& x : p) x = normal(rng);
    return p;
  };
  StreamedRound r;
  r.model = model;
  r.params = *StoreCheckpoint(*store, model, random());
  for (uint64_t w : {2, 7}) {
    r.deltas.push_back(*StoreCheckpoint(*store, model, random()));
    r.weights.push_back(w);
  }
  // m_{r-1}: in the old layout for the old path, in checkpoint order for the streamed one. Its
  // padding entries are zero, as every momentum's are.
  auto m_prev = DecodeParams(*store, *StoreCheckpoint(*store, model, random()));
  const auto flat = dir / "m-prev-flat";
  ASSERT_TRUE(WriteFileDurably(flat, std::span(reinterpret_cast<const uint8_t*>(m_prev.data()),
                                               m_prev.size() * sizeof(float))));
  r.momentum_prev = dir / "m-prev.hf";
  ASSERT_TRUE(WriteMomentumInCheckpointOrder(model, m_prev, r.momentum_prev));
  m_prev = {};
  r.momentum_out = dir / "m.hf";
  r.outer_lr = 0.7;
  r.outer_momentum = 0.9;

  PeakCounter streamed_counter;
  auto streamed = StreamOuterStep(*store, r);
  const int64_t streamed_peak = streamed_counter.Stop();
  ASSERT_TRUE(streamed) << streamed.error().message;
  PeakCounter whole_counter;
  auto whole = WholeModelStep(*store, r, flat);
  const int64_t whole_peak = whole_counter.Stop();
  ASSERT_TRUE(whole) << whole.error().message;

  const int64_t bound = piece_floats * (8 + 5 * 4) + (256 << 10);
  RecordProperty("streamed_peak_bytes", std::to_string(streamed_peak));
  RecordProperty("whole_peak_bytes", std::to_string(whole_peak));
  RecordProperty("params_bytes", std::to_string(params_bytes));
  EXPECT_GT(streamed_peak, piece_floats * 8);  // the count sees the pieces: the hook works
  EXPECT_LE(streamed_peak, bound) << "streamed peak " << streamed_peak << " bytes for "
                                  << params_bytes << " bytes of parameters";
  EXPECT_GT(whole_peak, bound) << "the old computation would pass this bound";
  EXPECT_GT(whole_peak, 5 * params_bytes);
  EXPECT_EQ(*streamed, *whole);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
