// r2q-gpu-tile-parallel-loops: an outermost parallel loop of host code has
// its dimensions but the innermost collapsed into one (the grid's x, which
// takes 2^31 - 1 blocks), and is tiled by 1 in that one and by a block of
// threads (256, or the static trip count where smaller) in the innermost,
// the inner loop's bound folded to a min with a constant (the block's
// threads for convert-parallel-loops-to-gpu); loops inside gpu.launch
// bodies, nested loops and loops with reductions are left alone; a block
// size CUDA has not is an error.

// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-gpu-tile-parallel-loops | FileCheck %s
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-gpu-tile-parallel-loops="block-size=64" | FileCheck %s --check-prefix=SMALL
// RUN: not r2q-opt %s --split-input-file --r2q-gpu-tile-parallel-loops="block-size=2000" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: error: r2q-gpu-tile-parallel-loops: block-size 2000 is not a CUDA block size (1 to 1024 threads)

// CHECK: #[[$TILE:.*]] = affine_map<(d0) -> (-d0 + 70000, 256)>
// CHECK-LABEL: func.func @wide
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK: scf.parallel (%[[I:.*]], %[[J:.*]]) = (%{{.*}}, %{{.*}}) to (%{{.*}}, %{{.*}}) step (%{{.*}}, %[[C256]])
// CHECK-NEXT: %[[BOUND:.*]] = affine.min #[[$TILE]](%[[J]])
// CHECK-NEXT: scf.parallel (%{{.*}}, %{{.*}}) = (%{{.*}}, %{{.*}}) to (%{{.*}}, %[[BOUND]])
// CHECK: memref.store
// SMALL: affine_map<(d0) -> (-d0 + 70000, 64)>
func.func @wide(%out: memref<3x70000xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c70000 = arith.constant 70000 : index
  %v = arith.constant 1.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c3, %c70000) step (%c1, %c1) {
    memref.store %v, %out[%i, %j] : memref<3x70000xf32>
  }
  return
}

// -----

// A short innermost dimension is one tile: a block of 33 threads.
// CHECK-LABEL: func.func @short
// CHECK: arith.constant 33 : index
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%[[STEP:.*]])
// CHECK-NEXT: scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[STEP]]) step
func.func @short(%out: memref<33xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c33 = arith.constant 33 : index
  %v = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%c33) step (%c1) {
    memref.store %v, %out[%i] : memref<33xf32>
  }
  return
}

// -----

// Three dimensions: the first two collapsed into one (2 x 70000 = 140000
// tiles on the grid's x, where y would refuse 70000), the last tiled.
// CHECK-LABEL: func.func @deep
// CHECK: scf.parallel (%[[OUTER:.*]], %[[COLUMN:.*]]) = (%{{.*}}, %{{.*}}) to (%{{.*}}, %{{.*}}) step (%{{.*}}, %{{.*}})
// CHECK: affine.min {{.*}}(%[[COLUMN]])
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%{{.*}}, %{{.*}}) to
// CHECK-DAG: arith.remsi %{{.*}}, %{{.*}} : index
// CHECK-DAG: arith.divsi %{{.*}}, %{{.*}} : index
// CHECK: memref.store
func.func @deep(%out: memref<2x70000x300xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c300 = arith.constant 300 : index
  %c70000 = arith.constant 70000 : index
  %v = arith.constant 1.0 : f32
  scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%c2, %c70000, %c300) step (%c1, %c1, %c1) {
    memref.store %v, %out[%i, %j, %k] : memref<2x70000x300xf32>
  }
  return
}

// -----

// A dynamic size: tiles of 256, the last one shorter.
// CHECK: #[[$DYN:.*]] = affine_map<(d0)[s0] -> (-d0 + s0, 256)>
// CHECK-LABEL: func.func @dynamic
// CHECK: scf.parallel (%[[T:.*]]) =
// CHECK-NEXT: affine.min #[[$DYN]](%[[T]])
// CHECK-NEXT: scf.parallel
func.func @dynamic(%out: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %v, %out[%i] : memref<?xf32>
  }
  return
}

// -----

// Kernels' own loops and loops with reductions stay as they are.
// CHECK-LABEL: func.func @untouched
// CHECK: gpu.launch
// CHECK-NEXT: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%{{.*}}) {
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}}) step (%{{.*}}) init
// CHECK-NOT: affine.min
func.func @untouched(%out: memref<32xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %v = arith.constant 1.0 : f32
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    scf.parallel (%i) = (%c0) to (%c32) step (%c1) {
      memref.store %v, %out[%i] : memref<32xf32>
    }
    gpu.terminator
  }
  %zero = arith.constant 0.0 : f32
  %sum = scf.parallel (%i) = (%c0) to (%c32) step (%c1) init (%zero) -> f32 {
    %x = memref.load %out[%i] : memref<32xf32>
    scf.reduce(%x : f32) {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      scf.reduce.return %s : f32
    }
  }
  return %sum : f32
}
