//===- GPUExternDynamicSharedMemory.cpp - Dynamic shared memory as CUDA's -===//
//
// r2q-gpu-extern-dynamic-shared-memory: each gpu.dynamic_shared_memory of
// an outlined kernel becomes a view of a public, uninitialized zero-byte
// memref.global in workgroup memory, which lowers to the external shared
// array at which CUDA places a launch's dynamic shared memory.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUEXTERNDYNAMICSHAREDMEMORYPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The kernels' widest shared-memory accesses: 16 bytes.
constexpr int64_t kSharedAlignment = 16;

/// `module`'s external shared array: a zero-byte workgroup global without
/// an initializer, public (so external once lowered), 16-byte aligned.
memref::GlobalOp createExternalArray(gpu::GPUModuleOp module, MemRefType type) {
  OpBuilder builder(module.getContext());
  auto global = memref::GlobalOp::create(
      builder, module.getLoc(), "__r2q_dynamic_shared",
      builder.getStringAttr("public"), type, Attribute(), /*constant=*/false,
      builder.getI64IntegerAttr(kSharedAlignment));
  // Renamed if the module has a symbol of that name.
  SymbolTable(module).insert(global, module.getBody()->begin());
  return global;
}

/// `dynamic` replaced by the external array with the launch's size.
void replaceWithArray(gpu::DynamicSharedMemoryOp dynamic,
                      memref::GlobalOp array) {
  OpBuilder builder(dynamic);
  Location loc = dynamic.getLoc();
  Value start = memref::GetGlobalOp::create(builder, loc, array.getType(),
                                            array.getSymName());
  Value bytes = arith::IndexCastUIOp::create(
      builder, loc, builder.getIndexType(),
      NVVM::DynamicSmemSize::create(builder, loc, builder.getI32Type()));
  Value view = memref::ReinterpretCastOp::create(
      builder, loc, dynamic.getType(), start, builder.getIndexAttr(0),
      ArrayRef<OpFoldResult>{bytes},
      ArrayRef<OpFoldResult>{builder.getIndexAttr(1)});
  dynamic.replaceAllUsesWith(view);
  dynamic.erase();
}

class R2QGPUExternDynamicSharedMemoryPass
    : public impl::R2QGPUExternDynamicSharedMemoryPassBase<
          R2QGPUExternDynamicSharedMemoryPass> {
public:
  void runOnOperation() override {
    getOperation()->walk([](gpu::GPUModuleOp module) {
      SmallVector<gpu::DynamicSharedMemoryOp> uses;
      module.walk([&](gpu::DynamicSharedMemoryOp op) { uses.push_back(op); });
      if (uses.empty())
        return;
      auto space = cast<MemRefType>(uses.front().getType()).getMemorySpace();
      auto type = MemRefType::get({0}, IntegerType::get(module.getContext(), 8),
                                  MemRefLayoutAttrInterface(), space);
      memref::GlobalOp array = createExternalArray(module, type);
      for (gpu::DynamicSharedMemoryOp use : uses)
        replaceWithArray(use, array);
    });
  }
};

} // namespace
} // namespace r2q
