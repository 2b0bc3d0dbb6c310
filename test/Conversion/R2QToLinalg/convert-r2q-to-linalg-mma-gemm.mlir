// Strategy mma_gemm: with gpu-launch, the row scaling kernel (one warp per
// row of the 32 padded activation rows and the 37 weight rows: 18 blocks
// of 4 warps; each row's maximum in 5 xor shuffles) writes the activations
// as a 32 x 128 f16 matrix (K = 100 padded to two steps of 64) and the
// rows' powers; then the GEMM kernel (one block: 32 rows x 128 features) in
// one workgroup byte buffer (a 32 x 72 f16 activation tile and a 128 x 72
// f16 weight tile, plus 16 bytes to align them), its 2 x 2 warps carrying
// 1 x 8 mma.sync accumulators (vector<2x2xf32>, m16n8) through the steps,
// and each thread its two 16-byte pieces of the next step's activations
// (loaded before the loop, then before each step's products) and, for the
// whole step (2 planes, groups of 32 columns: two tables), its feature
// row's 2 sign words per plane and the two groups' scales per plane: per
// step the tiles are filled (16-byte stores) between two barriers, and per 16
// columns one ldmatrix .x4 of the A fragment, four of B fragments (two per
// 16 features) and eight products; then each lane adds its accumulators'
// elements to the result (which the scaling kernel set to the accumulator)
// with a load and a store, one block per output.
// K = 1000 (16 steps) on a single tile of 16 rows x 128 features is split
// 4 ways (blocks (1, 1, 4), steps 4z to min(4z + 4, 16)), added atomically;
// its whole steps are decoded through a table of the group's weight values
// and byte permutes (nvvm.prmt) from the sign words and scales each thread
// carries, the partial last one byte by byte (its own loads). Without
// gpu-launch, the same in host loops (the permutes as shifts, the carried
// words in a 128 x 16 buffer): the lanes' maxima in a buffer, the tiles in a
// host byte buffer, and the lanes' registers in buffers: the warps' 32
// accumulators (32 lanes x 2 x 2 f32 each), one A and four B fragments per
// warp (32 lanes x 4 x 2 f16 each).

// RUN: r2q-opt %s --convert-r2q-to-linalg="gpu-launch=true" | FileCheck %s --check-prefix=GPU
// RUN: r2q-opt %s --convert-r2q-to-linalg | FileCheck %s --check-prefix=HOST

