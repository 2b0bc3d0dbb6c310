# r2q.quantize and r2q.dequantize release the GIL: while a worker thread
# quantizes a large matrix (refined, one core thread), the main thread keeps
# running Python. With the GIL held for the whole call the main thread would
# stall for the call's full duration.
# RUN: %python %s

import threading
import time

import numpy as np
import r2q
from r2q_test_support import fresh_rng

rng = fresh_rng()
w = rng.standard_normal((2048, 1024), dtype=np.float32)


def longest_stall(work):
    """Runs work() in a thread; returns (its duration, the longest gap between
    two iterations of a Python loop on the main thread meanwhile)."""
    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    last, longest = time.perf_counter(), 0.0
    while worker.is_alive():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    return time.perf_counter() - start, longest


results = {}
duration, stall = longest_stall(
    lambda: results.setdefault("q", r2q.quantize(w, group_size=128, method="refined", threads=1)))
print(f"quantize: {duration:.3f} s, longest main-thread stall {stall:.3f} s")
assert duration > 0.05, "too short to tell"
assert stall < duration / 2, (duration, stall)
assert results["q"].shape == w.shape
print("ok")
