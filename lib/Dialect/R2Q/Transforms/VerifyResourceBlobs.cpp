//===- VerifyResourceBlobs.cpp - dense_resource blobs have their size -----===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace r2q {
#define GEN_PASS_DEF_R2QVERIFYRESOURCEBLOBSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

class VerifyResourceBlobsPass
    : public impl::R2QVerifyResourceBlobsPassBase<VerifyResourceBlobsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    bool valid = true;
    getOperation()->walk([&](Operation *op) {
      // Inherent attributes (an arith.constant's value) and discardable ones,
      // and attributes nested in arrays and dictionaries.
      op->getAttrDictionary().walk([&](DenseResourceElementsAttr resource) {
        if (failed(
                verifyResourceBlob(resource, [&] { return op->emitError(); })))
          valid = false;
      });
    });
    if (!valid)
      signalPassFailure();
  }
};

} // namespace
} // namespace r2q
