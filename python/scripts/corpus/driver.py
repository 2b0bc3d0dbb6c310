"""Generates a corpus of varied linalg-on-tensors MLIR modules and checks r2q-opt on it.

Usage:
  ir_corpus.py --count N --seed S --r2q-opt build/bin/r2q-opt --out DIR
               [--execute-fraction F] [--keep] [--jobs J]
               [--module-seed M --kind general|untouched|exec]

Each module is generated from its own seed (derived from --seed, written in
its first-line comment; --module-seed with --kind regenerates and checks just
that one). Three kinds: general modules, "untouched" modules whose options
leave every layer in float, and execution modules (--execute-fraction).

General modules hold 1-3 functions on f32, f16 or bf16 activations (rank 2
or 3, static or dynamic batch/sequence sizes; half-precision layers
accumulate in f32 and are truncated after, as Torch-MLIR emits them):

  * linear layers in every form r2q-quantize-linear matches:
    linalg.transpose + linalg.fill + linalg.matmul; linalg.matmul with
    indexing_maps reading N x K; contraction linalg.generic and
    linalg.contract (loops in any order, activation and result in any
    layout); linalg.batch_matmul of a linalg.broadcast weight, or with
    indexing_maps broadcasting a K x N weight; a half weight transposed and
    widened by an arith.extf generic before an f32 matmul; a K x N weight
    read directly; the weight as the left operand (y^T = W x^T, also as a
    generic); linalg.matvec / linalg.vecmat on one row; the weight through
    tensor.cast (some contractions read the dynamically typed weight) and
    unit reshapes; a non-zero accumulator (bias broadcast into the init,
    non-zero or -0.0 fills, init arguments, some typed more dynamically than
    the result); weight and activation of different float types;
  * weights as dense hex constants, literal lists, splats, dense_resource
    blobs, traced weights (traced.py: a constant, dense_resource blob or
    immutable ml_program.global, sliced along N or K out of a fused QKV /
    gate-up constant, collapsed from 3-D, scaled by w * c, w / c or
    w * s[n], int8 / int4-in-i8 codes dequantized by sitofp / uitofp with a
    zero point and a scale, f16 / bf16 widened by extf) and function
    arguments, marked r2q.weight, named in the weight-args option, or not
    marked (then not a weight: left in float with a remark); weights shared
    by two or three layers (also one square weight read as N x K and as
    K x N); layers in scf.for and scf.if; attention blocks;
  * non-linear ops (relu, silu, tanh-gelu, bias adds, scaling, residual
    adds, row max/sum reductions, softmax-like max subtraction, reshapes);
  * near-misses that must stay in float: contractions of two computed
    activations, x . x^T (also of the raw 2-D argument), attention scores
    q . k^T and scores . v, i32 matmuls, contractions reducing over two
    loops (linalg.generic, linalg.batch_reduce_matmul), weights computed
    from an activation, mutable ml_program globals, dynamic or 3-D argument
    weights; and layers the options skip: fewer weights than min-weights
    (remark), include/exclude, and with ragged-groups=false K not divisible
    by the group size (remark; by default such K is quantized with a
    shorter last group).

Checks per module (the generator knows which layers must be rewritten):
  1. r2q-opt parses it;
  2. r2q-opt --r2q-quantize-linear=<random options> --verify-each exits 0 (no
     signal), its output re-parses, holds one r2q.matmul per expected layer,
     every expected layer is gone and every other contraction is still there
     (each contraction carries a corpus.id attribute), exactly the
     expected "layer '<name>' left in float" remarks are on stderr, every
     contraction without weight has a "contraction left in float: " remark
     at its line and no other contraction has one, and no r2q.quantize
     reads a function argument (through any ops) that neither r2q.weight
     nor weight-args names; without include/exclude a second run of the
     pass changes nothing;
  3. a module without quantizable layer is printed unchanged by the pass;
  4. --r2q-quantize-linear ... --r2q-cpu-pipeline exits 0 (a refined
     quantization of an argument weight must instead fail with its error);
  5. execution modules run under mlir-runner: each quantized layer (one
     function per layer) is compared with the same layer on
     r2q.dequantize(r2q.quantize(W)) with the same scheme (folded by
     --canonicalize, excluded from quantization by its layer name
     "reference"), 1 when max|y - ref| <= 1e-5 * max(|ref(x)|, |ref(-x)|)
     on the f32 accumulator (ref(-x) makes the bound |bias| + |x W^T| even
     where the two cancel in ref(x)); they include traced weights (W computed by the generator
     exactly as the ops round), marked argument weights and ragged K;
  6. malformed or bad inputs (truncated text, wrong types, undefined values,
     bad hex, garbage, unknown ops, NaN/Inf weights, overflowing scales, a
     truncated resource blob, bad options) make r2q-opt exit with 1 and an
     error, never crash.

The corpus once found (and r2q now handles): expand_shape ops with two
dynamic sizes in one group, which crash MLIR 22's expand-strided-metadata
(llvm/llvm-project#186830; r2q-cpu-pipeline lowers them itself), activations
with a dynamic K, size-1 N or K weights through unit reshapes, refined
quantization of constants reaching the pipeline, math.erf and loops yielding
new tensors. It generates all of them.

Prints one line per failure (the module is kept in --out), category counts,
and the summary line
  corpus: N modules, N rewritten layers, N untouched layers, N executed, N failures
Exit code 1 on any failure. Python 3.11 standard library only.
"""

import argparse
import collections
import concurrent.futures
import os
import random
import time

from .checker import Checker
from .execution import gen_exec
from .general import gen_general
from .malformed import BAD_KINDS, gen_bad


