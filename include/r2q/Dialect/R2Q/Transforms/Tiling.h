//===- Tiling.h - Kernel candidates, cost model and tuning files -*- C++
//-*-===//
//
// What r2q-tune-tiling and the measuring tool (r2q-bench-tiling) share: the
// candidate kernels of an r2q.matmul on a CPU, the key that names a layer in
// a tuning file, and reading and writing those files (docs/tuning.md).
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_TRANSFORMS_TILING_H
#define R2Q_DIALECT_R2Q_TRANSFORMS_TILING_H

#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace r2q {

/// The version of the tuner written into every key: a file entry of another
/// version is stale (the kernels it timed may have changed since).
constexpr int64_t kTilingTunerVersion = 1;

/// What names one r2q.matmul in a tuning file.
struct TilingKey {
  int64_t n = 0, k = 0, groupSize = 0, planes = 0, rows = 0;
  /// Element types of the activations and the scales ("f32", "f16").
  std::string input, scales;
  /// The vector features kernels depend on, sorted ("+avx2,+fma").
  std::string target;
  int64_t version = kTilingTunerVersion;

  /// "N=4096 K=4096 group_size=128 planes=2 rows=1 input=f32 scales=f16
  /// target=+avx2,+fma version=1": what diagnostics name.
  std::string str() const;
  /// The same layer (shape, group, planes, rows, types), whatever the
  /// target and version.
  bool sameLayer(const TilingKey &other) const;
  bool operator==(const TilingKey &other) const;
};

/// The part of an #r2q.kernel a tuner chooses.
struct TilingChoice {
  KernelStrategy strategy;
  int64_t tileRows = 0;
  int64_t vectorWidth = 0;

  bool operator==(const TilingChoice &other) const {
    return strategy == other.strategy && tileRows == other.tileRows &&
           vectorWidth == other.vectorWidth;
  }
  /// "tiled_decode tile_rows=32 vector_width=32".
  std::string str() const;
};

/// A measured winner: the choice for a key, its median time and that of the
/// default selection's kernel in the same run.
struct TilingEntry {
  TilingKey key;
  TilingChoice choice;
  double seconds = 0, defaultSeconds = 0;
};

/// The vector features in a tuning key for LLVM target features (empty:
/// the host CPU's): those of avx, avx2, fma, avx512f, avx512bw, avx512vl
/// that are enabled, sorted, comma-separated.
std::string tilingTarget(llvm::StringRef targetFeatures);

/// The key of `op` for a target; none when its rows or shape are dynamic.
std::optional<TilingKey> tilingKeyOf(MatmulOp op,
                                     llvm::StringRef targetFeatures);

/// The CPU kernels r2q can run `op` with on a target: lut_gemv where the
/// target and the op take it, vector_gemv at the target's width and at 16,
/// 32 and 64 lanes, tiled_decode with 8 to 256 rows per tile (no more than
/// N rounded up to 8). fused_decode is not among them: vector_gemv computes
/// the same rows 3.5x faster (docs/performance.md). Empty when the rows or
/// the shape are dynamic.
std::vector<TilingChoice> tilingCandidates(MatmulOp op,
                                           llvm::StringRef targetFeatures);

/// The full #r2q.kernel of a choice: threads by r2q-select-cpu-kernels'
/// rule (`threads` 0: the host's), lut_gemv exact on the target's
/// instruction set.
KernelAttr tilingKernel(MatmulOp op, const TilingChoice &choice,
                        int64_t threads, llvm::StringRef targetFeatures);

/// The entries of a tuning file; an error naming the file and the entry
/// when it is not one (not JSON, wrong format marker, a missing or mistyped
/// field, an unknown or GPU strategy).
llvm::Expected<std::vector<TilingEntry>> readTilingFile(llvm::StringRef path);

/// Writes `entries` as a tuning file (JSON).
llvm::Error writeTilingFile(llvm::StringRef path,
                            llvm::ArrayRef<TilingEntry> entries);

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_TILING_H
