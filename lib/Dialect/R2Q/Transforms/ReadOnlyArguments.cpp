//===- ReadOnlyArguments.cpp - The callers' tensors stay as they are ------===//
//
// r2q-read-only-arguments: the tensor arguments of every public function are
// marked `bufferization.writable = false`, so that One-Shot Bufferize copies
// a tensor it would otherwise update in the caller's buffer.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace r2q {
#define GEN_PASS_DEF_R2QREADONLYARGUMENTSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Whether the function writes into `argument` on purpose: it says so
/// (`bufferization.writable` already set), or materializes a result in it.
bool writtenOnPurpose(func::FuncOp function, BlockArgument argument) {
  if (function.getArgAttr(
          argument.getArgNumber(),
          bufferization::BufferizationDialect::kWritableAttrName))
    return true;
  return llvm::any_of(argument.getUsers(), [&](Operation *user) {
    auto materialize =
        dyn_cast<bufferization::MaterializeInDestinationOp>(user);
    return materialize && materialize.getDest() == argument;
  });
}

class R2QReadOnlyArgumentsPass
    : public impl::R2QReadOnlyArgumentsPassBase<R2QReadOnlyArgumentsPass> {
public:
  void runOnOperation() override {
    auto readOnly = BoolAttr::get(&getContext(), false);
    for (auto function : getOperation().getOps<func::FuncOp>()) {
      if (!function.isPublic() || function.isExternal())
        continue;
      for (BlockArgument argument : function.getArguments())
        if (isa<TensorType>(argument.getType()) &&
            !writtenOnPurpose(function, argument))
          function.setArgAttr(
              argument.getArgNumber(),
              bufferization::BufferizationDialect::kWritableAttrName, readOnly);
    }
  }
};

} // namespace
} // namespace r2q
