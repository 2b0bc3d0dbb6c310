// r2q-cpu-pipeline{check-bounds=true}: compiled code checks that every
// vector access stays inside its buffer (upstream checks only memref ops).
// Each entry point below reads or writes a 10-element buffer: in bounds, the
// run prints the sums; one element past the end, it aborts and names the
// access.
//
// RUN: r2q-opt %s --r2q-cpu-pipeline="c-interface=false check-bounds=true" -o %t.mlir
// DEFINE: %{run} = mlir-runner %t.mlir -entry-point-result=void -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libomp.so
// RUN: %{run} -e in_bounds | FileCheck %s --check-prefix=IN-BOUNDS
// RUN: not --crash %{run} -e load_past_end 2>&1 | FileCheck %s --check-prefix=LOAD
// RUN: not --crash %{run} -e masked_load_past_end 2>&1 | FileCheck %s --check-prefix=MASKED
// RUN: not --crash %{run} -e store_past_end 2>&1 | FileCheck %s --check-prefix=STORE
// RUN: not --crash %{run} -e transfer_read_past_end 2>&1 | FileCheck %s --check-prefix=TRANSFER
//
// LOAD: ERROR: Runtime op verification failed
// LOAD-NEXT: vector.load {{.*}} : memref<10xf32>, vector<4xf32>
// LOAD-NEXT: ^ vector access out of bounds of dimension 0 of its memref
// LOAD-NEXT: Location: loc({{.*}}r2q-cpu-pipeline-check-bounds.mlir
// MASKED: ^ vector access out of bounds of dimension 0 of its memref
// STORE: ^ vector access out of bounds of dimension 0 of its memref
// TRANSFER: ^ vector access out of bounds of dimension 0 of its memref
//
// RUN: r2q-opt %s --r2q-cpu-pipeline="check-bounds=true" --mlir-print-ir-after=generate-runtime-verification -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=IR
// IR-LABEL: func.func @load_at
// IR: cf.assert {{.*}}vector.load {{.*}}vector access out of bounds of dimension 0 of its memref
// IR-LABEL: func.func @masked_load_at
// IR: vector.step
// IR: vector.reduction <maxui>
// IR: cf.assert {{.*}}vector.maskedload {{.*}}vector access out of bounds of dimension 0
// IR-LABEL: func.func @store_at
// IR: cf.assert {{.*}}vector.store {{.*}}vector access out of bounds of dimension 0
// IR-LABEL: func.func @transfer_read_at
// IR: cf.assert {{.*}}vector.transfer_read {{.*}}vector access out of bounds of dimension 0
// IR-LABEL: func.func @unchecked_transfer_read_at
// IR-NOT: cf.assert
// IR-LABEL: func.func @print(

func.func @load_at(%buffer: memref<10xf32>, %at: index) -> f32 {
  %v = vector.load %buffer[%at] : memref<10xf32>, vector<4xf32>
  %sum = vector.reduction <add>, %v : vector<4xf32> into f32
  return %sum : f32
}

// Lanes past the mask are not read: 3 lanes from 7 stay inside.
func.func @masked_load_at(%buffer: memref<10xf32>, %at: index, %lanes: index) -> f32 {
  %mask = vector.create_mask %lanes : vector<4xi1>
  %zero = arith.constant dense<0.0> : vector<4xf32>
  %v = vector.maskedload %buffer[%at], %mask, %zero : memref<10xf32>, vector<4xi1>, vector<4xf32> into vector<4xf32>
  %sum = vector.reduction <add>, %v : vector<4xf32> into f32
  return %sum : f32
}

func.func @store_at(%buffer: memref<10xf32>, %at: index) {
  %ones = arith.constant dense<1.0> : vector<4xf32>
  vector.store %ones, %buffer[%at] : memref<10xf32>, vector<4xf32>
  return
}

