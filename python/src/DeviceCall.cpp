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
#include <set>
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
  decltype(&r2qCudaCopyDeviceToDevice) copyDeviceToDevice = nullptr;
  decltype(&r2qCudaSynchronize) synchronize = nullptr;
  decltype(&r2qCudaStreamSynchronize) streamSynchronize = nullptr;
  decltype(&r2qCudaPointerDevice) pointerDevice = nullptr;
  decltype(&r2qCudaDeviceInfo) deviceInfo = nullptr;
  decltype(&r2qCudaBeginErrorScope) beginErrorScope = nullptr;
  decltype(&r2qCudaEndErrorScope) endErrorScope = nullptr;
  decltype(&r2qCudaBeginCallStream) beginCallStream = nullptr;
  decltype(&r2qCudaEndCallStream) endCallStream = nullptr;
  decltype(&r2qCudaTrimMemoryPools) trimMemoryPools = nullptr;
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
        !resolve(library, "r2qCudaCopyDeviceToDevice",
                 loaded.copyDeviceToDevice) ||
        !resolve(library, "r2qCudaSynchronize", loaded.synchronize) ||
        !resolve(library, "r2qCudaStreamSynchronize",
                 loaded.streamSynchronize) ||
        !resolve(library, "r2qCudaPointerDevice", loaded.pointerDevice) ||
        !resolve(library, "r2qCudaDeviceInfo", loaded.deviceInfo) ||
        !resolve(library, "r2qCudaBeginErrorScope", loaded.beginErrorScope) ||
        !resolve(library, "r2qCudaEndErrorScope", loaded.endErrorScope) ||
        !resolve(library, "r2qCudaBeginCallStream", loaded.beginCallStream) ||
        !resolve(library, "r2qCudaEndCallStream", loaded.endCallStream) ||
        !resolve(library, "r2qCudaTrimMemoryPools", loaded.trimMemoryPools))
      loaded.loadError = "r2q: " + path + " lacks the r2qCuda* entry points";
    return loaded;
  }();
  return api;
}

llvm::Error cudaError(const CudaApi &api) {
  return llvm::createStringError(api.lastError());
}

/// The runtime's error scope around lowered code: a CUDA error in it ends
/// the call, not the process. Closed by end() or, if the code throws, by
/// the destructor (a scope left open would skip every later call's GPU
/// work).
class ErrorScope {
public:
  explicit ErrorScope(const CudaApi &api) : api(api) { api.beginErrorScope(); }
  ~ErrorScope() {
    if (open)
      api.endErrorScope();
  }
  ErrorScope(const ErrorScope &) = delete;
  ErrorScope &operator=(const ErrorScope &) = delete;

  /// The first CUDA error of the code run since construction.
  llvm::Error end() {
    open = false;
    return api.endErrorScope() == 0 ? llvm::Error::success() : cudaError(api);
  }

private:
  const CudaApi &api;
  bool open = true;
};

/// The arguments of a call in device memory: device arguments as they are,
/// device copies of host ones (freed with the object), and the call ordered
/// after the work that wrote the device ones.
class DeviceInputs {
public:
  explicit DeviceInputs(const CudaApi &api) : api(api) {}
  ~DeviceInputs() {
    if (onCallersStream)
      api.endCallStream();
    for (void *pointer : copies)
      api.free(pointer);
  }

  llvm::Error prepare(const std::vector<CallArgument> &arguments) {
    for (const CallArgument &argument : arguments) {
      if (argument.onDevice) {
        buffers.push_back(argument.buffer);
        continue;
      }
      const InputBuffer &input = argument.buffer;
      int64_t count = elementCount(input.shape);
      void *device = nullptr;
      if (api.malloc(&device, std::max<int64_t>(count, 1) * sizeof(float)) != 0)
        return cudaError(api);
      copies.push_back(device);
      if (api.copyToDevice(device, input.data, count * sizeof(float)) != 0)
        return cudaError(api);
      buffers.push_back({static_cast<const float *>(device), input.shape});
    }
    return orderAfterDeviceArguments(arguments);
  }

