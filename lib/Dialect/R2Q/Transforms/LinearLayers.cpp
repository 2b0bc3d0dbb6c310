//===- LinearLayers.cpp - Finding linear layers in linalg IR --------------===//

#include "r2q/Dialect/R2Q/Transforms/LinearLayers.h"
#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;

namespace r2q {

namespace {

//===----------------------------------------------------------------------===//
// Tracing a weight operand to its source.
//
// `map` takes the contraction's loops to indices of the value being traced;
// each step replaces the value by its producer's operand and composes `map`
// with the producer's index mapping.
//===----------------------------------------------------------------------===//

/// A linalg op that only moves, broadcasts or widens elements: one input, one
/// init, parallel loops, a permutation on the init, and a body that yields the
/// input element, possibly through arith.extf (transpose, broadcast, casts).
bool isElementMove(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 1 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != op.getNumParallelLoops() || op.hasIndexSemantics())
    return false;
  if (!op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isPermutation() ||
      !op.getMatchingIndexingMap(op.getDpsInputOperand(0))
           .isProjectedPermutation())
    return false;
  Block *body = op.getBlock();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Value yielded = yield.getValues().front();
  if (auto extend = yielded.getDefiningOp<arith::ExtFOp>())
    yielded = extend.getIn();
  return yielded == body->getArgument(0) && body->getOperations().size() <= 2;
}

/// A reshape that only adds or drops unit dimensions. `expanded` is the
/// higher-rank side; returns for each collapsed dimension the expanded
/// dimension carrying it: its one non-unit dimension, or the first of its
/// group when all are unit (a weight with N = 1 or K = 1 keeps the loop that
/// indexes that dimension).
std::optional<SmallVector<int64_t>>
unitReshapeDims(ArrayRef<ReassociationIndices> groups,
                RankedTensorType expanded) {
  SmallVector<int64_t> carrier;
  for (const ReassociationIndices &group : groups) {
    int64_t nonUnit = -1;
    for (int64_t dim : group) {
      if (expanded.getDimSize(dim) == 1)
        continue;
      if (nonUnit != -1)
        return std::nullopt; // Two real dimensions merged: not a unit reshape.
      nonUnit = dim;
    }
    carrier.push_back(nonUnit != -1 ? nonUnit : group.front());
  }
  return carrier;
}

/// One step towards the weight's source; false when `value` is not produced
/// by an element-moving op.
bool traceOneStep(Value &value, AffineMap &map,
                  SmallVectorImpl<Operation *> &chain) {
  Operation *producer = value.getDefiningOp();
  if (!producer)
    return false;
  MLIRContext *context = map.getContext();

  if (auto cast = dyn_cast<tensor::CastOp>(producer)) {
    value = cast.getSource();
  } else if (auto expand = dyn_cast<tensor::ExpandShapeOp>(producer)) {
    // Source index i is the index of the result dimension carrying it.
    auto carrier = unitReshapeDims(expand.getReassociationIndices(),
                                   expand.getResultType());
    if (!carrier)
      return false;
    SmallVector<AffineExpr> results;
    for (int64_t dim : *carrier)
      results.push_back(map.getResult(dim));
    map = AffineMap::get(map.getNumDims(), 0, results, context);
    value = expand.getSrc();
  } else if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(producer)) {
    // Source dimensions are either unit (index 0) or carry one result index.
    RankedTensorType sourceType = collapse.getSrcType();
    auto carrier =
        unitReshapeDims(collapse.getReassociationIndices(), sourceType);
    if (!carrier)
      return false;
    SmallVector<AffineExpr> results(sourceType.getRank(),
                                    getAffineConstantExpr(0, context));
    for (auto [resultDim, sourceDim] : llvm::enumerate(*carrier))
      results[sourceDim] = map.getResult(resultDim);
    map = AffineMap::get(map.getNumDims(), 0, results, context);
    value = collapse.getSrc();
  } else if (auto linalgOp = dyn_cast<linalg::LinalgOp>(producer);
             linalgOp && isElementMove(linalgOp)) {
    AffineMap initMap =
        linalgOp.getMatchingIndexingMap(linalgOp.getDpsInitOperand(0));
    AffineMap inputMap =
        linalgOp.getMatchingIndexingMap(linalgOp.getDpsInputOperand(0));
    map = inputMap.compose(inversePermutation(initMap).compose(map));
    value = linalgOp.getDpsInputOperand(0)->get();
  } else {
    return false;
  }
  chain.push_back(producer);
  return true;
}

