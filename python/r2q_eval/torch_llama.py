"""The numpy Llama of ``r2q_eval.llama`` as a torch module, for training.

Same weights (the dequantized GGUF), same computation: embeddings, pre-norm
blocks (RMSNorm, grouped-query causal attention with llama.cpp's
adjacent-pair rope on the GGUF's permuted q/k rows, SiLU-gated MLP), a final
RMSNorm and the lm_head tied to the embeddings. The 7 linear layers of every
block are ``nn.Linear`` modules (no bias) named ``linears.<GGUF name with _>``
(``linears.blk_0_attn_q``), so ``r2q.torch.quantize_model`` and the QAT layers
of ``r2q_eval.qat`` replace them; embeddings and norms are frozen buffers.
``test/Eval/qat.py`` checks the logits against the numpy model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import llama


def module_key(name: str) -> str:
    """The ModuleDict key of GGUF layer `name` (no dots allowed there)."""
    return name.replace(".", "_")


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x / torch.sqrt(x.square().mean(dim=-1, keepdim=True) + eps) * weight


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates adjacent pairs of the last axis of x (B, T, heads, D), as
    llama.apply_rope does."""
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2)


class TorchLlama(nn.Module):
    def __init__(self, model: llama.Llama):
        super().__init__()
        self.config, self.layers = model.config, model.layers
        self.names = model.linear_names()
        self.register_buffer("embedding", torch.from_numpy(np.array(model.embedding)))
        for key, value in model.weights.items():
            if key.endswith("norm.weight"):
                self.register_buffer(module_key(key), torch.from_numpy(np.array(value)))
        self.linears = nn.ModuleDict()
        for name in self.names:
            weight = model.linear[name]
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
            layer.weight = nn.Parameter(torch.from_numpy(np.array(weight, dtype=np.float32)))
            self.linears[module_key(name)] = layer

    def linear(self, name: str) -> nn.Module:
        return self.linears[module_key(name)]

    def norm(self, name: str) -> torch.Tensor:
        return getattr(self, module_key(name + ".weight"))

    def linear_weights(self) -> dict[str, np.ndarray]:
        """The current float linear weights, by GGUF name (N x K float32)."""
        return {name: self.linear(name).weight.detach().numpy().copy() for name in self.names}

    def attention(self, i: int, x, cos, sin):
        c = self.config
        batch, tokens, _ = x.shape
        h = rms_norm(x, self.norm(f"blk.{i}.attn_norm"), c.rms_eps)
        q = self.linear(f"blk.{i}.attn_q")(h).view(batch, tokens, c.heads, c.head_dim)
        k = self.linear(f"blk.{i}.attn_k")(h).view(batch, tokens, c.kv_heads, c.head_dim)
        v = self.linear(f"blk.{i}.attn_v")(h).view(batch, tokens, c.kv_heads, c.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        group = c.heads // c.kv_heads
        k, v = (t.repeat_interleave(group, dim=2) for t in (k, v))
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                             v.transpose(1, 2), is_causal=True)
        out = out.transpose(1, 2).reshape(batch, tokens, c.heads * c.head_dim)
        return self.linear(f"blk.{i}.attn_output")(out)

    def mlp(self, i: int, x):
        h = rms_norm(x, self.norm(f"blk.{i}.ffn_norm"), self.config.rms_eps)
        gate = self.linear(f"blk.{i}.ffn_gate")(h)
        up = self.linear(f"blk.{i}.ffn_up")(h)
        return self.linear(f"blk.{i}.ffn_down")(F.silu(gate) * up)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) for tokens (B, T)."""
        c = self.config
        cos, sin = (torch.from_numpy(t).to(tokens.device)
                    for t in llama.rope_tables(tokens.shape[1], c.head_dim, c.rope_theta))
        x = self.embedding[tokens]
        for i in range(self.layers):
            x = x + self.attention(i, x, cos, sin)
            x = x + self.mlp(i, x)
        return rms_norm(x, self.norm("output_norm"), c.rms_eps) @ self.embedding.T


def window_nll(model: nn.Module, windows: torch.Tensor) -> float:
    """Sum of -log p(token[t+1] | tokens[..t]) over windows (B, T), as
    perplexity.window_nll sums it (float64)."""
    logits = model(windows[:, :-1])
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1),
                          reduction="none")
    return float(nll.double().sum())
