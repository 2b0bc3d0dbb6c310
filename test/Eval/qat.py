# The QAT loop of `make eval-qat` (r2q_eval.qat) on the first two blocks of the
# real model: the torch Llama computes the numpy Llama's logits; a few
# distillation steps on training windows drawn at random lower the KL
# divergence to the float model on those windows, for R2Q (R2QLinear with
# outliers) and 2-bit round-to-nearest; a run interrupted after a checkpoint and
# resumed ends in exactly the state of an uninterrupted one (weights, Adam
# state, curve), and a checkpoint of other settings is refused; the learned
# code, written as r2q.matmul constants (signs, scales, CSR outliers) and
# compiled by r2q-cpu-pipeline, computes x @ W_hat^T of the trained layer
# (ragged row counts), and W_hat is the core's r2q.dequantize of that code;
# the torch quantizers of the GPU backend (r2q_eval.torch_quant) equal the
# core's R2Q and the numpy round-to-nearest bit for bit, and their bits per
# weight are counted as the core and rtn count them.
# Needs torch and the eval packages in one environment (%qat_python).
# REQUIRES: r2q-python, qat-python
# RUN: rm -rf %t && %qat_python %s %t | FileCheck %s
# CHECK: qat: torch forward matches numpy
# CHECK-NEXT: qat: r2q loss decreases
# CHECK-NEXT: qat: rtn loss decreases
# CHECK-NEXT: qat: resume is exact
# CHECK-NEXT: qat: learned code compiles
# CHECK-NEXT: qat: torch quantizers match the core

import dataclasses
import os
import sys

import numpy as np
import r2q
import torch
from r2q_test_support import expect_error, fresh_rng

from r2q_eval import corpus, gguf_model, llama, qat, r2q_methods, tokenizer, torch_llama, torch_quant

torch.set_num_threads(1)
rng = fresh_rng()
out = sys.argv[1]
base = llama.Llama.from_gguf(layers=2)
text = corpus.Corpus(tokenizer.TextTokenizer(gguf_model.open_reader()))
train_pool = text.train_indices(len(text.train_pool))
eval_pool = set(text.eval_indices(len(text.eval_pool)).tolist())

# The torch model is the numpy model (ragged token counts).
tokens = rng.integers(0, base.config.vocab, (2, int(rng.integers(3, 40))))
expected = base.logits(base.forward(tokens))
with torch.no_grad():
    actual = torch_llama.TorchLlama(base)(torch.from_numpy(tokens)).numpy()
error = np.abs(actual - expected).max() / np.abs(expected).max()
assert error < 1e-5, error
print("qat: torch forward matches numpy")


def random_windows(count):
    """Training windows drawn at random from the training pool."""
    chosen = rng.choice(train_pool, size=count, replace=False)
    assert not set(chosen.tolist()) & eval_pool
    return torch.from_numpy(text.windows[chosen][:, :64])


def held_loss(run, tokens):
    with torch.no_grad():
        return float(qat.distillation_loss(run.student(tokens), run.teacher(tokens)))


# A few steps on two windows (repeated) lower the KL on them. Measured over 15
# seeds (a run takes about a minute on the shared machine): after 6 steps the
# loss was 0.30-0.39x (r2q, mean 0.34, deviation 0.03) and 0.24-0.35x (rtn,
# mean 0.29, deviation 0.03) of the start; the test asks for 0.9x, over 15
# deviations away.
for method in ("r2q", "rtn"):
    settings = qat.Settings(method=method, steps=6, batch=2, lr=1e-4, warmup=1, layers=2)
    run = qat.Run(settings, os.path.join(out, "decrease"), text, base)
    windows = random_windows(2)
    run.train = windows.repeat(settings.steps, 1)
    before = held_loss(run, windows)
    run.run(evaluate_curve=False)
    after = held_loss(run, windows)
    print(f"{method}: KL {before:.4f} -> {after:.4f} ({after / before:.3f}x)", file=sys.stderr)
    assert after < 0.9 * before, (method, before, after)
    print(f"qat: {method} loss decreases")

