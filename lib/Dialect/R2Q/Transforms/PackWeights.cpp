//===- PackWeights.cpp - Constant lut_gemv weights in the packed layout ---===//
//
// The packing step after quantization: the constant sign planes of every
// lut_gemv r2q.matmul are rewritten into the kernel's row-interleaved layout
// (r2q/Quant/InterleavedSigns.h, docs/format.md), and the op's kernel says
// so. Runtime weights keep the canonical layout.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Quant/InterleavedSigns.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

namespace r2q {
#define GEN_PASS_DEF_R2QPACKWEIGHTSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The type of `op`'s signs in the row-interleaved layout.
RankedTensorType packedSignsType(MatmulOp op) {
  auto signs = cast<RankedTensorType>(op.getSigns().getType());
  int64_t n = signs.getDimSize(1);
  int64_t k = op.getInput().getType().getShape().back();
  return RankedTensorType::get({signs.getDimSize(0),
                                quant::interleavedBlocks(n),
                                quant::interleavedBlockBytes(k)},
                               signs.getElementType());
}

/// Whether `op` is computed by lut_gemv from canonical constant signs that
/// the layout pads by at most `maxPadding` of their size.
bool isPackable(MatmulOp op, double maxPadding) {
  KernelAttr kernel = op.getKernelAttr();
  if (!kernel || kernel.getStrategy() != KernelStrategy::LutGemv ||
      kernel.getLayout() != KernelLayout::Canonical ||
      !matchPattern(op.getSigns(), m_Constant()))
    return false;
  auto signs = cast<RankedTensorType>(op.getSigns().getType());
  return signs.hasStaticShape() &&
         packedSignsType(op).getNumElements() <=
             (1.0 + maxPadding) * signs.getNumElements();
}

/// The bytes of constant signs (dense, splat or dense_resource), or nullopt
/// when they cannot be read (the error is reported at `op`).
std::optional<std::vector<uint8_t>> readSignBytes(MatmulOp op,
                                                  ElementsAttr signs) {
  if (failed(verifyResourceBlob(signs, [&] { return op.emitOpError(); })))
    return std::nullopt;
  auto type = cast<ShapedType>(signs.getType());
  if (auto dense = dyn_cast<DenseElementsAttr>(signs); dense && dense.isSplat())
    return std::vector<uint8_t>(
        type.getNumElements(),
        static_cast<uint8_t>(dense.getSplatValue<APInt>().getZExtValue()));
  std::optional<ArrayRef<char>> data = getContiguousData(signs);
  if (!data) {
    op.emitOpError("r2q-pack-weights: the constant signs cannot be read");
    return std::nullopt;
  }
  return std::vector<uint8_t>(data->begin(), data->end());
}

/// The blob name of the packed copy of `signs`.
std::string packedBlobName(ElementsAttr signs) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(signs))
    return resource.getRawHandle().getKey().str() + "_row_interleaved";
  return "r2q_signs_row_interleaved";
}

class PackWeightsPass : public impl::R2QPackWeightsPassBase<PackWeightsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    if (!(maxPadding >= 0)) {
      emitError(getOperation()->getLoc())
          << "r2q-pack-weights: max-padding must be a non-negative "
             "fraction, not "
          << maxPadding.getValue();
      return signalPassFailure();
    }
    SmallVector<MatmulOp> ops;
    getOperation()->walk([&](MatmulOp op) {
      if (isPackable(op, maxPadding))
        ops.push_back(op);
    });
    for (MatmulOp op : ops)
      if (failed(pack(op)))
        return signalPassFailure();
    for (Value signs : canonicalSigns)
      if (Operation *constant = signs.getDefiningOp();
          constant && constant->use_empty())
        constant->erase();
  }

private:
  /// Points `op` at the packed copy of its signs (made once per constant)
  /// and sets its kernel's layout.
  LogicalResult pack(MatmulOp op) {
    Value signs = op.getSigns();
    Value &packed = packedSigns[signs];
    if (!packed) {
      FailureOr<Value> created = createPackedSigns(op);
      if (failed(created))
        return failure();
      packed = *created;
      canonicalSigns.push_back(signs);
    }
    op.getSignsMutable().assign(packed);
    op.setKernelAttr(
        op.getKernelAttr().withLayout(KernelLayout::RowInterleaved));
    return success();
  }

  /// An arith.constant of `op`'s signs in the row-interleaved layout, next
  /// to the canonical one.
  static FailureOr<Value> createPackedSigns(MatmulOp op) {
    ElementsAttr signs;
    matchPattern(op.getSigns(), m_Constant(&signs));
    std::optional<std::vector<uint8_t>> bytes = readSignBytes(op, signs);
    if (!bytes)
      return failure();
    auto signsType = cast<RankedTensorType>(signs.getType());
    std::vector<uint8_t> interleaved = quant::interleaveSignRows(
        *bytes, static_cast<int>(signsType.getDimSize(0)),
        signsType.getDimSize(1), op.getInput().getType().getShape().back());
    ElementsAttr data = makeConstantData(
        packedSignsType(op),
        ArrayRef<char>(reinterpret_cast<const char *>(interleaved.data()),
                       interleaved.size()),
        packedBlobName(signs));
    OpBuilder builder(op.getContext());
    if (Operation *constant = op.getSigns().getDefiningOp())
      builder.setInsertionPointAfter(constant);
    else
      builder.setInsertionPoint(op);
    return arith::ConstantOp::create(builder, op.getLoc(),
                                     cast<TypedAttr>(data))
        .getResult();
  }

  DenseMap<Value, Value> packedSigns;
  SmallVector<Value> canonicalSigns;
};

} // namespace
} // namespace r2q
