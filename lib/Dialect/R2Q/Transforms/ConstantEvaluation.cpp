//===- ConstantEvaluation.cpp - Tensors computed from constants -----------===//

#include "r2q/Dialect/R2Q/Transforms/ConstantEvaluation.h"
#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Quant/FloatFormats.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstring>

using namespace mlir;

namespace r2q {
namespace {

/// Producer chains longer than this are not followed (a guard against
/// hostile IR exhausting the stack, not a limit real models reach).
constexpr unsigned kMaxChainDepth = 256;

//===----------------------------------------------------------------------===//
// Element types and scalar arithmetic
//===----------------------------------------------------------------------===//

bool isKnownElementType(Type type) {
  if (auto integer = dyn_cast<IntegerType>(type))
    return integer.getWidth() <= 64;
  return type.isF16() || type.isBF16() || type.isF32() || type.isF64();
}

/// `value` as the compiled code holds it in `type`: rounded to the float
/// format, or wrapped to the integer width and sign-extended.
double representIn(Type type, double value) {
  if (type.isF32())
    return static_cast<float>(value);
  if (type.isF16())
    return quant::roundTo(quant::FloatType::F16, static_cast<float>(value));
  if (type.isBF16())
    return quant::roundTo(quant::FloatType::BF16, static_cast<float>(value));
  unsigned width = type.getIntOrFloatBitWidth();
  if (!type.isInteger() || width >= 64)
    return value;
  uint64_t bits = static_cast<uint64_t>(static_cast<int64_t>(value));
  uint64_t sign = uint64_t{1} << (width - 1);
  bits &= (sign << 1) - 1;
  return static_cast<double>(static_cast<int64_t>((bits ^ sign) - sign));
}

/// An integer read as unsigned (integers are held sign-extended).
double asUnsigned(Type type, double value) {
  unsigned width = type.getIntOrFloatBitWidth();
  return value < 0 && width < 64 ? value + std::ldexp(1.0, width) : value;
}

/// The scalar ops the evaluator runs, in linalg bodies and element-wise on
/// tensors.
enum class ScalarOp {
  ExtF,
  TruncF,
  SIToFP,
  UIToFP,
  ExtSI,
  ExtUI,
  TruncI,
  AddF,
  SubF,
  MulF,
  DivF,
  NegF,
  MaximumF,
  MinimumF,
  AddI,
  SubI,
  MulI,
};

std::optional<ScalarOp> classifyScalarOp(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<ScalarOp>>(op)
      .Case([](arith::ExtFOp) { return ScalarOp::ExtF; })
      .Case([](arith::TruncFOp) { return ScalarOp::TruncF; })
      .Case([](arith::SIToFPOp) { return ScalarOp::SIToFP; })
      .Case([](arith::UIToFPOp) { return ScalarOp::UIToFP; })
      .Case([](arith::ExtSIOp) { return ScalarOp::ExtSI; })
      .Case([](arith::ExtUIOp) { return ScalarOp::ExtUI; })
      .Case([](arith::TruncIOp) { return ScalarOp::TruncI; })
      .Case([](arith::AddFOp) { return ScalarOp::AddF; })
      .Case([](arith::SubFOp) { return ScalarOp::SubF; })
      .Case([](arith::MulFOp) { return ScalarOp::MulF; })
      .Case([](arith::DivFOp) { return ScalarOp::DivF; })
      .Case([](arith::NegFOp) { return ScalarOp::NegF; })
      .Case([](arith::MaximumFOp) { return ScalarOp::MaximumF; })
      .Case([](arith::MinimumFOp) { return ScalarOp::MinimumF; })
      .Case([](arith::AddIOp) { return ScalarOp::AddI; })
      .Case([](arith::SubIOp) { return ScalarOp::SubI; })
      .Case([](arith::MulIOp) { return ScalarOp::MulI; })
      .Default([](Operation *) { return std::nullopt; });
}

/// One scalar op with its operand and result element types.
struct ScalarInstruction {
  ScalarOp op;
  Type operandType;
  Type resultType;
  SmallVector<unsigned, 2> operands; // Slots (see ScalarProgram).
  unsigned result = 0;
};

double maximumOf(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
}
double minimumOf(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
}

double wrapInteger(Type type, int64_t value) {
  return representIn(type, static_cast<double>(value));
}

double apply(const ScalarInstruction &instruction, const double *slots) {
  double a = slots[instruction.operands[0]];
  double b =
      instruction.operands.size() > 1 ? slots[instruction.operands[1]] : 0.0;
  Type type = instruction.resultType;
  auto asInt = [](double v) { return static_cast<int64_t>(v); };
  switch (instruction.op) {
  case ScalarOp::ExtF:
  case ScalarOp::TruncF:
  case ScalarOp::SIToFP:
  case ScalarOp::ExtSI:
  case ScalarOp::TruncI:
    return representIn(type, a);
  case ScalarOp::UIToFP:
  case ScalarOp::ExtUI:
    return representIn(type, asUnsigned(instruction.operandType, a));
  case ScalarOp::AddF:
    return representIn(type, a + b);
  case ScalarOp::SubF:
    return representIn(type, a - b);
  case ScalarOp::MulF:
    return representIn(type, a * b);
  case ScalarOp::DivF:
    return representIn(type, a / b);
  case ScalarOp::NegF:
    return -a;
  case ScalarOp::MaximumF:
    return maximumOf(a, b);
  case ScalarOp::MinimumF:
    return minimumOf(a, b);
  case ScalarOp::AddI:
    return wrapInteger(type, static_cast<int64_t>(static_cast<uint64_t>(
                                 asInt(a) + static_cast<uint64_t>(asInt(b)))));
  case ScalarOp::SubI:
    return wrapInteger(type, static_cast<int64_t>(static_cast<uint64_t>(
                                 asInt(a) - static_cast<uint64_t>(asInt(b)))));
  case ScalarOp::MulI:
    return wrapInteger(type, static_cast<int64_t>(static_cast<uint64_t>(
                                 asInt(a) * static_cast<uint64_t>(asInt(b)))));
  }
  llvm_unreachable("unknown scalar op");
}

ScalarInstruction makeInstruction(Operation *op, ScalarOp kind) {
  ScalarInstruction instruction;
  instruction.op = kind;
  instruction.operandType = getElementTypeOrSelf(op->getOperand(0).getType());
  instruction.resultType = getElementTypeOrSelf(op->getResult(0).getType());
  return instruction;
}

//===----------------------------------------------------------------------===//
// Reading constant data
//===----------------------------------------------------------------------===//

int64_t elementCount(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape)
    count *= size;
  return count;
}

LogicalResult readIntegers(DenseElementsAttr dense, std::vector<double> &out) {
  for (const APInt &value : dense.getValues<APInt>())
    out.push_back(static_cast<double>(value.getSExtValue()));
  return success();
}

/// The little-endian `data` of `count` elements of `type`.
void decodeRaw(ArrayRef<char> data, Type type, int64_t count,
               std::vector<double> &out) {
  out.resize(count);
  if (std::optional<quant::FloatType> format = toQuantFloatType(type)) {
    for (int64_t i = 0; i < count; ++i)
      out[i] = quant::loadAsFloat(data.data(), *format, i);
    return;
  }
  unsigned bytes = type.getIntOrFloatBitWidth() / 8;
  for (int64_t i = 0; i < count; ++i) {
    if (type.isF64()) {
      double value;
      std::memcpy(&value, data.data() + i * 8, 8);
      out[i] = value;
      continue;
    }
    uint64_t bits = 0;
    std::memcpy(&bits, data.data() + i * bytes, bytes);
    out[i] = representIn(type, static_cast<double>(static_cast<int64_t>(bits)));
  }
}

/// Whether elements of `type` are stored one per whole number of bytes in
/// raw constant data.
bool hasByteStorage(Type type) {
  unsigned width = type.getIntOrFloatBitWidth();
  return width >= 8 && width % 8 == 0;
}

LogicalResult readElements(ElementsAttr attr, std::vector<double> &out,
                           std::string &error) {
  auto type = cast<ShapedType>(attr.getType());
  Type elementType = type.getElementType();
  int64_t count = type.getNumElements();
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (dense && dense.isSplat()) {
    double value =
        isa<FloatType>(elementType)
            ? dense.getSplatValue<APFloat>().convertToDouble()
            : static_cast<double>(dense.getSplatValue<APInt>().getSExtValue());
    out.assign(count, value);
    return success();
  }
  if (dense && isa<IntegerType>(elementType))
    return readIntegers(dense, out);
  std::optional<ArrayRef<char>> data = getContiguousData(attr);
  if (!data || !hasByteStorage(elementType)) {
    error = "the constant's data is not available (a missing or elided "
            "resource blob?)";
    return failure();
  }
  int64_t expected = count * (elementType.getIntOrFloatBitWidth() / 8);
  if (static_cast<int64_t>(data->size()) != expected) {
    error = "the constant holds " + std::to_string(data->size()) +
            " bytes but its type needs " + std::to_string(expected);
    return failure();
  }
  decodeRaw(*data, elementType, count, out);
  return success();
}

/// The initial value of an immutable ml_program.global, or null.
ElementsAttr getGlobalConstant(ml_program::GlobalLoadConstOp load) {
  auto global = SymbolTable::lookupNearestSymbolFrom<ml_program::GlobalOp>(
      load, load.getGlobalAttr());
  if (!global || global.getIsMutable())
    return {};
  return dyn_cast_if_present<ElementsAttr>(global.getValueAttr());
}

//===----------------------------------------------------------------------===//
// Strided iteration over linalg loops
//===----------------------------------------------------------------------===//

SmallVector<int64_t> rowMajorStrides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t dim = static_cast<int64_t>(shape.size()) - 2; dim >= 0; --dim)
    strides[dim] = strides[dim + 1] * shape[dim + 1];
  return strides;
}

