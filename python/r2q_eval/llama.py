"""A Llama forward pass in float32 numpy (SmolLM2's architecture).

Embeddings, pre-norm blocks (RMSNorm, grouped-query attention with rotary
position embeddings and a causal mask, SiLU-gated MLP), a final RMSNorm and
the lm_head (tied to the embeddings when the GGUF has no ``output.weight``).
Linear layers are ``y = x @ W.T`` with ``W`` stored ``N x K``; they can be
replaced through ``Llama.with_linear(quantize)``, computed by other code
through ``Llama.with_linear_calls(call)`` (r2q's compiled kernels,
``r2q_eval.compiled``) and their inputs observed through
``forward(tokens, observe=...)``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from . import gguf_model

# observe(layer_names, x): the 2-D input (tokens x K) shared by the linear
# layers `layer_names` (q/k/v share one input, gate/up another).
Observer = Callable[[tuple, np.ndarray], None]
Quantizer = Callable[[str, np.ndarray], np.ndarray]
# call(name, x) -> x @ W_name^T for x (tokens x K): a linear layer computed
# elsewhere.
LinearCall = Callable[[str, np.ndarray], np.ndarray]


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    variance = np.mean(np.square(x), axis=-1, keepdims=True)
    return (x / np.sqrt(variance + eps)) * weight


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def rope_tables(positions: int, head_dim: int, theta: float):
    """cos/sin (positions x head_dim/2) for pair i rotating at theta^(-2i/d)."""
    inv_freq = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotates adjacent pairs (x[2i], x[2i+1]) of the last axis.

    x: (batch, tokens, heads, head_dim); this is llama.cpp's "normal" rope,
    which matches the GGUF's permuted q/k rows (see gguf_model).
    """
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = even * c - odd * s
    out[..., 1::2] = even * s + odd * c
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """q: (B, T, H, D); k, v: (B, S, Hkv, D) with S >= T, the queries being the
    last T positions; query head h reads kv head h // (H/Hkv)."""
    batch, tokens, heads, dim = q.shape
    group = heads // k.shape[2]
    k = np.repeat(k, group, axis=2)
    v = np.repeat(v, group, axis=2)
    scores = np.einsum("bthd,bshd->bhts", q, k) / np.float32(np.sqrt(dim))
    past = k.shape[1] - tokens
    future = np.triu(np.ones((tokens, k.shape[1]), dtype=bool), k=1 + past)
    scores = np.where(future[None, None], np.float32(-np.inf), scores)
    out = np.einsum("bhts,bshd->bthd", softmax(scores), v)
    return out.reshape(batch, tokens, heads * dim)


class KVCache:
    """Keys and values (after rope) of the positions already computed, per
    block, so that decoding computes one new position per step."""

    def __init__(self):
        self.keys, self.values = {}, {}

    @property
    def length(self) -> int:
        return self.keys[0].shape[1] if self.keys else 0

    def extend(self, block: int, k: np.ndarray, v: np.ndarray):
        """The keys and values of all positions, the new ones (B, T, Hkv, D) appended."""
        if block in self.keys:
            k = np.concatenate([self.keys[block], k], axis=1)
            v = np.concatenate([self.values[block], v], axis=1)
        self.keys[block], self.values[block] = k, v
        return k, v


