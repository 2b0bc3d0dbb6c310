//===- Resources.cpp - Supplying dense_resource data ----------------------===//

#include "r2q/Runtime/Resources.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;

namespace r2q {

void supplyFloatResources(
    ModuleOp module,
    const std::function<std::vector<float>(DenseResourceElementsAttr)>
        &makeData) {
  module.walk([&](arith::ConstantOp constant) {
    auto resource = dyn_cast<DenseResourceElementsAttr>(constant.getValue());
    if (!resource)
      return;
    std::vector<float> values = makeData(resource);
    resource.getRawHandle().getResource()->setBlob(
        HeapAsmResourceBlob::allocateAndCopyInferAlign<float>(values));
  });
}

} // namespace r2q
