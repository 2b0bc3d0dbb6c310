//===- Npy.h - Reading NumPy .npy weight files ------------------*- C++ -*-===//
//
// The bundled example weights and the benchmark inputs are plain NumPy files;
// this reads the little-endian float matrices among them without Python.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_NPY_H
#define R2Q_QUANT_NPY_H

#include "r2q/Quant/R2Q.h"

#include <cstdint>
#include <string>
#include <vector>

namespace r2q::quant {

/// A 2-D C-ordered array of f32 ('<f4') or f16 ('<f2') values.
struct NpyMatrix {
  FloatType type = FloatType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> bytes;

  MatrixView view() const { return {bytes.data(), type, rows, cols}; }
};

/// Reads a .npy file (format versions 1 to 3) holding a 2-D float matrix.
Status readNpyMatrix(const std::string &path, NpyMatrix &matrix);

/// Reads a little-endian float64 array of any rank (calibration statistics:
/// X^T X, its diagonal).
Status readNpyFloat64(const std::string &path, std::vector<int64_t> &shape,
                      std::vector<double> &values);

} // namespace r2q::quant

#endif // R2Q_QUANT_NPY_H
