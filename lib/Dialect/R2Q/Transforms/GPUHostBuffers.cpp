//===- GPUHostBuffers.cpp - Host buffers GPU kernels can read -------------===//
//
// r2q-gpu-host-buffers: after bufferization, the buffers host code makes
// become CUDA managed memory (gpu.alloc host_shared), and constants are
// copied into such buffers, so that the kernels the functions launch can
// read and write every buffer they are given.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/PointerIntPair.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUHOSTBUFFERSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Whether `op` runs on the host (not inside a kernel).
bool onHost(Operation *op) {
  return !op->getParentOfType<gpu::LaunchOp>() &&
         !op->getParentOfType<gpu::GPUModuleOp>();
}

/// A buffer of `type` (its dynamic sizes `sizes`): managed memory, which
/// host code and kernels both read and write, or device memory
/// (mgpuMemAlloc: the runtime's memory pool). Synchronous here, like every GPU
/// op this pass makes: r2q-gpu-pipeline's gpu-async-region then puts them on
/// one stream with the launches.
Value gpuBuffer(OpBuilder &builder, Location loc, MemRefType type,
                ValueRange sizes, bool managed) {
  return gpu::AllocOp::create(builder, loc, type, /*asyncToken=*/Type(),
                              ValueRange{}, sizes, ValueRange{}, managed)
      .getMemref();
}

/// Whether `user` is a view of its operand (a view-like op, a cast, a
/// metadata op's base buffer): then its memref results, which alias the
/// operand, are appended to `views`. Sizes and strides are plain indices.
bool addViews(Operation *user, SmallVectorImpl<Value> &views) {
  if (!isa<ViewLikeOpInterface, memref::CastOp,
           memref::ExtractStridedMetadataOp>(user))
    return false;
  for (Value result : user->getResults())
    if (isa<MemRefType>(result.getType()))
      views.push_back(result);
  return true;
}

/// The values through which host op `user` passes on `buffer` without
/// reading or writing its data (views, and the results of the scf.if or
/// scf.for that yields it), in `aliases`; false when `user` may touch the
/// data.
bool passesOn(Operation *user, OpOperand &use,
              SmallVectorImpl<Value> &aliases) {
  if (isa<memref::DeallocOp, gpu::DeallocOp, gpu::LaunchOp, memref::DimOp,
          gpu::MemcpyOp>(user))
    return true;
  // Its address compared with another's (buffer deallocation asks so
  // whether a result is an argument).
  if (auto address = dyn_cast<memref::ExtractAlignedPointerAsIndexOp>(user))
    return llvm::all_of(address->getUsers(),
                        [](Operation *use) { return isa<arith::CmpIOp>(use); });
  // A buffer returned to code outside the module is the caller's to copy
  // (the calling convention); one returned to a caller in the module could
  // be read there by host code.
  if (isa<func::ReturnOp>(user)) {
    auto function = user->getParentOfType<func::FuncOp>();
    auto module = function ? function->getParentOfType<ModuleOp>() : nullptr;
    return module && SymbolTable::symbolKnownUseEmpty(function, module);
  }
  if (addViews(user, aliases))
    return true;
  if (auto yield = dyn_cast<scf::YieldOp>(user)) {
    Operation *parent = yield->getParentOp();
    if (!isa<scf::IfOp, scf::ForOp>(parent))
      return false;
    aliases.push_back(parent->getResult(use.getOperandNumber()));
    if (auto loop = dyn_cast<scf::ForOp>(parent))
      aliases.push_back(loop.getRegionIterArgs()[use.getOperandNumber()]);
    return true;
  }
  if (auto loop = dyn_cast<scf::ForOp>(user)) {
    // The initial value of a loop-carried buffer.
    if (BlockArgument carried = loop.getTiedLoopRegionIterArg(&use)) {
      aliases.push_back(carried);
      aliases.push_back(loop.getTiedLoopResult(&use));
      return true;
    }
  }
  return false;
}

/// Whether `accept(use, aliases)` holds for every use of `buffer` and of
/// the aliases it adds (views, values a buffer flows into), each visited
/// once.
bool allUses(Value buffer,
             function_ref<bool(OpOperand &, SmallVectorImpl<Value> &)> accept) {
  SmallVector<Value> pending{buffer};
  DenseSet<Value> seen;
  while (!pending.empty()) {
    Value value = pending.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    for (OpOperand &use : value.getUses())
      if (!accept(use, pending))
        return false;
  }
  return true;
}

/// Whether only kernels read and write `buffer`, through any of its views
/// (the host returns, frees or reshapes it): then it lives in device memory,
/// where a kernel's first write does not fault pages in as it would in
/// managed memory.
bool onlyKernelsTouch(Value buffer) {
  return allUses(buffer, [](OpOperand &use, SmallVectorImpl<Value> &aliases) {
    return !onHost(use.getOwner()) || passesOn(use.getOwner(), use, aliases);
  });
}

