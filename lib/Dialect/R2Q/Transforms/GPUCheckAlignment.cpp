//===- GPUCheckAlignment.cpp - Host checks of the buffers' alignment ------===//
//
// r2q-gpu-check-alignment: before each gpu.launch_func, host code asks the
// runtime (r2qCudaCheckAlignment) whether each buffer the kernel accesses
// with wide, aligned accesses starts where those accesses need it to, so
// that a caller's misaligned buffer is an error that names it rather than
// a kernel's misaligned-address fault, which loses the GPU's context.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/AlignmentAttrInterface.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUCHECKALIGNMENTPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

constexpr StringLiteral kCheckFunction = "r2qCudaCheckAlignment";

/// The memref whose alignment `op` claims and the claim, in bytes: an
/// access with an alignment attribute (a load or a store) or
/// memref.assume_alignment; a null memref where `op` claims none.
std::pair<Value, uint64_t> alignmentClaim(Operation *op) {
  if (auto assumed = dyn_cast<memref::AssumeAlignmentOp>(op))
    return {assumed.getMemref(), assumed.getAlignment()};
  if (isa<memref::ReallocOp>(op)) // Its alignment is the new buffer's.
    return {Value(), 0};
  auto access = dyn_cast<AlignmentAttrOpInterface>(op);
  llvm::MaybeAlign align = access ? access.getMaybeAlign() : std::nullopt;
  if (!align)
    return {Value(), 0};
  for (Value operand : op->getOperands())
    if (isa<MemRefType>(operand.getType()))
      return {operand, align->value()};
  return {Value(), 0};
}

/// Whether `cast` keeps its source's offset: its offset is the source's
/// (as r2q-expand-shapes-to-reinterpret-casts writes it, from the source's
/// metadata, or the same static value).
bool keepsOffset(memref::ReinterpretCastOp recast) {
  auto source = dyn_cast<MemRefType>(recast.getSource().getType());
  int64_t sourceOffset;
  SmallVector<int64_t> strides;
  if (recast.getStaticOffsets().front() != ShapedType::kDynamic)
    return source &&
           succeeded(source.getStridesAndOffset(strides, sourceOffset)) &&
           sourceOffset == recast.getStaticOffsets().front();
  auto metadata = recast.getOffsets()
                      .front()
                      .getDefiningOp<memref::ExtractStridedMetadataOp>();
  return metadata && metadata.getSource() == recast.getSource() &&
         metadata.getOffset() == recast.getOffsets().front();
}

/// The buffer that `buffer` views (through view-like ops and casts; itself
/// if none), and whether the views keep its offset: a
/// memref.reinterpret_cast to another offset replaces it, and then a claim
/// in a kernel is about an address the host does not pass.
struct Viewed {
  Value buffer;
  bool keepsOffset = true;
};

Viewed viewedBuffer(Value buffer) {
  Viewed viewed{buffer};
  while (Operation *op = viewed.buffer.getDefiningOp()) {
    if (auto recast = dyn_cast<memref::ReinterpretCastOp>(op))
      viewed.keepsOffset &= keepsOffset(recast);
    if (auto view = dyn_cast<ViewLikeOpInterface>(op))
      viewed.buffer = view.getViewSource();
    else if (auto cast = dyn_cast<memref::CastOp>(op))
      viewed.buffer = cast.getSource();
    else
      break;
  }
  return viewed;
}

/// Whether `type` is workgroup (shared) or private memory: the kernel's
/// own, never the host's.
bool onChip(MemRefType type) {
  auto space = dyn_cast_or_null<gpu::AddressSpaceAttr>(type.getMemorySpace());
  return space && space.getValue() != gpu::AddressSpace::Global;
}

/// For each argument of `kernel`, the largest alignment in bytes that its
/// accesses claim (directly or through views), 0 where none claims one;
/// an error at a claim on a buffer whose start the host cannot check.
FailureOr<SmallVector<uint64_t>> claimedAlignments(gpu::GPUFuncOp kernel) {
  SmallVector<uint64_t> alignments(kernel.getNumArguments(), 0);
  WalkResult walked = kernel.walk([&](Operation *op) {
    auto [buffer, alignment] = alignmentClaim(op);
    if (!buffer)
      return WalkResult::advance();
    Viewed viewed = viewedBuffer(buffer);
    if (onChip(cast<MemRefType>(buffer.getType())) ||
        isa_and_nonnull<memref::AllocOp, memref::AllocaOp, memref::GetGlobalOp,
                        gpu::DynamicSharedMemoryOp>(
            viewed.buffer.getDefiningOp()))
      return WalkResult::advance(); // The kernel's own buffer.
    auto argument = dyn_cast<BlockArgument>(viewed.buffer);
    bool entry = argument && argument.getOwner() == &kernel.getBody().front();
    if (entry && argument.getArgNumber() >= alignments.size())
      return WalkResult::advance(); // A workgroup buffer.
    if (!entry || !viewed.keepsOffset) {
      op->emitOpError() << "claims " << alignment
                        << "-byte alignment of a buffer whose start "
                           "r2q-gpu-check-alignment cannot check before the "
                           "launch (not a view of a kernel argument that "
                           "keeps its offset)";
      return WalkResult::interrupt();
    }
    uint64_t &claimed = alignments[argument.getArgNumber()];
    claimed = std::max(claimed, alignment);
    return WalkResult::advance();
  });
  if (walked.wasInterrupted())
    return failure();
  return alignments;
}

