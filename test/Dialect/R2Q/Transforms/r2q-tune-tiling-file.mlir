// Tuning-file round trip: r2q-bench-tiling measures a tiny layer (40 x 256,
// 3 rows, on this host) and writes the winner; r2q-tune-tiling{mode=file}
// writes that kernel on the same layer.
// RUN: r2q-bench-tiling --shapes=40x256 --batches=3 --rounds=3 --out=%t.json | FileCheck %s --check-prefix=BENCH
// RUN: r2q-opt %s --r2q-tune-tiling="mode=file file=%t.json threads=1" > %t.tuned.mlir
// RUN: cat %t.json %t.tuned.mlir | FileCheck %s --check-prefix=ROUNDTRIP
// The whole pipeline takes the file too (tune=file:PATH).
// RUN: r2q-opt %s "--r2q-cpu-pipeline=tune=file:%t.json threads=1" | FileCheck %s --check-prefix=PIPELINE
//
// Rejected, with the file and the key named:
// not JSON,
// RUN: head -c 40 %t.json > %t.truncated.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.truncated.json" 2>&1 | FileCheck %s --check-prefix=MALFORMED -DFILE=%t.truncated.json
// an entry without a field,
// RUN: grep -v '"n":' %t.json > %t.no-n.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.no-n.json" 2>&1 | FileCheck %s --check-prefix=NOFIELD -DFILE=%t.no-n.json
// a GPU strategy,
// RUN: sed 's/"strategy": "[a-z_]*"/"strategy": "warp_gemv"/' %t.json > %t.gpu.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.gpu.json" 2>&1 | FileCheck %s --check-prefix=GPU -DFILE=%t.gpu.json
// a lossy strategy (precision=fast chooses int8_gemm, not the tuner),
// RUN: sed 's/"strategy": "[a-z_]*"/"strategy": "int8_gemm"/' %t.json > %t.int8.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.int8.json" 2>&1 | FileCheck %s --check-prefix=INT8 -DFILE=%t.int8.json
// another tuner version (stale),
// RUN: sed 's/"version": 1/"version": 0/' %t.json > %t.stale.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.stale.json" 2>&1 | FileCheck %s --check-prefix=STALE -DFILE=%t.stale.json
// another target (foreign),
// RUN: sed 's/"target": "[^"]*"/"target": "+sse2"/' %t.json > %t.foreign.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.foreign.json" 2>&1 | FileCheck %s --check-prefix=FOREIGN -DFILE=%t.foreign.json
// no entry for the layer (another group size here): an error, or with
// on-missing=model the cost model's choice and a remark.
// RUN: sed 's/"group_size": 128/"group_size": 64/' %t.json > %t.missing.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.missing.json" 2>&1 | FileCheck %s --check-prefix=MISSING -DFILE=%t.missing.json
// RUN: r2q-opt %s --r2q-tune-tiling="mode=file file=%t.missing.json on-missing=model" 2>&1 | FileCheck %s --check-prefix=FALLBACK -DFILE=%t.missing.json
// RUN: not r2q-opt %s --r2q-tune-tiling="mode=file file=%t.absent.json" 2>&1 | FileCheck %s --check-prefix=ABSENT -DFILE=%t.absent.json

// BENCH: N x K
// BENCH-NEXT: 40x256 3

// ROUNDTRIP: "group_size": 128
// ROUNDTRIP: "k": 256
// ROUNDTRIP: "n": 40
// ROUNDTRIP: "rows": 3
// ROUNDTRIP: "strategy": "[[STRATEGY:[a-z_]+]]"
// ROUNDTRIP: "tile_rows": [[TILE:[0-9]+]]
// ROUNDTRIP: "vector_width": [[WIDTH:[0-9]+]]
// ROUNDTRIP: "version": 1
// ROUNDTRIP: "format": "r2q-tiling"
// ROUNDTRIP: func.func @layer
// ROUNDTRIP: kernel = #r2q.kernel<strategy = [[STRATEGY]], {{.*}}vector_width = [[WIDTH]], tile_rows = [[TILE]], threads = 1>

// PIPELINE: llvm.func @layer

// MALFORMED: error: r2q-tune-tiling: tuning file '[[FILE]]': is not JSON
// NOFIELD: error: r2q-tune-tiling: tuning file '[[FILE]]': entry 0 has no number 'n'
// GPU: error: r2q-tune-tiling: tuning file '[[FILE]]': entry 0 (N=40 K=256 group_size=128 planes=2 rows=3 input=f32 scales=f16 target={{.*}} version=1) names strategy 'warp_gemv', not a CPU one
// INT8: error: r2q-tune-tiling: tuning file '[[FILE]]': entry 0 (N=40 K=256 {{.*}}) names strategy 'int8_gemm', which rounds activations: the tuner chooses among exact strategies
// STALE: error: 'r2q.matmul' op r2q-tune-tiling: tuning file '[[FILE]]' is stale: its entry for N=40 K=256 group_size=128 planes=2 rows=3 input=f32 scales=f16 target={{.*}} version=1 was measured by tuner version 0; measure again with r2q-bench-tiling
// FOREIGN: error: 'r2q.matmul' op r2q-tune-tiling: tuning file '[[FILE]]' was measured for another target: its entry for N=40 K=256 group_size=128 planes=2 rows=3 {{.*}} has target '+sse2'
// MISSING: error: 'r2q.matmul' op r2q-tune-tiling: tuning file '[[FILE]]' has no entry for N=40 K=256 group_size=128 planes=2 rows=3 input=f32 scales=f16 target={{.*}} version=1 (measure it with r2q-bench-tiling, or on-missing=model)
// FALLBACK: remark: r2q-tune-tiling: tuning file '[[FILE]]' has no entry for N=40 K=256 group_size=128 {{.*}}; the cost model chose
// FALLBACK: kernel = #r2q.kernel<
// ABSENT: error: r2q-tune-tiling: tuning file '[[FILE]]': cannot be read

func.func @layer(%x: tensor<3x256xf32>, %s: tensor<2x40x32xi8>, %c: tensor<2x40x2xf16>) -> tensor<3x40xf32> {
  %y = r2q.matmul %x, %s, %c group_size 128 : tensor<3x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<3x40xf32>
  return %y : tensor<3x40xf32>
}
