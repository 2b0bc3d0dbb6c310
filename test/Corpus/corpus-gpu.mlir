// The generated corpus of corpus.mlir (another seed, 24 modules), each
// module also lowered through r2q-gpu-pipeline to PTX (no ptxas needed):
// no crash, and no error but the ones the CPU pipeline expects too. The
// first 200-module run of this kind found two refusals of valid modules
// (a strided copy of an argument, an argument's address compared by buffer
// deallocation) and that functions wrote into their arguments' buffers.
//
// RUN: rm -rf %t
// RUN: %python %S/../../python/scripts/ir_corpus.py --count 24 --seed 97 --gpu --r2q-opt r2q-opt \
// RUN:   --mlir-runner mlir-runner --shared-lib-dir %mlir_lib_dir --out %t | FileCheck %s

// CHECK-NOT: FAIL
// CHECK: corpus: 24 modules, {{[0-9]+}} rewritten layers, {{[0-9]+}} untouched layers, {{[0-9]+}} executed, 0 failures
