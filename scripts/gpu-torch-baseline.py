#!/usr/bin/env python3
"""The fp16 baseline of r2q-gpu-bench, on the GPU machine: torch.matmul
(cuBLAS) of the same shapes and batches, weights rotated through copies that
together exceed the L2 many times, CUDA events, medians; and the
device-to-device copy bandwidth through torch, as a cross-check of the
harness's own."""
import torch

SHAPES = [(4096, 4096), (8192, 8192), (28672, 8192), (8192, 28672)]
BATCHES = [1, 4, 16, 128]


def median_ms(fn, iterations):
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(iterations):
        start.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times = sorted(times[len(times) // 4:])
    return times[len(times) // 2]


def main():
    torch.manual_seed(0)
    a = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = median_ms(lambda i: b.copy_(a), 10)
    print(f"torch device-to-device copy: {2 * a.numel() / ms / 1e6:.0f} GB/s "
          "(read + write)")
    del a, b
    for n, k in SHAPES:
        bytes_per_copy = n * k * 2
        copies = max(2, (1 << 30) // bytes_per_copy + 1)
        weights = [torch.randn(n, k, dtype=torch.float16, device="cuda") * 0.02
                   for _ in range(copies)]
        for m in BATCHES:
            x = torch.randn(m, k, dtype=torch.float16, device="cuda")
            ms = median_ms(lambda i: torch.matmul(x, weights[i % copies].t()),
                           max(60, 3 * copies))
            print(f"torch fp16 {n}x{k} b{m}: {ms * 1e3:8.1f} us  "
                  f"{bytes_per_copy / ms / 1e6:7.0f} GB/s of fp16 weights")
        del weights


if __name__ == "__main__":
    main()
