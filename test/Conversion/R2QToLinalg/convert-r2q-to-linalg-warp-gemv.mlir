// Strategy warp_gemv: with gpu-launch, a gpu.launch of blocks of 4 warps
// (32 lanes x 4), each warp on `tile_rows` output features; lanes read
// 16-byte chunks of sign bits (aligned to what the row length allows) and
// quads of activations, flip sign bits with xor, and meet in a butterfly of
// 5 xor shuffles; lane 0 writes. Without gpu-launch, the same body in host
// loops over blocks, warps and lanes with the butterfly on two buffers.

// RUN: r2q-opt %s --convert-r2q-to-linalg="gpu-launch=true" | FileCheck %s --check-prefix=GPU
// RUN: r2q-opt %s --convert-r2q-to-linalg | FileCheck %s --check-prefix=HOST

// GPU-LABEL: func.func @gemv
// GPU-DAG: %[[X:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<3x300xf32> to memref<3x300xf32>
// GPU-DAG: %[[S:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<2x37x38xi8> to memref<2x37x38xi8>
// GPU-DAG: %[[OUT:.*]] = memref.alloc() : memref<3x37xf32>
// 37 features, 2 per warp (a batch of 3), 8 per block: 5 blocks.
// GPU-DAG: %[[C5:.*]] = arith.constant 5 : index
// GPU-DAG: %[[C32:.*]] = arith.constant 32 : index
// GPU-DAG: %[[C4:.*]] = arith.constant 4 : index
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %[[C5]], {{.*}}) threads({{.*}}) in ({{.*}} = %[[C32]], {{.*}} = %[[C4]],
// 38 bytes per row: chunk loads are 2-byte aligned; 300 x f32 rows: 16.
// GPU: vector.load %[[S]]{{.*}} {alignment = 2 : i64} : memref<2x37x38xi8>, vector<16xi8>
// GPU: vector.load %[[X]]{{.*}} {alignment = 16 : i64} : memref<3x300xf32>, vector<4xf32>
// GPU: arith.xori {{.*}} : vector<4xi32>
// The tail (columns 256-299) one per lane.
// GPU: scf.for {{.*}} = {{.*}} to %c300 step %c32
// GPU-COUNT-5: gpu.shuffle  xor
// GPU: memref.store {{.*}}, %[[OUT]]
// GPU: gpu.terminator
// GPU: bufferization.to_tensor %[[OUT]] restrict writable

// HOST-LABEL: func.func @gemv
// HOST-NOT: gpu.launch
// HOST: memref.alloca() : memref<32x6xf32>
// HOST: memref.alloca() : memref<32x6xf32>
// HOST-NOT: gpu.shuffle
// HOST: bufferization.to_tensor

func.func @gemv(%x: tensor<3x300xf32>, %s: tensor<2x37x38xi8>, %a: tensor<2x37x3xf16>) -> tensor<3x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 0, threads = 1>}
      : tensor<3x300xf32>, tensor<2x37x38xi8>, tensor<2x37x3xf16> -> tensor<3x37xf32>
  return %y : tensor<3x37xf32>
}
