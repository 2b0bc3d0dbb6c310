//===- QuantizeLinear.cpp - Float linear layers to r2q --------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"
#include "r2q/Dialect/R2Q/Transforms/CalibrationStatistics.h"
#include "r2q/Dialect/R2Q/Transforms/LinearLayers.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Quant/Calibration.h"
#include "r2q/Quant/Reference.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
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

/// Sign planes and scales of one weight, and its outliers' offsets, columns
/// and values (none, or all three), as SSA values, with their group size.
struct QuantizedWeight {
  Value signs;
  Value scales;
  SmallVector<Value, 3> outliers;
  int64_t groupSize;
};

/// A resource key derived from a layer name: letters, digits, '_' and '.'.
std::string blobPrefix(StringRef layerName) {
  std::string name;
  for (char c : layerName)
    name.push_back(llvm::isAlnum(c) || c == '.' ? c : '_');
  return name;
}

/// Erases the ops of `candidates` that are trivially dead, then the producers
/// of their operands that become so: the float weights and the transposes,
/// casts and fills that fed them to the replaced contractions. Returns the
/// globals whose constant loads were erased.
llvm::SetVector<SymbolRefAttr>
eraseDeadProducers(RewriterBase &rewriter, ArrayRef<Operation *> candidates) {
  llvm::SetVector<Operation *> worklist(candidates.begin(), candidates.end());
  llvm::SetVector<SymbolRefAttr> loadedGlobals;
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!isOpTriviallyDead(op))
      continue;
    // Producers of the op's operands and of the values its regions use.
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (Operation *producer = operand.getDefiningOp();
            producer && !op->isAncestor(producer))
          worklist.insert(producer);
    });
    if (auto load = dyn_cast<ml_program::GlobalLoadConstOp>(op))
      loadedGlobals.insert(load.getGlobalAttr());
    rewriter.eraseOp(op);
  }
  return loadedGlobals;
}

