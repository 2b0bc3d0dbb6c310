# r2q.compile's GPU calls end to end on the fake CUDA driver of
# unittests/Runtime/FakeCudaDriver.cpp (device memory is host memory, kernels
# other than its own do nothing): the runtime reports a GPU, a call copies
# the arguments to the device, loads and launches the kernels and copies the
# results back. A function returning its argument gets it back exactly (both
# copies) beside a kernel's result, a linear layer comes back with its
# shape, repeated calls work (device buffers are freed per call), the
# constant weight is copied to the device on the first call only and freed
# with the compiled function, and arguments are still checked; a function
# compiled for a chip the GPU cannot run raises instead of loading, and a
# CUDA error while the code runs raises without ending the process, as
# does a device argument that is not aligned for the kernels' loads.
# Arguments already in GPU memory (anything with __cuda_array_interface__:
# here a stand-in whose "device pointer" is a numpy array's, which the fake
# driver's memory is) are read where they are, and the results stay on the
# device as r2q.DeviceArray (exposing the interface, freed with the object).
# REQUIRES: cuda-runtime
# RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda R2Q_CUDA_RUNTIME=%r2q_cuda_runtime %python %s
# With two fake devices, an array on GPU 1 is refused (the kernels run on
# GPU 0).
# RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda R2Q_FAKE_CUDA_DEVICES=2 \
# RUN:   R2Q_CUDA_RUNTIME=%r2q_cuda_runtime %python %s

import ctypes
import gc
import os

import numpy as np
import r2q
from r2q_test_support import OnDevice, expect_error, fresh_rng, linear_layer_ir

rng = fresh_rng()
assert r2q.gpu_unavailable_reason() is None, r2q.gpu_unavailable_reason()

# One result is the first argument (the device copy, copied back), the
# other a kernel's (which the fake driver does not run).
passing = r2q.compile("""
func.func @main(%x: tensor<3x5xf32>, %y: tensor<7xf32>) -> (tensor<3x5xf32>, tensor<7xf32>) {
  %e = tensor.empty() : tensor<7xf32>
  %z = linalg.add ins(%y, %y : tensor<7xf32>, tensor<7xf32>) outs(%e : tensor<7xf32>) -> tensor<7xf32>
  return %x, %z : tensor<3x5xf32>, tensor<7xf32>
}""", pipeline="r2q-gpu-pipeline{cubin-format=isa}")
assert passing.gpu
x = rng.standard_normal((3, 5), dtype=np.float32)
y = rng.standard_normal(7, dtype=np.float32)
for _ in range(3):
    back_x, z = passing(x, y)
    assert (back_x == x).all() and z.shape == (7,) and z.dtype == np.float32

w = rng.standard_normal((33, 320), dtype=np.float32) * 0.05
for m in (1, 5, 20):
    layer = r2q.compile(linear_layer_ir(w, m),
                        pipeline="r2q-quantize-linear{group-size=64},r2q-gpu-pipeline{cubin-format=isa}")
    assert layer.gpu
    for _ in range(2):
        out = layer(rng.standard_normal((m, 320), dtype=np.float32))
        assert out.shape == (m, 33) and out.dtype == np.float32, (out.shape, out.dtype)
expect_error(ValueError, "argument 0 of @main must have shape (20, 320), got (2, 320)",
             lambda: layer(np.zeros((2, 320), dtype=np.float32)))

# The fake driver counts what it was asked to do.
fake = ctypes.CDLL(os.environ["R2Q_CUDA_DRIVER"])
fake.fakeCudaLiveAllocations.restype = ctypes.c_long
fake.fakeCudaBytesCopiedToDevice.restype = ctypes.c_uint64
del layer
gc.collect()
live_before = fake.fakeCudaLiveAllocations()
layer = r2q.compile(linear_layer_ir(w, 3),
                    pipeline="r2q-quantize-linear{group-size=64},r2q-gpu-pipeline{cubin-format=isa}")
x = rng.standard_normal((3, 320), dtype=np.float32)
copied = []
for _ in range(3):
    before = fake.fakeCudaBytesCopiedToDevice()
    layer(x)
    copied.append(fake.fakeCudaBytesCopiedToDevice() - before)
