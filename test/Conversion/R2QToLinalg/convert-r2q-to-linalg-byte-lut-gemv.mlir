// Strategy byte_lut_gemv on a weight in the row-interleaved layout (37
// features: 3 blocks of 16 rows; K = 576: 2 steps, 4 slices of 256
// columns). With gpu-launch: a first launch that zeroes the result, then
// the GEMV launch: grid (tiles of rows, splits of the columns, activation
// rows), blocks of 8 warps, 64 KiB of dynamic shared memory for two sets of
// tables. It builds its first slice's tables (8 activations, 32 entries a
// thread), then per slice loads the sign pieces (16 bytes: one byte of 16
// rows; each plane of the signs and scales read as one row, 2 x 6144 and
// 2 x 240, so that no offset is divided) and the next slice's activations, waits at its one barrier, looks
// each sign byte up at the byte address one permute (nvvm.prmt, selector
// 0x55j4: the lane's byte, byte j of the word, zeros) makes, times the 16
// rows' scales (one 16-element load), and builds the next slice's tables;
// the lanes' 16 sums meet in 16 xor shuffles (8 + 4 + 2 + 1 + 1) and are
// added to the result atomically; the launch asks for two blocks per SM
// (r2q.kernel_attributes, which r2q-gpu-outline-kernels puts on the
// kernel). Without gpu-launch, the same in host
// loops (the permute in shifts), the tables in a host buffer. A canonical
// weight is refused: r2q-pack-weights has not packed it.

// RUN: r2q-opt %s --split-input-file --verify-diagnostics --convert-r2q-to-linalg="gpu-launch=true" | FileCheck %s --check-prefix=GPU
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --convert-r2q-to-linalg | FileCheck %s --check-prefix=HOST

// GPU-LABEL: func.func @gemv
// 1 x 37 results, 256 threads a block: 1 block.
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c256,
// GPU-NOT: memref.load
// GPU: memref.store %cst{{.*}}
// GPU: gpu.terminator
// 3 blocks of 16 rows, 1 per warp: 1 tile; 4 slices in 2 splits of 2.
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{(_[0-9]+)?}}, {{.*}} = %c2, {{.*}} = %c1{{(_[0-9]+)?}}) threads({{.*}}) in ({{.*}} = %c32, {{.*}} = %c8, {{.*}} = %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c65536_i32
// GPU: %[[SHARED:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// GPU: %[[TABLES:.*]] = memref.view %[[SHARED]][%c0{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<65536xi8, #gpu.address_space<workgroup>>
// GPU-COUNT-8: memref.load %{{.*}} : memref<1x576xf32>
// GPU-COUNT-32: memref.store %{{.*}} : memref<1xf32, #gpu.address_space<workgroup>>
// GPU: scf.for
// GPU: vector.load %{{.*}} {alignment = 16 : i64} : memref<2x6144xi8>, vector<16xi8>
// GPU: vector.load %{{.*}} {alignment = 16 : i64} : memref<2x6144xi8>, vector<16xi8>
// GPU-COUNT-8: memref.load %{{.*}} : memref<1x576xf32>
// GPU: gpu.barrier
// GPU-NOT: gpu.barrier
// GPU: vector.load %{{.*}} {alignment = 32 : i64} : memref<2x240xf16>, vector<16xf16>
// GPU: %[[ADDRESS:.*]] = nvvm.prmt <default> %c21764_i32, %{{.*}}, %[[LANE:.*]] : i32
// GPU: %[[OFFSET:.*]] = arith.index_castui %[[ADDRESS]] : i32 to index
// GPU: %[[ENTRY:.*]] = memref.view %[[TABLES]][%[[OFFSET]]][] : memref<65536xi8, #gpu.address_space<workgroup>> to memref<1xf32, #gpu.address_space<workgroup>>
// GPU: memref.load %[[ENTRY]]
// GPU-COUNT-15: nvvm.prmt <default>
// GPU: vector.load %{{.*}} {alignment = 32 : i64} : memref<2x240xf16>, vector<16xf16>
// GPU-COUNT-16: nvvm.prmt <default>
// GPU-COUNT-32: memref.store %{{.*}} : memref<1xf32, #gpu.address_space<workgroup>>
// GPU-NOT: gpu.barrier
// GPU: scf.yield
// GPU-COUNT-16: gpu.shuffle  xor
// GPU: memref.atomic_rmw addf
// GPU: gpu.terminator
// GPU-NEXT: } {r2q.kernel_attributes = {nvvm.minctasm = 2 : i32}}

// HOST-LABEL: func.func @gemv
// HOST-NOT: gpu.launch
// HOST: memref.alloca() {alignment = 16 : i64} : memref<65536xi8>
// HOST: memref.alloca() : memref<8x32x16xf32>
// HOST-COUNT-3: memref.alloca() : memref<32x16xf32>
// HOST-NOT: nvvm.
// HOST: memref.atomic_rmw addf
// HOST-NOT: gpu.

func.func @gemv(%x: tensor<1x576xf32>, %s: tensor<2x3x2048xi8>, %a: tensor<2x3x80xf16>) -> tensor<1x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = byte_lut_gemv, layout = row_interleaved, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x576xf32>, tensor<2x3x2048xi8>, tensor<2x3x80xf16> -> tensor<1x37xf32>
  return %y : tensor<1x37xf32>
}

// -----

func.func @canonical(%x: tensor<1x576xf32>, %s: tensor<2x37x72xi8>, %a: tensor<2x37x5xf16>) -> tensor<1x37xf32> {
  // expected-error @below {{kernel strategy byte_lut_gemv reads weights in the row_interleaved layout: run r2q-pack-weights (constant weights) or pass packed weights with layout = row_interleaved}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = byte_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x576xf32>, tensor<2x37x72xi8>, tensor<2x37x5xf16> -> tensor<1x37xf32>
  return %y : tensor<1x37xf32>
}
