//===- QuantizeLinear.cpp - Float linear layers to r2q --------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"
#include "r2q/Dialect/R2Q/Transforms/LinearLayers.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Quant/Reference.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Regex.h"

namespace r2q {
#define GEN_PASS_DEF_R2QQUANTIZELINEARPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Sign planes and scales of one weight, as SSA values.
struct QuantizedWeight {
  Value signs;
  Value scales;
};

/// A resource key derived from a layer name: letters, digits, '_' and '.'.
std::string blobPrefix(StringRef layerName) {
  std::string name;
  for (char c : layerName)
    name.push_back(llvm::isAlnum(c) || c == '.' ? c : '_');
  return name;
}

/// The N x K weight of a constant source as floats: the constant's own data
/// when it is stored N x K, a transposed copy when it is K x N.
quant::Status loadRowMajorWeight(const WeightSource &source,
                                 std::vector<float> &storage,
                                 quant::MatrixView &view) {
  auto constant = source.value.getDefiningOp<arith::ConstantOp>();
  auto attr = cast<ElementsAttr>(constant.getValue());
  quant::MatrixView raw;
  if (quant::Status status = viewConstantWeight(attr, storage, raw); !status)
    return status;
  if (!source.transposed) {
    view = raw;
    return quant::Status::success();
  }
  std::vector<float> transposed(raw.rows * raw.cols);
  for (int64_t row = 0; row < raw.rows; ++row)
    for (int64_t col = 0; col < raw.cols; ++col)
      transposed[col * raw.rows + row] = raw.at(row, col);
  storage = std::move(transposed);
  view = quant::MatrixView::ofFloats(storage.data(), raw.cols, raw.rows);
  return quant::Status::success();
}

/// Erases the ops of `candidates` that are trivially dead, then the producers
/// of their operands that become so: the float weights and the transposes,
/// casts and fills that fed them to the replaced contractions.
void eraseDeadProducers(RewriterBase &rewriter,
                        ArrayRef<Operation *> candidates) {
  llvm::SetVector<Operation *> worklist(candidates.begin(), candidates.end());
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *producer = operand.getDefiningOp())
        worklist.insert(producer);
    rewriter.eraseOp(op);
  }
}

class QuantizeLinearPass
    : public impl::R2QQuantizeLinearPassBase<QuantizeLinearPass> {
public:
  using Base::Base;

  LogicalResult initialize(MLIRContext *context) override;
  void runOnOperation() override;

private:
  /// Rewrites the linear layers of one function; fails if one of them has
  /// weights that cannot be quantized (the error is emitted).
  LogicalResult quantizeFunction(mlir::FunctionOpInterface function);

  /// Whether the options select this layer; emits a remark when they don't.
  bool isSelected(const LinearLayer &layer, StringRef name) const;

  FailureOr<QuantizedWeight> quantizeWeight(RewriterBase &rewriter,
                                            const LinearLayer &layer,
                                            StringRef name);
  FailureOr<QuantizedWeight> foldConstantWeight(RewriterBase &rewriter,
                                                const LinearLayer &layer,
                                                StringRef name);
  QuantizedWeight quantizeAtRunTime(RewriterBase &rewriter,
                                    const LinearLayer &layer, StringRef name);

  SchemeAttr scheme;
  /// Compiled layer filters, shared by the pass's clones.
  using Regexes = std::vector<llvm::Regex>;
  std::shared_ptr<const Regexes> includeRegexes, excludeRegexes;
  /// Weights already quantized in this function, by source and orientation.
  llvm::DenseMap<std::pair<Value, unsigned>, QuantizedWeight> quantized;
};

LogicalResult QuantizeLinearPass::initialize(MLIRContext *context) {
  auto emitError = [&] {
    return mlir::emitError(UnknownLoc::get(context)) << "r2q-quantize-linear: ";
  };
  if (failed(verifyGroupSize(emitError, groupSize)) ||
      failed(verifyPlaneCount(emitError, planes)))
    return failure();
  scheme = SchemeAttr::get(context, groupSize, planes, method,
                           toMlirFloatType(context, scaleType));
  auto compile =
      [&](ArrayRef<std::string> patterns,
          std::shared_ptr<const Regexes> &compiled) -> LogicalResult {
    auto regexes = std::make_shared<Regexes>();
    for (const std::string &pattern : patterns) {
      llvm::Regex regex(pattern);
      std::string why;
      if (!regex.isValid(why)) {
        emitError() << "invalid layer filter '" << pattern << "': " << why;
        return failure();
      }
      regexes->push_back(std::move(regex));
    }
    compiled = std::move(regexes);
    return success();
  };
  if (failed(compile(include, includeRegexes)) ||
      failed(compile(exclude, excludeRegexes)))
    return failure();
  return success();
}

bool QuantizeLinearPass::isSelected(const LinearLayer &layer,
                                    StringRef name) const {
  auto matchesAny = [&](const Regexes &regexes) {
    return llvm::any_of(
        regexes, [&](const llvm::Regex &regex) { return regex.match(name); });
  };
  if (!includeRegexes->empty() && !matchesAny(*includeRegexes))
    return false;
  if (matchesAny(*excludeRegexes))
    return false;
  for (Value value : {layer.weight.value, layer.activationOperand().get(),
                      layer.initOperand().get()}) {
    Type elementType = getElementTypeOrSelf(value.getType());
    if (!isSupportedFloatType(elementType)) {
      layer.op->emitRemark() << "layer '" << name << "' left in float: "
                             << "element type " << elementType
                             << " is not supported (f32, f16 and bf16 are)";
      return false;
    }
  }
  if (layer.n * layer.k < minWeights) {
    layer.op->emitRemark() << "layer '" << name
                           << "' left in float: " << layer.n * layer.k
                           << " weights, fewer than "
                           << "min-weights = " << minWeights.getValue();
    return false;
  }
  if (std::string why =
          whyNotQuantizable(layer.n, layer.k, groupSize, raggedGroups);
      !why.empty()) {
    layer.op->emitRemark() << "layer '" << name << "' left in float: " << why;
    return false;
  }
  return true;
}

