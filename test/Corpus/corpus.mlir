// A generated corpus of linalg-on-tensors modules run through r2q-opt:
// python/scripts/ir_corpus.py writes 40 modules from a fixed seed (linear
// layers in every form r2q-quantize-linear matches, in f32, f16 and bf16,
// with static and dynamic shapes and ragged K, constant, traced
// (sliced, collapsed, scaled, dequantized int8/int4, widened, ml_program
// globals) and argument weights (marked r2q.weight, named in weight-args,
// or unmarked and so no weight), next to non-linear ops and near-misses
// that must stay in float, x . x^T and attention scores among them) and
// checks that each one parses, is quantized with random options into
// exactly the expected r2q.matmul ops (with the expected "left in float"
// remarks, no r2q.quantize of an argument nobody named, unchanged when
// nothing is quantizable, and unchanged by a second run),
// lowers with --r2q-cpu-pipeline, and, for a fifth of them, that the
// compiled quantized layers match their float reference on
// dequantize(quantize(W)) under mlir-runner. It also feeds r2q-opt a few
// malformed inputs and checks for an error exit instead of a crash.
//
// A failing module is kept in %t and named in a FAIL line; regenerate it
// alone with --module-seed (its seed is on its first line). Larger runs:
//   python/scripts/ir_corpus.py --count 600 --seed 1 --r2q-opt build/bin/r2q-opt --out /tmp/corpus
//
// RUN: rm -rf %t
// RUN: %python %S/../../python/scripts/ir_corpus.py --count 40 --seed 20251122 --r2q-opt r2q-opt \
// RUN:   --mlir-runner mlir-runner --shared-lib-dir %mlir_lib_dir --out %t | FileCheck %s

// CHECK-NOT: FAIL
// CHECK: corpus: 40 modules, {{[0-9]+}} rewritten layers, {{[0-9]+}} untouched layers, {{[0-9]+}} executed, 0 failures
