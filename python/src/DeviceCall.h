//===- DeviceCall.h - Calling compiled GPU code on host buffers -*- C++ -*-===//
//
// A module lowered by r2q-gpu-pipeline takes and returns device memory (the
// calling convention in docs/gpu.md) and calls the mgpu* entry points of
// libr2q_cuda_runtime.so. r2q.compile JIT-compiles such a module with that
// library; a call copies the f32 inputs to the device, calls the function,
// copies the results back and frees every device buffer. The library is
// opened with dlopen (the Python module does not link it, so it loads where
// no CUDA toolkit was found at build time), and a call first asks it whether
// a GPU can be used: without one the kernels' loading would abort the
// process, so the call fails with the library's reason instead.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PYTHON_DEVICECALL_H
#define R2Q_PYTHON_DEVICECALL_H

#include "JitCall.h"

#include "llvm/Support/Error.h"

#include <cstdint>
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

/// Calls `_mlir_ciface_<entry>` of a module lowered by r2q-gpu-pipeline for
/// `chip` (its kernels' target, "sm_90"; empty: not known) on device copies
/// of `inputs`, and returns its results copied to the host. Fails, before
/// anything runs, when no GPU can be used or GPU 0 cannot run code for
/// `chip` (loading the kernels would abort the process).
llvm::Expected<std::vector<HostResult>>
callOnDevice(JitModule &module, const std::string &entry,
             const std::string &chip, const std::vector<InputBuffer> &inputs,
             const std::vector<int> &resultRanks);

} // namespace r2q::python

#endif // R2Q_PYTHON_DEVICECALL_H