/// How one operand of a linalg op is addressed by the loops: element index =
/// offset + sum_i loopIndex[i] * loopStrides[i].
struct OperandAccess {
  int64_t offset = 0;
  SmallVector<int64_t> loopStrides;
};

OperandAccess accessOf(AffineMap map, ArrayRef<int64_t> shape) {
  OperandAccess access;
  access.loopStrides.assign(map.getNumDims(), 0);
  SmallVector<int64_t> strides = rowMajorStrides(shape);
  for (auto [position, expr] : llvm::enumerate(map.getResults())) {
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      access.loopStrides[dim.getPosition()] += strides[position];
    else
      access.offset +=
          cast<AffineConstantExpr>(expr).getValue() * strides[position];
  }
  return access;
}

/// Whether every result of `map` is a loop or a constant.
bool isProjection(AffineMap map) {
  return llvm::all_of(map.getResults(), [](AffineExpr expr) {
    return isa<AffineDimExpr, AffineConstantExpr>(expr);
  });
}

/// Calls `body(operandIndices)` for every point of the loop nest, with the
/// element index of each access.
template <typename Body>
void forEachPoint(ArrayRef<int64_t> loopSizes, ArrayRef<OperandAccess> accesses,
                  Body body) {
  size_t loops = loopSizes.size();
  SmallVector<int64_t> point(loops, 0);
  SmallVector<int64_t> indices;
  for (const OperandAccess &access : accesses)
    indices.push_back(access.offset);
  if (llvm::is_contained(loopSizes, 0))
    return;
  while (true) {
    body(ArrayRef<int64_t>(indices));
    // Odometer step, innermost loop fastest.
    size_t loop = loops;
    while (loop > 0) {
      --loop;
      for (auto [index, access] : llvm::zip(indices, accesses))
        index += access.loopStrides[loop];
      if (++point[loop] < loopSizes[loop])
        break;
      for (auto [index, access] : llvm::zip(indices, accesses))
        index -= access.loopStrides[loop] * loopSizes[loop];
      point[loop] = 0;
      if (loop == 0)
        return;
    }
    if (loops == 0)
      return;
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Deciding what is constant
//===----------------------------------------------------------------------===//

namespace {

std::string describe(Type type) {
  std::string name;
  llvm::raw_string_ostream os(name);
  os << type;
  return name;
}

/// Whether the evaluator can hold a value of `type`; `why` says why not.
bool fitsBound(Type type, int64_t maxElements, std::string &why) {
  auto shaped = dyn_cast<ShapedType>(type);
  Type elementType = shaped ? shaped.getElementType() : type;
  if (!isKnownElementType(elementType)) {
    why = "its producer chain holds the unsupported element type " +
          describe(elementType);
    return false;
  }
  if (!shaped)
    return true;
  if (!isa<RankedTensorType>(shaped) || !shaped.hasStaticShape()) {
    why = "a tensor in its producer chain has a dynamic shape";
    return false;
  }
  if (shaped.getNumElements() > maxElements) {
    why = "a tensor in its producer chain has more than " +
          std::to_string(maxElements) + " elements (max-fold-elements)";
    return false;
  }
  return true;
}

std::string opName(Operation *op) {
  return "'" + op->getName().getStringRef().str() + "'";
}

} // namespace

bool ConstantEvaluator::isConstant(Value value, std::string *why) {
  auto it = checked.find(value);
  if (it == checked.end()) {
    std::string reason;
    Operation *producer = value.getDefiningOp();
    if (!producer) {
      reason = "it depends on a block argument, known only at run time";
    } else if (depth >= kMaxChainDepth) {
      reason = "its producer chain is longer than " +
               std::to_string(kMaxChainDepth) + " ops";
    } else if (fitsBound(value.getType(), maxElements, reason)) {
      ++depth;
      (void)checkOp(producer, reason);
      --depth;
    }
    it = checked.try_emplace(value, std::move(reason)).first;
  }
  if (why)
    *why = it->second;
  return it->second.empty();
}

bool ConstantEvaluator::checkOp(Operation *op, std::string &why) {
  auto operandsConstant = [&](ValueRange operands) {
    for (Value operand : operands)
      if (!isConstant(operand, &why))
        return false;
    return true;
  };
  if (isa<arith::ConstantOp>(op))
    return true; // Its type was checked; evaluate reads the data.
  if (auto load = dyn_cast<ml_program::GlobalLoadConstOp>(op)) {
    if (getGlobalConstant(load))
      return true;
    why = "it loads a mutable or uninitialized ml_program.global";
    return false;
  }
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
    if (ShapedType::isDynamicShape(slice.getStaticOffsets()) ||
        ShapedType::isDynamicShape(slice.getStaticSizes()) ||
        ShapedType::isDynamicShape(slice.getStaticStrides())) {
      why = "it is a tensor.extract_slice with dynamic offsets, sizes or "
            "strides";
      return false;
    }
    return operandsConstant(slice.getSource());
  }
  if (isa<tensor::CastOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op))
    return operandsConstant(op->getOperand(0));
  if (classifyScalarOp(op) && op->getNumResults() == 1 &&
      op->hasTrait<OpTrait::Elementwise>())
    return operandsConstant(op->getOperands());
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp) {
    why = "it is computed by " + opName(op) +
          ", which r2q cannot evaluate at compile time";
    return false;
  }
  if (!linalgOp.hasPureTensorSemantics() || linalgOp.getNumDpsInits() != 1 ||
      linalgOp.getNumLoops() != linalgOp.getNumParallelLoops() ||
      linalgOp.hasIndexSemantics() ||
      !llvm::all_of(linalgOp.getIndexingMapsArray(), isProjection) ||
      !linalgOp.getMatchingIndexingMap(linalgOp.getDpsInitOperand(0))
           .isPermutation()) {
    why = "it is computed by " + opName(op) +
          ", which is not an element-wise, transposing or broadcasting op";
    return false;
  }
  for (Operation &bodyOp : linalgOp.getBlock()->without_terminator()) {
    if (isa<arith::ConstantOp>(bodyOp) || classifyScalarOp(&bodyOp))
      continue;
    why = "its producer " + opName(op) + " computes with " + opName(&bodyOp) +
          ", which r2q cannot evaluate at compile time";
    return false;
  }
  // Values the body captures from outside must be constants too.
  bool capturesConstants = true;
  linalgOp.getBlock()->walk([&](Operation *bodyOp) {
    for (Value operand : bodyOp->getOperands())
      if (operand.getParentBlock() != linalgOp.getBlock() &&
          !isConstant(operand, &why))
        capturesConstants = false;
  });
  if (!capturesConstants)
    return false;
  for (OpOperand &operand : op->getOpOperands())
    if ((linalgOp.isDpsInput(&operand) ||
         linalgOp.payloadUsesValueFromOperand(&operand)) &&
        !isConstant(operand.get(), &why))
      return false;
  return true;
}

