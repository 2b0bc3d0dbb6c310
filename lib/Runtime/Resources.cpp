//===- Resources.cpp - Supplying dense_resource data ----------------------===//

#include "r2q/Runtime/Resources.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;

namespace r2q {

void supplyResources(ModuleOp module,
                     const std::function<void(DenseResourceElementsAttr,
                                              MutableArrayRef<char>)> &fill) {
  module.walk([&](arith::ConstantOp constant) {
    auto resource = dyn_cast<DenseResourceElementsAttr>(constant.getValue());
    if (!resource)
      return;
    ShapedType type = resource.getType();
    size_t elementBytes = (type.getElementTypeBitWidth() + 7) / 8;
    AsmResourceBlob blob = HeapAsmResourceBlob::allocate(
        type.getNumElements() * elementBytes, elementBytes);
    fill(resource, blob.getMutableData());
    resource.getRawHandle().getResource()->setBlob(std::move(blob));
  });
}

void supplyFloatResources(
    ModuleOp module,
    const std::function<void(DenseResourceElementsAttr, MutableArrayRef<float>)>
        &fill) {
  supplyResources(module, [&](DenseResourceElementsAttr resource,
                              MutableArrayRef<char> bytes) {
    fill(resource,
         MutableArrayRef<float>(reinterpret_cast<float *>(bytes.data()),
                                bytes.size() / sizeof(float)));
  });
}

} // namespace r2q
