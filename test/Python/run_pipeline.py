# r2q.run_pipeline: a linear layer with a constant weight becomes r2q.matmul
# holding exactly r2q.quantize's signs and scales; remarks of a successful run
# are returned; malformed IR, IR that does not verify and failing passes raise
# r2q.CompileError with every diagnostic and its location; a pipeline that does
# not parse raises ValueError.
# RUN: %python %s

import json
import re

import numpy as np
import r2q
from r2q_test_support import fresh_rng, linear_layer_ir

rng = fresh_rng()


def expect_compile_error(call, summary, *diagnostics):
    try:
        call()
    except r2q.CompileError as error:
        assert str(error).startswith(summary), str(error)
        for expected in diagnostics:
            assert expected in error.diagnostics, (expected, error.diagnostics)
            severity, location, message = expected
            assert f"{location}: {severity}: {message}" in str(error), str(error)
        return error
    raise AssertionError("expected r2q.CompileError")


def hex_bytes(literal):
    return bytes.fromhex(re.search(r'"0x([0-9A-F]+)"', literal).group(1))


# Both pipeline forms; the weight lands in the IR as r2q.quantize packs it.
m, n, k, group = 3, 10, 192, 64
w = rng.standard_normal((n, k), dtype=np.float32)
ir = linear_layer_ir(w, m)
q = r2q.quantize(w, group_size=group)
for pipeline in (f"r2q-quantize-linear{{group-size={group}}}",
                 f"builtin.module(r2q-quantize-linear{{group-size={group}}})"):
    out = r2q.run_pipeline(ir, pipeline)
    assert isinstance(out, str)
    assert "linalg.matmul" not in out, out
    matmul = re.search(r"r2q\.matmul %arg0, (%\w+), (%\w+) group_size (\d+) : "
                       r"tensor<3x192xf32>, tensor<2x10x24xi8>, tensor<2x10x3xf16> -> tensor<3x10xf32>", out)
    assert matmul and int(matmul.group(3)) == group, out
    signs_line = re.search(rf"{re.escape(matmul.group(1))} = arith.constant (dense<\"0x[0-9A-F]+\">)", out)
    assert hex_bytes(signs_line.group(1)) == q.signs.tobytes()
    scales_line = re.search(rf"{re.escape(matmul.group(2))} = arith.constant dense<(.*)> : tensor<2x10x3xf16>", out)
    scales = np.array(json.loads(scales_line.group(1)), dtype=np.float16).astype(np.float32)
    assert np.array_equal(scales, q.scales)
# The output is valid IR: it parses again and an empty pipeline keeps it.
assert r2q.run_pipeline(out, "") == out

# Remarks of a successful run come back with return_diagnostics.
activation_product = """
func.func @act(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>) -> tensor<4x4xf32> {
  %z = tensor.empty() : tensor<4x4xf32>
  %y = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x4xf32>) outs(%z : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}"""
out, diagnostics = r2q.run_pipeline(activation_product, "r2q-quantize-linear",
                                    return_diagnostics=True, source_name="act.mlir")
assert "linalg.matmul" in out and "r2q.matmul" not in out
severity, location, message = diagnostics[0]
assert (severity, location) == ("remark", "act.mlir:4:8"), diagnostics
assert message.startswith("contraction left in float: no operand is a weight"), message

# stats=true reports each layer as a remark: the same bits per weight and
# relative error ||W - W_hat|| / ||W|| as r2q.quantize gives here.
_, diagnostics = r2q.run_pipeline(ir, f"r2q-quantize-linear{{group-size={group} stats=true}}",
                                  return_diagnostics=True)
remarks = [d for d in diagnostics if d[0] == "remark"]
assert len(remarks) == 1 and remarks[0][1] == "<input>:9:8", diagnostics
relative = np.linalg.norm((w - r2q.dequantize(q)).astype(np.float64)) / np.linalg.norm(w.astype(np.float64))
stats = re.fullmatch(r"layer '(.*)': 10x192 weight, group size 64, 2 planes, ([\d.]+) bits per weight, "
                     r"relative error ([\d.]+)", remarks[0][2])
assert stats, remarks
assert float(stats.group(2)) == round(q.bits_per_weight, 3)
assert abs(float(stats.group(3)) - relative) <= 5.001e-5, (stats.group(3), relative)

# Malformed IR: the parser's message at its line and column.
expect_compile_error(lambda: r2q.run_pipeline("func.func @f() {\n  %x = arith.addf\n}", "canonicalize",
                                              source_name="bad.mlir"),
                     "the IR does not parse", ("error", "bad.mlir:2:18", "expected SSA operand"))
# IR that parses but does not verify.
mismatch = "func.func @f(%a: tensor<4xf32>) -> tensor<4xi32> {\n  return %a : tensor<4xf32>\n}"
error = expect_compile_error(
    lambda: r2q.run_pipeline(mismatch, "canonicalize"), "the IR does not parse",
    ("error", "<input>:2:3", "type of return operand 0 ('tensor<4xf32>') doesn't match function "
     "result type ('tensor<4xi32>') in function @f"))
assert all(len(d) == 3 for d in error.diagnostics) and isinstance(error, Exception)
# A pass that fails.
expect_compile_error(lambda: r2q.run_pipeline(ir, "r2q-quantize-linear{planes=9}"),
                     "the pass pipeline 'r2q-quantize-linear{planes=9}' failed",
                     ("error", "unknown", "r2q-quantize-linear: number of planes must be between 1 and 4, got 9"))

for pipeline, why in (("r2q-nonsense", "'r2q-nonsense' does not refer to a registered pass or pass pipeline"),
                      ("builtin.module(canonicalize", "encountered unbalanced parentheses")):
    try:
        r2q.run_pipeline(ir, pipeline)
    except ValueError as error:
        assert str(error).startswith(f"invalid pass pipeline '{pipeline}': ") and why in str(error), str(error)
    else:
        raise AssertionError(pipeline)
print("ok")

# r2q-cpu-pipeline{tune=...} (docs/tuning.md) from Python: tune=model writes
# the cost model's kernel before the selection; a tuning file that cannot be
# read raises CompileError naming it.
tuned = r2q.run_pipeline(
    ir, f"r2q-quantize-linear{{group-size={group}}},r2q-tune-tiling{{mode=model threads=1}}")
assert re.search(r"r2q\.matmul .* \{kernel = #r2q\.kernel<strategy = \w+", tuned), tuned
assert "llvm.func @" in r2q.run_pipeline(
    ir, f"r2q-quantize-linear{{group-size={group}}},r2q-cpu-pipeline{{tune=model threads=1}}")
try:
    r2q.run_pipeline(ir, "r2q-quantize-linear,r2q-cpu-pipeline{tune=file:/nonexistent/tuning.json}")
    raise AssertionError("expected r2q.CompileError")
except r2q.CompileError as error:
    assert "tuning file '/nonexistent/tuning.json': cannot be read" in str(error), str(error)
