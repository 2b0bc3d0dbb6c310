# r2q.compile: linear layers with constant weights compiled through
# r2q-quantize-linear and the CPU pipeline compute x * dequantize(quantize(W))^T
# (within 1e-5 of sum_k |x_k w_k|) for odd batches, ragged N, several group
# sizes, a dynamic batch and several results; arguments are checked, and
# left as they were by a function that writes into them.
# RUN: %python %s

import gc

import numpy as np
import r2q
from r2q_test_support import expect_error, fresh_rng, hex_literal, linear_layer_ir

rng = fresh_rng()


def expect_close(y, x, w_hat):
    tolerance = 1e-5 * (np.abs(x)[:, None, :] * np.abs(w_hat)[None, :, :]).sum(axis=2)
    assert y.shape == tolerance.shape and y.dtype == np.float32, (y.shape, y.dtype)
    assert (np.abs(y - x @ w_hat.T) <= tolerance).all(), np.abs(y - x @ w_hat.T).max()


for m, n, k, group in [(1, 33, 256, 128), (2, 8, 64, 64), (5, 17, 192, 32), (7, 3, 128, 16)]:
    w = rng.standard_normal((n, k), dtype=np.float32) * 0.05
    f = r2q.compile(linear_layer_ir(w, m), entry="main",
                    pipeline=f"r2q-quantize-linear{{group-size={group}}},r2q-cpu-pipeline")
    assert f.argument_shapes == [(m, k)] and f.result_shapes == [(m, n)]
    # Packed signs and f16 scales are what the program carries, not the
    # float weight.
    q = r2q.quantize(w, group_size=group)
    assert q.storage_bytes <= f.constant_bytes < w.nbytes, (f.constant_bytes, q.storage_bytes)
    w_hat = r2q.dequantize(q)
    x = rng.standard_normal((m, k), dtype=np.float32)
    expect_close(f(x), x, w_hat)
    # Non-contiguous input is copied to C order.
    xt = np.ascontiguousarray(x.T)
    expect_close(f(xt.T), x, w_hat)

# Two layers, a dynamic batch and two results.
k, n1, n2 = 128, 24, 9
w1 = rng.standard_normal((n1, k), dtype=np.float32)
w2 = rng.standard_normal((n2, k), dtype=np.float32)
two_layers = f"""
func.func @two(%x: tensor<?x{k}xf32>) -> (tensor<?x{n1}xf32>, tensor<?x{n2}xf32>) {{
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x{k}xf32>
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<{hex_literal(w1)}> : tensor<{n1}x{k}xf32>
  %w2 = arith.constant dense<{hex_literal(w2)}> : tensor<{n2}x{k}xf32>
  %e1 = tensor.empty(%m) : tensor<?x{n1}xf32>
  %a1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x{n1}xf32>) -> tensor<?x{n1}xf32>
  %t1 = tensor.empty() : tensor<{k}x{n1}xf32>
  %w1t = linalg.transpose ins(%w1 : tensor<{n1}x{k}xf32>) outs(%t1 : tensor<{k}x{n1}xf32>) permutation = [1, 0]
  %y1 = linalg.matmul ins(%x, %w1t : tensor<?x{k}xf32>, tensor<{k}x{n1}xf32>) outs(%a1 : tensor<?x{n1}xf32>) -> tensor<?x{n1}xf32>
  %e2 = tensor.empty(%m) : tensor<?x{n2}xf32>
  %a2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<?x{n2}xf32>) -> tensor<?x{n2}xf32>
  %t2 = tensor.empty() : tensor<{k}x{n2}xf32>
  %w2t = linalg.transpose ins(%w2 : tensor<{n2}x{k}xf32>) outs(%t2 : tensor<{k}x{n2}xf32>) permutation = [1, 0]
  %y2 = linalg.matmul ins(%x, %w2t : tensor<?x{k}xf32>, tensor<{k}x{n2}xf32>) outs(%a2 : tensor<?x{n2}xf32>) -> tensor<?x{n2}xf32>
  return %y1, %y2 : tensor<?x{n1}xf32>, tensor<?x{n2}xf32>
}}"""
f = r2q.compile(two_layers, entry="two", pipeline="r2q-quantize-linear{group-size=64},r2q-cpu-pipeline")
assert f.entry == "two" and f.argument_shapes == [(None, k)]
assert f.result_shapes == [(None, n1), (None, n2)]
w1_hat = r2q.dequantize(r2q.quantize(w1, group_size=64))
w2_hat = r2q.dequantize(r2q.quantize(w2, group_size=64))
for m in (1, 3, 6):
    x = rng.standard_normal((m, k), dtype=np.float32)
    y1, y2 = f(x)
    expect_close(y1, x, w1_hat)
    expect_close(y2, x, w2_hat)
