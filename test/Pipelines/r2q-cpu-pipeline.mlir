// RUN: r2q-opt %s --r2q-cpu-pipeline | FileCheck %s
// RUN: r2q-opt %s --r2q-cpu-pipeline=c-interface=false | FileCheck %s --check-prefix=PLAIN
// RUN: r2q-opt %s --r2q-cpu-pipeline="vector-width=16" | FileCheck %s --check-prefixes=CHECK,VECTOR
// RUN: r2q-opt %s --r2q-cpu-pipeline="vector-gemv=false" | FileCheck %s --check-prefixes=CHECK,PORTABLE

// Everything ends in the LLVM dialect; public functions get a C interface.
// CHECK-NOT: r2q.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.
// CHECK-NOT: tensor.
// The layer calls its kernel (r2q-outline-kernels), a private function
// without C interface.
// CHECK-LABEL: llvm.func @linear
// CHECK: llvm.call @r2q_matmul_16x256_g128(
// CHECK-LABEL: llvm.func @_mlir_ciface_linear
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK: llvm.call @linear
// CHECK-LABEL: llvm.func @r2q_matmul_16x256_g128
// CHECK-SAME: sym_visibility = "private"
// CHECK: llvm.call @malloc
// The vector GEMV of few rows (vector-gemv, the default) ends in a bitcast of
// sign bytes to a lane mask and a masked fused multiply-add.
// VECTOR: llvm.bitcast %{{.*}} : vector<2xi8> to vector<16xi1>
// VECTOR: llvm.intr.fmuladd
// VECTOR: llvm.select %{{.*}} : vector<16xi1>, vector<16xf32>
// PORTABLE-NOT: vector<16xi1>
// PORTABLE-NOT: vector<32xi1>
// CHECK-NOT: _mlir_ciface_r2q_matmul

// PLAIN: llvm.func @linear
// PLAIN-NOT: _mlir_ciface_
func.func @linear(%x: tensor<?x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----
// What the IR corpus found the pipeline must also handle.

// RUN: r2q-opt %s --split-input-file --r2q-cpu-pipeline | FileCheck %s --check-prefix=CORPUS

// A refined quantization of a constant is folded before lowering (only
// runtime weights are lowered, and refined ones cannot be).
// CORPUS-LABEL: llvm.func @refined_constant
// CORPUS-NOT: r2q.
func.func @refined_constant() -> tensor<2x4x2xi8> {
  %w = arith.constant dense<0.5> : tensor<4x16xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8, method = refined> : tensor<4x16xf32>
  return %s : tensor<2x4x2xi8>
}

// -----

// math.erf (exact GELU) has no LLVM intrinsic: it becomes a libm call.
// CORPUS-LABEL: llvm.func @gelu_erf
// CORPUS: llvm.call @erff
func.func @gelu_erf(%x: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = math.erf %in : f32
    linalg.yield %v : f32
  } -> tensor<8xf32>
  return %y : tensor<8xf32>
}

// -----

// A [batch?, seq?, K] activation restored with expand_shape after a 2-D
// matmul (upstream expand-strided-metadata crashes on the memref form).
// CORPUS-LABEL: llvm.func @expand_batch_and_sequence
func.func @expand_batch_and_sequence(%x: tensor<?x?x48xf32>) -> tensor<?x?x48xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %d0 = tensor.dim %x, %c0 : tensor<?x?x48xf32>
  %d1 = tensor.dim %x, %c1 : tensor<?x?x48xf32>
  %flat = tensor.collapse_shape %x [[0, 1], [2]] : tensor<?x?x48xf32> into tensor<?x48xf32>
  %r = tensor.expand_shape %flat [[0, 1], [2]] output_shape [%d0, %d1, 48] : tensor<?x48xf32> into tensor<?x?x48xf32>
  return %r : tensor<?x?x48xf32>
}

// -----

// A loop carrying a tensor that is rebuilt every iteration bufferizes with a
// new allocation per iteration.
// CORPUS-LABEL: llvm.func @loop_yields_new_tensor
func.func @loop_yields_new_tensor(%x: tensor<4xf32>, %n: index) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %x) -> tensor<4xf32> {
    %e = tensor.empty() : tensor<4xf32>
    %next = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%acc : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %v = arith.addf %in, %in : f32
      linalg.yield %v : f32
    } -> tensor<4xf32>
    scf.yield %next : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}
