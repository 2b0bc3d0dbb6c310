# R2QLinear computes with exactly the numerics core's code: its weight equals
# r2q.dequantize(r2q.quantize(W)) (ragged K, every method, scale type and
# plane count), its signs are the paper's greedy signs, the torch decode with
# learned scales (greedy signs on their lattice, in torch) equals the core's
# at initialization, and the forward pass
# equals F.linear with that weight. Gradients reach the float weight
# (straight-through) and the learned scales; the code follows the weight
# after an optimizer step; with outliers=F the layer computes with the core's
# dense + sparse code and exports its CSR part (r2q.torch.compile refuses it:
# r2q.dequantize has no sparse part). quantize_model / freeze on nn.Linear
# and Hugging Face Conv1D; bad arguments raise the core's messages.
# RUN: %torch_python %s

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import r2q
import r2q.torch as r2qt
from transformers.pytorch_utils import Conv1D
from r2q_test_support import expect_error, greedy_r2q
from torch_test_support import fresh_torch_seed

rng = fresh_torch_seed()


def core_weight(w, **scheme):
    return r2q.dequantize(r2q.quantize(np.ascontiguousarray(w, np.float32), **scheme))


def make_layer(k, n, **kwargs):
    layer = r2qt.R2QLinear(k, n, **kwargs)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(rng.standard_normal((n, k), dtype=np.float32)))
    return layer


# The weight is the core's reconstruction, bit for bit (np.array_equal).
for k, n, group, planes, method, scale_type in [
        (128, 16, 32, 2, "greedy", "f16"), (100, 7, 32, 2, "greedy", "f16"),
        (72, 9, 16, 3, "refined", "bf16"), (64, 5, 64, 1, "greedy", "f32"),
        (200, 3, 128, 4, "greedy", "f16")]:
    scheme = dict(group_size=group, planes=planes, method=method, scale_type=scale_type)
    for learn in (False, True) if method == "greedy" else (False,):
        layer = make_layer(k, n, learn_scales=learn, **scheme)
        if learn:  # scales start from the closed form of the current weight
            with torch.no_grad():
                layer.scales.copy_(torch.from_numpy(np.array(layer.code().scales)))
        expected = core_weight(layer.weight.detach().numpy(), **scheme)
        w_q = layer.quantized_weight().detach().numpy()
        assert np.array_equal(w_q, expected), (k, n, scheme, learn, np.abs(w_q - expected).max())
        x = torch.from_numpy(rng.standard_normal((5, k), dtype=np.float32))
        with torch.no_grad():
            assert torch.equal(layer(x), F.linear(x, torch.from_numpy(expected), layer.bias))
        signs, scales = layer.exported_code()
        code = layer.code()
        assert np.array_equal(signs, code.signs) and np.array_equal(scales, code.scales)

# The signs are the paper's: sign(r_p) of the greedy residuals (K divisible),
# from the core's code or, with learned scales, from the torch chain.
for learn in (False, True):
    layer = make_layer(96, 11, group_size=32, planes=3, learn_scales=learn)
    if learn:
        with torch.no_grad():
            layer.scales.copy_(torch.from_numpy(np.array(layer.code().scales)))
    _, negative, _ = greedy_r2q(layer.weight.detach().numpy(), 32, 3, "f16")
    assert np.array_equal(layer.signs().numpy(), np.where(negative, -1.0, 1.0)), learn

# With learned scales the signs are the greedy signs on their lattice and the
# exported code decodes (docs/format.md) to the weight forward() uses; its
# scales are f16 values.
layer = make_layer(100, 6, group_size=32, learn_scales=True)
with torch.no_grad():
    layer.scales.mul_(torch.from_numpy(rng.uniform(0.5, 1.5, layer.scales.shape)
                                       .astype(np.float32)))
    layer.scales[0, 0, 0] = -layer.scales[0, 0, 0]
signs, scales = layer.exported_code()
residual = layer.weight.detach().numpy()
for plane in range(2):
    negative = residual < 0
    assert np.array_equal(np.unpackbits(signs[plane], axis=-1, bitorder="little")[:, :100],
                          negative), plane
    residual = residual - np.where(negative, -1.0, 1.0).astype(np.float32) * np.repeat(
        scales[plane], 32, axis=-1)[:, :100]
assert np.array_equal(scales, scales.astype(np.float16).astype(np.float32))
reference = sum(np.where(np.unpackbits(signs[p], axis=-1, bitorder="little")[:, :100], -1.0,
                         1.0).astype(np.float32) * np.repeat(scales[p], 32, axis=-1)[:, :100]
                for p in range(2))
assert np.array_equal(layer.quantized_weight().detach().numpy(), reference)

# Gradients: the float weight gets dL/dW_q (identity straight-through), the
# learned scales sum_k dL/dW_q * sign_p over their group.
for learn in (False, True):
    layer = make_layer(160, 12, group_size=32, learn_scales=learn)
    x = torch.from_numpy(rng.standard_normal((6, 160), dtype=np.float32))
    upstream = torch.from_numpy(rng.standard_normal((6, 12), dtype=np.float32))
    layer(x).backward(upstream)
    w_q = layer.quantized_weight().detach().clone().requires_grad_()
    F.linear(x, w_q, layer.bias.detach()).backward(upstream)
    assert torch.equal(layer.weight.grad, w_q.grad), learn
    assert layer.weight.grad.abs().sum() > 0
    if learn:
        per_plane = (w_q.grad[None] * layer.signs()).reshape(2, 12, 5, 32).sum(-1)
        assert torch.allclose(layer.scales.grad, per_plane, rtol=1e-5, atol=1e-6)
        assert layer.scales.grad.abs().min() > 0

