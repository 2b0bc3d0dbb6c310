"""Shared by the r2q.torch tests: seeded torch generators, the 1e-4 relative
comparison with the fake-quantized model, language models on embeddings."""

import torch
import torch.nn as nn

import r2q.torch as r2qt
from r2q_test_support import fresh_rng


def fresh_torch_seed():
    """Seeds torch from a fresh seed (printed; R2Q_TEST_SEED replays) and
    returns the numpy generator of the same seed."""
    rng = fresh_rng()
    torch.manual_seed(int(rng.integers(2**63)))
    return rng


def relative_error(actual, expected):
    """max |actual - expected| / max |expected|."""
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def expect_match(compiled, model, x, tolerance=1e-4):
    """Asserts that compiled(x) is model(x) within `tolerance` relative."""
    with torch.no_grad():
        expected = model(x)
    actual = compiled(x)
    assert actual.shape == expected.shape and actual.dtype == torch.float32
    error = relative_error(actual, expected)
    assert error < tolerance, error


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


def expect_language_model_matches(model, rng, vocab_size):
    """Compiles `model` (a Hugging Face causal LM) on the embeddings of 2 x 9
    random tokens and checks its logits; returns the CompiledModel."""
    wrapped = Logits(model)
    tokens = torch.from_numpy(rng.integers(0, vocab_size, (2, 9)))
    embeds = model.get_input_embeddings()(tokens).detach()
    compiled = r2qt.compile(wrapped, (embeds,))
    expect_match(compiled, wrapped, embeds)
    return compiled
