//===- Resources.h - Supplying dense_resource data --------------*- C++ -*-===//
//
// Large weights are `dense_resource<name>` constants whose bytes live outside
// the IR text. Tools that build modules from a template (the demo, the
// benchmarks) parse the template without data and supply it here.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_RUNTIME_RESOURCES_H
#define R2Q_RUNTIME_RESOURCES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

#include <functional>
#include <vector>

namespace r2q {

/// Calls `makeData(attr)` for every dense_resource constant of `module` and
/// makes the returned floats its data (the constant's element type must be
/// f32 and the vector as long as the constant).
void supplyFloatResources(
    mlir::ModuleOp module,
    const std::function<std::vector<float>(mlir::DenseResourceElementsAttr)>
        &makeData);

} // namespace r2q

#endif // R2Q_RUNTIME_RESOURCES_H
