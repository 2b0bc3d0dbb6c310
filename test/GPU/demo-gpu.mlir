// The main job's GPU part (r2q-demo, tools/r2q-demo/GpuBlockDemo.cpp) on a
// small block: without a driver it says why in one line and the job still
// succeeds; on the runtime's fake driver (host memory, kernels not run) the
// block is compiled through r2q-gpu-pipeline, JIT-compiled with the CUDA
// runtime library, and called on device copies of its inputs for each
// batch (the numbers are meaningless there: the kernels do not run).

// REQUIRES: cuda-runtime
// RUN: env R2Q_CUDA_DRIVER=%t.missing/libcuda.so.1 r2q-demo --weights=%r2q_src_root/examples/weights/minilm_l6_layer0_ffn_up.npy --model=%r2q_src_root/examples/llama_mlp.mlir.in --hidden=128 --intermediate=256 --thread-counts=1 --repetitions=1 | FileCheck %s --check-prefix=NONE
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda r2q-demo --weights=%r2q_src_root/examples/weights/minilm_l6_layer0_ffn_up.npy --model=%r2q_src_root/examples/llama_mlp.mlir.in --hidden=128 --intermediate=256 --thread-counts=1 --repetitions=1 --batch=1,5 | FileCheck %s --check-prefix=FAKE

// A CUDA error in the block's call (the fake refusing allocations over 4000
// bytes: the first copy of a weight) is printed and fails the job, without
// aborting.
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda R2Q_FAKE_CUDA_LARGEST_ALLOCATION=4000 not r2q-demo --weights=%r2q_src_root/examples/weights/minilm_l6_layer0_ffn_up.npy --model=%r2q_src_root/examples/llama_mlp.mlir.in --hidden=128 --intermediate=256 --thread-counts=1 --repetitions=1 --batch=1 2> %t.err
// RUN: FileCheck %s --check-prefix=OOM < %t.err

// OOM: error: r2q: CUDA error: cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (fake description) (allocating 8192 bytes)

// NONE: GPU: not run: r2q: no NVIDIA GPU: {{.*}}.missing/libcuda.so.1 not found

// FAKE: GPU: r2q fake GPU, the r2q block through r2q-gpu-pipeline{chip=sm_90} (PTX JIT)
// FAKE-NEXT: batch   rel.diff from CPU     GPU ms   (a call: the kernels and the result's allocation; the weights went to the device on the first call)
// FAKE-NEXT: {{^ +1 }}
// FAKE-NEXT: {{^ +5 }}
