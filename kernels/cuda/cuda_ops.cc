// CudaOps: the CUDA backend of ops.h. It owns one device, one stream and a scratch block; each
// method selects the device and forwards to the op's launcher (launchers.h), which queues work on
// the stream. Only copies to the host, Synchronize and GlobalNorm wait for the device.
#include <cuda_runtime.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common.cuh"
#include "launchers.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace cuda {

// The owner has synchronized the stream (and may already have destroyed it), and the owner's
// device is current.
DeviceScratch::~DeviceScratch() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

Result<void*> DeviceScratch::Get(size_t bytes) {
  if (bytes <= bytes_ && ptr_ != nullptr) return ptr_;
  // Kernels queued earlier may still read the old block; let them finish before freeing it.
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (ptr_ != nullptr) {
    CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    bytes_ = 0;
  }
  size_t want = bytes < 4096 ? 4096 : bytes + bytes / 4;  // headroom against regrowth
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, want);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) allocation error
    return Fail("CUDA scratch allocation of " + std::to_string(want) +
                " bytes failed: " + cudaGetErrorString(err) +
                "; free device memory or use a smaller batch");
  }
  ptr_ = p;
  bytes_ = want;
  return ptr_;
}

namespace {

// Device memory from cudaMalloc; freed on the device that allocated it.
class CudaBuffer final : public Buffer {
 public:
  CudaBuffer(void* ptr, size_t bytes, int device) : ptr_(ptr), bytes_(bytes), device_(device) {}
  ~CudaBuffer() override {
    int previous = -1;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    cudaFree(ptr_);  // a destructor cannot report; a failure here leaks at worst
    if (previous >= 0) cudaSetDevice(previous);
  }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  void* data() override { return ptr_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* ptr_;
  size_t bytes_;
  int device_;
};

// A null pointer would fault inside a kernel and poison the whole CUDA context for the process;
// report it as an ordinary error instead. Optional pointers (ops.h says "may be null") are not
// passed here.
template <class... Ptrs>
Status NonNull(const char* op, Ptrs... ptrs) {
  const void* list[] = {static_cast<const void*>(ptrs)...};
  for (const void* p : list) {
    if (p == nullptr) return Fail(std::string(op) + ": a required tensor pointer is null");
  }
  return {};
}

class CudaOps final : public Ops {
 public:
  CudaOps(int device, std::string name, uint64_t memory_bytes, cudaStream_t stream, float* sumsq,
          const CudaKernelChoice& kernels)
      : device_(device), name_(std::move(name)), memory_bytes_(memory_bytes), stream_(stream),
        sumsq_(sumsq), scratch_(stream), kernels_(kernels) {}
  // Members are destroyed after this body: scratch_ then frees its block with device_ current
  // and the stream already drained.
  ~CudaOps() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    cudaFree(sumsq_);
    cudaStreamDestroy(stream_);
  }

  Backend backend() const override { return Backend::kCuda; }
  std::string DeviceName() const override { return name_; }
  uint64_t MemoryBytes() const override { return memory_bytes_; }

