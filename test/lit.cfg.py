# lit configuration of the r2q regression tests (test/). Configured values
# come from lit.site.cfg.py in the build tree.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "r2q"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.r2q_obj_root, "test")
# Fixtures and inputs are read by tests, not run as tests.
config.excludes = ["Unit", "fixtures", "Inputs", "CMakeLists.txt", "README.md"]

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["r2q-opt", "r2q-bench-tiling", "mlir-opt", "mlir-runner", "mlir-translate"],
    [config.r2q_tools_dir, config.llvm_tools_dir],
)
config.substitutions.append(("%mlir_lib_dir", config.mlir_lib_dir))
config.substitutions.append(
    ("%r2q_plugin", os.path.join(config.r2q_obj_root, "lib", "R2QPlugin.so"))
)
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%r2q_src_root", config.r2q_src_root))
config.substitutions.append(("%r2q_obj_root", config.r2q_obj_root))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"
if config.r2q_sanitized:
    config.available_features.add("asan")

# libr2q_cuda_runtime.so and r2q-gpu-smoke are built where cuda.h was found;
# ptxas is looked up in PATH, then in the CUDA toolkit's usual place.
import lit.util

r2q_cuda_runtime = os.path.join(config.r2q_obj_root, "lib", "libr2q_cuda_runtime.so")
if os.path.exists(r2q_cuda_runtime):
    config.available_features.add("cuda-runtime")
    config.substitutions.append(("%r2q_cuda_runtime", r2q_cuda_runtime))
    llvm_config.add_tool_substitutions(["r2q-gpu-smoke", "r2q-demo"], [config.r2q_tools_dir])
    config.substitutions.append(
        ("%r2q_fake_cuda", os.path.join(config.r2q_obj_root, "lib", "libr2q_fake_cuda.so"))
    )
    config.substitutions.append(
        (
            "%r2q_fake_driver_tests",
            os.path.join(config.r2q_obj_root, "unittests", "R2QCudaRuntimeFakeDriverTests"),
        )
    )
r2q_ptxas = lit.util.which("ptxas") or lit.util.which("ptxas", "/usr/local/cuda/bin")
if r2q_ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", r2q_ptxas))
    # gpu-module-to-binary finds ptxas through CUDA_ROOT.
    config.substitutions.append(
        ("%cuda_root", os.path.dirname(os.path.dirname(os.path.realpath(r2q_ptxas))))
    )
# The GPU harness (bench/gpu) is built where ptxas and cuda.h exist.
if os.path.exists(os.path.join(config.r2q_tools_dir, "r2q-gpu-bench")):
    config.available_features.add("gpu-bench")
    llvm_config.add_tool_substitutions(["r2q-gpu-bench"], [config.r2q_tools_dir])
