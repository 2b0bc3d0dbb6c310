//===- Quant.cpp - Python bindings of the numerics core -------------------===//
//
// numpy in, numpy out. A C-contiguous float32, float16 or bfloat16 (ml_dtypes)
// weight is read in place through quant::MatrixView; other layouts are copied
// to C order first. The GIL is released while the core works, and the core's
// failures (NaN at a position, a group size that does not divide K, ...) are
// raised as ValueError with the core's message.
//
//===----------------------------------------------------------------------===//

#include "Bindings.h"

#include "r2q/Quant/Calibration.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/RoundToNearest.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace r2q::quant;

namespace r2q::python {
namespace {

/// A weight matrix viewed by the core, and the array that owns its memory.
struct WeightArray {
  py::array array;
  MatrixView view;
};

std::optional<FloatType> weightTypeOf(const py::dtype &dtype) {
  if (dtype.kind() == 'f' && dtype.itemsize() == 4)
    return FloatType::F32;
  if (dtype.kind() == 'f' && dtype.itemsize() == 2)
    return FloatType::F16;
  // ml_dtypes.bfloat16 is a numpy extension type, recognized by name.
  if (py::str(dtype.attr("name")).cast<std::string>() == "bfloat16" &&
      dtype.itemsize() == 2)
    return FloatType::BF16;
  return std::nullopt;
}

std::string shapeText(const py::array &array) {
  return py::str(py::tuple(array.attr("shape"))).cast<std::string>();
}

/// Views `weights` (2-D, N x K) for the core without copying when it is
/// C-contiguous; raises TypeError or ValueError on what the core cannot read.
WeightArray viewWeights(const py::array &weights, const char *caller) {
  if (weights.ndim() != 2)
    throw py::value_error(std::string(caller) +
                          " takes a 2-D weight (N x K), got shape " +
                          shapeText(weights));
  std::optional<FloatType> type = weightTypeOf(weights.dtype());
  if (!type || !weights.dtype().attr("isnative").cast<bool>())
    throw py::type_error(
        std::string(caller) +
        " takes float32, float16 or bfloat16 weights in native byte order, "
        "got " +
        py::str(weights.dtype()).cast<std::string>() +
        "; convert with w.astype(numpy.float32)");
  py::array contiguous =
      py::array::ensure(weights, py::array::c_style | py::array::forcecast);
  if (!contiguous)
    throw py::error_already_set();
  MatrixView view{contiguous.data(), *type, contiguous.shape(0),
                  contiguous.shape(1)};
  return {contiguous, view};
}

[[noreturn]] void raiseValueError(const Status &status) {
  throw py::value_error(status.message());
}

Method parseMethodArgument(const std::string &name) {
  if (std::optional<Method> method = parseMethod(name))
    return *method;
  throw py::value_error("unknown method '" + name +
                        "' (expected greedy or refined)");
}

FloatType parseScaleTypeArgument(const std::string &name) {
  if (std::optional<FloatType> type = parseFloatType(name))
    return *type;
  throw py::value_error("unknown scale type '" + name +
                        "' (expected f32, f16 or bf16)");
}

RoundToNearestKind parseRoundToNearestKind(const std::string &name) {
  if (name == "minmax")
    return RoundToNearestKind::MinMax;
  if (name == "absmax")
    return RoundToNearestKind::AbsMax;
  throw py::value_error("unknown round-to-nearest kind '" + name +
                        "' (expected minmax or absmax)");
}

/// A quantized N x K matrix in the canonical packed layout (docs/format.md)
/// and the scheme that produced it.
struct QuantizedWeight {
  PackedWeight weight;
  Scheme scheme;
};

/// A read-only numpy view of `data` kept alive by `owner`.
template <typename T>
py::array readOnlyView(const T *data, std::vector<py::ssize_t> shape,
                       py::handle owner) {
  py::array_t<T> view(shape, data, owner);
  view.attr("setflags")(py::arg("write") = false);
  return view;
}

FloatType parseOutlierTypeArgument(const std::string &name) {
  std::optional<FloatType> type = parseFloatType(name);
  if (type && *type != FloatType::BF16)
    return *type;
  throw py::value_error("unknown outlier type '" + name +
                        "' (expected f16 or f32)");
}

/// X^T X (K x K) or its diagonal (K) as contiguous float64, or an empty
/// array for None.
py::array_t<double> statisticsArray(const py::object &values,
                                    const char *name) {
  if (values.is_none())
    return py::array_t<double>();
  auto array =
      py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(
          values);
  if (!array)
    throw py::type_error(std::string("r2q.quantize: ") + name +
                         " must be a float array");
  return array;
}

QuantizedWeight
quantizeArray(const py::array &weights, int64_t groupSize, int planes,
              const std::string &method, const std::string &scaleType,
              double outliers, double outlierThreshold,
              const std::string &outlierType, const py::object &gram,
              const py::object &diagonal, double dampening, unsigned threads) {
  WeightArray input = viewWeights(weights, "r2q.quantize");
  QuantizedWeight result;
  result.scheme.groupSize = groupSize;
  result.scheme.planes = planes;
  result.scheme.method = parseMethodArgument(method);
  result.scheme.scaleType = parseScaleTypeArgument(scaleType);
  result.scheme.outliers = {outliers, outlierThreshold,
                            parseOutlierTypeArgument(outlierType)};
  py::array_t<double> gramValues = statisticsArray(gram, "gram");
  py::array_t<double> diagonalValues = statisticsArray(diagonal, "diagonal");
  LayerStatistics statistics{
      {gramValues.data(), static_cast<size_t>(gramValues.size())},
      {diagonalValues.data(), static_cast<size_t>(diagonalValues.size())}};
  bool calibrated = !gram.is_none() || !diagonal.is_none();
  Status status = Status::success();
  {
    py::gil_scoped_release release;
    if (calibrated) {
      CalibrationOptions options;
      options.threads = threads;
      options.dampening = dampening;
      status = quantizeCalibrated(input.view, result.scheme, statistics,
                                  result.weight, options);
    } else {
      QuantizeOptions options;
      options.threads = threads;
      status = quantize(input.view, result.scheme, result.weight, options);
    }
  }
  if (!status)
    raiseValueError(status);
  return result;
}

py::array_t<float> dequantizeWeight(const QuantizedWeight &quantized,
                                    unsigned threads) {
  const PackedWeight &weight = quantized.weight;
  py::array_t<float> out({weight.rows, weight.cols});
  float *data = out.mutable_data();
  {
    py::gil_scoped_release release;
    dequantize(weight, data, threads);
  }
  return out;
}

py::array_t<float> roundToNearestArray(const py::array &weights,
                                       int64_t groupSize, int bits,
                                       const std::string &kind,
                                       unsigned threads) {
  WeightArray input = viewWeights(weights, "r2q.quantize_rtn");
  RoundToNearestKind parsedKind = parseRoundToNearestKind(kind);
  py::array_t<float> out({input.view.rows, input.view.cols});
  float *data = out.mutable_data();
  Status status = Status::success();
  {
    py::gil_scoped_release release;
    status =
        roundToNearest(input.view, groupSize, bits, parsedKind, data, threads);
  }
  if (!status)
    raiseValueError(status);
  return out;
}

std::string describe(const QuantizedWeight &quantized) {
  const PackedWeight &weight = quantized.weight;
  return "QuantizedWeight(shape=(" + std::to_string(weight.rows) + ", " +
         std::to_string(weight.cols) +
         "), planes=" + std::to_string(weight.planes) +
         ", group_size=" + std::to_string(weight.groupSize) + ", scale_type='" +
         std::string(floatTypeName(weight.scaleType)) + "', method='" +
         std::string(methodName(quantized.scheme.method)) + "')";
}

void defineQuantizedWeight(py::module_ &module) {
  py::class_<QuantizedWeight>(
      module, "QuantizedWeight",
      "An N x K weight quantized with R2Q, in the canonical packed layout of "
      "docs/format.md.")
      .def_property_readonly(
          "signs",
          [](py::object self) {
            const PackedWeight &weight = self.cast<QuantizedWeight &>().weight;
            return readOnlyView(
                weight.signs.data(),
                {weight.planes, weight.rows, weight.bytesPerRow()}, self);
          },
          "uint8 array planes x N x ceil(K/8): bit j of byte b of a row is "
          "column 8*b + j, set for -1; padding bits are zero (read-only view)")
      .def_property_readonly(
          "scales",
          [](py::object self) {
            const PackedWeight &weight = self.cast<QuantizedWeight &>().weight;
            return readOnlyView(
                weight.scales.data(),
                {weight.planes, weight.rows, weight.groupsPerRow()}, self);
          },
          "float32 array planes x N x groups, each value exactly "
          "representable in scale_type (read-only view)")
      .def_property_readonly(
          "shape",
          [](const QuantizedWeight &q) {
            return py::make_tuple(q.weight.rows, q.weight.cols);
          },
          "(N, K)")
      .def_property_readonly(
          "group_size",
          [](const QuantizedWeight &q) { return q.weight.groupSize; })
      .def_property_readonly(
          "planes", [](const QuantizedWeight &q) { return q.weight.planes; })
      .def_property_readonly("scale_type",
                             [](const QuantizedWeight &q) {
                               return std::string(
                                   floatTypeName(q.weight.scaleType));
                             })
      .def_property_readonly("method",
                             [](const QuantizedWeight &q) {
                               return std::string(methodName(q.scheme.method));
                             })
      .def_property_readonly(
          "outlier_offsets",
          [](py::object self) {
            const SparseOutliers &outliers =
                self.cast<QuantizedWeight &>().weight.outliers;
            return readOnlyView(
                outliers.rowOffsets.data(),
                {static_cast<py::ssize_t>(outliers.rowOffsets.size())}, self);
          },
          "int32 array N + 1 (CSR row offsets of the outliers; empty when "
          "there are none)")
      .def_property_readonly(
          "outlier_columns",
          [](py::object self) {
            const SparseOutliers &outliers =
                self.cast<QuantizedWeight &>().weight.outliers;
            return readOnlyView(outliers.columns.data(), {outliers.count()},
                                self);
          },
          "int32 array: the outliers' columns, ascending within a row")
      .def_property_readonly(
          "outlier_values",
          [](py::object self) {
            const SparseOutliers &outliers =
                self.cast<QuantizedWeight &>().weight.outliers;
            return readOnlyView(outliers.values.data(), {outliers.count()},
                                self);
          },
          "float32 array: the corrections that make each outlier exact "
          "(w_hat = planes + correction), representable in outlier_type")
      .def_property_readonly(
          "bits_per_weight",
          [](const QuantizedWeight &q) { return q.weight.bitsPerWeight(); },
          "bits stored per weight, all counted: sign planes (with padding), "
          "scales and outliers (offsets, columns, values)")
      .def_property_readonly(
          "storage_bytes",
          [](const QuantizedWeight &q) { return q.weight.storageBytes(); },
          "bytes of signs, scales and outliers together, as stored")
      .def("__repr__", &describe);
}

} // namespace

void init_quant(py::module_ &module) {
  defineQuantizedWeight(module);
  module.def(
      "quantize", &quantizeArray, py::arg("w"), py::arg("group_size") = 128,
      py::arg("planes") = 2, py::arg("method") = "greedy",
      py::arg("scale_type") = "f16", py::kw_only(), py::arg("outliers") = 0.0,
      py::arg("outlier_threshold") = 0.0, py::arg("outlier_type") = "f16",
      py::arg("gram") = py::none(), py::arg("diagonal") = py::none(),
      py::arg("dampening") = 0.01, py::arg("threads") = 0u,
      "R2Q of a 2-D N x K float32/float16/bfloat16 array (groups along K, a "
      "shorter last group when the group size does not divide K); read in "
      "place when C-contiguous. outliers (a fraction of the weights, largest "
      "first) and outlier_threshold (times the RMS of the weight's group) "
      "keep weights exactly as f16/f32 corrections. gram (the layer input's "
      "X^T X, K x K) calibrates with error feedback on the R2Q lattice; "
      "diagonal (its diagonal, K) with importance-weighted scales. Raises "
      "ValueError with the numerics core's message on NaN, infinities, "
      "planes outside 1..4, a scale that overflows scale_type, or bad "
      "statistics.");
  module.def("dequantize", &dequantizeWeight, py::arg("q"),
             py::arg("threads") = 0u,
             "The float32 N x K matrix a QuantizedWeight decodes to.");
  module.def("quantize_rtn", &roundToNearestArray, py::arg("w"),
             py::arg("group_size") = 128, py::arg("bits") = 2,
             py::arg("kind") = "minmax", py::arg("threads") = 0u,
             "The round-to-nearest baseline ('minmax': asymmetric with zero "
             "points, 'absmax': symmetric) with `bits` bits per weight, "
             "dequantized to float32 N x K.");
}

} // namespace r2q::python
