//===- R2QAttrs.cpp - r2q attributes --------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace r2q;

#include "r2q/Dialect/R2Q/IR/R2QEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "r2q/Dialect/R2Q/IR/R2QAttrs.cpp.inc"

namespace {
// Defaults of the parameters a scheme may leave out.
constexpr int64_t kDefaultGroupSize = 128;
constexpr int64_t kDefaultPlanes = 2;

/// Whether a kernel of these strategies runs x86 code of a chosen target.
static bool usesTarget(KernelStrategy strategy,
                       std::optional<KernelStrategy> otherwise) {
  return strategy == KernelStrategy::LutGemv ||
         strategy == KernelStrategy::Int8Gemm ||
         otherwise == KernelStrategy::Int8Gemm;
}

/// Parses `<key = value, ...>`, each key at most once, in any order:
/// `parseValue(key, keyLoc)` parses the value of a known key and reports an
/// unknown one. `what` names the attribute in diagnostics.
ParseResult
parseKeyValueList(AsmParser &parser, StringRef what,
                  function_ref<ParseResult(StringRef, SMLoc)> parseValue) {
  llvm::StringSet<> seen;
  return parser.parseCommaSeparatedList(
      AsmParser::Delimiter::LessGreater, [&]() -> ParseResult {
        SMLoc keyLoc = parser.getCurrentLocation();
        StringRef key;
        if (parser.parseKeyword(&key) || parser.parseEqual())
          return failure();
        if (!seen.insert(key).second)
          return parser.emitError(keyLoc)
                 << what << " parameter '" << key << "' given twice";
        return parseValue(key, keyLoc);
      });
}
} // namespace

/// Parses `<key = value, ...>` with keys group_size, planes, method and
/// scale_type, in any order; missing keys take their defaults.
Attribute SchemeAttr::parse(AsmParser &parser, Type) {
  MLIRContext *context = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  int64_t groupSize = kDefaultGroupSize, planes = kDefaultPlanes;
  Method method = Method::Greedy;
  Type scaleType = Float16Type::get(context);

  auto parseValue = [&](StringRef key, SMLoc keyLoc) -> ParseResult {
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
  if (parseKeyValueList(parser, "scheme", parseValue))
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

namespace {
// Defaults of the kernel parameters a #r2q.kernel may leave out.
constexpr int64_t kDefaultVectorWidth = 16;
constexpr int64_t kDefaultThreads = 1;
// The portable default: the fused decoding for decoding-sized batches.
constexpr int64_t kPortableMaxFusedRows = 2;

/// Parses an enum keyword with `symbolize`, with a diagnostic listing the
/// valid ones.
template <typename Enum>
ParseResult parseEnumKeyword(
    AsmParser &parser, StringRef what, StringRef expected,
    std::type_identity_t<std::optional<Enum> (*)(StringRef)> symbolize,
    Enum &value) {
  StringRef name;
  SMLoc nameLoc = parser.getCurrentLocation();
  if (parser.parseKeyword(&name))
    return failure();
  std::optional<Enum> parsed = symbolize(name);
  if (!parsed)
    return parser.emitError(nameLoc, "unknown kernel ")
           << what << " '" << name << "'; expected " << expected;
  value = *parsed;
  return success();
}
} // namespace

/// Parses `<key = value, ...>` with keys strategy (required), max_rows,
/// otherwise, vector_width, tile_rows, threads, precision, target and
/// layout, in any order.
Attribute KernelAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  std::optional<KernelStrategy> strategy;
  std::optional<KernelStrategy> otherwise;
  int64_t maxRows = 0, vectorWidth = kDefaultVectorWidth, tileRows = 0;
  int64_t threads = kDefaultThreads;
  KernelPrecision precision = KernelPrecision::Exact;
  KernelTarget target = KernelTarget::AVX2;
  KernelLayout layout = KernelLayout::Canonical;

  auto parseValue = [&](StringRef key, SMLoc keyLoc) -> ParseResult {
    if (key == "strategy" || key == "otherwise") {
      KernelStrategy parsed;
      if (parseEnumKeyword(parser, "strategy", kernelStrategyNames(),
                           symbolizeKernelStrategy, parsed))
        return failure();
      (key == "strategy" ? strategy : otherwise) = parsed;
      return success();
    }
    if (key == "max_rows")
      return parser.parseInteger(maxRows);
    if (key == "vector_width")
      return parser.parseInteger(vectorWidth);
    if (key == "tile_rows")
      return parser.parseInteger(tileRows);
    if (key == "threads")
      return parser.parseInteger(threads);
    if (key == "precision")
      return parseEnumKeyword(parser, "precision", "exact or fast",
                              symbolizeKernelPrecision, precision);
    if (key == "target")
      return parseEnumKeyword(parser, "target", "avx2 or avx512",
                              symbolizeKernelTarget, target);
    if (key == "layout")
      return parseEnumKeyword(parser, "layout", "canonical or row_interleaved",
                              symbolizeKernelLayout, layout);
    return parser.emitError(keyLoc, "unknown kernel parameter '")
           << key
           << "'; expected strategy, max_rows, otherwise, vector_width, "
              "tile_rows, threads, precision, target or layout";
  };
  if (parseKeyValueList(parser, "kernel", parseValue))
    return {};
  if (!strategy) {
    parser.emitError(loc, "kernel needs a strategy");
    return {};
  }
  return KernelAttr::getChecked([&] { return parser.emitError(loc); },
                                parser.getContext(), *strategy, otherwise,
                                maxRows, vectorWidth, tileRows, threads,
                                precision, target, layout);
}

void KernelAttr::print(AsmPrinter &printer) const {
  printer << "<strategy = " << stringifyKernelStrategy(getStrategy());
  if (getStrategy() == KernelStrategy::LutGemv)
    printer << ", precision = " << stringifyKernelPrecision(getPrecision());
  if (getOtherwise())
    printer << ", max_rows = " << getMaxRows()
            << ", otherwise = " << stringifyKernelStrategy(*getOtherwise());
  if (usesTarget(getStrategy(), getOtherwise()))
    printer << ", target = " << stringifyKernelTarget(getTarget());
  if (getLayout() != KernelLayout::Canonical)
    printer << ", layout = " << stringifyKernelLayout(getLayout());
  printer << ", vector_width = " << getVectorWidth()
          << ", tile_rows = " << getTileRows() << ", threads = " << getThreads()
          << ">";
}

LogicalResult KernelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 KernelStrategy strategy,
                                 std::optional<KernelStrategy> otherwise,
                                 int64_t maxRows, int64_t vectorWidth,
                                 int64_t tileRows, int64_t threads,
                                 KernelPrecision precision, KernelTarget target,
                                 KernelLayout layout) {
  bool lut = strategy == KernelStrategy::LutGemv;
  if (lut && otherwise)
    return emitError() << "kernel strategy lut_gemv takes a static batch: it "
                          "cannot be chosen by rows (max_rows, otherwise)";
  if (otherwise == KernelStrategy::LutGemv)
    return emitError() << "kernel strategy lut_gemv takes a static batch: it "
                          "cannot be the 'otherwise' strategy";
  if (!lut && precision != KernelPrecision::Exact)
    return emitError() << "kernel precision applies to lut_gemv only, not "
                       << stringifyKernelStrategy(strategy);
  if (!usesTarget(strategy, otherwise) && target != KernelTarget::AVX2)
    return emitError() << "kernel target applies to lut_gemv and int8_gemm "
                          "only, not "
                       << stringifyKernelStrategy(strategy);
  if (!takesLayout(strategy) && layout != KernelLayout::Canonical)
    return emitError() << "kernel layout " << stringifyKernelLayout(layout)
                       << " applies to lut_gemv and byte_lut_gemv only, not "
                       << stringifyKernelStrategy(strategy);
  if (otherwise && maxRows < 1)
    return emitError() << "kernel with 'otherwise' needs max_rows of at "
                          "least 1, got "
                       << maxRows;
  if (!otherwise && maxRows != 0)
    return emitError() << "kernel max_rows needs an 'otherwise' strategy";
  if (vectorWidth < 8 || !llvm::isPowerOf2_64(vectorWidth))
    return emitError() << "kernel vector_width must be a power of two of at "
                          "least 8, got "
                       << vectorWidth;
  if (tileRows < 0)
    return emitError() << "kernel tile_rows must be 0 (derived) or positive, "
                          "got "
                       << tileRows;
  if (threads < 1)
    return emitError() << "kernel threads must be at least 1, got " << threads;
  return success();
}

