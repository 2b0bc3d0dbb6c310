"""Named weight quantizers for the CLI: a spec is ``float`` or
``NAME:BITS:G[:KEY=VALUE...]`` (``r2q_methods`` lists the options; G is
``pc`` for per-channel groups, r2q methods only).

A factory takes (bits, group) and returns a callable ``quantize(name, W) ->
W_hat`` with ``label`` and ``bits_per_weight()`` (and, optionally, ``layers``:
name -> (weights, storage bits, relative error)). New methods (R2Q through the
``r2q`` module, outliers, calibration) register here with ``register``.
"""

from __future__ import annotations

from . import r2q_methods, rtn


def rtn_factory(scheme: str):
    def make(bits, group, outliers=0.0, **context):
        if outliers:
            return r2q_methods.RtnWithOutliers(bits, group, scheme, outliers)
        return rtn.RtnQuantizer(bits, group, scheme)
    return make


def r2q_factory(method: str):
    def make(planes, group, outliers=0.0, calib=None, calibration_dir=None, schemes=None):
        return r2q_methods.R2QQuantizer(planes, group, method, outliers, calib,
                                        calibration_dir, schemes)
    return make


FACTORIES = {
    "rtn-minmax": rtn_factory("minmax"),
    "rtn-absmax": rtn_factory("absmax"),
    "r2q-greedy": r2q_factory("greedy"),
    "r2q-refined": r2q_factory("refined"),
}

OPTIONS = {"outliers": float, "calib": str, "schemes": str}
# G = "pc" in a spec: one group per row (group size K of each layer).
PER_CHANNEL = 0


def register(name: str, factory):
    FACTORIES[name] = factory


def parse(spec: str, calibration_dir: str | None = None):
    """None for "float", else the quantizer the spec names."""
    if spec == "float":
        return None
    parts = spec.split(":")
    if len(parts) < 3 or parts[0] not in FACTORIES:
        raise ValueError(
            f"bad method '{spec}': expected 'float' or NAME:BITS:G[:KEY=VALUE...] "
            f"with NAME in {sorted(FACTORIES)} (e.g. rtn-minmax:2:128, "
            f"r2q-greedy:3:128:outliers=0.005:calib=gram)"
        )
    options = {}
    for part in parts[3:]:
        key, _, value = part.partition("=")
        if key not in OPTIONS or not value:
            raise ValueError(f"bad option '{part}' in '{spec}': expected one of "
                             f"{sorted(OPTIONS)} as KEY=VALUE")
        options[key] = OPTIONS[key](value)
    if "schemes" in options and not parts[0].startswith("r2q-"):
        raise ValueError(f"schemes applies to r2q methods only, not '{parts[0]}'")
    if "calib" in options:
        if not parts[0].startswith("r2q-"):
            raise ValueError(f"calib applies to r2q methods only, not '{parts[0]}'")
        options["calibration_dir"] = calibration_dir
    if parts[2] == "pc" and not parts[0].startswith("r2q-"):
        raise ValueError(f"per-channel groups (G=pc) apply to r2q methods only, not '{parts[0]}'")
    group = PER_CHANNEL if parts[2] == "pc" else int(parts[2])
    return FACTORIES[parts[0]](int(parts[1]), group, **options)
