// The memory a train submit's initialisation takes on the scheduler (security review F5): every
// operator new of this binary is counted (the global operator new is replaced below, which is
// why this test has a binary of its own), and StoreInitialParams of a model of N parameters may
// hold at most its parameters (4N bytes), one encoder piece and 256 KiB for the checkpoint's
// header and bookkeeping at any moment. The path it
// replaced held the parameters four times (a model buffer, the copy out of it, the checkpoint's
// per-tensor copies and the encoded bytes), three of them through operator new: this bound
// fails for it by more than 8N bytes. The stored blob is also checked to be the bytes of
// SaveCheckpointBytes(InitialParams), i.e. the answer did not change.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include "checkpoint_blob.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

// Each block carries its size in front, so operator delete knows what it frees without the
// sized overloads (which not every caller uses).
constexpr size_t kHeader = alignof(std::max_align_t);

void* Allocate(size_t size) {
  auto* block = static_cast<unsigned char*>(std::malloc(size + kHeader));
  if (block == nullptr) throw std::bad_alloc();
  *reinterpret_cast<size_t*>(block) = size;
  const int64_t live = g_live.fetch_add(static_cast<int64_t>(size)) + static_cast<int64_t>(size);
  if (g_counting.load()) {
    int64_t peak = g_peak.load();
    while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
    }
  }
  return block + kHeader;
}

void Release(void* p) {
  if (p == nullptr) return;
  auto* block = static_cast<unsigned char*>(p) - kHeader;
  g_live.fetch_sub(static_cast<int64_t>(*reinterpret_cast<size_t*>(block)));
  std::free(block);
}

}  // namespace

void* operator new(size_t size) { return Allocate(size); }
void* operator new[](size_t size) { return Allocate(size); }
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, size_t) noexcept { Release(p); }
void operator delete[](void* p, size_t) noexcept { Release(p); }

namespace plume::scheduler {
namespace {

TEST(InitialParamsAlloc, HoldsTheParametersOnceWhileStoringThem) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-init-alloc-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = BlobStore::Open(dir);
  ASSERT_TRUE(store);
  // 4 layers, 512 wide, an 8192-token vocabulary: about 17 M parameters, 68 MB.
  const kernels::ModelConfig model{4, 8, 512, 256, 8192};
  const int64_t params_bytes = model.NumParams() * int64_t{sizeof(float)};
  const int64_t piece_bytes = kernels::kCheckpointPieceFloats * int64_t{sizeof(float)};

  const int64_t before = g_live.load();
  g_peak = before;
  g_counting = true;
  auto hash = StoreInitialParams(**store, model, 7);
  g_counting = false;
  ASSERT_TRUE(hash) << hash.error().message;
  const int64_t peak = g_peak.load() - before;
  RecordProperty("peak_bytes", std::to_string(peak));
  RecordProperty("params_bytes", std::to_string(params_bytes));
  EXPECT_GT(peak, params_bytes);  // the count sees the parameters: the hook works
  EXPECT_LE(peak, params_bytes + piece_bytes + (256 << 10))
      << "peak " << peak << " bytes for " << params_bytes << " bytes of parameters";

  // The same blob as the whole-buffer encoding of the same initialisation.
  const auto whole = kernels::SaveCheckpointBytes(model, *kernels::InitialParams(model, 7));
  ASSERT_TRUE(whole);
  EXPECT_EQ(*hash, ToHex(Blake2b256(std::span<const uint8_t>(*whole))));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
