//===- R2QPlugin.cpp - r2q as a plugin of upstream mlir-opt ---------------===//
//
// Loaded into an unmodified mlir-opt (Debian's, or a Torch-MLIR flow's) with
//   mlir-opt --load-dialect-plugin=R2QPlugin.so --load-pass-plugin=R2QPlugin.so
// it adds the r2q dialect, passes and pipelines, registered exactly as
// r2q-opt registers them (r2q/InitAll.h). The plugin links the host's shared
// libMLIR.so, so dialects and type ids are shared with mlir-opt.
//
//===----------------------------------------------------------------------===//

#include "r2q/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "R2QDialects", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            r2q::registerR2QDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "R2QPasses", LLVM_VERSION_STRING,
          [] { r2q::registerR2QPasses(); }};
}