/// A static 2-D float tensor: the shape of every weight.
bool isMatrix(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.getRank() == 2 && type.hasStaticShape() &&
         isa<FloatType>(type.getElementType());
}

/// An argument of a function's entry block.
BlockArgument asFunctionArgument(Value value) {
  auto argument = dyn_cast<BlockArgument>(value);
  if (!argument || !argument.getOwner()->isEntryBlock() ||
      !isa<FunctionOpInterface>(argument.getOwner()->getParentOp()))
    return {};
  return argument;
}

/// Where the trace of one operand ended: the weight found, with the map from
/// the contraction's loops to its (row, column), or why there is none.
struct TracedOperand {
  std::optional<WeightSource> source;
  AffineMap map;
  std::string whyNot;
};

/// Traces input `index` of `op` back through element-moving ops and keeps
/// the furthest weight on the way: a matrix computed from constants or a
/// marked argument. The furthest, so that layers reading one constant
/// through transposes of their own share its quantization.
TracedOperand traceWeight(linalg::LinalgOp op, unsigned index,
                          const WeightRules &rules) {
  OpOperand *operand = op.getDpsInputOperand(index);
  Value value = operand->get();
  AffineMap map = op.getMatchingIndexingMap(operand);
  SmallVector<Operation *> chain;
  TracedOperand traced;
  std::string whyNotConstant;
  auto isWeight = [&](Value candidate) {
    if (!isMatrix(candidate))
      return false;
    if (BlockArgument argument = asFunctionArgument(candidate))
      return rules.isWeightArgument(argument);
    if (getCodedWeight(candidate, rules.constants))
      return true;
    return rules.constants.isConstant(candidate, &whyNotConstant);
  };
  while (true) {
    if (isWeight(value)) {
      traced.source = WeightSource{value, /*transposed=*/false, chain};
      traced.map = map;
    }
    if (!traceOneStep(value, map, chain))
      break;
  }
  if (traced.source)
    return traced;
  if (BlockArgument argument = asFunctionArgument(value))
    traced.whyNot = "argument '" + getArgumentName(argument) +
                    "' is not marked as a weight";
  else if (!whyNotConstant.empty())
    traced.whyNot = whyNotConstant;
  else
    traced.whyNot = "it is not a static 2-D float tensor";
  return traced;
}

bool mapUsesLoop(AffineMap map, unsigned loop) {
  return map.isFunctionOfDim(loop);
}

/// Checks the loop structure of a contraction whose weight is read through
/// `weightMap` (loops -> source (row, column)) and fills the layer's loops.
bool classifyLoops(linalg::LinalgOp op, AffineMap weightMap,
                   LinearLayer &layer) {
  if (op.getNumReductionLoops() != 1 || weightMap.getNumResults() != 2)
    return false;
  auto rowLoop = dyn_cast<AffineDimExpr>(weightMap.getResult(0));
  auto colLoop = dyn_cast<AffineDimExpr>(weightMap.getResult(1));
  if (!rowLoop || !colLoop || rowLoop == colLoop)
    return false;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  bool rowIsReduction =
      iterators[rowLoop.getPosition()] == utils::IteratorType::reduction;
  bool colIsReduction =
      iterators[colLoop.getPosition()] == utils::IteratorType::reduction;
  if (rowIsReduction == colIsReduction)
    return false;
  layer.weight.transposed = rowIsReduction;
  layer.kLoop = rowIsReduction ? rowLoop.getPosition() : colLoop.getPosition();
  layer.nLoop = rowIsReduction ? colLoop.getPosition() : rowLoop.getPosition();

  // x reads k but not n; y reads n but not k; every other loop is a batch or
  // row loop that both x and y read.
  AffineMap xMap = op.getMatchingIndexingMap(&layer.activationOperand());
  AffineMap yMap = op.getMatchingIndexingMap(&layer.initOperand());
  if (!xMap.isProjectedPermutation() || !yMap.isProjectedPermutation() ||
      !mapUsesLoop(xMap, layer.kLoop) || mapUsesLoop(xMap, layer.nLoop) ||
      !mapUsesLoop(yMap, layer.nLoop) || mapUsesLoop(yMap, layer.kLoop))
    return false;
  for (unsigned loop = 0; loop < op.getNumLoops(); ++loop) {
    if (loop == layer.kLoop || loop == layer.nLoop)
      continue;
    if (!mapUsesLoop(xMap, loop) || !mapUsesLoop(yMap, loop))
      return false;
  }
  return true;
}