//===----------------------------------------------------------------------===//
// Evaluation
//===----------------------------------------------------------------------===//

namespace {

/// Evaluates one value whose producers ConstantEvaluator::isConstant accepted.
class Evaluation {
public:
  explicit Evaluation(std::string &error) : error(error) {}

  /// The value, computed once: a value that several ops of the chain read
  /// is kept for all of them (a chain of diamonds would otherwise be
  /// evaluated once per path, exponentially often).
  FailureOr<ConstantTensor> evaluate(Value value);

private:
  FailureOr<ConstantTensor> compute(Value value);
  FailureOr<ConstantTensor> evaluateConstant(ElementsAttr attr);
  FailureOr<ConstantTensor> evaluateSlice(tensor::ExtractSliceOp slice);
  FailureOr<ConstantTensor> evaluateElementwise(Operation *op, ScalarOp kind);
  FailureOr<ConstantTensor> evaluateLinalg(linalg::LinalgOp op);

  std::string &error;
  /// Values read by more than one op, already computed.
  DenseMap<Value, ConstantTensor> shared;
};

ConstantTensor withShape(ConstantTensor tensor, Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  tensor.shape.assign(shaped ? shaped.getShape().begin() : nullptr,
                      shaped ? shaped.getShape().end() : nullptr);
  return tensor;
}

FailureOr<ConstantTensor> Evaluation::evaluate(Value value) {
  if (value.hasOneUse())
    return compute(value);
  if (auto it = shared.find(value); it != shared.end())
    return it->second;
  FailureOr<ConstantTensor> result = compute(value);
  if (succeeded(result))
    shared[value] = *result;
  return result;
}

FailureOr<ConstantTensor> Evaluation::compute(Value value) {
  Operation *op = value.getDefiningOp();
  Type type = value.getType();
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    if (auto elements = dyn_cast<ElementsAttr>(constant.getValue()))
      return evaluateConstant(elements);
    ConstantTensor scalar;
    Attribute attr = constant.getValue();
    if (auto floatAttr = dyn_cast<FloatAttr>(attr))
      scalar.values = {floatAttr.getValue().convertToDouble()};
    else
      scalar.values = {static_cast<double>(
          cast<IntegerAttr>(attr).getValue().getSExtValue())};
    return scalar;
  }
  if (auto load = dyn_cast<ml_program::GlobalLoadConstOp>(op))
    return evaluateConstant(getGlobalConstant(load));
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
    return evaluateSlice(slice);
  if (isa<tensor::CastOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op)) {
    FailureOr<ConstantTensor> source = evaluate(op->getOperand(0));
    if (failed(source))
      return failure();
    return withShape(std::move(*source), type);
  }
  if (std::optional<ScalarOp> kind = classifyScalarOp(op))
    return evaluateElementwise(op, *kind);
  return evaluateLinalg(cast<linalg::LinalgOp>(op));
}

