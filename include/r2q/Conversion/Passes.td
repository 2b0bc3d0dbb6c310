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
    * `r2q.matmul` is lowered by the strategy its `kernel` attribute
      (`#r2q.kernel`, set by `r2q-select-cpu-kernels` or by hand) names,
      one pattern per strategy; without the attribute, by the portable
      default `#r2q.kernel<strategy = fused_decode, max_rows = 2, otherwise
      = tiled_decode, threads = 1>`. All accumulate in f32 with reductions
      marked `reassoc` (so they vectorize), add the outliers' sparse
      product, if any, and round f16/bf16 results at the end. A kernel
      with `max_rows` / `otherwise` picks by the number of activation rows
      M (at compile time when static, with an `scf.if` otherwise).
      * `fused_decode` (decoding, M <= 2): a single generic over
        `(..., n, g, b, j)` decodes each weight inside the reduction and
        materializes nothing.
      * `tiled_decode` (many rows): an `scf.for` decodes the weight in tiles
        of `tile_rows` output features (by default at most 256 KiB of f32,
        L2-resident) into a scratch tensor made once per call, and
        contracts each tile with all rows, so decoding costs once per
        weight.
      * `vector_gemv` (few rows) computes straight from the packed bits
        with vector ops, no weight ever decoded to a float:
        `y[m, n] = sum_g sum_p scale_p[n, g] * sum_{k in g} (bit_p ? -x : x)`.
        Rewritten as `sum_g A[n, g] * S[m, g] - 2 * sum_p sum_{k : bit_p}
        scale_p * x[m, k]` (`A` the sum of a group's scales, `S` the group
        sums of a row, computed once per call), the second term is one
        masked FMA per plane: `scf.for` loops over groups and chunks of `W`
        columns (`vector_width`, or the largest power of two of at least 8
        dividing the group size) read `W/8` sign bytes per plane with
        `vector.transfer_read`, turn them into a `vector<W x i1>` mask with
        `vector.bitcast` (lane `k` is bit `k mod 8` of byte `k / 8`, as
        `docs/format.md` packs them), and `arith.select` keeps
        `vector.fma(x, scale, acc)` in the masked lanes. Each plane
        accumulates in its own vector, reduced once per output. With
        AVX-512 this is a `kmovw` and a masked `vfmadd231ps` per 16 weights
        and plane; with AVX2 LLVM expands the mask with a broadcast, an and
        and a compare.
      * `lut_gemv` (a static batch of 1 to 8 rows, x86 with AVX2 or
        AVX-512) computes by table lookup (T-MAC / LUT-GEMM style,
        `LutGemv.cpp`): per call and row, a 16-entry f32 table of the
        signed sums `+-x[4q] +-x[4q+1] +-x[4q+2] +-x[4q+3]` per quad `q` of
        columns, built before the output features are split; per plane, the
        sign nibbles of 16 output features (16 bytes of 16 rows transposed
        in registers with `vector.shuffle`) index it with a permute
        (`llvm.call_intrinsic` of `vpermps`: `target = avx512` permutes 16
        lanes, `avx2` two halves and a blend), the lookups are summed in f32
        per group and multiplied by the group's scale. Group sizes `8 * 2^i`
        up to 128 and multiples of 128 (the op verifier checks). With
        `precision = fast` the tables are int8: per call, each row's
        activations are rounded per block of 128 columns to multiples of
        (the block's largest quad sum of `|x|`) / 125, 64 sign bytes of 16
        rows are transposed per step, `vpshufb` looks the nibbles up (16
        bytes per 128-bit lane), `vpmaddubsw` adds each byte's two lookups
        into int16, and each block's sums are scaled in f32 (error bound in
        `docs/rationale.md`); group sizes of 1, 2 or 4k blocks, the others
        stay exact.

      With `threads = T > 1` every strategy splits the output features into
      `T` contiguous parts of whole `tile_rows` units, the iterations of an
      `scf.forall` whose `shared_outs` are the f32 accumulator (and the
      decoded-tile scratch of `tiled_decode`, one entry per part): work that
      does not depend on the features (activation padding, group sums) is
      done before it, and nothing is allocated inside it.
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

    After (no kernel attribute): `scf.if (M <= 2)` choosing between a fused
    decode-and-contract `linalg.generic` and an `scf.for` over tiles of `N`
    that decodes a tile to f32 and contracts it over `(m, n, k)`.

    * `warp_gemv` (`WarpGemv.cpp`, the GPU kernel; a static batch and weight
      shape) works on buffers of its operands (`bufferization.to_buffer`)
      and writes a new one: one warp of 32 lanes per `tile_rows` output
      features; lane `l` reads 16-byte chunks `l, l + 32, ...` of each row's
      sign bits (coalesced), flips the float sign bit of 4 activations at a
      time by the weight's bits (`xor`), sums per group (or 32-column word)
      and multiplies by the plane's scale; columns past the last whole
      chunk of 128 are read one per lane. The lanes' sums meet in a butterfly
      of xor shuffles. With `gpu-launch` the kernel is a `gpu.launch` of
      blocks of 4 warps (`r2q-gpu-pipeline`); without, the same body runs on
      the host in loops over blocks, warps and lanes, the butterfly on a
      buffer of the 32 lanes' values, so that the CPU tests execute the GPU
      kernel's index math and decoding. `warp_lut_gemv` likewise.
    * `mma_gemm` (`MmaGemm.cpp`, the GPU kernel for 16 rows or more; a
      static batch and weight shape): a row scaling kernel (per activation
      and weight row, the power of two that brings its largest magnitude
      into f16's range; the activations scaled into a padded f16 matrix),
      then blocks of 4 warps that per step of 64 columns stage the
      activation tile and decode the weight tile to f16 in shared memory
      and multiply fragments loaded with `nvgpu.ldmatrix` with
      `nvgpu.mma.sync` m16n8k16 (f32 accumulators in registers). With
      `gpu-launch`, two `gpu.launch` ops; without, the same bodies in host
      loops, each lane's registers in buffers (ldmatrix and mma.sync
      emulated on them by their fragment layout).
  }];
  let options = [
    Option<"gpuLaunch", "gpu-launch", "bool", /*default=*/"false",
           "Emit the GPU kernels (warp_gemv, warp_lut_gemv, mma_gemm) as "
           "gpu.launch ops (r2q-gpu-pipeline) "
           "rather than as their loop nest on the host">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // R2Q_CONVERSION_PASSES_TD
