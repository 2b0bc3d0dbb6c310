//===- PackWeights.cpp - Constant weights in the row-interleaved layout
//----===//
//
// The packing step after quantization: the constant sign planes and scales
// of every lut_gemv or byte_lut_gemv r2q.matmul are rewritten into the
// row-interleaved layout (r2q/Quant/InterleavedWeight.h, docs/format.md),
// and the op's kernel says so. Runtime weights keep the canonical layout.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Quant/InterleavedWeight.h"

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
  int64_t k = op.getInput().getType().getShape().back();
  return RankedTensorType::get(
      {signs.getDimSize(0), quant::interleavedBlocks(op.getOutputFeatures()),
       quant::interleavedBlockBytes(k)},
      signs.getElementType());
}

/// The type of `op`'s scales in the row-interleaved layout.
RankedTensorType packedScalesType(MatmulOp op) {
  RankedTensorType scales = op.getScales().getType();
  return RankedTensorType::get(
      {scales.getDimSize(0), quant::interleavedBlocks(op.getOutputFeatures()),
       quant::kInterleavedBlockRows * scales.getDimSize(2)},
      scales.getElementType());
}

} // namespace

bool canPackRowInterleaved(MatmulOp op, double maxPadding) {
  if (!matchPattern(op.getSigns(), m_Constant()) ||
      !matchPattern(op.getScales(), m_Constant()))
    return false;
  KernelAttr kernel = op.getKernelAttr();
  if (kernel && kernel.getLayout() != KernelLayout::Canonical)
    return false;
  auto signs = cast<RankedTensorType>(op.getSigns().getType());
  return signs.hasStaticShape() && op.getScales().getType().hasStaticShape() &&
         packedSignsType(op).getNumElements() <=
             (1.0 + maxPadding) * signs.getNumElements();
}

namespace {

/// Whether `op`'s kernel reads the row-interleaved layout (lut_gemv,
/// byte_lut_gemv) and its canonical constant weight can be packed.
bool isPackable(MatmulOp op, double maxPadding) {
  KernelAttr kernel = op.getKernelAttr();
  return kernel && takesLayout(kernel.getStrategy()) &&
         canPackRowInterleaved(op, maxPadding);
}

/// The constant that defines one of `op`'s operands, and its bytes.
struct ConstantBytes {
  ElementsAttr attr;
  std::vector<uint8_t> bytes;
};

/// The bytes of a constant (dense, splat or dense_resource) of integers or
/// floats, or nullopt when they cannot be read (the error is reported at
/// `op`).
std::optional<std::vector<uint8_t>> readConstantBytes(MatmulOp op,
                                                      ElementsAttr constant) {
  if (failed(verifyResourceBlob(constant, [&] { return op.emitOpError(); })))
    return std::nullopt;
  auto type = cast<ShapedType>(constant.getType());
  if (auto dense = dyn_cast<DenseElementsAttr>(constant);
      dense && dense.isSplat()) {
    APInt bits = isa<FloatType>(type.getElementType())
                     ? dense.getSplatValue<APFloat>().bitcastToAPInt()
                     : dense.getSplatValue<APInt>();
    size_t width = type.getElementTypeBitWidth() / 8;
    std::vector<uint8_t> bytes(type.getNumElements() * width);
    for (size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<uint8_t>(
          bits.extractBitsAsZExtValue(8, static_cast<unsigned>(i % width) * 8));
    return bytes;
  }
  std::optional<ArrayRef<char>> data = getContiguousData(constant);
  if (!data) {
    op.emitOpError("r2q-pack-weights: a constant operand cannot be read");
    return std::nullopt;
  }
  return std::vector<uint8_t>(data->begin(), data->end());
}

/// The constant `operand` of `op` (isPackable checked it is one) and its
/// bytes, or failure (reported at `op`).
FailureOr<ConstantBytes> readConstantOperand(MatmulOp op, Value operand) {
  ElementsAttr attr;
  matchPattern(operand, m_Constant(&attr));
  std::optional<std::vector<uint8_t>> bytes = readConstantBytes(op, attr);
  if (!bytes)
    return failure();
  return ConstantBytes{attr, std::move(*bytes)};
}

/// The blob name of the packed copy of `constant` (`fallback` when it is
/// not a resource).
std::string packedBlobName(ElementsAttr constant, StringRef fallback) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(constant))
    return resource.getRawHandle().getKey().str() + "_row_interleaved";
  return fallback.str();
}