/// Frees a managed or device buffer.
void freeBuffer(OpBuilder &builder, Location loc, Value buffer) {
  gpu::DeallocOp::create(builder, loc, /*asyncToken=*/Type(), ValueRange{},
                         buffer);
}

/// Whether `buffer` or a view of it leaves the block that makes it (a
/// terminator, such as a yield or a return, takes one).
bool escapes(Value buffer) {
  return !allUses(buffer, [](OpOperand &use, SmallVectorImpl<Value> &views) {
    Operation *user = use.getOwner();
    if (user->hasTrait<OpTrait::IsTerminator>())
      return false;
    addViews(user, views);
    return true;
  });
}

/// Whether `function` is called only from outside the module: its memref
/// arguments are the caller's, device (or managed) memory by the calling
/// convention.
bool calledFromOutside(func::FuncOp function) {
  auto module = function->getParentOfType<ModuleOp>();
  return !function.isExternal() && module &&
         SymbolTable::symbolKnownUseEmpty(function, module);
}

/// Copies `copy` with the CUDA runtime (cuMemcpy: any memory to any).
void copyWithRuntime(OpBuilder &builder, memref::CopyOp copy) {
  gpu::MemcpyOp::create(builder, copy.getLoc(), /*asyncToken=*/Type(),
                        ValueRange{}, copy.getTarget(), copy.getSource());
}

bool hasIdentityLayout(Value buffer) {
  return cast<MemRefType>(buffer.getType()).getLayout().isIdentity();
}

/// Host code must not touch the data of `function`'s memref arguments (the
/// caller's device memory: a host load faults). A host copy from or to one
/// becomes a runtime copy where both buffers are dense with identity
/// layouts (any memory to any, so also in a public function that the
/// module calls too); where `strict` (a function only code outside the
/// module calls), any other host access is an error at the op.
LogicalResult keepArgumentsOnDevice(OpBuilder &builder, func::FuncOp function,
                                    bool strict) {
  SmallVector<memref::CopyOp> copies;
  Operation *touching = nullptr;
  for (BlockArgument argument : function.getArguments()) {
    if (!isa<MemRefType>(argument.getType()))
      continue;
    allUses(argument, [&](OpOperand &use, SmallVectorImpl<Value> &aliases) {
      Operation *user = use.getOwner();
      if (!onHost(user) || passesOn(user, use, aliases))
        return true;
      auto copy = dyn_cast<memref::CopyOp>(user);
      if (copy && hasIdentityLayout(copy.getSource()) &&
          hasIdentityLayout(copy.getTarget())) {
        copies.push_back(copy);
        return true;
      }
      if (!strict)
        return true;
      touching = user;
      return false;
    });
    if (touching)
      return touching->emitOpError(
                 "r2q-gpu-host-buffers: host code reads or writes argument ")
             << argument.getArgNumber() << " of @" << function.getName()
             << ", which is the caller's device memory (the GPU calling "
                "convention): only kernels and dense copies may touch it";
  }
  for (memref::CopyOp copy : copies) {
    if (!copy->getBlock())
      continue; // met through two arguments
    builder.setInsertionPoint(copy);
    copyWithRuntime(builder, copy);
    copy->erase();
  }
  return success();
}

/// Kernels cannot read a memref.global (host memory): host code copies a
/// mutable one (or a constant the function returns) into a managed buffer,
/// which its uses take instead. The copy is freed at the end of the block
/// (once per execution of it), after a mutable global has got its stores
/// back, unless it leaves the block.
void copyGlobalPerCall(OpBuilder &builder, memref::GetGlobalOp global,
                       memref::GlobalOp symbol) {
  Location loc = global.getLoc();
  builder.setInsertionPointAfter(global);
  Value copy = gpuBuffer(builder, loc, global.getType(), {}, /*managed=*/true);
  auto fill = memref::CopyOp::create(builder, loc, global.getResult(), copy);
  global.getResult().replaceAllUsesExcept(copy, fill);
  if (escapes(copy))
    return;
  builder.setInsertionPoint(global->getBlock()->getTerminator());
  if (symbol && !symbol.getConstant())
    memref::CopyOp::create(builder, loc, copy, global.getResult());
  freeBuffer(builder, loc, copy);
}

