// The lut_gemv strategy, chosen by r2q-select-cpu-kernels (for 1-8 static
// rows on an AVX2 or AVX-512 target; precision=fast on request) and lowered
// by convert-r2q-to-linalg from the kernel attribute alone.
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx2,+fma threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=AVX2
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw precision=fast threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=FAST
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx2,+fma precision=fast threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=FAST2
// RUN: r2q-opt %s --split-input-file --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=OFF
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx2,+fma threads=2" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=THREADS

// Batch 1: a table of 16 signed sums per quad of columns, built once per
// call (64 quads: 1 x 1024 f32), then per block of 16 output features and
// per chunk of 128 columns, 16 bytes of each of 16 rows per plane, transposed
// by byte interleaves, whose nibbles index the tables through vpermps.
// CHECK-LABEL: func.func @gemv
// CHECK-SAME: (%[[X:.*]]: tensor<1x256xf32>, %[[S:.*]]: tensor<2x37x32xi8>, %[[A:.*]]: tensor<2x37x2xf16>)
// CHECK: %[[TABLES:.*]] = scf.for {{.*}} -> (tensor<1x1024xf32>)
// CHECK: vector.transfer_read %[[X]]{{.*}} : tensor<1x256xf32>, vector<4xf32>
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write {{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<1x1024xf32>
// Whole blocks of 16 features (37 / 16 = 2):
// CHECK: scf.for %{{.*}} = %{{.*}} to %c2 step %c1 iter_args(%{{.*}} = %{{.*}}) -> (tensor<1x37xf32>)
// CHECK-NOT: arith.minsi
// Spans (one group of 128 columns each):
// CHECK: scf.for {{.*}} -> (vector<16xf32>)
// CHECK-COUNT-16: vector.transfer_read %[[S]][%c0, {{.*}}], %{{.*}} {in_bounds = [true]} : tensor<2x37x32xi8>, vector<16xi8>
// CHECK: vector.shuffle {{.*}} [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23] : vector<16xi8>, vector<16xi8>
// CHECK: vector.shuffle {{.*}} [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31] : vector<16xi8>, vector<16xi8>
// CHECK: %[[LOW:.*]] = arith.extui %{{.*}} : vector<16xi8> to vector<16xi32>
// CHECK: %[[HIGH:.*]] = arith.shrui %[[LOW]], %{{.*}} : vector<16xi32>
// CHECK: %[[T0:.*]] = vector.transfer_read %[[TABLES]]{{.*}} : tensor<1x1024xf32>, vector<16xf32>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.permvar.sf.512"(%[[T0]], %[[LOW]]) : (vector<16xf32>, vector<16xi32>) -> vector<16xf32>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.permvar.sf.512"(%{{.*}}, %[[HIGH]])
// The second plane:
// CHECK: vector.transfer_read %[[S]][%c1, {{.*}}], %{{.*}} {in_bounds = [true]} : tensor<2x37x32xi8>, vector<16xi8>
// The scales of the 16 rows, one FMA per plane and group:
// CHECK: tensor.extract %[[A]][%c0, {{.*}}] : tensor<2x37x2xf16>
// CHECK: %[[SCALES:.*]] = vector.from_elements {{.*}} : vector<16xf16>
// CHECK: %[[WIDE:.*]] = arith.extf %[[SCALES]] : vector<16xf16> to vector<16xf32>
// CHECK: vector.fma %{{.*}}, %[[WIDE]], %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_write {{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<1x37xf32>
// The last 5 features (N static: no scf.if left): a block whose rows are
// clamped to the last (36) and whose write is masked.
// CHECK: vector.transfer_read %[[S]][%c0, %c36, {{.*}} : tensor<2x37x32xi8>, vector<16xi8>
// CHECK: vector.transfer_write %{{.*}}[%c0, %c32] : vector<16xf32>, tensor<1x37xf32>
// CHECK-NOT: linalg.generic
// CHECK: return

// With AVX2 each 16-entry lookup is two 8-lane permutes and a select on bit 3.
// AVX2-LABEL: func.func @gemv
// AVX2: %[[LOWHALF:[0-9a-z_]+]] = llvm.call_intrinsic "llvm.x86.avx2.permps"(%{{.*}}, %[[I:[0-9a-z_]+]]) : (vector<8xf32>, vector<8xi32>) -> vector<8xf32>
// AVX2: %[[HIGHHALF:[0-9a-z_]+]] = llvm.call_intrinsic "llvm.x86.avx2.permps"(%{{.*}}, %[[I]])
// AVX2: %[[BIT3:.*]] = arith.andi %[[I]]
// AVX2: %[[UPPER:.*]] = arith.cmpi ne, %[[BIT3]]
// AVX2: arith.select %[[UPPER]], %[[HIGHHALF]], %[[LOWHALF]] : vector<8xi1>, vector<8xf32>
// AVX2-NOT: avx512

// Fast mode: per row and block of 128 columns, the activations rounded to
// multiples of (largest quad sum of |x|) / 125, one scale per block (1 x 4:
// K = 256 padded to one 512-column step) and int8 tables (2048 bytes per
// step); per step 64 sign bytes of each of 16 rows, vpshufb per nibble,
// the two lookups interleaved and added into int16 by vpmaddubsw with ones;
// per block the sums to f32, times the activation and weight scales.
// FAST-LABEL: func.func @gemv
// FAST-SAME: %[[S:[a-z0-9_]+]]: tensor<2x37x32xi8>
// FAST: %[[T:.*]]:2 = scf.for {{.*}} -> (tensor<1x2048xi8>, tensor<1x4xf32>)
// FAST: math.absf %{{.*}} : vector<128xf32>
// FAST: vector.reduction <maximumf>
// FAST: math.roundeven %{{.*}} : vector<128xf32>
// FAST: arith.fptosi %{{.*}} : vector<16xf32> to vector<16xi8>
// FAST: vector.transfer_read %[[S]]{{.*}} : tensor<2x37x32xi8>, vector<64xi8>
// FAST: %[[LOOKUP:.*]] = llvm.call_intrinsic "llvm.x86.avx512.pshuf.b.512"
// FAST: vector.shuffle %[[LOOKUP]], %{{.*}} [0, 64, 1, 65, 2, 66
// FAST: llvm.call_intrinsic "llvm.x86.avx512.pmaddubs.w.512"(%{{.*}}, %{{.*}}) : (vector<64xi8>, vector<64xi8>) -> vector<32xi16>
// FAST: arith.addi %{{.*}} : vector<32xi16>
// FAST: arith.sitofp %{{.*}} : vector<16xi16> to vector<16xf32>
// FAST: tensor.extract %[[T]]#1
// FAST: vector.fma
// FAST-NOT: llvm.x86.avx512.permvar

// FAST2-LABEL: func.func @gemv
// FAST2: llvm.call_intrinsic "llvm.x86.avx2.pshuf.b"(%{{.*}}, %{{.*}}) : (vector<32xi8>, vector<32xi8>) -> vector<32xi8>
// FAST2: llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%{{.*}}, %{{.*}}) : (vector<32xi8>, vector<32xi8>) -> vector<16xi16>
// FAST2-NOT: avx512

// Without a kernel attribute (the portable default) nothing calls an
// intrinsic.
// OFF-LABEL: func.func @gemv
// OFF-NOT: llvm.call_intrinsic
func.func @gemv(%x: tensor<1x256xf32>, %s: tensor<2x37x32xi8>, %a: tensor<2x37x2xf16>) -> tensor<1x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x37x32xi8>, tensor<2x37x2xf16> -> tensor<1x37xf32>
  return %y : tensor<1x37xf32>
}

// -----

// A batch of 3 rows, K = 100 (not a multiple of 8), G = 32: one table per
// row (3 x 512 f32: 32 quads, padded to a whole chunk), four groups per
// chunk, and the only chunk read with masked transfers.
// CHECK-LABEL: func.func @batch_3
// CHECK: scf.for {{.*}} -> (tensor<3x512xf32>)
// CHECK: vector.transfer_read %{{.*}} : tensor<3x100xf32>, vector<4xf32>
// CHECK: vector.transfer_read %{{.*}} : tensor<1x9x13xi8>, vector<16xi8>
// CHECK-NOT: in_bounds = [true]} : tensor<1x9x13xi8>
// CHECK-COUNT-12: vector.fma %{{.*}} : vector<16xf32>
// CHECK-NOT: linalg.generic
// With precision=fast a group size of 32 stays exact (f32 tables).
// FAST-LABEL: func.func @batch_3
// FAST: llvm.x86.avx512.permvar.sf.512
// FAST-NOT: pshuf
func.func @batch_3(%x: tensor<3x100xf32>, %s: tensor<1x9x13xi8>, %a: tensor<1x9x4xf32>) -> tensor<3x9xf32> {
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<3x100xf32>, tensor<1x9x13xi8>, tensor<1x9x4xf32> -> tensor<3x9xf32>
  return %y : tensor<3x9xf32>
}

// -----

// Left to the other strategies: 9 rows, dynamic rows, a group size of 24.
// CHECK-LABEL: func.func @not_lut
// FAST-LABEL: func.func @not_lut
// CHECK-NOT: llvm.call_intrinsic
// CHECK: return
func.func @not_lut(%x: tensor<9x128xf32>, %d: tensor<?x128xf32>, %x24: tensor<1x48xf32>, %s: tensor<1x5x16xi8>, %a: tensor<1x5x1xf16>, %s24: tensor<1x5x6xi8>, %a24: tensor<1x5x2xf16>) -> (tensor<9x5xf32>, tensor<?x5xf32>, tensor<1x5xf32>) {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<9x128xf32>, tensor<1x5x16xi8>, tensor<1x5x1xf16> -> tensor<9x5xf32>
  %z = r2q.matmul %d, %s, %a group_size 128 : tensor<?x128xf32>, tensor<1x5x16xi8>, tensor<1x5x1xf16> -> tensor<?x5xf32>
  %w = r2q.matmul %x24, %s24, %a24 group_size 24 : tensor<1x48xf32>, tensor<1x5x6xi8>, tensor<1x5x2xf16> -> tensor<1x5xf32>
  return %y, %z, %w : tensor<9x5xf32>, tensor<?x5xf32>, tensor<1x5xf32>
}

// -----

// 300 x 1024 weights (over 2 x 65536) split across 2 threads: the tables are
// built once, before the scf.forall; each part runs its whole 16-feature
// blocks, then its partial block (19 blocks: 9 and 10, the last partial).
// THREADS-LABEL: func.func @two_threads
// THREADS-NOT: scf.forall
// THREADS: scf.for {{.*}} -> (tensor<2x4096xf32>)
// THREADS: scf.forall (%{{.*}}) in (2)
// THREADS: llvm.call_intrinsic "llvm.x86.avx2.permps"
// THREADS: scf.forall.in_parallel
func.func @two_threads(%x: tensor<2x1024xf32>, %s: tensor<2x300x128xi8>, %a: tensor<2x300x8xf16>) -> tensor<2x300xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<2x1024xf32>, tensor<2x300x128xi8>, tensor<2x300x8xf16> -> tensor<2x300xf32>
  return %y : tensor<2x300xf32>
}
