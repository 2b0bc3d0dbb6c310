//===- JitCall.cpp - Calling compiled functions on f32 buffers ------------===//

#include "JitCall.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <utility>

using namespace mlir;

namespace r2q::python {
namespace {

/// Most arguments (results count as one) a call passes.
constexpr size_t kMostPointers = 24;

/// The allocated pointer memref.get_global lowers to: a constant global that
/// must never be freed.
const uintptr_t kGlobalMarker = 0xdeadbeef;

llvm::Expected<std::vector<int64_t>> tensorShape(Type type,
                                                 const std::string &what) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.getElementType().isF32()) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << what << " is " << type
       << "; r2q.compile takes functions whose arguments and results are "
          "ranked f32 tensors";
    return llvm::createStringError(text);
  }
  std::vector<int64_t> shape(tensor.getShape().begin(),
                             tensor.getShape().end());
  for (int64_t &size : shape)
    if (ShapedType::isDynamic(size))
      size = -1;
  return shape;
}

/// Appends the shapes of `types` ("argument 0 of @main", ...) to `shapes`.
llvm::Error appendTensorShapes(TypeRange types, const std::string &role,
                               llvm::StringRef entry,
                               std::vector<std::vector<int64_t>> &shapes) {
  for (auto [index, type] : llvm::enumerate(types)) {
    auto shape = tensorShape(type, role + " " + std::to_string(index) +
                                       " of @" + entry.str());
    if (!shape)
      return shape.takeError();
    shapes.push_back(std::move(*shape));
  }
  return llvm::Error::success();
}

/// The words of a StridedMemRefType<float, rank>: allocated and aligned
/// pointers, offset, sizes, strides.
std::vector<int64_t> describeRowMajor(const InputBuffer &input) {
  size_t rank = input.shape.size();
  std::vector<int64_t> words(3 + 2 * rank);
  words[0] = words[1] = reinterpret_cast<intptr_t>(input.data);
  words[2] = 0;
  int64_t stride = 1;
  for (size_t dim = rank; dim-- > 0;) {
    words[3 + dim] = input.shape[dim];
    words[3 + rank + dim] = stride;
    stride *= input.shape[dim];
  }
  return words;
}

ReturnedBuffer readDescriptor(const int64_t *words, int rank) {
  ReturnedBuffer buffer;
  buffer.allocated = reinterpret_cast<float *>(words[0]);
  buffer.data = reinterpret_cast<float *>(words[1]) + words[2];
  buffer.shape.assign(words + 3, words + 3 + rank);
  buffer.strides.assign(words + 3 + rank, words + 3 + 2 * rank);
  return buffer;
}

/// Whether `pointer` lies in the `count` elements at `begin` (at least
/// one: an empty buffer still has its address, and a device copy of one is
/// allocated a whole element).
bool pointsInto(const float *pointer, const float *begin, int64_t count) {
  return begin && pointer >= begin &&
         pointer < begin + std::max<int64_t>(count, 1);
}

/// Whether the code allocated `buffer` itself, so that it is ours to free.
bool isFreshAllocation(const ReturnedBuffer &buffer,
                       const std::vector<InputBuffer> &inputs,
                       const std::vector<ReturnedBuffer> &earlier) {
  if (reinterpret_cast<uintptr_t>(buffer.allocated) == kGlobalMarker ||
      !buffer.allocated)
    return false;
  for (const InputBuffer &input : inputs) {
    int64_t count = std::accumulate(input.shape.begin(), input.shape.end(),
                                    int64_t{1}, std::multiplies<int64_t>());
    if (pointsInto(buffer.allocated, input.data, count) ||
        pointsInto(buffer.data, input.data, count))
      return false;
  }
  for (const ReturnedBuffer &other : earlier)
    if (other.allocated == buffer.allocated)
      return false;
  return true;
}

template <size_t... Index>
llvm::Error callWithPointers(JitModule &module, llvm::StringRef entry,
                             void **pointers, std::index_sequence<Index...>) {
  return module.call(entry, pointers[Index]...);
}