FailureOr<ConstantTensor> Evaluation::evaluateConstant(ElementsAttr attr) {
  ConstantTensor tensor;
  if (failed(readElements(attr, tensor.values, error)))
    return failure();
  return withShape(std::move(tensor), attr.getType());
}

FailureOr<ConstantTensor>
Evaluation::evaluateSlice(tensor::ExtractSliceOp slice) {
  FailureOr<ConstantTensor> source = evaluate(slice.getSource());
  if (failed(source))
    return failure();
  // The slice as a loop nest over its unreduced sizes, reading the source at
  // offset + index * stride.
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  SmallVector<int64_t> sourceStrides = rowMajorStrides(source->shape);
  OperandAccess read;
  for (auto [dim, offset, stride] :
       llvm::enumerate(slice.getStaticOffsets(), slice.getStaticStrides())) {
    read.offset += offset * sourceStrides[dim];
    read.loopStrides.push_back(stride * sourceStrides[dim]);
  }
  ConstantTensor result;
  result.values.reserve(elementCount(sizes));
  forEachPoint(sizes, {read}, [&](ArrayRef<int64_t> index) {
    result.values.push_back(source->values[index[0]]);
  });
  return withShape(std::move(result), slice.getType());
}

FailureOr<ConstantTensor> Evaluation::evaluateElementwise(Operation *op,
                                                          ScalarOp kind) {
  SmallVector<ConstantTensor> operands;
  for (Value operand : op->getOperands()) {
    FailureOr<ConstantTensor> value = evaluate(operand);
    if (failed(value))
      return failure();
    operands.push_back(std::move(*value));
  }
  ScalarInstruction instruction = makeInstruction(op, kind);
  instruction.operands = {0, 1};
  instruction.operands.resize(op->getNumOperands());
  ConstantTensor result;
  result.values.resize(operands[0].values.size());
  double slots[2];
  for (size_t i = 0; i < result.values.size(); ++i) {
    for (auto [slot, operand] : llvm::enumerate(operands))
      slots[slot] = operand.values[i];
    result.values[i] = apply(instruction, slots);
  }
  return withShape(std::move(result), op->getResult(0).getType());
}

