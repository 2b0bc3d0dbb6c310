// The README's mlir-runner command with threads: a kernel split across 3
// OpenMP threads (libomp in -shared-libs) gives exactly the outputs of the
// same kernel on one thread, for every strategy, on a ragged shape (N = 37
// features in 8-feature units, K = 100 = 3 x 32 + 4) with inputs and sign
// bits generated from their indices. Prints the largest difference (0) and
// the sum of |y| (not 0: the product was computed). Again with the threads
// bound as the README runs them (OMP_PROC_BIND=true; 3 threads wrap around
// the CPUs of a smaller machine).
//
// RUN: r2q-opt %s --r2q-cpu-pipeline="c-interface=false threads=3" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libomp.so \
// RUN:   | FileCheck %s
// RUN: r2q-opt %s --r2q-cpu-pipeline="c-interface=false threads=3" \
// RUN:   | env OMP_PROC_BIND=true mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libomp.so \
// RUN:   | FileCheck %s

// CHECK: vector_gemv
// CHECK-NEXT: {{^}}0{{$}}
// CHECK-NEXT: {{^[1-9][0-9]*\.[0-9]+$}}
// CHECK: fused_decode
// CHECK-NEXT: {{^}}0{{$}}
// CHECK-NEXT: {{^[1-9][0-9]*\.[0-9]+$}}
// CHECK: tiled_decode
// CHECK-NEXT: {{^}}0{{$}}
// CHECK-NEXT: {{^[1-9][0-9]*\.[0-9]+$}}

#id = affine_map<(i, j) -> (i, j)>
#id3 = affine_map<(p, i, j) -> (p, i, j)>
#red = affine_map<(i, j) -> ()>

func.func private @printF32(f32)
func.func private @printNewline()
func.func private @printString(!llvm.ptr)

func.func @inputs() -> (tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16>) {
  %xe = tensor.empty() : tensor<3x100xf32>
  %x = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]} outs(%xe : tensor<3x100xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %k = arith.addi %j, %i : index
    %ki = arith.index_cast %k : index to i32
    %kf = arith.sitofp %ki : i32 to f32
    %c = arith.constant 0.37 : f32
    %v = arith.mulf %kf, %c : f32
    %s = math.sin %v : f32
    linalg.yield %s : f32
  } -> tensor<3x100xf32>
  %se = tensor.empty() : tensor<2x37x13xi8>
  %s = linalg.generic {indexing_maps = [#id3], iterator_types = ["parallel", "parallel", "parallel"]} outs(%se : tensor<2x37x13xi8>) {
  ^bb0(%o: i8):
    %p = linalg.index 0 : index
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %c37 = arith.constant 37 : index
    %c11 = arith.constant 11 : index
    %c5 = arith.constant 5 : index
    %a = arith.muli %i, %c37 : index
    %b = arith.muli %j, %c11 : index
    %c = arith.muli %p, %c5 : index
    %ab = arith.addi %a, %b : index
    %abc = arith.addi %ab, %c : index
    %v = arith.index_cast %abc : index to i8
    %last = arith.constant 12 : index
    %isLast = arith.cmpi eq, %j, %last : index
    %mask = arith.constant 15 : i8
    %masked = arith.andi %v, %mask : i8
    %bits = arith.select %isLast, %masked, %v : i8
    linalg.yield %bits : i8
  } -> tensor<2x37x13xi8>
  %ae = tensor.empty() : tensor<2x37x4xf16>
  %a = linalg.generic {indexing_maps = [#id3], iterator_types = ["parallel", "parallel", "parallel"]} outs(%ae : tensor<2x37x4xf16>) {
  ^bb0(%o: f16):
    %p = linalg.index 0 : index
    %i = linalg.index 1 : index
    %g = arith.addi %i, %p : index
    %gi = arith.index_cast %g : index to i32
    %gf = arith.sitofp %gi : i32 to f32
    %c = arith.constant 0.01 : f32
    %base = arith.constant 0.05 : f32
    %v = arith.mulf %gf, %c : f32
    %w = arith.addf %v, %base : f32
    %h = arith.truncf %w : f32 to f16
    linalg.yield %h : f16
  } -> tensor<2x37x4xf16>
  return %x, %s, %a : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16>
}

// max |y1 - y2|, then sum |y1|, each on its own line.
func.func @compare(%y1: tensor<3x37xf32>, %y2: tensor<3x37xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %diff = linalg.generic {indexing_maps = [#id, #id, #red], iterator_types = ["reduction", "reduction"]} ins(%y1, %y2 : tensor<3x37xf32>, tensor<3x37xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %d = arith.subf %a, %b : f32
    %m = math.absf %d : f32
    %r = arith.maximumf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]} ins(%y1 : tensor<3x37xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = math.absf %a : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %dv = tensor.extract %diff[] : tensor<f32>
  %sv = tensor.extract %sum[] : tensor<f32>
  call @printF32(%dv) : (f32) -> ()
  call @printNewline() : () -> ()
  call @printF32(%sv) : (f32) -> ()
  call @printNewline() : () -> ()
  return
}

llvm.mlir.global internal constant @gemv_name("vector_gemv\0A\00")
llvm.mlir.global internal constant @fused_name("fused_decode\0A\00")
llvm.mlir.global internal constant @tiled_name("tiled_decode\0A\00")

func.func @main() {
  %x, %s, %a = call @inputs() : () -> (tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16>)
  %g3 = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = vector_gemv, tile_rows = 8, threads = 3>} : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<3x37xf32>
  %g1 = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = vector_gemv, tile_rows = 8, threads = 1>} : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<3x37xf32>
  %gn = llvm.mlir.addressof @gemv_name : !llvm.ptr
  call @printString(%gn) : (!llvm.ptr) -> ()
  call @compare(%g3, %g1) : (tensor<3x37xf32>, tensor<3x37xf32>) -> ()
  %f3 = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = fused_decode, tile_rows = 8, threads = 3>} : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<3x37xf32>
  %f1 = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = fused_decode, tile_rows = 8, threads = 1>} : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<3x37xf32>
  %fn = llvm.mlir.addressof @fused_name : !llvm.ptr
  call @printString(%fn) : (!llvm.ptr) -> ()
  call @compare(%f3, %f1) : (tensor<3x37xf32>, tensor<3x37xf32>) -> ()
  %t3 = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = tiled_decode, tile_rows = 8, threads = 3>} : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<3x37xf32>
  %t1 = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = tiled_decode, tile_rows = 8, threads = 1>} : tensor<3x100xf32>, tensor<2x37x13xi8>, tensor<2x37x4xf16> -> tensor<3x37xf32>
  %tn = llvm.mlir.addressof @tiled_name : !llvm.ptr
  call @printString(%tn) : (!llvm.ptr) -> ()
  call @compare(%t3, %t1) : (tensor<3x37xf32>, tensor<3x37xf32>) -> ()
  return
}
