// Compiled R2Q linear layers (constant weight folded at compile time, and
// argument weight quantized at run time) run under upstream mlir-runner and
// match x * dequant(quantize(W))^T from the numerics core on fresh random
// data: batch 1, 3 and 17, N not a multiple of 8, K = G and K = 8G, and
// group sizes that do not divide K (K = 576 = 4.5 x 128, K = 13 = 8 + 5).
//
// DEFINE: %{group} =
// DEFINE: %{run} = r2q-opt %t.mlir --r2q-quantize-linear="group-size=%{group} exclude=^reference$" --r2q-fold-constant-weights --r2q-cpu-pipeline=c-interface=false \
// DEFINE:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libomp.so \
// DEFINE:   | FileCheck %s
//
// REDEFINE: %{group} = 128
// RUN: %python %S/Inputs/linear_vs_reference.py 1 13 128 %{group} > %t.mlir
// RUN: %{run}
// RUN: %python %S/Inputs/linear_vs_reference.py 3 29 1024 %{group} > %t.mlir
// RUN: %{run}
// REDEFINE: %{group} = 32
// RUN: %python %S/Inputs/linear_vs_reference.py 17 70 256 %{group} > %t.mlir
// RUN: %{run}
// REDEFINE: %{group} = 64
// RUN: %python %S/Inputs/linear_vs_reference.py 17 5 64 %{group} > %t.mlir
// RUN: %{run}
// REDEFINE: %{group} = 128
// RUN: %python %S/Inputs/linear_vs_reference.py 1 37 576 %{group} > %t.mlir
// RUN: %{run}
// RUN: %python %S/Inputs/linear_vs_reference.py 17 11 576 %{group} > %t.mlir
// RUN: %{run}
// REDEFINE: %{group} = 8
// RUN: %python %S/Inputs/linear_vs_reference.py 3 7 13 %{group} > %t.mlir
// RUN: %{run}

// CHECK: data =
// CHECK-NEXT: [1, 1]
