# r2q: the two commands of the README, and a few more for developers.
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run every test suite
# Both are quick when everything is already installed and built.

BUILD ?= build
LLVM_DIR := /usr/lib/llvm-22
CMAKE_FLAGS := -G Ninja \
  -DMLIR_DIR=$(LLVM_DIR)/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=$(LLVM_DIR)/bin/lit \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DPython3_EXECUTABLE=/usr/bin/python3 \
  -DR2Q_WERROR=ON

.PHONY: all deps configure build test demo bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD)

test: build
	@scripts/run-tests.sh $(BUILD)

demo: build
	$(BUILD)/bin/r2q-demo

bench: build
	$(BUILD)/bin/r2q-bench-quantize
	$(BUILD)/bin/r2q-bench-linear

format:
	git ls-files '*.cpp' '*.h' | xargs clang-format-22 -i

clean:
	rm -rf $(BUILD)
