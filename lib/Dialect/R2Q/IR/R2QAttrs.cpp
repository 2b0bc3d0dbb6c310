//===- R2QAttrs.cpp - r2q attributes --------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace r2q;

#include "r2q/Dialect/R2Q/IR/R2QEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "r2q/Dialect/R2Q/IR/R2QAttrs.cpp.inc"

namespace {
// Defaults of the parameters a scheme may leave out.
constexpr int64_t kDefaultGroupSize = 128;
constexpr int64_t kDefaultPlanes = 2;
} // namespace

/// Parses `<key = value, ...>` with keys group_size, planes, method and
/// scale_type, in any order; missing keys take their defaults.
Attribute SchemeAttr::parse(AsmParser &parser, Type) {
  MLIRContext *context = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  int64_t groupSize = kDefaultGroupSize, planes = kDefaultPlanes;
  Method method = Method::Greedy;
  Type scaleType = Float16Type::get(context);
  llvm::StringSet<> seen;

  auto parseEntry = [&]() -> ParseResult {
    SMLoc keyLoc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return failure();
    if (!seen.insert(key).second)
      return parser.emitError(keyLoc, "scheme parameter '")
             << key << "' given twice";
    if (key == "group_size")
      return parser.parseInteger(groupSize);
    if (key == "planes")
      return parser.parseInteger(planes);
    if (key == "scale_type")
      return parser.parseType(scaleType);
    if (key == "method") {
      StringRef name;
      SMLoc nameLoc = parser.getCurrentLocation();
      if (parser.parseKeyword(&name))
        return failure();
      std::optional<Method> parsed = symbolizeMethod(name);
      if (!parsed)
        return parser.emitError(nameLoc, "unknown method '")
               << name << "'; expected 'greedy' or 'refined'";
      method = *parsed;
      return success();
    }
    return parser.emitError(keyLoc, "unknown scheme parameter '")
           << key << "'; expected group_size, planes, method or scale_type";
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::LessGreater,
                                     parseEntry))
    return {};
  return SchemeAttr::getChecked([&] { return parser.emitError(loc); }, context,
                                groupSize, planes, method, scaleType);
}

void SchemeAttr::print(AsmPrinter &printer) const {
  printer << "<group_size = " << getGroupSize() << ", planes = " << getPlanes()
          << ", method = " << stringifyMethod(getMethod())
          << ", scale_type = " << getScaleType() << ">";
}

LogicalResult SchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t groupSize, int64_t planes,
                                 Method method, Type scaleType) {
  if (failed(verifyGroupSize(emitError, groupSize)) ||
      failed(verifyPlaneCount(emitError, planes)))
    return failure();
  if (!isSupportedFloatType(scaleType))
    return emitError() << "scale type must be f32, f16 or bf16, got "
                       << scaleType;
  return success();
}

double SchemeAttr::getBitsPerWeight() const {
  return quant::bitsPerWeight(toQuantScheme(*this));
}

RankedTensorType SchemeAttr::getSignsType(int64_t n, int64_t k) const {
  return RankedTensorType::get({getPlanes(), n, quant::packedBytesPerRow(k)},
                               IntegerType::get(getContext(), 8));
}

RankedTensorType SchemeAttr::getScalesType(int64_t n, int64_t k) const {
  return RankedTensorType::get(
      {getPlanes(), n, quant::groupsPerRow(k, getGroupSize())}, getScaleType());
}

void R2QDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "r2q/Dialect/R2Q/IR/R2QAttrs.cpp.inc"
      >();
}
