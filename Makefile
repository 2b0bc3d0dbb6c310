# r2q: the two commands of the README, and a few more for developers.
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run every test suite
# Both are quick when everything is already installed and built.

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
LLVM_DIR := /usr/lib/llvm-22
CMAKE_FLAGS := -G Ninja \
  -DMLIR_DIR=$(LLVM_DIR)/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=$(LLVM_DIR)/bin/lit \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DPython3_EXECUTABLE=/usr/bin/python3 \
  -DR2Q_WERROR=ON

.PHONY: all deps torch-deps configure build test test-asan fuzz limits demo bench test-gpu bench-gpu generate format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD)

# torch, torch-mlir and transformers for the r2q.torch tests (build-torch/venv);
# where they cannot be installed those tests are reported unsupported.
torch-deps:
	@scripts/install-torch-deps.sh || echo "r2q: the torch environment could" \
	  "not be installed; the r2q.torch tests will be unsupported"

test: build torch-deps
	@scripts/run-tests.sh $(BUILD)

# The whole lit and unit suites on a build with AddressSanitizer and
# UndefinedBehaviorSanitizer (any report fails the test that triggered it).
# allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons its slabs when
# compiled with ASan; r2q's instrumented copies of those inline functions and
# libMLIR's uninstrumented ones share allocators, so the poison is never
# lifted where libMLIR hands memory out (false use-after-poison reports).
SANITIZER_ENV := ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_FLAGS) -DR2Q_SANITIZE=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo

test-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD)
	@$(SANITIZER_ENV) scripts/run-tests.sh $(ASAN_BUILD)

# Both libFuzzer targets for FUZZ_SECONDS each, seeded with the lit inputs.
$(FUZZ_BUILD)/build.ninja:
	cmake -S . -B $(FUZZ_BUILD) $(CMAKE_FLAGS) -DR2Q_SANITIZE=ON -DR2Q_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo

fuzz: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) --target r2q-fuzz-opt r2q-fuzz-quant
	@scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Compile time and peak memory on Llama-7B-shaped modules of 1 to 8 layers,
# and compile time against the number of layers, quantized vs float.
limits: build
	scripts/measure-limits.py --build $(BUILD)

# The Llama block at batch 1 and 16, on 1 and all threads (docs/performance.md).
demo: build
	$(BUILD)/bin/r2q-demo

# Quantization speed, then the linear-layer table (docs/performance.md):
# every shape, batch and thread count with cold weights (a few minutes
# on a quiet 2-core machine). A subset: make bench BENCH_ARGS="attn.q
# --batches=1,16 --threads=2 --budget=0.1".
BENCH_ARGS ?=
bench: build
	$(BUILD)/bin/r2q-bench-quantize
	$(BUILD)/bin/r2q-bench-linear $(BENCH_ARGS)

# On a machine with an NVIDIA GPU (docs/gpu.md): the runtime's smoke test and
# the GPU kernels against the numerics core; the kernel benchmark against
# torch's fp16 cuBLAS. The harness is built where ptxas and cuda.h exist;
# scripts/gpu-check.sh runs both from a build carried to a GPU machine.
# (run_harness: after a kernel's fault, the rest of the cases run in a new
# process.)
test-gpu: build
	$(BUILD)/bin/r2q-gpu-smoke
	bash -c 'source scripts/gpu-check.sh && run_harness $(BUILD) check'
	bash -c 'source scripts/gpu-check.sh && run_harness $(BUILD) bounds'

bench-gpu: build
	bash -c 'source scripts/gpu-check.sh && run_harness $(BUILD) bench'
	python3 scripts/gpu-torch-baseline.py

# SmolLM2-135M greedy-decoding a prompt with every linear layer on r2q's
# compiled kernels (R2Q greedy, 2 planes, G=128), tokens/s against the float
# numpy model and the float model compiled by r2q-cpu-pipeline
# (docs/accuracy.md). Installs the eval venv (build-eval/venv) if missing.
GENERATE_ARGS ?= --max-new 32
generate: build
	@scripts/install-eval-deps.sh
	PYTHONPATH=$(BUILD)/python:python build-eval/venv/bin/python -m r2q_eval \
	  generate --compiled $(GENERATE_ARGS)

# The one table of docs/accuracy.md: perplexity, bits per weight and mean
# per-layer reconstruction error of every post-training method on the 32
# evaluation windows (build-eval/eval-table.md; rows cached in build-eval/rows,
# so a rerun evaluates only what is missing). 56 min on the loaded 2-core
# machine (26 min of CPU; docs/accuracy.md).
.PHONY: eval eval-qat
EVAL_ARGS ?=
eval: build
	@scripts/install-eval-deps.sh
	PYTHONPATH=$(BUILD)/python:python build-eval/venv/bin/python -m r2q_eval table $(EVAL_ARGS)

# Quantization-aware fine-tuning with distillation from the float model
# (R2QLinear with outliers, then 2-bit round-to-nearest the same way), the
# learned R2Q code on r2q's compiled kernels, and the perplexity curves
# (build-eval/qat/qat-curve.csv, .svg). Needs torch: the torch venv with the
# eval packages added. Resumable: state in build-eval/qat/. QAT_ARGS go to
# both runs (e.g. --torch-threads 1 --steps 150).
QAT_ARGS ?=
QAT_PYTHON := PYTHONPATH=$(BUILD)/python:python build-torch/venv/bin/python -m r2q_eval
eval-qat: build
	@scripts/install-torch-deps.sh
	@scripts/install-eval-deps.sh build-torch/venv
	$(QAT_PYTHON) qat --method r2q --compiled $(QAT_ARGS)
	$(QAT_PYTHON) qat --method rtn $(QAT_ARGS)
	$(QAT_PYTHON) qat-plot

format:
	git ls-files '*.cpp' '*.h' | xargs clang-format-22 -i

clean:
	rm -rf $(BUILD)
