# r2q-quantize-linear{calibration=DIR} reads the statistics the eval harness
# writes (index.json + float64 .npy of X^T X and its diagonal per layer) and
# folds exactly what r2q.quantize(gram=...) / (diagonal=...) computes; a layer
# the file does not name gets a warning, statistics of another size are an
# error at the layer, a missing file an error of the pass.
# RUN: %python %s

import json
import os
import re
import tempfile

import numpy as np
import r2q
from r2q_test_support import fresh_rng, linear_layer_ir

rng = fresh_rng()
m, n, k, group = 2, 12, 64, 32
tokens = 256
x = (rng.standard_normal((tokens, 4)) @ rng.standard_normal((4, k))
     + 0.3 * rng.standard_normal((tokens, k))) * np.exp(rng.standard_normal(k))
gram = x.T @ x
w = (0.05 * rng.standard_normal((n, k))).astype(np.float32)
ir = linear_layer_ir(w, m).replace("linalg.matmul ins", 'linalg.matmul {r2q.layer = "blk.0.attn_q"} ins')

directory = tempfile.mkdtemp()
np.save(os.path.join(directory, "q.xtx.npy"), gram)
np.save(os.path.join(directory, "q.diag.npy"), np.diag(gram).copy())
with open(os.path.join(directory, "index.json"), "w") as f:
    json.dump({"layers": {"blk.0.attn_q": {"xtx": "q.xtx.npy", "diag": "q.diag.npy",
                                           "K": k, "tokens": tokens}}}, f)


def folded(pipeline):
    """The signs bytes and f16 scales r2q-quantize-linear folded."""
    out = r2q.run_pipeline(ir, pipeline)
    matmul = re.search(r"r2q\.matmul %arg0, (%\w+), (%\w+) group_size", out)
    signs = re.search(rf"{re.escape(matmul.group(1))} = arith.constant dense<\"0x([0-9A-F]+)\">", out)
    scales = re.search(rf"{re.escape(matmul.group(2))} = arith.constant dense<(.*)> : tensor<2x{n}x2xf16>", out)
    return (bytes.fromhex(signs.group(1)),
            np.array(json.loads(scales.group(1)), dtype=np.float16).astype(np.float32))


for mode, statistics in (("gram", {"gram": gram}), ("diagonal", {"diagonal": np.diag(gram)})):
    expected = r2q.quantize(w, group_size=group, **statistics)
    plain = r2q.quantize(w, group_size=group)
    for path in (directory, os.path.join(directory, "index.json")):
        signs, scales = folded(f"r2q-quantize-linear{{group-size={group} calibration={path} "
                               f"calibration-mode={mode}}}")
        assert signs == expected.signs.tobytes(), mode
        assert np.array_equal(scales, expected.scales), mode
    # Calibration changed the code (else this test would prove nothing).
    assert (signs != plain.signs.tobytes()) or not np.array_equal(scales, plain.scales), mode

# A layer the file does not name: a warning, quantized without statistics.
other = ir.replace('"blk.0.attn_q"', '"blk.1.attn_q"')
_, diagnostics = r2q.run_pipeline(other, f"r2q-quantize-linear{{calibration={directory}}}",
                                  return_diagnostics=True)
assert ("warning", "<input>:9:8",
        f"layer 'blk.1.attn_q': no calibration statistics in '{directory}/index.json'; "
        "quantized without") in diagnostics, diagnostics

# Statistics for another K: an error at the layer.
with open(os.path.join(directory, "index.json"), "w") as f:
    json.dump({"layers": {"blk.0.attn_q": {"xtx": "q.xtx.npy", "diag": "q.diag.npy", "K": 32}}}, f)
try:
    r2q.run_pipeline(ir, f"r2q-quantize-linear{{calibration={directory}}}")
    raise AssertionError("expected r2q.CompileError")
except r2q.CompileError as error:
    assert ("error", "<input>:9:8",
            "layer 'blk.0.attn_q': calibration statistics of layer 'blk.0.attn_q' are for 32 "
            "input features, the layer has 64") in error.diagnostics, error.diagnostics

# No such file: the pass does not start.
try:
    r2q.run_pipeline(ir, "r2q-quantize-linear{calibration=/nonexistent/dir}")
    raise AssertionError("expected an error")
except (r2q.CompileError, ValueError) as error:
    assert "cannot read calibration index '/nonexistent/dir'" in str(error), str(error)
