//===- Compiler.cpp - Python bindings of the r2q compiler -----------------===//
//
// run_pipeline parses IR text, runs a textual pass pipeline and prints the
// result; compile also lowers it to machine code with the JIT and returns a
// callable on numpy float32 arrays (after r2q-gpu-pipeline, one that runs
// the kernels on the GPU: DeviceCall.h). Each call works in a fresh MLIRContext
// that sees what r2q-opt sees (r2q::registerR2QAndUpstream), with the GIL
// released. Diagnostics are collected, never printed: errors raise
// r2q.CompileError carrying all of them, and those of a successful run can be
// returned.
//
//===----------------------------------------------------------------------===//

#include "Bindings.h"
#include "DeviceArray.h"
#include "DeviceCall.h"
#include "Diagnostics.h"
#include "JitCall.h"

#include "r2q/InitAll.h"
#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/ModuleStats.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace mlir;

namespace r2q::python {
namespace {

/// r2q, every upstream dialect and pass, and the translations the JIT needs;
/// registered once, shared by every context.
const DialectRegistry &compilerRegistry() {
  static const DialectRegistry *registry = [] {
    auto *built = new DialectRegistry();
    registerR2QAndUpstream(*built);
    registerJitTranslations(*built);
    return built;
  }();
  return *registry;
}

/// The passes of `pipeline`, which may be written with or without the
/// builtin.module(...) anchor.
llvm::StringRef passesOf(llvm::StringRef pipeline) {
  llvm::StringRef trimmed = pipeline.trim();
  if (trimmed.consume_front("builtin.module(") && trimmed.consume_back(")"))
    return trimmed;
  return pipeline;
}

OwningOpRef<ModuleOp> parseModule(MLIRContext &context, const std::string &ir,
                                  const std::string &sourceName,
                                  const DiagnosticCollector &diagnostics) {
  ParserConfig config(&context);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(ir, config, sourceName);
  if (!module)
    throw CompileFailure(
        formatDiagnostics("the IR does not parse", diagnostics.records()),
        diagnostics.records());
  return module;
}

void runPasses(ModuleOp module, const std::string &pipeline,
               const DiagnosticCollector &diagnostics) {
  PassManager passes(module->getContext());
  std::string parseErrors;
  llvm::raw_string_ostream errorStream(parseErrors);
  if (failed(parsePassPipeline(passesOf(pipeline), passes, errorStream)))
    throw py::value_error("invalid pass pipeline '" + pipeline +
                          "': " + parseErrors);
  if (failed(passes.run(module)))
    throw CompileFailure(
        formatDiagnostics("the pass pipeline '" + pipeline + "' failed",
                          diagnostics.records()),
        diagnostics.records());
}

py::list diagnosticList(const std::vector<DiagnosticRecord> &records) {
  py::list list;
  for (const DiagnosticRecord &record : records)
    list.append(
        py::make_tuple(record.severity, record.location, record.message));
  return list;
}

struct PipelineResult {
  std::string ir;
  std::vector<DiagnosticRecord> diagnostics;
};

PipelineResult runPipelineOnText(const std::string &ir,
                                 const std::string &pipeline,
                                 const std::string &sourceName) {
  MLIRContext context(compilerRegistry());
  DiagnosticCollector diagnostics(context);
  OwningOpRef<ModuleOp> module =
      parseModule(context, ir, sourceName, diagnostics);
  runPasses(*module, pipeline, diagnostics);
  PipelineResult result;
  llvm::raw_string_ostream os(result.ir);
  module->print(os);
  result.diagnostics = diagnostics.records();
  return result;
}

py::object runPipeline(const std::string &ir, const std::string &pipeline,
                       bool returnDiagnostics, const std::string &sourceName) {
  PipelineResult result;
  {
    py::gil_scoped_release release;
    result = runPipelineOnText(ir, pipeline, sourceName);
  }
  if (!returnDiagnostics)
    return py::str(result.ir);
  return py::make_tuple(result.ir, diagnosticList(result.diagnostics));
}

//===----------------------------------------------------------------------===//
// compile
//===----------------------------------------------------------------------===//

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "(";
  for (size_t dim = 0; dim < shape.size(); ++dim)
    text += (dim ? ", " : "") +
            (shape[dim] < 0 ? std::string("?") : std::to_string(shape[dim]));
  return text + (shape.size() == 1 ? ",)" : ")");
}

std::string countText(size_t count, const std::string &noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

/// "a float64 array" or the Python type's name.
std::string describeValue(py::handle value) {
  if (py::isinstance<py::array>(value))
    return "a " +
           py::str(py::reinterpret_borrow<py::array>(value).dtype())
               .cast<std::string>() +
           " array";
  return py::str(py::type::handle_of(value).attr("__name__"))
      .cast<std::string>();
}

/// A compiled entry function, called on numpy float32 arrays.
class CompiledFunction {
public:
  std::unique_ptr<JitModule> jit;
  std::string entry;
  EntrySignature signature;
  int64_t constantBytes = 0;
  std::vector<DiagnosticRecord> diagnostics;
  /// Lowered by r2q-gpu-pipeline: its arguments and results are device
  /// memory, its kernels run on the GPU (compiled for `chip`).
  bool gpu = false;
  std::string chip;

  ~CompiledFunction() {
    if (gpu && jit)
      releaseModule(std::move(jit));
  }

  py::object call(const py::args &args) {
    // The host arrays (converted to C-contiguous float32) live until the
    // call returns.
    std::vector<py::array> hostArrays;
    std::vector<CallArgument> arguments = checkArguments(args, hostArrays);
    std::vector<int> resultRanks;
    for (const std::vector<int64_t> &shape : signature.results)
      resultRanks.push_back(shape.size());
    bool anyOnDevice = std::any_of(
        arguments.begin(), arguments.end(),
        [](const CallArgument &argument) { return argument.onDevice; });
    if (anyOnDevice)
      return callKeepingResults(arguments, resultRanks);
    if (gpu)
      return callOnGPU(arguments, resultRanks);
    std::vector<InputBuffer> inputs;
    for (const CallArgument &argument : arguments)
      inputs.push_back(argument.buffer);
    return packResults(withoutGIL<std::vector<ReturnedBuffer>>(
        "", [&] { return callEntry(*jit, entry, inputs, resultRanks); }));
  }

private:
  /// `run()` with the GIL released; its error becomes a RuntimeError
  /// "calling @entry<where> failed: ...".
  template <typename Result>
  Result withoutGIL(const std::string &where,
                    const std::function<llvm::Expected<Result>()> &run) {
    py::gil_scoped_release release;
    llvm::Expected<Result> result = run();
    if (!result)
      throw std::runtime_error("calling @" + entry + where + " failed: " +
                               llvm::toString(result.takeError()));
    return std::move(*result);
  }

  /// The inputs copied to the device, the call, the results copied back.
  py::object callOnGPU(const std::vector<CallArgument> &arguments,
                       const std::vector<int> &resultRanks) {
    std::vector<HostResult> results =
        withoutGIL<std::vector<HostResult>>(" on the GPU", [&] {
          return callOnDevice(*jit, entry, chip, arguments, resultRanks);
        });
    std::vector<py::object> arrays;
    for (const HostResult &result : results) {
      std::vector<py::ssize_t> shape(result.shape.begin(), result.shape.end());
      py::array_t<float> array(shape);
      std::copy(result.values.begin(), result.values.end(),
                array.mutable_data());
      arrays.push_back(std::move(array));
    }
    return packObjects(arrays);
  }

  /// Device arguments (GPU arrays a GPU function reads where they are)
  /// and host ones: the results stay on the device, as r2q.DeviceArray.
  py::object callKeepingResults(const std::vector<CallArgument> &arguments,
                                const std::vector<int> &resultRanks) {
    std::vector<DeviceResult> results =
        withoutGIL<std::vector<DeviceResult>>(" on the GPU", [&] {
          return callKeepingResultsOnDevice(*jit, entry, chip, arguments,
                                            resultRanks);
        });
    std::vector<py::object> arrays;
    for (DeviceResult &result : results)
      arrays.push_back(
          py::cast(std::make_shared<DeviceArray>(std::move(result))));
    return packObjects(arrays);
  }

  /// The arguments, each of its declared shape: C-contiguous float32 host
  /// arrays (kept in `hostArrays`) or, for a GPU function, float32 arrays
  /// in GPU memory (__cuda_array_interface__).
  std::vector<CallArgument>
  checkArguments(const py::args &args,
                 std::vector<py::array> &hostArrays) const {
    if (args.size() != signature.arguments.size())
      throw py::type_error("@" + entry + " takes " +
                           countText(signature.arguments.size(), "argument") +
                           ", got " + std::to_string(args.size()));
    std::vector<CallArgument> arguments;
    for (size_t index = 0; index < args.size(); ++index) {
      std::string what = "argument " + std::to_string(index) + " of @" + entry;
      CallArgument argument;
      if (std::optional<CallArgument> device =
              readCudaArrayInterface(args[index], what)) {
        if (!gpu)
          throw py::type_error(
              what + " is in GPU memory (__cuda_array_interface__), but @" +
              entry + " was compiled for the CPU: pass a numpy array");
        checkOnGpuZero(device->buffer, what);
        argument = std::move(*device);
      } else {
        argument.buffer = hostArgument(args[index], what, hostArrays);
      }
      if (!matches(signature.arguments[index], argument.buffer.shape))
        throw py::value_error(what + " must have shape " +
                              shapeText(signature.arguments[index]) + ", got " +
                              shapeText(argument.buffer.shape));
      arguments.push_back(std::move(argument));
    }
    return arguments;
  }

  /// The kernels run on GPU 0: a GPU array elsewhere is refused (where no
  /// GPU can be used, the call itself fails with the reason).
  static void checkOnGpuZero(const InputBuffer &buffer,
                             const std::string &what) {
    if (!buffer.data)
      return; // An empty array.
    llvm::Expected<int> device = deviceOfPointer(buffer.data);
    if (!device) {
      llvm::consumeError(device.takeError());
      return;
    }
    if (*device < 0)
      throw py::value_error(what + " claims to be in GPU memory, but the CUDA "
                                   "driver does not know its address");
    if (*device != 0)
      throw py::value_error(what + " is in the memory of GPU " +
                            std::to_string(*device) +
                            ", but the kernels run on GPU 0: copy it there");
  }

  /// `value` as a C-contiguous float32 numpy array, kept in `hostArrays`.
  InputBuffer hostArgument(py::handle value, const std::string &what,
                           std::vector<py::array> &hostArrays) const {
    if (!py::isinstance<py::array_t<float>>(value))
      throw py::type_error(
          what + " must be a numpy float32 array" +
          (gpu ? " or a float32 array in GPU memory (__cuda_array_interface__)"
               : "") +
          ", got " + describeValue(value));
    py::array array = py::array::ensure(value, py::array::c_style);
    hostArrays.push_back(array);
    return {static_cast<const float *>(array.data()),
            {array.shape(), array.shape() + array.ndim()}};
  }

  static bool matches(const std::vector<int64_t> &declared,
                      const std::vector<int64_t> &shape) {
    if (declared.size() != shape.size())
      return false;
    for (size_t dim = 0; dim < shape.size(); ++dim)
      if (declared[dim] >= 0 && declared[dim] != shape[dim])
        return false;
    return true;
  }

  /// A numpy array of one result: the buffer itself when the code allocated
  /// it in row-major order (freed with the array), else a copy.
  static py::array toArray(const ReturnedBuffer &buffer) {
    std::vector<py::ssize_t> shape(buffer.shape.begin(), buffer.shape.end());
    if (buffer.owned && buffer.isRowMajor()) {
      py::capsule owner(buffer.allocated,
                        [](void *allocated) { std::free(allocated); });
      return py::array_t<float>(shape, buffer.data, owner);
    }
    py::array_t<float> copy(shape);
    copyRowMajor(buffer, copy.mutable_data());
    if (buffer.owned)
      std::free(buffer.allocated);
    return copy;
  }

  static py::object packResults(const std::vector<ReturnedBuffer> &returned) {
    std::vector<py::object> arrays;
    for (const ReturnedBuffer &buffer : returned)
      arrays.push_back(toArray(buffer));
    return packObjects(arrays);
  }

  /// No result: None; one: the array; several: a tuple.
  static py::object packObjects(const std::vector<py::object> &arrays) {
    if (arrays.empty())
      return py::none();
    if (arrays.size() == 1)
      return arrays.front();
    py::tuple results(arrays.size());
    for (size_t index = 0; index < arrays.size(); ++index)
      results[index] = arrays[index];
    return results;
  }
};

/// Whether `module` was lowered for a GPU: it embeds kernels (gpu.binary)
/// or calls the CUDA runtime (mgpu*: allocations, copies), as
/// r2q-gpu-pipeline's output does even without kernels.
bool containsGPUCode(ModuleOp module) {
  if (!module.getOps<gpu::BinaryOp>().empty())
    return true;
  return llvm::any_of(module.getOps<LLVM::LLVMFuncOp>(),
                      [](LLVM::LLVMFuncOp function) {
                        return function.getName().starts_with("mgpu");
                      });
}

/// The chip the module's kernels are compiled for (the first NVVM target
/// of its gpu.binary ops), or empty.
std::string kernelChip(ModuleOp module) {
  for (gpu::BinaryOp binary : module.getOps<gpu::BinaryOp>())
    for (Attribute object : binary.getObjects())
      if (auto target = dyn_cast<NVVM::NVVMTargetAttr>(
              cast<gpu::ObjectAttr>(object).getTarget()))
        return target.getChip().str();
  return "";
}

std::unique_ptr<CompiledFunction> compileText(const std::string &ir,
                                              const std::string &entry,
                                              const std::string &pipeline,
                                              const std::string &sourceName) {
  py::gil_scoped_release release;
  MLIRContext context(compilerRegistry());
  DiagnosticCollector diagnostics(context);
  OwningOpRef<ModuleOp> module =
      parseModule(context, ir, sourceName, diagnostics);
  auto compiled = std::make_unique<CompiledFunction>();
  compiled->entry = entry;
  auto signature = readEntrySignature(*module, entry);
  if (!signature)
    throw py::value_error(llvm::toString(signature.takeError()));
  compiled->signature = std::move(*signature);
  runPasses(*module, pipeline, diagnostics);
  compiled->constantBytes = countConstantBytes(*module);
  compiled->gpu = containsGPUCode(*module);
  compiled->chip = kernelChip(*module);
  // The runtime library where it loads (a wheel built elsewhere may not
  // have it: its calls then raise gpu_unavailable_reason()).
  std::vector<std::string> libraries;
  if (compiled->gpu && gpuLibraryLoads())
    libraries.push_back(cudaRuntimeLibrary());
  auto jit = JitModule::compile(*module, {}, libraries);
  if (!jit)
    throw CompileFailure(
        formatDiagnostics("the module does not compile to machine code: " +
                              llvm::toString(jit.takeError()),
                          diagnostics.records()),
        diagnostics.records());
  compiled->jit = std::move(*jit);
  compiled->diagnostics = diagnostics.records();
  return compiled;
}

py::list shapeTuples(const std::vector<std::vector<int64_t>> &shapes) {
  py::list list;
  for (const std::vector<int64_t> &shape : shapes)
    list.append(shapeTuple(shape));
  return list;
}

void defineCompiledFunction(py::module_ &module) {
  py::class_<CompiledFunction>(
      module, "CompiledFunction",
      "A function compiled to machine code by r2q.compile; call it with "
      "numpy float32 arrays.")
      .def("__call__", &CompiledFunction::call)
      .def_readonly("entry", &CompiledFunction::entry)
      .def_readonly("gpu", &CompiledFunction::gpu,
                    "whether the function runs kernels on an NVIDIA GPU "
                    "(compiled with r2q-gpu-pipeline): a call on numpy "
                    "arrays copies them to the device and the results back; "
                    "a call with an argument in GPU memory (a torch or CuPy "
                    "tensor, an r2q.DeviceArray: __cuda_array_interface__) "
                    "reads it where it is and returns r2q.DeviceArray "
                    "results")
      .def_property_readonly(
          "argument_shapes",
          [](const CompiledFunction &f) {
            return shapeTuples(f.signature.arguments);
          },
          "declared argument shapes, None for dynamic sizes")
      .def_property_readonly(
          "result_shapes",
          [](const CompiledFunction &f) {
            return shapeTuples(f.signature.results);
          },
          "declared result shapes, None for dynamic sizes")
      .def_readonly("constant_bytes", &CompiledFunction::constantBytes,
                    "bytes of constant data the compiled program carries "
                    "(packed weights and scales after r2q-quantize-linear)")
      .def_property_readonly(
          "diagnostics",
          [](const CompiledFunction &f) {
            return diagnosticList(f.diagnostics);
          },
          "(severity, location, message) of the compilation's remarks and "
          "warnings");
}

/// r2q.CompileError: an Exception subclass whose instances carry
/// .diagnostics, a list of (severity, location, message).
void defineCompileError(py::module_ &module) {
  static PyObject *compileError = PyErr_NewExceptionWithDoc(
      "r2q.CompileError",
      "MLIR rejected the IR or a pass failed; .diagnostics lists every "
      "(severity, location, message).",
      PyExc_Exception, nullptr);
  module.add_object("CompileError", py::handle(compileError));
  py::register_exception_translator([](std::exception_ptr pending) {
    try {
      if (pending)
        std::rethrow_exception(pending);
    } catch (const CompileFailure &failure) {
      py::object error =
          py::reinterpret_borrow<py::object>(compileError)(failure.what());
      error.attr("diagnostics") = diagnosticList(failure.diagnostics());
      PyErr_SetObject(compileError, error.ptr());
    }
  });
}

} // namespace

void init_compiler(py::module_ &module) {
  defineCompileError(module);
  defineDeviceArray(module);
  defineCompiledFunction(module);
  module.def("run_pipeline", &runPipeline, py::arg("ir"), py::arg("pipeline"),
             py::arg("return_diagnostics") = false,
             py::arg("source_name") = "<input>",
             "Parses MLIR text, runs a textual pass pipeline (with or without "
             "the builtin.module(...) anchor) and returns the printed module, "
             "or (text, diagnostics) with return_diagnostics. Raises "
             "CompileError when the IR does not parse or verify or a pass "
             "fails, ValueError when the pipeline does not parse.");
  module.def(
      "gpu_unavailable_reason",
      []() -> py::object {
        std::string reason;
        {
          py::gil_scoped_release release; // the driver's first cuInit
          reason = gpuUnavailableReason();
        }
        return reason.empty() ? py::object(py::none()) : py::str(reason);
      },
      "None when functions compiled with r2q-gpu-pipeline can run here, "
      "otherwise why not (no CUDA runtime library in this build, no driver, "
      "no device), the message their calls raise.");
  module.def(
      "gpu_chip",
      []() -> py::object {
        std::string chip;
        {
          py::gil_scoped_release release;
          chip = gpuChip();
        }
        return chip.empty() ? py::object(py::none()) : py::str(chip);
      },
      "The chip of GPU 0 (\"sm_86\"), the value of r2q-gpu-pipeline's chip "
      "option for it, or None where no GPU can be used.");
  module.def(
      "trim_gpu_memory",
      [] {
        llvm::Error error = llvm::Error::success();
        {
          py::gil_scoped_release release; // waits for the GPUs
          error = trimGpuMemoryPools();
        }
        if (error)
          throw std::runtime_error(llvm::toString(std::move(error)));
      },
      "Gives back to the GPUs the device memory that r2q keeps for the next "
      "calls (each GPU's memory pool holds the most that a call ever had "
      "live), after waiting for their work; the next calls take it again. "
      "Raises RuntimeError where no GPU can be used.");
  module.def("compile", &compileText, py::arg("ir"), py::arg("entry") = "main",
             py::arg("pipeline") = "r2q-quantize-linear,r2q-cpu-pipeline",
             py::arg("source_name") = "<input>",
             "Runs the pipeline (ending in the LLVM dialect) and compiles the "
             "module with the JIT; returns a CompiledFunction calling @entry, "
             "whose arguments and results must be ranked f32 tensors, on "
             "numpy float32 arrays. After r2q-gpu-pipeline the kernels run "
             "on the GPU: numpy arrays are copied to and from the device; "
             "arrays already in GPU memory (torch or CuPy tensors, "
             "DeviceArray) are read where they are and the results stay "
             "there, as DeviceArray. A call raises RuntimeError with "
             "gpu_unavailable_reason() where no GPU can be used.");
}

} // namespace r2q::python
