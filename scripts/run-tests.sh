#!/usr/bin/env bash
# Runs every r2q test suite (lit regression tests and the GoogleTest binaries,
# through one lit run) and ends with one line: "N passed, N failed".
# Usage: scripts/run-tests.sh [build-dir]
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
report="$build/test-results.xml"
rm -f "$report"

/usr/lib/llvm-22/bin/lit -sv --xunit-xml-output "$report" \
  "$build/test" "$build/test/Unit"
lit_status=$?

python3 "$here/summarize-tests.py" "$report"
summary_status=$?
[ $lit_status -eq 0 ] && [ $summary_status -eq 0 ]
