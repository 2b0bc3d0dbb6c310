// r2q-gpu-check-alignment: before each launch, host code asks the runtime
// whether each buffer the kernel reads or writes with accesses that claim
// more than the element's alignment starts at a multiple of the largest
// such claim (through the kernel's views); the message names the buffer.
// Buffers with only element-aligned accesses, workgroup buffers and
// scalars are not checked.

// RUN: r2q-opt %s --r2q-gpu-check-alignment --split-input-file | FileCheck %s

// CHECK-DAG: llvm.mlir.global internal constant @[[$WMESSAGE:__r2q_alignment_message_[0-9]+]]("argument 1 of @main (memref<2x4x32xi8>, operand 1 of kernel @kernels::@gemv)\00")
// CHECK-DAG: llvm.mlir.global internal constant @[[$XMESSAGE:__r2q_alignment_message_[0-9]+]]("argument 0 of @main (memref<3x64xf32, strided<[64, 1], offset: ?>>, operand 0 of kernel @kernels::@gemv)\00")
// CHECK-DAG: llvm.func @r2qCudaCheckAlignment(i64, i64, !llvm.ptr)

// CHECK-LABEL: func.func @main(
// CHECK-SAME:    %[[X:.*]]: memref<8x64xf32>, %[[W:.*]]: memref<2x4x32xi8>, %[[OUT:.*]]: memref<3x4xf32>
// CHECK:         %[[ROWS:.*]] = memref.subview %[[X]][5, 0]
// CHECK:         %[[VIEW:.*]] = memref.cast %[[ROWS]]
// CHECK:         %{{.*}}, %[[XOFFSET:.*]], %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[VIEW]]
// CHECK:         %[[XBASE:.*]] = memref.extract_aligned_pointer_as_index %[[VIEW]]
// CHECK:         %[[XOFF:.*]] = arith.muli %[[XOFFSET]], %[[C4:.*]] : index
// CHECK:         %[[XADDR:.*]] = arith.addi %[[XBASE]], %[[XOFF]]
// CHECK:         %[[XADDR64:.*]] = arith.index_castui %[[XADDR]] : index to i64
// CHECK:         %[[SIXTEEN:.*]] = llvm.mlir.constant(16 : i64)
// CHECK:         %[[XNAME:.*]] = llvm.mlir.addressof @[[$XMESSAGE]]
// CHECK:         %[[XSTRING:.*]] = llvm.getelementptr %[[XNAME]][0, 0]
// CHECK:         llvm.call @r2qCudaCheckAlignment(%[[XADDR64]], %[[SIXTEEN]], %[[XSTRING]])
// CHECK:         memref.extract_aligned_pointer_as_index %[[W]]
// CHECK:         %[[EIGHT:.*]] = llvm.mlir.constant(8 : i64)
// CHECK:         llvm.mlir.addressof @[[$WMESSAGE]]
// CHECK:         llvm.call @r2qCudaCheckAlignment(%{{.*}}, %[[EIGHT]], %{{.*}})
// CHECK-NOT:     llvm.call
// CHECK:         gpu.launch_func @kernels::@gemv

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @gemv(%x: memref<3x64xf32, strided<[64, 1], offset: ?>>,
                   %signs: memref<2x4x32xi8>, %out: memref<3x4xf32>,
                   %rows: index)
        workgroup(%table : memref<64xf32, #gpu.address_space<workgroup>>)
        kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %t = gpu.thread_id x
      // 16 bytes of a view of the activations; 4 through the argument.
      %quad = memref.subview %x[%t, 0] [1, 4] [1, 1]
          : memref<3x64xf32, strided<[64, 1], offset: ?>>
          to memref<4xf32, strided<[1], offset: ?>>
      %q = vector.load %quad[%c0] {alignment = 16 : i64}
          : memref<4xf32, strided<[1], offset: ?>>, vector<4xf32>
      %s = memref.load %x[%t, %c1] {alignment = 4 : i64}
          : memref<3x64xf32, strided<[64, 1], offset: ?>>
      // 8 sign bytes, and 4 bytes: the larger claim is checked.
      %b = vector.load %signs[%c0, %t, %c0] {alignment = 8 : i64}
          : memref<2x4x32xi8>, vector<8xi8>
      %b4 = vector.load %signs[%c1, %t, %c0] {alignment = 4 : i64}
          : memref<2x4x32xi8>, vector<4xi8>
      // The table's 16-byte accesses are not a kernel argument's.
      %w = vector.load %table[%c0] {alignment = 16 : i64}
          : memref<64xf32, #gpu.address_space<workgroup>>, vector<4xf32>
      %sum = arith.addf %s, %s : f32
      // The output is written a word at a time: not checked.
      memref.store %sum, %out[%t, %c0] : memref<3x4xf32>
      gpu.return
    }
  }

  func.func @main(%x: memref<8x64xf32>, %w: memref<2x4x32xi8>,
                  %out: memref<3x4xf32>) {
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %rows = memref.subview %x[5, 0] [3, 64] [1, 1]
        : memref<8x64xf32> to memref<3x64xf32, strided<[64, 1], offset: 320>>
    %view = memref.cast %rows : memref<3x64xf32, strided<[64, 1], offset: 320>>
        to memref<3x64xf32, strided<[64, 1], offset: ?>>
    gpu.launch_func @kernels::@gemv blocks in (%c1, %c1, %c1)
        threads in (%c3, %c1, %c1)
        args(%view : memref<3x64xf32, strided<[64, 1], offset: ?>>,
             %w : memref<2x4x32xi8>, %out : memref<3x4xf32>, %c3 : index)
    return
  }
}

