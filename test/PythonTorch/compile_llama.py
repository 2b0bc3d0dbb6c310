# r2q.torch.compile through torch-mlir on Llama-shaped models equals their
# fake-quantized forward to 1e-4 relative: a Llama MLP block (gate, up, down,
# SiLU) with R2QLinear layers and perturbed learned scales, at the example
# batch and at other batches (dynamic batch); the same float block
# post-training quantized by the pass (equal to quantize_model's forward);
# and a tiny random-init Hugging Face LlamaForCausalLM built from a config
# (no download), quantized except lm_head, through its inputs_embeds
# (compile_gpt2.py: GPT-2).
# With check_bounds the block is compiled with runtime bounds checks and
# computes the same. The cuda target compiles the block for the GPU (and runs
# it where one can be used), with checks in the kernels too. Unknown targets
# and non-float32 inputs raise clear errors.
# RUN: %torch_python %s

import copy

import numpy as np
import torch
from torch.export import Dim

import r2q
import r2q.torch as r2qt
from export_torch_fixtures import LlamaMLP
from r2q_test_support import expect_error
from torch_test_support import (expect_language_model_matches, expect_match, fresh_torch_seed,
                                relative_error)

rng = fresh_torch_seed()
torch.set_num_threads(1)


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
checked = r2qt.compile(block, (torch.randn(4, 128),), check_bounds=True,
                       dynamic_shapes=({0: Dim("batch", min=1, max=64)},))
assert checked.pipeline.endswith(",r2q-cpu-pipeline{check-bounds=true}"), checked.pipeline
for batch in (1, 7):
    expect_match(checked, block, torch.randn(batch, 128))

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
compiled = expect_language_model_matches(llama, rng, 96)
kept = [m for _, _, m in compiled.function.diagnostics if "already an R2Q code, kept" in m]
assert len(kept) == 14, compiled.function.diagnostics

# The cuda target: the same block through r2q-gpu-pipeline (a dynamic batch
# on buckets of rows). On a GPU it matches the fake-quantized forward within
# the tensor-core kernel's f16 rounding (batch 20 runs on it); elsewhere a
# call raises the runtime's reason.
on_gpu = r2qt.compile(block, (torch.randn(4, 128),), target="cuda",
                      dynamic_shapes=({0: Dim("batch", min=1, max=64)},))
assert on_gpu.function.gpu and "r2q-gpu-pipeline" in on_gpu.pipeline
reason = r2q.gpu_unavailable_reason()
if reason is None:
    for batch in (1, 4, 20):
        expect_match(on_gpu, block, torch.randn(batch, 128), tolerance=5e-3)
    if torch.cuda.is_available():
        # A tensor on GPU 0 is read where it is; the result stays there.
        x = torch.randn(20, 128)
        with torch.no_grad():
            expected = block(x)
        actual = on_gpu(x.cuda())
        assert actual.is_cuda and actual.shape == expected.shape, actual.device
        assert relative_error(actual.cpu(), expected) < 5e-3
else:
    expect_error(RuntimeError, f"calling @main on the GPU failed: {reason}",
                 lambda: on_gpu(torch.randn(3, 128)))
checked_gpu = r2qt.compile(block, (torch.randn(4, 128),), target="cuda", check_bounds=True)
assert checked_gpu.function.gpu and " check-bounds=true}" in checked_gpu.pipeline, \
    checked_gpu.pipeline
if reason is None:
    expect_match(checked_gpu, block, torch.randn(4, 128), tolerance=5e-3)

# Errors.
expect_error(ValueError, "r2q.torch.compile: unknown target 'tpu'; the targets are 'cpu' and "
             "'cuda'", lambda: r2qt.compile(block, (torch.randn(2, 128),), target="tpu"))
expect_error(TypeError, "r2q.torch.compile: example input 0 must be a float32 torch.Tensor "
             "(r2q.compile takes f32 tensors), got torch.float64",
             lambda: r2qt.compile(block, (torch.randn(2, 128, dtype=torch.float64),)))
expect_error(TypeError, "argument 0 must be a torch.Tensor, got ndarray",
             lambda: compiled(np.zeros((2, 9, 128), np.float32)))
print("ok")
