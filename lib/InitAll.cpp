//===- InitAll.cpp - The one registration point of r2q --------------------===//

#include "r2q/InitAll.h"
#include "r2q/Conversion/Passes.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Pipelines/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

namespace r2q {

void registerR2QDialects(mlir::DialectRegistry &registry) {
  registry.insert<R2QDialect, mlir::arith::ArithDialect>();
  registerLutGemvInterfaces(registry);
  registerWarpGemvInterfaces(registry);
  registerBoundsChecks(registry);
}

void registerR2QPasses() {
  registerR2QTransformsPasses();
  registerR2QConversionPasses();
  registerR2QPipelines();
}

void registerR2QAndUpstream(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates kernels to LLVM IR for the NVPTX backend.
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::registerAllPasses();
  registerR2QDialects(registry);
  registerR2QPasses();
}

} // namespace r2q
