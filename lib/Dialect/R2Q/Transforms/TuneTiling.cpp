//===- TuneTiling.cpp - Kernel and tiles of each r2q.matmul by shape -----===//
//
// r2q-tune-tiling writes the #r2q.kernel of every r2q.matmul with a static
// shape, before r2q-select-cpu-kernels (which keeps a kernel already
// written), from an analytical cost model or from a tuning file that
// r2q-bench-tiling measured (docs/tuning.md).
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Dialect/R2Q/Transforms/Tiling.h"

#include "llvm/Support/FormatVariadic.h"

namespace r2q {
#define GEN_PASS_DEF_R2QTUNETILINGPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The machine the cost model assumes.
struct Machine {
  double l1Bytes, l2Bytes;
  /// Bytes per second from memory (one thread) and from L2.
  double memoryBandwidth, l2Bandwidth;
  /// Vector instructions per second (clock times vector units).
  double instructionRate;
  /// f32 lanes of one vector register.
  int64_t registerLanes;
};

/// Vector instructions per weight, plane and activation row, per register
/// of lanes (docs/tuning.md has where each number comes from):
/// vector_gemv: one mask load and one masked FMA per register of weights
/// (docs/performance.md); lut_gemv (exact f32 tables): 0.08 per weight and
/// plane whatever the register (880 instructions per 512 columns x 16 rows
/// x 2 planes for the int8 tables, 1.5x that for f32 ones: the measured
/// ratio of their times); tiled_decode: decoding 3 per register of weights
/// and plane (mask load, select, FMA into the tile), once per call, then
/// 3 per register and row (two loads and an FMA) for the product.
constexpr double kGemvPerRegister = 2;
constexpr double kLutPerWeight = 0.08;
constexpr double kDecodePerRegister = 3;
constexpr double kProductPerRegister = 3;
/// Fixed cost of a tile or a vector step beyond its arithmetic (loop
/// control, address computation, the reduction of a vector step's lanes).
constexpr double kPerTileInstructions = 200;
constexpr double kPerStepInstructions = 1;

/// The modelled seconds of one call of `op`'s kernel `choice`: the larger
/// of its bytes over the bandwidth they come at and its instructions over
/// the vector units' rate, plus the fixed cost of its tiles (so that, of
/// the tiles that fit, the largest wins).
double modelSeconds(const TilingKey &key, const TilingChoice &choice,
                    const Machine &machine) {
  double m = key.rows, n = key.n, k = key.k, planes = key.planes;
  double groups = llvm::divideCeil(key.k, key.groupSize);
  double scaleBytes = key.scales == "f32" ? 4 : 2;
  double packed = planes * n * (k / 8 + groups * scaleBytes);
  double io = 4 * m * (k + n);
  double lanes = machine.registerLanes;
  double weights = n * k * planes;
  double instructions = 0, bytes = packed + io, cacheBytes = 0;
  // Per tile or block: not overlapped with the streaming of its data.
  double tileInstructions = 0;
  switch (choice.strategy) {
  case KernelStrategy::LutGemv:
    instructions = m * weights * kLutPerWeight;
    tileInstructions = llvm::divideCeil(key.n, 16) * kPerTileInstructions;
    break;
  case KernelStrategy::VectorGemv: {
    // A step covers the widest power of two of lanes that divides the
    // group (chunkWidth in the lowering): steps never cross a group.
    double step =
        std::min<double>(choice.vectorWidth, key.groupSize & -key.groupSize);
    // Steps wider than two registers save no more loop control (they
    // only add register pressure).
    instructions = m * weights *
                   (kGemvPerRegister / std::min(lanes, step) +
                    kPerStepInstructions / std::min(2 * lanes, step));
    // Each row reads the whole weight: from memory again unless it stays
    // in L2.
    if (packed > machine.l2Bytes)
      bytes += (m - 1) * packed;
    break;
  }
  case KernelStrategy::TiledDecode: {
    double tileRows = std::min<double>(choice.tileRows, n);
    double tiles = std::ceil(n / tileRows);
    instructions = weights * kDecodePerRegister / lanes +
                   m * n * k * kProductPerRegister / lanes;
    tileInstructions = tiles * m * kPerTileInstructions;
    // The decoded tile is read once per row and every row of activations
    // once per tile: from L2 where the tile and all the rows fit in it
    // together, else from memory (16 rows of K = 14336 are 917 KB: with
    // any tile they overflow a 1 MiB L2, and 4096 x 14336 at batch 16 ran
    // 1.24x slower than the GEMV).
    double tileBytes = 4 * tileRows * k;
    double traffic = m * n * k * 4;
    if (tileBytes + 4 * m * k <= machine.l2Bytes)
      cacheBytes = tileBytes > machine.l1Bytes ? traffic : 0;
    else
      bytes += traffic;
    break;
  }
  default:
    llvm_unreachable("not a candidate CPU strategy");
  }
  return std::max({bytes / machine.memoryBandwidth,
                   instructions / machine.instructionRate,
                   cacheBytes / machine.l2Bandwidth}) +
         tileInstructions / machine.instructionRate;
}

class TuneTilingPass : public impl::R2QTuneTilingPassBase<TuneTilingPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    if (failed(checkOptions()))
      return signalPassFailure();
    WalkResult result = getOperation()->walk([&](MatmulOp op) {
      if (op.getKernelAttr())
        return WalkResult::advance();
      std::optional<TilingKey> key = tilingKeyOf(op, targetFeatures);
      if (!key)
        return WalkResult::advance();
      FailureOr<TilingChoice> choice =
          mode == "model" ? FailureOr<TilingChoice>(modelChoice(op, *key))
                          : fileChoice(op, *key);
      if (failed(choice))
        return WalkResult::interrupt();
      op.setKernelAttr(tilingKernel(op, *choice, threads, targetFeatures));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

private:
  Machine machine;
  std::vector<TilingEntry> entries;

  LogicalResult checkOptions() {
    Location loc = getOperation()->getLoc();
    if (mode != "model" && mode != "file")
      return emitError(loc) << "r2q-tune-tiling: mode must be model or file, "
                               "not '"
                            << mode << "'";
    if (onMissing != "error" && onMissing != "model")
      return emitError(loc) << "r2q-tune-tiling: on-missing must be error or "
                               "model, not '"
                            << onMissing << "'";
    if (l1Bytes <= 0 || l2Bytes <= 0 || bandwidthGbps <= 0 || ghz <= 0 ||
        vectorUnits <= 0 || threads < 0)
      return emitError(loc) << "r2q-tune-tiling: l1-bytes, l2-bytes, "
                               "bandwidth-gbps, ghz and vector-units must be "
                               "positive, threads 0 or positive";
    machine = {static_cast<double>(l1Bytes),
               static_cast<double>(l2Bytes),
               bandwidthGbps * 1e9,
               /*l2Bandwidth=*/32 * ghz * 1e9,
               ghz * 1e9 * vectorUnits,
               cpuVectorWidth(targetFeatures) / 2};
    if (mode == "model")
      return success();
    if (file.empty())
      return emitError(loc) << "r2q-tune-tiling: mode=file needs file=PATH";
    auto read = readTilingFile(file);
    if (!read)
      return emitError(loc)
             << "r2q-tune-tiling: " << toString(read.takeError());
    entries = std::move(*read);
    return success();
  }

  /// The candidate of least modelled time (the first of equals).
  TilingChoice modelChoice(MatmulOp op, const TilingKey &key) const {
    std::vector<TilingChoice> candidates = tilingCandidates(op, targetFeatures);
    return *llvm::min_element(
        candidates, [&](const TilingChoice &a, const TilingChoice &b) {
          return modelSeconds(key, a, machine) < modelSeconds(key, b, machine);
        });
  }

  /// The file's entry for `key`. An entry of the same layer for another
  /// target or tuner version is an error (foreign or stale), as is no entry
  /// unless on-missing=model, which falls back to the model with a remark.
  FailureOr<TilingChoice> fileChoice(MatmulOp op, const TilingKey &key) {
    for (const TilingEntry &entry : entries)
      if (entry.key == key)
        return checkedChoice(op, key, entry.choice);
    for (const TilingEntry &entry : entries) {
      if (!entry.key.sameLayer(key))
        continue;
      if (entry.key.version != key.version)
        return op.emitOpError("r2q-tune-tiling: tuning file '")
               << file << "' is stale: its entry for " << key.str()
               << " was measured by tuner version " << entry.key.version
               << "; measure again with r2q-bench-tiling";
      return op.emitOpError("r2q-tune-tiling: tuning file '")
             << file << "' was measured for another target: its entry for "
             << key.str() << " has target '" << entry.key.target << "'";
    }
    if (onMissing == "model") {
      TilingChoice choice = modelChoice(op, key);
      op.emitRemark("r2q-tune-tiling: tuning file '")
          << file << "' has no entry for " << key.str()
          << "; the cost model chose " << choice.str();
      return choice;
    }
    return op.emitOpError("r2q-tune-tiling: tuning file '")
           << file << "' has no entry for " << key.str()
           << " (measure it with r2q-bench-tiling, or on-missing=model)";
  }

  /// A file's lut_gemv must run on the target and compute the op.
  FailureOr<TilingChoice> checkedChoice(MatmulOp op, const TilingKey &key,
                                        const TilingChoice &choice) {
    if (choice.strategy != KernelStrategy::LutGemv)
      return choice;
    std::string reason = op.lutGemvUnsupported();
    if (!cpuLutTarget(cpuTargetFeatures(targetFeatures)))
      reason = "the target has no AVX2";
    if (reason.empty())
      return choice;
    return op.emitOpError("r2q-tune-tiling: tuning file '")
           << file << "' names lut_gemv for " << key.str()
           << ", which cannot run it: " << reason;
  }
};

} // namespace
} // namespace r2q
