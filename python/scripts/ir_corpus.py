#!/usr/bin/env python3
"""Generates a corpus of varied linalg-on-tensors MLIR modules and checks r2q-opt on it.

The command line of the corpus package next to this file (python/scripts/corpus/,
one module per family of forms); its driver.py documents the options and checks.
"""

import sys

from corpus.driver import main

if __name__ == "__main__":
    sys.exit(main())
