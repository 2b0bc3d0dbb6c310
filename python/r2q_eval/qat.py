"""Quantization-aware fine-tuning of SmolLM2-135M with distillation (issue 13).

The student is ``torch_llama.TorchLlama`` with every linear layer (q, k, v,
o, gate, up, down of all blocks) fake-quantized; embeddings, the tied
lm_head and the norms stay float and frozen. Methods:

- ``r2q``: ``r2q.torch.R2QLinear`` (greedy R2Q, P planes, group G, outliers
  kept exactly: the C++ core's code of the current float weight,
  straight-through gradients; ``--learn-scales`` learns the scales, without
  outliers).
- ``rtn``: B-bit round-to-nearest min/max with the same outliers
  (``r2q_methods.rtn_with_outliers``), straight-through, trained the same way.

``backend="torch"`` computes the same codes with ``torch_quant`` (bit for bit,
tested) on any ``device``, for a GPU, where the r2q extension is not built;
the default ``core`` backend uses the r2q module (R2QLinear) on the CPU.

Loss: KL(teacher || student) of the next-token distributions, the teacher
being the float model, on the training pool of the corpus
(``Corpus.train_windows``, disjoint from the evaluation windows), ``batch``
windows of 256 tokens per step, a fresh slice every step. Adam, linear
warm-up then cosine decay to 10% of the rate, gradient norm clipped at 1.

State lives in ``OUT/<method>/``: ``checkpoint.pt`` (step, weights,
optimizer, curve) every ``checkpoint_every`` steps and at every evaluation,
``curve.csv`` (step, perplexity of the fake-quantized student on the
evaluation windows, every ``eval_every`` steps and at step 0, which is
post-training quantization). A rerun with the same settings continues from
the checkpoint; every step is deterministic (same windows, single-threaded
or not, the result of a resumed run equals an uninterrupted one on one
thread, tested).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import compiled, corpus, llama, perplexity, r2q_methods, rtn, torch_llama, torch_quant

METHODS = ("r2q", "rtn")


@dataclasses.dataclass
class Settings:
    method: str = "r2q"
    steps: int = 150
    batch: int = 1
    lr: float = 1e-4
    warmup: int = 5
    eval_every: int = 25
    eval_windows: int = 32
    checkpoint_every: int = 10
    planes: int = 2  # r2q planes; rtn bits
    group: int = 128
    outliers: float = 0.005
    learn_scales: bool = False
    layers: int | None = None  # only the first N blocks (tests)
    backend: str = "core"  # core: the r2q module; torch: torch_quant (any device)
    device: str = "cpu"

    def key(self) -> dict:
        """What must match for a checkpoint to be continued (the backends
        compute the same codes)."""
        fields = dataclasses.asdict(self)
        for name in ("eval_every", "checkpoint_every", "backend", "device"):
            fields.pop(name)
        return fields


def log(message: str):
    print(message, file=sys.stderr, flush=True)


def straight_through(weight: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """`quantized` in the forward (exactly: the added term is 0), the gradient
    to `weight` unchanged (the identity straight-through estimator)."""
    return quantized + (weight - weight.detach())


class TorchQuantLinear(nn.Module):
    """A linear layer computing with quantize(W) (a torch_quant function of
    the weight, cached per version); straight-through gradient."""

    def __init__(self, linear: nn.Linear, quantize, storage_bits: int):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias
        self.quantize, self.storage_bits = quantize, storage_bits
        self._cached = None

    def quantized_weight(self) -> torch.Tensor:
        key = (self.weight.data_ptr(), self.weight._version)
        if self._cached is None or self._cached[0] != key:
            with torch.no_grad():
                self._cached = (key, self.quantize(self.weight.detach()))
        return self._cached[1]

    def forward(self, x):
        return F.linear(x, straight_through(self.weight, self.quantized_weight()), self.bias)


def storage_bits(settings: "Settings", n: int, k: int) -> int:
    """Stored bits of an N x K layer: codes, f16 scales (RTN: and offsets),
    CSR outliers (as r2q's format and rtn.storage_bits count them)."""
    outliers = r2q_methods.outlier_bits(n, k, int(round(settings.outliers * n * k)))
    if settings.method == "rtn":
        return rtn.storage_bits(n, k, settings.planes, settings.group, "minmax") + outliers
    groups = -(-k // settings.group)
    return settings.planes * n * (8 * (-(-k // 8)) + 16 * groups) + outliers


def torch_layer(layer: nn.Linear, settings: "Settings") -> TorchQuantLinear:
    s = settings
    if s.learn_scales:
        raise ValueError("learn_scales needs the core backend (R2QLinear)")
    if s.method == "r2q":
        quantize = lambda w: torch_quant.greedy_r2q(w, s.planes, s.group, s.outliers)
    else:
        quantize = lambda w: torch_quant.rtn_minmax(w, s.planes, s.group, s.outliers)
    return TorchQuantLinear(layer, quantize, storage_bits(s, *layer.weight.shape))


class RtnLinear(nn.Module):
    """A linear layer computing with B-bit round-to-nearest (min/max, group G)
    of its weight, the `outliers` fraction kept exactly; straight-through
    gradient to the float weight."""

    def __init__(self, linear: nn.Linear, bits: int, group: int, outliers: float):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias
        self.bits, self.group, self.outliers = bits, group, outliers
        self._cached = None

    def code(self) -> tuple[np.ndarray, int]:
        """(W_hat, stored bits) of the current weight, cached per version."""
        key = (self.weight.data_ptr(), self.weight._version)
        if self._cached is None or self._cached[0] != key:
            w = self.weight.detach().numpy()
            self._cached = (key, r2q_methods.rtn_with_outliers(w, self.bits, self.group,
                                                               "minmax", self.outliers))
        return self._cached[1]

    def forward(self, x):
        w_hat = torch.from_numpy(self.code()[0])
        return F.linear(x, straight_through(self.weight, w_hat), self.bias)


def quantize_student(student: torch_llama.TorchLlama, settings: Settings):
    """Replaces the student's linear layers by the method's fake-quant layers."""
    if settings.method not in METHODS:
        raise ValueError(f"unknown QAT method '{settings.method}' (expected {METHODS})")
    for key, layer in list(student.linears.items()):
        if settings.backend == "torch":
            student.linears[key] = torch_layer(layer, settings)
        elif settings.method == "r2q":
            import r2q.torch as r2qt  # Built by the project: PYTHONPATH=build/python.


            student.linears[key] = r2qt.R2QLinear.from_linear(
                layer, planes=settings.planes, group_size=settings.group, method="greedy",
                learn_scales=settings.learn_scales, outliers=settings.outliers)
        else:
            student.linears[key] = RtnLinear(layer, settings.planes, settings.group,
                                             settings.outliers)
    return student


def bits_per_weight(student: torch_llama.TorchLlama) -> float:
    """Stored bits over the linear weights: codes, scales (and RTN offsets),
    outliers."""
    bits = weights = 0
    for layer in student.linears.values():
        weights += layer.weight.numel()
        if isinstance(layer, TorchQuantLinear):
            bits += layer.storage_bits
        elif isinstance(layer, RtnLinear):
            bits += layer.code()[1]
        else:
            bits += 8 * layer.code().storage_bytes
    return bits / weights


def distillation_loss(student_logits, teacher_logits) -> torch.Tensor:
    """Mean over positions of KL(teacher || student) of the next-token distributions."""
    vocab = student_logits.shape[-1]
    return F.kl_div(F.log_softmax(student_logits.reshape(-1, vocab), dim=-1),
                    F.log_softmax(teacher_logits.reshape(-1, vocab), dim=-1),
                    log_target=True, reduction="batchmean")


def learning_rate(settings: Settings, step: int) -> float:
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(settings.steps - settings.warmup, 1)
    return settings.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0))))


def evaluate(model: nn.Module, windows: torch.Tensor, label: str, batch: int = 4) -> float:
    """Perplexity over the windows (as perplexity.evaluate), with progress."""
    start, total, predictions = time.time(), 0.0, 0
    with torch.no_grad():
        for first in range(0, len(windows), batch):
            chunk = windows[first:first + batch]
            total += torch_llama.window_nll(model, chunk)
            predictions += chunk.numel() - len(chunk)
            log(f"[{label}] windows {first + len(chunk)}/{len(windows)}: running perplexity "
                f"{math.exp(total / predictions):.3f} ({time.time() - start:.0f} s)")
    return math.exp(total / predictions)


class Run:
    """One QAT run: the teacher, the student, the optimizer and the curve,
    restored from OUT/<method>/checkpoint.pt when it exists."""

    def __init__(self, settings: Settings, out: str, text: corpus.Corpus,
                 base: llama.Llama | None = None):
        self.settings, self.dir = settings, os.path.join(out, settings.method)
        os.makedirs(self.dir, exist_ok=True)
        base = base or llama.Llama.from_gguf(layers=settings.layers)
        device = torch.device(settings.device)
        self.teacher = torch_llama.TorchLlama(base).to(device).eval().requires_grad_(False)
        self.student = quantize_student(torch_llama.TorchLlama(base).to(device), settings)
        self.optimizer = torch.optim.Adam([p for p in self.student.parameters() if p.requires_grad],
                                          lr=settings.lr)
        # The training pool in order, cycled when the steps need more windows.
        windows = min(settings.steps * settings.batch, len(text.train_pool))
        self.train = torch.from_numpy(text.train_windows(windows)).to(device)
        self.eval = torch.from_numpy(text.eval_windows(settings.eval_windows)).to(device)
        self.step, self.curve = 0, []
        self.restore()

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.dir, "checkpoint.pt")

    def restore(self):
        if not os.path.exists(self.checkpoint_path):
            return
        state = torch.load(self.checkpoint_path, weights_only=False, map_location=self.settings.device)
        if state["settings"] != self.settings.key():
            raise ValueError(f"{self.checkpoint_path} was written with other settings "
                             f"({state['settings']}); remove {self.dir} to start over")
        missing, unexpected = self.student.load_state_dict(state["student"], strict=False)
        trainable = {name for name, p in self.student.named_parameters() if p.requires_grad}
        if unexpected or trainable & set(missing):
            raise ValueError(f"{self.checkpoint_path} does not hold this student's parameters")
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.curve = state["step"], state["curve"]
        log(f"[qat {self.settings.method}] resumed at step {self.step} from {self.checkpoint_path}")

    def save(self):
        trainable = {name for name, p in self.student.named_parameters() if p.requires_grad}
        state = {"settings": self.settings.key(), "step": self.step, "curve": self.curve,
                 "student": {k: v for k, v in self.student.state_dict().items() if k in trainable},
                 "optimizer": self.optimizer.state_dict()}
        temporary = self.checkpoint_path + ".tmp"
        torch.save(state, temporary)
        os.replace(temporary, self.checkpoint_path)
        self.write_curve()

    def write_curve(self):
        with open(os.path.join(self.dir, "curve.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["method", "step", "perplexity",
                                                   "bits_per_weight", "train_seconds"])
            writer.writeheader()
            writer.writerows(self.curve)

    def record(self, train_seconds: float):
        label = f"qat {self.settings.method} step {self.step}"
        ppl = evaluate(self.student, self.eval, label)
        self.curve.append({"method": self.settings.method, "step": self.step,
                           "perplexity": round(ppl, 4),
                           "bits_per_weight": round(bits_per_weight(self.student), 4),
                           "train_seconds": round(train_seconds, 1)})
        log(f"[qat {self.settings.method}] step {self.step}: perplexity {ppl:.3f}")

    def train_step(self) -> float:
        """One optimizer step on the next training windows; returns the loss."""
        s = self.settings
        index = torch.arange(self.step * s.batch, (self.step + 1) * s.batch) % len(self.train)
        tokens = self.train[index.to(self.train.device)]
        with torch.no_grad():
            teacher_logits = self.teacher(tokens)
        loss = distillation_loss(self.student(tokens), teacher_logits)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(s, self.step)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], 1.0)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def run(self, evaluate_curve: bool = True):
        s = self.settings
        spent = self.curve[-1]["train_seconds"] if self.curve else 0.0
        if evaluate_curve and not self.curve:
            self.record(spent)
            self.save()
        start = time.time()
        while self.step < s.steps:
            step_start = time.time()
            loss = self.train_step()
            elapsed = time.time() - step_start
            spent += elapsed
            log(f"[qat {s.method}] step {self.step}/{s.steps}: loss {loss:.4f}, "
                f"lr {learning_rate(s, self.step - 1):.2e}, {elapsed:.1f} s/step "
                f"({(time.time() - start) / 60:.1f} min this run)")
            evaluate_now = evaluate_curve and (self.step % s.eval_every == 0 or self.step == s.steps)
            if evaluate_now:
                self.record(spent)
            if evaluate_now or self.step % s.checkpoint_every == 0:
                self.save()
        return self.curve


