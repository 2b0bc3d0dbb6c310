//===- SelectCPUKernels.cpp - The kernel of every r2q.matmul for a CPU ----===//
//
// The one place where r2q decides how an r2q.matmul runs on a CPU: strategy
// by rows and target features, vector width by target features, tile size
// by K, threads by the work. The decision is the op's #r2q.kernel attribute;
// convert-r2q-to-linalg only reads it.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Threading.h"
#include "llvm/TargetParser/Host.h"

namespace r2q {
#define GEN_PASS_DEF_R2QSELECTCPUKERNELSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// At most this many rows: a GEMV strategy (each row reads the whole
/// weight); more: tiled decoding (the weight decoded once per call).
constexpr int64_t kGemvMaxRows = 2;
/// A tiled_decode tile of f32 weights stays in L2.
constexpr int64_t kDecodedTileBytes = 256 * 1024;
/// lut_gemv computes blocks of this many output features: a thread's unit.
constexpr int64_t kLutBlockRows = 16;
/// No thread gets fewer weights than this (about 18 KB of 2.25-bit data,
/// microseconds of work against the cost of waking a thread).
constexpr int64_t kMinWeightsPerThread = 1 << 16;

} // namespace

llvm::StringMap<bool> cpuTargetFeatures(StringRef features) {
  if (features.empty())
    return llvm::sys::getHostCPUFeatures();
  llvm::StringMap<bool> parsed;
  SmallVector<StringRef> entries;
  features.split(entries, ',', -1, /*KeepEmpty=*/false);
  for (StringRef entry : entries) {
    entry = entry.trim();
    bool enabled = !entry.consume_front("-");
    entry.consume_front("+");
    parsed[entry] = enabled;
  }
  return parsed;
}

/// The enabled features, sorted, for diagnostics.
SmallVector<std::string>
enabledFeatures(const llvm::StringMap<bool> &features) {
  SmallVector<std::string> enabled;
  for (const auto &entry : features)
    if (entry.getValue())
      enabled.push_back("+" + entry.getKey().str());
  llvm::sort(enabled);
  return enabled;
}

namespace {

int64_t hostThreads() {
  return std::max<int64_t>(1,
                           llvm::hardware_concurrency().compute_thread_count());
}

/// The activation rows of an r2q.matmul input (the product of its leading
/// dimensions), unless one is dynamic.
std::optional<int64_t> staticRows(RankedTensorType input) {
  int64_t rows = 1;
  for (int64_t size : input.getShape().drop_back()) {
    if (ShapedType::isDynamic(size))
      return std::nullopt;
    rows *= size;
  }
  return rows;
}

/// Whether the target runs lut_gemv code for `target`: AVX-512 BW (its byte
/// shuffles), or AVX2 (which AVX-512 implies).
bool runsLut(const llvm::StringMap<bool> &features, KernelTarget target) {
  bool avx512 = features.lookup("avx512bw");
  if (target == KernelTarget::AVX512)
    return avx512;
  return avx512 || features.lookup("avx512f") || features.lookup("avx2");
}

/// Whether the target runs int8_gemm code for `target`: AVX-512 VNNI and
/// BW, or AVX2.
bool runsInt8(const llvm::StringMap<bool> &features, KernelTarget target) {
  if (target == KernelTarget::AVX512)
    return features.lookup("avx512bw") && features.lookup("avx512vnni");
  return runsLut(features, KernelTarget::AVX2);
}

/// Whether a kernel's strategies can run on the target.
bool runsKernel(const llvm::StringMap<bool> &features, KernelAttr kernel) {
  if (kernel.getStrategy() == KernelStrategy::LutGemv)
    return runsLut(features, kernel.getTarget());
  if (kernel.getStrategy() == KernelStrategy::Int8Gemm ||
      kernel.getOtherwise() == KernelStrategy::Int8Gemm)
    return runsInt8(features, kernel.getTarget());
  return true;
}

} // namespace

std::optional<KernelTarget>
cpuLutTarget(const llvm::StringMap<bool> &features) {
  for (KernelTarget target : {KernelTarget::AVX512, KernelTarget::AVX2})
    if (runsLut(features, target))
      return target;
  return std::nullopt;
}

std::optional<KernelTarget>
cpuInt8Target(const llvm::StringMap<bool> &features) {
  for (KernelTarget target : {KernelTarget::AVX512, KernelTarget::AVX2})
    if (runsInt8(features, target))
      return target;
  return std::nullopt;
}

