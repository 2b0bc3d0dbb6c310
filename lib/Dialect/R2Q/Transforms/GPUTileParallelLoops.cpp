//===- GPUTileParallelLoops.cpp - Host parallel loops into thread blocks --===//
//
// r2q-gpu-tile-parallel-loops: every outermost scf.parallel of host code is
// tiled by 1 in each dimension but the innermost and by a block of threads
// in the innermost, so that gpu-map-parallel-loops maps the tiles to blocks
// and the iterations within a tile to threads.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUTILEPARALLELLOOPSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Whether `loop` is an outermost parallel loop of host code, without
/// reductions (convert-linalg-to-parallel-loops makes none: reduction
/// dimensions become nested scf.for loops).
bool isOutermostOnHost(scf::ParallelOp loop) {
  return loop.getNumResults() == 0 &&
         !loop->getParentOfType<scf::ParallelOp>() &&
         !loop->getParentOfType<gpu::LaunchOp>();
}

/// The iterations of `loop`'s innermost dimension per block: `blockSize`,
/// or the dimension's static trip count where that is smaller.
int64_t innermostTile(scf::ParallelOp loop, int64_t blockSize) {
  unsigned last = loop.getNumLoops() - 1;
  std::optional<int64_t> lower =
                             getConstantIntValue(loop.getLowerBound()[last]),
                         upper =
                             getConstantIntValue(loop.getUpperBound()[last]),
                         step = getConstantIntValue(loop.getStep()[last]);
  if (!lower || !upper || !step || *step < 1 || *upper <= *lower)
    return blockSize;
  return std::min<int64_t>(llvm::divideCeilSigned(*upper - *lower, *step),
                           blockSize);
}

class R2QGPUTileParallelLoopsPass
    : public impl::R2QGPUTileParallelLoopsPassBase<
          R2QGPUTileParallelLoopsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    if (blockSize < 1 || blockSize > 1024) {
      getOperation().emitError("r2q-gpu-tile-parallel-loops: block-size ")
          << static_cast<int64_t>(blockSize)
          << " is not a CUDA block size (1 to 1024 threads)";
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> loops;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (isOutermostOnHost(loop))
        loops.push_back(loop);
    });
    for (scf::ParallelOp loop : loops) {
      SmallVector<int64_t> tiles(loop.getNumLoops(), 1);
      tiles.back() = innermostTile(loop, blockSize);
      scf::tileParallelLoop(loop, tiles, /*noMinMaxBounds=*/false);
    }
  }
};

} // namespace
} // namespace r2q
