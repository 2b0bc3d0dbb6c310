# r2q.torch.compile of a tiny random-init Hugging Face GPT-2 built from a
# config (no download): its Conv1D layers (K x N weights) become R2QLinear
# (all but lm_head), and the compiled logits equal the fake-quantized ones to
# 1e-4 relative.
# RUN: %torch_python %s

import torch
from transformers import GPT2Config, GPT2LMHeadModel

import r2q.torch as r2qt
from torch_test_support import expect_language_model_matches, fresh_torch_seed

rng = fresh_torch_seed()
torch.set_num_threads(1)

gpt2 = r2qt.quantize_model(GPT2LMHeadModel(GPT2Config(
    vocab_size=96, n_positions=32, n_embd=128, n_layer=2, n_head=4)).eval(),
    group_size=64, skip=["lm_head"])
assert sum(isinstance(m, r2qt.R2QLinear) for m in gpt2.modules()) == 8
expect_language_model_matches(gpt2, rng, 96)
print("ok")
