//===- R2QAttrs.td - r2q attributes ------------------------*- tablegen -*-===//

#ifndef R2Q_DIALECT_R2Q_IR_R2QATTRS_TD
#define R2Q_DIALECT_R2Q_IR_R2QATTRS_TD

include "r2q/Dialect/R2Q/IR/R2QDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def R2Q_MethodGreedy : I32EnumAttrCase<"Greedy", 0, "greedy">;
def R2Q_MethodRefined : I32EnumAttrCase<"Refined", 1, "refined">;

def R2Q_Method : I32EnumAttr<"Method", "how sign planes and scales are chosen",
    [R2Q_MethodGreedy, R2Q_MethodRefined]> {
  let cppNamespace = "::r2q";
  let genSpecializedAttr = 0;
}

def R2Q_SchemeAttr : AttrDef<R2Q_Dialect, "Scheme"> {
  let mnemonic = "scheme";
  let summary = "how a weight matrix is quantized";
  let description = [{
    The parameters of R2Q quantization:

    * `group_size`: consecutive weights along K sharing one scale per plane; a
      positive multiple of 8. It need not divide K: the last group of a row is
      then shorter (the remaining `K - G * floor(K / G)` weights, with scales
      of their own);
    * `planes`: number of sign bitplanes `P`, 1 to 4 (bits per weight before
      scales);
    * `method`: `greedy` (the paper: each plane is the sign of the previous
      residual, its scale the residual's mean magnitude) or `refined` (greedy,
      then alternating least-squares scales and nearest-level signs while the
      error decreases);
    * `scale_type`: element type the scales are stored in: `f32`, `f16` or
      `bf16`.

    Storage is `planes * (1 + bits(scale_type) / group_size)` bits per weight
    when the group size divides K: 2.25 for `group_size = 128, planes = 2,
    scale_type = f16`. Otherwise the shorter last group and the padding of the
    sign rows make it slightly more.

    Example:

    ```mlir
    #r2q.scheme<group_size = 128, planes = 2, method = greedy, scale_type = f16>
    ```
  }];
  let parameters = (ins
    "int64_t":$groupSize,
    "int64_t":$planes,
    "::r2q::Method":$method,
    "::mlir::Type":$scaleType
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Storage bits per weight when the group size divides K: planes and
    /// their share of the scales.
    double getBitsPerWeight() const;
    /// The sign planes of an N x K weight: planes x N x ceil(K/8) x i8.
    ::mlir::RankedTensorType getSignsType(int64_t n, int64_t k) const;
    /// The scales of an N x K weight: planes x N x ceil(K/group_size).
    ::mlir::RankedTensorType getScalesType(int64_t n, int64_t k) const;
  }];
}

def R2Q_StrategyFusedDecode : I32EnumAttrCase<"FusedDecode", 0, "fused_decode">;
def R2Q_StrategyTiledDecode : I32EnumAttrCase<"TiledDecode", 1, "tiled_decode">;
def R2Q_StrategyVectorGemv : I32EnumAttrCase<"VectorGemv", 2, "vector_gemv">;
def R2Q_StrategyLutGemv : I32EnumAttrCase<"LutGemv", 3, "lut_gemv">;
def R2Q_StrategyWarpGemv : I32EnumAttrCase<"WarpGemv", 4, "warp_gemv">;
def R2Q_StrategyWarpLutGemv : I32EnumAttrCase<"WarpLutGemv", 5, "warp_lut_gemv">;
def R2Q_StrategyInt8Gemm : I32EnumAttrCase<"Int8Gemm", 6, "int8_gemm">;
def R2Q_StrategyMmaGemm : I32EnumAttrCase<"MmaGemm", 7, "mma_gemm">;
def R2Q_StrategyByteLutGemv
    : I32EnumAttrCase<"ByteLutGemv", 8, "byte_lut_gemv">;
def R2Q_StrategyWgmmaGemm : I32EnumAttrCase<"WgmmaGemm", 9, "wgmma_gemm">;

def R2Q_KernelStrategy : I32EnumAttr<"KernelStrategy",
    "how an r2q.matmul is computed (one lowering pattern each)",
    [R2Q_StrategyFusedDecode, R2Q_StrategyTiledDecode,
     R2Q_StrategyVectorGemv, R2Q_StrategyLutGemv, R2Q_StrategyWarpGemv,
     R2Q_StrategyWarpLutGemv, R2Q_StrategyInt8Gemm, R2Q_StrategyMmaGemm,
     R2Q_StrategyByteLutGemv, R2Q_StrategyWgmmaGemm]> {
  let cppNamespace = "::r2q";
  let genSpecializedAttr = 0;
}

