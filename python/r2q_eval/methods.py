"""Named weight quantizers for the CLI: a spec is ``NAME`` or ``NAME:BITS:G``.

A factory takes (bits, group) and returns a callable ``quantize(name, W) ->
W_hat`` with ``label`` and ``bits_per_weight()`` (and, optionally, ``layers``:
name -> (weights, storage bits, relative error)). New methods (R2Q through the
``r2q`` module, outliers, calibration) register here with ``register``.
"""

from __future__ import annotations

from . import rtn

FACTORIES = {
    "rtn-minmax": lambda bits, group: rtn.RtnQuantizer(bits, group, "minmax"),
    "rtn-absmax": lambda bits, group: rtn.RtnQuantizer(bits, group, "absmax"),
}


def register(name: str, factory):
    FACTORIES[name] = factory


def parse(spec: str):
    """None for "float", else the quantizer the spec names."""
    if spec == "float":
        return None
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] not in FACTORIES:
        raise ValueError(
            f"bad method '{spec}': expected 'float' or NAME:BITS:G with NAME in "
            f"{sorted(FACTORIES)} (e.g. rtn-minmax:2:128)"
        )
    return FACTORIES[parts[0]](int(parts[1]), int(parts[2]))
