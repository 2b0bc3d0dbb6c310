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
  Option<bool> vectorGemv{
      *this, "vector-gemv",
      llvm::cl::desc("Compute r2q.matmul with at most 2 activation rows "
                     "straight from the sign bits with vector code "
                     "(convert-r2q-to-linalg{vector-gemv}); false: the "
                     "fused decode linalg.generic"),
      llvm::cl::init(true)};
  Option<bool> lutGemv{
      *this, "lut-gemv",
      llvm::cl::desc("Compute r2q.matmul of a static batch of 1-8 rows by "
                     "table lookup (convert-r2q-to-linalg{lut-gemv}) for "
                     "the host's instruction set"),
      llvm::cl::init(false)};
  Option<std::string> lutTarget{
      *this, "lut-target",
      llvm::cl::desc("With lut-gemv: avx512 (needs AVX-512 BW) or avx2 "
                     "(forcing AVX2 code on an AVX-512 host); empty "
                     "(default): avx512 on a host with AVX-512, else avx2"),
      llvm::cl::init("")};
  Option<std::string> lutPrecision{
      *this, "lut-precision",
      llvm::cl::desc("With lut-gemv: exact (f32 tables) or fast (int8 "
                     "tables, error bound in docs/rationale.md)"),
      llvm::cl::init("exact")};
  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per step of the vector GEMV; 0 (default): "
                     "two registers of the host CPU, 32 with AVX-512, 16 "
                     "otherwise"),
      llvm::cl::init(0)};
};

/// r2q ops and linalg on tensors -> LLVM dialect for the host CPU:
/// r2q-verify-resource-blobs, r2q-fold-constant-weights (constant weights of
/// any size are quantized here), convert-r2q-to-linalg (with vector GEMVs
/// unless vector-gemv=false), r2q-prepare-cpu-loops, one-shot bufferization
/// with identity-layout function boundaries, buffer deallocation, linalg to
/// loops, and the conversions to LLVM, ending with r2q-verify-llvm-contract.
void buildCPUPipeline(mlir::OpPassManager &pm,
                      const CPUPipelineOptions &options);

/// The vector GEMV width the pipeline uses for the host CPU by default: two
/// vector registers of f32 (32 lanes with AVX-512, 16 otherwise).
int64_t hostVectorWidth();

/// Registers r2q-cpu-pipeline.
void registerR2QPipelines();

} // namespace r2q

#endif // R2Q_PIPELINES_PIPELINES_H