class Llama:
    def __init__(self, config: gguf_model.LlamaConfig, weights: dict, layers: int | None = None):
        self.config = config
        self.layers = config.layers if layers is None else layers
        self.weights = weights
        self.embedding = weights["token_embd.weight"]
        self.lm_head = weights.get("output.weight", self.embedding)
        self.linear = {name: weights[name + ".weight"] for name in self.linear_names()}
        self.linear_call: LinearCall | None = None

    @classmethod
    def from_gguf(cls, path: str | None = None, layers: int | None = None) -> "Llama":
        reader = gguf_model.open_reader(path)
        config = gguf_model.read_config(reader)
        return cls(config, gguf_model.load_weights(reader, layers), layers)

    def linear_names(self) -> list[str]:
        return gguf_model.linear_names(self.config, self.layers)

    def with_linear(self, quantize: Quantizer) -> "Llama":
        """A model whose linear weights are `quantize(name, W)` (W: N x K float32)."""
        model = Llama(self.config, self.weights, self.layers)
        model.linear = {}
        for name, weight in self.linear.items():
            replaced = np.asarray(quantize(name, weight), dtype=np.float32)
            if replaced.shape != weight.shape or not np.all(np.isfinite(replaced)):
                raise ValueError(
                    f"quantize('{name}') returned shape {replaced.shape} (expected "
                    f"{weight.shape}) or non-finite values"
                )
            model.linear[name] = replaced
        return model

    def with_linear_calls(self, call: LinearCall) -> "Llama":
        """A model whose linear layers are computed by `call(name, x)`."""
        model = Llama(self.config, self.weights, self.layers)
        model.linear = self.linear
        model.linear_call = call
        return model

    def apply_linear(self, name: str, x: np.ndarray) -> np.ndarray:
        if self.linear_call is not None:
            return self.linear_call(name, x)
        return x @ self.linear[name].T

    def project(self, names: tuple, x: np.ndarray, observe: Observer | None):
        """Applies the linear layers `names` to their shared input x (B, T, K)."""
        flat = x.reshape(-1, x.shape[-1])
        if observe is not None:
            observe(names, flat)
        return [self.apply_linear(n, flat).reshape(*x.shape[:-1], -1) for n in names]

    def attention(self, i: int, x, cos, sin, observe, cache: KVCache | None = None):
        c = self.config
        batch, tokens, _ = x.shape
        h = rms_norm(x, self.weights[f"blk.{i}.attn_norm.weight"], c.rms_eps)
        names = (f"blk.{i}.attn_q", f"blk.{i}.attn_k", f"blk.{i}.attn_v")
        q, k, v = self.project(names, h, observe)
        q = apply_rope(q.reshape(batch, tokens, c.heads, c.head_dim), cos, sin)
        k = apply_rope(k.reshape(batch, tokens, c.kv_heads, c.head_dim), cos, sin)
        v = v.reshape(batch, tokens, c.kv_heads, c.head_dim)
        if cache is not None:
            k, v = cache.extend(i, k, v)
        out = causal_attention(q, k, v)
        return self.project((f"blk.{i}.attn_output",), out, observe)[0]

    def mlp(self, i: int, x, observe):
        h = rms_norm(x, self.weights[f"blk.{i}.ffn_norm.weight"], self.config.rms_eps)
        gate, up = self.project((f"blk.{i}.ffn_gate", f"blk.{i}.ffn_up"), h, observe)
        return self.project((f"blk.{i}.ffn_down",), silu(gate) * up, observe)[0]

    def forward(self, tokens: np.ndarray, observe: Observer | None = None,
                cache: KVCache | None = None) -> np.ndarray:
        """Final normalized hidden states (B, T, hidden) for tokens (B, T);
        with a cache, tokens follow the positions it holds, and it is extended."""
        tokens = np.atleast_2d(tokens)
        c = self.config
        past = 0 if cache is None else cache.length
        cos, sin = rope_tables(past + tokens.shape[1], c.head_dim, c.rope_theta)
        cos, sin = cos[past:], sin[past:]
        x = self.embedding[tokens]
        for i in range(self.layers):
            x = x + self.attention(i, x, cos, sin, observe, cache)
            x = x + self.mlp(i, x, observe)
        return rms_norm(x, self.weights["output_norm.weight"], c.rms_eps)

    def logits(self, hidden: np.ndarray) -> np.ndarray:
        return hidden @ self.lm_head.T

    def generate(self, prompt_ids: list[int], max_new: int, stop_id: int | None = None,
                 cache: bool = True, step_seconds: list | None = None) -> list[int]:
        """Greedy decoding: the prompt in one forward, then one position per
        token with a KV cache (cache=False: the whole sequence recomputed
        per token). step_seconds, if given, receives the time of every
        token (the first one includes the prompt)."""
        ids = list(prompt_ids)
        kv = KVCache() if cache else None
        pending = ids
        for _ in range(max_new):
            start = time.perf_counter()
            hidden = self.forward(np.asarray([pending], dtype=np.int64), cache=kv)
            next_id = int(np.argmax(self.logits(hidden[0, -1])))
            if step_seconds is not None:
                step_seconds.append(time.perf_counter() - start)
            ids.append(next_id)
            pending = [next_id] if cache else ids
            if next_id == stop_id:
                break
        return ids[len(prompt_ids):]
