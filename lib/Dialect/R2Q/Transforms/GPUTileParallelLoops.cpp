//===- GPUTileParallelLoops.cpp - Host parallel loops into thread blocks --===//
//
// r2q-gpu-tile-parallel-loops: every outermost scf.parallel of host code has
// its dimensions but the innermost collapsed into one, and is tiled by 1 in
// that one and by a block of threads in the innermost, so that
// gpu-map-parallel-loops maps the tiles to blocks and the iterations within
// a tile to threads.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <numeric>

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

/// `loop` with its dimensions but the innermost collapsed into one (the
/// grid's x, which takes 2^31 - 1 blocks where y and z take 65535), or
/// `loop` itself where it has at most two.
scf::ParallelOp collapseOuterDimensions(IRRewriter &rewriter,
                                        scf::ParallelOp loop) {
  unsigned dims = loop.getNumLoops();
  if (dims <= 2)
    return loop;
  std::vector<unsigned> outer(dims - 1);
  std::iota(outer.begin(), outer.end(), 0);
  Operation *next = loop->getNextNode();
  collapseParallelLoops(rewriter, loop, {outer, {dims - 1}});
  return cast<scf::ParallelOp>(next->getPrevNode());
}

/// Folds the tiles' steps (products of constants) and the inner loop's
/// bound (an affine.min of the tile and what is left) to the form
/// convert-parallel-loops-to-gpu reads a block's threads from: a constant
/// in the min's map. Only these ops: a general canonicalization would fold
/// a one-tile dimension away and merge the loops again.
void foldTileBounds(scf::ParallelOp outer, scf::ParallelOp inner) {
  SmallVector<Operation *> bounds;
  for (Value value :
       llvm::concat<Value>(outer.getStep(), inner.getUpperBound()))
    if (Operation *op = value.getDefiningOp();
        op && isa<arith::MulIOp, affine::AffineMinOp>(op))
      bounds.push_back(op);
  MLIRContext *context = outer.getContext();
  RewritePatternSet patterns(context);
  affine::AffineMinOp::getCanonicalizationPatterns(patterns, context);
  (void)applyOpPatternsGreedily(bounds, std::move(patterns));
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
    IRRewriter rewriter(&getContext());
    for (scf::ParallelOp loop : loops) {
      loop = collapseOuterDimensions(rewriter, loop);
      SmallVector<int64_t> tiles(loop.getNumLoops(), 1);
      tiles.back() = innermostTile(loop, blockSize);
      auto [outer, inner] =
          scf::tileParallelLoop(loop, tiles, /*noMinMaxBounds=*/false);
      foldTileBounds(outer, inner);
    }
  }
};

} // namespace
} // namespace r2q
