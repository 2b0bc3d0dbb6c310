"""Shared by the r2q.torch tests: seeded torch generators and tolerances."""

import torch
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
