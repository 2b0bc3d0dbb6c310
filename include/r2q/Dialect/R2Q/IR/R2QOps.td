//===- R2QOps.td - r2q operations --------------------------*- tablegen -*-===//

#ifndef R2Q_DIALECT_R2Q_IR_R2QOPS_TD
#define R2Q_DIALECT_R2Q_IR_R2QOPS_TD

include "r2q/Dialect/R2Q/IR/R2QAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class R2Q_Op<string mnemonic, list<Trait> traits = []>
    : Op<R2Q_Dialect, mnemonic, !listconcat(traits, [Pure])>;

def R2Q_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def R2Q_Weight : 2DTensorOf<[F32, F16, BF16]>;
def R2Q_SignPlanes : 3DTensorOf<[I8]>;
def R2Q_Scales : 3DTensorOf<[F32, F16, BF16]>;
def R2Q_OutlierOffsets : 1DTensorOf<[I32]>;
def R2Q_OutlierColumns : 1DTensorOf<[I16, I32]>;
def R2Q_OutlierValues : 1DTensorOf<[F16, F32]>;

def R2Q_QuantizeOp : R2Q_Op<"quantize",
    [DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "quantize a weight matrix into sign planes and scales";
  let description = [{
    Quantizes an `N x K` weight matrix with the R2Q `scheme`: every group of
    `group_size` consecutive weights along `K` of every row gets `planes`
    sign bitplanes and as many non-negative scales. The result types follow
    from the weight type and the scheme:

    * `signs`: `tensor<planes x N x ceil(K/8) x i8>`, packed as
      `docs/format.md` specifies (bit `j` of byte `b` is column `8b + j`; set
      means `-1`; padding bits are zero);
    * `scales`: `tensor<planes x N x ceil(K/group_size) x scale_type>`. When
      `group_size` does not divide `K`, the last group of each row holds the
      remaining `K mod group_size` weights and its scales are computed over
      those weights only.

    `N` and `K` must be positive.

    With the `greedy` method, plane `p` holds the signs of the residual left
    by planes `0..p-1` (`sign(0) = +1`) and its scale is that residual's mean
    magnitude, rounded to `scale_type` before the next residual is taken.

    `-r2q-fold-constant-weights` folds a constant weight (`dense` or
    `dense_resource`) to packed constants computed by the numerics core and
    reports NaN or infinite weights, and scales that overflow `scale_type`,
    as errors. The fold hook (any `--canonicalize`) folds weights of at most
    4096 elements only.
    `-r2q-decompose-quantize` rewrites a `greedy` quantization of a runtime
    weight into its `r2q.residual` stages.

    Example:

    ```mlir
    %signs, %scales = r2q.quantize %w
        #r2q.scheme<group_size = 128, planes = 2, method = greedy, scale_type = f16>
        : tensor<4096x4096xf32>
    // %signs: tensor<2x4096x512xi8>, %scales: tensor<2x4096x32xf16>
    ```
  }];
  let arguments = (ins R2Q_Weight:$weight, R2Q_SchemeAttr:$scheme);
  let results = (outs R2Q_SignPlanes:$signs, R2Q_Scales:$scales);
  let assemblyFormat = [{
    $weight `scheme` $scheme attr-dict `:` type($weight)
  }];
  let hasFolder = 1;
}

