//===- Passes.td - r2q conversion passes -------------------*- tablegen -*-===//

#ifndef R2Q_CONVERSION_PASSES_TD
#define R2Q_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertR2QToLinalgPass : Pass<"convert-r2q-to-linalg"> {
  let summary = "lower r2q ops to linalg on tensors (decode + contraction)";
  let description = [{
    The portable lowering of the r2q dialect: every op becomes
    `linalg.generic` ops on builtin tensors that any MLIR backend can take.

    * `r2q.dequantize` decodes `sum_p scale_p * (bit_p ? -1 : +1)` in f32
      over loops `(n, group, byte, bit)`: each sign byte is read once and its
      bits decoded by the innermost loop with shifts.
    * `r2q.matmul` decodes the weight (`N x K`) the same way and contracts it
      with the activation over `(..., n, k)`, accumulating in f32; the
      reduction is marked `reassoc` so that it vectorizes over contiguous
      `x` and `w`. f16 or bf16 results are rounded at the end.
    * `r2q.residual` reduces each group's magnitudes in f64, rounds the mean
      to the scale type, packs the sign bits with shifts and ors, and
      subtracts the rounded contribution: bit for bit the numerics core's
      stage.
    * `r2q.quantize` (greedy) is decomposed into `r2q.residual` stages first.

    A `refined` `r2q.quantize` of a weight only known at run time has no
    such lowering: it is reported as an error (constant weights fold before
    this pass).

    Before:

    ```mlir
    %y = r2q.matmul %x, %signs, %scales group_size 128
        : tensor<?x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16>
        -> tensor<?x256xf32>
    ```

    After: a `linalg.generic` decoding `tensor<256x512xf32>` from the planes
    and a contraction `linalg.generic` over `(m, n, k)`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // R2Q_CONVERSION_PASSES_TD
