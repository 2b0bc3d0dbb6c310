#!/usr/bin/env python3
"""Export small PyTorch models to linalg-on-tensors MLIR fixtures for r2q's lit tests.

Every model is exported with torch-mlir's FX importer
(``torch_mlir.fx.export_and_import(..., output_type="linalg-on-tensors")``) in
float32 and in bfloat16, and written to ``<out-dir>/<model>_<f32|bf16>.mlir``.

Usage (from anywhere; the default output directory is computed from this
script's location, i.e. ``<repo>/test/Torch/fixtures``)::

    /tmp/torchenv/bin/python python/scripts/export_torch_fixtures.py [OUT_DIR]

See test/Torch/fixtures/README.md for how to create the environment
(torch 2.15.0 + torch-mlir 20261001 + ml_dtypes 0.6.0 from PyPI; ml_dtypes is
needed by torch-mlir's FX importer to import bfloat16 weights).

Design notes
------------
* Deterministic: the seed is reset before building each model, so a re-run
  with the same torch / torch-mlir versions produces byte-identical files.
  The header records the torch version without its local build suffix
  (``2.15.0+cu132`` -> ``2.15.0``): export runs on the CPU only, so the wheel
  variant (PyPI's default CUDA wheel or a ``+cpu`` one) is not expected to
  change the IR, and the header should not depend on which one is installed.
  (Only the PyPI default wheel, 2.15.0+cu132, was actually used so far.)
* Every linear layer's input dimension K is a multiple of 128 (the default
  quantization group size of r2q); output dimensions are kept small so the
  committed fixtures stay small (weights are stored as hex ``dense_resource``
  blobs in the ``{-# dialect_resources #-}`` trailer of each file).
* The function is always called ``@main`` (torch-mlir's default).
* Compatibility with upstream MLIR 22 (Debian's /usr/lib/llvm-22/bin/mlir-opt):
  the torch-mlir wheel bundles a newer LLVM than 22.1.  The IR it prints for
  these models uses only syntax that MLIR 22 also parses, so no rewriting is
  needed; the script nevertheless checks every file with mlir-opt when it is
  found (``--mlir-opt PATH``, default /usr/lib/llvm-22/bin/mlir-opt; pass
  ``--mlir-opt ''`` to skip) and fails loudly if one does not parse, so a
  future torch-mlir that prints newer syntax is noticed at regeneration time.
"""

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.export import Dim
from torch_mlir import fx

SEED = 0
SCRIPT_REL = "python/scripts/export_torch_fixtures.py"
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "test", "Torch", "fixtures")
DEFAULT_MLIR_OPT = "/usr/lib/llvm-22/bin/mlir-opt"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


class MLP2(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(128, 256)
        self.fc2 = nn.Linear(256, 64)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class LlamaMLP(nn.Module):
    """down(silu(gate(x)) * up(x)); hidden 128, intermediate 256, no biases."""

    def __init__(self, hidden=128, intermediate=256):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaAttnProj(nn.Module):
    """q/k/v/o projections of a Llama attention block (no real attention)."""

    def __init__(self, hidden=128):
        super().__init__()
        self.q_proj = nn.Linear(hidden, hidden, bias=False)
        self.k_proj = nn.Linear(hidden, hidden, bias=False)
        self.v_proj = nn.Linear(hidden, hidden, bias=False)
        self.o_proj = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x):
        return self.o_proj(self.q_proj(x) + self.k_proj(x) + self.v_proj(x))


# name -> (model factory, example input shape, dynamic_shapes or None)
# dynamic_shapes follows torch.export: one entry per positional argument,
# mapping dimension index -> torch.export.Dim.
MODELS = [
    ("linear_bias", lambda: nn.Linear(128, 64, bias=True), (4, 128), None),
    ("linear_nobias", lambda: nn.Linear(128, 64, bias=False), (4, 128), None),
    ("mlp2", MLP2, (4, 128), None),
    ("llama_mlp", LlamaMLP, (4, 128), ({0: Dim("batch")},)),
    ("llama_attn_proj", LlamaAttnProj, (2, 8, 128), ({1: Dim("seq")},)),
]

DTYPES = [("f32", torch.float32), ("bf16", torch.bfloat16)]


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def versions():
    torch_version = torch.__version__.split("+")[0]
    try:
        tm_version = importlib.metadata.version("torch-mlir")
    except importlib.metadata.PackageNotFoundError:
        tm_version = "unknown"
    return torch_version, tm_version


def header(out_arg):
    torch_version, tm_version = versions()
    cmd = f"/tmp/torchenv/bin/python {SCRIPT_REL}"
    if out_arg:
        cmd += f" {out_arg}"
    return (
        f"// Generated by {SCRIPT_REL} (torch {torch_version}, "
        f"torch-mlir {tm_version}); do not edit.\n"
        f"// Regenerate from the repository root (venv setup: "
        f"test/Torch/fixtures/README.md):\n"
        f"//   {cmd}\n"
    )


def export_one(factory, shape, dynamic_shapes, dtype):
    torch.manual_seed(SEED)
    model = factory().eval().to(dtype)
    x = torch.randn(*shape, dtype=torch.float32).to(dtype)
    with torch.no_grad():
        module = fx.export_and_import(
            model,
            x,
            output_type="linalg-on-tensors",
            dynamic_shapes=dynamic_shapes,
            func_name="main",
        )
    text = str(module)
    if not text.endswith("\n"):
        text += "\n"
    return text


def check_parses(mlir_opt, path):
    res = subprocess.run(
        [mlir_opt, path, "-o", os.devnull], capture_output=True, text=True
    )
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(f"error: {mlir_opt} could not parse {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "out_dir",
        nargs="?",
        default=None,
        help="output directory (default: <repo>/test/Torch/fixtures)",
    )
    parser.add_argument(
        "--mlir-opt",
        default=DEFAULT_MLIR_OPT,
        help="mlir-opt used to check that each file parses ('' to skip; "
        "skipped with a warning when the default is missing)",
    )
    parser.add_argument(
        "--only", action="append", default=[], help="export only this model (repeatable)"
    )
    args = parser.parse_args(argv)

    out_dir = os.path.abspath(args.out_dir) if args.out_dir else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)

    # Record the output directory in the header only when it is not the
    # default, relative to the repo root when possible, so the header does not
    # depend on where the repository is checked out.
    out_arg = ""
    if out_dir != DEFAULT_OUT:
        rel = os.path.relpath(out_dir, REPO_ROOT)
        out_arg = out_dir if rel.startswith("..") else rel
    hdr = header(out_arg)

    mlir_opt = args.mlir_opt
    if mlir_opt and not (os.path.isfile(mlir_opt) or shutil.which(mlir_opt)):
        if args.mlir_opt == DEFAULT_MLIR_OPT:
            print(f"warning: {mlir_opt} not found; not checking that files parse")
            mlir_opt = ""
        else:
            raise SystemExit(f"error: mlir-opt not found: {mlir_opt}")

    known = {m[0] for m in MODELS}
    for name in args.only:
        if name not in known:
            raise SystemExit(f"error: unknown model {name!r}; known: {sorted(known)}")

    for name, factory, shape, dyn in MODELS:
        if args.only and name not in args.only:
            continue
        for suffix, dtype in DTYPES:
            text = export_one(factory, shape, dyn, dtype)
            path = os.path.join(out_dir, f"{name}_{suffix}.mlir")
            with open(path, "w", newline="\n") as f:
                f.write(hdr)
                f.write(text)
            if mlir_opt:
                check_parses(mlir_opt, path)
            print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