# Two bitplanes of 33 x 320 signs at least, beside the input.
assert copied[0] >= x.nbytes + 2 * 33 * 320 // 8, copied
assert copied[1] == copied[2] == x.nbytes, copied
# The weight's device copies (signs and scales) outlive the calls, and go
# with the compiled function.
assert fake.fakeCudaLiveAllocations() - live_before >= 2, fake.fakeCudaLiveAllocations()
del layer
gc.collect()
assert fake.fakeCudaLiveAllocations() == live_before, (fake.fakeCudaLiveAllocations(), live_before)

# A call's device buffers (its result and the tensor cores' temporaries)
# come from the device's memory pool on the call's stream, and the
# temporaries go back to it on that stream: the host waits for the call's
# stream once, at its end, and frees nothing with cuMemFree but its own
# copy of the argument and the result it copied back.
for name in ("AllStreamSynchronizations", "PoolAllocations", "StreamOrderedFrees", "MemFrees"):
    getattr(fake, "fakeCuda" + name).restype = ctypes.c_long
layer = r2q.compile(linear_layer_ir(w, 20),
                    pipeline="r2q-quantize-linear{group-size=64},r2q-gpu-pipeline{cubin-format=isa}")
x = rng.standard_normal((20, 320), dtype=np.float32)
layer(x)
counts = lambda: {name: getattr(fake, "fakeCuda" + name)()
                  for name in ("AllStreamSynchronizations", "PoolAllocations",
                               "StreamOrderedFrees", "MemFrees")}
before = counts()
layer(x)
made = {name: value - before[name] for name, value in counts().items()}
assert made["AllStreamSynchronizations"] == 1, made
assert made["PoolAllocations"] >= 3, made
assert made["StreamOrderedFrees"] == made["PoolAllocations"] - 1, made
assert made["MemFrees"] == 2, made
del layer
# r2q.trim_gpu_memory() gives the pool's memory back.
fake.fakeCudaPoolTrims.restype = ctypes.c_long
trims_before = fake.fakeCudaPoolTrims()
r2q.trim_gpu_memory()
assert fake.fakeCudaPoolTrims() == trims_before + (os.environ.get("R2Q_CUDA_MEMORY_POOL") != "0")

# The fake GPU is an sm_90: code for a newer chip is refused before its
# kernels load, code for an older one runs (PTX compiles for newer GPUs).
assert r2q.gpu_chip() == "sm_90", r2q.gpu_chip()
for chip, runs in (("sm_100 cubin-features=+ptx86", False), ("sm_80", True)):
    layer = r2q.compile(linear_layer_ir(w, 5), pipeline="r2q-quantize-linear{group-size=64},"
                        f"r2q-gpu-pipeline{{cubin-format=isa chip={chip}}}")
    x = rng.standard_normal((5, 320), dtype=np.float32)
    if runs:
        assert layer(x).shape == (5, 33)
    else:
        expect_error(RuntimeError, "calling @main on the GPU failed: the kernels are compiled for "
                     "sm_100 and GPU 0 (r2q fake GPU) is sm_90: compile with "
                     "r2q-gpu-pipeline{chip=sm_90}", lambda: layer(x))

# A CUDA error while the compiled code runs (the fake driver refusing
# allocations over 2000 bytes: the weight's first copy to the device, an
# activation matrix of the tensor cores) raises, leaves nothing allocated,
# and ends only that call: the next ones run, and copy the weight then.
fake.fakeCudaFailAllocationsAbove.argtypes = [ctypes.c_uint64]
refused = 2 * 33 * 320 // 8  # the weight's sign planes
for m in (1, 20):
    layer = r2q.compile(linear_layer_ir(w, m),
                        pipeline="r2q-quantize-linear{group-size=64},r2q-gpu-pipeline{cubin-format=isa}")
    x = rng.standard_normal((m, 320), dtype=np.float32)
    live_before = fake.fakeCudaLiveAllocations()
    fake.fakeCudaFailAllocationsAbove(2000)
    # (A host argument of 20 rows is refused before the call, by its copy.)
    for argument in ((x, OnDevice(x)) if m == 1 else (OnDevice(x),)):
        expect_error(RuntimeError, "calling @main on the GPU failed: r2q: CUDA error: cuMemAlloc: "
                     "CUDA_ERROR_OUT_OF_MEMORY (fake description) "
                     f"(allocating {refused} bytes)", lambda: layer(argument))
        assert fake.fakeCudaLiveAllocations() == live_before, fake.fakeCudaLiveAllocations()
    fake.fakeCudaFailAllocationsAbove(0)
    before = fake.fakeCudaBytesCopiedToDevice()
    assert layer(x).shape == (m, 33)
    assert fake.fakeCudaBytesCopiedToDevice() - before >= x.nbytes + refused
    del layer
    gc.collect()
    assert fake.fakeCudaLiveAllocations() == live_before, fake.fakeCudaLiveAllocations()