/// The device copies of a module's constant globals (weights folded at
/// compile time), made once per loaded module rather than once per call:
/// each constant gets a slot, an LLVM global holding the copy's address
/// (null until the first call that needs it); host code asks the runtime
/// for the copy (r2qCudaDeviceConstant, which copies the constant on its
/// slot's first use), and a global destructor frees every copy
/// (r2qCudaReleaseDeviceConstant) when the module is unloaded. A constant
/// that host code reads too is copied into managed memory, in a slot of
/// its own.
///
/// The copy's memref is built here as an LLVM descriptor (the runtime
/// returns a pointer) and cast back to the memref type; the later lowering
/// to LLVM folds that cast away, so the two must agree on the descriptor:
/// both take the index width from the module's data layout.
class DeviceConstants {
public:
  explicit DeviceConstants(ModuleOp module)
      : module(module), symbolTable(module), layout(module),
        converter(module.getContext(),
                  LowerToLLVMOptions(module.getContext(), layout)) {}

  /// Replaces the uses of `global` (a constant) by its device copy.
  LogicalResult useDeviceCopy(OpBuilder &builder, memref::GetGlobalOp global,
                              memref::GlobalOp symbol) {
    Location loc = global.getLoc();
    bool managed = !onlyKernelsTouch(global.getResult());
    builder.setInsertionPointAfter(global);
    auto acquire = declare(builder, "r2qCudaDeviceConstant", pointerType(),
                           {pointerType(), pointerType(), builder.getI64Type(),
                            builder.getI32Type()});
    if (failed(acquire))
      return failure();
    auto address = memref::ExtractAlignedPointerAsIndexOp::create(
        builder, loc, global.getResult());
    auto addressBits = arith::IndexCastOp::create(
        builder, loc, builder.getI64Type(), address.getResult());
    Value host = LLVM::IntToPtrOp::create(builder, loc, pointerType(),
                                          addressBits.getResult());
    Value slot = LLVM::AddressOfOp::create(builder, loc,
                                           slotFor(builder, symbol, managed));
    Value bytes = LLVM::ConstantOp::create(builder, loc, builder.getI64Type(),
                                           byteSize(global.getType()));
    Value isManaged = LLVM::ConstantOp::create(
        builder, loc, builder.getI32Type(), static_cast<int64_t>(managed));
    Value copy = LLVM::CallOp::create(builder, loc, *acquire,
                                      ValueRange{slot, host, bytes, isManaged})
                     .getResult();
    Value descriptor = MemRefDescriptor::fromStaticShape(
        builder, loc, converter, global.getType(), copy);
    Value buffer = UnrealizedConversionCastOp::create(
                       builder, loc, global.getType(), descriptor)
                       .getResult(0);
    global.getResult().replaceAllUsesExcept(buffer, address);
    return success();
  }

  /// The global destructor that frees the copies (added to the module's
  /// llvm.mlir.global_dtors, made if there is none).
  LogicalResult emitRelease(OpBuilder &builder) {
    if (slots.empty())
      return success();
    MLIRContext *context = module.getContext();
    Location loc = module.getLoc();
    auto release = declare(builder, "r2qCudaReleaseDeviceConstant",
                           LLVM::LLVMVoidType::get(context), {pointerType()});
    if (failed(release))
      return failure();
    builder.setInsertionPointToEnd(module.getBody());
    auto destructor = LLVM::LLVMFuncOp::create(
        builder, loc, "__r2q_release_device_constants",
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(context), {}),
        LLVM::Linkage::Internal);
    symbolTable.insert(destructor);
    OpBuilder body = OpBuilder::atBlockBegin(destructor.addEntryBlock(builder));
    for (LLVM::GlobalOp slot : slots.values()) {
      Value address = LLVM::AddressOfOp::create(body, loc, slot);
      LLVM::CallOp::create(body, loc, *release, ValueRange{address});
    }
    LLVM::ReturnOp::create(body, loc, ValueRange{});
    addDestructor(builder, destructor);
    return success();
  }