FailureOr<ConstantTensor> Evaluation::evaluateLinalg(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  // Slots: the block arguments, then values captured from outside the body,
  // then the body's results.
  // Scalars known before the loop (body constants and captured values) are
  // written into their slots once.
  DenseMap<Value, unsigned> slotOf;
  SmallVector<std::pair<unsigned, double>> constantSlots;
  for (BlockArgument argument : body->getArguments())
    slotOf[argument] = argument.getArgNumber();
  unsigned nextSlot = body->getNumArguments();
  auto slotFor = [&](Value value) -> FailureOr<unsigned> {
    if (auto it = slotOf.find(value); it != slotOf.end())
      return it->second;
    FailureOr<ConstantTensor> scalar = evaluate(value);
    if (failed(scalar))
      return failure();
    constantSlots.emplace_back(nextSlot, scalar->values.front());
    return slotOf[value] = nextSlot++;
  };
  SmallVector<ScalarInstruction> program;
  for (Operation &bodyOp : body->without_terminator()) {
    if (isa<arith::ConstantOp>(bodyOp)) {
      if (failed(slotFor(bodyOp.getResult(0))))
        return failure();
      continue;
    }
    ScalarInstruction instruction =
        makeInstruction(&bodyOp, *classifyScalarOp(&bodyOp));
    for (Value operand : bodyOp.getOperands()) {
      FailureOr<unsigned> slot = slotFor(operand);
      if (failed(slot))
        return failure();
      instruction.operands.push_back(*slot);
    }
    instruction.result = slotOf[bodyOp.getResult(0)] = nextSlot++;
    program.push_back(std::move(instruction));
  }
  FailureOr<unsigned> yielded =
      slotFor(cast<linalg::YieldOp>(body->getTerminator()).getValues()[0]);
  if (failed(yielded))
    return failure();

  // Operand data and how the loops address it; the init comes last.
  SmallVector<int64_t> loopSizes = op.getStaticLoopRanges();
  SmallVector<ConstantTensor> operands;
  SmallVector<OperandAccess> accesses;
  SmallVector<unsigned> operandSlots;
  for (OpOperand &operand : op->getOpOperands()) {
    if (!op.isDpsInput(&operand) && !op.payloadUsesValueFromOperand(&operand))
      continue;
    FailureOr<ConstantTensor> value = evaluate(operand.get());
    if (failed(value))
      return failure();
    accesses.push_back(
        accessOf(op.getMatchingIndexingMap(&operand), value->shape));
    operandSlots.push_back(
        op.getMatchingBlockArgument(&operand).getArgNumber());
    operands.push_back(std::move(*value));
  }
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  accesses.push_back(
      accessOf(op.getMatchingIndexingMap(op.getDpsInitOperand(0)),
               resultType.getShape()));

  ConstantTensor result;
  result.values.assign(resultType.getNumElements(), 0.0);
  SmallVector<double> slots(nextSlot, 0.0);
  for (auto [slot, value] : constantSlots)
    slots[slot] = value;
  forEachPoint(loopSizes, accesses, [&](ArrayRef<int64_t> indices) {
    for (auto [operand, slot, index] :
         llvm::zip(operands, operandSlots, indices))
      slots[slot] = operand.values[index];
    for (const ScalarInstruction &instruction : program)
      slots[instruction.result] = apply(instruction, slots.data());
    result.values[indices.back()] = slots[*yielded];
  });
  return withShape(std::move(result), resultType);
}

} // namespace

FailureOr<ConstantTensor> ConstantEvaluator::evaluate(Value value,
                                                      std::string &error) {
  if (!isConstant(value, &error))
    return failure();
  return Evaluation(error).evaluate(value);
}

} // namespace r2q
