// r2q-gpu-check-alignment refuses an alignment claim it cannot check before
// the launch, rather than leaving it unchecked: on a buffer chosen at run
// time (a select of two arguments), and through a reinterpret_cast to
// another offset than its source's, which replaces the offset the host
// passes.

// RUN: r2q-opt %s --r2q-gpu-check-alignment --split-input-file --verify-diagnostics

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @chosen(%a: memref<64xf32>, %b: memref<64xf32>, %pick: i1) kernel {
      %c0 = arith.constant 0 : index
      %buffer = arith.select %pick, %a, %b : memref<64xf32>
      // expected-error @below {{claims 16-byte alignment of a buffer whose start r2q-gpu-check-alignment cannot check before the launch}}
      %v = vector.load %buffer[%c0] {alignment = 16 : i64} : memref<64xf32>, vector<4xf32>
      gpu.return
    }
  }

  func.func @main(%a: memref<64xf32>, %b: memref<64xf32>, %pick: i1) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@chosen blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1)
        args(%a : memref<64xf32>, %b : memref<64xf32>, %pick : i1)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @recast(%a: memref<64xf32, strided<[1], offset: ?>>) kernel {
      %c0 = arith.constant 0 : index
      %whole = memref.reinterpret_cast %a to offset: [0], sizes: [64], strides: [1]
          : memref<64xf32, strided<[1], offset: ?>> to memref<64xf32>
      // expected-error @below {{claims 16-byte alignment}}
      %v = vector.load %whole[%c0] {alignment = 16 : i64} : memref<64xf32>, vector<4xf32>
      gpu.return
    }
  }

  func.func @main(%a: memref<64xf32, strided<[1], offset: ?>>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@recast blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1)
        args(%a : memref<64xf32, strided<[1], offset: ?>>)
    return
  }
}
