//===- ReportFailedAsserts.cpp - cf.assert messages on stderr -------------===//
//
// r2q-report-failed-asserts: the cf.asserts of a block become one branch to
// a block that writes the first failed one's message to file descriptor 2
// and aborts. Upstream's lowering prints it with puts, to a stdout that is
// lost with the process when it is not a terminal, and branches at every
// assert: one loop exit per check, which made LLVM's loop unrolling of a GPU
// kernel's host form take minutes. With grouped=false each assert is its
// own branch (GPU host code, whose next op may launch a kernel on the view
// an assert guards). Asserts inside a gpu.module are left to
// convert-gpu-to-nvvm.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/MapVector.h"

namespace r2q {
#define GEN_PASS_DEF_R2QREPORTFAILEDASSERTSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

constexpr int32_t kStandardError = 2;

/// The libc functions a failed assert calls.
struct FailureCalls {
  LLVM::LLVMFuncOp strlen; // size_t strlen(const char *)
  LLVM::LLVMFuncOp write;  // ssize_t write(int fd, const void *, size_t)
  LLVM::LLVMFuncOp abort;  // void abort(void)
};

FailureOr<FailureCalls> declareFailureCalls(ModuleOp module) {
  OpBuilder b(module.getBodyRegion());
  MLIRContext *context = module.getContext();
  Type i32 = IntegerType::get(context, 32);
  Type i64 = IntegerType::get(context, 64);
  Type pointer = LLVM::LLVMPointerType::get(context);
  FailureOr<LLVM::LLVMFuncOp> write =
      LLVM::lookupOrCreateFn(b, module, "write", {i32, pointer, i64}, i64);
  FailureOr<LLVM::LLVMFuncOp> abort = LLVM::lookupOrCreateFn(
      b, module, "abort", {}, LLVM::LLVMVoidType::get(context));
  FailureOr<LLVM::LLVMFuncOp> strlen =
      LLVM::lookupOrCreateFn(b, module, "strlen", {pointer}, i64);
  if (failed(strlen) || failed(write) || failed(abort))
    return failure();
  return FailureCalls{*strlen, *write, *abort};
}

/// One constant global per distinct message (with a newline and a NUL).
class MessageGlobals {
public:
  explicit MessageGlobals(ModuleOp module) : module_(module) {}

  LLVM::GlobalOp get(StringRef message) {
    std::string text = (message + "\n").str();
    text.push_back('\0');
    auto [it, inserted] = globals_.try_emplace(text);
    if (!inserted)
      return it->second;
    OpBuilder b(module_.getBodyRegion());
    auto type = LLVM::LLVMArrayType::get(b.getI8Type(), text.size());
    std::string name = "r2q_assert_message_" + std::to_string(globals_.size());
    it->second =
        LLVM::GlobalOp::create(b, module_.getLoc(), type,
                               /*isConstant=*/true, LLVM::Linkage::Internal,
                               name, b.getStringAttr(text));
    return it->second;
  }

private:
  ModuleOp module_;
  llvm::StringMap<LLVM::GlobalOp> globals_;
};

/// The block of `region` that writes the message its argument points to on
/// stderr and aborts; made on first use, one per region.
class FailureBlocks {
public:
  explicit FailureBlocks(FailureCalls calls) : calls_(calls) {}

  Block *get(Region &region, Location loc) {
    Block *&failed = blocks_[&region];
    if (failed)
      return failed;
    OpBuilder b(region.getContext());
    Type pointer = LLVM::LLVMPointerType::get(region.getContext());
    failed = b.createBlock(&region, region.end(), {pointer}, {loc});
    Value fd = LLVM::ConstantOp::create(b, loc, b.getI32Type(),
                                        b.getI32IntegerAttr(kStandardError));
    Value message = failed->getArgument(0);
    Value length =
        LLVM::CallOp::create(b, loc, calls_.strlen, message).getResult();
    LLVM::CallOp::create(b, loc, calls_.write, ValueRange{fd, message, length});
    LLVM::CallOp::create(b, loc, calls_.abort, ValueRange{});
    LLVM::UnreachableOp::create(b, loc);
    return failed;
  }

private:
  FailureCalls calls_;
  llvm::DenseMap<Region *, Block *> blocks_;
};

/// Replaces the asserts of one block (in order) by one conditional branch
/// where the last of them was: on to the rest of the block if all hold,
/// else to the failure block with the message of the first that failed.
/// Between them the block runs without branches.
void lowerBlockAsserts(MutableArrayRef<cf::AssertOp> asserts,
                       MessageGlobals &messages, FailureBlocks &failures) {
  cf::AssertOp last = asserts.back();
  Location loc = last.getLoc();
  OpBuilder b(last);
  auto address = [&](cf::AssertOp op) -> Value {
    return LLVM::AddressOfOp::create(b, loc, messages.get(op.getMsg()));
  };
  Value allHold = asserts.front().getArg();
  Value firstFailed = address(asserts.front());
  for (cf::AssertOp op : asserts.drop_front()) {
    firstFailed =
        LLVM::SelectOp::create(b, loc, allHold, address(op), firstFailed);
    allHold = arith::AndIOp::create(b, loc, allHold, op.getArg());
  }
  Block *rest = last->getBlock()->splitBlock(std::next(last->getIterator()));
  Block *failed = failures.get(*rest->getParent(), loc);
  b.setInsertionPointAfter(last);
  cf::CondBranchOp::create(b, loc, allHold, rest, ValueRange{}, failed,
                           ValueRange{firstFailed});
  for (cf::AssertOp op : asserts)
    op.erase();
}

class R2QReportFailedAssertsPass
    : public impl::R2QReportFailedAssertsPassBase<R2QReportFailedAssertsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // A kernel's asserts become device asserts (convert-gpu-to-nvvm).
    SmallVector<cf::AssertOp> asserts;
    module.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<gpu::GPUModuleOp>(op))
        return WalkResult::skip();
      if (auto assertOp = dyn_cast<cf::AssertOp>(op))
        asserts.push_back(assertOp);
      return WalkResult::advance();
    });
    if (asserts.empty())
      return;
    FailureOr<FailureCalls> calls = declareFailureCalls(module);
    // lookupOrCreateFn reports a declaration of another type at it.
    if (failed(calls))
      return signalPassFailure();
    MessageGlobals messages(module);
    FailureBlocks failures(*calls);
    if (!grouped) {
      for (cf::AssertOp &op : asserts)
        lowerBlockAsserts(op, messages, failures);
      return;
    }
    llvm::MapVector<Block *, SmallVector<cf::AssertOp>> byBlock;
    for (cf::AssertOp op : asserts)
      byBlock[op->getBlock()].push_back(op);
    for (auto &[block, blockAsserts] : byBlock)
      lowerBlockAsserts(blockAsserts, messages, failures);
  }
};

} // namespace
} // namespace r2q
