//===- HostTensor.h - Host buffers passed to compiled code ------*- C++ -*-===//
//
// Compiled functions take and return memrefs; through their C interface each
// is a pointer to a StridedMemRefType descriptor. HostTensor owns row-major
// data and hands out such descriptors; adoptResult() takes ownership of a
// buffer a compiled function allocated and returned.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_RUNTIME_HOSTTENSOR_H
#define R2Q_RUNTIME_HOSTTENSOR_H

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <vector>

namespace r2q {

template <typename T, int Rank> class HostTensor {
public:
  explicit HostTensor(const std::array<int64_t, Rank> &shape, T fill = T())
      : shape_(shape), data_(elementCount(shape), fill) {}

  const std::array<int64_t, Rank> &shape() const { return shape_; }
  std::vector<T> &data() { return data_; }
  const std::vector<T> &data() const { return data_; }

  /// A descriptor viewing this tensor's data (valid while it lives).
  StridedMemRefType<T, Rank> descriptor() {
    StridedMemRefType<T, Rank> memref;
    memref.basePtr = memref.data = data_.data();
    memref.offset = 0;
    int64_t stride = 1;
    for (int dim = Rank - 1; dim >= 0; --dim) {
      memref.sizes[dim] = shape_[dim];
      memref.strides[dim] = stride;
      stride *= shape_[dim];
    }
    return memref;
  }

  /// A row-major copy of the (possibly strided) memref `view`.
  static HostTensor copyOf(const StridedMemRefType<T, Rank> &view) {
    std::array<int64_t, Rank> shape;
    for (int dim = 0; dim < Rank; ++dim)
      shape[dim] = view.sizes[dim];
    HostTensor tensor(shape);
    for (int64_t linear = 0; linear < static_cast<int64_t>(tensor.data_.size());
         ++linear) {
      int64_t remainder = linear, offset = view.offset;
      for (int dim = Rank - 1; dim >= 0; --dim) {
        offset += (remainder % shape[dim]) * view.strides[dim];
        remainder /= shape[dim];
      }
      tensor.data_[linear] = view.data[offset];
    }
    return tensor;
  }

  /// Copies a (possibly strided) result descriptor into a new tensor and
  /// frees the buffer the compiled code allocated for it.
  static HostTensor adoptResult(StridedMemRefType<T, Rank> &result) {
    HostTensor tensor = copyOf(result);
    std::free(result.basePtr);
    result.basePtr = result.data = nullptr;
    return tensor;
  }

private:
  static size_t elementCount(const std::array<int64_t, Rank> &shape) {
    return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                           std::multiplies<int64_t>());
  }

  std::array<int64_t, Rank> shape_;
  std::vector<T> data_;
};

} // namespace r2q

#endif // R2Q_RUNTIME_HOSTTENSOR_H