// -----

// A kernel without wide accesses: no check, and no declaration.

// CHECK-LABEL: func.func @narrow(
// CHECK-NOT:     r2qCudaCheckAlignment
// CHECK:         gpu.launch_func
// CHECK-NOT:     r2qCudaCheckAlignment

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%in: memref<64xf32>, %out: memref<64xf32>) kernel {
      %t = gpu.thread_id x
      %v = memref.load %in[%t] : memref<64xf32>
      memref.store %v, %out[%t] {alignment = 4 : i64} : memref<64xf32>
      gpu.return
    }
  }

  func.func @narrow(%in: memref<64xf32>, %out: memref<64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1)
        threads in (%c64, %c1, %c1)
        args(%in : memref<64xf32>, %out : memref<64xf32>)
    return
  }
}

// -----

// A buffer the function allocates is named so (its views are checked too).

// CHECK: llvm.mlir.global internal constant @{{.*}}("a buffer that @allocating allocates (memref<16xf32, strided<[1], offset: 4>>, operand 0 of kernel @kernels::@wide)\00")
// CHECK-LABEL: func.func @allocating(
// CHECK:         %[[BUFFER:.*]] = gpu.alloc () : memref<64xf32>
// CHECK:         %[[VIEW:.*]] = memref.subview %[[BUFFER]][4] [16] [1]
// CHECK:         memref.extract_aligned_pointer_as_index %[[VIEW]]
// CHECK:         llvm.call @r2qCudaCheckAlignment
// CHECK:         gpu.launch_func @kernels::@wide

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @wide(%in: memref<16xf32, strided<[1], offset: 4>>) kernel {
      %c0 = arith.constant 0 : index
      %v = vector.load %in[%c0] {alignment = 16 : i64}
          : memref<16xf32, strided<[1], offset: 4>>, vector<4xf32>
      vector.store %v, %in[%c0] {alignment = 16 : i64}
          : memref<16xf32, strided<[1], offset: 4>>, vector<4xf32>
      gpu.return
    }
  }

  func.func @allocating() {
    %c1 = arith.constant 1 : index
    %buffer = gpu.alloc () : memref<64xf32>
    %view = memref.subview %buffer[4] [16] [1]
        : memref<64xf32> to memref<16xf32, strided<[1], offset: 4>>
    gpu.launch_func @kernels::@wide blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1)
        args(%view : memref<16xf32, strided<[1], offset: 4>>)
    gpu.dealloc %buffer : memref<64xf32>
    return
  }
}