# Results outlive the compiled function.
del f
gc.collect()
expect_close(y1, x, w1_hat)

# The caller's arrays are values: a function that writes into a slice of
# an argument or into an argument's buffer (outs) returns new arrays and
# leaves its arguments as they were (r2q-read-only-arguments).
writes_arguments = r2q.compile("""
func.func @main(%x: tensor<3x3xf32>, %big: tensor<3x8xf32>) -> (tensor<3x8xf32>, tensor<3x3xf32>) {
  %r = tensor.insert_slice %x into %big[0, 2] [3, 3] [1, 1] : tensor<3x3xf32> into tensor<3x8xf32>
  %d = linalg.add ins(%x, %x : tensor<3x3xf32>, tensor<3x3xf32>) outs(%x : tensor<3x3xf32>) -> tensor<3x3xf32>
  return %r, %d : tensor<3x8xf32>, tensor<3x3xf32>
}""", pipeline="r2q-cpu-pipeline")
x = rng.standard_normal((3, 3), dtype=np.float32)
big = rng.standard_normal((3, 8), dtype=np.float32)
x_before, big_before = x.copy(), big.copy()
inserted, doubled = writes_arguments(x, big)
assert (x == x_before).all() and (big == big_before).all(), "an argument was written"
expected = big_before.copy()
expected[:, 2:5] = x_before
assert (inserted == expected).all() and (doubled == 2 * x_before).all()

# Arguments the compiled function refuses.
f = r2q.compile(linear_layer_ir(w1, 2))
expect_error(TypeError, "argument 0 of @main must be a numpy float32 array, got a float64 array",
             lambda: f(np.zeros((2, k))))
expect_error(TypeError, "argument 0 of @main must be a numpy float32 array, got list",
             lambda: f([[0.0] * k] * 2))
expect_error(ValueError, f"argument 0 of @main must have shape (2, {k}), got (3, {k})",
             lambda: f(np.zeros((3, k), np.float32)))
expect_error(ValueError, f"argument 0 of @main must have shape (2, {k}), got ({2 * k},)",
             lambda: f(np.zeros(2 * k, np.float32)))
expect_error(TypeError, "@main takes 1 argument, got 2",
             lambda: f(np.zeros((2, k), np.float32), np.zeros((2, k), np.float32)))
# Functions compile() cannot call, and IR that does not compile.
expect_error(ValueError, "the module has no func.func @nope with a body",
             lambda: r2q.compile(linear_layer_ir(w1, 2), entry="nope"))
expect_error(ValueError, "argument 0 of @f is tensor<4xi32>; r2q.compile takes functions whose "
             "arguments and results are ranked f32 tensors",
             lambda: r2q.compile("func.func @f(%a: tensor<4xi32>) -> tensor<4xi32> {\n"
                                 "  return %a : tensor<4xi32>\n}", entry="f"))
try:
    r2q.compile(linear_layer_ir(w1, 2), pipeline="r2q-quantize-linear")
except r2q.CompileError as error:
    assert str(error).startswith("the module does not compile to machine code"), str(error)
else:
    raise AssertionError("a module left in linalg must not compile")
print("ok")
