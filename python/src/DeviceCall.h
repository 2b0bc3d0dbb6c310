//===- DeviceCall.h - Calling compiled GPU code on host buffers -*- C++ -*-===//
//
// A module lowered by r2q-gpu-pipeline takes and returns device memory (the
// calling convention in docs/gpu.md) and calls the mgpu* entry points of
// libr2q_cuda_runtime.so. r2q.compile JIT-compiles such a module with that
// library; a call copies the f32 inputs in host memory to the device, calls
// the function, and copies the results back and frees every device buffer
// (host arrays in, host arrays out), or leaves the results on the device
// (device arrays in: torch or CuPy tensors, r2q.DeviceArray). The library is
// opened with dlopen (the Python module does not link it, so it loads where
// no CUDA toolkit was found at build time), and a call first asks it whether
// a GPU can be used: without one the call fails with the library's reason.
// A CUDA error while the code runs (out of memory, a kernel's fault) is
// returned by the runtime's error scope and fails the call too.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PYTHON_DEVICECALL_H
#define R2Q_PYTHON_DEVICECALL_H

#include "JitCall.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace r2q::python {

/// The libr2q_cuda_runtime.so beside the extension module (as a wheel
/// installs it), else the one this build made, or empty when it made none
/// (no cuda.h at configure time).
std::string cudaRuntimeLibrary();

/// Why compiled GPU code cannot run in this process (no runtime library, no
/// driver, no device: the runtime's one-line reason), or empty.
std::string gpuUnavailableReason();

/// Whether the runtime library loads in this process (a GPU is not needed).
bool gpuLibraryLoads();

/// The chip of GPU 0 ("sm_86"), or empty where no GPU can be used.
std::string gpuChip();

/// A result copied to host memory, row-major.
struct HostResult {
  std::vector<float> values;
  std::vector<int64_t> shape;
};

/// What a call waits for before its kernels read a device argument (the
/// "stream" of the argument's __cuda_array_interface__): the whole device
/// (no stream given, or the ambiguous 0, or 2, the per-thread default
/// stream of whichever thread wrote it), the stream the argument was written
/// on, or nothing (stream None: the data is ready).
struct ReadyAfter {
  enum Kind { Device, Stream, Nothing } kind = Device;
  uintptr_t stream = 0;
};

/// An argument of a GPU call: a row-major f32 array in host memory (copied
/// to the device for the call) or already in device memory (passed as is,
/// after what `ready` says).
struct CallArgument {
  InputBuffer buffer;
  bool onDevice = false;
  ReadyAfter ready;
};

/// A result left in device memory: row-major f32 at `data`, in a buffer of
/// its own that freeDeviceBuffer(allocated) frees.
struct DeviceResult {
  void *allocated = nullptr;
  float *data = nullptr;
  std::vector<int64_t> shape;
};

/// Calls `_mlir_ciface_<entry>` of a module lowered by r2q-gpu-pipeline for
/// `chip` (its kernels' target, "sm_90"; empty: not known) on `arguments`,
/// and returns its results copied to the host. Host arguments are copied to
/// the device first. The kernels run after the work that wrote the device
/// arguments: on the stream it was queued on, where the arguments name one
/// (__cuda_array_interface__'s "stream") that the runtime can run on, with
/// no wait on the host before the call; else after the host synchronizes
/// the streams named (or the whole device, where an argument does not say
/// or names the per-thread default stream, which is its writer's thread's).
/// Fails, before anything runs, when no GPU can be used or GPU 0 cannot run
/// code for `chip` (loading the kernels would abort the process).
llvm::Expected<std::vector<HostResult>>
callOnDevice(JitModule &module, const std::string &entry,
             const std::string &chip,
             const std::vector<CallArgument> &arguments,
             const std::vector<int> &resultRanks);

/// callOnDevice, but the results stay in device memory: each row-major in a
/// buffer of its own (a result the code returned strided, or inside an
/// argument or another result, is copied into one).
llvm::Expected<std::vector<DeviceResult>>
callKeepingResultsOnDevice(JitModule &module, const std::string &entry,
                           const std::string &chip,
                           const std::vector<CallArgument> &arguments,
                           const std::vector<int> &resultRanks);

/// The GPU whose memory `pointer` points into, or -1 for memory the driver
/// does not know (the host's); fails where no GPU can be used.
llvm::Expected<int> deviceOfPointer(const void *pointer);

/// Destroys a module lowered by r2q-gpu-pipeline: unloads its kernels and
/// frees its constants' device copies, without aborting where the GPU's
/// context is lost (a kernel of the module faulted).
void releaseModule(std::unique_ptr<JitModule> module);

/// Gives back to the GPUs the memory that the runtime's pools hold for the
/// next calls (r2qCudaTrimMemoryPools); fails where no GPU can be used.
llvm::Error trimGpuMemoryPools();

/// Frees a DeviceResult's buffer (nothing once the driver has shut down, as
/// at exit).
void freeDeviceBuffer(void *allocated);

/// Copies `count` floats from device memory to `host`.
llvm::Error copyFromDevice(float *host, const float *device, int64_t count);

} // namespace r2q::python

#endif // R2Q_PYTHON_DEVICECALL_H
