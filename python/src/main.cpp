//===- main.cpp - The r2q Python extension module -------------------------===//

#include "Bindings.h"

PYBIND11_MODULE(_r2q, module) {
  module.doc() = "r2q's C++ core: R2Q quantization and the MLIR compiler "
                 "(import r2q, not r2q._r2q)";
  r2q::python::init_quant(module);
  r2q::python::init_compiler(module);
}
