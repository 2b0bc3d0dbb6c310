//===- Pipelines.h - Named r2q pipelines ------------------------*- C++ -*-===//
//
// Pipelines take option structs and end with a pass that checks what they
// promise the next stage.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PIPELINES_PIPELINES_H
#define R2Q_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace r2q {

struct CPUPipelineOptions
    : public mlir::PassPipelineOptions<CPUPipelineOptions> {
  Option<bool> cInterface{
      *this, "c-interface",
      llvm::cl::desc("Give public functions _mlir_ciface_ wrappers that take "
                     "memref descriptors by pointer"),
      llvm::cl::init(true)};
};

/// r2q ops and linalg on tensors -> LLVM dialect for the host CPU:
/// convert-r2q-to-linalg, r2q-prepare-cpu-loops, one-shot bufferization with
/// identity-layout function boundaries, buffer deallocation, linalg to loops,
/// and the conversions to LLVM, ending with r2q-verify-llvm-contract.
void buildCPUPipeline(mlir::OpPassManager &pm,
                      const CPUPipelineOptions &options);

/// Registers r2q-cpu-pipeline.
void registerR2QPipelines();

} // namespace r2q

#endif // R2Q_PIPELINES_PIPELINES_H