# --- the learned code on r2q's compiled kernels ---------------------------

def r2q_module():
    import r2q  # Built by the project: PYTHONPATH=build/python.

    return r2q


def hex_bytes(array: np.ndarray) -> str:
    return '"0x' + np.ascontiguousarray(array).tobytes().hex().upper() + '"'


def coded_linear_function(name: str, k: int, signs, scales, group: int, outliers=None) -> str:
    """x (? x K f32) -> x * W^T for W the R2Q code (signs, f16 scales, optional
    CSR outliers) as one r2q.matmul of constants, for r2q-cpu-pipeline."""
    planes, n, packed = signs.shape
    groups = scales.shape[2]
    f16 = lambda values: np.asarray(values, np.float32).astype(np.float16)
    types = [f"tensor<?x{k}xf32>", f"tensor<{planes}x{n}x{packed}xi8>",
             f"tensor<{planes}x{n}x{groups}xf16>"]
    body = [f"  %signs = arith.constant dense<{hex_bytes(signs.view(np.int8))}> : {types[1]}",
            f"  %scales = arith.constant dense<{hex_bytes(f16(scales))}> : {types[2]}"]
    sparse, sparse_types = "", ""
    if outliers is not None:
        offsets, columns, values = outliers
        nnz = len(columns)
        csr_types = [f"tensor<{n + 1}xi32>", f"tensor<{nnz}xi32>", f"tensor<{nnz}xf16>"]
        for symbol, array, tensor_type in zip(("offsets", "columns", "values"),
                                              (offsets.astype("<i4"), columns.astype("<i4"),
                                               f16(values)), csr_types):
            body.append(f"  %{symbol} = arith.constant dense<{hex_bytes(array)}> : {tensor_type}")
        sparse = " outliers(%offsets, %columns, %values)"
        sparse_types = f", outliers({', '.join(csr_types)})"
    return (f"func.func @main(%x: {types[0]}) -> tensor<?x{n}xf32> {{\n" + "\n".join(body) +
            f"\n  %y = r2q.matmul %x, %signs, %scales{sparse} group_size {group} "
            f"{{r2q.layer = \"{name}\"}} : {', '.join(types)}{sparse_types} -> tensor<?x{n}xf32>\n"
            f"  return %y : tensor<?x{n}xf32>\n}}")