/// Erases the private globals of `symbolTable` among `globals` that nothing
/// uses any more: float weights whose every layer was quantized.
void eraseUnusedGlobals(Operation *symbolTable,
                        ArrayRef<SymbolRefAttr> globals) {
  if (!symbolTable->hasTrait<OpTrait::SymbolTable>())
    return;
  for (SymbolRefAttr name : globals) {
    auto global = dyn_cast_if_present<ml_program::GlobalOp>(
        SymbolTable::lookupSymbolIn(symbolTable, name));
    if (global && global.isPrivate() &&
        SymbolTable::symbolKnownUseEmpty(global, symbolTable))
      global.erase();
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
  /// weights that cannot be quantized (the error is emitted). Adds the
  /// globals whose loads it erased to `loadedGlobals`.
  LogicalResult quantizeFunction(mlir::FunctionOpInterface function,
                                 llvm::SetVector<SymbolRefAttr> &loadedGlobals);

  /// The layer's own `r2q.scheme` (from -r2q-tune-group-size or the user),
  /// or the pass's.
  SchemeAttr getLayerScheme(const LinearLayer &layer) const;

  /// Whether the options select this layer; emits a remark when they don't.
  bool isSelected(const LinearLayer &layer, StringRef name) const;

  FailureOr<QuantizedWeight> quantizeWeight(RewriterBase &rewriter,
                                            const LinearLayer &layer,
                                            StringRef name);
  FailureOr<QuantizedWeight> foldConstantWeight(RewriterBase &rewriter,
                                                const LinearLayer &layer,
                                                StringRef name);
  /// Quantizes an N x K weight with the pass's scheme and outlier policy, or
  /// with f32 scales (and a warning, the same outliers) where its scales
  /// would underflow to zero in the scheme's scale type. Returns the scheme
  /// used.
  FailureOr<SchemeAttr> quantizeWithScheme(const LinearLayer &layer,
                                           StringRef name,
                                           const quant::MatrixView &weights,
                                           quant::PackedWeight &packed);
  QuantizedWeight quantizeAtRunTime(RewriterBase &rewriter,
                                    const LinearLayer &layer, StringRef name);
  /// The code of a weight that already is one (r2q.dequantize of constants),
  /// passed through unchanged.
  FailureOr<QuantizedWeight> keepCode(const LinearLayer &layer,
                                      DequantizeOp coded, StringRef name);
  /// quant::quantize, or quant::quantizeCalibrated with the layer's input
  /// statistics when the calibration file has them.
  quant::Status quantizeMatrix(const LinearLayer &layer, StringRef name,
                               const quant::MatrixView &weights,
                               const quant::Scheme &scheme,
                               quant::PackedWeight &packed);

  SchemeAttr scheme;
  /// X^T X of layer inputs (calibration=...), shared by the pass's clones.
  std::shared_ptr<const CalibrationStatistics> calibrationStatistics;
  /// Which weights of a constant weight are kept exactly (dense + sparse).
  quant::OutlierPolicy outlierPolicy;
  /// Decides which values are compile-time constants; reset per function.
  std::optional<ConstantEvaluator> constants;
  /// Compiled layer filters, shared by the pass's clones.
  using Regexes = std::vector<llvm::Regex>;
  std::shared_ptr<const Regexes> includeRegexes, excludeRegexes;
  /// Weights already quantized in this function, by source, orientation
  /// and scheme.
  llvm::DenseMap<std::tuple<Value, unsigned, Attribute>, QuantizedWeight>
      quantized;
};

LogicalResult QuantizeLinearPass::initialize(MLIRContext *context) {
  auto emitError = [&] {
    return mlir::emitError(UnknownLoc::get(context)) << "r2q-quantize-linear: ";
  };
  if (failed(verifyGroupSize(emitError, groupSize)) ||
      failed(verifyPlaneCount(emitError, planes)) ||
      failed(
          verifyOutlierOptions(emitError, outlierFraction, outlierThreshold)))
    return failure();
  outlierPolicy =
      quant::OutlierPolicy{outlierFraction, outlierThreshold, outlierType};
  if (calibrationMode != "gram" && calibrationMode != "diagonal") {
    emitError() << "calibration-mode must be gram or diagonal, not '"
                << calibrationMode << "'";
    return failure();
  }
  if (!calibration.empty()) {
    auto loaded = CalibrationStatistics::loadShared(calibration);
    if (!loaded) {
      emitError() << llvm::toString(loaded.takeError());
      return failure();
    }
    calibrationStatistics = std::move(*loaded);
  }
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

SchemeAttr QuantizeLinearPass::getLayerScheme(const LinearLayer &layer) const {
  if (auto own = layer.op->getAttrOfType<SchemeAttr>(
          R2QDialect::getLayerSchemeAttrName()))
    return own;
  return scheme;
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
  if (std::string why = whyNotQuantizable(
          layer.n, layer.k, getLayerScheme(layer).getGroupSize(), raggedGroups);
      !why.empty()) {
    layer.op->emitRemark() << "layer '" << name << "' left in float: " << why;
    return false;
  }
  return true;
}

FailureOr<SchemeAttr>
QuantizeLinearPass::quantizeWithScheme(const LinearLayer &layer, StringRef name,
                                       const quant::MatrixView &weights,
                                       quant::PackedWeight &packed) {
  SchemeAttr layerScheme = getLayerScheme(layer);
  quant::Scheme quantScheme = toQuantScheme(layerScheme);
  quantScheme.outliers = outlierPolicy;
  if (calibrationStatistics && !calibrationStatistics->contains(name))
    layer.op->emitWarning()
        << "layer '" << name << "': no calibration statistics in '"
        << calibrationStatistics->getPath() << "'; quantized without";
  if (quant::Status status =
          quantizeMatrix(layer, name, weights, quantScheme, packed);
      !status) {
    layer.op->emitError() << "layer '" << name << "': " << status.message();
    return failure();
  }
  int64_t vanished = quant::countVanishedGroups(weights, packed);
  if (vanished == 0 || quantScheme.scaleType == quant::FloatType::F32)
    return layerScheme;
  layer.op->emitWarning() << "layer '" << name << "': " << vanished
                          << " groups of non-zero weights would get all-zero "
                          << quant::floatTypeName(quantScheme.scaleType)
                          << " scales (the weights are too small for it); "
                          << "this layer uses f32 scales";
  quantScheme.scaleType = quant::FloatType::F32;
  if (quant::Status status =
          quantizeMatrix(layer, name, weights, quantScheme, packed);
      !status) {
    layer.op->emitError() << "layer '" << name << "': " << status.message();
    return failure();
  }
  return SchemeAttr::get(&getContext(), layerScheme.getGroupSize(),
                         layerScheme.getPlanes(), layerScheme.getMethod(),
                         Float32Type::get(&getContext()));
}

quant::Status QuantizeLinearPass::quantizeMatrix(
    const LinearLayer &layer, StringRef name, const quant::MatrixView &weights,
    const quant::Scheme &quantScheme, quant::PackedWeight &packed) {
  if (!calibrationStatistics || !calibrationStatistics->contains(name))
    return quant::quantize(weights, quantScheme, packed);
  llvm::Expected<LayerCalibration> statistics = calibrationStatistics->read(
      name, weights.cols, /*full=*/calibrationMode == "gram");
  if (!statistics)
    return quant::Status::failure(llvm::toString(statistics.takeError()));
  return quant::quantizeCalibrated(
      weights, quantScheme, {statistics->gram, statistics->diagonal}, packed);
}

FailureOr<QuantizedWeight> QuantizeLinearPass::foldConstantWeight(
    RewriterBase &rewriter, const LinearLayer &layer, StringRef name) {
  std::vector<float> storage;
  quant::MatrixView weights;
  if (quant::Status status =
          loadWeightMatrix(layer.weight, *constants, storage, weights);
      !status) {
    layer.op->emitError() << "layer '" << name << "': " << status.message();
    return failure();
  }
  quant::PackedWeight packed;
  FailureOr<SchemeAttr> layerScheme =
      quantizeWithScheme(layer, name, weights, packed);
  if (failed(layerScheme))
    return failure();
  if (stats) {
    std::vector<float> reconstruction(packed.rows * packed.cols);
    quant::dequantize(packed, reconstruction.data());
    quant::ErrorStats error =
        quant::measureError(weights, reconstruction.data());
    std::string outlierCount =
        outlierPolicy.enabled()
            ? llvm::formatv(", {0} outliers", packed.outliers.count()).str()
            : "";
    if (calibrationStatistics && calibrationStatistics->contains(name))
      outlierCount += ", calibrated (" + calibrationMode + ")";
    layer.op->emitRemark() << llvm::formatv(
        "layer '{0}': {1}x{2} weight, group size {3}, {4} planes, {5:f3} "
        "bits per weight{6}, relative error {7:f4}",
        name, packed.rows, packed.cols, layerScheme->getGroupSize(),
        layerScheme->getPlanes(), packed.bitsPerWeight(), outlierCount,
        error.relativeError());
  }

  std::string prefix = blobPrefix(name);
  auto [signs, scales] = makePackedWeightData(
      packed, layerScheme->getSignsType(layer.n, layer.k),
      layerScheme->getScalesType(layer.n, layer.k), prefix);
  Location loc = layer.weight.value.getLoc();
  QuantizedWeight result{arith::ConstantOp::create(rewriter, loc, signs),
                         arith::ConstantOp::create(rewriter, loc, scales),
                         {},
                         layerScheme->getGroupSize()};
  if (packed.outliers.empty())
    return result;
  OutlierData outliers =
      makeOutlierData(&getContext(), packed.outliers, packed.cols, prefix);
  for (ElementsAttr data :
       {outliers.offsets, outliers.columns, outliers.values})
    result.outliers.push_back(arith::ConstantOp::create(rewriter, loc, data));
  return result;
}

QuantizedWeight QuantizeLinearPass::quantizeAtRunTime(RewriterBase &rewriter,
                                                      const LinearLayer &layer,
                                                      StringRef name) {
  SchemeAttr layerScheme = getLayerScheme(layer);
  if (stats)
    layer.op->emitRemark() << llvm::formatv(
        "layer '{0}': {1}x{2} weight, group size {3}, {4} planes, {5:f3} "
        "bits per weight, quantized at run time",
        name, layer.n, layer.k, layerScheme.getGroupSize(),
        layerScheme.getPlanes(),
        quant::bitsPerWeight(toQuantScheme(layerScheme), layer.k));
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
  auto quantize = QuantizeOp::create(rewriter, loc, weight, layerScheme);
  return QuantizedWeight{quantize.getSigns(),
                         quantize.getScales(),
                         {},
                         layerScheme.getGroupSize()};
}

FailureOr<QuantizedWeight>
QuantizeLinearPass::keepCode(const LinearLayer &layer, DequantizeOp coded,
                             StringRef name) {
  if (layer.weight.transposed) {
    layer.op->emitError()
        << "layer '" << name
        << "': its weight is an R2Q code (r2q.dequantize) read as K x N; "
           "r2q.matmul takes codes of N x K weights";
    return failure();
  }
  int64_t codeGroupSize = coded.getGroupSize();
  if (stats)
    layer.op->emitRemark() << llvm::formatv(
        "layer '{0}': {1}x{2} weight, group size {3}, {4} planes, already an "
        "R2Q code, kept",
        name, layer.n, layer.k, codeGroupSize,
        coded.getSigns().getType().getDimSize(0));
  return QuantizedWeight{
      coded.getSigns(), coded.getScales(), {}, codeGroupSize};
}

FailureOr<QuantizedWeight>
QuantizeLinearPass::quantizeWeight(RewriterBase &rewriter,
                                   const LinearLayer &layer, StringRef name) {
  std::tuple<Value, unsigned, Attribute> key{
      layer.weight.value, layer.weight.transposed, getLayerScheme(layer)};
  if (auto it = quantized.find(key); it != quantized.end())
    return it->second;

  // Next to the source, so the result dominates every use of the weight.
  OpBuilder::InsertionGuard guard(rewriter);
  if (Operation *producer = layer.weight.value.getDefiningOp())
    rewriter.setInsertionPointAfter(producer);
  else
    rewriter.setInsertionPointToStart(
        cast<BlockArgument>(layer.weight.value).getOwner());

  if (!layer.weight.isConstant() && outlierPolicy.enabled()) {
    layer.op->emitError()
        << "layer '" << name
        << "': outliers need a compile-time constant weight, but this "
           "weight is a function argument quantized at run time; make it a "
           "constant, or quantize without outliers= and outlier-threshold=";
    return failure();
  }
  FailureOr<QuantizedWeight> result = failure();
  if (DequantizeOp coded = getCodedWeight(layer.weight.value, *constants))
    result = keepCode(layer, coded, name);
  else if (layer.weight.isConstant())
    result = foldConstantWeight(rewriter, layer, name);
  else
    result = quantizeAtRunTime(rewriter, layer, name);
  if (succeeded(result))
    quantized[key] = *result;
  return result;
}

void QuantizeLinearPass::runOnOperation() {
  bool failedLayer = false;
  llvm::SetVector<SymbolRefAttr> loadedGlobals;
  getOperation()->walk([&](FunctionOpInterface function) {
    failedLayer |= failed(quantizeFunction(function, loadedGlobals));
  });
  eraseUnusedGlobals(getOperation(), loadedGlobals.getArrayRef());
  if (failedLayer)
    signalPassFailure();
}

LogicalResult QuantizeLinearPass::quantizeFunction(
    FunctionOpInterface function,
    llvm::SetVector<SymbolRefAttr> &loadedGlobals) {
  quantized.clear();
  constants.emplace(maxFoldElements);
  WeightRules rules{*constants, weightArgs};
  SmallVector<linalg::LinalgOp> contractions;
  function->walk([&](linalg::LinalgOp op) {
    if (linalg::isaContractionOpInterface(op))
      contractions.push_back(op);
  });

  // Every layer is matched before any is rewritten, so the analysis sees the
  // function as it was.
  SmallVector<std::pair<LinearLayer, std::string>> layers;
  for (auto [index, op] : llvm::enumerate(contractions)) {
    std::string whyNot;
    FailureOr<LinearLayer> layer = matchLinearLayer(op, rules, &whyNot);
    if (failed(layer)) {
      if (!whyNot.empty())
        op->emitRemark() << "contraction left in float: " << whyNot;
      continue;
    }
    std::string name = getLayerName(*layer, index);
    if (isSelected(*layer, name))
      layers.emplace_back(*layer, std::move(name));
  }

  IRRewriter rewriter(&getContext());
  SmallVector<Operation *> maybeDead;
  bool failedLayer = false;
  for (auto &[layer, name] : layers) {
    FailureOr<QuantizedWeight> weight = quantizeWeight(rewriter, layer, name);
    if (failed(weight)) {
      failedLayer = true;
      continue;
    }
    for (Value operand : layer.op->getOperands())
      if (Operation *producer = operand.getDefiningOp())
        maybeDead.push_back(producer);
    replaceWithQuantizedMatmul(rewriter, layer, weight->signs, weight->scales,
                               weight->groupSize, weight->outliers);
  }
  loadedGlobals.insert_range(eraseDeadProducers(rewriter, maybeDead));
  constants.reset();
  return failure(failedLayer);
}

} // namespace
} // namespace r2q
