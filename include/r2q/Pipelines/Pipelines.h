//===- Pipelines.h - Named r2q pipelines ------------------------*- C++ -*-===//
//
// Pipelines take option structs and end with a pass that checks what they
// promise the next stage.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PIPELINES_PIPELINES_H
#define R2Q_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir {
class DialectRegistry;
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
  // Forwarded to r2q-select-cpu-kernels (R2QSelectCPUKernelsPassOptions).
  Option<std::string> strategy{
      *this, "strategy",
      llvm::cl::desc("Kernel strategy of every r2q.matmul without a kernel "
                     "attribute: auto (by rows and target), fused_decode, "
                     "tiled_decode, vector_gemv, lut_gemv, or warp_gemv / "
                     "warp_lut_gemv / mma_gemm / wgmma_gemm / byte_lut_gemv "
                     "(the GPU "
                     "kernels' loop nests, run on the host: for tests)"),
      llvm::cl::init("auto")};
  Option<bool> vectorGemv{
      *this, "vector-gemv",
      llvm::cl::desc("With strategy=auto, compute r2q.matmul with at most 2 "
                     "activation rows straight from the sign bits with "
                     "vector code (vector_gemv); false: fused_decode"),
      llvm::cl::init(true)};
  Option<bool> lutGemv{
      *this, "lut-gemv",
      llvm::cl::desc("With strategy=auto, compute r2q.matmul of a static "
                     "batch of 1-8 rows by table lookup (lut_gemv) on a "
                     "target with AVX2; false: never"),
      llvm::cl::init(true)};
  Option<std::string> precision{
      *this, "precision",
      llvm::cl::desc("exact (default), or fast: lut_gemv's int8 tables for "
                     "1-8 rows and int8_gemm for more (int8 activations, "
                     "lossy: the bounds are in docs/rationale.md)"),
      llvm::cl::init("exact")};
  Option<bool> packWeights{
      *this, "pack-weights",
      llvm::cl::desc("Store the constant sign planes and scales of lut_gemv "
                     "layers in its row-interleaved layout "
                     "(r2q-pack-weights); false: the canonical layout, "
                     "transposed and gathered in registers"),
      llvm::cl::init(true)};
  Option<double> packMaxPadding{
      *this, "pack-max-padding",
      llvm::cl::desc("r2q-pack-weights' max-padding: pack only where the "
                     "packed signs are at most this fraction larger than the "
                     "canonical ones"),
      llvm::cl::init(0.125)};
  Option<std::string> targetFeatures{
      *this, "target-features",
      llvm::cl::desc("LLVM target features the kernels are chosen for (e.g. "
                     "+avx2,+fma); empty: the host CPU's"),
      llvm::cl::init("")};
  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per step of the vector GEMV; 0 (default): "
                     "two registers of the target, 32 with AVX-512, 16 with "
                     "AVX2"),
      llvm::cl::init(0)};
  // r2q-tune-tiling before the selection (docs/tuning.md).
  Option<std::string> tune{
      *this, "tune",
      llvm::cl::desc("Kernel and tiles of each r2q.matmul with a static "
                     "shape: empty (default: r2q-select-cpu-kernels' rule), "
                     "model (r2q-tune-tiling's cost model) or file:PATH (a "
                     "tuning file written by r2q-bench-tiling)"),
      llvm::cl::init("")};
  Option<int64_t> threads{
      *this, "threads",
      llvm::cl::desc("Threads the compiled code runs on (OpenMP; libomp "
                     "must be loaded); 0 (default): all hardware threads of "
                     "the host; 1: no parallel loops"),
      llvm::cl::init(0)};
  Option<bool> checkBounds{
      *this, "check-bounds",
      llvm::cl::desc("Check at run time that every memory access of the "
                     "compiled code (memref and vector loads and stores, "
                     "views) stays within its buffer, and abort with the "
                     "access's location if not; for debugging and tests "
                     "(docs/reliability.md)"),
      llvm::cl::init(false)};
};

/// r2q ops and linalg on tensors -> LLVM dialect for the host CPU:
/// r2q-verify-resource-blobs, r2q-fold-constant-weights (constant weights of
/// any size are quantized here), r2q-tune-tiling (with tune=...),
/// r2q-select-cpu-kernels, r2q-pack-weights (unless pack-weights=false),
/// r2q-outline-kernels,
/// convert-r2q-to-linalg, r2q-prepare-cpu-loops, one-shot bufferization
/// with identity-layout function boundaries, r2q-hoist-parallel-allocations,
/// buffer deallocation, linalg to
/// loops, with check-bounds generate-runtime-verification and
/// int-range-optimizations, parallel loops to OpenMP, branches,
/// r2q-report-failed-asserts, and the conversions to LLVM, ending with
/// r2q-verify-llvm-contract.
void buildCPUPipeline(mlir::OpPassManager &pm,
                      const CPUPipelineOptions &options);

