"""Command line: python -m r2q_eval {info,ppl,generate,calibrate,llamacpp,tune,table,qat,qat-plot} [options].

Run with build-eval/venv/bin/python (scripts/install-eval-deps.sh) and
PYTHONPATH=python. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import os


def requested_threads(argv: list[str]) -> str:
    """The value of --threads (N or =N) in argv, "1" when absent."""
    for index, arg in enumerate(argv):
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
        if arg == "--threads" and index + 1 < len(argv):
            return argv[index + 1]
    return "1"


# BLAS reads its thread count when numpy is first imported, so --threads is
# looked up before the imports below. One thread by default: on a shared
# 2-core machine a second OpenBLAS thread mostly waits (a 256-token forward
# was 6x slower). OPENBLAS_NUM_THREADS, when set, wins.
if __name__ == "__main__" and "OPENBLAS_NUM_THREADS" not in os.environ:
    import sys as _sys

    os.environ["OPENBLAS_NUM_THREADS"] = requested_threads(_sys.argv[1:])

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from . import calibration, compiled, corpus, gguf_model, llama, methods, perplexity, tokenizer


def log(message: str):
    print(message, file=sys.stderr, flush=True)


def load(args):
    start = time.time()
    reader = gguf_model.open_reader()
    config = gguf_model.read_config(reader)
    tok = tokenizer.TextTokenizer(reader)
    model = llama.Llama(config, gguf_model.load_weights(reader, args.layers), args.layers)
    log(f"loaded {gguf_model.find_gguf_path()} in {time.time() - start:.1f} s: {config}")
    return model, tok


def load_corpus(tok):
    start = time.time()
    text = corpus.Corpus(tok)
    log(
        f"corpus: {len(text.windows)} windows of {corpus.WINDOW} tokens "
        f"({len(text.eval_pool)} evaluation, {len(text.train_pool)} training) "
        f"in {time.time() - start:.1f} s"
    )
    return text


def command_info(args):
    model, tok = load(args)
    text = load_corpus(tok)
    print(json.dumps({
        "gguf": gguf_model.find_gguf_path(),
        "config": dataclasses.asdict(model.config),
        "linear_layers": len(model.linear_names()),
        "windows": len(text.windows),
        "eval_indices": text.eval_indices(args.windows).tolist(),
    }, indent=1, default=str))


def command_ppl(args):
    model, tok = load(args)
    windows = load_corpus(tok).eval_windows(args.windows)
    rows = []
    for spec, quantizer in zip(args.method, args.quantizers):
        start = time.time()
        target = model if quantizer is None else model.with_linear(quantizer)
        quantize_seconds = time.time() - start
        label = "float" if quantizer is None else quantizer.label
        result = perplexity.evaluate(target, windows, label)
        bpw = 32.0 if quantizer is None else quantizer.bits_per_weight()
        row = {
            "method": spec, "label": label, "perplexity": result.perplexity,
            "bits_per_weight": bpw, "windows": result.windows,
            "predictions": result.predictions, "eval_seconds": result.seconds,
            "quantize_seconds": quantize_seconds,
        }
        if quantizer is not None and getattr(quantizer, "layers", None):
            errors = [v[2] for v in quantizer.layers.values()]
            row["mean_relative_error"] = float(np.mean(errors))
            row["layer_relative_error"] = {k: v[2] for k, v in quantizer.layers.items()}
        rows.append(row)
        print(
            f"{label:28s} ppl {result.perplexity:12.3f}  bpw {bpw:6.3f}  "
            f"eval {result.seconds:6.1f} s  quantize {quantize_seconds:5.1f} s",
            flush=True,
        )
        if args.compiled:
            row["compiled"] = compiled_perplexity(model, quantizer, windows, result, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def compiled_perplexity(model, quantizer, windows, reference, args) -> dict:
    """Perplexity with every linear layer on r2q's compiled kernels, printed
    beside `reference` (the same method in numpy)."""
    target, linears = compiled_model(model, quantizer, int(args.threads))
    result = perplexity.evaluate(target, windows, linears.label)
    difference = abs(result.perplexity - reference.perplexity) / reference.perplexity
    agree = f"{result.perplexity:.4g}" == f"{reference.perplexity:.4g}"
    print(
        f"{linears.label:28s} ppl {result.perplexity:12.3f}  eval {result.seconds:6.1f} s  "
        f"vs numpy {reference.perplexity:.6g}: relative difference {difference:.2e} "
        f"({'agree' if agree else 'DIFFER'} to 4 significant digits)",
        flush=True,
    )
    return {"perplexity": result.perplexity, "relative_difference": difference,
            "agree_4_digits": agree, "eval_seconds": result.seconds,
            "compile_seconds": linears.total_seconds,
            "layer_compile_seconds": linears.compile_seconds,
            "constant_bytes": linears.constant_bytes}


def command_generate(args):
    model, tok = load(args)
    prompt = tok.chat_prompt(args.prompt) if not args.raw else args.prompt
    prompt_ids = tok.encode(prompt)
    if not args.compiled:
        start = time.time()
        ids = model.generate(prompt_ids, args.max_new, tok.eos_id, cache=not args.no_cache)
        log(f"{len(ids)} tokens in {time.time() - start:.1f} s")
        print(tok.decode(ids))
        return
    threads = int(args.threads)
    paths = [("float numpy", lambda: model)]
    paths.append(("float compiled", lambda: compiled_model(model, None, threads)[0]))
    paths.append((f"{args.quantizer.label} compiled", lambda: compiled_model(model, args.quantizer, threads)[0]))
    how = "the whole sequence recomputed per token" if args.no_cache else "KV cache: one position per token"
    print(f"prompt: {len(prompt_ids)} tokens; {args.max_new} new tokens per model "
          f"(greedy, {how}, no stop at end of text so that every model does the "
          f"same work); {threads} thread(s); fastest of {args.repeat} runs", flush=True)
    rates = {}
    for label, build in paths:
        target = build()
        runs = [timed_generation(target, prompt_ids, args) for _ in range(args.repeat)]
        ids = runs[0][0]
        first = min(run[1] for run in runs)
        rates[label] = max(run[2] for run in runs)
        shown = ids[:ids.index(tok.eos_id)] if tok.eos_id in ids else ids
        print(f"{label:32s} {rates[label]:6.2f} tokens/s after the first token "
              f"(first token, the prompt: {first:.2f} s): {tok.decode(shown)!r}", flush=True)
    base = rates["float numpy"]
    print("tokens/s relative to float numpy: " +
          ", ".join(f"{label} {rate / base:.2f}x" for label, rate in rates.items()), flush=True)


def timed_generation(target, prompt_ids, args):
    """(new ids, seconds to the first token, tokens/s after it)."""
    steps = []
    ids = target.generate(prompt_ids, args.max_new, stop_id=None, cache=not args.no_cache,
                          step_seconds=steps)
    return ids, steps[0], (len(steps) - 1) / max(sum(steps[1:]), 1e-9)


def compiled_model(model, quantizer, threads: int):
    target, linears = compiled.compile_model(model, quantizer, threads)
    print(linears.summary(sum(w.nbytes for w in model.linear.values())), flush=True)
    return target, linears


def command_llamacpp(args):
    from . import llamacpp

    _, tok = load_tokenizer_only()
    windows = load_corpus(tok).eval_windows(args.windows)
    source = gguf_model.find_gguf_path()
    os.makedirs(args.out, exist_ok=True)
    for ftype in args.type:
        path = source
        if ftype != "original":
            path = os.path.join(args.out, f"smollm2-{ftype}.gguf")
            llamacpp.quantize_file(source, path, ftype)
        bpw, types = llamacpp.linear_bits_per_weight(path)
        start = time.time()
        ppl = llamacpp.perplexity(path, windows, f"llama.cpp {ftype}")
        print(f"llama.cpp {ftype:10s} ppl {ppl:12.3f}  bpw {bpw:6.3f}  types {types}  "
              f"eval {time.time() - start:6.1f} s", flush=True)


def load_tokenizer_only():
    reader = gguf_model.open_reader()
    return reader, tokenizer.TextTokenizer(reader)


def command_calibrate(args):
    model, tok = load(args)
    text = load_corpus(tok)
    indices = text.train_indices(args.windows)
    stats = calibration.InputStatistics()
    start = time.time()
    for count, index in enumerate(indices, 1):
        model.forward(text.windows[index][None], observe=stats)
        log(f"[calibrate] window {count}/{len(indices)} ({(time.time() - start) / count:.2f} s/window)")
    path = stats.save(args.out, {"windows": indices.tolist(), "window_tokens": corpus.WINDOW})
    print(path)


def command_tune(args):
    from . import tuning

    reader = gguf_model.open_reader()
    config = gguf_model.read_config(reader)
    all_weights = gguf_model.load_weights(reader, args.layers)
    weights = {name: all_weights[name + ".weight"] for name in gguf_model.linear_names(config, args.layers)}
    start = time.time()
    layers, total = tuning.tune(weights, args.options)
    log(f"[tune] {len(layers)} layers in {time.time() - start:.1f} s")
    kinds = {}
    for name, fields in layers.items():
        scheme = f"G={int(fields['group'])} {int(fields['planes'])}p"
        kinds.setdefault(name.split(".", 2)[2], []).append(scheme)
    for kind, schemes in kinds.items():
        counts = {scheme: schemes.count(scheme) for scheme in sorted(set(schemes))}
        print(f"{kind:10s} " + ", ".join(f"{scheme} x{count}" for scheme, count in counts.items()))
    print(total)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"options": args.options, "total": total, "layers": layers}, f, indent=1)


def command_table(args):
    from . import table

    model, tok = load(args)
    text = load_corpus(tok)
    print(table.build(model, text, args.out, args.windows, args.calibration, args.qat), end="")


# The post-training R2Q row at the QAT runs' bits drawn beside their curves.
CALIBRATED_PTQ = "r2q-greedy:2:128:outliers=0.005:calib=gram"


def command_qat_plot(args):
    from . import qat_plot, table

    def table_perplexity(spec):
        path = table.row_path(args.table, spec, args.windows)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)["perplexity"]

    float_ppl = args.float_ppl or table_perplexity("float")
    calibrated = table_perplexity(CALIBRATED_PTQ)
    references = [(calibrated, "post-training R2Q, same bits, X^T X calibration")] if calibrated else []
    for path in qat_plot.write(args.qat, args.out, float_ppl, references):
        print(path)


def command_qat(args):
    import torch

    from . import qat

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    settings = qat.Settings(method=args.method, steps=args.steps, batch=args.batch, lr=args.lr,
                            eval_every=args.eval_every, eval_windows=args.windows,
                            planes=args.planes, group=args.group, outliers=args.outliers,
                            learn_scales=args.learn_scales, layers=args.layers,
                            backend=args.backend, device=args.device)
    _, tok = load_tokenizer_only()
    run = qat.Run(settings, args.out, load_corpus(tok))
    log(f"[qat {settings.method}] {settings}; torch threads {torch.get_num_threads()}; "
        f"state in {run.dir}")
    curve = run.run()
    for row in curve:
        print(f"qat {row['method']} step {row['step']:4d}: perplexity {row['perplexity']:12.3f}  "
              f"bpw {row['bits_per_weight']:.3f}  ({row['train_seconds']:.0f} s of training)",
              flush=True)
    if args.compiled:
        qat_on_compiled_kernels(run, int(args.threads))


def qat_on_compiled_kernels(run, threads: int):
    """The trained R2Q code's perplexity on r2q's compiled kernels (kept in
    compiled.json: a rerun after the end prints it again)."""
    from . import qat

    path = os.path.join(run.dir, "compiled.json")
    result = None
    if os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
    if result is None or result["step"] != run.step:
        result = qat.compiled_perplexity(run, threads)
    print(f"qat r2q step {result['step']} on r2q's compiled kernels: perplexity "
          f"{result['compiled']:.3f}; numpy with the decoded code {result['numpy']:.3f} "
          f"({'agree' if result['agree_4_digits'] else 'DIFFER'} to 4 significant digits); "
          f"torch fake-quant {result['torch']}; compile {result['compile_seconds']:.1f} s",
          flush=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m r2q_eval", description=__doc__)
    p.add_argument("--threads", default="1", help="BLAS threads (default 1)")
    p.add_argument("--layers", type=int, default=None, help="use only the first N blocks (debugging)")
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="model config and the corpus split")
    info.add_argument("--windows", type=int, default=32)
    ppl = sub.add_parser("ppl", help="perplexity on the evaluation slice")
    ppl.add_argument("--windows", type=int, default=32, help="evaluation windows of 256 tokens")
    ppl.add_argument("--method", action="append", default=None,
                     help="float or NAME:BITS:G[:outliers=F][:calib=diag|gram] (rtn-minmax, "
                          "rtn-absmax, r2q-greedy, r2q-refined); repeatable")
    ppl.add_argument("--json", help="write the results (and per-layer errors) here")
    ppl.add_argument("--calibration", help="directory of `calibrate` (for :calib=...)")
    ppl.add_argument("--compiled", action="store_true",
                     help="also evaluate every float/r2q method with its linear layers compiled "
                          "by r2q (r2q-quantize-linear + r2q-cpu-pipeline) and print both")
    gen = sub.add_parser("generate", help="greedy decoding with the chat template (KV cache)")
    gen.add_argument("--prompt", default="What is the capital of France?")
    gen.add_argument("--max-new", type=int, default=40)
    gen.add_argument("--raw", action="store_true", help="no chat template")
    gen.add_argument("--no-cache", action="store_true",
                     help="recompute the whole sequence per token (no KV cache)")
    gen.add_argument("--compiled", action="store_true",
                     help="tokens/s of float numpy, float compiled by r2q-cpu-pipeline and "
                          "--method compiled by r2q (max-new tokens each)")
    gen.add_argument("--method", default="r2q-greedy:2:128",
                     help="with --compiled: the R2Q method (default r2q-greedy:2:128)")
    gen.add_argument("--calibration", help="directory of `calibrate` (for :calib=...)")
    gen.add_argument("--repeat", type=int, default=3,
                     help="with --compiled: runs per model, the fastest reported (default 3)")
    lcpp = sub.add_parser("llamacpp", help="llama.cpp's quantizations of the same file (needs llama-cpp-python)")
    lcpp.add_argument("--windows", type=int, default=32)
    lcpp.add_argument("--out", default="build-eval/llamacpp")
    lcpp.add_argument("--type", action="append", default=None,
                      help="original, q2_k, q3_k_m, q4_k_m, q4_0, q8_0; repeatable")
    cal = sub.add_parser("calibrate", help="X^T X of every linear input over the training slice")
    cal.add_argument("--out", required=True)
    cal.add_argument("--windows", type=int, default=32)
    tun = sub.add_parser("tune", help="r2q-tune-group-size over the linear layers")
    tun.add_argument("--options", default="budget-bpw=2.25",
                     help="the pass's options (default budget-bpw=2.25)")
    tun.add_argument("--json", help="write the chosen scheme of every layer here")
    tab = sub.add_parser("table", help="the one table of docs/accuracy.md (make eval)")
    tab.add_argument("--out", default="build-eval", help="rows/ and eval-table.md go here")
    tab.add_argument("--windows", type=int, default=32)
    tab.add_argument("--calibration", default="build-eval/calib",
                     help="calibration statistics (computed here when missing)")
    tab.add_argument("--qat", default="build-eval/qat", help="QAT state (rows when present)")
    q = sub.add_parser("qat", help="quantization-aware fine-tuning with distillation (torch)")
    q.add_argument("--method", choices=["r2q", "rtn"], default="r2q",
                   help="r2q: R2QLinear (greedy R2Q); rtn: round-to-nearest min/max")
    q.add_argument("--out", default="build-eval/qat", help="state directory (resumable)")
    q.add_argument("--steps", type=int, default=150)
    q.add_argument("--batch", type=int, default=1, help="training windows per step")
    q.add_argument("--lr", type=float, default=1e-4)
    q.add_argument("--eval-every", type=int, default=25, help="steps between perplexities")
    q.add_argument("--windows", type=int, default=32, help="evaluation windows")
    q.add_argument("--planes", type=int, default=2, help="R2Q planes / RTN bits")
    q.add_argument("--group", type=int, default=128)
    q.add_argument("--outliers", type=float, default=0.005)
    q.add_argument("--learn-scales", action="store_true", help="r2q: learn the scales (no outliers)")
    q.add_argument("--torch-threads", type=int, default=0,
                   help="torch intra-op threads (default 0: torch's default, all cores)")
    q.add_argument("--backend", choices=["core", "torch"], default="core",
                   help="fake quantization by the r2q module (core, CPU) or by r2q_eval.torch_quant "
                        "(torch: the same codes on any device)")
    q.add_argument("--device", default="cpu", help="torch device (cuda needs --backend torch)")
    q.add_argument("--compiled", action="store_true",
                   help="r2q: after training, the learned code on r2q's compiled kernels")
    plot = sub.add_parser("qat-plot", help="the QAT curves as qat-curve.csv and qat-curve.svg")
    plot.add_argument("--qat", default="build-eval/qat", help="state directory of `qat`")
    plot.add_argument("--out", default="build-eval/qat", help="where the CSV and SVG go")
    plot.add_argument("--float-ppl", type=float, default=None,
                      help="float perplexity line (default: the `table` row, if evaluated)")
    plot.add_argument("--table", default="build-eval", help="`table`'s directory")
    plot.add_argument("--windows", type=int, default=32)
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.command == "ppl":
        args.method = args.method or ["float"]
        try:  # Bad specs are reported before the model is loaded.
            args.quantizers = [methods.parse(spec, args.calibration) for spec in args.method]
            for quantizer in args.quantizers if args.compiled else []:
                compiled.check_supported(quantizer)
        except ValueError as error:
            p.error(str(error))
    if args.command == "generate" and args.compiled:
        try:
            args.quantizer = methods.parse(args.method, args.calibration)
            if args.quantizer is None:
                raise ValueError("generate --compiled compares float with an R2Q method: "
                                 "--method float is already one of its rows")
            compiled.check_supported(args.quantizer)
        except ValueError as error:
            p.error(str(error))
    if args.command == "qat" and args.compiled and (args.method != "r2q" or args.backend != "core"):
        p.error("qat --compiled runs the r2q method's code on the core backend")
    if args.command == "llamacpp":
        args.type = args.type or ["original", "q2_k", "q3_k_m", "q4_k_m"]
    {"info": command_info, "ppl": command_ppl, "generate": command_generate,
     "calibrate": command_calibrate, "llamacpp": command_llamacpp, "tune": command_tune,
     "qat": command_qat, "table": command_table, "qat-plot": command_qat_plot}[args.command](args)


if __name__ == "__main__":
    main()
