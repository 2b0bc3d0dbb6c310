//===- CalibrationStatistics.h - X^T X per layer, from a file ---*- C++ -*-===//
//
// The calibration file r2q-quantize-linear reads (`calibration=<path>`): a
// directory, or its index.json, as `python -m r2q_eval calibrate` writes it:
//
//   index.json   {"layers": {"<layer>": {"xtx": "<file>.npy",
//                                        "diag": "<file>.npy",
//                                        "K": <K>, "tokens": <count>}, ...}}
//   <file>.npy   float64: X^T X (K x K) of the layer's input, its diagonal (K)
//
// Layers are looked up by the names the pass gives them (docs/rationale.md,
// "Layer names"); files are relative to the index. Layers that share an
// input may share files.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_TRANSFORMS_CALIBRATIONSTATISTICS_H
#define R2Q_DIALECT_R2Q_TRANSFORMS_CALIBRATIONSTATISTICS_H

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace r2q {

/// X^T X of one layer's input, or only its diagonal.
struct LayerCalibration {
  std::vector<double> gram;
  std::vector<double> diagonal;
  int64_t tokens = 0;
};

class CalibrationStatistics {
public:
  /// Reads the index (a directory holding index.json, or the file itself).
  static llvm::Expected<CalibrationStatistics> load(const std::string &path);
  /// load(), for a pass whose clones share what it read.
  static llvm::Expected<std::shared_ptr<const CalibrationStatistics>>
  loadShared(const std::string &path);

  /// Whether the file has statistics for `layer`.
  bool contains(llvm::StringRef layer) const { return layers.count(layer); }

  /// The statistics of `layer` (which the file must contain) for a weight of
  /// `k` columns: the full X^T X when `full`, else its diagonal. Fails when
  /// a file is missing, malformed or of another size.
  llvm::Expected<LayerCalibration> read(llvm::StringRef layer, int64_t k,
                                        bool full) const;

  const std::string &getPath() const { return indexPath; }

private:
  struct Entry {
    std::string gramFile, diagonalFile;
    int64_t k = 0, tokens = 0;
  };
  std::string indexPath, directory;
  llvm::StringMap<Entry> layers;
};

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_CALIBRATIONSTATISTICS_H