func.func @transfer_read_at(%buffer: memref<10xf32>, %at: index) -> f32 {
  %pad = arith.constant 0.0 : f32
  %v = vector.transfer_read %buffer[%at], %pad {in_bounds = [true]} : memref<10xf32>, vector<4xf32>
  %sum = vector.reduction <add>, %v : vector<4xf32> into f32
  return %sum : f32
}

// Not in bounds: the transfer masks what lies past the end itself.
func.func @unchecked_transfer_read_at(%buffer: memref<10xf32>, %at: index) -> f32 {
  %pad = arith.constant 0.0 : f32
  %v = vector.transfer_read %buffer[%at], %pad {in_bounds = [false]} : memref<10xf32>, vector<4xf32>
  %sum = vector.reduction <add>, %v : vector<4xf32> into f32
  return %sum : f32
}

func.func private @printF32(f32)
func.func private @printNewline()

func.func @print(%value: f32) {
  func.call @printF32(%value) : (f32) -> ()
  func.call @printNewline() : () -> ()
  return
}

/// A 10-element buffer whose element i holds i + 1.
func.func @counting() -> memref<10xf32> {
  %buffer = memref.alloc() : memref<10xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c10 = arith.constant 10 : index
  %one = arith.constant 1.0 : f32
  scf.for %i = %c0 to %c10 step %c1 {
    %i32 = arith.index_cast %i : index to i32
    %f = arith.sitofp %i32 : i32 to f32
    %value = arith.addf %f, %one : f32
    memref.store %value, %buffer[%i] : memref<10xf32>
  }
  return %buffer : memref<10xf32>
}

func.func @in_bounds() {
  %buffer = func.call @counting() : () -> memref<10xf32>
  %c3 = arith.constant 3 : index
  %c6 = arith.constant 6 : index
  %c7 = arith.constant 7 : index
  %c8 = arith.constant 8 : index
  // IN-BOUNDS: 34
  %a = func.call @load_at(%buffer, %c6) : (memref<10xf32>, index) -> f32
  func.call @print(%a) : (f32) -> ()
  // IN-BOUNDS-NEXT: 27
  %b = func.call @masked_load_at(%buffer, %c7, %c3) : (memref<10xf32>, index, index) -> f32
  func.call @print(%b) : (f32) -> ()
  // IN-BOUNDS-NEXT: 19
  %c = func.call @unchecked_transfer_read_at(%buffer, %c8) : (memref<10xf32>, index) -> f32
  func.call @print(%c) : (f32) -> ()
  func.call @store_at(%buffer, %c6) : (memref<10xf32>, index) -> ()
  // IN-BOUNDS-NEXT: 4
  %d = func.call @transfer_read_at(%buffer, %c6) : (memref<10xf32>, index) -> f32
  func.call @print(%d) : (f32) -> ()
  return
}

func.func @load_past_end() {
  %buffer = func.call @counting() : () -> memref<10xf32>
  %c7 = arith.constant 7 : index
  %a = func.call @load_at(%buffer, %c7) : (memref<10xf32>, index) -> f32
  func.call @print(%a) : (f32) -> ()
  return
}

// Four lanes from 7: the fourth is past the end.
func.func @masked_load_past_end() {
  %buffer = func.call @counting() : () -> memref<10xf32>
  %c4 = arith.constant 4 : index
  %c7 = arith.constant 7 : index
  %a = func.call @masked_load_at(%buffer, %c7, %c4) : (memref<10xf32>, index, index) -> f32
  func.call @print(%a) : (f32) -> ()
  return
}

func.func @store_past_end() {
  %buffer = func.call @counting() : () -> memref<10xf32>
  %c7 = arith.constant 7 : index
  func.call @store_at(%buffer, %c7) : (memref<10xf32>, index) -> ()
  return
}

func.func @transfer_read_past_end() {
  %buffer = func.call @counting() : () -> memref<10xf32>
  %c7 = arith.constant 7 : index
  %a = func.call @transfer_read_at(%buffer, %c7) : (memref<10xf32>, index) -> f32
  func.call @print(%a) : (f32) -> ()
  return
}