def module_kind(rng, exec_fraction):
    if rng.random() < exec_fraction:
        return "exec"
    return "untouched" if rng.random() < 0.12 else "general"


def generate(seed, kind):
    if kind == "exec":
        return gen_exec(seed)
    return gen_general(seed, kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--r2q-opt", default="build/bin/r2q-opt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--execute-fraction", type=float, default=0.2)
    ap.add_argument("--keep", action="store_true", help="keep every module, not only failing ones")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=300, help="seconds per tool invocation")
    ap.add_argument("--mlir-runner", default="/usr/lib/llvm-22/bin/mlir-runner")
    ap.add_argument("--shared-lib-dir", default="/usr/lib/llvm-22/lib")
    ap.add_argument("--module-seed", type=int, help="generate and check only the module of this seed")
    ap.add_argument("--kind", choices=["general", "untouched", "exec"], help="kind for --module-seed")
    ap.add_argument("--bad-every", type=int, default=12, help="one bad input per this many modules")
    ap.add_argument("--cpu-pipeline-options", default="",
                    help="more r2q-cpu-pipeline options, e.g. \"strategy=tiled_decode threads=2\"")
    ap.add_argument("--gpu", action="store_true",
                    help="also lower every module through r2q-gpu-pipeline (PTX)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    checker = Checker(args)
    start = time.time()

    master = random.Random(args.seed)
    plan = []
    if args.module_seed is not None:
        plan.append((args.module_seed, args.kind or "general"))
    else:
        for _ in range(args.count):
            s = master.getrandbits(32)
            plan.append((s, module_kind(random.Random(s ^ 0x5EED), args.execute_fraction)))

    tags = collections.Counter()
    totals = collections.Counter()
    failures = []

    def work(i, seed, kind):
        try:
            g = generate(seed, kind)
        except Exception as e:  # a generator bug
            import traceback
            return i, seed, kind, None, [f"module {i} (--module-seed {seed} --kind {kind}): generator: "
                                         f"{type(e).__name__}: {e} | "
                                         + traceback.format_exc().splitlines()[-3].strip()], 0, []
        path = os.path.join(args.out, f"m{i:04d}_{seed}_{kind}.mlir")
        with open(path, "w") as fh:
            fh.write(g.text)
        fails, executed = checker.check_module(g)
        bad_results = []
        if args.module_seed is None and args.bad_every > 0 and i % args.bad_every == args.bad_every - 1 \
                and kind != "exec":
            bad = None
            try:
                # Kinds in rotation, falling back to ones any module allows.
                first = BAD_KINDS[(i // args.bad_every) % len(BAD_KINDS)]
                for attempt, bkind in enumerate([first, first, "truncate", "garbage"]):
                    bad = gen_bad(seed + attempt, g, bkind)
                    if bad is not None:
                        break
            except Exception as e:  # a generator bug
                bad_results.append(("generator", "-", [f"bad-input generator: {type(e).__name__}: {e}"]))
                bad = None
            if bad is not None:
                bkind, btext, bopts, bexpect = bad
                bpath = os.path.join(args.out, f"bad{i:04d}_{seed}_{bkind}.mlir")
                bf = checker.check_bad(bkind, btext, bopts, bexpect)
                if bf or args.keep:
                    with open(bpath, "w") as fh:
                        fh.write(f"// r2q-opt options: --r2q-quantize-linear=\"{bopts}\"\n" + btext)
                bad_results.append((bkind, bpath, bf))
        if not fails and not args.keep:
            os.remove(path)
        return i, seed, kind, g, [f"{path}: {f}" for f in fails], executed, bad_results

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = [pool.submit(work, i, s, k) for i, (s, k) in enumerate(plan)]
        for fut in concurrent.futures.as_completed(futs):
            i, seed, kind, g, fails, executed, bad_results = fut.result()
            totals["modules"] += 1
            totals[f"kind:{kind}"] += 1
            totals["executed"] += executed
            if g is not None:
                tags.update(g.mod.tags)
                for c in g.mod.contractions:
                    if c.kind == "reference":
                        continue
                    if c.expect == "rewrite":
                        totals["rewritten"] += 1
                    else:
                        totals["untouched"] += 1
                        tags[f"expect:{c.expect}" if c.kind == "layer" else f"untouched:{c.kind}"] += 1
                if executed:
                    totals["executed_layers"] += g.exec_layers
                for key in ("group", "planes", "method", "scale"):
                    tags[f"opt:{key}={getattr(g.options, key)}"] += 1
                if g.options.minw:
                    tags["opt:min-weights"] += 1
                if g.options.include:
                    tags["opt:include"] += 1
                if g.options.exclude and kind != "exec":
                    tags["opt:exclude"] += 1
            for bkind, bpath, bf in bad_results:
                totals["bad"] += 1
                tags[f"bad:{bkind}"] += 1
                for x in bf:
                    fails.append(f"{bpath}: {x}")
            for line in fails:
                print("FAIL " + line, flush=True)
            failures += fails

    elapsed = time.time() - start
    groups = collections.defaultdict(list)
    for key, val in sorted(tags.items()):
        cat, _, name = key.partition(":")
        groups[cat].append(f"{name}={val}")
    for cat in sorted(groups):
        print(f"  {cat}: " + ", ".join(groups[cat]))
    print(f"  kinds: " + ", ".join(f"{k.split(':')[1]}={v}" for k, v in sorted(totals.items()) if k.startswith("kind:"))
          + f"; executed layers={totals['executed_layers']}; bad inputs={totals['bad']}; {elapsed:.1f} s")
    print(f"corpus: {totals['modules']} modules, {totals['rewritten']} rewritten layers, "
          f"{totals['untouched']} untouched layers, {totals['executed']} executed, {len(failures)} failures")
    return 1 if failures else 0