bool r2q::isGPUStrategy(KernelStrategy strategy) {
  switch (strategy) {
  case KernelStrategy::WarpGemv:
  case KernelStrategy::WarpLutGemv:
  case KernelStrategy::MmaGemm:
  case KernelStrategy::WgmmaGemm:
  case KernelStrategy::ByteLutGemv:
    return true;
  default:
    return false;
  }
}

bool r2q::takesLayout(KernelStrategy strategy) {
  return strategy == KernelStrategy::LutGemv ||
         strategy == KernelStrategy::ByteLutGemv;
}

std::string r2q::kernelStrategyNames() {
  std::string names;
  unsigned count = getMaxEnumValForKernelStrategy() + 1;
  for (unsigned value = 0; value < count; ++value) {
    if (value > 0)
      names += value + 1 == count ? " or " : ", ";
    names += stringifyKernelStrategy(static_cast<KernelStrategy>(value)).str();
  }
  return names;
}

KernelAttr KernelAttr::withOnly(KernelStrategy strategy) const {
  bool lut = strategy == KernelStrategy::LutGemv;
  return KernelAttr::get(
      getContext(), strategy, std::nullopt, 0, getVectorWidth(), getTileRows(),
      getThreads(), lut ? getPrecision() : KernelPrecision::Exact,
      usesTarget(strategy, std::nullopt) ? getTarget() : KernelTarget::AVX2,
      takesLayout(strategy) ? getLayout() : KernelLayout::Canonical);
}

KernelAttr KernelAttr::withLayout(KernelLayout layout) const {
  return KernelAttr::get(getContext(), getStrategy(), getOtherwise(),
                         getMaxRows(), getVectorWidth(), getTileRows(),
                         getThreads(), getPrecision(), getTarget(), layout);
}

KernelAttr KernelAttr::getPortableDefault(MLIRContext *context) {
  return KernelAttr::get(context, KernelStrategy::FusedDecode,
                         KernelStrategy::TiledDecode, kPortableMaxFusedRows,
                         kDefaultVectorWidth, /*tileRows=*/0, kDefaultThreads,
                         KernelPrecision::Exact, KernelTarget::AVX2);
}

void R2QDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "r2q/Dialect/R2Q/IR/R2QAttrs.cpp.inc"
      >();
}
