//===- BoundsChecks.cpp - Runtime bounds checks of vector accesses --------===//
//
// Upstream's generate-runtime-verification checks memref.load and
// memref.store, subviews and casts; nothing checks the vector dialect's
// accesses, which are most of r2q's kernels' reads. These models check
// them: every element a vector.load, vector.store, masked load or store, or
// in-bounds dimension of a transfer reads or writes must lie in its memref.
// Out-of-bounds vector accesses are left to the target by the vector
// dialect; on the host they read whatever follows the buffer, which is
// wrong numbers when it is mapped and a fault when it is not.
//
//===----------------------------------------------------------------------===//

#include "r2q/Pipelines/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/RuntimeOpVerification.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/RuntimeVerifiableOpInterface.h"

using namespace mlir;

namespace r2q {
namespace {

using ErrorMessage = llvm::function_ref<std::string(Operation *, StringRef)>;

/// The lanes of a 1-D `mask` up to its last set one (0 if none is set): the
/// extent of a masked access along its vector dimension.
Value maskedExtent(OpBuilder &b, Location loc, Value mask) {
  auto maskType = cast<VectorType>(mask.getType());
  int64_t lanes = maskType.getNumElements();
  auto indexVector = VectorType::get({lanes}, b.getIndexType());
  Value lanePlusOne = arith::AddIOp::create(
      b, loc, vector::StepOp::create(b, loc, indexVector),
      arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(indexVector, b.getIndexAttr(1))));
  Value zeros = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(indexVector, b.getIndexAttr(0)));
  Value flatMask = vector::ShapeCastOp::create(
      b, loc, VectorType::get({lanes}, b.getI1Type()), mask);
  Value extents = arith::SelectOp::create(b, loc, flatMask, lanePlusOne, zeros);
  return vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXUI,
                                     extents);
}

/// Asserts that `index` .. `index + extent` lies in [0, dim `d` of `memref`].
/// An empty extent (a mask with no lane set) accesses nothing.
void assertInBounds(OpBuilder &b, Location loc, Operation *op, Value memref,
                    int64_t d, Value index, Value extent,
                    ErrorMessage errorMessage) {
  Value size = b.createOrFold<memref::DimOp>(loc, memref, d);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value end = b.createOrFold<arith::AddIOp>(loc, index, extent);
  Value fromZero = b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::sge,
                                                 index, zero);
  Value toSize =
      b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::sle, end, size);
  Value empty = b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::eq,
                                              extent, zero);
  Value inBounds = b.createOrFold<arith::OrIOp>(
      loc, empty, b.createOrFold<arith::AndIOp>(loc, fromZero, toSize));
  if (auto constant = getConstantIntValue(inBounds); constant && *constant)
    return;
  cf::AssertOp::create(
      b, loc, inBounds,
      errorMessage(op, "vector access out of bounds of dimension " +
                           std::to_string(d) + " of its memref"));
}

/// Checks an access of `vectorType` at `indices` of `memref` whose vector
/// dimensions are the memref's innermost (vector.load and friends): each
/// leading index within its dimension, each vector dimension's elements
/// within theirs. A 1-D `mask` limits the extent to its last set lane.
void checkMinorAccess(OpBuilder &b, Location loc, Operation *op, Value memref,
                      ValueRange indices, VectorType vectorType, Value mask,
                      ErrorMessage errorMessage) {
  int64_t rank = indices.size();
  int64_t vectorRank = vectorType.getRank();
  for (int64_t d = 0; d < rank; ++d) {
    int64_t v = d - (rank - vectorRank);
    // Which elements an n-D mask lets through is not one range per
    // dimension: only its leading indices are checked.
    if (mask && vectorRank > 1 && v >= 0)
      continue;
    Value extent;
    if (v < 0)
      extent = arith::ConstantIndexOp::create(b, loc, 1);
    else if (mask) // 1-D: v is its only dimension.
      extent = maskedExtent(b, loc, mask);
    else
      extent = arith::ConstantIndexOp::create(b, loc, vectorType.getDimSize(v));
    assertInBounds(b, loc, op, memref, d, indices[d], extent, errorMessage);
  }
}

template <typename AccessOp>
struct VectorAccessBoundsCheck
    : public RuntimeVerifiableOpInterface::ExternalModel<
          VectorAccessBoundsCheck<AccessOp>, AccessOp> {
  void generateRuntimeVerification(Operation *op, OpBuilder &b, Location loc,
                                   ErrorMessage errorMessage) const {
    auto access = cast<AccessOp>(op);
    Value mask;
    if constexpr (std::is_same_v<AccessOp, vector::MaskedLoadOp> ||
                  std::is_same_v<AccessOp, vector::MaskedStoreOp>)
      mask = access.getMask();
    checkMinorAccess(b, loc, op, access.getBase(), access.getIndices(),
                     access.getVectorType(), mask, errorMessage);
  }
};

/// A transfer's dimensions marked in bounds must be (the others are masked
/// by the op itself), whatever its permutation, and so must the memref
/// dimensions it does not transfer along. A transfer with a mask is checked
/// only along those.
template <typename TransferOp>
struct TransferBoundsCheck : public RuntimeVerifiableOpInterface::ExternalModel<
                                 TransferBoundsCheck<TransferOp>, TransferOp> {
  void generateRuntimeVerification(Operation *op, OpBuilder &b, Location loc,
                                   ErrorMessage errorMessage) const {
    auto transfer = cast<TransferOp>(op);
    if (!isa<MemRefType>(transfer.getBase().getType()))
      return;
    AffineMap map = transfer.getPermutationMap();
    bool masked = static_cast<bool>(transfer.getMask());
    llvm::SmallDenseMap<int64_t, int64_t> vectorDimOf;
    for (auto [v, result] : llvm::enumerate(map.getResults()))
      if (auto dim = dyn_cast<AffineDimExpr>(result))
        vectorDimOf[dim.getPosition()] = v;
    ValueRange indices = transfer.getIndices();
    for (int64_t d = 0, e = indices.size(); d < e; ++d) {
      auto it = vectorDimOf.find(d);
      int64_t extent = 1;
      if (it != vectorDimOf.end()) {
        if (masked || !transfer.isDimInBounds(it->second))
          continue;
        extent = transfer.getVectorType().getDimSize(it->second);
      }
      assertInBounds(b, loc, op, transfer.getBase(), d, indices[d],
                     arith::ConstantIndexOp::create(b, loc, extent),
                     errorMessage);
    }
  }
};

} // namespace

void registerBoundsChecks(DialectRegistry &registry) {
  memref::registerRuntimeVerifiableOpInterfaceExternalModels(registry);
  registry.addExtension(+[](MLIRContext *context, vector::VectorDialect *) {
    vector::LoadOp::attachInterface<VectorAccessBoundsCheck<vector::LoadOp>>(
        *context);
    vector::StoreOp::attachInterface<VectorAccessBoundsCheck<vector::StoreOp>>(
        *context);
    vector::MaskedLoadOp::attachInterface<
        VectorAccessBoundsCheck<vector::MaskedLoadOp>>(*context);
    vector::MaskedStoreOp::attachInterface<
        VectorAccessBoundsCheck<vector::MaskedStoreOp>>(*context);
    vector::TransferReadOp::attachInterface<
        TransferBoundsCheck<vector::TransferReadOp>>(*context);
    vector::TransferWriteOp::attachInterface<
        TransferBoundsCheck<vector::TransferWriteOp>>(*context);
  });
}

} // namespace r2q
