//===- GpuBlockDemo.h - The quantized block on an NVIDIA GPU ----*- C++ -*-===//

#ifndef R2Q_TOOLS_R2Q_DEMO_GPUBLOCKDEMO_H
#define R2Q_TOOLS_R2Q_DEMO_GPUBLOCKDEMO_H

#include "r2q/Runtime/HostTensor.h"

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace r2q::demo {

/// The block's output for an input (batch x hidden) on the CPU.
using CpuRun = std::function<std::vector<float>(HostTensor<float, 2> &)>;

/// Compiles the quantized block `quantized` through r2q-gpu-pipeline (PTX
/// that the driver compiles at load), runs it on the GPU for each batch of
/// `batches` on random inputs of width `hidden`, and prints its relative
/// difference from `runOnCpu` (the same block through r2q-cpu-pipeline)
/// and the median time of `repetitions` calls (inputs already on the
/// device; each call also copies the constant weights to managed memory,
/// as GPU code with constant weights does today). Where no GPU can be used (or
/// the build has no CUDA runtime library), prints why in one line instead.
/// Returns false on an error.
bool printGpuBlock(mlir::ModuleOp quantized, int64_t hidden,
                   const std::vector<int64_t> &batches, int repetitions,
                   const CpuRun &runOnCpu);

} // namespace r2q::demo

#endif // R2Q_TOOLS_R2Q_DEMO_GPUBLOCKDEMO_H
