//===- JitTest.cpp - What r2q's JIT resolves beyond compiled code ---------===//

#include "r2q/Runtime/Jit.h"
#include "ExecutionTestSupport.h"

#include "r2q/InitAll.h"
#include "r2q/Runtime/HostTensor.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <gtest/gtest.h>

#include <numeric>

using namespace r2q;

namespace {

/// Returning a strided slice makes bufferization copy it into a fresh
/// buffer with memref.copy, which lowers to a call of memrefCopy from MLIR's
/// C runner utilities: the JIT must resolve it.
TEST(JitTest, ResolvesMemrefCopyOfStridedBuffers) {
  mlir::MLIRContext context(test::jitRegistry());
  auto compiled = compileSource(context, R"(
func.func @odd_columns(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  %s = tensor.extract_slice %x[0, 1] [4, 4] [1, 2] : tensor<4x8xf32> to tensor<4x4xf32>
  return %s : tensor<4x4xf32>
})",
                                "r2q-cpu-pipeline");
  ASSERT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
  HostTensor<float, 2> x({4, 8});
  std::iota(x.data().begin(), x.data().end(), 0.0f);
  test::GuardedBuffers xCopy;
  auto xDescriptor = xCopy.descriptor(x);
  StridedMemRefType<float, 2> result{};
  llvm::Error error = (*compiled)->call("odd_columns", &result, &xDescriptor);
  ASSERT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
  std::vector<float> columns = HostTensor<float, 2>::adoptResult(result).data();
  ASSERT_EQ(columns.size(), 16u);
  for (int row = 0; row < 4; ++row)
    for (int column = 0; column < 4; ++column)
      EXPECT_EQ(columns[row * 4 + column], 8 * row + 2 * column + 1);
}

/// Target features given to the JIT replace the host CPU's: an AVX2 target
/// on an AVX-512 host generates no AVX-512 code (the host CPU's name would
/// have brought AVX-512 back); without them the JIT compiles for the host.
TEST(JitTest, TargetFeaturesReplaceTheHostCPUs) {
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  if (!host.lookup("avx2"))
    GTEST_SKIP() << "needs an x86 host with AVX2";
  auto avx2 = createJitTargetMachine({"+avx2,+fma, +f16c"});
  ASSERT_TRUE(static_cast<bool>(avx2)) << toString(avx2.takeError());
  const llvm::MCSubtargetInfo &avx2Info = *(*avx2)->getMCSubtargetInfo();
  EXPECT_EQ((*avx2)->getTargetCPU(), "generic");
  EXPECT_TRUE(avx2Info.checkFeatures("+avx2,+fma,+f16c,+avx,+sse4.2"));
  EXPECT_TRUE(avx2Info.checkFeatures("-avx512f,-avx512bw,-avx512vl,-bmi2"));

  auto native = createJitTargetMachine();
  ASSERT_TRUE(static_cast<bool>(native)) << toString(native.takeError());
  const llvm::MCSubtargetInfo &nativeInfo = *(*native)->getMCSubtargetInfo();
  EXPECT_EQ((*native)->getTargetCPU(), llvm::sys::getHostCPUName());
  for (const char *feature : {"avx2", "avx512f", "avx512bw", "avx512vnni"})
    EXPECT_EQ(nativeInfo.checkFeatures(std::string("+") + feature),
              host.lookup(feature))
        << feature;
}

} // namespace
