# The numpy Llama on the first block of the real model and on random data:
# grouped-query causal attention against a naive loop, the rope variant that
# matches the GGUF's permuted q/k rows, causality, replaceable linear layers,
# and the calibration statistics (X^T X per layer input, saved and reloaded).
# RUN: rm -rf %t && %eval_python %s %t | FileCheck %s
# CHECK: forward: attention passed
# CHECK-NEXT: forward: rope layout passed
# CHECK-NEXT: forward: causality passed
# CHECK-NEXT: forward: linear replacement passed
# CHECK-NEXT: forward: calibration passed

import json
import os
import sys

import numpy as np

from r2q_eval import calibration, gguf_model, llama

rng = np.random.default_rng(7)

# Naive attention: query head h reads kv head h // group, position t sees s <= t.
b, t, heads, kv_heads, dim = 2, 5, 6, 2, 4
q = rng.standard_normal((b, t, heads, dim)).astype(np.float32)
k = rng.standard_normal((b, t, kv_heads, dim)).astype(np.float32)
v = rng.standard_normal((b, t, kv_heads, dim)).astype(np.float32)
expected = np.zeros((b, t, heads, dim))
for bi in range(b):
    for h in range(heads):
        kv = h // (heads // kv_heads)
        for ti in range(t):
            scores = np.array([q[bi, ti, h] @ k[bi, s, kv] for s in range(ti + 1)]) / np.sqrt(dim)
            weights = np.exp(scores - scores.max())
            expected[bi, ti, h] = (weights / weights.sum()) @ v[bi, : ti + 1, kv]
actual = llama.causal_attention(q, k, v).reshape(b, t, heads, dim)
assert np.allclose(actual, expected, atol=1e-5), np.abs(actual - expected).max()
print("forward: attention passed")

model = llama.Llama.from_gguf(layers=1)
config = model.config
tokens = rng.integers(0, config.vocab, size=(1, 19))


def half_split_rope(x, cos, sin):
    """Hugging Face's rotate_half rope: pairs (x[i], x[i + d/2])."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return np.concatenate([first * c - second * s, first * s + second * c], axis=-1)


def attention_scores(w_q, w_k, rope):
    h = llama.rms_norm(model.embedding[tokens], model.weights["blk.0.attn_norm.weight"], config.rms_eps)
    cos, sin = llama.rope_tables(tokens.shape[1], config.head_dim, config.rope_theta)
    qh = rope((h @ w_q.T).reshape(1, -1, config.heads, config.head_dim), cos, sin)
    kh = rope((h @ w_k.T).reshape(1, -1, config.kv_heads, config.head_dim), cos, sin)
    kh = np.repeat(kh, config.heads // config.kv_heads, axis=2)
    return np.einsum("bthd,bshd->bhts", qh, kh)


w_q, w_k = model.linear["blk.0.attn_q"], model.linear["blk.0.attn_k"]
ours = attention_scores(w_q, w_k, llama.apply_rope)
hf_q = gguf_model.unpermute_rope_rows(w_q, config.heads)
hf_k = gguf_model.unpermute_rope_rows(w_k, config.kv_heads)
reference = attention_scores(hf_q, hf_k, half_split_rope)
assert np.allclose(ours, reference, rtol=1e-4, atol=1e-3 * np.abs(reference).max())
# The converter's permutation (convert_hf_to_gguf.py) gives the GGUF rows back...
redo = hf_q.reshape(config.heads, 2, config.head_dim // 2, -1).swapaxes(1, 2).reshape(w_q.shape)
assert np.array_equal(redo, w_q)
# ...and the wrong rope on the stored rows would change the scores.
wrong = attention_scores(w_q, w_k, half_split_rope)
assert not np.allclose(wrong, reference, rtol=1e-2, atol=1e-2 * np.abs(reference).max())
print("forward: rope layout passed")

hidden = model.forward(tokens)
changed = tokens.copy()
changed[0, 11:] = (changed[0, 11:] + 1) % config.vocab
hidden_changed = model.forward(changed)
assert np.array_equal(hidden[:, :11], hidden_changed[:, :11])
assert not np.allclose(hidden[:, 11:], hidden_changed[:, 11:])
print("forward: causality passed")

seen = {}


def identity(name, w):
    seen[name] = w.shape
    return w.copy()


assert np.array_equal(model.with_linear(identity).forward(tokens), hidden)
assert seen == {
    "blk.0.attn_q": (576, 576), "blk.0.attn_k": (192, 576), "blk.0.attn_v": (192, 576),
    "blk.0.attn_output": (576, 576), "blk.0.ffn_gate": (1536, 576),
    "blk.0.ffn_up": (1536, 576), "blk.0.ffn_down": (576, 1536),
}, seen
perturbed = model.with_linear(lambda name, w: w * 1.01 if name == "blk.0.ffn_down" else w)
assert not np.allclose(perturbed.forward(tokens), hidden, rtol=0, atol=1e-7)
for bad in (lambda name, w: w[:, :-1], lambda name, w: w * np.nan):
    try:
        model.with_linear(bad)
        raise AssertionError("a bad replacement was accepted")
    except ValueError:
        pass
print("forward: linear replacement passed")

stats = calibration.InputStatistics()
inputs = {}


def observe(names, x):
    inputs.setdefault(names, []).append(x.astype(np.float64))
    stats(names, x)


model.forward(tokens, observe=observe)
model.forward(tokens[:, :7], observe=observe)
assert len(stats.xtx) == 4, list(stats.xtx)
for names, xs in inputs.items():
    x = np.concatenate(xs)
    assert np.allclose(stats.xtx[names], x.T @ x, rtol=1e-12, atol=1e-9)
directory = sys.argv[1]
stats.save(directory, {"windows": [0]})
with open(os.path.join(directory, "index.json")) as f:
    index = json.load(f)
assert sorted(index["layers"]) == sorted(model.linear_names())
assert index["layers"]["blk.0.attn_v"]["xtx"] == "blk.0.attn_q.xtx.npy"
xtx, diag, count = calibration.load_layer(directory, "blk.0.ffn_down")
x = np.concatenate(inputs[("blk.0.ffn_down",)])
assert count == 26 and xtx.shape == (1536, 1536) and xtx.dtype == np.float64
assert np.allclose(xtx, x.T @ x) and np.allclose(diag, np.sum(x * x, axis=0))
print("forward: calibration passed")
