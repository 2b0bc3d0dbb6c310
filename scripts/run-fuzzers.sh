#!/usr/bin/env bash
# Runs r2q's libFuzzer targets for a bounded time each.
# Usage: scripts/run-fuzzers.sh BUILD_DIR SECONDS
# The MLIR target starts from every lit test input and Torch fixture; the
# numerics-core target from a few byte patterns. New corpus entries go to
# BUILD_DIR/fuzz-corpus/, crashes to BUILD_DIR/fuzz-crashes/ (a crash makes
# this script fail: add the input as a regression test, then fix the bug).
set -euo pipefail
build=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
corpus="$build/fuzz-corpus"
crashes="$build/fuzz-crashes"
mkdir -p "$corpus/opt" "$corpus/quant" "$crashes"

# Seeds: lit inputs split at their // ----- markers, the fixtures, the
# weight forms of fuzz/seeds/opt/ (traced constants, ml_program globals,
# marked arguments, activation-only contractions, ragged K), a few byte
# patterns for the numerics core, and every input that once crashed
# (fuzz/regressions/).
python3 - "$root" "$corpus" <<'PY'
import pathlib, random, struct, sys
root, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for index, path in enumerate(sorted(root.glob("test/**/*.mlir"))):
    for part, chunk in enumerate(path.read_text().split("// -----")):
        (corpus / "opt" / f"seed-{index}-{part}.mlir").write_text(chunk)
rng = random.Random(0)
for index, values in enumerate([[rng.gauss(0, 1) for _ in range(64)],
                                [0.0] * 64, [1e30, -1e30] * 32,
                                [float("nan")] + [1.0] * 63]):
    header = bytes([3, 7, 1, 0, 2, 0, 1, 0])
    (corpus / "quant" / f"seed-{index}").write_bytes(
        header + b"".join(struct.pack("<f", v) for v in values))
for path in sorted((root / "fuzz" / "seeds" / "opt").glob("*.mlir")):
    (corpus / "opt" / f"seed-form-{path.name}").write_text(path.read_text())
for kind in ("opt", "quant"):
    for path in (root / "fuzz" / "regressions" / kind).glob("*"):
        (corpus / kind / f"regression-{path.name}").write_bytes(path.read_bytes())
PY

status=0
# allow_user_poisoning=0: see test-asan in the Makefile. Leak checking is off:
# the MLIR target keeps one context alive across inputs on purpose.
export ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in opt quant; do
  echo "== r2q-fuzz-$target for $seconds s"
  "$build/bin/r2q-fuzz-$target" "$corpus/$target" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -artifact_prefix="$crashes/$target-" -print_final_stats=1 2>&1 |
    grep -E "^(#[0-9]+ +(DONE|INITED)|stat::|==[0-9]+==ERROR|SUMMARY|Test unit written)" ||
    true
  if ls "$crashes/$target-"* >/dev/null 2>&1; then
    echo "r2q-fuzz-$target found crashes: $(ls "$crashes/$target-"*)"
    status=1
  fi
done
exit $status
