//===- Resources.h - Supplying dense_resource data --------------*- C++ -*-===//
//
// Large weights are `dense_resource<name>` constants whose bytes live outside
// the IR text. Tools that build modules from a template (the demo, the
// benchmarks, the module generator) parse the template without data and
// supply it here, writing straight into the blob (no extra copy).
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_RUNTIME_RESOURCES_H
#define R2Q_RUNTIME_RESOURCES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

#include <functional>

namespace r2q {

/// For every dense_resource constant of `module`, allocates its data (the
/// size of its type, aligned to its element) and calls `fill(attr, bytes)`
/// to write it.
void supplyResources(
    mlir::ModuleOp module,
    const std::function<void(mlir::DenseResourceElementsAttr,
                             llvm::MutableArrayRef<char>)> &fill);

/// The same for f32 constants, filled as floats.
void supplyFloatResources(
    mlir::ModuleOp module,
    const std::function<void(mlir::DenseResourceElementsAttr,
                             llvm::MutableArrayRef<float>)> &fill);

} // namespace r2q

#endif // R2Q_RUNTIME_RESOURCES_H
