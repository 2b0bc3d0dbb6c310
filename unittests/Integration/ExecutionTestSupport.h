//===- ExecutionTestSupport.h - Shared by the execution tests --*- C++ -*-===//
//
// Fresh random seeds that failures print, an MLIR registry the JIT can
// compile with, pipelines with runtime bounds checks, the output tolerance
// every execution test uses, and input buffers against unmapped pages.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_UNITTESTS_INTEGRATION_EXECUTIONTESTSUPPORT_H
#define R2Q_UNITTESTS_INTEGRATION_EXECUTIONTESTSUPPORT_H

#include "r2q/InitAll.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"

#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace r2q::test {

/// A seed from the system, or R2Q_TEST_SEED to replay a failure.
inline unsigned freshSeed() {
  if (const char *forced = std::getenv("R2Q_TEST_SEED"))
    return static_cast<unsigned>(std::strtoul(forced, nullptr, 10));
  return std::random_device{}();
}

/// r2q, every upstream dialect and pass, and the LLVM IR translations the
/// JIT needs.
inline mlir::DialectRegistry jitRegistry() {
  mlir::DialectRegistry registry;
  registerR2QAndUpstream(registry);
  registerJitTranslations(registry);
  return registry;
}

#ifdef R2Q_TEST_BOUNDS_CHECKS
constexpr bool kBoundsChecks = true;
#else
constexpr bool kBoundsChecks = false;
#endif

/// `pipeline` with every r2q-cpu-pipeline in it given check-bounds=true:
/// compiled code that reads or writes outside a buffer (a constant weight
/// too, which guard pages cannot reach) aborts, naming the access. Unless
/// the build says otherwise (R2Q_TEST_BOUNDS_CHECKS=OFF, the sanitizer
/// build's default: there the tests run the code as it ships).
inline std::string withBoundsChecks(llvm::StringRef pipeline) {
  if (!kBoundsChecks)
    return pipeline.str();
  constexpr llvm::StringLiteral name = "r2q-cpu-pipeline";
  std::string checked;
  while (true) {
    size_t at = pipeline.find(name);
    if (at == llvm::StringRef::npos)
      return checked + pipeline.str();
    checked += pipeline.take_front(at + name.size()).str();
    pipeline = pipeline.drop_front(at + name.size());
    if (pipeline.consume_front("{"))
      checked += "{check-bounds=true ";
    else
      checked += "{check-bounds=true}";
  }
}

/// compileSource with withBoundsChecks: what every execution test runs.
inline llvm::Expected<std::unique_ptr<JitModule>>
compileChecked(mlir::MLIRContext &context, llvm::StringRef source,
               llvm::StringRef pipeline, const JitTarget &target = {}) {
  return compileSource(context, source, withBoundsChecks(pipeline), target);
}

/// compileModule with bounds checks.
inline llvm::Expected<std::unique_ptr<JitModule>>
compileChecked(mlir::ModuleOp module, llvm::StringRef pipeline,
               const JitTarget &target = {}) {
  return compileModule(module, withBoundsChecks(pipeline), target);
}

/// `count` normally distributed values.
inline std::vector<float> gaussian(size_t count, std::mt19937 &generator,
                                   float stddev = 1.0f) {
  std::normal_distribution<float> distribution(0.0f, stddev);
  std::vector<float> values(count);
  for (float &value : values)
    value = distribution(generator);
  return values;
}

/// The bytes of `values` as the hex literal of a dense attribute.
template <typename T> std::string hexLiteral(const std::vector<T> &values) {
  std::string hex = "\"0x";
  const auto *bytes = reinterpret_cast<const unsigned char *>(values.data());
  for (size_t i = 0; i < values.size() * sizeof(T); ++i)
    hex += llvm::formatv("{0:X-2}", bytes[i]).str();
  return hex + "\"";
}

/// Whether every output of a rows x n product is within
/// 1e-5 * sum_k |x_k w_k| of `expected`, where `weightAt(n, k)` is the
/// weight the output should have used and `input` is rows x k.
template <typename Expected, typename WeightAt>
void expectWithinProductTolerance(int64_t rows, int64_t n, int64_t k,
                                  const std::vector<float> &input,
                                  const std::vector<float> &output,
                                  const std::vector<Expected> &expected,
                                  WeightAt weightAt) {
  ASSERT_EQ(output.size(), static_cast<size_t>(rows * n));
  ASSERT_EQ(expected.size(), static_cast<size_t>(rows * n));
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t col = 0; col < n; ++col) {
      double magnitude = 0;
      for (int64_t i = 0; i < k; ++i)
        magnitude += std::fabs(input[row * k + i] * weightAt(col, i));
      int64_t index = row * n + col;
      ASSERT_NEAR(output[index], expected[index], 1e-5 * magnitude + 1e-30)
          << "at row " << row << ", column " << col;
    }
  }
}

/// Copies of host tensors for compiled code to read, each ending where an
/// unmapped page begins (and after another): code that reads past a
/// buffer faults every time, not only when the page after a heap block
/// happens to be unmapped (AddressSanitizer does not see the JIT's code).
/// A copy starts on a multiple of 16 bytes, as malloc's blocks do, so
/// reads less than 16 bytes past the end may land in the page's slack.
class GuardedBuffers {
public:
  GuardedBuffers() = default;
  GuardedBuffers(const GuardedBuffers &) = delete;
  GuardedBuffers &operator=(const GuardedBuffers &) = delete;
  ~GuardedBuffers() {
    for (auto [region, length] : regions)
      munmap(region, length);
  }

  /// A descriptor of a guarded copy of `tensor` (valid while this lives;
  /// the compiled code's writes to it do not reach `tensor`).
  template <typename T, int Rank>
  StridedMemRefType<T, Rank> descriptor(HostTensor<T, Rank> &tensor) {
    StridedMemRefType<T, Rank> memref = tensor.descriptor();
    size_t bytes = tensor.data().size() * sizeof(T);
    T *copy = static_cast<T *>(guardedBytes(bytes));
    if (bytes)
      std::memcpy(copy, tensor.data().data(), bytes);
    memref.basePtr = memref.data = copy;
    return memref;
  }

private:
  /// `bytes` bytes, 16-byte aligned, at most 15 bytes short of a
  /// PROT_NONE page.
  void *guardedBytes(size_t bytes) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t span = llvm::alignTo(bytes, page);
    size_t length = span + 2 * page;
    void *mapped = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
      llvm::report_fatal_error("GuardedBuffers: mmap failed");
    char *region = static_cast<char *>(mapped);
    if (mprotect(region, page, PROT_NONE) != 0 ||
        mprotect(region + page + span, page, PROT_NONE) != 0)
      llvm::report_fatal_error("GuardedBuffers: mprotect failed");
    regions.push_back({region, length});
    size_t start = llvm::alignDown(page + span - bytes, 16);
    return region + start;
  }

  std::vector<std::pair<char *, size_t>> regions;
};

} // namespace r2q::test

#endif // R2Q_UNITTESTS_INTEGRATION_EXECUTIONTESTSUPPORT_H