  Result<std::unique_ptr<Buffer>> Alloc(size_t bytes) override {
    CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return Fail("CUDA allocation of " + std::to_string(bytes) + " bytes on device " +
                  std::to_string(device_) + " failed: " + cudaGetErrorString(err) +
                  "; use a smaller model or batch");
    }
    std::unique_ptr<Buffer> buffer = std::make_unique<CudaBuffer>(p, bytes, device_);
    if (bytes > 0) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    return buffer;
  }
  Status CopyToDevice(void* dst, const void* host_src, size_t bytes) override {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
    // The caller may reuse host_src as soon as we return.
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return {};
  }
  Status CopyToHost(void* host_dst, const void* src, size_t bytes) override {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return CheckFlags();
  }
  Status Fill(float* dst, float value, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("Fill", dst); !st) return st;
    return cuda::LaunchFill(Ctx(), dst, value, n);
  }
  Status Synchronize() override {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return CheckFlags();
  }

  Status EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                        int B, int T, int C) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("EncoderForward", out, tokens, wte, wpe); !st) return st;
    return cuda::LaunchEncoderForward(Ctx(), out, tokens, wte, wpe, B, T, C);
  }
  Status EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* /*tokens*/,
                         const int32_t* tokens_host, int B, int T, int C) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("EncoderBackward", dwte, dwpe, dout); !st) return st;
    return cuda::LaunchEncoderBackward(Ctx(), dwte, dwpe, dout, tokens_host, B, T, C);
  }
  Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                          const float* weight, const float* bias, int N, int C) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("LayerNormForward", out, inp, weight, bias); !st) return st;
    return cuda::LaunchLayerNormForward(Ctx(), out, mean, rstd, inp, weight, bias, N, C);
  }
  Status LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const float* mean,
                           const float* rstd, int N, int C) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("LayerNormBackward", dout, inp, weight, mean, rstd); !st) return st;
    return cuda::LaunchLayerNormBackward(Ctx(), dinp, dweight, dbias, dout, inp, weight, mean,
                                         rstd, N, C);
  }
  Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                       int N, int C, int OC) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("MatmulForward", out, inp, weight); !st) return st;
    return cuda::LaunchMatmulForward(Ctx(), out, inp, weight, bias, N, C, OC);
  }
  Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int N, int C, int OC) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("MatmulBackward", dweight, dout, inp, weight); !st) return st;
    return cuda::LaunchMatmulBackward(Ctx(), dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  }
  Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                          int NH) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("AttentionForward", out, lse, qkv); !st) return st;
    return cuda::LaunchAttentionForward(Ctx(), out, lse, qkv, B, T, C, NH);
  }
  Status AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* out,
                           const float* lse, int B, int T, int C, int NH) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("AttentionBackward", dqkv, dout, qkv, out, lse); !st) return st;
    return cuda::LaunchAttentionBackward(Ctx(), dqkv, dout, qkv, out, lse, B, T, C, NH);
  }
  Status GeluForward(float* out, const float* inp, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("GeluForward", out, inp); !st) return st;
    return cuda::LaunchGeluForward(Ctx(), out, inp, n);
  }
  Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("GeluBackward", dinp, inp, dout); !st) return st;
    return cuda::LaunchGeluBackward(Ctx(), dinp, inp, dout, n);
  }
  Status ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("ResidualForward", out, a, b); !st) return st;
    return cuda::LaunchResidualForward(Ctx(), out, a, b, n);
  }
  Status ResidualBackward(float* da, float* db, const float* dout, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("ResidualBackward", da, db, dout); !st) return st;
    return cuda::LaunchResidualBackward(Ctx(), da, db, dout, n);
  }
  Status SoftmaxCrossEntropy(float* logits, float* losses, float* probs_out,
                             const int32_t* targets, int N, int V, int Vp, float loss_scale,
                             bool write_dlogits) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("SoftmaxCrossEntropy", logits, losses, targets); !st) return st;
    return cuda::LaunchSoftmaxCrossEntropy(Ctx(), logits, losses, probs_out, targets, N, V, Vp,
                                           loss_scale, write_dlogits);
  }
  Status Softmax(float* probs, const float* logits, int N, int V, int Vp,
                 float temperature) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("Softmax", probs, logits); !st) return st;
    return cuda::LaunchSoftmax(Ctx(), probs, logits, N, V, Vp, temperature);
  }
  Status EncoderForwardAt(float* out, const int32_t* tokens, const int32_t* positions,
                          const float* wte, const float* wpe, int N, int C) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("EncoderForwardAt", out, tokens, positions, wte, wpe); !st) return st;
    return cuda::LaunchEncoderForwardAt(Ctx(), out, tokens, positions, wte, wpe, N, C);
  }
  Status KvCacheWrite(float* k_cache, float* v_cache, const float* qkv, const int32_t* slots,
                      const int32_t* positions, int N, int C, int NH, int S, int maxT) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("KvCacheWrite", k_cache, v_cache, qkv, slots, positions); !st) return st;
    return cuda::LaunchKvCacheWrite(Ctx(), k_cache, v_cache, qkv, slots, positions, N, C, NH, S,
                                    maxT);
  }
  Status AttentionDecode(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                         const int32_t* slots, const int32_t* lengths, int N, int C, int NH, int S,
                         int maxT) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("AttentionDecode", out, qkv, k_cache, v_cache, slots, lengths); !st)
      return st;
    return cuda::LaunchAttentionDecode(Ctx(), out, qkv, k_cache, v_cache, slots, lengths, N, C, NH,
                                       S, maxT);
  }
  // The tensor-core matmul already computes each output element from its own row of inp and
  // column of weight only (one warp, fixed k order; rows past N are zero padding that never mixes
  // into a real row), so its rows do not depend on N: it serves as the decode matmul as is.
  Status MatmulForwardRows(float* out, const float* inp, const float* weight, const float* bias,
                           int N, int C, int OC) override {
    return MatmulForward(out, inp, weight, bias, N, C, OC);
  }
  Status AdamW(float* params, const float* grads, float* m, float* v, size_t n,
               const AdamWParams& p) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("AdamW", params, grads, m, v); !st) return st;
    return cuda::LaunchAdamW(Ctx(), params, grads, m, v, n, p);
  }
  Result<float> GlobalNorm(const float* grads, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto nn = NonNull("GlobalNorm", grads); !nn) return tl::unexpected(nn.error());
    auto st = cuda::LaunchSumOfSquares(Ctx(), sumsq_, grads, n);
    if (!st) return tl::unexpected(st.error());
    float sumsq = 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(&sumsq, sumsq_, sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return std::sqrt(sumsq);
  }
  Status Scale(float* x, float factor, size_t n) override {
    CUDA_CHECK(cudaSetDevice(device_));
    if (auto st = NonNull("Scale", x); !st) return st;
    return cuda::LaunchScale(Ctx(), x, factor, n);
  }

 cudaStream_t stream() const { return stream_; }

 private:
  cuda::LaunchContext Ctx() { return cuda::LaunchContext{stream_, &scratch_, flags(), kernels_}; }
  int* flags() { return reinterpret_cast<int*>(sumsq_ + 1); }
  // After a synchronisation: the bad-input bits kernels set since the last check, as an error
  // (and cleared, so the backend stays usable for the next, valid, input).
  Status CheckFlags() {
    int bits = 0;
    CUDA_CHECK(cudaMemcpy(&bits, flags(), sizeof bits, cudaMemcpyDeviceToHost));
    if (bits == 0) return {};
    CUDA_CHECK(cudaMemset(flags(), 0, sizeof bits));
    std::string what;
    if (bits & cuda::kBadTokenFlag) what += "a negative token id (encoder)";
    if (bits & cuda::kBadTargetFlag) {
      what += what.empty() ? "" : " and ";
      what += "a target outside the vocabulary (softmax cross-entropy)";
    }
    if (bits & cuda::kBadIndexFlag) {
      what += what.empty() ? "" : " and ";
      what += "a slot, position or length outside the KV cache (decode ops)";
    }
    return Fail("the GPU met " + what + "; those rows were skipped, not computed");
  }

  int device_;
  std::string name_;
  uint64_t memory_bytes_;  // cudaDeviceProp::totalGlobalMem, read once when the device is opened
  cudaStream_t stream_;
  float* sumsq_;  // two words of device memory: GlobalNorm's result, then the error flags
  cuda::DeviceScratch scratch_;
  CudaKernelChoice kernels_;
};

}  // namespace

