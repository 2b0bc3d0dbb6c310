//===- DeviceCall.cpp - Calling compiled GPU code on host buffers ---------===//

#include "DeviceCall.h"

#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Runtime/CudaRuntime.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

namespace r2q::python {
namespace {

/// The harness API of libr2q_cuda_runtime.so, resolved with dlsym.
struct CudaApi {
  decltype(&r2qCudaUnavailableReason) unavailableReason = nullptr;
  decltype(&r2qCudaLastError) lastError = nullptr;
  decltype(&r2qCudaMalloc) malloc = nullptr;
  decltype(&r2qCudaFree) free = nullptr;
  decltype(&r2qCudaCopyToDevice) copyToDevice = nullptr;
  decltype(&r2qCudaCopyToHost) copyToHost = nullptr;
  decltype(&r2qCudaDeviceInfo) deviceInfo = nullptr;
  /// Why the library could not be used, or empty.
  std::string loadError;
};

template <typename Function>
bool resolve(void *library, const char *name, Function &function) {
  function = reinterpret_cast<Function>(dlsym(library, name));
  return function != nullptr;
}

/// Opens the library (RTLD_GLOBAL: the JIT's lookups of mgpu* find the same
/// instance, with the same driver state) once per process.
const CudaApi &cudaApi() {
  static const CudaApi api = [] {
    CudaApi loaded;
    std::string path = cudaRuntimeLibrary();
    if (path.empty()) {
      loaded.loadError = "r2q: no NVIDIA GPU: this build of r2q has no CUDA "
                         "runtime library (cuda.h was not found when it was "
                         "configured)";
      return loaded;
    }
    void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!library) {
      loaded.loadError = "r2q: cannot load " + path + ": " + dlerror();
      return loaded;
    }
    if (!resolve(library, "r2qCudaUnavailableReason",
                 loaded.unavailableReason) ||
        !resolve(library, "r2qCudaLastError", loaded.lastError) ||
        !resolve(library, "r2qCudaMalloc", loaded.malloc) ||
        !resolve(library, "r2qCudaFree", loaded.free) ||
        !resolve(library, "r2qCudaCopyToDevice", loaded.copyToDevice) ||
        !resolve(library, "r2qCudaCopyToHost", loaded.copyToHost) ||
        !resolve(library, "r2qCudaDeviceInfo", loaded.deviceInfo))
      loaded.loadError = "r2q: " + path + " lacks the r2qCuda* entry points";
    return loaded;
  }();
  return api;
}

llvm::Error cudaError(const CudaApi &api) {
  return llvm::createStringError(api.lastError());
}

/// Device copies of the inputs, freed with the object.
class DeviceInputs {
public:
  explicit DeviceInputs(const CudaApi &api) : api(api) {}
  ~DeviceInputs() {
    for (void *pointer : pointers)
      api.free(pointer);
  }

  llvm::Error copy(const std::vector<InputBuffer> &inputs) {
    for (const InputBuffer &input : inputs) {
      size_t bytes =
          std::max<int64_t>(elementCount(input.shape), 1) * sizeof(float);
      void *device = nullptr;
      if (api.malloc(&device, bytes) != 0)
        return cudaError(api);
      pointers.push_back(device);
      if (api.copyToDevice(device, input.data,
                           elementCount(input.shape) * sizeof(float)) != 0)
        return cudaError(api);
      buffers.push_back({static_cast<const float *>(device), input.shape});
    }
    return llvm::Error::success();
  }

  const std::vector<InputBuffer> &onDevice() const { return buffers; }

private:
  static int64_t elementCount(const std::vector<int64_t> &shape) {
    int64_t count = 1;
    for (int64_t size : shape)
      count *= size;
    return count;
  }