// -----

// memref.assume_alignment is a claim too; the element stride is LLVM's
// allocation size (an i24 takes 4 bytes).

// CHECK-LABEL: func.func @assumed(
// CHECK:         %{{.*}}, %[[OFFSET:.*]], %{{.*}}, %{{.*}} = memref.extract_strided_metadata
// CHECK:         %[[FOUR:.*]] = arith.constant 4 : index
// CHECK:         arith.muli %[[OFFSET]], %[[FOUR]] : index
// CHECK:         %[[THIRTYTWO:.*]] = llvm.mlir.constant(32 : i64)
// CHECK:         llvm.call @r2qCudaCheckAlignment(%{{.*}}, %[[THIRTYTWO]], %{{.*}})
// CHECK:         gpu.launch_func @kernels::@assumes

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @assumes(%in: memref<16xi24, strided<[1], offset: ?>>) kernel {
      %c0 = arith.constant 0 : index
      %aligned = memref.assume_alignment %in, 32 : memref<16xi24, strided<[1], offset: ?>>
      %v = memref.load %aligned[%c0] : memref<16xi24, strided<[1], offset: ?>>
      gpu.return
    }
  }

  func.func @assumed(%in: memref<16xi24, strided<[1], offset: ?>>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@assumes blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1)
        args(%in : memref<16xi24, strided<[1], offset: ?>>)
    return
  }
}

// -----

// The kernel's own memory is not checked (a select of two workgroup
// buffers, a global of the GPU module); a reinterpret_cast that keeps its
// source's offset (as r2q-expand-shapes-to-reinterpret-casts writes it) is
// a view of the argument like any other.

// CHECK-LABEL: func.func @own(
// CHECK:         llvm.call @r2qCudaCheckAlignment
// CHECK-NOT:     llvm.call
// CHECK:         gpu.launch_func @kernels::@own

module attributes {gpu.container_module} {
  gpu.module @kernels {
    memref.global "private" constant @table : memref<8xf32> = dense<1.0>
    gpu.func @own(%in: memref<64xf32, strided<[1], offset: ?>>, %pick: i1)
        workgroup(%a : memref<64xf32, #gpu.address_space<workgroup>>,
                  %b : memref<64xf32, #gpu.address_space<workgroup>>)
        kernel {
      %c0 = arith.constant 0 : index
      %shared = arith.select %pick, %a, %b : memref<64xf32, #gpu.address_space<workgroup>>
      %s = vector.load %shared[%c0] {alignment = 16 : i64}
          : memref<64xf32, #gpu.address_space<workgroup>>, vector<4xf32>
      %global = memref.get_global @table : memref<8xf32>
      %g = vector.load %global[%c0] {alignment = 16 : i64} : memref<8xf32>, vector<4xf32>
      %base, %offset, %size, %stride = memref.extract_strided_metadata %in
          : memref<64xf32, strided<[1], offset: ?>> -> memref<f32>, index, index, index
      %rows = memref.reinterpret_cast %in to offset: [%offset], sizes: [16, 4], strides: [4, 1]
          : memref<64xf32, strided<[1], offset: ?>> to memref<16x4xf32, strided<[4, 1], offset: ?>>
      %r = vector.load %rows[%c0, %c0] {alignment = 16 : i64}
          : memref<16x4xf32, strided<[4, 1], offset: ?>>, vector<4xf32>
      gpu.return
    }
  }

  func.func @own(%in: memref<64xf32, strided<[1], offset: ?>>, %pick: i1) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@own blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1)
        args(%in : memref<64xf32, strided<[1], offset: ?>>, %pick : i1)
    return
  }
}
