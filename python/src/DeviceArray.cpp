//===- DeviceArray.cpp - f32 arrays in GPU memory, for Python -------------===//

#include "DeviceArray.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace py = pybind11;

namespace r2q::python {

py::tuple shapeTuple(const std::vector<int64_t> &shape) {
  py::list sizes;
  for (int64_t size : shape)
    sizes.append(size < 0 ? py::object(py::none()) : py::int_(size));
  return py::tuple(sizes);
}

namespace {

/// Whether `strides` (in bytes) are those of a C-contiguous f32 array of
/// `shape` (a dimension of size 1 may have any stride).
bool isCContiguous(const std::vector<int64_t> &shape,
                   std::vector<int64_t> strides) {
  const int64_t bytes = sizeof(float);
  for (size_t dim = 0; dim < shape.size(); ++dim) {
    if (shape[dim] != 1 && strides[dim] % bytes)
      return false;
    strides[dim] /= bytes;
  }
  return isRowMajor(shape, strides);
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

/// `value`'s __cuda_array_interface__, or None where it has none (an
/// AttributeError, as a torch tensor on the CPU raises); a type_error naming
/// `what` when reading it fails otherwise (a torch tensor that requires grad).
py::object cudaArrayInterfaceOf(py::handle value, const std::string &what) {
  PyObject *raw =
      PyObject_GetAttrString(value.ptr(), "__cuda_array_interface__");
  if (raw)
    return py::reinterpret_steal<py::object>(raw);
  py::error_already_set error;
  if (error.matches(PyExc_AttributeError))
    return py::none();
  throw py::type_error(what + " cannot be read as a GPU array: " +
                       py::str(error.value()).cast<std::string>());
}

/// The integers of the tuple `entry` of a __cuda_array_interface__; a
/// cast_error where it is not one.
std::vector<int64_t> integers(py::handle entry) {
  if (!py::isinstance<py::tuple>(entry))
    throw py::cast_error("not a tuple");
  std::vector<int64_t> values;
  for (py::handle item : py::reinterpret_borrow<py::tuple>(entry))
    values.push_back(item.cast<int64_t>());
  return values;
}

} // namespace

/// What a call must wait for before reading the array: per the interface's
/// version 3, its "stream" (None: nothing; 0, which the protocol leaves
/// ambiguous, 2, the per-thread default stream of the thread that wrote the
/// array, which need not be the caller's, and a missing stream: the whole
/// device).
/// CU_STREAM_PER_THREAD.
constexpr uintptr_t kPerThreadDefaultStream = 2;

ReadyAfter readyAfter(const py::dict &interface) {
  ReadyAfter ready;
  if (!interface.contains("version") || !interface.contains("stream") ||
      interface["version"].cast<int>() < 3)
    return ready;
  py::handle stream = interface["stream"];
  if (stream.is_none()) {
    ready.kind = ReadyAfter::Nothing;
  } else if (uintptr_t handle = stream.cast<uintptr_t>();
             handle != 0 && handle != kPerThreadDefaultStream) {
    ready.kind = ReadyAfter::Stream;
    ready.stream = handle;
  }
  return ready;
}

std::optional<CallArgument> readCudaArrayInterface(py::handle value,
                                                   const std::string &what) {
  py::object object = cudaArrayInterfaceOf(value, what);
  if (object.is_none())
    return std::nullopt;
  auto malformed = [&](const std::string &why) {
    return py::value_error(what +
                           " has a malformed __cuda_array_interface__: " + why);
  };
  if (!py::isinstance<py::dict>(object))
    throw malformed("not a dict");
  py::dict interface = py::reinterpret_borrow<py::dict>(object);
  for (const char *key : {"shape", "typestr", "data"})
    if (!interface.contains(key))
      throw malformed(std::string("no '") + key + "'");
  std::string typestr = py::str(interface["typestr"]);
  if (typestr != "<f4")
    throw py::type_error(what +
                         " must be float32 (typestr <f4), got a GPU "
                         "array of typestr " +
                         typestr);
  if (interface.contains("mask") && !interface["mask"].is_none())
    throw py::value_error(what + " is a masked GPU array");
  InputBuffer buffer;
  py::tuple data;
  try {
    buffer.shape = integers(interface["shape"]);
    if (std::any_of(buffer.shape.begin(), buffer.shape.end(),
                    [](int64_t size) { return size < 0; }))
      throw malformed("a negative size in 'shape'");
    if (!py::isinstance<py::tuple>(interface["data"]) ||
        py::len(interface["data"]) != 2)
      throw malformed("'data' is not (pointer, read-only)");
    data = py::reinterpret_borrow<py::tuple>(interface["data"]);
    buffer.data = reinterpret_cast<const float *>(data[0].cast<uintptr_t>());
    if (interface.contains("strides") && !interface["strides"].is_none()) {
      std::vector<int64_t> strides = integers(interface["strides"]);
      if (strides.size() != buffer.shape.size())
        throw malformed("'strides' and 'shape' differ in length");
      if (!isCContiguous(buffer.shape, strides))
        throw py::value_error(what + " must be a C-contiguous GPU array "
                                     "(.contiguous() makes one)");
    }
    return CallArgument{buffer, /*onDevice=*/true, readyAfter(interface)};
  } catch (const py::cast_error &) {
    throw malformed("'shape', 'strides' or 'data' are not tuples of "
                    "integers, or 'version' or 'stream' not an integer");
  }
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
