// Every committed Torch-MLIR fixture (fixtures/README.md) loses all its float
// linear layers to r2q.matmul on folded 2-bit weights, and then lowers to the
// LLVM dialect.
//
// RUN: r2q-opt %S/fixtures/linear_bias_f32.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,ONE
// RUN: r2q-opt %S/fixtures/linear_bias_bf16.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,ONE
// RUN: r2q-opt %S/fixtures/linear_nobias_f32.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,ONE
// RUN: r2q-opt %S/fixtures/linear_nobias_bf16.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,ONE
// RUN: r2q-opt %S/fixtures/mlp2_f32.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,TWO
// RUN: r2q-opt %S/fixtures/mlp2_bf16.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,TWO
// RUN: r2q-opt %S/fixtures/llama_mlp_f32.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,THREE
// RUN: r2q-opt %S/fixtures/llama_mlp_bf16.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,THREE
// RUN: r2q-opt %S/fixtures/llama_attn_proj_f32.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,FOUR
// RUN: r2q-opt %S/fixtures/llama_attn_proj_bf16.mlir --r2q-quantize-linear | FileCheck %s --check-prefixes=CHECK,FOUR
//
// RUN: r2q-opt %S/fixtures/llama_mlp_bf16.mlir --r2q-quantize-linear --r2q-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: r2q-opt %S/fixtures/llama_attn_proj_f32.mlir --r2q-quantize-linear --r2q-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: r2q-opt %S/fixtures/mlp2_bf16.mlir --r2q-quantize-linear --r2q-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// No fixture marks an argument as a weight: nothing is quantized at run time
// (the activation is an argument of every fixture).
// CHECK-NOT: r2q.quantize
// CHECK-LABEL: func.func @main
// CHECK-NOT: r2q.quantize
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.batch_matmul
// ONE-COUNT-1: r2q.matmul
// TWO-COUNT-2: r2q.matmul
// THREE-COUNT-3: r2q.matmul
// FOUR-COUNT-4: r2q.matmul
// CHECK-NOT: r2q.matmul
// CHECK-NOT: linalg.matmul
// CHECK-NOT: r2q.quantize
// The 2-D float weights are gone (biases stay); packed sign planes replace
// them.
// CHECK: dialect_resources
// CHECK-NOT: {{^ *}}torch_tensor_{{[0-9]+}}_{{[0-9]+}}_torch.{{float32|bfloat16}}{{(_[0-9]+)?}}:
// CHECK: _signs: "0x
// CHECK-NOT: {{^ *}}torch_tensor_{{[0-9]+}}_{{[0-9]+}}_torch.{{float32|bfloat16}}{{(_[0-9]+)?}}:

// LLVM: llvm.func @main
// LLVM: llvm.func @_mlir_ciface_main
