//===- ModuleStats.h - What a compiled module carries -----------*- C++ -*-===//

#ifndef R2Q_RUNTIME_MODULESTATS_H
#define R2Q_RUNTIME_MODULESTATS_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>

namespace r2q {

/// Bytes of constant data (initializers of llvm.mlir.global constants) in a
/// module lowered to the LLVM dialect: what the compiled program carries.
int64_t countConstantBytes(mlir::ModuleOp module);

/// Weights of the float linear layers r2q-quantize-linear would rewrite in
/// `module` (sum of N * K over its linear layers).
int64_t countLinearLayerWeights(mlir::ModuleOp module);

} // namespace r2q

#endif // R2Q_RUNTIME_MODULESTATS_H