def R2Q_PrecisionExact : I32EnumAttrCase<"Exact", 0, "exact">;
def R2Q_PrecisionFast : I32EnumAttrCase<"Fast", 1, "fast">;

def R2Q_KernelPrecision : I32EnumAttr<"KernelPrecision",
    "the tables of lut_gemv: exact (f32) or fast (int8, lossy)",
    [R2Q_PrecisionExact, R2Q_PrecisionFast]> {
  let cppNamespace = "::r2q";
  let genSpecializedAttr = 0;
}

def R2Q_TargetAVX2 : I32EnumAttrCase<"AVX2", 0, "avx2">;
def R2Q_TargetAVX512 : I32EnumAttrCase<"AVX512", 1, "avx512">;

def R2Q_KernelTarget : I32EnumAttr<"KernelTarget",
    "the x86 instruction set of lut_gemv's table lookups and int8_gemm's "
    "dot products",
    [R2Q_TargetAVX2, R2Q_TargetAVX512]> {
  let cppNamespace = "::r2q";
  let genSpecializedAttr = 0;
}

def R2Q_LayoutCanonical : I32EnumAttrCase<"Canonical", 0, "canonical">;
def R2Q_LayoutRowInterleaved
    : I32EnumAttrCase<"RowInterleaved", 1, "row_interleaved">;

def R2Q_KernelLayout : I32EnumAttr<"KernelLayout",
    "the layout of the sign planes a kernel reads",
    [R2Q_LayoutCanonical, R2Q_LayoutRowInterleaved]> {
  let cppNamespace = "::r2q";
  let genSpecializedAttr = 0;
}