# A device argument that the kernels read 16 bytes at a time but that
# starts off a 16-byte boundary (here 4 bytes into a larger array, still
# C-contiguous float32) raises, naming it, instead of the kernel faulting;
# the launch and the rest of the call are skipped, nothing leaks, and an
# aligned argument then runs.
layer = r2q.compile(linear_layer_ir(w, 5),
                    pipeline="r2q-quantize-linear{group-size=64},r2q-gpu-pipeline{cubin-format=isa}")
fake.fakeCudaLaunches.restype = ctypes.c_long
storage = rng.standard_normal(5 * 320 + 4, dtype=np.float32)
shift = next(i for i in range(1, 4) if (storage.ctypes.data + 4 * i) % 16)
misaligned = storage[shift:shift + 5 * 320].reshape(5, 320)
assert misaligned.flags.c_contiguous
live_before = fake.fakeCudaLiveAllocations()
launches_before = fake.fakeCudaLaunches()
expect_error(RuntimeError, "calling @main on the GPU failed: r2q: argument 0 of @main "
             "(memref<5x320xf32>, operand 1 of kernel @main_kernel::@main_kernel) starts at "
             f"address {hex(misaligned.ctypes.data)}, not at a multiple of 16 bytes as the "
             "kernel's loads of it require; pass memory that cuMemAlloc returned (256-byte "
             "aligned), or a view of it that starts at such a multiple",
             lambda: layer(OnDevice(misaligned)))
assert fake.fakeCudaLaunches() == launches_before, fake.fakeCudaLaunches() - launches_before
# (The weight's device copy, made by the failed call, stays with the layer.)
assert fake.fakeCudaLiveAllocations() - live_before <= 2, fake.fakeCudaLiveAllocations()
assert layer(misaligned.copy()).shape == (5, 33)
assert fake.fakeCudaLaunches() > launches_before
del layer
gc.collect()
assert fake.fakeCudaLiveAllocations() == live_before, fake.fakeCudaLiveAllocations()


def device_values(device_array):
    """The values at a DeviceArray's pointer (fake device memory is host
    memory), through its __cuda_array_interface__."""
    interface = device_array.__cuda_array_interface__
    assert interface["typestr"] == "<f4" and interface["strides"] is None, interface
    pointer = ctypes.cast(interface["data"][0], ctypes.POINTER(ctypes.c_float))
    return np.ctypeslib.as_array(pointer, interface["shape"]).copy()


live_before = fake.fakeCudaLiveAllocations()
x = rng.standard_normal((3, 5), dtype=np.float32)
y = rng.standard_normal(7, dtype=np.float32)
for arguments in ((OnDevice(x), OnDevice(y)), (OnDevice(x), y), (x, OnDevice(y))):
    copied_before = fake.fakeCudaBytesCopiedToDevice()
    back_x, z = passing(*arguments)
    assert isinstance(back_x, r2q.DeviceArray) and isinstance(z, r2q.DeviceArray)
    assert back_x.shape == (3, 5) and z.shape == (7,) and back_x.dtype == np.float32
    assert repr(back_x) == "r2q.DeviceArray(shape=(3, 5), dtype=float32)", repr(back_x)
    # A copy of the argument (the function returns it), on the device.
    assert back_x.__cuda_array_interface__["data"][0] != x.ctypes.data
    assert (device_values(back_x) == x).all() and (back_x.numpy() == x).all()
    # Only host arguments were copied to the device.
    host_bytes = sum(a.nbytes for a in arguments if isinstance(a, np.ndarray))
    assert fake.fakeCudaBytesCopiedToDevice() - copied_before == host_bytes
