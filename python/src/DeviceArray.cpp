//===- DeviceArray.cpp - f32 arrays in GPU memory, for Python -------------===//

#include "DeviceArray.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace py = pybind11;

namespace r2q::python {
namespace {

py::tuple shapeTuple(const std::vector<int64_t> &shape) {
  py::tuple tuple(shape.size());
  for (size_t dim = 0; dim < shape.size(); ++dim)
    tuple[dim] = shape[dim];
  return tuple;
}

/// Whether `strides` (in bytes) are those of a C-contiguous f32 array of
/// `shape` (dimensions of size 1 may have any stride).
bool isCContiguous(const std::vector<int64_t> &shape,
                   const std::vector<int64_t> &strides) {
  int64_t expected = sizeof(float);
  for (size_t dim = shape.size(); dim-- > 0;) {
    if (shape[dim] != 1 && strides[dim] != expected)
      return false;
    expected *= shape[dim];
  }
  return true;
}

py::dict cudaArrayInterface(const DeviceArray &array) {
  py::dict interface;
  interface["shape"] = shapeTuple(array.buffer().shape);
  interface["typestr"] = "<f4";
  interface["data"] =
      py::make_tuple(reinterpret_cast<uintptr_t>(array.buffer().data), false);
  interface["strides"] = py::none();
  interface["version"] = 3;
  // The call that made the array synchronized its streams.
  interface["stream"] = py::none();
  return interface;
}

py::array_t<float> copyToNumpy(const DeviceArray &array) {
  const std::vector<int64_t> &shape = array.buffer().shape;
  py::array_t<float> host(std::vector<py::ssize_t>(shape.begin(), shape.end()));
  float *destination = host.mutable_data();
  int64_t count = static_cast<int64_t>(host.size());
  llvm::Error error = llvm::Error::success();
  {
    py::gil_scoped_release release;
    error = copyFromDevice(destination, array.buffer().data, count);
  }
  if (error)
    throw std::runtime_error("r2q.DeviceArray.numpy: " +
                             llvm::toString(std::move(error)));
  return host;
}

std::string describe(const DeviceArray &array) {
  std::string shape = py::str(shapeTuple(array.buffer().shape));
  return "r2q.DeviceArray(shape=" + shape + ", dtype=float32)";
}

} // namespace

std::optional<InputBuffer> readCudaArrayInterface(py::handle value,
                                                  const std::string &what) {
  if (!py::hasattr(value, "__cuda_array_interface__"))
    return std::nullopt;
  py::dict interface = value.attr("__cuda_array_interface__");
  std::string typestr = py::str(interface["typestr"]);
  if (typestr != "<f4")
    throw py::type_error(what +
                         " must be float32 (typestr <f4), got a GPU "
                         "array of typestr " +
                         typestr);
  if (interface.contains("mask") && !interface["mask"].is_none())
    throw py::value_error(what + " is a masked GPU array");
  InputBuffer buffer;
  for (py::handle size : py::tuple(interface["shape"]))
    buffer.shape.push_back(size.cast<int64_t>());
  if (interface.contains("strides") && !interface["strides"].is_none()) {
    std::vector<int64_t> strides;
    for (py::handle stride : py::tuple(interface["strides"]))
      strides.push_back(stride.cast<int64_t>());
    if (!isCContiguous(buffer.shape, strides))
      throw py::value_error(what + " must be a C-contiguous GPU array "
                                   "(.contiguous() makes one)");
  }
  buffer.data = reinterpret_cast<const float *>(
      py::tuple(interface["data"])[0].cast<uintptr_t>());
  return buffer;
}

void defineDeviceArray(py::module_ &module) {
  py::class_<DeviceArray, std::shared_ptr<DeviceArray>>(
      module, "DeviceArray",
      "A float32 result of a GPU function (r2q-gpu-pipeline) left in GPU "
      "memory, as a call whose arguments are in GPU memory returns it. It "
      "exposes __cuda_array_interface__, so torch.as_tensor(array, "
      "device='cuda') and cupy.asarray take it without a copy, it can be "
      "passed to the next call as it is, and numpy() copies it to the host. "
      "Its memory is freed when the last reference goes.")
      .def_property_readonly(
          "shape",
          [](const DeviceArray &array) {
            return shapeTuple(array.buffer().shape);
          },
          "the array's shape")
      .def_property_readonly(
          "dtype", [](const DeviceArray &) { return py::dtype::of<float>(); },
          "numpy.float32")
      .def_property_readonly("__cuda_array_interface__", &cudaArrayInterface)
      .def("numpy", &copyToNumpy, "a numpy copy of the array, on the host")
      .def("__repr__", &describe);
}

} // namespace r2q::python
