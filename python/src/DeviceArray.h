//===- DeviceArray.h - f32 arrays in GPU memory, for Python -----*- C++ -*-===//
//
// r2q.DeviceArray: a result of a GPU function left in device memory. It
// exposes __cuda_array_interface__ (version 3), so torch.as_tensor(result,
// device="cuda") and CuPy take it without a copy, and it frees its buffer
// when the last reference goes. The other direction: any argument with a
// __cuda_array_interface__ (torch and CuPy tensors, a DeviceArray) is read
// here as a C-contiguous float32 array in device memory.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PYTHON_DEVICEARRAY_H
#define R2Q_PYTHON_DEVICEARRAY_H

#include "DeviceCall.h"

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace r2q::python {

/// A row-major f32 array in device memory that frees its buffer.
class DeviceArray {
public:
  explicit DeviceArray(DeviceResult result) : result(std::move(result)) {}
  DeviceArray(const DeviceArray &) = delete;
  DeviceArray &operator=(const DeviceArray &) = delete;
  ~DeviceArray() { freeDeviceBuffer(result.allocated); }

  const DeviceResult &buffer() const { return result; }

private:
  DeviceResult result;
};

/// A shape as a Python tuple, a dynamic size (negative) as None.
pybind11::tuple shapeTuple(const std::vector<int64_t> &shape);

/// The device argument `value` describes with __cuda_array_interface__
/// (with, from version 3 on, the stream it was written on), or nullopt when
/// it has none; a type_error or value_error naming `what` ("argument 1 of
/// @main") when it is not a C-contiguous float32 array.
std::optional<CallArgument> readCudaArrayInterface(pybind11::handle value,
                                                   const std::string &what);

/// r2q.DeviceArray.
void defineDeviceArray(pybind11::module_ &module);

} // namespace r2q::python

#endif // R2Q_PYTHON_DEVICEARRAY_H
