//===- JitCall.h - Calling compiled functions on f32 buffers ----*- C++ -*-===//
//
// r2q.compile calls functions whose arguments and results are ranked f32
// tensors. After the CPU pipeline each is a memref; through the C interface
// (_mlir_ciface_<name>) an argument is a pointer to a StridedMemRefType
// descriptor and the results are written to a descriptor (or a struct of
// descriptors) passed first. This file packs and unpacks those descriptors
// for any rank; it knows nothing of Python.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PYTHON_JITCALL_H
#define R2Q_PYTHON_JITCALL_H

#include "r2q/Runtime/Jit.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace r2q::python {

/// The shapes of an entry function's ranked f32 tensor arguments and
/// results; dynamic dimensions are -1.
struct EntrySignature {
  std::vector<std::vector<int64_t>> arguments;
  std::vector<std::vector<int64_t>> results;
};

/// Reads the signature of func.func @`entry` in `module`; fails with a
/// message when there is no such function or a type is not a ranked f32
/// tensor.
llvm::Expected<EntrySignature> readEntrySignature(mlir::ModuleOp module,
                                                  llvm::StringRef entry);

/// The number of elements of an array of `shape`.
int64_t elementCount(const std::vector<int64_t> &shape);

/// Whether `strides` (in elements) lay an array of `shape` out row-major
/// without gaps (a dimension of size 1 may have any stride).
bool isRowMajor(const std::vector<int64_t> &shape,
                const std::vector<int64_t> &strides);

/// A row-major f32 array the caller owns.
struct InputBuffer {
  const float *data;
  std::vector<int64_t> shape;
};

/// A result as the compiled code returned it.
struct ReturnedBuffer {
  /// What the code allocated (free() it when `owned`), and the first element.
  float *allocated = nullptr;
  float *data = nullptr;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  /// False when the buffer is a constant global or lies inside an argument
  /// or an earlier result: it must be copied, never freed.
  bool owned = false;

  bool isRowMajor() const;
  int64_t elementCount() const;
};

/// Calls `_mlir_ciface_<entry>` with one descriptor per input and returns the
/// results' descriptors, each of the rank `resultRanks` gives.
llvm::Expected<std::vector<ReturnedBuffer>>
callEntry(JitModule &module, const std::string &entry,
          const std::vector<InputBuffer> &inputs,
          const std::vector<int> &resultRanks);

/// Copies a (possibly strided) returned buffer into row-major `out`.
void copyRowMajor(const ReturnedBuffer &buffer, float *out);

} // namespace r2q::python

#endif // R2Q_PYTHON_JITCALL_H