struct GPUPipelineOptions
    : public mlir::PassPipelineOptions<GPUPipelineOptions> {
  Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("NVIDIA GPU the kernels are compiled for: sm_80, sm_90, "
                     "sm_90a, ... (default sm_90; below sm_80, no tensor-core "
                     "kernel)"),
      llvm::cl::init("sm_90")};
  Option<std::string> cubinFeatures{
      *this, "cubin-features",
      llvm::cl::desc("PTX features (default +ptx80, the least sm_90 takes)"),
      llvm::cl::init("+ptx80")};
  Option<std::string> cubinFormat{
      *this, "cubin-format",
      llvm::cl::desc("What the gpu.binary holds: fatbin (default: cubin and "
                     "PTX), bin (cubin), isa (PTX text, needs no ptxas) or "
                     "offload (LLVM IR)"),
      llvm::cl::init("fatbin")};
  Option<int> optLevel{
      *this, "opt-level",
      llvm::cl::desc("Optimization level of the NVVM/PTX compilation"),
      llvm::cl::init(3)};
  // Forwarded to r2q-select-gpu-kernels.
  Option<std::string> strategy{
      *this, "strategy",
      llvm::cl::desc("Kernel of every r2q.matmul without one: auto "
                     "(byte_lut_gemv: tables of sign bytes, for one row "
                     "and a constant weight; warp_lut_gemv: tables of "
                     "nibbles, below 16 rows; mma_gemm: f16 tensor cores, "
                     "from 16 rows on), byte_lut_gemv, warp_lut_gemv, "
                     "mma_gemm, wgmma_gemm (mma_gemm on sm_90a's wgmma) or "
                     "warp_gemv (sign flips by xor)"),
      llvm::cl::init("auto")};
  Option<std::string> precision{
      *this, "precision",
      llvm::cl::desc("fast (default: with strategy=auto, mma_gemm from 16 "
                     "rows on, rounding to f16) or exact (the f32 warp "
                     "kernels at every batch)"),
      llvm::cl::init("fast")};
  Option<int64_t> tileRows{
      *this, "tile-rows",
      llvm::cl::desc("Output features per warp; 0 (default): the kernel "
                     "strategy's own"),
      llvm::cl::init(0)};
  Option<bool> cInterface{
      *this, "c-interface",
      llvm::cl::desc("Give public functions _mlir_ciface_ wrappers that take "
                     "memref descriptors by pointer"),
      llvm::cl::init(true)};
  Option<bool> checkBounds{
      *this, "check-bounds",
      llvm::cl::desc("Check at run time that every memory access (memref "
                     "and vector loads and stores, views) stays within its "
                     "buffer: in the kernels, where a failed check stops "
                     "the kernel with CUDA's device assert naming the "
                     "access, and in the host code, where it writes the "
                     "access to stderr and aborts (docs/reliability.md)"),
      llvm::cl::init(false)};
};

/// r2q ops and linalg on tensors -> host LLVM dialect and a gpu.binary of
/// NVVM kernels: the CPU pipeline's checks and constant folding,
/// r2q-select-gpu-kernels, convert-r2q-to-linalg with gpu.launch kernels,
/// bufferization, the remaining linalg ops as parallel loops mapped to GPU
/// blocks, r2q-gpu-host-buffers, kernel outlining and upstream's lowering to
/// NVVM, PTX and cubin (gpu-lower-to-nvvm-pipeline).
void buildGPUPipeline(mlir::OpPassManager &pm,
                      const GPUPipelineOptions &options);

/// The vector GEMV width the pipeline uses for the host CPU by default: two
/// vector registers of f32 (cpuVectorWidth of the host).
int64_t hostVectorWidth();

/// Registers r2q-cpu-pipeline and r2q-gpu-pipeline.
void registerR2QPipelines();

/// The runtime checks of check-bounds: upstream's for memref accesses and
/// views, r2q's for the vector dialect's loads, stores and transfers, which
/// upstream does not check (generate-runtime-verification uses both).
void registerBoundsChecks(mlir::DialectRegistry &registry);

} // namespace r2q

#endif // R2Q_PIPELINES_PIPELINES_H
