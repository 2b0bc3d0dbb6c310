//===- Passes.h - r2q conversion passes -------------------------*- C++ -*-===//

#ifndef R2Q_CONVERSION_PASSES_H
#define R2Q_CONVERSION_PASSES_H

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace r2q {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "r2q/Conversion/Passes.h.inc"

} // namespace r2q

#endif // R2Q_CONVERSION_PASSES_H