  const std::vector<InputBuffer> &onDevice() const { return buffers; }

private:
  /// Where the device arguments written on a stream all name the same one
  /// and none needs the whole device, the lowered code called during the
  /// object's lifetime runs on that stream, queued after the work that
  /// wrote them, with no wait on the host (r2qCudaBeginCallStream; unless
  /// the runtime refuses the stream: another context's, say). Otherwise it
  /// runs on a stream of the runtime's, which does not wait for other
  /// streams: the host synchronizes the streams named first, or the whole
  /// device where an argument names none.
  llvm::Error
  orderAfterDeviceArguments(const std::vector<CallArgument> &arguments) {
    bool wholeDevice = false;
    std::set<uintptr_t> streams;
    for (const CallArgument &argument : arguments) {
      if (!argument.onDevice)
        continue;
      wholeDevice |= argument.ready.kind == ReadyAfter::Device;
      if (argument.ready.kind == ReadyAfter::Stream)
        streams.insert(argument.ready.stream);
    }
    if (wholeDevice)
      return api.synchronize() == 0 ? llvm::Error::success() : cudaError(api);
    if (streams.size() == 1 &&
        api.beginCallStream(reinterpret_cast<void *>(*streams.begin())) == 0) {
      onCallersStream = true;
      return llvm::Error::success();
    }
    for (uintptr_t stream : streams)
      if (api.streamSynchronize(reinterpret_cast<void *>(stream)) != 0)
        return cudaError(api);
    return llvm::Error::success();
  }

  const CudaApi &api;
  std::vector<void *> copies;
  std::vector<InputBuffer> buffers;
  bool onCallersStream = false;
};

/// The compiled function's results, freed (where the code allocated them)
/// with the object unless taken.
class ReturnedBuffers {
public:
  ReturnedBuffers(const CudaApi &api, std::vector<ReturnedBuffer> buffers)
      : api(api), buffers(std::move(buffers)) {}
  ~ReturnedBuffers() {
    for (ReturnedBuffer &buffer : buffers)
      if (buffer.owned)
        api.free(buffer.allocated);
  }

