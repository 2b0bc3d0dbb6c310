// byte_lut_gemv in r2q-gpu-pipeline: r2q-select-gpu-kernels chooses it for
// one activation row and a constant weight that r2q-pack-weights can pack
// (padded by at most 1/8), in fast and exact precision; a runtime weight, two
// rows or a weight that the layout would pad too much keep warp_lut_gemv.
// The pipeline packs the weight (layout = row_interleaved) and compiles two
// kernels: the result zeroed, then the GEMV, whose PTX builds the first
// slice's tables, then per slice reads 128-bit sign pieces (and the next
// slice's activations) before its one barrier, looks each sign byte up at
// the address one byte permute makes of it (prmt), builds the next slice's
// tables in the other set, and at the end meets in shuffles and adds
// atomically. The tables are 64 KiB of dynamic shared memory (the launch
// asks for 65536 bytes), read through CUDA's external shared array, and the
// kernel asks ptxas for registers that leave room for two blocks per SM
// (.minnctapersm 2). Forcing
// it on a runtime weight, or a tile-rows that is not a multiple of 16, is
// an error at the op. The host code asks the runtime for the device copies
// of the constant weight's signs and scales (made once per loaded module),
// and a global destructor beside the kernel modules' unloading frees them.

// RUN: r2q-opt %s --split-input-file --r2q-select-gpu-kernels | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-select-gpu-kernels="precision=exact" | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-gpu-pipeline="cubin-format=isa" --mlir-print-ir-after=r2q-pack-weights -o /dev/null 2>&1 | FileCheck %s --check-prefix=PACKED
// RUN: r2q-opt %s --split-input-file --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=PTX
// RUN: r2q-opt %s --split-input-file --r2q-gpu-pipeline="cubin-format=isa" | mlir-translate --split-input-file --mlir-to-llvmir | FileCheck %s --check-prefix=HOST
// RUN: not r2q-opt %s --split-input-file --r2q-select-gpu-kernels="strategy=byte_lut_gemv" 2>&1 | FileCheck %s --check-prefix=FORCED
// RUN: not r2q-opt %s --split-input-file --r2q-select-gpu-kernels="strategy=byte_lut_gemv tile-rows=24" 2>&1 | FileCheck %s --check-prefix=ROWS

// CHECK-LABEL: func.func @decode
// CHECK: strategy = byte_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x512xf32>
// CHECK-LABEL: func.func @runtime_weight
// CHECK: strategy = warp_lut_gemv
// CHECK-LABEL: func.func @two_rows
// CHECK: strategy = warp_lut_gemv
// CHECK-LABEL: func.func @too_much_padding
// CHECK: strategy = warp_lut_gemv

// PACKED-LABEL: func.func @decode
// PACKED: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = byte_lut_gemv, layout = row_interleaved, {{.*}}} : tensor<1x512xf32>, tensor<2x4x1024xi8>, tensor<2x4x64xf16> -> tensor<1x64xf32>

// PTX: gpu.binary @decode_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// PTX-NOT: minnctapersm
// PTX-SAME: st.global
// PTX: gpu.binary @decode_kernel_0 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// PTX-SAME: .extern .shared .align 16 .b8 __r2q_dynamic_shared[];
// PTX-SAME: .minnctapersm 2
// PTX-SAME: st.shared.b32
// PTX-SAME: ld.global.v4.b32
// PTX-SAME: bar.sync
// PTX-NOT: bar.sync
// PTX-SAME: prmt.b32 {{[^;]*}}, 0x5504U;
// PTX-SAME: ld.shared.b32
// PTX-SAME: {{fma.rn.f32|__nv_fmaf}}
// PTX-SAME: st.shared.b32
// PTX-SAME: shfl.sync.bfly.b32
// PTX-SAME: atom.global.add.f32

// HOST: @llvm.global_dtors = appending global {{.*}} @__r2q_release_device_constants, {{.*}} @decode_kernel_unload
// HOST-LABEL: define {{.*}} @decode(
// HOST: call ptr @r2qCudaDeviceConstant(ptr @[[SIGNS:__r2q_device___constant_2x4x1024xi8]], ptr @__constant_2x4x1024xi8, i64 8192, i32 0)
// HOST: call ptr @r2qCudaDeviceConstant(ptr @[[SCALES:__r2q_device___constant_2x4x64xf16]], ptr @__constant_2x4x64xf16, i64 1024, i32 0)
// HOST: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 {{.*}}, i64 32, i64 8, i64 1, i32 65536,
// HOST: define internal void @__r2q_release_device_constants()
// HOST-DAG: call void @r2qCudaReleaseDeviceConstant(ptr @[[SIGNS]])
// HOST-DAG: call void @r2qCudaReleaseDeviceConstant(ptr @[[SCALES]])

// FORCED: error: 'r2q.matmul' op r2q-select-gpu-kernels: kernel strategy byte_lut_gemv cannot compute this op: byte_lut_gemv reads the row-interleaved layout, which r2q-pack-weights makes of constant weights only (and only where it pads the signs by at most 1/8)
// ROWS: error: 'r2q.matmul' op r2q-select-gpu-kernels: kernel strategy byte_lut_gemv cannot compute this op: its tile_rows is 24 (byte_lut_gemv takes 0 or a multiple of 16 up to 128 output features per warp)

func.func @decode(%x: tensor<1x512xf32>) -> tensor<1x64xf32> {
  %s = arith.constant dense<85> : tensor<2x64x64xi8>
  %a = arith.constant dense<1.5> : tensor<2x64x4xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x512xf32>, tensor<2x64x64xi8>, tensor<2x64x4xf16> -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// -----

func.func @runtime_weight(%x: tensor<1x512xf32>, %s: tensor<2x64x64xi8>, %a: tensor<2x64x4xf16>) -> tensor<1x64xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x512xf32>, tensor<2x64x64xi8>, tensor<2x64x4xf16> -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// -----

func.func @two_rows(%x: tensor<2x512xf32>) -> tensor<2x64xf32> {
  %s = arith.constant dense<85> : tensor<2x64x64xi8>
  %a = arith.constant dense<1.5> : tensor<2x64x4xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<2x512xf32>, tensor<2x64x64xi8>, tensor<2x64x4xf16> -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}

// -----

// 20 rows take 2 blocks of 16: 60% more sign bytes.
func.func @too_much_padding(%x: tensor<1x512xf32>) -> tensor<1x20xf32> {
  %s = arith.constant dense<85> : tensor<2x20x64xi8>
  %a = arith.constant dense<1.5> : tensor<2x20x4xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x512xf32>, tensor<2x20x64xi8>, tensor<2x20x4xf16> -> tensor<1x20xf32>
  return %y : tensor<1x20xf32>
}