FailureOr<QuantizedWeight> QuantizeLinearPass::foldConstantWeight(
    RewriterBase &rewriter, const LinearLayer &layer, StringRef name) {
  std::vector<float> storage;
  quant::MatrixView weights;
  quant::PackedWeight packed;
  quant::Scheme quantScheme = toQuantScheme(scheme);
  if (quant::Status status = loadRowMajorWeight(layer.weight, storage, weights);
      !status || !(status = quant::quantize(weights, quantScheme, packed))) {
    layer.op->emitError() << "layer '" << name << "': " << status.message();
    return failure();
  }
  if (stats) {
    std::vector<float> reconstruction(packed.rows * packed.cols);
    quant::dequantize(packed, reconstruction.data());
    quant::ErrorStats error =
        quant::measureError(weights, reconstruction.data());
    layer.op->emitRemark() << llvm::formatv(
        "layer '{0}': {1}x{2} weight, group size {3}, {4} planes, {5:f3} "
        "bits per weight, relative error {6:f4}",
        name, packed.rows, packed.cols, scheme.getGroupSize(),
        scheme.getPlanes(), quant::bitsPerWeight(quantScheme),
        error.relativeError());
  }

  auto [signs, scales] = makePackedWeightData(
      packed, scheme.getSignsType(layer.n, layer.k),
      scheme.getScalesType(layer.n, layer.k), blobPrefix(name));
  Location loc = layer.weight.value.getLoc();
  return QuantizedWeight{arith::ConstantOp::create(rewriter, loc, signs),
                         arith::ConstantOp::create(rewriter, loc, scales)};
}

QuantizedWeight QuantizeLinearPass::quantizeAtRunTime(RewriterBase &rewriter,
                                                      const LinearLayer &layer,
                                                      StringRef name) {
  if (stats)
    layer.op->emitRemark() << llvm::formatv(
        "layer '{0}': {1}x{2} weight, group size {3}, {4} planes, {5:f3} "
        "bits per weight, quantized at run time",
        name, layer.n, layer.k, scheme.getGroupSize(), scheme.getPlanes(),
        scheme.getBitsPerWeight());
  Location loc = layer.op->getLoc();
  Value weight = layer.weight.value;
  if (layer.weight.transposed) {
    auto type = cast<RankedTensorType>(weight.getType());
    Value init = tensor::EmptyOp::create(
        rewriter, loc, {type.getDimSize(1), type.getDimSize(0)},
        type.getElementType());
    weight = linalg::TransposeOp::create(rewriter, loc, weight, init,
                                         ArrayRef<int64_t>{1, 0})
                 ->getResult(0);
  }
  auto quantize = QuantizeOp::create(rewriter, loc, weight, scheme);
  return QuantizedWeight{quantize.getSigns(), quantize.getScales()};
}

FailureOr<QuantizedWeight>
QuantizeLinearPass::quantizeWeight(RewriterBase &rewriter,
                                   const LinearLayer &layer, StringRef name) {
  std::pair<Value, unsigned> key{layer.weight.value, layer.weight.transposed};
  if (auto it = quantized.find(key); it != quantized.end())
    return it->second;

  // Next to the source, so the result dominates every use of the weight.
  OpBuilder::InsertionGuard guard(rewriter);
  if (Operation *producer = layer.weight.value.getDefiningOp())
    rewriter.setInsertionPointAfter(producer);
  else
    rewriter.setInsertionPointToStart(
        cast<BlockArgument>(layer.weight.value).getOwner());

  FailureOr<QuantizedWeight> result =
      layer.weight.isConstant() ? foldConstantWeight(rewriter, layer, name)
                                : quantizeAtRunTime(rewriter, layer, name);
  if (succeeded(result))
    quantized[key] = *result;
  return result;
}

void QuantizeLinearPass::runOnOperation() {
  bool failedLayer = false;
  getOperation()->walk([&](FunctionOpInterface function) {
    failedLayer |= failed(quantizeFunction(function));
  });
  if (failedLayer)
    signalPassFailure();
}

LogicalResult
QuantizeLinearPass::quantizeFunction(FunctionOpInterface function) {
  quantized.clear();
  SmallVector<linalg::LinalgOp> contractions;
  function->walk([&](linalg::LinalgOp op) {
    if (linalg::isaContractionOpInterface(op))
      contractions.push_back(op);
  });

  IRRewriter rewriter(&getContext());
  SmallVector<Operation *> maybeDead;
  bool failedLayer = false;
  for (auto [index, op] : llvm::enumerate(contractions)) {
    FailureOr<LinearLayer> layer = matchLinearLayer(op);
    if (failed(layer))
      continue;
    std::string name = getLayerName(*layer, index);
    if (!isSelected(*layer, name))
      continue;
    FailureOr<QuantizedWeight> weight = quantizeWeight(rewriter, *layer, name);
    if (failed(weight)) {
      failedLayer = true;
      continue;
    }
    for (Value operand : op->getOperands())
      if (Operation *producer = operand.getDefiningOp())
        maybeDead.push_back(producer);
    replaceWithQuantizedMatmul(rewriter, *layer, weight->signs, weight->scales,
                               groupSize);
  }
  eraseDeadProducers(rewriter, maybeDead);
  return failure(failedLayer);
}

} // namespace
} // namespace r2q
