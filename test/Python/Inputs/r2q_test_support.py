"""Shared by the Python tests: fresh seeds, an independent numpy R2Q, and IR
text of linear layers."""

import os
import random

import numpy as np


def fresh_rng():
    """A numpy generator on a fresh seed (printed; R2Q_TEST_SEED replays)."""
    forced = os.environ.get("R2Q_TEST_SEED")
    seed = int(forced) if forced else random.SystemRandom().randrange(2**32)
    print(f"seed {seed} (rerun with R2Q_TEST_SEED={seed})")
    return np.random.default_rng(seed)


def round_scales(values, scale_type):
    """float32 values rounded to nearest even in `scale_type`, as float32."""
    values = np.asarray(values, dtype=np.float32)
    if scale_type == "f32":
        return values
    if scale_type == "f16":
        return values.astype(np.float16).astype(np.float32)
    assert scale_type == "bf16"
    bits = values.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def greedy_r2q(w, group_size, planes, scale_type):
    """The paper's greedy R2Q, written from its formulas: per group,
    s_p = sign(r_p) (sign(0) = +1), a_p = mean|r_p| rounded to the scale type,
    r_{p+1} = r_p - a_p s_p, r_0 = w. Returns (scales P x N x groups,
    negative flags P x N x K, w_hat N x K)."""
    n, k = w.shape
    residual = w.astype(np.float32).reshape(n, k // group_size, group_size)
    scales, negative = [], []
    w_hat = np.zeros_like(residual)
    for _ in range(planes):
        mean = np.abs(residual.astype(np.float64)).sum(axis=2) / group_size
        a = round_scales(mean.astype(np.float32), scale_type)[..., None]
        is_negative = residual < 0
        step = np.where(is_negative, -a, a).astype(np.float32)
        residual = residual - step
        w_hat = w_hat + step
        scales.append(a[..., 0])
        negative.append(is_negative.reshape(n, k))
    return np.stack(scales), np.stack(negative), w_hat.reshape(n, k)


def expect_error(kind, message, call):
    """Asserts that call() raises `kind` with exactly `message`."""
    try:
        call()
    except kind as error:
        assert str(error) == message, f"{error!s} != {message}"
    else:
        raise AssertionError(f"expected {kind.__name__}: {message}")


def hex_literal(array):
    """A dense attribute's hex literal of a little-endian float32 array."""
    return '"0x' + np.ascontiguousarray(array, dtype="<f4").tobytes().hex().upper() + '"'


def linear_layer_ir(weight, m, name="main"):
    """func @name(x: M x K) -> M x N computing x * weight^T with the N x K
    weight a constant, as torch-mlir exports nn.Linear."""
    n, k = weight.shape
    return f"""
func.func @{name}(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32> {{
  %w = arith.constant dense<{hex_literal(weight)}> : tensor<{n}x{k}xf32>
  %e = tensor.empty() : tensor<{k}x{n}xf32>
  %wt = linalg.transpose ins(%w : tensor<{n}x{k}xf32>) outs(%e : tensor<{k}x{n}xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<{m}x{n}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>) outs(%acc : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}
"""


class OnDevice:
    """A stand-in for a torch or CuPy tensor in GPU memory: `array`'s data
    described by __cuda_array_interface__ (on the fake CUDA driver, device
    memory is host memory), with `interface` overriding its entries."""

    def __init__(self, array, **interface):
        self.array = array
        self.__cuda_array_interface__ = {
            "shape": array.shape, "typestr": array.dtype.str,
            "data": (array.ctypes.data, False), "version": 3, "strides": None,
            **interface}