  const CudaApi &api;
  std::vector<void *> pointers;
  std::vector<InputBuffer> buffers;
};

/// `buffer` (device memory, any strides) copied to the host, row-major: the
/// span its elements cover comes over in one copy.
llvm::Expected<HostResult> copyToHost(const CudaApi &api,
                                      const ReturnedBuffer &buffer) {
  HostResult result;
  result.shape = buffer.shape;
  int64_t count = buffer.elementCount();
  result.values.resize(count);
  if (count == 0)
    return result;
  int64_t span = 1;
  for (size_t dim = 0; dim < buffer.shape.size(); ++dim)
    span += (buffer.shape[dim] - 1) * buffer.strides[dim];
  std::vector<float> staged(span);
  if (api.copyToHost(staged.data(), buffer.data, span * sizeof(float)) != 0)
    return cudaError(api);
  ReturnedBuffer onHost = buffer;
  onHost.data = staged.data();
  copyRowMajor(onHost, result.values.data());
  return result;
}

/// Fails where GPU 0 cannot run code compiled for `chip`: PTX JIT-compiles
/// for the same or a newer GPU, an sm_XYa binary runs on sm_XY only.
llvm::Error checkChip(const CudaApi &api, const std::string &chip) {
  std::optional<GPUChip> wanted = parseGPUChip(chip);
  if (!wanted)
    return llvm::Error::success();
  R2QCudaDeviceInfo info{};
  if (api.deviceInfo(0, &info) != 0)
    return cudaError(api);
  int version = info.computeCapabilityMajor * 10 + info.computeCapabilityMinor;
  if (version >= wanted->capability &&
      (!wanted->archSpecific || version == wanted->capability))
    return llvm::Error::success();
  return llvm::createStringError("the kernels are compiled for " + chip +
                                 " and GPU 0 (" + info.name + ") is sm_" +
                                 std::to_string(version) +
                                 ": compile with r2q-gpu-pipeline{chip=sm_" +
                                 std::to_string(version) + "}");
}

} // namespace

std::string cudaRuntimeLibrary() {
  // Beside the extension (a wheel installs it there), else where this build
  // made it.
  Dl_info extension;
  if (dladdr(reinterpret_cast<void *>(&cudaRuntimeLibrary), &extension) &&
      extension.dli_fname) {
    llvm::SmallString<256> beside(
        llvm::sys::path::parent_path(extension.dli_fname));
    llvm::sys::path::append(beside, "libr2q_cuda_runtime.so");
    if (llvm::sys::fs::exists(beside))
      return beside.str().str();
  }
  return R2Q_CUDA_RUNTIME_LIBRARY;
}

bool gpuLibraryLoads() { return cudaApi().loadError.empty(); }

std::string gpuChip() {
  if (!gpuUnavailableReason().empty())
    return "";
  R2QCudaDeviceInfo info{};
  if (cudaApi().deviceInfo(0, &info) != 0)
    return "";
  return "sm_" + std::to_string(info.computeCapabilityMajor * 10 +
                                info.computeCapabilityMinor);
}

std::string gpuUnavailableReason() {
  const CudaApi &api = cudaApi();
  if (!api.loadError.empty())
    return api.loadError;
  const char *reason = api.unavailableReason();
  return reason ? reason : "";
}

llvm::Expected<std::vector<HostResult>>
callOnDevice(JitModule &module, const std::string &entry,
             const std::string &chip, const std::vector<InputBuffer> &inputs,
             const std::vector<int> &resultRanks) {
  if (std::string reason = gpuUnavailableReason(); !reason.empty())
    return llvm::createStringError(reason);
  const CudaApi &api = cudaApi();
  if (llvm::Error error = checkChip(api, chip))
    return std::move(error);
  DeviceInputs deviceInputs(api);
  if (llvm::Error error = deviceInputs.copy(inputs))
    return std::move(error);
  auto returned =
      callEntry(module, entry, deviceInputs.onDevice(), resultRanks);
  if (!returned)
    return returned.takeError();
  llvm::scope_exit freeResults([&] {
    for (const ReturnedBuffer &buffer : *returned)
      if (buffer.owned)
        api.free(buffer.allocated);
  });
  std::vector<HostResult> results;
  for (const ReturnedBuffer &buffer : *returned) {
    auto result = copyToHost(api, buffer);
    if (!result)
      return result.takeError();
    results.push_back(std::move(*result));
  }
  return results;
}

} // namespace r2q::python
