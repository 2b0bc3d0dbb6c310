//===- SelectCPUKernels.cpp - The kernel of every r2q.matmul for a CPU ----===//
//
// The one place where r2q decides how an r2q.matmul runs on a CPU: strategy
// by rows, vector width by target features, tile size by K, threads by the
// work. The decision is the op's #r2q.kernel attribute; convert-r2q-to-linalg
// only reads it.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

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
/// No thread gets fewer weights than this (about 18 KB of 2.25-bit data,
/// microseconds of work against the cost of waking a thread).
constexpr int64_t kMinWeightsPerThread = 1 << 16;

/// The target's features: the host's, or those of an LLVM feature string
/// ("+avx512f,+avx2,-fma").
llvm::StringMap<bool> parseTargetFeatures(StringRef features) {
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

/// What the options ask for, checked.
struct Selection {
  std::optional<KernelStrategy> forced;
  KernelStrategy fewRows;
  int64_t vectorWidth;
  int64_t threads;
};

class SelectCPUKernelsPass
    : public impl::R2QSelectCPUKernelsPassBase<SelectCPUKernelsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    FailureOr<Selection> selection = checkedOptions();
    if (failed(selection))
      return signalPassFailure();
    getOperation()->walk([&](MatmulOp op) {
      if (!op.getKernelAttr())
        op.setKernelAttr(select(op, *selection));
    });
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

  static KernelAttr select(MatmulOp op, const Selection &selection) {
    auto signs = cast<RankedTensorType>(op.getSigns().getType());
    auto input = cast<RankedTensorType>(op.getInput().getType());
    int64_t k = input.getShape().back();
    int64_t n = signs.getDimSize(1);

    std::optional<int64_t> rows = staticRows(input);
    KernelStrategy strategy = selection.fewRows;
    std::optional<KernelStrategy> otherwise;
    int64_t maxRows = 0;
    if (selection.forced) {
      strategy = *selection.forced;
    } else if (!rows) {
      otherwise = KernelStrategy::TiledDecode;
      maxRows = kGemvMaxRows;
    } else if (*rows > kGemvMaxRows) {
      strategy = KernelStrategy::TiledDecode;
    }

    bool tiled = strategy == KernelStrategy::TiledDecode || otherwise;
    int64_t tileRows =
        tiled ? std::max<int64_t>(8, kDecodedTileBytes / (4 * k) / 8 * 8) : 0;
    return KernelAttr::get(op.getContext(), strategy, otherwise, maxRows,
                           selection.vectorWidth, tileRows,
                           threadsFor(n, k, tileRows, selection.threads));
  }

  /// At most `threads`, none with fewer than kMinWeightsPerThread weights
  /// or without a whole tile; 1 when N is dynamic (unknown work).
  static int64_t threadsFor(int64_t n, int64_t k, int64_t tileRows,
                            int64_t threads) {
    if (ShapedType::isDynamic(n))
      return 1;
    int64_t byWork = std::max<int64_t>(1, n * k / kMinWeightsPerThread);
    int64_t byTiles = tileRows ? llvm::divideCeil(n, tileRows) : n;
    return std::max<int64_t>(1, std::min({threads, byWork, byTiles}));
  }
};

} // namespace

int64_t cpuVectorWidth(StringRef targetFeatures) {
  llvm::StringMap<bool> features = parseTargetFeatures(targetFeatures);
  if (features.lookup("avx512f"))
    return 32;
  if (features.lookup("avx2") || features.lookup("avx"))
    return 16;
  return 8;
}

} // namespace r2q
