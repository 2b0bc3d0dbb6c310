//===- GPUPipeline.cpp - r2q-gpu-pipeline ---------------------------------===//
//
// r2q and linalg on tensors to host code that launches NVVM kernels. The
// r2q.matmul kernels come from the same target-neutral lowering as the CPU
// ones (convert-r2q-to-linalg, strategy warp_gemv as a gpu.launch); what is
// left of linalg becomes parallel loops mapped to GPU blocks; upstream's
// gpu-lower-to-nvvm-pipeline compiles the kernels to PTX and cubin.
//
//===----------------------------------------------------------------------===//

#include "PipelineSteps.h"
#include "r2q/Conversion/Passes.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Pipelines/Pipelines.h"

#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPUPass.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace r2q {
namespace {

/// Constant folding and the choice of kernels, as in the CPU pipeline.
void addFrontEnd(OpPassManager &pm, const GPUPipelineOptions &options) {
  addInputChecksAndFolding(pm);
  // A dynamic batch runs on static ones, which every GPU kernel takes.
  pm.addPass(createR2QBucketRowsPass());
  R2QSelectGPUKernelsPassOptions selection;
  selection.strategy = options.strategy;
  selection.tileRows = options.tileRows;
  selection.precision = options.precision;
  selection.chip = options.chip;
  selection.cubinFeatures = options.cubinFeatures;
  pm.addPass(createR2QSelectGPUKernelsPass(selection));
  // byte_lut_gemv's constant weights in its row-interleaved layout.
  pm.addPass(createR2QPackWeightsPass());
  ConvertR2QToLinalgPassOptions lowering;
  lowering.gpuLaunch = true;
  pm.addPass(createConvertR2QToLinalgPass(lowering));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createR2QLowerMLProgramGlobalsPass());
}

void addBufferization(OpPassManager &pm) {
  addOneShotBufferization(pm);
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
}

/// What is left of linalg (fills, element-wise ops, the outliers' sparse
/// product, strided copies) as parallel loops on GPU blocks of threads; the
/// buffers of host code in managed memory.
void addGenericKernels(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createR2QGPUStridedCopiesPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createR2QGPUTileParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addPass(createR2QGPUHostBuffersPass());
  pm.addPass(createR2QGPUWorkgroupBuffersPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createR2QGPUSinkConstantsPass());
  // Structured control flow as branches before the NVVM pipeline, whose
  // first pass (convert-nvgpu-to-nvvm) converts loop-carried values only of
  // the types it knows: it refused the WMMA fragments (!gpu.mma_matrix) an
  // earlier mma_gemm carried through scf.for. Kept as a safeguard for
  // kernels that carry other GPU types; branches are left to
  // convert-gpu-to-nvvm, which converts any.
  pm.addPass(createSCFToControlFlowPass());
}

/// Kernel outlining (upstream's NVVM pipeline, which would do it, then finds
/// nothing left to outline; ours keeps the kernel attributes the lowerings
/// asked for), then what needs outlined kernels: their shared buffers
/// declared 16-byte aligned, dynamic shared memory read through CUDA's
/// external array, and the GPU ops of
/// each block of host code (allocations, copies, launches, frees) on one
/// stream, waited for once, before the next host op with side effects or the
/// block's end, not each on a stream of its own that is created, synchronized
/// and destroyed around it; last, host checks that the buffers the kernels read
/// with wide accesses are aligned for them.
void addOutlinedKernelSteps(OpPassManager &pm) {
  pm.addPass(createR2QGPUOutlineKernelsPass());
  pm.addPass(createR2QGPUAlignWorkgroupBuffersPass());
  pm.addPass(createR2QGPUExternDynamicSharedMemoryPass());
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createR2QGPUSynchronousManagedAllocsPass());
  pm.addPass(createR2QGPUCheckAlignmentPass());
}

/// check-bounds in the host code (each func.func: the views of the caller's
/// buffers and of the batch's buckets, casts) and in the kernels (each
/// outlined gpu.module), their structured control flow as branches again.
/// A failed host check writes its message to stderr and aborts before the
/// op it guards (the next may be a launch that reads the view);
/// convert-gpu-to-nvvm lowers the kernels' to CUDA's __assertfail.
void addHostAndKernelBoundsChecks(OpPassManager &pm) {
  for (OpPassManager *scope :
       {&pm.nest<func::FuncOp>(), &pm.nest<gpu::GPUModuleOp>()}) {
    addBoundsChecks(*scope);
    scope->addPass(createSCFToControlFlowPass());
  }
  R2QReportFailedAssertsPassOptions eachWhereItStands;
  eachWhereItStands.grouped = false;
  pm.addPass(createR2QReportFailedAssertsPass(eachWhereItStands));
}

} // namespace

void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options) {
  addFrontEnd(pm, options);
  addBufferization(pm);
  addGenericKernels(pm);
  // A dynamic batch's result reshaped to its leading dimensions
  // (r2q-bucket-rows): the upstream crash the CPU pipeline avoids too.
  pm.addPass(createR2QExpandShapesToReinterpretCastsPass());
  if (options.cInterface)
    pm.addPass(createR2QEmitCInterfacePass());
  addOutlinedKernelSteps(pm);
  if (options.checkBounds)
    addHostAndKernelBoundsChecks(pm);
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  nvvm.cubinFeatures = options.cubinFeatures;
  nvvm.cubinFormat = options.cubinFormat;
  nvvm.optLevel = options.optLevel;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

} // namespace r2q
