//===- R2QDialect.td - The r2q dialect ---------------------*- tablegen -*-===//

#ifndef R2Q_DIALECT_R2Q_IR_R2QDIALECT_TD
#define R2Q_DIALECT_R2Q_IR_R2QDIALECT_TD

include "mlir/IR/DialectBase.td"

def R2Q_Dialect : Dialect {
  let name = "r2q";
  let cppNamespace = "::r2q";
  let summary = "Residual Refinement Quantization of linear-layer weights";
  let description = [{
    The `r2q` dialect expresses weight-only quantization with R2Q (Residual
    Refinement Quantization, arXiv 2511.21736) and computation on the quantized
    weights.

    A float weight matrix `W` of shape `N x K` (output features x input
    features, as in `torch.nn.Linear`) is split into groups of `G` consecutive
    weights along `K`. Each group `w` is approximated by `P` sign planes
    `s_p in {-1, +1}^G` and `P` scales `a_p >= 0`:

    ```
    w_hat = a_1 * s_1 + a_2 * s_2 + ... + a_P * s_P
    ```

    The paper's greedy scheme takes `s_1 = sign(w)`, `a_1 = mean|w|`, and
    quantizes each residual `r = w - a_1 * s_1` the same way; with `P = 2` this
    gives four levels `{+-a_1 +- a_2}` per group that adapt to the weights.

    Values of the dialect are plain builtin tensors in the canonical packed
    layout of `docs/format.md`:

    * sign planes: `tensor<P x N x ceil(K/8) x i8>`; bit `j` of byte `b` of a
      row is column `8 * b + j`, a set bit means `-1`, padding bits past `K`
      are zero;
    * scales: `tensor<P x N x ceil(K/G) x f32|f16|bf16>`; when `G` does not
      divide `K`, the last group of a row is shorter.

    `G` must be a multiple of 8, so every group starts on a byte boundary.
    `N` and `K` must be positive.
    Later target-specific passes may re-layout these tensors; this layout is
    the contract between quantization, constant folding and lowering.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let hasRegionArgAttrVerify = 1;
  let hasOperationAttrVerify = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    /// Registers the attributes; defined beside them in R2QAttrs.cpp.
    void registerAttributes();

    /// The unit attribute that marks a function argument as a weight for
    /// -r2q-quantize-linear: `func.func @f(%x: ..., %w: tensor<NxKxf32>
    /// {r2q.weight})`. Only marked arguments (or those the pass's
    /// weight-args option names) are ever quantized.
    static constexpr ::llvm::StringLiteral getWeightArgAttrName() {
      return ::llvm::StringLiteral("r2q.weight");
    }

    /// The scheme one linear layer is quantized with, overriding the
    /// options of -r2q-quantize-linear for it: a `#r2q.scheme<...>` on the
    /// contraction, as -r2q-tune-group-size chooses it or a user writes it.
    static constexpr ::llvm::StringLiteral getLayerSchemeAttrName() {
      return ::llvm::StringLiteral("r2q.scheme");
    }
  }];
}

#endif // R2Q_DIALECT_R2Q_IR_R2QDIALECT_TD