# Resume: 4 steps straight against 2 steps, a checkpoint, a new Run, 2 more.
settings = qat.Settings(method="r2q", steps=4, batch=1, lr=1e-4, warmup=1, layers=2,
                        eval_windows=2, eval_every=2, checkpoint_every=2)
windows = random_windows(4)


def fresh_run(name):
    run = qat.Run(settings, os.path.join(out, name), text, base)
    run.train = windows
    return run


straight = fresh_run("straight")
straight.run()
interrupted = fresh_run("resumed")
interrupted.record(0.0)
interrupted.train_step()
interrupted.train_step()
interrupted.record(0.0)
interrupted.save()
resumed = fresh_run("resumed")
assert resumed.step == 2 and len(resumed.curve) == 2
resumed.run()
for (name, a), b in zip(straight.student.named_parameters(), resumed.student.parameters()):
    assert torch.equal(a, b), name
for a, b in zip(straight.optimizer.state.values(), resumed.optimizer.state.values()):
    assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
strip = lambda curve: [{k: v for k, v in row.items() if k != "train_seconds"} for row in curve]
assert strip(straight.curve) == strip(resumed.curve), (straight.curve, resumed.curve)
other = dataclasses.replace(settings, lr=2e-4)
expect_error(ValueError, f"{resumed.checkpoint_path} was written with other settings "
             f"({settings.key()}); remove {resumed.dir} to start over",
             lambda: qat.Run(other, os.path.join(out, "resumed"), text, base))
print("qat: resume is exact")

# The learned code on compiled kernels.
codes = qat.learned_codes(resumed.student)
for name in rng.choice(base.linear_names(), size=3, replace=False):
    signs, scales, group, outliers = codes[name]
    layer = resumed.student.linear(name)
    k = layer.in_features
    w_hat = qat.decoded_weight(signs, scales, group, outliers, k)
    assert np.array_equal(w_hat, r2q.dequantize(layer.code())), name
    assert outliers is not None and len(outliers[1]) > 0
    function = r2q.compile(qat.coded_linear_function(name, k, signs, scales, group, outliers),
                           entry="main", pipeline="r2q-cpu-pipeline")
    for rows in (1, int(rng.integers(2, 9)), int(rng.integers(9, 70))):
        x = rng.standard_normal((rows, k), dtype=np.float32)
        y = function(x)
        reference = x @ w_hat.T
        error = np.abs(y - reference).max() / np.abs(reference).max()
        assert error < 1e-4, (name, rows, error)
print("qat: learned code compiles")

# The torch fake quantizers (for a GPU) give the core's R2Q code and the numpy
# round-to-nearest bit for bit: real layers and random ragged matrices.
matrices = [base.linear[name] for name in rng.choice(base.linear_names(), size=2, replace=False)]
for _ in range(3):
    n, k = int(rng.integers(1, 90)), int(rng.integers(1, 400))
    matrices.append((rng.standard_normal((n, k)) * rng.uniform(0.01, 3)).astype(np.float32))
for w in matrices:
    group, planes = int(rng.choice([32, 64, 128])), int(rng.integers(1, 5))
    fraction = float(rng.choice([0.0, 0.005, 0.03]))
    code = r2q.quantize(w, group_size=group, planes=planes, outliers=fraction)
    actual = torch_quant.greedy_r2q(torch.from_numpy(w), planes, group, fraction).numpy()
    assert np.array_equal(actual, r2q.dequantize(code)), (w.shape, group, planes, fraction)
    scheme = qat.Settings(method="r2q", planes=planes, group=group, outliers=fraction)
    assert qat.storage_bits(scheme, *w.shape) == 8 * code.storage_bytes
    bits = int(rng.integers(2, 5))
    expected, stored = r2q_methods.rtn_with_outliers(w, bits, group, "minmax", fraction)
    actual = torch_quant.rtn_minmax(torch.from_numpy(w), bits, group, fraction).numpy()
    assert np.array_equal(actual, expected), (w.shape, group, bits, fraction)
    scheme = dataclasses.replace(scheme, method="rtn", planes=bits)
    assert qat.storage_bits(scheme, *w.shape) == stored
print("qat: torch quantizers match the core")
