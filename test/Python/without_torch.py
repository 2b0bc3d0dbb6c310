# `import r2q` neither needs nor imports torch; r2q.torch is imported on first
# use (here, with Debian's python, torch is not installed: a clear
# ModuleNotFoundError naming torch). Other missing attributes stay
# AttributeErrors.
# RUN: %python %s

import importlib.util
import sys

import r2q

assert "torch" not in sys.modules and "r2q.torch" not in sys.modules
assert callable(r2q.quantize)
try:
    r2q.nope
except AttributeError as error:
    assert str(error) == "module 'r2q' has no attribute 'nope'", error
else:
    raise AssertionError("r2q.nope must raise AttributeError")
if importlib.util.find_spec("torch") is None:
    try:
        r2q.torch
    except ModuleNotFoundError as error:
        assert error.name == "torch", error
    else:
        raise AssertionError("r2q.torch without torch must raise ModuleNotFoundError")
print("ok")