def R2Q_ResidualOp : R2Q_Op<"residual"> {
  let summary = "one greedy 1-bit stage: signs and scales of a residual";
  let description = [{
    One refinement stage of greedy R2Q. For every group of `group_size`
    consecutive elements along `K` of every row of `residual` (`N x K`):

    ```
    sign  = residual >= 0 ? +1 : -1            (packed, set bit = -1)
    scale = round_to_scale_type(mean(|residual|))
    next  = residual - scale * sign
    ```

    `signs` is `tensor<N x ceil(K/8) x i8>` (padding bits zero), `scales` is
    `tensor<N x ceil(K/group_size) x f32|f16|bf16>` (a shorter last group's
    mean is taken over its own elements) and `next` has the type of
    `residual`. Chaining `P` stages from the weight reproduces a greedy
    `r2q.quantize` with `P` planes exactly; `-r2q-decompose-quantize` emits
    such chains for weights only known at run time. A constant `residual`
    is folded by `-r2q-fold-constant-weights` (by the fold hook up to 4096
    elements).

    Example:

    ```mlir
    %s1, %a1, %r1 = r2q.residual %w group_size 128
        : tensor<256x512xf32> -> tensor<256x64xi8>, tensor<256x4xf16>, tensor<256x512xf32>
    ```
  }];
  let arguments = (ins R2Q_Weight:$residual,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs 2DTensorOf<[I8]>:$signs,
                      2DTensorOf<[F32, F16, BF16]>:$scales,
                      R2Q_Weight:$next);
  let assemblyFormat = [{
    $residual `group_size` $group_size attr-dict `:` type($residual) `->` type($signs) `,`
    type($scales) `,` type($next)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def R2Q_DequantizeOp : R2Q_Op<"dequantize"> {
  let summary = "reconstruct float weights from sign planes and scales";
  let description = [{
    Decodes `N x K` weights:
    `result[n][k] = sum_p scales[p][n][k / group_size] * (bit(signs[p][n], k) ? -1 : +1)`,
    summed in plane order in f32 and converted to the result element type.
    Signs are `P x N x ceil(K/8)` bytes, scales `P x N x ceil(K/group_size)`
    (a shorter last group when `group_size` does not divide `K`).
    This is the reference semantics of every r2q weight; lowerings and kernels
    are checked against it. `-r2q-fold-constant-weights` folds it when both
    operands are constants (the fold hook up to 4096 weights), so
    `dequantize(quantize(constant))` becomes the numerics core's
    reconstruction.

    Example:

    ```mlir
    %w_hat = r2q.dequantize %signs, %scales group_size 128
        : tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<256x512xf32>
    ```
  }];
  let arguments = (ins R2Q_SignPlanes:$signs, R2Q_Scales:$scales,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs R2Q_Weight:$result);
  let assemblyFormat = [{
    $signs `,` $scales `group_size` $group_size attr-dict `:` type($signs) `,` type($scales) `->`
    type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def R2Q_MatmulOp : R2Q_Op<"matmul", [AttrSizedOperandSegments]> {
  let summary = "multiply activations by the transpose of a quantized weight";
  let description = [{
    Computes `result = input * (dequantize(signs, scales) + S)^T` for an
    `N x K` quantized weight, the way `torch.nn.Linear` applies its weight:

    ```
    result[..., m, n] = sum_k input[..., m, k] * (w_hat[n][k] + S[n][k])
    ```

    `input` has any rank >= 1 with `K` innermost (leading dimensions are
    batch dimensions and may be dynamic); `result` has the same leading
    dimensions and `N` innermost. Products are accumulated in f32 whatever the
    element types, then converted to the result element type, so a bf16 input
    with an f32 result is the usual mixed-precision linear layer. The weight
    operands are laid out as for `r2q.dequantize`; `K` need not be a
    multiple of `group_size` or of 8.

    The optional `outliers(%offsets, %columns, %values)` are the sparse part
    of dense + sparse R2Q (`docs/format.md`, "Outliers"): a CSR matrix `S`
    of corrections to the decoded weight, all three operands or none.
    `offsets` is `tensor<(N+1) x i32>` (row `n` owns entries
    `offsets[n] .. offsets[n+1] - 1`), `columns` is `tensor<nnz x i16|i32>`
    (ascending within a row; i16 only when `K <= 32768`) and `values` is
    `tensor<nnz x f16|f32>` with as many entries as `columns`; `nnz` may be
    static or dynamic. `S[n][columns[j]] = values[j]` for `j` in row `n`'s
    range and zero elsewhere. Weights kept this way (the rare large weights
    of real LLMs) are exact: the decoded weight plus its correction is the
    original value in the corrections' type. The verifier checks types and
    sizes; `r2q-outline-kernels` and `convert-r2q-to-linalg` check the
    contents of constant offsets and columns (from 0 to `nnz`, never
    decreasing, columns ascending within a row and below `K`) before they
    lower the op.

    The optional `kernel` attribute (`#r2q.kernel`) says how the op is
    lowered (`r2q-select-cpu-kernels` sets it); without it,
    `convert-r2q-to-linalg` uses its portable default. The verifier rejects
    a `lut_gemv` kernel on an op that strategy cannot compute (rows not a
    static 1 to 8, or a group size other than `8 * 2^i` up to 128 or a
    multiple of 128) and a `warp_gemv` kernel on an op whose rows or weight
    shape are dynamic. A kernel with `layout = row_interleaved` takes its
    weight in lut_gemv's packed layout (`docs/format.md`, "The
    row-interleaved layout", produced by `r2q-pack-weights`): signs of
    exactly `P x ceil(N/16) x (ceil(K/512) * 1024)` bytes and scales of
    `P x ceil(N/16) x 16 ceil(K/G)`, with a static N, which the verifier
    checks.

    Example:

    ```mlir
    %y = r2q.matmul %x, %signs, %scales group_size 128
        : tensor<?x512xbf16>, tensor<2x256x64xi8>, tensor<2x256x4xf16>
        -> tensor<?x256xf32>
    %z = r2q.matmul %x, %signs, %scales outliers(%offsets, %columns, %values)
        group_size 128
        : tensor<?x512xbf16>, tensor<2x256x64xi8>, tensor<2x256x4xf16>,
          outliers(tensor<257xi32>, tensor<655xi16>, tensor<655xf16>)
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins R2Q_FloatTensor:$input, R2Q_SignPlanes:$signs,
                       R2Q_Scales:$scales,
                       Optional<R2Q_OutlierOffsets>:$outlier_offsets,
                       Optional<R2Q_OutlierColumns>:$outlier_columns,
                       Optional<R2Q_OutlierValues>:$outlier_values,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group_size,
                       OptionalAttr<R2Q_KernelAttr>:$kernel);
  let results = (outs R2Q_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $signs `,` $scales
    (`outliers` `(` $outlier_offsets^ `,` $outlier_columns `,`
     $outlier_values `)`)?
    `group_size` $group_size attr-dict `:`
    type($input) `,` type($signs) `,` type($scales)
    (`,` `outliers` `(` type($outlier_offsets)^ `,` type($outlier_columns) `,`
     type($outlier_values) `)`)?
    `->` type($result)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$signs, "::mlir::Value":$scales,
                   "int64_t":$group_size), [{
      build($_builder, $_state, result, input, signs, scales,
            /*outlier_offsets=*/::mlir::Value(), /*outlier_columns=*/::mlir::Value(),
            /*outlier_values=*/::mlir::Value(), group_size,
            /*kernel=*/nullptr);
    }]>
  ];
  let extraClassDeclaration = [{
    /// Whether the op carries the sparse part (all three outlier operands).
    bool hasOutliers() { return getOutlierOffsets() != nullptr; }
    /// N, the output features: the result's last dimension, or the scales'
    /// rows where it is dynamic (a kernel's own layout needs it static).
    int64_t getOutputFeatures() {
      int64_t n = getResult().getType().getShape().back();
      return ::mlir::ShapedType::isDynamic(n)
                 ? getScales().getType().getDimSize(1) : n;
    }
    /// Why the lut_gemv strategy cannot compute this op (its rows must be a
    /// static 1 to kLutMaxRows, its group size 8 * 2^i up to 128 or a
    /// multiple of 128); empty when it can.
    std::string lutGemvUnsupported();
    /// Why the int8_gemm strategy cannot compute this op (its group size
    /// must be 8 * 2^i up to 128 or a multiple of 128); empty when it can.
    std::string int8GemmUnsupported();
    /// Why the warp_gemv strategy cannot compute this op (its rows and its
    /// weight's shape must be static); empty when it can.
    std::string warpGemvUnsupported();
    /// Why the mma_gemm strategy with `tileRows` output features per block
    /// (0: its default) cannot compute this op (as warp_gemv, tileRows must
    /// be 0, 64, 128 or 192, and its rows fit 65535 blocks of 64, a CUDA
    /// grid's y); empty when it can.
    /// `strategy` names mma_gemm or wgmma_gemm (the same tiles) in the
    /// reason.
    std::string mmaGemmUnsupported(int64_t tileRows,
                                   ::llvm::StringRef strategy = "mma_gemm");
    /// Why the byte_lut_gemv strategy with `tileRows` output features per
    /// warp (0: its default) cannot compute this op (as warp_gemv,
    /// tileRows must be 0 or a multiple of 16 up to 128, and it has at most
    /// 65535 rows, a CUDA grid's z); empty when it can.
    std::string byteLutGemvUnsupported(int64_t tileRows);
    /// Checks the contents of constant outlier offsets and columns (the
    /// verifier checks only their types): offsets from 0 to nnz, never
    /// decreasing, columns ascending within a row and below K. Run by the
    /// passes that lower the op, before anything reads them; outliers only
    /// known at run time are the producer's contract.
    ::mlir::LogicalResult verifyConstantOutliers();
  }];
  let hasVerifier = 1;
}

#endif // R2Q_DIALECT_R2Q_IR_R2QOPS_TD
