//===- GpuBlockDemo.cpp - The quantized block on an NVIDIA GPU ------------===//
//
// The main job's GPU part: the quantized block through r2q-gpu-pipeline,
// JIT-compiled with libr2q_cuda_runtime.so resolving the lowered host code's
// mgpu* calls, called on device memory (the GPU calling convention,
// docs/gpu.md) and compared with the same block on the CPU. Built without
// the runtime (no cuda.h), or run without a GPU, it says so in one line.
//
//===----------------------------------------------------------------------===//

#include "GpuBlockDemo.h"
#include "LlamaBlockDemo.h"

#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/Timing.h"
#ifdef R2Q_CUDA_RUNTIME_LIBRARY
#include "r2q/Runtime/CudaRuntime.h"
#endif

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstdio>
#include <optional>
#include <random>
#include <string>

using namespace mlir;

namespace r2q::demo {
namespace {

#ifdef R2Q_CUDA_RUNTIME_LIBRARY

/// Prints `status`'s error and says whether there was none.
bool succeeded(const cuda::Status &status) {
  if (!status.ok())
    std::fprintf(stderr, "error: %s\n", status.error.c_str());
  return status.ok();
}

/// A device copy of a host tensor, freed with the object.
class DeviceTensor {
public:
  explicit DeviceTensor(HostTensor<float, 2> &host) : host(host) {
    size_t bytes = host.data().size() * sizeof(float);
    cuda::Result<void *> allocated = cuda::allocate(bytes);
    if (!succeeded(allocated))
      return;
    pointer = allocated.value;
    if (!succeeded(cuda::copyToDevice(pointer, host.data().data(), bytes))) {
      cuda::free(pointer);
      pointer = nullptr;
    }
  }
  ~DeviceTensor() {
    if (pointer)
      cuda::free(pointer);
  }

  bool ok() const { return pointer != nullptr; }

  /// The host tensor's descriptor with the device copy's address.
  StridedMemRefType<float, 2> descriptor() {
    StridedMemRefType<float, 2> view = host.descriptor();
    view.basePtr = view.data = static_cast<float *>(pointer);
    return view;
  }

private:
  HostTensor<float, 2> &host;
  void *pointer = nullptr;
};

/// Calls @main on `input` (device memory); the result is device memory the
/// caller frees (basePtr). A CUDA error in the call is printed, not fatal.
std::optional<StridedMemRefType<float, 2>>
callMain(JitModule &module, StridedMemRefType<float, 2> input) {
  StridedMemRefType<float, 2> result{};
  cuda::LoweredCodeErrors errors;
  if (llvm::Error error = module.call("main", &result, &input)) {
    std::fprintf(stderr, "error: %s\n", toString(std::move(error)).c_str());
    return std::nullopt;
  }
  if (!succeeded(errors.end())) {
    cuda::free(result.basePtr);
    return std::nullopt;
  }
  return result;
}

/// `result` (device memory, any strides) copied to the host, row-major,
/// then freed.
std::optional<std::vector<float>>
fetchAndFree(StridedMemRefType<float, 2> &result) {
  int64_t rows = result.sizes[0], columns = result.sizes[1];
  int64_t span =
      1 + (rows - 1) * result.strides[0] + (columns - 1) * result.strides[1];
  std::vector<float> staged(rows && columns ? span : 0);
  bool copied =
      staged.empty() ||
      succeeded(cuda::copyToHost(staged.data(), result.data + result.offset,
                                 staged.size() * sizeof(float)));
  succeeded(cuda::free(result.basePtr));
  if (!copied)
    return std::nullopt;
  StridedMemRefType<float, 2> onHost = result;
  onHost.basePtr = onHost.data = staged.data();
  onHost.offset = 0;
  return HostTensor<float, 2>::copyOf(onHost).data();
}

/// The quantized block through r2q-gpu-pipeline for `chip`, JIT-compiled
/// with the CUDA runtime library.
std::unique_ptr<JitModule> compileForGpu(ModuleOp quantized,
                                         const std::string &chip) {
  OwningOpRef<ModuleOp> copy = quantized.clone();
  PassManager pm(copy->getContext());
  if (failed(parsePassPipeline(
          "r2q-gpu-pipeline{cubin-format=isa chip=" + chip + "}", pm)) ||
      failed(pm.run(*copy)))
    return nullptr;
  auto compiled =
      JitModule::compile(*copy, {}, {std::string(R2Q_CUDA_RUNTIME_LIBRARY)});
  if (!compiled) {
    std::fprintf(stderr, "error: %s\n", toString(compiled.takeError()).c_str());
    return nullptr;
  }
  return std::move(*compiled);
}

#endif // R2Q_CUDA_RUNTIME_LIBRARY

} // namespace

bool printGpuBlock(ModuleOp quantized, int64_t hidden,
                   const std::vector<int64_t> &batches, int repetitions,
                   const CpuRun &runOnCpu) {
#ifndef R2Q_CUDA_RUNTIME_LIBRARY
  std::printf("GPU: not run: this build has no CUDA runtime library (cuda.h "
              "was not found when it was configured)\n");
  return true;
#else
  if (std::string reason = cuda::unavailableReason(); !reason.empty()) {
    std::printf("GPU: not run: %s\n", reason.c_str());
    return true;
  }
  cuda::Result<R2QCudaDeviceInfo> device = cuda::deviceInfo(0);
  if (!succeeded(device))
    return false;
  std::string chip =
      "sm_" + std::to_string(device.value.computeCapabilityMajor * 10 +
                             device.value.computeCapabilityMinor);
  std::unique_ptr<JitModule> module = compileForGpu(quantized, chip);
  if (!module)
    return false;
  std::printf("GPU: %s, the r2q block through r2q-gpu-pipeline{chip=%s} "
              "(PTX JIT)\n",
              device.value.name, chip.c_str());
  std::printf("%6s  %18s  %9s   (a call: the kernels and the result's "
              "allocation; the weights went to the device on the first call)\n",
              "batch", "rel.diff from CPU", "GPU ms");
  std::mt19937 generator(2512);
  std::normal_distribution<float> normal;
  for (int64_t batch : batches) {
    HostTensor<float, 2> input({batch, hidden});
    for (float &value : input.data())
      value = normal(generator);
    DeviceTensor onDevice(input);
    if (!onDevice.ok())
      return false;
    auto result = callMain(*module, onDevice.descriptor());
    if (!result)
      return false;
    std::optional<std::vector<float>> output = fetchAndFree(*result);
    if (!output)
      return false;
    // Each call synchronizes its streams. The time includes the result's
    // allocation; the constant weights were copied to the device by the
    // first call above (r2q-gpu-host-buffers), and stay there.
    bool timedOk = true;
    double seconds = medianSeconds(
        [&] {
          auto timed = callMain(*module, onDevice.descriptor());
          timedOk = timedOk && timed && succeeded(cuda::free(timed->basePtr));
        },
        repetitions);
    if (!timedOk)
      return false;
    std::printf("%6lld  %18.2e  %9.3f\n", static_cast<long long>(batch),
                relativeError(*output, runOnCpu(input)), seconds * 1e3);
  }
  return true;
#endif
}

} // namespace r2q::demo