def learned_codes(student: torch_llama.TorchLlama) -> dict:
    """Per GGUF layer name: (signs, scales, group, outliers or None) of the
    code the trained R2Q student computes with."""
    codes = {}
    for name in student.names:
        layer = student.linear(name)
        signs, scales = layer.exported_code()
        codes[name] = (signs, scales, layer.group_size, layer.exported_outliers())
    return codes


class CompiledCodes(compiled.CompiledLinears):
    """linear(name, x) on r2q.matmul functions of given codes, compiled by
    r2q-cpu-pipeline (no quantization pass: the code is the learned one)."""

    def __init__(self, codes: dict, k_of: dict, threads: int = 1, progress=sys.stderr):
        self.label = "r2q-qat compiled"
        self.functions, self.compile_seconds, self.constant_bytes = {}, {}, 0
        for index, (name, (signs, scales, group, outliers)) in enumerate(codes.items(), 1):
            start = time.time()
            text = coded_linear_function(name, k_of[name], signs, scales, group, outliers)
            function = r2q_module().compile(text, entry="main",
                                   pipeline=f"r2q-cpu-pipeline{{threads={threads}}}",
                                   source_name=name)
            function(np.zeros((1, k_of[name]), dtype=np.float32))
            self.compile_seconds[name] = time.time() - start
            self.functions[name] = function
            self.constant_bytes += function.constant_bytes
            if progress is not None and (index % 30 == 0 or index == len(codes)):
                log(f"[compile r2q-qat] {index}/{len(codes)} layers ({self.total_seconds:.1f} s)")