cudaStream_t StreamOf(Ops& ops) {
  auto* cuda_ops = dynamic_cast<CudaOps*>(&ops);
  return cuda_ops == nullptr ? nullptr : cuda_ops->stream();
}

}  // namespace cuda

int CudaDeviceCount() {
  int count = 0;
  // No driver, no device, or a driver too old for this runtime: all mean "no usable device".
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

Result<std::unique_ptr<Ops>> MakeCudaOps(int device) {
  auto kernels = CudaKernelChoiceFromEnv();
  if (!kernels) return tl::unexpected(kernels.error());
  return MakeCudaOpsWith(device, *kernels);
}

Result<std::unique_ptr<Ops>> MakeCudaOpsWith(int device, const CudaKernelChoice& kernels) {
  int count = CudaDeviceCount();
  if (count == 0) {
    return Fail("no CUDA device found (no GPU, or no NVIDIA driver loaded); use the CPU backend");
  }
  if (device < 0 || device >= count) {
    return Fail("CUDA device " + std::to_string(device) + " does not exist; this machine has " +
                std::to_string(count) + " (valid: 0.." + std::to_string(count - 1) + ")");
  }
  CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  // The matmul uses TF32 tensor cores and the kernels are built for sm_80 and newer.
  if (prop.major < 8) {
    return Fail(std::string("CUDA device ") + std::to_string(device) + " (" + prop.name +
                ") has compute capability " + std::to_string(prop.major) + "." +
                std::to_string(prop.minor) + "; the CUDA backend needs 8.0 (Ampere) or newer");
  }
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  void* sumsq = nullptr;
  cudaError_t err = cudaMalloc(&sumsq, 2 * sizeof(float));
  if (err == cudaSuccess) err = cudaMemset(sumsq, 0, 2 * sizeof(float));
  if (err != cudaSuccess) {
    cudaStreamDestroy(stream);
    return cuda::CudaFail("cudaMalloc(result float)", err);
  }
  return std::unique_ptr<Ops>(
      new cuda::CudaOps(device, prop.name, uint64_t{prop.totalGlobalMem}, stream,
                        static_cast<float*>(sumsq), kernels));
}

bool BuiltWithCuda() { return true; }

}  // namespace plume::kernels
