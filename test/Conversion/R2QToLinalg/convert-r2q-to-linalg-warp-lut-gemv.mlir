// Strategy warp_lut_gemv: with gpu-launch, a table in workgroup memory
// (allocated before the launch, 32 KiB: 512 quads of 16 entries for a batch
// tile of 1 row and 8-byte chunks) and a gpu.launch of blocks of 8 warps;
// per slice of 32 chunks the sign loads come first, then the table build
// between two barriers, then the lookups; the lanes meet in 5 xor
// shuffles. Without gpu-launch, the same in host loops: the table and the
// lanes' sums in host buffers.

// RUN: r2q-opt %s --convert-r2q-to-linalg="gpu-launch=true" | FileCheck %s --check-prefix=GPU
// RUN: r2q-opt %s --convert-r2q-to-linalg | FileCheck %s --check-prefix=HOST

// GPU-LABEL: func.func @gemv
// GPU: %[[TABLE:.*]] = memref.alloca() : memref<8192xf32, #gpu.address_space<workgroup>>
// 37 features, 4 per warp, 8 warps: 2 blocks.
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c2, {{.*}}) threads({{.*}}) in ({{.*}} = %c32, {{.*}} = %c8,
// GPU: scf.for
// GPU: vector.load %{{.*}} {alignment = 8 : i64} : memref<2x37x72xi8>, vector<8xi8>
// GPU: gpu.barrier
// GPU: memref.store %{{.*}}, %[[TABLE]]
// GPU: gpu.barrier
// GPU: memref.load %[[TABLE]]
// 576 = 9 chunks of 64 columns: no tail.
// GPU-NOT: step %c32
// GPU-COUNT-5: gpu.shuffle  xor
// GPU: gpu.terminator

// HOST-LABEL: func.func @gemv
// HOST-NOT: gpu.launch
// HOST: memref.alloca() : memref<8192xf32>
// HOST: memref.alloca() : memref<256x4xf32>
// HOST-NOT: gpu.barrier

func.func @gemv(%x: tensor<1x576xf32>, %s: tensor<2x37x72xi8>, %a: tensor<2x37x5xf16>) -> tensor<1x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>}
      : tensor<1x576xf32>, tensor<2x37x72xi8>, tensor<2x37x5xf16> -> tensor<1x37xf32>
  return %y : tensor<1x37xf32>
}
