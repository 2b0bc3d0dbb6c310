// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="vector-width=32 lut-gemv=false threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="vector-width=8 lut-gemv=false threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=NARROW

// Batch 1: the product is computed from the sign bits. Each chunk of 32
// columns reads 4 sign bytes per plane, bitcasts them to a 32-lane mask and
// keeps acc + scale * x in the masked lanes; each plane has its own
// accumulator; the group sums of x are computed once per call, for every row.
// CHECK-LABEL: func.func @gemv
// CHECK-SAME: (%[[X:.*]]: tensor<1x256xf32>, %[[S:.*]]: tensor<2x40x32xi8>, %[[A:.*]]: tensor<2x40x2xf16>)
// The group sums of the row:
// CHECK: %[[SUMS:.*]] = scf.for
// CHECK: vector.transfer_read %[[X]]
// CHECK: vector.reduction <add>, %{{.*}} fastmath<reassoc> : vector<32xf32> into f32
// Every output feature:
// CHECK: scf.for %[[N:[a-z0-9_]+]] = %{{.*}} to %{{.*}} step
// CHECK: %[[GROUPS:.*]]:3 = scf.for %[[G:[a-z0-9_]+]] = {{.*}} -> (f32, vector<32xf32>, vector<32xf32>)
// CHECK: tensor.extract %[[A]][%{{.*}}, %[[N]], %[[G]]] : tensor<2x40x2xf16>
// CHECK: tensor.extract %[[SUMS]][%{{.*}}, %[[G]]]
// CHECK: scf.for
// CHECK: %[[XV:.*]] = vector.transfer_read %[[X]]{{.*}} {in_bounds = [true]} : tensor<1x256xf32>, vector<32xf32>
// CHECK: %[[BYTES:.*]] = vector.transfer_read %[[S]]{{.*}} {in_bounds = [true]} : tensor<2x40x32xi8>, vector<4xi8>
// CHECK: %[[MASK:.*]] = vector.bitcast %[[BYTES]] : vector<4xi8> to vector<32xi1>
// CHECK: %[[FMA:.*]] = vector.fma %[[XV]], %{{.*}}, %{{.*}} : vector<32xf32>
// CHECK: arith.select %[[MASK]], %[[FMA]], %{{.*}} : vector<32xi1>, vector<32xf32>
// CHECK: vector.bitcast %{{.*}} : vector<4xi8> to vector<32xi1>
// CHECK: arith.addf %[[GROUPS]]#1, %[[GROUPS]]#2 : vector<32xf32>
// CHECK: vector.reduction <add>
// CHECK: arith.subf %[[GROUPS]]#0
// CHECK: tensor.insert
// CHECK-NOT: linalg.generic
// CHECK: return

// With 8 lanes requested, every chunk reads one byte per plane.
// NARROW-LABEL: func.func @gemv
// NARROW: vector.bitcast %{{.*}} : vector<1xi8> to vector<8xi1>
func.func @gemv(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// A group size of 24 has no 32-lane chunk: steps of 8 columns, one byte.
// CHECK-LABEL: func.func @group_24
// CHECK: vector.bitcast %{{.*}} : vector<1xi8> to vector<8xi1>
// CHECK-NOT: vector<32xf32>
func.func @group_24(%x: tensor<2x48xbf16>, %s: tensor<1x5x6xi8>, %a: tensor<1x5x2xf32>) -> tensor<2x5xbf16> {
  %y = r2q.matmul %x, %s, %a group_size 24 : tensor<2x48xbf16>, tensor<1x5x6xi8>, tensor<1x5x2xf32> -> tensor<2x5xbf16>
  return %y : tensor<2x5xbf16>
}

// -----

// Dynamic rows: the vector GEMV for at most 2 rows, tiled decoding else.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[FEW:.*]] = arith.cmpi ule
// CHECK: scf.if %[[FEW]]
// CHECK: vector.bitcast
// CHECK: } else {
// CHECK: linalg.generic
// CHECK-NOT: vector.bitcast
// CHECK: return
func.func @dynamic_rows(%x: tensor<?x?x128xf32>, %s: tensor<2x16x16xi8>, %a: tensor<2x16x1xf16>) -> tensor<?x?x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x?x128xf32>, tensor<2x16x16xi8>, tensor<2x16x1xf16> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// Many static rows never take the vector GEMV.
// CHECK-LABEL: func.func @many_rows
// CHECK-NOT: vector.
// CHECK: return
func.func @many_rows(%x: tensor<16x128xf32>, %s: tensor<2x16x16xi8>, %a: tensor<2x16x1xf16>) -> tensor<16x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<16x128xf32>, tensor<2x16x16xi8>, tensor<2x16x1xf16> -> tensor<16x16xf32>
  return %y : tensor<16x16xf32>
}

// -----

// K = 100, G = 32: three whole groups in the loop, then the last group of 4
// columns once, its chunk read with masked transfers (no in_bounds): x past
// column 100 and sign bytes past byte 13 of the row read as zero.
// CHECK-LABEL: func.func @gemv_ragged
// CHECK-SAME: (%[[X:.*]]: tensor<1x100xf32>, %[[S:.*]]: tensor<2x5x13xi8>, %[[A:.*]]: tensor<2x5x4xf16>)
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : index
// CHECK-DAG: %[[C96:.*]] = arith.constant 96 : index
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[C3]]
// CHECK: vector.transfer_read %[[X]]{{.*}} {in_bounds = [true]} : tensor<1x100xf32>, vector<32xf32>
// CHECK: vector.transfer_read %[[X]][%{{.*}}, %[[C96]]], %{{.*}} : tensor<1x100xf32>, vector<32xf32>
// CHECK: scf.for %[[N:[a-z0-9_]+]] = %{{.*}} to %{{.*}} step
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[C3]]
// CHECK: vector.transfer_read %[[S]]{{.*}} {in_bounds = [true]} : tensor<2x5x13xi8>, vector<4xi8>
// CHECK: tensor.extract %[[A]][%{{.*}}, %[[N]], %[[C3]]] : tensor<2x5x4xf16>
// CHECK: vector.transfer_read %[[S]][%{{.*}}, %[[N]], %[[C12]]], %{{.*}} : tensor<2x5x13xi8>, vector<4xi8>
// CHECK: return
func.func @gemv_ragged(%x: tensor<1x100xf32>, %s: tensor<2x5x13xi8>, %a: tensor<2x5x4xf16>) -> tensor<1x5xf32> {
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<1x100xf32>, tensor<2x5x13xi8>, tensor<2x5x4xf16> -> tensor<1x5xf32>
  return %y : tensor<1x5xf32>
}
