# r2q.compile with r2q-gpu-pipeline: the function is marked .gpu and runs its
# kernels on the GPU, with the numpy arguments copied to the device and the
# results back. Where a GPU can be used (r2q.gpu_unavailable_reason() is
# None) it matches the CPU pipeline's result for a batch of 1 (byte_lut_gemv
# on the packed constant weight), 5 (warp_lut_gemv) and 20 (mma_gemm, within
# its f16 bound; and warp_lut_gemv with precision=exact), and so does a call
# on a torch tensor in GPU memory (where torch has CUDA), whose result stays
# there (r2q.DeviceArray); elsewhere a call raises RuntimeError with that
# reason, on host or device arrays, and nothing runs (the kernels' loading
# would abort the process), as does r2q.trim_gpu_memory().
# RUN: %python %s

import numpy as np
import r2q

try:
    import torch
except ImportError:
    torch = None
from r2q_test_support import OnDevice, fresh_rng, linear_layer_ir

rng = fresh_rng()
reason = r2q.gpu_unavailable_reason()
assert reason is None or reason.startswith("r2q: "), reason

for m, n, k, options, relative in [(1, 70, 512, "", 1e-5), (5, 33, 320, "", 1e-5),
                                   (20, 130, 640, "", 2.0 ** -9),
                                   (20, 130, 640, "precision=exact", 1e-5)]:
    w = rng.standard_normal((n, k), dtype=np.float32) * 0.05
    x = rng.standard_normal((m, k), dtype=np.float32)
    ir = linear_layer_ir(w, m)
    quantize = "r2q-quantize-linear{group-size=64}"
    cpu = r2q.compile(ir, pipeline=f"{quantize},r2q-cpu-pipeline")
    gpu = r2q.compile(ir, pipeline=f"{quantize},r2q-gpu-pipeline{{cubin-format=isa {options}}}")
    assert gpu.gpu and not cpu.gpu
    assert gpu.argument_shapes == [(m, k)] and gpu.result_shapes == [(m, n)]
    if reason is not None:
        for argument in (x, OnDevice(x)):
            try:
                gpu(argument)
            except RuntimeError as error:
                assert str(error) == f"calling @main on the GPU failed: {reason}", str(error)
            else:
                raise AssertionError("a GPU call ran without a GPU")
        continue
    expected = cpu(x)
    w_hat = r2q.dequantize(r2q.quantize(w, group_size=64))
    bound = relative * (np.abs(x)[:, None, :] * np.abs(w_hat)[None, :, :]).sum(axis=2) + 1e-6
    results = [gpu(x)]
    if torch is not None and torch.cuda.is_available():
        on_device = gpu(torch.from_numpy(x).cuda())
        assert isinstance(on_device, r2q.DeviceArray), type(on_device)
        as_tensor = torch.as_tensor(on_device, device="cuda")
        assert as_tensor.data_ptr() == on_device.__cuda_array_interface__["data"][0]
        results += [on_device.numpy(), as_tensor.cpu().numpy()]
    for y in results:
        assert y.shape == expected.shape and y.dtype == np.float32, (y.shape, y.dtype)
        assert (np.abs(y - expected) <= bound).all(), (m, options, np.abs(y - expected).max())

# The pools' memory goes back to the GPU on request; without one that
# raises the reason.
if reason is None:
    r2q.trim_gpu_memory()
else:
    try:
        r2q.trim_gpu_memory()
    except RuntimeError as error:
        assert str(error) == reason, str(error)
    else:
        raise AssertionError("trim_gpu_memory ran without a GPU")

print("gpu:", reason or "ran on the GPU")