def R2Q_KernelAttr : AttrDef<R2Q_Dialect, "Kernel"> {
  let mnemonic = "kernel";
  let summary = "the kernel an r2q.matmul is lowered with";
  let description = [{
    The lowering strategy of one `r2q.matmul` and its parameters, set by
    `r2q-select-cpu-kernels` (or written by the user, which that pass then
    keeps) and read by `convert-r2q-to-linalg`, which has one pattern per
    strategy:

    * `strategy`: `fused_decode` (one `linalg.generic` decodes each weight
      inside the reduction: few rows, portable), `vector_gemv` (few rows,
      straight from the sign bits with vector ops, exact), `lut_gemv` (a
      static batch of 1 to 8 rows by table lookup, x86 only: the
      `r2q.matmul` verifier checks its rows and group size),
      `tiled_decode` (tiles of output features decoded to f32 once and
      contracted with every row: many rows), `warp_gemv` (a GPU kernel of
      `r2q-gpu-pipeline`: 32 lanes per `tile_rows` output features, sign
      flips by xor; a static batch and weight shape; its loop nest also runs
      on the host), `warp_lut_gemv` (the GPU kernel for 1 to 4 rows at a
      time: the same warps, the activations' 16-entry tables of signed
      quad sums in shared memory, looked up by the sign nibbles),
      `int8_gemm` (many rows, x86 only, lossy: activations rounded to int8
      per 128 columns, byte dot products with the sign bits, vpdpbusd with
      AVX-512 VNNI; group sizes as for `lut_gemv`), `mma_gemm` (the GPU
      kernel for 16 rows or more, lossy: tiles of the weight decoded to
      f16 in shared memory and multiplied with the activations, rounded to
      f16 after an exact power of two per row, on tensor cores (mma.sync, f32
      accumulators); a static batch and weight shape; its loop nest also
      runs on the host), `wgmma_gemm` (`mma_gemm` on sm_90a's warpgroup
      tensor-core instruction: the same tiles, 128-byte swizzled in shared
      memory, multiplied by `wgmma.mma_async` from there; its loop nest
      also runs on the host, the products read through the instruction's
      shared-memory descriptors) or `byte_lut_gemv` (the GPU kernel for one row:
      256-entry tables of the signed sums of 8 activations in shared
      memory, looked up by whole sign bytes of the row-interleaved layout,
      16 output features per 128-bit load, the columns split among blocks;
      f32, to rounding; a static batch and weight shape; its loop nest also
      runs on the host);
    * `max_rows` and `otherwise`, together: `strategy` runs when the input
      has at most `max_rows` rows (the product of its leading dimensions),
      `otherwise` when it has more; decided at compile time when the rows
      are static, by an `scf.if` otherwise;
    * `vector_width`: f32 lanes per step of `vector_gemv`, a power of two of
      at least 8 (default 16);
    * `tile_rows`: output features per task: the unit of work of a thread,
      and for `tiled_decode` the rows decoded at once; 0 (the default): all
      of them for `fused_decode` and `vector_gemv`, 256 KiB of f32 for
      `tiled_decode`; for `warp_gemv` the output features of one warp
      (0: 4, 2 or 1 as the batch tile grows), for `warp_lut_gemv` too (0:
      4), for `mma_gemm` and `wgmma_gemm` the output features of a block
      (0: 128, or 64 or 192), for `byte_lut_gemv` the output features of a warp (0: 64, or
      fewer on small layers; a multiple of 16);
    * `threads`: 1 (the default) runs the kernel on the calling thread;
      `T > 1` splits its output features into `T` contiguous parts, the
      iterations of an `scf.forall` that `r2q-cpu-pipeline` runs on OpenMP
      threads (each part a whole number of tiles);
    * `precision`, for `lut_gemv` only (printed only there): `exact` (the
      default: f32 tables, the numerics core's result to f32 rounding) or
      `fast` (int8 tables of activations rounded per block of 128 columns:
      lossy, within the bound in `docs/rationale.md`, used for group sizes
      of 1, 2 or 4k blocks of 128, exact otherwise);
    * `target`, for `lut_gemv` and `int8_gemm` (as `strategy` or
      `otherwise`; printed only there): `avx2` (the default, runs on
      AVX-512 machines too) or `avx512` (`lut_gemv`: needs AVX-512 BW;
      `int8_gemm`: AVX-512 VNNI and BW);
    * `layout`, for `lut_gemv` and `byte_lut_gemv` only (printed only when
      not `canonical`): the
      layout of the op's sign planes and scales. `canonical` (the default)
      is `docs/format.md`'s; `row_interleaved` is lut_gemv's packed layout
      (`docs/format.md`, "The row-interleaved layout": the bytes of each
      block of 16 rows in the order of the kernel's lookups, a
      `P x ceil(N/16) x (ceil(K/512) * 1024)` i8 tensor, and the scales of
      each block's groups side by side, `P x ceil(N/16) x 16 ceil(K/G)`),
      which `r2q-pack-weights` produces from constant weights. The
      `r2q.matmul` verifier checks both shapes against it. `byte_lut_gemv`
      reads only `row_interleaved` weights: with `canonical` ones it is a
      choice that `r2q-pack-weights` has yet to pack, and lowering it
      before then is an error.

    Examples:

    ```mlir
    #r2q.kernel<strategy = vector_gemv, vector_width = 32, threads = 2>
    #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = tiled_decode,
                vector_width = 32, tile_rows = 16, threads = 2>
    #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512,
                vector_width = 32, tile_rows = 16, threads = 2>
    #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx512,
                layout = row_interleaved, vector_width = 32, tile_rows = 16,
                threads = 2>
    #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = int8_gemm,
                target = avx512, vector_width = 32, tile_rows = 16,
                threads = 2>
    ```
  }];
  let parameters = (ins
    "::r2q::KernelStrategy":$strategy,
    "std::optional<::r2q::KernelStrategy>":$otherwise,
    "int64_t":$maxRows,
    "int64_t":$vectorWidth,
    "int64_t":$tileRows,
    "int64_t":$threads,
    "::r2q::KernelPrecision":$precision,
    "::r2q::KernelTarget":$target,
    "::r2q::KernelLayout":$layout
  );
  let builders = [
    // A kernel reading the canonical layout.
    AttrBuilder<(ins "::r2q::KernelStrategy":$strategy,
                     "std::optional<::r2q::KernelStrategy>":$otherwise,
                     "int64_t":$maxRows, "int64_t":$vectorWidth,
                     "int64_t":$tileRows, "int64_t":$threads,
                     "::r2q::KernelPrecision":$precision,
                     "::r2q::KernelTarget":$target), [{
      return $_get($_ctxt, strategy, otherwise, maxRows, vectorWidth,
                   tileRows, threads, precision, target,
                   ::r2q::KernelLayout::Canonical);
    }]>
  ];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The same kernel reading its signs in `layout`.
    KernelAttr withLayout(::r2q::KernelLayout layout) const;
    /// The strategy for `rows` activation rows.
    ::r2q::KernelStrategy strategyFor(int64_t rows) const {
      return getOtherwise() && rows > getMaxRows() ? *getOtherwise()
                                                   : getStrategy();
    }
    /// The same kernel with one strategy and no choice by rows.
    KernelAttr withOnly(::r2q::KernelStrategy strategy) const;
    /// The kernel of an r2q.matmul without a kernel attribute: fused_decode
    /// for at most 2 rows, tiled_decode otherwise, on one thread.
    static KernelAttr getPortableDefault(::mlir::MLIRContext *context);
  }];
}

#endif // R2Q_DIALECT_R2Q_IR_R2QATTRS_TD