# After an optimizer step the code is the new weight's.
layer = make_layer(64, 8, group_size=32)
optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
layer(torch.ones(2, 64)).sum().backward()
optimizer.step()
assert np.array_equal(layer.quantized_weight().detach().numpy(),
                      core_weight(layer.weight.detach().numpy(), group_size=32))

# quantize_model replaces nn.Linear and Conv1D (K x N weight) in place,
# sharing nn.Linear's parameters, and skips what it is told to.
model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), Conv1D(40, 48), nn.ReLU(),
                      nn.Linear(40, 8))
x = torch.randn(3, 64)
first_weight = model[0].weight
conv_weight = model[2].weight.detach().clone()
same = r2qt.quantize_model(model, group_size=16, skip=["4"])
assert same is model
assert isinstance(model[0], r2qt.R2QLinear) and model[0].weight is first_weight
assert isinstance(model[2], r2qt.R2QLinear) and torch.equal(model[2].weight, conv_weight.t())
assert type(model[4]) is nn.Linear
with torch.no_grad():
    h = F.relu(F.linear(x, torch.from_numpy(core_weight(first_weight.numpy(), group_size=16)),
                        model[0].bias))
    h = F.relu(F.linear(h, torch.from_numpy(core_weight(conv_weight.t().numpy(), group_size=16)),
                        model[2].bias))
    assert torch.equal(model(x), model[4](h))

# freeze: nn.Linear layers holding the weight the R2QLinear computed with
# (learned scales folded in), the same outputs.
model = r2qt.quantize_model(nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 4)),
                            group_size=32, learn_scales=True)
with torch.no_grad():
    model[0].scales.mul_(torch.from_numpy(rng.uniform(0.5, 1.5, model[0].scales.shape)
                                          .astype(np.float32)))
    expected = model(x)
    weight = model[0].quantized_weight().clone()
r2qt.freeze(model)
assert type(model[0]) is nn.Linear and type(model[2]) is nn.Linear
assert torch.equal(model[0].weight, weight)
with torch.no_grad():
    assert torch.equal(model(x), expected)

# Outliers: the core's dense + sparse code (weight, forward, exported CSR),
# reselected after the weight changes; the gradient is still straight-through.
k, n, fraction = int(rng.integers(40, 200)), int(rng.integers(3, 20)), 0.02
layer = make_layer(k, n, group_size=32, outliers=fraction)
w = layer.weight.detach().numpy().copy()
code = r2q.quantize(w, group_size=32, planes=2, outliers=fraction)
assert np.array_equal(layer.quantized_weight().detach().numpy(), r2q.dequantize(code))
offsets, columns, values = layer.exported_outliers()
assert np.array_equal(offsets, np.array(code.outlier_offsets)) and len(columns) > 0
assert np.array_equal(columns, np.array(code.outlier_columns))
assert np.array_equal(values, np.array(code.outlier_values))
assert make_layer(k, n).exported_outliers() is None
x = torch.from_numpy(rng.standard_normal((5, k), dtype=np.float32))
layer(x).sum().backward()
assert torch.allclose(layer.weight.grad, x.sum(0).expand(n, k), rtol=1e-5, atol=1e-5)
with torch.no_grad():
    layer.weight.mul_(-2.0)
moved = r2q.dequantize(r2q.quantize(-2.0 * w, group_size=32, planes=2, outliers=fraction))
assert np.array_equal(layer.quantized_weight().detach().numpy(), moved)
expect_error(ValueError, "R2QLinear: learn_scales=True cannot be combined with outliers (the "
             "core chooses the outliers' corrections for its own scales)",
             lambda: r2qt.R2QLinear(64, 8, learn_scales=True, outliers=0.01))
expect_error(ValueError, "r2q.torch.compile: R2QLinear layers with outliers cannot pass their "
             "code through r2q.dequantize (it has no sparse part); compile their code as "
             "r2q.matmul with outliers (r2q_eval.qat does)",
             lambda: r2qt.compile(nn.Sequential(layer), (x,)))

# Bad arguments.
expect_error(ValueError, "group size must be positive, got 0",
             lambda: r2qt.R2QLinear(64, 8, group_size=0))
expect_error(ValueError, "number of planes must be between 1 and 4, got 5",
             lambda: r2qt.R2QLinear(64, 8, planes=5))
expect_error(ValueError, "unknown method 'fancy' (expected greedy or refined)",
             lambda: r2qt.R2QLinear(64, 8, method="fancy"))
expect_error(ValueError, "unknown scale type 'f8' (expected f32, f16 or bf16)",
             lambda: r2qt.R2QLinear(64, 8, scale_type="f8"))
expect_error(ValueError, "R2QLinear: learn_scales=True needs method='greedy' (the signs are "
             "the greedy signs of the learned scales)",
             lambda: r2qt.R2QLinear(64, 8, method="refined", learn_scales=True))
expect_error(ValueError, "R2QLinear: in_features must be a positive int, got 0",
             lambda: r2qt.R2QLinear(0, 8))
expect_error(TypeError, "quantize_model: skip must be a list of names, not a string",
             lambda: r2qt.quantize_model(nn.Linear(8, 8), skip="lm_head"))
layer = make_layer(64, 8, group_size=32)
row, col = int(rng.integers(8)), int(rng.integers(64))
with torch.no_grad():
    layer.weight[row, col] = float("nan")
expect_error(ValueError, f"weight at row {row}, column {col} is NaN",
             lambda: layer(torch.ones(1, 64)))
print("ok")