# A result passed on to the next call as it is.
again, _ = passing(back_x, OnDevice(y))
assert (again.numpy() == x).all()

# A call's kernels run after the work that wrote its device arguments (the
# interface's version-3 "stream"). Where the arguments name one stream that
# the runtime can run on (r2qCudaBeginCallStream: a stream of GPU 0's
# context, or the legacy default stream, 1), the call runs on it, with no
# wait on the host before it and no stream of the runtime's: its launches
# and pool allocations go there, and the call synchronizes it once, at its
# end. Otherwise the call runs on the runtime's stream, after the host
# synchronizes each stream named (two streams; a handle the runtime refuses,
# here one the driver does not know, or a stream capturing a CUDA graph),
# after nothing where the stream is None (as a DeviceArray says: its call
# synchronized), and after the whole device where it cannot tell (no
# stream, version 2, the ambiguous 0, or 2, the per-thread default stream
# of whichever thread wrote the array).
runtime = ctypes.CDLL(os.environ["R2Q_CUDA_RUNTIME"])
streams_made = []
for _ in range(2):
    made = ctypes.c_void_p()
    assert runtime.r2qCudaStreamCreate(ctypes.byref(made)) == 0
    streams_made.append(made.value)
s1, s2 = streams_made
unknown, legacy = 0x1234, 0x1
fake.fakeCudaContextSynchronizations.restype = ctypes.c_long
fake.fakeCudaStreamSynchronizations.restype = ctypes.c_long
fake.fakeCudaStreamSynchronizations.argtypes = [ctypes.c_size_t]
fake.fakeCudaStreamsCreated.restype = ctypes.c_long
fake.fakeCudaLastLaunchStream.restype = ctypes.c_size_t
fake.fakeCudaLastPoolStream.restype = ctypes.c_size_t
fake.fakeCudaSetCapturing.argtypes = [ctypes.c_size_t, ctypes.c_int]
passing(x, y)  # (the runtime's stream, kept for the next calls, is made)
for interface_x, interface_y, device_waits, waited, runs_on, capturing in (
        ({}, {"stream": None}, 1, [], None, None),
        ({"stream": None}, {"stream": None}, 0, [], None, None),
        ({"stream": s1}, {"stream": s2}, 0, [s1, s2], None, None),
        ({"stream": s1}, {"stream": s1}, 0, [s1], s1, None),
        ({"stream": None}, {"stream": s2}, 0, [s2], s2, None),
        ({"stream": legacy}, {"stream": legacy}, 0, [legacy], legacy, None),
        ({"stream": unknown}, {"stream": unknown}, 0, [unknown], None, None),
        ({"stream": s1}, {"stream": None}, 0, [s1], None, s1),
        ({"stream": 2}, {"stream": None}, 1, [], None, None),
        ({"stream": s1, "version": 2}, {"stream": None}, 1, [], None, None),
        ({"stream": 0}, {"stream": None}, 1, [], None, None)):
    device_before = fake.fakeCudaContextSynchronizations()
    watched = (s1, s2, legacy, unknown)
    streams_before = {s: fake.fakeCudaStreamSynchronizations(s) for s in watched}
    created_before = fake.fakeCudaStreamsCreated()
    if capturing:
        fake.fakeCudaSetCapturing(capturing, 1)
    # (Kept until counted: freeing a result waits for the device.)
    results = passing(OnDevice(x, **interface_x), OnDevice(y, **interface_y))
    fake.fakeCudaSetCapturing(s1, 0)
    case = (interface_x, interface_y, capturing)
    assert fake.fakeCudaContextSynchronizations() - device_before == device_waits, case
    for s, before in streams_before.items():
        assert fake.fakeCudaStreamSynchronizations(s) - before == (s in waited), (hex(s), case)
    assert fake.fakeCudaStreamsCreated() == created_before, case
    launched_on, pooled_on = fake.fakeCudaLastLaunchStream(), fake.fakeCudaLastPoolStream()
    if runs_on:
        assert launched_on == pooled_on == runs_on, (hex(launched_on), hex(pooled_on), case)
    else:
        assert launched_on == pooled_on and launched_on not in (0,) + watched, \
            (hex(launched_on), hex(pooled_on), case)
    del results
