//===- Pipelines.cpp - Named r2q pipelines --------------------------------===//

#include "r2q/Pipelines/Pipelines.h"
#include "PipelineSteps.h"
#include "r2q/Conversion/Passes.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/ConvertToLLVM/ToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/OpenMPToLLVM/ConvertOpenMPToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace r2q {

void addInputChecksAndFolding(OpPassManager &pm) {
  pm.addPass(createR2QRejectNestedModulesPass());
  // Constant data that is not what its type says is an error at the constant,
  // before anything reads it.
  pm.addPass(createR2QVerifyResourceBlobsPass());
  // Fold quantizations of constants first: only runtime weights are lowered.
  pm.addPass(createR2QFoldConstantWeightsPass());
  pm.addPass(createCanonicalizerPass());
}

void addBoundsChecks(OpPassManager &pm) {
  pm.addPass(createGenerateRuntimeVerificationPass());
  pm.addPass(arith::createIntRangeOptimizationsPass());
}

void addOneShotBufferization(OpPassManager &pm) {
  pm.addPass(createR2QReadOnlyArgumentsPass());
  bufferization::OneShotBufferizePassOptions bufferization;
  bufferization.bufferizeFunctionBoundaries = true;
  bufferization.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferization.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferization));
}

void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options) {
  addInputChecksAndFolding(pm);
  // The kernel of every r2q.matmul is chosen once, visibly, before layers of
  // one kind (and one kernel) share a function that is lowered and
  // bufferized once.
  if (!options.tune.empty()) {
    // tune=model or tune=file:PATH; anything else reaches the pass as a
    // mode, which names it in its error.
    R2QTuneTilingPassOptions tuning;
    llvm::StringRef tune = options.tune;
    tuning.mode = tune.starts_with("file:") ? "file" : tune.str();
    tuning.file = tune.drop_until([](char c) { return c == ':'; })
                      .drop_front(tune.contains(':'))
                      .str();
    tuning.targetFeatures = options.targetFeatures;
    tuning.threads = options.threads;
    pm.addPass(createR2QTuneTilingPass(tuning));
  }
  R2QSelectCPUKernelsPassOptions selection;
  selection.strategy = options.strategy;
  selection.vectorGemv = options.vectorGemv;
  selection.lutGemv = options.lutGemv;
  selection.precision = options.precision;
  selection.targetFeatures = options.targetFeatures;
  selection.vectorWidth = options.vectorWidth;
  selection.threads = options.threads;
  pm.addPass(createR2QSelectCPUKernelsPass(selection));
  // Constant lut_gemv weights in the kernel's layout, before outlining keys
  // kernels on it.
  if (options.packWeights) {
    R2QPackWeightsPassOptions packing;
    packing.maxPadding = options.packMaxPadding;
    pm.addPass(createR2QPackWeightsPass(packing));
  }
  pm.addPass(createR2QOutlineKernelsPass());
  pm.addPass(createConvertR2QToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createR2QPrepareCPULoopsPass());
  pm.addPass(createR2QLowerMLProgramGlobalsPass());

  addOneShotBufferization(pm);
  // The private buffers of parallel iterations (decoded-tile scratch) are
  // allocated once, before the loop.
  pm.addPass(createR2QHoistParallelAllocationsPass());
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // Every access is a memref or vector op on a buffer view here, before
  // views become pointer arithmetic.
  // Integer range analysis then drops the checks that loop bounds already
  // prove (most of a GPU kernel's host form, which LLVM is slow to compile
  // with them all).
  if (options.checkBounds)
    addBoundsChecks(pm);
  // The kernels' scf.forall (one iteration per thread's part, on buffers by
  // now) run on OpenMP threads: omp.parallel + omp.wsloop, libomp calls.
  pm.addPass(createForallToParallelLoopPass());
  ConvertSCFToOpenMPPassOptions openMP;
  openMP.numThreads = options.threads;
  pm.addPass(createConvertSCFToOpenMPPass(openMP));
  // It wraps each loop body in a memref.alloca_scope, which must hold a
  // single block: inline the scopes (they hold no alloca) before the body's
  // loops become blocks.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createR2QExpandShapesToReinterpretCastsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // With pattern rollback, splitting a block at each lowered loop costs in
  // proportion to the rest of the block: quadratic in the size of a function
  // (800 layers in one function: 1.5-2 s for this pass, 0.2-0.3 s without).
  SCFToControlFlowPassOptions scfToCF;
  scfToCF.allowPatternRollback = false;
  pm.addPass(createSCFToControlFlowPass(scfToCF));
  // Failed runtime checks say which on stderr, not on a buffered stdout.
  pm.addPass(createR2QReportFailedAssertsPass());
  if (options.cInterface)
    pm.addPass(createR2QEmitCInterfacePass());
  // Math ops with an LLVM intrinsic become intrinsics; the rest (erf, which
  // exact GELU needs) become libm calls.
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  // Vector transfers become plain loads; bitcasts to i1 masks stay bitcasts.
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createR2QVerifyLLVMContractPass());
}

int64_t hostVectorWidth() { return cpuVectorWidth(); }

void registerR2QPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "r2q-cpu-pipeline",
      "Lower r2q and linalg-on-tensors IR to the LLVM dialect for the host "
      "CPU (runs under mlir-runner and r2q's JIT)",
      buildCPUPipeline);
  PassPipelineRegistration<GPUPipelineOptions>(
      "r2q-gpu-pipeline",
      "Lower r2q and linalg-on-tensors IR to host LLVM dialect code that "
      "launches NVVM kernels from an embedded cubin/PTX binary (runs with "
      "libr2q_cuda_runtime)",
      buildGPUPipeline);
}

} // namespace r2q
