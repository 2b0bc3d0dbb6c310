#!/usr/bin/env python3
"""Writes an MLIR module that checks a compiled R2Q linear layer on fresh data.

Usage: linear_vs_reference.py M N K GROUP_SIZE

@main runs, on the same random input x and weight W:
  @layer_constant  x * W^T with W a constant (folded to 2-bit by
                   r2q-quantize-linear),
  @layer_runtime   x * W^T with W an argument marked r2q.weight (quantized when it runs),
  @reference       x * dequant(quantize(W))^T, where dequantize(quantize(W))
                   is folded by --canonicalize through the numerics core and
                   the product stays a float matmul (excluded from
                   r2q-quantize-linear by its layer name),
and prints [ok_constant, ok_runtime]: 1 where max|y - ref| <= 1e-5 * max|ref|.
The random seed is written into the module's first line.
"""

import random
import struct
import sys


def hex_literal(values):
    return '"0x' + "".join(struct.pack("<f", v).hex().upper() for v in values) + '"'


def main(m, n, k, group):
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    weight = [rng.gauss(0, 0.05) for _ in range(n * k)]
    x = [rng.gauss(0, 1) for _ in range(m * k)]
    w_attr = f"dense<{hex_literal(weight)}> : tensor<{n}x{k}xf32>"
    x_attr = f"dense<{hex_literal(x)}> : tensor<{m}x{k}xf32>"
    transpose = """
  %e = tensor.empty() : tensor<{k}x{n}xf32>
  %wt = linalg.transpose ins(%w : tensor<{n}x{k}xf32>) outs(%e : tensor<{k}x{n}xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<{m}x{n}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>""".format(m=m, n=n, k=k)
    matmul = (
        "linalg.matmul {attrs}ins(%x, %wt : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>) "
        "outs(%acc : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>"
    )
    print(f"// seed {seed}: M={m} N={n} K={k} G={group}")
    print(f"""
func.func @layer_constant(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32> {{
  %w = arith.constant {w_attr}{transpose}
  %y = {matmul.format(attrs="", m=m, n=n, k=k)}
  return %y : tensor<{m}x{n}xf32>
}}

func.func @layer_runtime(%x: tensor<{m}x{k}xf32>, %w: tensor<{n}x{k}xf32> {{r2q.weight}}) -> tensor<{m}x{n}xf32> {{{transpose}
  %y = {matmul.format(attrs="", m=m, n=n, k=k)}
  return %y : tensor<{m}x{n}xf32>
}}

func.func @reference(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32> {{
  %w0 = arith.constant {w_attr}
  %s, %a = r2q.quantize %w0 scheme <group_size = {group}> : tensor<{n}x{k}xf32>
  %w = r2q.dequantize %s, %a group_size {group} : tensor<2x{n}x{k // 8}xi8>, tensor<2x{n}x{k // group}xf16> -> tensor<{n}x{k}xf32>{transpose}
  %y = {matmul.format(attrs='{r2q.layer = "reference"} ', m=m, n=n, k=k)}
  return %y : tensor<{m}x{n}xf32>
}}

// 1 if max|y - r| <= 1e-5 * max|r|.
func.func @close(%y: tensor<{m}x{n}xf32>, %r: tensor<{m}x{n}xf32>) -> i32 {{
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<f32>
  %e1 = tensor.empty() : tensor<f32>
  %err0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %mag0 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<f32>) -> tensor<f32>
  %err, %mag = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>, affine_map<(i, j) -> ()>],
                               iterator_types = ["reduction", "reduction"]}}
      ins(%y, %r : tensor<{m}x{n}xf32>, tensor<{m}x{n}xf32>) outs(%err0, %mag0 : tensor<f32>, tensor<f32>) {{
  ^bb0(%a: f32, %b: f32, %e: f32, %g: f32):
    %d = arith.subf %a, %b : f32
    %ad = math.absf %d : f32
    %ab = math.absf %b : f32
    %e2 = arith.maximumf %e, %ad : f32
    %g2 = arith.maximumf %g, %ab : f32
    linalg.yield %e2, %g2 : f32, f32
  }} -> (tensor<f32>, tensor<f32>)
  %ev = tensor.extract %err[] : tensor<f32>
  %gv = tensor.extract %mag[] : tensor<f32>
  %tol = arith.constant 1.0e-5 : f32
  %bound = arith.mulf %gv, %tol : f32
  %ok = arith.cmpf ole, %ev, %bound : f32
  %oki = arith.extui %ok : i1 to i32
  return %oki : i32
}}

func.func @main() {{
  %x = arith.constant {x_attr}
  %w = arith.constant {w_attr}
  %r = call @reference(%x) : (tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32>
  %y0 = call @layer_constant(%x) : (tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32>
  %y1 = call @layer_runtime(%x, %w) : (tensor<{m}x{k}xf32>, tensor<{n}x{k}xf32>) -> tensor<{m}x{n}xf32>
  %ok0 = call @close(%y0, %r) : (tensor<{m}x{n}xf32>, tensor<{m}x{n}xf32>) -> i32
  %ok1 = call @close(%y1, %r) : (tensor<{m}x{n}xf32>, tensor<{m}x{n}xf32>) -> i32
  %flags = tensor.from_elements %ok0, %ok1 : tensor<2xi32>
  %u = tensor.cast %flags : tensor<2xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}}

func.func private @printMemrefI32(tensor<*xi32>)
""")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))
