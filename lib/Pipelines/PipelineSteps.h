//===- PipelineSteps.h - Steps the CPU and GPU pipelines share --*- C++ -*-===//

#ifndef R2Q_LIB_PIPELINES_PIPELINESTEPS_H
#define R2Q_LIB_PIPELINES_PIPELINESTEPS_H

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace r2q {

/// The checks of the input and the folding of constant quantizations:
/// r2q-reject-nested-modules, r2q-verify-resource-blobs,
/// r2q-fold-constant-weights, canonicalize.
void addInputChecksAndFolding(mlir::OpPassManager &pm);

/// check-bounds: generate-runtime-verification (upstream's checks of memref
/// accesses and views, r2q's of vector accesses: registerBoundsChecks),
/// then int-range-optimizations, which drops the checks that loop and
/// launch bounds prove.
void addBoundsChecks(mlir::OpPassManager &pm);

/// One-shot bufferization with identity-layout function boundaries.
void addOneShotBufferization(mlir::OpPassManager &pm);

} // namespace r2q

#endif // R2Q_LIB_PIPELINES_PIPELINESTEPS_H