def decoded_weight(signs, scales, group, outliers, k) -> np.ndarray:
    """The weight a code stands for (r2q.dequantize's formula, plus the CSR
    corrections), float32 N x K."""
    import r2q.torch as r2qt

    planes = r2qt._decode(r2qt._unpack_signs(signs, k), torch.from_numpy(scales), group).numpy()
    if outliers is not None:
        offsets, columns, values = outliers
        rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        planes[rows, columns] += values
    return planes


def compiled_perplexity(run: Run, threads: int = 1) -> dict:
    """The trained R2Q student's code exported and compiled (r2q.matmul with
    its signs, scales and outliers through r2q-cpu-pipeline), then the
    numpy model evaluated with those kernels, beside the numpy model with the
    decoded weights and the torch fake-quant perplexity of the last step."""
    if run.settings.method != "r2q":
        raise ValueError("only the r2q student has an R2Q code to compile")
    base = llama.Llama.from_gguf(layers=run.settings.layers)
    codes = learned_codes(run.student)
    k_of = {name: w.shape[1] for name, w in base.linear.items()}
    np.savez(os.path.join(run.dir, "export.npz"),
             **{f"{name}.{part}": array for name, (signs, scales, _, outliers) in codes.items()
                for part, array in (("signs", signs), ("scales", scales),
                                    *(zip(("offsets", "columns", "values"), outliers)
                                      if outliers is not None else ()))})
    windows = run.eval.numpy()
    linears = CompiledCodes(codes, k_of, threads)
    compiled_ppl = perplexity.evaluate(base.with_linear_calls(linears), windows, "r2q-qat compiled")
    decoded = {name: decoded_weight(*code, k_of[name]) for name, code in codes.items()}
    numpy_ppl = perplexity.evaluate(base.with_linear(lambda name, w: decoded[name]), windows,
                                    "r2q-qat numpy")
    torch_ppl = run.curve[-1]["perplexity"] if run.curve else None
    return {"step": run.step, "compiled": compiled_ppl.perplexity, "numpy": numpy_ppl.perplexity,
            "torch": torch_ppl, "compile_seconds": linears.total_seconds,
            "constant_bytes": linears.constant_bytes,
            "agree_4_digits": f"{compiled_ppl.perplexity:.4g}" == f"{numpy_ppl.perplexity:.4g}"}