bool hasFloatElements(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && isa<FloatType>(type.getElementType());
}

} // namespace

DequantizeOp getCodedWeight(Value value, ConstantEvaluator &constants) {
  auto dequantize = value.getDefiningOp<DequantizeOp>();
  if (!dequantize || !constants.isConstant(dequantize.getSigns()) ||
      !constants.isConstant(dequantize.getScales()))
    return nullptr;
  return dequantize;
}

bool WeightRules::isWeightArgument(BlockArgument argument) const {
  auto function = cast<FunctionOpInterface>(argument.getOwner()->getParentOp());
  if (function.getArgAttr(argument.getArgNumber(),
                          R2QDialect::getWeightArgAttrName()))
    return true;
  return llvm::is_contained(weightArguments, getArgumentName(argument));
}

std::string getArgumentName(BlockArgument argument) {
  auto function = cast<FunctionOpInterface>(argument.getOwner()->getParentOp());
  return function.getName().str() + ":arg" +
         std::to_string(argument.getArgNumber());
}

FailureOr<LinearLayer> matchLinearLayer(linalg::LinalgOp op,
                                        const WeightRules &rules,
                                        std::string *whyNot) {
  if (!op.hasPureTensorSemantics() || !linalg::isaContractionOpInterface(op))
    return failure();
  for (OpOperand &operand : op->getOpOperands())
    if (!hasFloatElements(operand.get()))
      return failure();

  // Constants before arguments, the right-hand operand before the left.
  std::optional<LinearLayer> argumentCandidate;
  std::string reasons;
  for (unsigned index : {1u, 0u}) {
    TracedOperand traced = traceWeight(op, index, rules);
    if (!traced.source) {
      reasons = "operand " + std::to_string(index) + ": " + traced.whyNot +
                (reasons.empty() ? "" : "; ") + reasons;
      continue;
    }
    LinearLayer layer;
    layer.op = op;
    layer.weightInput = index;
    layer.weight = *traced.source;
    if (!classifyLoops(op, traced.map, layer)) {
      reasons = "operand " + std::to_string(index) +
                ": its indexing does not read it as an N x K weight" +
                (reasons.empty() ? "" : "; ") + reasons;
      continue;
    }
    auto sourceType = cast<RankedTensorType>(layer.weight.value.getType());
    layer.n = sourceType.getDimSize(layer.weight.transposed ? 1 : 0);
    layer.k = sourceType.getDimSize(layer.weight.transposed ? 0 : 1);
    if (layer.weight.isConstant())
      return layer;
    if (!argumentCandidate)
      argumentCandidate = layer;
  }
  if (argumentCandidate)
    return *argumentCandidate;
  if (whyNot)
    *whyNot = "no operand is a weight (a compile-time constant, or an "
              "argument marked r2q.weight or named in weight-args); " +
              reasons;
  return failure();
}

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

