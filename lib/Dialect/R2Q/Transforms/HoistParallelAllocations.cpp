//===- HoistParallelAllocations.cpp - Scratch of parallel loops, hoisted
//---===//
//
// After bufferization a statically shaped buffer allocated in the body of an
// scf.forall is private to each iteration. Each becomes an iteration's slice
// (memref.view at its byte offset) of one buffer allocated before the loop,
// so that nothing is allocated inside the parallel region.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

namespace r2q {
#define GEN_PASS_DEF_R2QHOISTPARALLELALLOCATIONSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Each iteration's slice starts on a cache line.
constexpr int64_t kSliceAlignment = 64;

/// The iterations of a one-dimensional forall from 0 with step 1 and a
/// static bound, or nothing.
std::optional<int64_t> staticIterations(scf::ForallOp loop) {
  if (loop.getRank() != 1)
    return std::nullopt;
  std::optional<int64_t> lower =
      getConstantIntValue(loop.getMixedLowerBound()[0]);
  std::optional<int64_t> upper =
      getConstantIntValue(loop.getMixedUpperBound()[0]);
  std::optional<int64_t> step = getConstantIntValue(loop.getMixedStep()[0]);
  if (lower != 0 || step != 1 || !upper)
    return std::nullopt;
  return upper;
}

/// The bytes of `type` (static, identity layout, int or float elements)
/// rounded up to kSliceAlignment, or nothing.
std::optional<int64_t> sliceBytes(MemRefType type) {
  if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
      !type.getElementType().isIntOrFloat() ||
      type.getElementTypeBitWidth() % 8 != 0 || type.getMemorySpace())
    return std::nullopt;
  return llvm::alignTo(type.getNumElements() * type.getElementTypeBitWidth() /
                           8,
                       kSliceAlignment);
}

/// Replaces `alloc` (in the body of `loop`, of `iterations` iterations) by
/// its iteration's view of a buffer allocated before the loop.
void hoist(scf::ForallOp loop, int64_t iterations, memref::AllocOp alloc,
           int64_t bytes) {
  OpBuilder builder(loop);
  Location loc = alloc.getLoc();
  auto bufferType =
      MemRefType::get({iterations * bytes}, builder.getIntegerType(8));
  Value buffer = memref::AllocOp::create(
      builder, loc, bufferType, builder.getI64IntegerAttr(kSliceAlignment));
  builder.setInsertionPoint(alloc);
  Value offset = arith::MulIOp::create(
      builder, loc, loop.getInductionVars()[0],
      arith::ConstantIndexOp::create(builder, loc, bytes));
  Value view = memref::ViewOp::create(builder, loc, alloc.getType(), buffer,
                                      offset, ValueRange{});
  alloc.replaceAllUsesWith(view);
  alloc.erase();
}

class HoistParallelAllocationsPass
    : public impl::R2QHoistParallelAllocationsPassBase<
          HoistParallelAllocationsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    getOperation()->walk([](scf::ForallOp loop) {
      std::optional<int64_t> iterations = staticIterations(loop);
      if (!iterations || loop.getNumResults() != 0)
        return;
      for (auto alloc : llvm::make_early_inc_range(
               loop.getBody()->getOps<memref::AllocOp>())) {
        // A buffer that escapes the iteration (stored, returned) must stay.
        bool local = llvm::all_of(alloc->getUsers(), [&](Operation *user) {
          return loop->isProperAncestor(user) && !isa<memref::DeallocOp>(user);
        });
        if (std::optional<int64_t> bytes = sliceBytes(alloc.getType());
            bytes && local)
          hoist(loop, *iterations, alloc, *bytes);
      }
    });
  }
};

} // namespace
} // namespace r2q