// GPU-LABEL: func.func @gemm
// GPU: memref.alloc() {alignment = 64 : i64} : memref<32x128xf16>
// GPU: memref.alloc() {alignment = 64 : i64} : memref<32xf32>
// GPU-COUNT-2: memref.alloc() {alignment = 64 : i64} : memref<37xf32>
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c18, {{.*}} = %c1, {{.*}}) threads({{.*}}) in ({{.*}} = %c32, {{.*}} = %c4,
// GPU-COUNT-5: gpu.shuffle  xor
// GPU: arith.truncf {{.*}} : f32 to f16
// GPU: memref.store {{.*}} : memref<20x37xf32>
// GPU-COUNT-5: gpu.shuffle  xor
// GPU: gpu.terminator
// GPU: %[[SHARED:.*]] = memref.alloca() : memref<23056xi8, #gpu.address_space<workgroup>>
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c32{{.*}}, {{.*}} = %c4
// GPU: memref.extract_aligned_pointer_as_index %[[SHARED]]
// GPU: %[[A:.*]] = memref.view %[[SHARED]][%{{.*}}][] : memref<23056xi8, #gpu.address_space<workgroup>> to memref<32x72xf16, #gpu.address_space<workgroup>>
// GPU: %[[B:.*]] = memref.view %[[SHARED]][%{{.*}}][] : memref<23056xi8, #gpu.address_space<workgroup>> to memref<128x72xf16, #gpu.address_space<workgroup>>
// GPU: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<2x2xf32>
// GPU-COUNT-2: vector.load {{.*}} : memref<32x128xf16>, vector<8xf16>
// GPU: scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}} = %[[ZERO]], {{.*}}) -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32)
// GPU: vector.store {{.*}}, %[[A]][{{.*}}] {alignment = 16 : i64} : memref<32x72xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// GPU: vector.store {{.*}}, %[[B]][{{.*}}] {alignment = 16 : i64} : memref<128x72xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// GPU: gpu.barrier
// GPU-COUNT-2: vector.load {{.*}} : memref<32x128xf16>, vector<8xf16>
// GPU: %[[AFRAG:.*]] = nvgpu.ldmatrix %[[A]][{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<32x72xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// GPU: %[[BFRAG:.*]] = nvgpu.ldmatrix %[[B]][{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<128x72xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// GPU: vector.extract %[[BFRAG]][0] : vector<2xf16> from vector<4x2xf16>
// GPU: vector.extract %[[BFRAG]][1] : vector<2xf16> from vector<4x2xf16>
// GPU-COUNT-3: nvgpu.ldmatrix %[[B]]
// GPU: nvgpu.mma.sync(%[[AFRAG]], %{{.*}}, %[[ACC]]) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// GPU-COUNT-31: nvgpu.mma.sync
// GPU: gpu.barrier
// GPU: scf.yield
// GPU-NOT: gpu.barrier
// GPU-NOT: memref.atomic_rmw
// GPU: vector.extract %{{.*}}[0, 0] : f32 from vector<2x2xf32>
// GPU: %[[BEFORE:.*]] = memref.load %{{.*}} : memref<20x37xf32>
// GPU: %[[SUM:.*]] = arith.addf %[[BEFORE]], %{{.*}} : f32
// GPU: memref.store %[[SUM]], %{{.*}} : memref<20x37xf32>
// GPU-NOT: memref.atomic_rmw
// GPU: gpu.terminator

// GPU-LABEL: func.func @split
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %c14, {{.*}} = %c1, {{.*}} = %c1)
// GPU: gpu.launch blocks({{.*}}, {{.*}}, %[[SPLIT:.*]]) in ({{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c4{{.*}}) threads
// GPU: %[[FIRST:.*]] = arith.muli %[[SPLIT]], %c4{{.*}} : index
// GPU: %[[AFTER:.*]] = arith.addi %[[FIRST]], %c4{{.*}} : index
// GPU: %[[END:.*]] = arith.minui %[[AFTER]], %c16{{.*}} : index
// One plane and groups of 128 columns: the 15 whole steps (8 sign bytes
// each of the 125) through the group's table of 2 f16 values, one byte
// permute per pair of weights; the last, partial step byte by byte. Each
// thread loads its feature row's 8 sign bytes and the group's scale (of
// the last whole step for the partial one) before the loop and the
// products, and carries them as 3 words beside its activation piece's 4.
// GPU: arith.minui %[[FIRST]], %c14{{.*}} : index
// GPU: vector.load {{.*}} : memref<1x37x125xi8>, vector<8xi8>
// GPU: memref.load {{.*}} : memref<1x37x8xf32>
// GPU: scf.for %{{.*}} = %[[FIRST]] to %[[END]] step %c1{{.*}} iter_args({{.*}}) -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, i32, i32, i32, i32, i32, i32, i32)
// GPU: %[[WHOLE:.*]] = arith.cmpi ult, %{{.*}}, %c15{{.*}} : index
// GPU: scf.if %[[WHOLE]] {
// GPU-NOT: vector.load
// GPU-COUNT-4: nvvm.prmt
// GPU: vector.store {{.*}} vector<8xf16>
// GPU: } else {
// GPU-NOT: nvvm.prmt
// GPU: memref.load {{.*}} : memref<1x37x125xi8>
// GPU: arith.truncf {{.*}} : vector<8xf32> to vector<8xf16>
// GPU: gpu.barrier
// GPU: vector.load {{.*}} : memref<1x37x125xi8>, vector<8xi8>
// GPU: nvgpu.ldmatrix
// GPU: memref.atomic_rmw addf {{.*}} : (f32, memref<16x37xf32>) -> f32

// HOST-LABEL: func.func @gemm
// HOST-NOT: gpu.
// HOST: memref.alloca() : memref<32xf32>
// HOST: memref.alloca() : memref<23056xi8>
// HOST: memref.alloca() : memref<32x32x2x2xf32>
// HOST: memref.alloca() : memref<1x32x4x2xf16>
// HOST: memref.alloca() : memref<4x32x4x2xf16>
// HOST: memref.alloca() : memref<128x16xi32>
// HOST: memref.view {{.*}} to memref<32x72xf16>
// HOST: memref.view {{.*}} to memref<128x72xf16>
// HOST: arith.extf {{.*}} : f16 to f32
// HOST-NOT: memref.atomic_rmw
// HOST-LABEL: func.func @split
// HOST: memref.alloca() : memref<128x7xi32>
// HOST: memref.atomic_rmw addf
// HOST-NOT: gpu.
// HOST-NOT: nvvm.

func.func @gemm(%x: tensor<20x100xf32>, %s: tensor<2x37x13xi8>, %a: tensor<2x37x4xf16>) -> tensor<20x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>}
      : tensor<20x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<20x37xf32>
  return %y : tensor<20x37xf32>
}

func.func @split(%x: tensor<16x1000xf16>, %s: tensor<1x37x125xi8>, %a: tensor<1x37x8xf32>) -> tensor<16x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>}
      : tensor<16x1000xf16>, tensor<1x37x125xi8>, tensor<1x37x8xf32> -> tensor<16x37xf32>
  return %y : tensor<16x37xf32>
}
