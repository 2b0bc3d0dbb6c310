// RUN: r2q-opt %s --r2q-cpu-pipeline="threads=2 target-features=+avx512f" | FileCheck %s
// RUN: r2q-opt %s --r2q-cpu-pipeline="threads=1" | FileCheck %s --check-prefix=ONE

// A 4096 x 4096 GEMV with threads=2: r2q-select-cpu-kernels splits it in
// two (the layer is big enough), the scf.forall becomes an OpenMP parallel
// loop of 2 threads, and nothing in the parallel region allocates: the
// group sums are computed before it, each thread writes its slice of the
// output.
// CHECK-LABEL: llvm.func @r2q_matmul_4096x4096_g128
// CHECK: llvm.call @malloc
// CHECK: omp.parallel num_threads(%{{.*}} : i32) {
// CHECK-NOT: llvm.call @malloc
// CHECK: omp.wsloop {
// CHECK-NOT: llvm.call @malloc
// CHECK: omp.loop_nest
// CHECK-NOT: llvm.call @malloc
// CHECK: omp.terminator
// With threads=1 nothing is parallel.
// ONE-NOT: omp.
func.func @gemv(%x: tensor<1x4096xf32>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<1x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}

// Batch 16: tiled decoding on 2 threads. The decoded-tile scratch of both
// parts is one buffer allocated before the parallel region
// (r2q-hoist-parallel-allocations); nothing inside allocates.
// CHECK-LABEL: llvm.func @r2q_matmul_4096x4096_g128_0
// CHECK: llvm.call @malloc
// CHECK: omp.parallel num_threads(%{{.*}} : i32) {
// CHECK-NOT: llvm.call @malloc
// CHECK: omp.terminator
func.func @gemm(%x: tensor<16x4096xf32>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<16x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<16x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<16x4096xf32>
  return %y : tensor<16x4096xf32>
}
