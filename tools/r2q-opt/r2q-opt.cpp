//===- r2q-opt.cpp - The r2q optimizer driver -----------------------------===//
//
// mlir-opt with the r2q dialect, passes and pipelines added.
//
//===----------------------------------------------------------------------===//

#include "r2q/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  r2q::registerR2QAndUpstream(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "r2q optimizer: 2-bit R2Q quantization of linear layers\n",
      registry));
}