for stream in (s1, s2):
    assert runtime.r2qCudaStreamDestroy(ctypes.c_void_p(stream)) == 0
device_before = fake.fakeCudaContextSynchronizations()
results = passing(again, OnDevice(y, stream=None))
assert fake.fakeCudaContextSynchronizations() == device_before
del again, _, results
# The results' memory goes with them.
assert fake.fakeCudaLiveAllocations() - live_before == 2, fake.fakeCudaLiveAllocations()
del back_x, z
gc.collect()
assert fake.fakeCudaLiveAllocations() == live_before, (fake.fakeCudaLiveAllocations(), live_before)

expect_error(TypeError, "argument 1 of @main must be float32 (typestr <f4), got a GPU array of "
             "typestr <f8", lambda: passing(x, OnDevice(y.astype(np.float64))))
expect_error(ValueError, "argument 0 of @main must be a C-contiguous GPU array "
             "(.contiguous() makes one)",
             lambda: passing(OnDevice(x, strides=(4, 12)), y))
expect_error(ValueError, "argument 1 of @main is a masked GPU array",
             lambda: passing(x, OnDevice(y, mask=OnDevice(y))))
expect_error(ValueError, "argument 0 of @main must have shape (3, 5), got (5, 3)",
             lambda: passing(OnDevice(x.T.copy()), y))
expect_error(TypeError, "argument 1 of @main must be a numpy float32 array or a float32 array "
             "in GPU memory (__cuda_array_interface__), got list", lambda: passing(x, [1.0]))


class RequiresGrad:
    """Reading the interface fails, as for a torch tensor that requires grad."""

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")


expect_error(TypeError, "argument 0 of @main cannot be read as a GPU array: Can't get "
             "__cuda_array_interface__ on Variable that requires grad",
             lambda: passing(RequiresGrad(), y))
for interface, why in (({"data": None}, "'data' is not (pointer, read-only)"),
                       ({"shape": [3, 5]}, "'shape', 'strides' or 'data' are not tuples of "
                        "integers, or 'version' or 'stream' not an integer"),
                       ({"stream": "default"}, "'shape', 'strides' or 'data' are not tuples of "
                        "integers, or 'version' or 'stream' not an integer"),
                       ({"shape": (3, -5)}, "a negative size in 'shape'"),
                       ({"strides": (20,)}, "'strides' and 'shape' differ in length")):
    expect_error(ValueError, f"argument 0 of @main has a malformed __cuda_array_interface__: {why}",
                 lambda: passing(OnDevice(x, **interface), y))
broken = OnDevice(x)
del broken.__cuda_array_interface__["data"]
expect_error(ValueError, "argument 0 of @main has a malformed __cuda_array_interface__: no 'data'",
             lambda: passing(broken, y))

if os.environ.get("R2Q_FAKE_CUDA_DEVICES") == "2":
    runtime = ctypes.CDLL(os.environ["R2Q_CUDA_RUNTIME"])
    pointer = ctypes.c_void_p()
    assert runtime.r2qCudaSetDevice(1) == 0
    assert runtime.r2qCudaMalloc(ctypes.byref(pointer), ctypes.c_size_t(x.nbytes)) == 0
    assert runtime.r2qCudaSetDevice(0) == 0
    on_gpu1 = OnDevice(x, data=(pointer.value, False))
    expect_error(ValueError, "argument 0 of @main is in the memory of GPU 1, but the kernels run "
                 "on GPU 0: copy it there", lambda: passing(on_gpu1, y))
    assert runtime.r2qCudaSetDevice(1) == 0
    assert runtime.r2qCudaFree(pointer) == 0
    assert runtime.r2qCudaSetDevice(0) == 0

on_cpu = r2q.compile("""
func.func @main(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  return %x : tensor<3x5xf32>
}""", pipeline="r2q-cpu-pipeline")
expect_error(TypeError, "argument 0 of @main is in GPU memory (__cuda_array_interface__), but "
             "@main was compiled for the CPU: pass a numpy array",
             lambda: on_cpu(OnDevice(x)))
print("ok")
