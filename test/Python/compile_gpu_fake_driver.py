# r2q.compile's GPU calls end to end on the fake CUDA driver of
# unittests/Runtime/FakeCudaDriver.cpp (device memory is host memory, kernels
# other than its own do nothing): the runtime reports a GPU, a call copies
# the arguments to the device, loads and launches the kernels and copies the
# results back. A function returning its argument gets it back exactly (both
# copies) beside a kernel's result, a linear layer comes back with its shape, repeated calls work
# (device buffers are freed per call), and arguments are still checked.
# REQUIRES: cuda-runtime
# RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda %python %s

import numpy as np
import r2q
from r2q_test_support import expect_error, fresh_rng, linear_layer_ir

rng = fresh_rng()
assert r2q.gpu_unavailable_reason() is None, r2q.gpu_unavailable_reason()

# One result is the first argument (the device copy, copied back), the
# other a kernel's (which the fake driver does not run).
passing = r2q.compile("""
func.func @main(%x: tensor<3x5xf32>, %y: tensor<7xf32>) -> (tensor<3x5xf32>, tensor<7xf32>) {
  %e = tensor.empty() : tensor<7xf32>
  %z = linalg.add ins(%y, %y : tensor<7xf32>, tensor<7xf32>) outs(%e : tensor<7xf32>) -> tensor<7xf32>
  return %x, %z : tensor<3x5xf32>, tensor<7xf32>
}""", pipeline="r2q-gpu-pipeline{cubin-format=isa}")
assert passing.gpu
x = rng.standard_normal((3, 5), dtype=np.float32)
y = rng.standard_normal(7, dtype=np.float32)
for _ in range(3):
    back_x, z = passing(x, y)
    assert (back_x == x).all() and z.shape == (7,) and z.dtype == np.float32

w = rng.standard_normal((33, 320), dtype=np.float32) * 0.05
for m in (1, 5, 20):
    layer = r2q.compile(linear_layer_ir(w, m),
                        pipeline="r2q-quantize-linear{group-size=64},r2q-gpu-pipeline{cubin-format=isa}")
    assert layer.gpu
    for _ in range(2):
        out = layer(rng.standard_normal((m, 320), dtype=np.float32))
        assert out.shape == (m, 33) and out.dtype == np.float32, (out.shape, out.dtype)
expect_error(ValueError, "argument 0 of @main must have shape (20, 320), got (2, 320)",
             lambda: layer(np.zeros((2, 320), dtype=np.float32)))
print("ok")
