//===- ModuleStats.cpp - What a compiled module carries -------------------===//

#include "r2q/Runtime/ModuleStats.h"
#include "r2q/Dialect/R2Q/Transforms/LinearLayers.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;

namespace r2q {

int64_t countConstantBytes(ModuleOp module) {
  int64_t bytes = 0;
  module.walk([&](LLVM::GlobalOp global) {
    auto elements = dyn_cast_if_present<ElementsAttr>(global.getValueOrNull());
    if (!global.getConstant() || !elements)
      return;
    auto type = cast<ShapedType>(elements.getType());
    bytes += type.getNumElements() *
             static_cast<int64_t>((type.getElementTypeBitWidth() + 7) / 8);
  });
  return bytes;
}

int64_t countLinearLayerWeights(ModuleOp module) {
  int64_t weights = 0;
  ConstantEvaluator constants(/*maxElements=*/INT64_MAX);
  WeightRules rules{constants};
  module.walk([&](linalg::LinalgOp op) {
    if (FailureOr<LinearLayer> layer = matchLinearLayer(op, rules);
        succeeded(layer))
      weights += layer->n * layer->k;
  });
  return weights;
}

} // namespace r2q
