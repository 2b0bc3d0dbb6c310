"""The r2q.torch tutorial of docs/python.md: quantize a small model, train it a
few steps with R2QLinear, compile it, compare outputs and speed with float.

    scripts/install-torch-deps.sh && make build
    PYTHONPATH=build/python build-torch/venv/bin/python examples/torch_tutorial.py

The "pretrained" float model is a random 3-layer MLP (256 -> 1024 -> 1024 ->
256, ReLU); the task is to reproduce its outputs in 2 bits.
"""

import copy
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import r2q.torch as r2qt

torch.manual_seed(0)
torch.set_num_threads(1)  # the compiled code runs on one thread too


float_model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                            nn.Linear(1024, 256)).eval()
x_eval = torch.randn(512, 256)
with torch.no_grad():
    y_eval = float_model(x_eval)


def loss_of(model):
    with torch.no_grad():
        return ((model(x_eval) - y_eval) ** 2).mean().item() / y_eval.pow(2).mean().item()


# 1. Post-training quantization: every nn.Linear becomes an R2QLinear.
ptq = r2qt.quantize_model(copy.deepcopy(float_model), group_size=128, planes=2)
print(f"post-training R2Q: relative MSE {loss_of(ptq):.4f}")

# 2. Quantization-aware training with learned scales, 300 steps.
qat = r2qt.quantize_model(copy.deepcopy(float_model), group_size=128, planes=2,
                          learn_scales=True)
optimizer = torch.optim.Adam(qat.parameters(), lr=3e-5)
start = time.perf_counter()
for step in range(300):
    x = torch.randn(128, 256)
    with torch.no_grad():
        target = float_model(x)
    loss = F.mse_loss(qat(x), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"QAT, 300 steps ({time.perf_counter() - start:.1f} s): relative MSE {loss_of(qat):.4f}")

# 3. Compile: torch-mlir -> r2q-quantize-linear (the learned codes are kept)
#    -> r2q-cpu-pipeline -> JIT.
x1 = torch.randn(1, 256)
start = time.perf_counter()
compiled = r2qt.compile(qat, (x1,))
print(f"compiled in {time.perf_counter() - start:.1f} s; constants "
      f"{compiled.function.constant_bytes} bytes (float32 weights: "
      f"{sum(p.numel() for p in float_model.parameters()) * 4})")
with torch.no_grad():
    fake_quant, float_out = qat(x1), float_model(x1)
y = compiled(x1)
print(f"compiled vs fake-quant: max relative difference "
      f"{((y - fake_quant).abs().max() / fake_quant.abs().max()).item():.2e}")
print(f"compiled vs float: relative MSE "
      f"{((y - float_out) ** 2).mean().item() / float_out.pow(2).mean().item():.4f}")


# 4. Speed at batch 1 (median of repeated calls, same process).
def median_seconds(call, repeats=200):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


with torch.no_grad():
    float_time = median_seconds(lambda: float_model(x1))
compiled_time = median_seconds(lambda: compiled(x1))
print(f"batch 1: float torch {float_time * 1e6:.0f} us, r2q compiled "
      f"{compiled_time * 1e6:.0f} us, ratio {float_time / compiled_time:.2f}")
