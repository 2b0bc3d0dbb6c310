//===- R2Q.h - The r2q dialect, its attributes and operations ---*- C++ -*-===//

#ifndef R2Q_DIALECT_R2Q_IR_R2Q_H
#define R2Q_DIALECT_R2Q_IR_R2Q_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "r2q/Dialect/R2Q/IR/R2QDialect.h.inc"
#include "r2q/Dialect/R2Q/IR/R2QEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "r2q/Dialect/R2Q/IR/R2QAttrs.h.inc"

#define GET_OP_CLASSES
#include "r2q/Dialect/R2Q/IR/R2QOps.h.inc"

#include <string>

namespace r2q {
/// Every kernel strategy's name, for diagnostics: "a, b or c".
std::string kernelStrategyNames();

/// Whether `strategy` is a GPU kernel (r2q-gpu-pipeline's; on the host it
/// runs as its loop nest).
bool isGPUStrategy(KernelStrategy strategy);

/// Whether `strategy` can read weights in a layout other than the canonical
/// one (KernelAttr's `layout`).
bool takesLayout(KernelStrategy strategy);

/// The most activation rows the lut_gemv strategy takes.
inline constexpr int64_t kLutMaxRows = 8;
/// The most blocks of a CUDA grid in y and in z (x takes 2^31 - 1).
inline constexpr int64_t kGpuMaxGridYZ = 65535;
/// The most activation rows of one mma_gemm block; its grid's y counts
/// such blocks.
inline constexpr int64_t kMmaMaxBlockRows = 64;
/// The columns lut_gemv reads per step of a row (16 sign bytes): a group
/// size must divide it or be a multiple of it.
inline constexpr int64_t kLutChunkColumns = 128;
} // namespace r2q

#endif // R2Q_DIALECT_R2Q_IR_R2Q_H