  std::vector<ReturnedBuffer> &all() { return buffers; }

private:
  const CudaApi &api;
  std::vector<ReturnedBuffer> buffers;
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

/// The checks before a call, the arguments put on the device, the call.
llvm::Expected<std::unique_ptr<ReturnedBuffers>>
callWithArgumentsOnDevice(const CudaApi &api, JitModule &module,
                          const std::string &entry, const std::string &chip,
                          const std::vector<CallArgument> &arguments,
                          const std::vector<int> &resultRanks) {
  if (std::string reason = gpuUnavailableReason(); !reason.empty())
    return llvm::createStringError(reason);
  if (llvm::Error error = checkChip(api, chip))
    return std::move(error);
  DeviceInputs deviceInputs(api);
  if (llvm::Error error = deviceInputs.prepare(arguments))
    return std::move(error);
  // A CUDA error in the lowered code (out of memory, a kernel that faults)
  // becomes the call's error.
  ErrorScope scope(api);
  auto returned =
      callEntry(module, entry, deviceInputs.onDevice(), resultRanks);
  llvm::Error lowered = scope.end();
  if (!returned) {
    llvm::consumeError(std::move(lowered));
    return returned.takeError();
  }
  auto buffers = std::make_unique<ReturnedBuffers>(api, std::move(*returned));
  if (lowered)
    return std::move(lowered); // The results, meaningless, are freed.
  return buffers;
}

/// `buffer` as a row-major buffer of its own on the device: itself where
/// the code allocated it so (then no longer owned by the call), else a copy
/// (on the device when it is row-major, through the host when strided).
llvm::Expected<DeviceResult> keepOnDevice(const CudaApi &api,
                                          ReturnedBuffer &buffer) {
  DeviceResult result;
  result.shape = buffer.shape;
  if (buffer.owned && buffer.isRowMajor()) {
    buffer.owned = false;
    result.allocated = buffer.allocated;
    result.data = buffer.data;
    return result;
  }
  int64_t count = buffer.elementCount();
  if (api.malloc(&result.allocated,
                 std::max<int64_t>(count, 1) * sizeof(float)) != 0)
    return cudaError(api);
  result.data = static_cast<float *>(result.allocated);
  llvm::scope_exit freeOnError([&] { api.free(result.allocated); });
  size_t bytes = count * sizeof(float);
  if (buffer.isRowMajor()) {
    if (count && (api.copyDeviceToDevice(result.data, buffer.data, bytes,
                                         nullptr) != 0 ||
                  api.synchronize() != 0))
      return cudaError(api);
  } else {
    auto staged = copyToHost(api, buffer);
    if (!staged)
      return staged.takeError();
    if (api.copyToDevice(result.data, staged->values.data(), bytes) != 0)
      return cudaError(api);
  }
  freeOnError.release();
  return result;
}

/// Calls the function and turns each of its results into a `Result` with
/// `take`; on an error the results taken so far go to `discard`.
template <typename Result>
llvm::Expected<std::vector<Result>>
callAndTake(JitModule &module, const std::string &entry,
            const std::string &chip, const std::vector<CallArgument> &arguments,
            const std::vector<int> &resultRanks,
            llvm::function_ref<llvm::Expected<Result>(const CudaApi &,
                                                      ReturnedBuffer &)>
                take,
            llvm::function_ref<void(const CudaApi &, const Result &)> discard) {
  const CudaApi &api = cudaApi();
  auto returned = callWithArgumentsOnDevice(api, module, entry, chip, arguments,
                                            resultRanks);
  if (!returned)
    return returned.takeError();
  std::vector<Result> results;
  for (ReturnedBuffer &buffer : (*returned)->all()) {
    auto result = take(api, buffer);
    if (!result) {
      for (const Result &taken : results)
        discard(api, taken);
      return result.takeError();
    }
    results.push_back(std::move(*result));
  }
  return results;
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
             const std::string &chip,
             const std::vector<CallArgument> &arguments,
             const std::vector<int> &resultRanks) {
  return callAndTake<HostResult>(
      module, entry, chip, arguments, resultRanks,
      [](const CudaApi &api, ReturnedBuffer &buffer) {
        return copyToHost(api, buffer);
      },
      [](const CudaApi &, const HostResult &) {});
}

llvm::Expected<std::vector<DeviceResult>>
callKeepingResultsOnDevice(JitModule &module, const std::string &entry,
                           const std::string &chip,
                           const std::vector<CallArgument> &arguments,
                           const std::vector<int> &resultRanks) {
  return callAndTake<DeviceResult>(
      module, entry, chip, arguments, resultRanks, keepOnDevice,
      [](const CudaApi &api, const DeviceResult &result) {
        api.free(result.allocated);
      });
}

llvm::Expected<int> deviceOfPointer(const void *pointer) {
  if (std::string reason = gpuUnavailableReason(); !reason.empty())
    return llvm::createStringError(reason);
  const CudaApi &api = cudaApi();
  int ordinal = -1;
  if (api.pointerDevice(pointer, &ordinal) != 0)
    return cudaError(api);
  return ordinal;
}

void releaseModule(std::unique_ptr<JitModule> module) {
  const CudaApi &api = cudaApi();
  if (!api.loadError.empty())
    return; // No GPU code ran: nothing to unload.
  // Its global destructors unload the kernels and free the constants'
  // copies; after a kernel's fault those calls fail as well, and would
  // abort outside a scope. The fault was raised by the call that met it.
  ErrorScope scope(api);
  module.reset();
  llvm::consumeError(scope.end());
}

llvm::Error trimGpuMemoryPools() {
  if (std::string reason = gpuUnavailableReason(); !reason.empty())
    return llvm::createStringError(reason);
  const CudaApi &api = cudaApi();
  return api.trimMemoryPools() == 0 ? llvm::Error::success() : cudaError(api);
}

void freeDeviceBuffer(void *allocated) {
  if (allocated)
    cudaApi().free(allocated);
}

llvm::Error copyFromDevice(float *host, const float *device, int64_t count) {
  const CudaApi &api = cudaApi();
  if (count && api.copyToHost(host, device, count * sizeof(float)) != 0)
    return cudaError(api);
  return llvm::Error::success();
}

} // namespace r2q::python