template <size_t Count>
llvm::Error callWithCount(JitModule &module, llvm::StringRef entry,
                          void **pointers) {
  return callWithPointers(module, entry, pointers,
                          std::make_index_sequence<Count>());
}

template <size_t... Count>
constexpr auto makeCallTable(std::index_sequence<Count...>) {
  return std::array{&callWithCount<Count>...};
}

/// JitModule::call takes its pointers as a parameter pack: one instance per
/// count.
llvm::Error callWithPointers(JitModule &module, llvm::StringRef entry,
                             std::vector<void *> &pointers) {
  static constexpr auto table =
      makeCallTable(std::make_index_sequence<kMostPointers + 1>());
  if (pointers.size() > kMostPointers)
    return llvm::createStringError("r2q.compile calls functions of at most " +
                                   std::to_string(kMostPointers - 1) +
                                   " arguments");
  return table[pointers.size()](module, entry, pointers.data());
}

} // namespace

llvm::Expected<EntrySignature> readEntrySignature(ModuleOp module,
                                                  llvm::StringRef entry) {
  auto function = module.lookupSymbol<func::FuncOp>(entry);
  if (!function || function.isExternal())
    return llvm::createStringError("the module has no func.func @" + entry +
                                   " with a body");
  EntrySignature signature;
  FunctionType type = function.getFunctionType();
  if (llvm::Error error = appendTensorShapes(type.getInputs(), "argument",
                                             entry, signature.arguments))
    return std::move(error);
  if (llvm::Error error = appendTensorShapes(type.getResults(), "result", entry,
                                             signature.results))
    return std::move(error);
  return signature;
}

int64_t elementCount(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

bool isRowMajor(const std::vector<int64_t> &shape,
                const std::vector<int64_t> &strides) {
  int64_t expected = 1;
  for (size_t dim = shape.size(); dim-- > 0;) {
    if (shape[dim] != 1 && strides[dim] != expected)
      return false;
    expected *= shape[dim];
  }
  return true;
}

bool ReturnedBuffer::isRowMajor() const {
  return python::isRowMajor(shape, strides);
}

int64_t ReturnedBuffer::elementCount() const {
  return python::elementCount(shape);
}

llvm::Expected<std::vector<ReturnedBuffer>>
callEntry(JitModule &module, const std::string &entry,
          const std::vector<InputBuffer> &inputs,
          const std::vector<int> &resultRanks) {
  std::vector<std::vector<int64_t>> descriptors;
  for (const InputBuffer &input : inputs)
    descriptors.push_back(describeRowMajor(input));
  // The results' descriptors back to back: one descriptor, or the struct of
  // several, all of 64-bit fields.
  size_t resultWords = 0;
  for (int rank : resultRanks)
    resultWords += 3 + 2 * rank;
  std::vector<int64_t> results(resultWords, 0);

  std::vector<void *> pointers;
  if (!resultRanks.empty())
    pointers.push_back(results.data());
  for (std::vector<int64_t> &descriptor : descriptors)
    pointers.push_back(descriptor.data());
  if (llvm::Error error = callWithPointers(module, entry, pointers))
    return std::move(error);

  std::vector<ReturnedBuffer> buffers;
  const int64_t *words = results.data();
  for (int rank : resultRanks) {
    ReturnedBuffer buffer = readDescriptor(words, rank);
    buffer.owned = isFreshAllocation(buffer, inputs, buffers);
    buffers.push_back(std::move(buffer));
    words += 3 + 2 * rank;
  }
  return buffers;
}

void copyRowMajor(const ReturnedBuffer &buffer, float *out) {
  int64_t count = buffer.elementCount();
  int rank = buffer.shape.size();
  for (int64_t linear = 0; linear < count; ++linear) {
    int64_t remainder = linear, offset = 0;
    for (int dim = rank - 1; dim >= 0; --dim) {
      offset += (remainder % buffer.shape[dim]) * buffer.strides[dim];
      remainder /= buffer.shape[dim];
    }
    out[linear] = buffer.data[offset];
  }
}

} // namespace r2q::python