namespace {

std::optional<std::string> nameInLocation(Location loc) {
  std::optional<std::string> found;
  loc->walk([&](Location inner) {
    if (auto named = dyn_cast<NameLoc>(inner)) {
      found = named.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

} // namespace

quant::Status loadWeightMatrix(const WeightSource &source,
                               ConstantEvaluator &constants,
                               std::vector<float> &storage,
                               quant::MatrixView &view) {
  quant::MatrixView raw;
  auto constant = source.value.getDefiningOp<arith::ConstantOp>();
  if (constant && isSupportedFloatType(getElementTypeOrSelf(constant))) {
    auto attr = cast<ElementsAttr>(constant.getValue());
    if (quant::Status status = viewConstantWeight(attr, storage, raw); !status)
      return status;
  } else {
    std::string error;
    FailureOr<ConstantTensor> tensor = constants.evaluate(source.value, error);
    if (failed(tensor))
      return quant::Status::failure(error);
    storage.assign(tensor->values.begin(), tensor->values.end());
    raw = quant::MatrixView::ofFloats(storage.data(), tensor->shape[0],
                                      tensor->shape[1]);
  }
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

std::string getLayerName(const LinearLayer &layer, unsigned index) {
  Operation *op = layer.op;
  if (auto name = op->getAttrOfType<StringAttr>("r2q.layer"))
    return name.str();
  if (std::optional<std::string> name = nameInLocation(op->getLoc()))
    return *name;
  Value source = layer.weight.value;
  if (auto constant = source.getDefiningOp<arith::ConstantOp>())
    if (auto resource =
            dyn_cast<DenseResourceElementsAttr>(constant.getValue()))
      return resource.getRawHandle().getKey().str();
  if (BlockArgument argument = asFunctionArgument(source))
    return getArgumentName(argument);
  auto function = op->getParentOfType<FunctionOpInterface>();
  std::string prefix = function ? function.getName().str() : "";
  return prefix + ":linear" + std::to_string(index);
}

//===----------------------------------------------------------------------===//
// Rewriting
//===----------------------------------------------------------------------===//

namespace {

/// `value` with its dimensions permuted (result dim i = input dim perm[i]),
/// or `value` itself for the identity.
Value permute(OpBuilder &builder, Location loc, Value value,
              ArrayRef<int64_t> permutation) {
  if (llvm::equal(permutation, llvm::seq<int64_t>(0, permutation.size())))
    return value;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(builder, loc, value);
  SmallVector<OpFoldResult> permutedSizes;
  for (int64_t dim : permutation)
    permutedSizes.push_back(sizes[dim]);
  Value init = tensor::EmptyOp::create(
      builder, loc, permutedSizes,
      cast<RankedTensorType>(value.getType()).getElementType());
  return linalg::TransposeOp::create(builder, loc, value, init, permutation)
      ->getResult(0);
}

/// Whether `init` is a linalg.fill of +0.0 or -0.0.
bool isZeroFilled(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  return fill && (matchPattern(fill.value(), m_AnyZeroFloat()));
}

} // namespace

Operation *replaceWithQuantizedMatmul(RewriterBase &rewriter,
                                      const LinearLayer &layer, Value signs,
                                      Value scales, int64_t groupSize,
                                      ValueRange outliers) {
  linalg::LinalgOp op = layer.op;
  Location loc = op.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);

  // The activation with K innermost; its other loops, in order, lead the
  // r2q.matmul result, followed by n.
  OpOperand &xOperand = layer.activationOperand();
  AffineMap xMap = op.getMatchingIndexingMap(&xOperand);
  SmallVector<int64_t> xPermutation;
  SmallVector<unsigned> resultLoops;
  int64_t kPosition = *xMap.getResultPosition(
      getAffineDimExpr(layer.kLoop, rewriter.getContext()));
  for (unsigned position = 0; position < xMap.getNumResults(); ++position) {
    if (static_cast<int64_t>(position) == kPosition)
      continue;
    xPermutation.push_back(position);
    resultLoops.push_back(xMap.getDimPosition(position));
  }
  xPermutation.push_back(kPosition);
  resultLoops.push_back(layer.nLoop);
  Value x = permute(rewriter, loc, xOperand.get(), xPermutation);
  // K is static in the weight; the contraction already requires the
  // activation to agree.
  auto xType = cast<RankedTensorType>(x.getType());
  if (xType.isDynamicDim(xType.getRank() - 1)) {
    SmallVector<int64_t> shape(xType.getShape());
    shape.back() = layer.k;
    x = tensor::CastOp::create(rewriter, loc, xType.clone(shape), x);
    xType = cast<RankedTensorType>(x.getType());
  }

  auto initType = cast<RankedTensorType>(layer.initOperand().get().getType());
  SmallVector<int64_t> resultShape(xType.getShape());
  resultShape.back() = layer.n;
  auto resultType =
      RankedTensorType::get(resultShape, initType.getElementType());
  auto outlier = [&](unsigned i) {
    return outliers.empty() ? Value() : outliers[i];
  };
  auto matmul = MatmulOp::create(rewriter, loc, resultType, x, signs, scales,
                                 outlier(0), outlier(1), outlier(2), groupSize,
                                 /*kernel=*/nullptr);

  // Back to the contraction's output layout.
  AffineMap yMap = op.getMatchingIndexingMap(&layer.initOperand());
  SmallVector<int64_t> yPermutation;
  for (unsigned position = 0; position < yMap.getNumResults(); ++position)
    yPermutation.push_back(
        std::distance(resultLoops.begin(),
                      llvm::find(resultLoops, yMap.getDimPosition(position))));
  Value result = permute(rewriter, loc, matmul.getResult(), yPermutation);

  Value init = layer.initOperand().get();
  if (!isZeroFilled(init))
    result = linalg::AddOp::create(rewriter, loc, ValueRange{result, init},
                                   ValueRange{init})
                 ->getResult(0);
  if (result.getType() != op->getResult(0).getType())
    result = tensor::CastOp::create(rewriter, loc, op->getResult(0).getType(),
                                    result);
  rewriter.replaceOp(op, result);
  return matmul;
}

} // namespace r2q