private:
  Type pointerType() { return LLVM::LLVMPointerType::get(module.getContext()); }

  FailureOr<LLVM::LLVMFuncOp> declare(OpBuilder &builder, StringRef name,
                                      Type result, ArrayRef<Type> parameters) {
    return LLVM::lookupOrCreateFn(builder, module, name, parameters, result);
  }

  /// Appends `destructor` (priority 0) to the module's llvm.mlir.global_dtors.
  void addDestructor(OpBuilder &builder, LLVM::LLVMFuncOp destructor) {
    SmallVector<Attribute> dtors, priorities, data;
    auto existing = module.getOps<LLVM::GlobalDtorsOp>();
    if (!existing.empty()) {
      LLVM::GlobalDtorsOp old = *existing.begin();
      llvm::append_range(dtors, old.getDtors());
      llvm::append_range(priorities, old.getPriorities());
      llvm::append_range(data, old.getData());
      old->erase();
    }
    dtors.push_back(FlatSymbolRefAttr::get(destructor));
    priorities.push_back(builder.getI32IntegerAttr(0));
    data.push_back(LLVM::ZeroAttr::get(module.getContext()));
    builder.setInsertionPointToEnd(module.getBody());
    LLVM::GlobalDtorsOp::create(
        builder, module.getLoc(), builder.getArrayAttr(dtors),
        builder.getArrayAttr(priorities), builder.getArrayAttr(data));
  }

  /// The slot of `symbol`'s device (or managed) copy, made on first use.
  LLVM::GlobalOp slotFor(OpBuilder &builder, memref::GlobalOp symbol,
                         bool managed) {
    LLVM::GlobalOp &slot = slots[{symbol, managed}];
    if (slot)
      return slot;
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPoint(symbol);
    Location loc = symbol.getLoc();
    std::string name = ("__r2q_" + Twine(managed ? "managed_" : "device_") +
                        symbol.getSymName())
                           .str();
    slot = LLVM::GlobalOp::create(builder, loc, pointerType(),
                                  /*isConstant=*/false, LLVM::Linkage::Internal,
                                  name, Attribute(),
                                  /*alignment=*/8);
    symbolTable.insert(slot);
    builder.setInsertionPointToStart(
        &slot.getInitializerRegion().emplaceBlock());
    Value null = LLVM::ZeroOp::create(builder, loc, pointerType());
    LLVM::ReturnOp::create(builder, loc, null);
    return slot;
  }

  int64_t byteSize(MemRefType type) {
    return type.getNumElements() *
           static_cast<int64_t>(layout.getTypeSize(type.getElementType()));
  }

  ModuleOp module;
  SymbolTable symbolTable;
  DataLayout layout;
  LLVMTypeConverter converter;
  /// Per constant global and kind of memory (managed or not).
  llvm::MapVector<llvm::PointerIntPair<Operation *, 1, bool>, LLVM::GlobalOp>
      slots;
};

/// Whether `global` is a constant whose data kernels can read from one
/// device copy per loaded module: a dense constant that does not leave
/// the block (the caller would own, and free, a returned copy).
bool cachesOnDevice(memref::GetGlobalOp global, memref::GlobalOp symbol) {
  return symbol && symbol.getConstant() &&
         global.getType().getLayout().isIdentity() &&
         !escapes(global.getResult());
}

/// Whether host code only takes `global`'s address (as the device copy of
/// a constant does): its data stays where it is. (So a second run of the
/// pass does not give the constants a second device copy.)
bool onlyAddressTaken(memref::GetGlobalOp global) {
  return llvm::all_of(global->getUsers(), [](Operation *user) {
    return isa<memref::ExtractAlignedPointerAsIndexOp>(user);
  });
}

class R2QGPUHostBuffersPass
    : public impl::R2QGPUHostBuffersPassBase<R2QGPUHostBuffersPass> {
public:
  void runOnOperation() override {
    OpBuilder builder(&getContext());
    for (auto function : getOperation().getOps<func::FuncOp>())
      if (function.isPublic() && !function.isExternal() &&
          failed(keepArgumentsOnDevice(builder, function,
                                       calledFromOutside(function))))
        return signalPassFailure();
    SmallVector<Operation *> hostOps;
    getOperation()->walk([&](Operation *op) {
      if (isa<memref::AllocOp, memref::DeallocOp, memref::GetGlobalOp>(op) &&
          onHost(op))
        hostOps.push_back(op);
    });
    DeviceConstants constants(getOperation());
    for (Operation *op : hostOps) {
      builder.setInsertionPoint(op);
      Location loc = op->getLoc();
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        alloc.replaceAllUsesWith(gpuBuffer(builder, loc, alloc.getType(),
                                           alloc.getDynamicSizes(),
                                           !onlyKernelsTouch(alloc)));
        op->erase();
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        freeBuffer(builder, loc, dealloc.getMemref());
        op->erase();
      } else if (failed(useGlobal(builder, constants,
                                  cast<memref::GetGlobalOp>(op)))) {
        return signalPassFailure();
      }
    }
    if (failed(constants.emitRelease(builder)))
      signalPassFailure();
  }

private:
  /// Makes `global`'s data readable by kernels: a device copy per loaded
  /// module for a constant, a managed copy per call otherwise.
  LogicalResult useGlobal(OpBuilder &builder, DeviceConstants &constants,
                          memref::GetGlobalOp global) {
    if (onlyAddressTaken(global))
      return success();
    auto symbol = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
        global, global.getNameAttr());
    if (cachesOnDevice(global, symbol))
      return constants.useDeviceCopy(builder, global, symbol);
    copyGlobalPerCall(builder, global, symbol);
    return success();
  }
};

} // namespace
} // namespace r2q