/// An arith.constant of `type` holding `bytes`, next to the constant that
/// defines `canonical`.
Value createConstant(MatmulOp op, Value canonical, RankedTensorType type,
                     const std::vector<uint8_t> &bytes, StringRef blobName) {
  ElementsAttr data = makeConstantData(
      type,
      ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()),
                     bytes.size()),
      blobName);
  OpBuilder builder(op.getContext());
  if (Operation *constant = canonical.getDefiningOp())
    builder.setInsertionPointAfter(constant);
  else
    builder.setInsertionPoint(op);
  return arith::ConstantOp::create(builder, op.getLoc(), cast<TypedAttr>(data))
      .getResult();
}

/// `op`'s constant signs in the row-interleaved layout.
FailureOr<Value> createPackedSigns(MatmulOp op) {
  FailureOr<ConstantBytes> signs = readConstantOperand(op, op.getSigns());
  if (failed(signs))
    return failure();
  RankedTensorType type = packedSignsType(op);
  std::vector<uint8_t> interleaved = quant::interleaveSignRows(
      signs->bytes, static_cast<int>(type.getDimSize(0)),
      op.getOutputFeatures(), op.getInput().getType().getShape().back());
  return createConstant(
      op, op.getSigns(), type, interleaved,
      packedBlobName(signs->attr, "r2q_signs_row_interleaved"));
}

/// `op`'s constant scales in the row-interleaved layout.
FailureOr<Value> createPackedScales(MatmulOp op) {
  FailureOr<ConstantBytes> scales = readConstantOperand(op, op.getScales());
  if (failed(scales))
    return failure();
  RankedTensorType canonical = op.getScales().getType();
  std::vector<uint8_t> interleaved = quant::interleaveScaleRows(
      scales->bytes, canonical.getElementTypeBitWidth() / 8,
      static_cast<int>(canonical.getDimSize(0)), canonical.getDimSize(1),
      canonical.getDimSize(2), op.getGroupSize());
  return createConstant(
      op, op.getScales(), packedScalesType(op), interleaved,
      packedBlobName(scales->attr, "r2q_scales_row_interleaved"));
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
    for (Value canonical : canonicalConstants)
      if (Operation *constant = canonical.getDefiningOp();
          constant && constant->use_empty())
        constant->erase();
  }

private:
  /// Points `op` at the packed copies of its signs and scales (made once
  /// per constant and group size) and sets its kernel's layout.
  LogicalResult pack(MatmulOp op) {
    FailureOr<Value> signs = packedCopy(op, op.getSigns(), createPackedSigns);
    if (failed(signs))
      return failure();
    FailureOr<Value> scales =
        packedCopy(op, op.getScales(), createPackedScales);
    if (failed(scales))
      return failure();
    op.getSignsMutable().assign(*signs);
    op.getScalesMutable().assign(*scales);
    op.setKernelAttr(
        op.getKernelAttr().withLayout(KernelLayout::RowInterleaved));
    return success();
  }

  FailureOr<Value> packedCopy(MatmulOp op, Value canonical,
                              FailureOr<Value> (*create)(MatmulOp)) {
    Value &packed = packedConstants[{canonical, op.getGroupSize()}];
    if (packed)
      return packed;
    FailureOr<Value> created = create(op);
    if (failed(created))
      return failure();
    canonicalConstants.push_back(canonical);
    return packed = *created;
  }

  /// Packed copies by canonical constant and group size (the scales' layout
  /// depends on it).
  DenseMap<std::pair<Value, int64_t>, Value> packedConstants;
  SmallVector<Value> canonicalConstants;
};

} // namespace
} // namespace r2q
