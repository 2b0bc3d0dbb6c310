# r2q.torch.compile through torch-mlir on Llama-shaped models equals their
# fake-quantized forward to 1e-4 relative: a Llama MLP block (gate, up, down,
# SiLU) with R2QLinear layers and perturbed learned scales, at the example
# batch and at other batches (dynamic batch); the same float block
# post-training quantized by the pass (equal to quantize_model's forward);
# and a tiny random-init Hugging Face LlamaForCausalLM built from a config
# (no download), quantized except lm_head, through its inputs_embeds, and a
# tiny GPT-2 the same way (its Conv1D layers).
# Unknown targets and non-float32 inputs raise clear errors.
# RUN: %torch_python %s

import copy

import numpy as np
import torch
import torch.nn as nn
from torch.export import Dim

import r2q.torch as r2qt
from export_torch_fixtures import LlamaMLP
from r2q_test_support import expect_error
from torch_test_support import fresh_torch_seed, relative_error

rng = fresh_torch_seed()
torch.set_num_threads(1)


def expect_match(compiled, model, x):
    with torch.no_grad():
        expected = model(x)
    actual = compiled(x)
    assert actual.shape == expected.shape and actual.dtype == torch.float32
    error = relative_error(actual, expected)
    assert error < 1e-4, error


# A block trained with learned scales (perturbed here), dynamic batch.
block = r2qt.quantize_model(LlamaMLP(intermediate=320), group_size=64, learn_scales=True)
with torch.no_grad():
    for layer in (block.gate_proj, block.up_proj, block.down_proj):
        layer.scales.mul_(torch.from_numpy(
            rng.uniform(0.8, 1.2, layer.scales.shape).astype(np.float32)))
compiled = r2qt.compile(block, (torch.randn(4, 128),),
                        dynamic_shapes=({0: Dim("batch", min=1, max=64)},))
for batch in (1, 4, 7):
    expect_match(compiled, block, torch.randn(batch, 128))
assert compiled.function.constant_bytes < 128 * 320 * 3  # packed, not float32

# Post-training quantization of the float block by the pass equals
# quantize_model's fake-quantized forward (the pass and R2QLinear share the
# core's code).
float_block = LlamaMLP(intermediate=320)
compiled = r2qt.compile(float_block, (torch.randn(5, 128),), group_size=64)
expect_match(compiled, r2qt.quantize_model(copy.deepcopy(float_block), group_size=64),
             torch.randn(5, 128))

# A tiny Hugging Face Llama built from a config.
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

config = LlamaConfig(vocab_size=96, hidden_size=128, intermediate_size=256,
                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     max_position_embeddings=64)
llama = r2qt.quantize_model(LlamaForCausalLM(config).eval(), group_size=64,
                            skip=["lm_head"])
assert sum(isinstance(m, r2qt.R2QLinear) for m in llama.modules()) == 14


class Logits(nn.Module):
    """Logits from input embeddings (r2q.compile takes float32 tensors), with
    an all-ones attention mask (without one transformers emits a cumsum that
    upstream MLIR cannot parse)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, embeds):
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        return self.model(inputs_embeds=embeds, attention_mask=mask, use_cache=False).logits


wrapped = Logits(llama)
tokens = torch.from_numpy(rng.integers(0, 96, (2, 9)))
embeds = llama.get_input_embeddings()(tokens).detach()
compiled = r2qt.compile(wrapped, (embeds,))
expect_match(compiled, wrapped, embeds)
kept = [m for _, _, m in compiled.function.diagnostics if "already an R2Q code, kept" in m]
assert len(kept) == 14, compiled.function.diagnostics

# A tiny GPT-2: its Conv1D layers (K x N weights) become R2QLinear.
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

gpt2 = r2qt.quantize_model(GPT2LMHeadModel(GPT2Config(
    vocab_size=96, n_positions=32, n_embd=128, n_layer=2, n_head=4)).eval(),
    group_size=64, skip=["lm_head"])
assert sum(isinstance(m, r2qt.R2QLinear) for m in gpt2.modules()) == 8
wrapped = Logits(gpt2)
embeds = gpt2.get_input_embeddings()(tokens).detach()
compiled = r2qt.compile(wrapped, (embeds,))
expect_match(compiled, wrapped, embeds)

# Errors.
expect_error(ValueError, "r2q.torch.compile: unknown target 'cuda'; the only target is 'cpu'",
             lambda: r2qt.compile(block, (torch.randn(2, 128),), target="cuda"))
expect_error(TypeError, "r2q.torch.compile: example input 0 must be a float32 torch.Tensor "
             "(r2q.compile takes f32 tensors), got torch.float64",
             lambda: r2qt.compile(block, (torch.randn(2, 128, dtype=torch.float64),)))
expect_error(TypeError, "argument 0 must be a torch.Tensor, got ndarray",
             lambda: compiled(np.zeros((2, 9, 128), np.float32)))
print("ok")