/// What `buffer` (a view of it) is in `function`: one of its arguments, a
/// buffer it allocates, or another.
std::string origin(Value buffer, FunctionOpInterface function) {
  std::string name = ("@" + function.getName()).str();
  Value viewed = viewedBuffer(buffer).buffer;
  auto argument = dyn_cast<BlockArgument>(viewed);
  if (argument && argument.getOwner() == &function.getFunctionBody().front())
    return "argument " + std::to_string(argument.getArgNumber()) + " of " +
           name;
  if (viewed.getDefiningOp<gpu::AllocOp>())
    return "a buffer that " + name + " allocates";
  return "a buffer of " + name;
}

/// How the message names `operand` (operand `index` of `launch`).
std::string describe(gpu::LaunchFuncOp launch, unsigned index, Value operand) {
  auto function = launch->getParentOfType<FunctionOpInterface>();
  std::string type, kernel;
  llvm::raw_string_ostream(type) << operand.getType();
  llvm::raw_string_ostream(kernel) << launch.getKernel();
  return (function ? origin(operand, function) : std::string("a buffer")) +
         " (" + type + ", operand " + std::to_string(index) + " of kernel " +
         kernel + ")";
}

/// Emits the host calls that check a launch's operands.
class AlignmentChecks {
public:
  explicit AlignmentChecks(ModuleOp module)
      : module(module), symbols(module), layout(module) {}

  LogicalResult checkOperands(gpu::LaunchFuncOp launch) {
    auto kernel = symbols.lookupNearestSymbolFrom<gpu::GPUFuncOp>(
        launch, launch.getKernel());
    if (!kernel)
      return success(); // gpu.launch_func's verifier reports it.
    FailureOr<SmallVector<uint64_t>> claims = claimedAlignments(kernel);
    if (failed(claims))
      return failure();
    SmallVector<uint64_t> &alignments = *claims;
    for (auto [index, operand] : llvm::enumerate(launch.getKernelOperands())) {
      auto type = dyn_cast<MemRefType>(operand.getType());
      if (!type || index >= alignments.size() ||
          alignments[index] <=
              layout.getTypeABIAlignment(type.getElementType()))
        continue; // The element type's alignment, which the ABI gives.
      if (failed(emitCheck(launch, index, operand, alignments[index])))
        return failure();
    }
    return success();
  }

private:
  /// r2qCudaCheckAlignment(address of the buffer's first element,
  /// alignment, description) before `launch`.
  LogicalResult emitCheck(gpu::LaunchFuncOp launch, unsigned index,
                          Value buffer, uint64_t alignment) {
    OpBuilder builder(launch);
    Location loc = launch.getLoc();
    Type i64 = builder.getI64Type();
    Type pointer = LLVM::LLVMPointerType::get(builder.getContext());
    auto check = LLVM::lookupOrCreateFn(
        builder, module, kCheckFunction, {i64, i64, pointer},
        LLVM::LLVMVoidType::get(builder.getContext()));
    if (failed(check))
      return failure();
    auto metadata =
        memref::ExtractStridedMetadataOp::create(builder, loc, buffer);
    Value base =
        memref::ExtractAlignedPointerAsIndexOp::create(builder, loc, buffer);
    Value offsetBytes = arith::MulIOp::create(
        builder, loc, metadata.getOffset(),
        arith::ConstantIndexOp::create(
            builder, loc, elementBytes(cast<MemRefType>(buffer.getType()))));
    Value address = arith::IndexCastUIOp::create(
        builder, loc, i64,
        arith::AddIOp::create(builder, loc, base, offsetBytes));
    Value required = LLVM::ConstantOp::create(builder, loc, i64, alignment);
    Value message = LLVM::createGlobalString(
        loc, builder, uniqueMessageName(),
        describe(launch, index, buffer) + '\0', LLVM::Linkage::Internal);
    LLVM::CallOp::create(builder, loc, *check,
                         ValueRange{address, required, message});
    return success();
  }

  /// The distance between elements (LLVM's allocation size: i24 takes 4).
  uint64_t elementBytes(MemRefType type) {
    Type element = type.getElementType();
    return llvm::alignTo(layout.getTypeSize(element),
                         layout.getTypeABIAlignment(element));
  }

  std::string uniqueMessageName() {
    std::string name;
    do
      name = "__r2q_alignment_message_" + std::to_string(messages++);
    while (symbols.lookup(name));
    return name;
  }

  ModuleOp module;
  SymbolTable symbols;
  DataLayout layout;
  unsigned messages = 0;
};

class R2QGPUCheckAlignmentPass
    : public impl::R2QGPUCheckAlignmentPassBase<R2QGPUCheckAlignmentPass> {
public:
  void runOnOperation() override {
    SmallVector<gpu::LaunchFuncOp> launches;
    getOperation()->walk(
        [&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
    AlignmentChecks checks(getOperation());
    for (gpu::LaunchFuncOp launch : launches)
      if (failed(checks.checkOperands(launch)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace r2q
