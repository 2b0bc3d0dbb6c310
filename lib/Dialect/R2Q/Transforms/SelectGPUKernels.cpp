//===- SelectGPUKernels.cpp - The kernel of every r2q.matmul for a GPU ----===//
//
// The GPU counterpart of r2q-select-cpu-kernels: for one row, tables of
// whole sign bytes (byte_lut_gemv) where the weight is a constant that
// r2q-pack-weights can pack; table lookups in shared memory (warp_lut_gemv)
// below 16 rows, tensor cores on f16 tiles (mma_gemm) from 16 rows on, or
// any of them and sign flips by xor (warp_gemv) on request. The decision is
// the op's #r2q.kernel attribute.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "llvm/ADT/StringSwitch.h"

namespace r2q {
#define GEN_PASS_DEF_R2QSELECTGPUKERNELSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Static batches of at least this many rows run on tensor cores.
constexpr int64_t kMmaMinRows = 16;
/// mma_gemm's ldmatrix and mma.sync m16n8k16 need sm_80 (Ampere) or newer.
constexpr int64_t kMmaMinSM = 80;
/// wgmma_gemm's wgmma.mma_async is an sm_90a instruction (Hopper's
/// arch-specific features; Blackwell has tcgen05 instead).
constexpr int64_t kWgmmaSM = 90;

/// The strategies that round to f16 for the tensor cores.
bool isTensorCoreStrategy(KernelStrategy strategy) {
  return strategy == KernelStrategy::MmaGemm ||
         strategy == KernelStrategy::WgmmaGemm;
}

/// The PTX ISA version (x10) LLVM's NVPTX backend needs for `chip`, or 0
/// where it is not listed here (NVPTX.td; a lower version is a fatal error
/// of the backend).
int64_t minimumPtxVersion(StringRef chip) {
  return llvm::StringSwitch<int64_t>(chip)
      .Cases({"sm_70", "sm_72", "sm_75"}, 63)
      .Case("sm_80", 70)
      .Case("sm_86", 71)
      .Case("sm_87", 74)
      .Cases({"sm_89", "sm_90"}, 78)
      .Case("sm_90a", 80)
      .Cases({"sm_100", "sm_100a", "sm_101", "sm_101a"}, 86)
      .Cases({"sm_120", "sm_120a"}, 87)
      .Default(0);
}

/// The PTX version (x10) that `features` ask for (+ptxNN), or none.
std::optional<int64_t> ptxVersion(StringRef features) {
  SmallVector<StringRef> parts;
  features.split(parts, ',');
  for (StringRef part : parts) {
    int64_t version = 0;
    StringRef text = part.trim();
    if (text.consume_front("+ptx") && !text.getAsInteger(10, version))
      return version;
  }
  return std::nullopt;
}

/// Why `strategy` with `tileRows` cannot compute `op`, or an empty string.
std::string unsupported(MatmulOp op, KernelStrategy strategy,
                        int64_t tileRows) {
  switch (strategy) {
  case KernelStrategy::MmaGemm:
  case KernelStrategy::WgmmaGemm:
    return op.mmaGemmUnsupported(tileRows, stringifyKernelStrategy(strategy));
  case KernelStrategy::ByteLutGemv:
    if (std::string reason = op.byteLutGemvUnsupported(tileRows);
        !reason.empty())
      return reason;
    if (!canPackRowInterleaved(op, kDefaultPackMaxPadding))
      return "byte_lut_gemv reads the row-interleaved layout, which "
             "r2q-pack-weights makes of constant weights only (and only "
             "where it pads the signs by at most 1/8)";
    return "";
  default:
    return op.warpGemvUnsupported();
  }
}

class SelectGPUKernelsPass
    : public impl::R2QSelectGPUKernelsPassBase<SelectGPUKernelsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    if (strategy != "auto") {
      forced = symbolizeKernelStrategy(strategy);
      if (!forced || !isGPUStrategy(*forced)) {
        emitError(getOperation()->getLoc())
            << "r2q-select-gpu-kernels: unknown strategy '" << strategy
            << "'; expected auto, byte_lut_gemv, warp_lut_gemv, mma_gemm, "
               "wgmma_gemm or warp_gemv";
        return signalPassFailure();
      }
    }
    if (precision != "fast" && precision != "exact") {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: unknown precision '" << precision
          << "'; expected fast or exact";
      return signalPassFailure();
    }
    if (precision == "exact" && forced && isTensorCoreStrategy(*forced)) {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: strategy "
          << stringifyKernelStrategy(*forced)
          << " rounds to f16; precision=exact takes byte_lut_gemv, "
             "warp_lut_gemv or warp_gemv";
      return signalPassFailure();
    }
    std::optional<GPUChip> parsed = parseGPUChip(chip);
    if (!parsed) {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: unknown chip '" << chip
          << "'; expected sm_ and a compute capability (sm_80, sm_90a, ...)";
      return signalPassFailure();
    }
    tensorCores = parsed->capability >= kMmaMinSM;
    warpgroupTensorCores =
        parsed->capability == kWgmmaSM && parsed->archSpecific;
    std::optional<int64_t> ptx = ptxVersion(cubinFeatures);
    if (int64_t needed = minimumPtxVersion(chip); ptx && *ptx < needed) {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: chip " << chip << " needs PTX "
          << needed / 10 << "." << needed % 10
          << " or newer (cubin-features=+ptx" << needed
          << "); cubin-features is " << cubinFeatures;
      return signalPassFailure();
    }
    if (tileRows < 0) {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: tile-rows must be 0 (the strategy's "
             "default) or positive, not "
          << tileRows.getValue();
      return signalPassFailure();
    }
    WalkResult result = getOperation()->walk([&](MatmulOp op) {
      return succeeded(select(op)) ? WalkResult::advance()
                                   : WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

private:
  LogicalResult select(MatmulOp op) {
    if (KernelAttr kernel = op.getKernelAttr()) {
      if (isGPUStrategy(kernel.getStrategy()))
        return checkChip(op, kernel.getStrategy());
      return op.emitOpError("r2q-select-gpu-kernels: kernel strategy ")
             << stringifyKernelStrategy(kernel.getStrategy())
             << " is a CPU kernel; the GPU runs byte_lut_gemv, warp_lut_gemv, "
                "mma_gemm, wgmma_gemm or warp_gemv";
    }
    if (std::string reason = op.warpGemvUnsupported(); !reason.empty())
      return op.emitOpError("r2q-select-gpu-kernels: no GPU kernel can "
                            "compute this op: ")
             << reason;
    KernelStrategy chosen =
        forced ? *forced : automatic(op, precision, tensorCores);
    if (failed(checkChip(op, chosen)))
      return failure();
    // With auto, tile-rows is the warp kernels' (features per warp); an
    // mma_gemm or byte_lut_gemv op chosen by rows keeps its own default.
    bool ownDefault =
        isTensorCoreStrategy(chosen) || chosen == KernelStrategy::ByteLutGemv;
    int64_t rows = forced || !ownDefault ? tileRows : 0;
    if (std::string reason = unsupported(op, chosen, rows); !reason.empty())
      return op.emitOpError("r2q-select-gpu-kernels: kernel strategy ")
             << stringifyKernelStrategy(chosen)
             << " cannot compute this op: " << reason;
    KernelAttr portable = KernelAttr::getPortableDefault(op.getContext());
    op.setKernelAttr(KernelAttr::get(
        op.getContext(), chosen, std::nullopt, 0, portable.getVectorWidth(),
        rows, /*threads=*/1, KernelPrecision::Exact, KernelTarget::AVX2));
    return success();
  }

  /// Whether the chip runs `strategy` (mma_gemm needs kMmaMinSM,
  /// wgmma_gemm kWgmmaSM's arch-specific features).
  LogicalResult checkChip(MatmulOp op, KernelStrategy strategy) {
    if (strategy == KernelStrategy::MmaGemm && !tensorCores)
      return op.emitOpError("r2q-select-gpu-kernels: kernel strategy "
                            "mma_gemm needs sm_80 or newer (ldmatrix, "
                            "mma.sync m16n8k16); chip is ")
             << chip.getValue();
    if (strategy == KernelStrategy::WgmmaGemm && !warpgroupTensorCores)
      return op.emitOpError("r2q-select-gpu-kernels: kernel strategy "
                            "wgmma_gemm needs chip=sm_90a (wgmma.mma_async "
                            "exists on sm_90a only); chip is ")
             << chip.getValue();
    return success();
  }

  /// One row: byte tables (byte_lut_gemv) where the weight can be packed.
  /// In fast precision and on a chip with the tensor-core instructions,
  /// tensor cores from kMmaMinRows rows on (the batch is static here) up
  /// to the rows their grid takes; 16-entry tables otherwise, and for every
  /// batch of more than one row in exact.
  static KernelStrategy automatic(MatmulOp op, StringRef precision,
                                  bool tensorCores) {
    auto input = cast<RankedTensorType>(op.getInput().getType());
    int64_t rows = input.getNumElements() / input.getShape().back();
    if (rows == 1 && unsupported(op, KernelStrategy::ByteLutGemv, 0).empty())
      return KernelStrategy::ByteLutGemv;
    return precision == "fast" && tensorCores && rows >= kMmaMinRows &&
                   unsupported(op, KernelStrategy::MmaGemm, 0).empty()
               ? KernelStrategy::MmaGemm
               : KernelStrategy::WarpLutGemv;
  }

  std::optional<KernelStrategy> forced;
  bool tensorCores = true;
  bool warpgroupTensorCores = false;
};

} // namespace

std::optional<GPUChip> parseGPUChip(StringRef chip) {
  GPUChip parsed{0, false};
  if (!chip.consume_front("sm_"))
    return std::nullopt;
  parsed.archSpecific = chip.consume_back("a");
  if (!parsed.archSpecific)
    chip.consume_back("f");
  if (chip.empty() || chip.getAsInteger(10, parsed.capability))
    return std::nullopt;
  return parsed;
}

} // namespace r2q
