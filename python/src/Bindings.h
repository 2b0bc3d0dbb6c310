//===- Bindings.h - The areas of the r2q Python module ----------*- C++ -*-===//
//
// The extension r2q._r2q is a thin layer over the r2q libraries, one init_*
// function per area (Triton-style); main.cpp calls each.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PYTHON_BINDINGS_H
#define R2Q_PYTHON_BINDINGS_H

#include <pybind11/pybind11.h>

namespace r2q::python {

/// quantize, dequantize, quantize_rtn and QuantizedWeight over the numerics
/// core (lib/Quant).
void init_quant(pybind11::module_ &module);

/// run_pipeline, compile and CompileError over the MLIR passes
/// (lib/InitAll.cpp) and the JIT (lib/Runtime).
void init_compiler(pybind11::module_ &module);

} // namespace r2q::python

#endif // R2Q_PYTHON_BINDINGS_H