namespace {

/// What the options ask for, checked.
struct Selection {
  std::optional<KernelStrategy> forced;
  KernelStrategy fewRows;
  /// The target's lut_gemv instruction set; none: never lut_gemv.
  std::optional<KernelTarget> lut;
  /// Whether strategy=auto picks lut_gemv where it applies.
  bool autoLut;
  /// The target's int8_gemm instruction set; none: never int8_gemm.
  std::optional<KernelTarget> int8;
  KernelPrecision precision;
  int64_t vectorWidth;
  int64_t threads;
  llvm::StringMap<bool> features;
};

class SelectCPUKernelsPass
    : public impl::R2QSelectCPUKernelsPassBase<SelectCPUKernelsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    FailureOr<Selection> selection = checkedOptions();
    if (failed(selection))
      return signalPassFailure();
    WalkResult result = getOperation()->walk([&](MatmulOp op) {
      if (KernelAttr kernel = op.getKernelAttr())
        return succeeded(checkRunnable(op, kernel, *selection))
                   ? WalkResult::advance()
                   : WalkResult::interrupt();
      FailureOr<KernelAttr> kernel = select(op, *selection);
      if (failed(kernel))
        return WalkResult::interrupt();
      op.setKernelAttr(*kernel);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

private:
  FailureOr<Selection> checkedOptions() {
    Selection selection;
    Location loc = getOperation()->getLoc();
    if (strategy != "auto") {
      selection.forced = symbolizeKernelStrategy(strategy);
      if (!selection.forced)
        return emitError(loc)
               << "r2q-select-cpu-kernels: unknown strategy '" << strategy
               << "'; expected auto, " << kernelStrategyNames();
    }
    selection.fewRows =
        vectorGemv ? KernelStrategy::VectorGemv : KernelStrategy::FusedDecode;
    std::optional<KernelPrecision> parsedPrecision =
        symbolizeKernelPrecision(precision);
    if (!parsedPrecision)
      return emitError(loc) << "r2q-select-cpu-kernels: precision must be "
                               "exact or fast, not '"
                            << precision << "'";
    selection.precision = *parsedPrecision;
    selection.features = cpuTargetFeatures(targetFeatures);
    selection.lut = cpuLutTarget(selection.features);
    selection.autoLut = lutGemv && selection.lut.has_value();
    selection.int8 = cpuInt8Target(selection.features);
    selection.vectorWidth =
        vectorWidth ? vectorWidth.getValue() : cpuVectorWidth(targetFeatures);
    if (selection.vectorWidth < 8 ||
        !llvm::isPowerOf2_64(selection.vectorWidth))
      return emitError(loc) << "r2q-select-cpu-kernels: vector-width must be "
                               "0 or a power of two of at least 8, not "
                            << vectorWidth.getValue();
    if (threads < 0)
      return emitError(loc) << "r2q-select-cpu-kernels: threads must be 0 "
                               "(the host's) or positive, not "
                            << threads.getValue();
    selection.threads = threads ? threads.getValue() : hostThreads();
    return selection;
  }

  /// A kernel already on the op must run on the target: lut_gemv's and
  /// int8_gemm's instructions are x86 ones.
  static LogicalResult checkRunnable(MatmulOp op, KernelAttr kernel,
                                     const Selection &selection) {
    if (runsKernel(selection.features, kernel))
      return success();
    bool lut = kernel.getStrategy() == KernelStrategy::LutGemv;
    bool avx512 = kernel.getTarget() == KernelTarget::AVX512;
    return op.emitOpError("r2q-select-cpu-kernels: kernel strategy ")
           << (lut ? "lut_gemv" : "int8_gemm")
           << " with target = " << stringifyKernelTarget(kernel.getTarget())
           << " needs a target with "
           << (avx512 ? (lut ? "AVX-512 BW" : "AVX-512 VNNI and BW") : "AVX2");
  }

  /// Why the forced strategy cannot compute `op`, or an empty string.
  static std::string forcedUnsupported(MatmulOp op, KernelStrategy forced) {
    switch (forced) {
    case KernelStrategy::LutGemv:
      return op.lutGemvUnsupported();
    case KernelStrategy::Int8Gemm:
      return op.int8GemmUnsupported();
    case KernelStrategy::WarpGemv:
    case KernelStrategy::WarpLutGemv:
      return op.warpGemvUnsupported();
    case KernelStrategy::MmaGemm:
    case KernelStrategy::WgmmaGemm:
      return op.mmaGemmUnsupported(0, stringifyKernelStrategy(forced));
    case KernelStrategy::ByteLutGemv:
      return op.byteLutGemvUnsupported(0);
    default:
      return "";
    }
  }

  /// Fails (with a diagnostic at `op`) when the forced strategy cannot run
  /// on the target (lut_gemv and int8_gemm need x86 with AVX2) or cannot
  /// compute `op`.
  static LogicalResult checkForced(MatmulOp op, const Selection &selection) {
    KernelStrategy forced = *selection.forced;
    bool x86 =
        forced == KernelStrategy::LutGemv || forced == KernelStrategy::Int8Gemm;
    bool runs = forced == KernelStrategy::LutGemv ? selection.lut.has_value()
                                                  : selection.int8.has_value();
    if (x86 && !runs)
      return op.emitOpError("r2q-select-cpu-kernels: strategy ")
             << stringifyKernelStrategy(forced)
             << " needs an x86 target with AVX2 (target features '"
             << llvm::join(enabledFeatures(selection.features), ",") << "')";
    if (std::string reason = forcedUnsupported(op, forced); !reason.empty())
      return op.emitOpError("r2q-select-cpu-kernels: strategy ")
             << stringifyKernelStrategy(forced)
             << " cannot compute this op: " << reason;
    return success();
  }

  /// The strategy of `op` and, for a dynamic batch, the one for more than
  /// kGemvMaxRows rows; fails (with a diagnostic) when a forced strategy
  /// cannot run.
  static FailureOr<std::pair<KernelStrategy, std::optional<KernelStrategy>>>
  chooseStrategy(MatmulOp op, const Selection &selection) {
    auto input = cast<RankedTensorType>(op.getInput().getType());
    std::optional<int64_t> rows = staticRows(input);
    if (selection.forced && failed(checkForced(op, selection)))
      return failure();
    if (selection.forced)
      return std::make_pair(*selection.forced, std::optional<KernelStrategy>());
    // Many rows: tiled decoding, or the int8 dot products in fast precision.
    KernelStrategy manyRows = KernelStrategy::TiledDecode;
    if (selection.precision == KernelPrecision::Fast && selection.int8 &&
        op.int8GemmUnsupported().empty())
      manyRows = KernelStrategy::Int8Gemm;
    if (!rows)
      return std::make_pair(selection.fewRows, std::optional(manyRows));
    if (selection.autoLut && op.lutGemvUnsupported().empty())
      return std::make_pair(KernelStrategy::LutGemv,
                            std::optional<KernelStrategy>());
    if (*rows > kLutMaxRows && manyRows == KernelStrategy::Int8Gemm)
      return std::make_pair(manyRows, std::optional<KernelStrategy>());
    return std::make_pair(*rows > kGemvMaxRows ? KernelStrategy::TiledDecode
                                               : selection.fewRows,
                          std::optional<KernelStrategy>());
  }

  static FailureOr<KernelAttr> select(MatmulOp op, const Selection &selection) {
    auto chosen = chooseStrategy(op, selection);
    if (failed(chosen))
      return failure();
    auto [strategy, otherwise] = *chosen;
    auto signs = cast<RankedTensorType>(op.getSigns().getType());
    auto input = cast<RankedTensorType>(op.getInput().getType());
    int64_t k = input.getShape().back();
    int64_t n = signs.getDimSize(1);

    bool lut = strategy == KernelStrategy::LutGemv;
    bool int8 = strategy == KernelStrategy::Int8Gemm ||
                otherwise == KernelStrategy::Int8Gemm;
    bool tiled = strategy == KernelStrategy::TiledDecode ||
                 otherwise == KernelStrategy::TiledDecode;
    int64_t tileRows =
        tiled ? std::max<int64_t>(8, kDecodedTileBytes / (4 * k) / 8 * 8)
              : (lut || int8 ? kLutBlockRows : 0);
    KernelTarget target = KernelTarget::AVX2;
    if (lut)
      target = *selection.lut;
    else if (int8)
      target = *selection.int8;
    return KernelAttr::get(
        op.getContext(), strategy, otherwise, otherwise ? kGemvMaxRows : 0,
        selection.vectorWidth, tileRows,
        cpuKernelThreads(n, k, tileRows, selection.threads),
        lut ? selection.precision : KernelPrecision::Exact, target);
  }
};

} // namespace

int64_t cpuKernelThreads(int64_t n, int64_t k, int64_t tileRows,
                         int64_t threads) {
  if (ShapedType::isDynamic(n))
    return 1;
  int64_t byWork = std::max<int64_t>(1, n * k / kMinWeightsPerThread);
  int64_t byTiles = tileRows ? llvm::divideCeil(n, tileRows) : n;
  return std::max<int64_t>(
      1, std::min({threads ? threads : hostThreads(), byWork, byTiles}));
}

int64_t cpuVectorWidth(StringRef targetFeatures) {
  llvm::StringMap<bool> features = cpuTargetFeatures(targetFeatures);
  if (features.lookup("avx512f"))
    return 32;
  if (features.lookup("avx2") || features.lookup("avx"))
    return 16;
  return 8;
}

} // namespace r2q
