// R2QPlugin.so in upstream mlir-opt, as a Torch-MLIR flow would load it: the
// dialect plugin parses and prints every r2q op, and the pass plugin's passes
// and pipelines produce, byte for byte, what r2q-opt produces.
//
// An instrumented plugin cannot load into the uninstrumented mlir-opt.
// UNSUPPORTED: asan
//
// Pass plugins are loaded while the command line is parsed, after mlir-opt
// has built its pass flags: name plugin passes in --pass-pipeline.
//
// RUN: mlir-opt --load-dialect-plugin=%r2q_plugin %S/../Dialect/R2Q/ops.mlir \
// RUN:   | FileCheck %S/../Dialect/R2Q/ops.mlir
//
// RUN: mlir-opt --load-dialect-plugin=%r2q_plugin --load-pass-plugin=%r2q_plugin \
// RUN:   %S/../Torch/fixtures/llama_mlp_bf16.mlir \
// RUN:   --pass-pipeline="builtin.module(r2q-quantize-linear{group-size=64 method=refined})" \
// RUN:   | FileCheck %s
//
// RUN: mlir-opt --load-dialect-plugin=%r2q_plugin --load-pass-plugin=%r2q_plugin \
// RUN:   %S/../Torch/fixtures/llama_attn_proj_f32.mlir \
// RUN:   --pass-pipeline="builtin.module(r2q-quantize-linear,r2q-cpu-pipeline)" -o %t.plugin.mlir
// RUN: r2q-opt %S/../Torch/fixtures/llama_attn_proj_f32.mlir \
// RUN:   --pass-pipeline="builtin.module(r2q-quantize-linear,r2q-cpu-pipeline)" -o %t.r2q-opt.mlir
// RUN: diff %t.plugin.mlir %t.r2q-opt.mlir
// RUN: FileCheck %s --check-prefix=LLVM < %t.plugin.mlir

// CHECK-LABEL: func.func @main
// CHECK-NOT: linalg.matmul
// CHECK-COUNT-3: r2q.matmul {{.*}} group_size 64
// CHECK-NOT: linalg.matmul

// LLVM: llvm.func @main
// LLVM-NOT: r2q.
// LLVM-NOT: linalg.
