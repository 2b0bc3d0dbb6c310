//===- Passes.h - r2q transformation passes ---------------------*- C++ -*-===//

#ifndef R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_H
#define R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_H

#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Quant/FloatFormats.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/StringMap.h"

namespace r2q {

/// r2q-pack-weights' default max-padding: pack where the row-interleaved
/// signs are at most 1/8 larger than the canonical ones. r2q-select-gpu-kernels
/// chooses byte_lut_gemv only where the GPU pipeline's packing (with this
/// default) will store its layout.
inline constexpr double kDefaultPackMaxPadding = 0.125;

#define GEN_PASS_DECL
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"

/// f32 lanes in two vector registers of a CPU with these LLVM target
/// features ("+avx512f,+avx2"; empty: the host CPU's): 32 with AVX-512, 16
/// with AVX or AVX2, 8 otherwise. r2q-select-cpu-kernels' vector width.
int64_t cpuVectorWidth(llvm::StringRef targetFeatures = "");

/// The features of a CPU named by LLVM target features ("+avx2,-fma";
/// empty: the host CPU's).
llvm::StringMap<bool> cpuTargetFeatures(llvm::StringRef targetFeatures);

/// lut_gemv's instruction set on a target: AVX-512 where it has BW, else
/// AVX2; none without AVX2.
std::optional<KernelTarget> cpuLutTarget(const llvm::StringMap<bool> &features);

/// int8_gemm's instruction set on a target: AVX-512 where it has VNNI and
/// BW (vpdpbusd on zmm), else AVX2 (vpmaddubsw and vpmaddwd); none without
/// AVX2.
std::optional<KernelTarget>
cpuInt8Target(const llvm::StringMap<bool> &features);

/// r2q-select-cpu-kernels' rule for the threads of a kernel: at most
/// `threads` (0: the host's), none with fewer than 65536 weights or without
/// a whole tile of `tileRows` features; 1 when N is dynamic.
int64_t cpuKernelThreads(int64_t n, int64_t k, int64_t tileRows,
                         int64_t threads);

/// Whether r2q-pack-weights can store `op`'s weight in the row-interleaved
/// layout: canonical constant signs and scales of static shape, whose signs
/// the layout pads by at most `maxPadding` of their size.
bool canPackRowInterleaved(MatmulOp op, double maxPadding);

/// An NVIDIA chip as r2q-gpu-pipeline's `chip` names it: sm_XY, sm_XYa or
/// sm_XYf. `capability` is XY; `archSpecific` (the a suffix) says its code
/// runs on that capability only, where other code (PTX) also runs on newer
/// GPUs.
struct GPUChip {
  int64_t capability;
  bool archSpecific;
};
std::optional<GPUChip> parseGPUChip(llvm::StringRef chip);

/// The dictionary a lowering puts on a gpu.launch for the kernel outlined
/// from it (such as nvvm.minctasm), which r2q-gpu-outline-kernels sets on
/// that kernel.
inline constexpr llvm::StringLiteral kKernelAttributesName =
    "r2q.kernel_attributes";

/// Patterns rewriting greedy r2q.quantize into r2q.residual stages.
void populateDecomposeQuantizePatterns(mlir::RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_H
