// The int8_gemm strategy (r2q-select-cpu-kernels' choice for more than 8
// rows, or a dynamic batch past 2, in precision=fast), lowered by
// convert-r2q-to-linalg from the kernel attribute alone: activations rounded
// to int8 per unit of 128 columns and stored transposed (one i32 = four
// signed bytes of one row and quad; rows past M hold zeros), the sign bits
// of each weight row and unit expanded to 0/1 bytes once, then one byte dot
// product (the bits unsigned, the activations signed) per quad, activation
// vector and (row, plane) of the block.
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw,+avx512vnni precision=fast threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx2,+fma precision=fast threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=AVX2
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw,+avx512vnni precision=fast threads=2" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=THREADS

// 17 rows (two vectors of 16, the second padded), K = 300 (three units of
// 128, the last partial), N = 37 (five blocks of 8 rows, the last clamped).
// CHECK-LABEL: func.func @gemm
// CHECK-SAME: (%[[X:.*]]: tensor<17x300xf32>, %[[S:.*]]: tensor<2x37x38xi8>, %[[A:.*]]: tensor<2x37x3xf16>)
// CHECK: %[[FILL:.*]] = linalg.fill ins(%c0_i32 : i32) outs(%{{.*}} : tensor<96x32xi32>)
// CHECK: scf.for %[[M:.*]] = %c0 to %c17
// CHECK: scf.for %[[U:.*]] = %c0 to %c3
// CHECK: vector.transfer_read %[[X]][%[[M]], %{{.*}}], %{{.*}} : tensor<17x300xf32>, vector<128xf32>
// CHECK: vector.reduction <maximumf>
// CHECK: math.roundeven %{{.*}} : vector<128xf32>
// CHECK: vector.bitcast %{{.*}} : vector<128xi8> to vector<32xi32>
// CHECK: tensor.insert %{{.*}}[%{{.*}}, %[[M]]] : tensor<96x32xi32>
// Blocks of eight weight rows, clamped to the last row (36):
// CHECK: scf.for %{{.*}} = %c0 to %c5
// CHECK: arith.minui %{{.*}}, %c36 : index
// Units: the bits of each row and plane as 0/1 bytes, the group's scale:
// CHECK: scf.for %{{.*}} = %c0 to %c3
// CHECK: %[[BITS:.*]] = vector.transfer_read %[[S]][%c0, {{.*}}], %{{.*}} : tensor<2x37x38xi8>, vector<16xi8>
// CHECK: %[[MASK:.*]] = vector.bitcast %[[BITS]] : vector<16xi8> to vector<128xi1>
// CHECK: arith.select %[[MASK]], %{{.*}}, %{{.*}} : vector<128xi1>, vector<128xi8>
// CHECK-NOT: math.ctpop
// CHECK: tensor.extract %[[A]][%c0, {{.*}}] : tensor<2x37x3xf16>
// Activation vectors, then the unit's 32 quads: 8 rows x 2 planes of dot
// products, the weight dword broadcast:
// CHECK: scf.for %{{.*}} = %c0 to %c2
// CHECK: scf.for %{{.*}} = %c0 to %c32 {{.*}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK: %[[ACTS:.*]] = vector.transfer_read %{{.*}} {in_bounds = [true]} : tensor<96x32xi32>, vector<16xi32>
// CHECK: %[[DWORD:.*]] = vector.broadcast %{{.*}} : i32 to vector<16xi32>
// CHECK: %[[BITBYTES:.*]] = vector.bitcast %[[DWORD]] : vector<16xi32> to vector<64xi8>
// CHECK: %[[ACTBYTES:.*]] = vector.bitcast %[[ACTS]] : vector<16xi32> to vector<64xi8>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%{{.*}}, %[[BITBYTES]], %[[ACTBYTES]])
// CHECK-COUNT-15: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// The unit's sums scaled into yT, then yT transposed into the output:
// CHECK: arith.sitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK: vector.fma
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<37x17xf32>) outs(%{{.*}} : tensor<17x37xf32>)
// AVX2-LABEL: func.func @gemm
// AVX2: tensor<96x24xi32>
// AVX2 has half the registers: blocks of 4 rows (10 here); sums of byte
// pairs in i16 within a unit, widened to i32 after it.
// AVX2: scf.for %{{.*}} = %c0 to %c10 {{.*}} -> (tensor<48x24xf32>, tensor<8x32xi32>)
// AVX2: scf.for %{{.*}} = %c0 to %c32 {{.*}} -> (vector<16xi16>, vector<16xi16>, vector<16xi16>, vector<16xi16>, vector<16xi16>, vector<16xi16>, vector<16xi16>, vector<16xi16>)
// AVX2: %[[PAIRS:.*]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%{{.*}}, %{{.*}}) : (vector<32xi8>, vector<32xi8>) -> vector<16xi16>
// AVX2: arith.addi %{{.*}}, %[[PAIRS]] : vector<16xi16>
// AVX2: scf.yield
// AVX2: llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%{{.*}}, %{{.*}}) : (vector<16xi16>, vector<16xi16>) -> vector<8xi32>
// Too small to split (11100 weights): one thread.
// THREADS-LABEL: func.func @gemm
// THREADS-NOT: scf.forall
func.func @gemm(%x: tensor<17x300xf32>, %s: tensor<2x37x38xi8>, %a: tensor<2x37x3xf16>) -> tensor<17x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<17x300xf32>, tensor<2x37x38xi8>, tensor<2x37x3xf16> -> tensor<17x37xf32>
  return %y : tensor<17x37xf32>
}

// -----

// A dynamic batch: the vector GEMV for at most 2 rows, the int8 GEMM past
// that, chosen at run time; its transposed activations have M rounded up to
// 16 rows. Groups of 32 columns are units of their own.
// CHECK-LABEL: func.func @dynamic
// CHECK: scf.if
// CHECK: } else {
// CHECK: %[[PADDED:.*]] = arith.muli %{{.*}}, %c16 : index
// CHECK: tensor.empty(%[[PADDED]]) : tensor<64x?xi32>
// CHECK: vector.transfer_read {{.*}} : tensor<?x256xf32>, vector<32xf32>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// Split across two threads (4096 x 256 weights): the 8 units of activations
// are rounded in two parts (4 units, 32 quads each; every row), then the
// features are split, per part its own scratch.
// THREADS-LABEL: func.func @dynamic
// THREADS: scf.forall (%{{.*}}) in (2) shared_outs({{.*}}) -> (tensor<64x?xi32>, tensor<8x?xf32>, tensor<8x?xf32>)
// THREADS: tensor.extract_slice {{.*}} : tensor<64x?xi32> to tensor<?x?xi32>
// THREADS: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args
// THREADS: tensor.parallel_insert_slice {{.*}} : tensor<?x?xi32> into tensor<64x?xi32>
// THREADS: tensor.parallel_insert_slice {{.*}} : tensor<?x?xf32> into tensor<8x?xf32>
// THREADS: tensor.parallel_insert_slice {{.*}} : tensor<?x?xf32> into tensor<8x?xf32>
// THREADS: scf.forall (%{{.*}}) in (2) shared_outs({{.*}}) -> (tensor<?x4096xf32>)
// THREADS: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// THREADS: tensor.parallel_insert_slice
func.func @dynamic(%x: tensor<?x256xf32>, %s: tensor<2x4096x32xi8>, %a: tensor<2x4096x8xf16>) -> tensor<?x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<?x256xf32>, tensor<2x4096x32xi8>, tensor<2x4096x8xf16> -> tensor<?x4096xf32>
  return %y : tensor<?x4096xf32>
}
