"""The IR corpus of r2q: a generator of varied linalg-on-tensors modules and a checker
that runs r2q-opt (and mlir-runner) on them. One module per family of forms; the
command line is python/scripts/ir_corpus.py (see driver.py for what it does)."""
