//===- ConstantFoldingTest.cpp - Folded constants match the core ----------===//
//
// Builds r2q.quantize (and r2q.dequantize) of a random constant weight, runs
// r2q-fold-constant-weights or the canonicalizer, and checks the folded
// constants byte for byte against the numerics core run on the same data,
// and that the canonicalizer leaves weights over the fold hooks' bound alone.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantFolding.h"
#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/InitAll.h"
#include "r2q/Quant/R2Q.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace mlir;

namespace {

class ConstantFoldingTest : public ::testing::Test {
protected:
  ConstantFoldingTest() {
    DialectRegistry registry;
    r2q::registerR2QDialects(registry);
    registry.insert<func::FuncDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Random weights with heavier-than-Gaussian tails, as in real layers.
  std::vector<float> randomWeights(int64_t rows, int64_t cols, unsigned seed) {
    std::mt19937 generator(seed);
    std::student_t_distribution<float> distribution(4.0f);
    std::vector<float> values(rows * cols);
    for (float &value : values)
      value = 0.02f * distribution(generator);
    return values;
  }

  enum class Folder { Pass, Canonicalizer };

  /// A function returning `build(weightConstant)`, folded by r2q-fold-constant-
  /// weights or canonicalized; returns the attributes of the constants it
  /// returns, or an empty vector if a result is not a constant.
  SmallVector<ElementsAttr>
  foldReturnedValues(ElementsAttr weight,
                     function_ref<SmallVector<Value>(OpBuilder &, Value)> build,
                     Folder folder = Folder::Pass) {
    OpBuilder builder(&context);
    Location loc = builder.getUnknownLoc();
    module = ModuleOp::create(loc);
    builder.setInsertionPointToEnd(module->getBody());
    auto func = func::FuncOp::create(builder, loc, "fold",
                                     builder.getFunctionType({}, {}));
    builder.setInsertionPointToEnd(func.addEntryBlock());
    Value constant = arith::ConstantOp::create(builder, loc, weight);
    SmallVector<Value> results = build(builder, constant);
    func::ReturnOp::create(builder, loc, results);
    func.setType(builder.getFunctionType({}, ValueRange(results).getTypes()));

    PassManager pm(&context);
    if (folder == Folder::Pass)
      pm.addPass(r2q::createR2QFoldConstantWeightsPass());
    else
      pm.addPass(createCanonicalizerPass());
    EXPECT_TRUE(succeeded(pm.run(*module)));

    SmallVector<ElementsAttr> attrs;
    auto returnOp =
        cast<func::ReturnOp>(module->lookupSymbol<func::FuncOp>("fold")
                                 .getBody()
                                 .front()
                                 .getTerminator());
    for (Value value : returnOp.getOperands()) {
      auto constantOp = value.getDefiningOp<arith::ConstantOp>();
      if (!constantOp)
        return {};
      attrs.push_back(cast<ElementsAttr>(constantOp.getValue()));
    }
    return attrs;
  }

  static std::vector<uint8_t> bytesOf(ElementsAttr attr) {
    std::optional<ArrayRef<char>> data = r2q::getContiguousData(attr);
    EXPECT_TRUE(data.has_value());
    if (!data)
      return {};
    return std::vector<uint8_t>(data->begin(), data->end());
  }

  /// Folds r2q.quantize of a random rows x 256 weight with `folder` for a
  /// greedy and a refined scheme; expects the core's bytes, or nothing
  /// folded when `expectFolded` is false.
  void checkQuantizeFolds(int64_t rows, Folder folder, bool expectFolded) {
    const int64_t cols = 256;
    std::vector<float> weights = randomWeights(rows, cols, /*seed=*/rows);
    auto type = RankedTensorType::get({rows, cols}, Float32Type::get(&context));
    for (auto [method, scaleType] :
         {std::pair{r2q::Method::Greedy, Type(BFloat16Type::get(&context))},
          std::pair{r2q::Method::Refined, Type(Float32Type::get(&context))}}) {
      auto scheme = r2q::SchemeAttr::get(&context, 64, 3, method, scaleType);
      SmallVector<ElementsAttr> folded = foldReturnedValues(
          DenseElementsAttr::get(type, ArrayRef<float>(weights)),
          [&](OpBuilder &builder, Value weight) -> SmallVector<Value> {
            auto quantize = r2q::QuantizeOp::create(
                builder, builder.getUnknownLoc(), weight, scheme);
            return {quantize.getSigns(), quantize.getScales()};
          },
          folder);
      if (!expectFolded) {
        EXPECT_TRUE(folded.empty());
        continue;
      }
      ASSERT_EQ(folded.size(), 2u);

      r2q::quant::PackedWeight packed;
      ASSERT_TRUE(r2q::quant::quantize(r2q::quant::MatrixView::ofFloats(
                                           weights.data(), rows, cols),
                                       r2q::toQuantScheme(scheme), packed)
                      .ok());
      EXPECT_EQ(bytesOf(folded[0]), packed.signs);
      EXPECT_EQ(bytesOf(folded[1]), packed.encodedScales());
    }
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(ConstantFoldingTest, QuantizeThenDequantizeOf256x512MatchesCore) {
  const int64_t rows = 256, cols = 512;
  std::vector<float> weights = randomWeights(rows, cols, /*seed=*/2511);
  auto type = RankedTensorType::get({rows, cols}, Float32Type::get(&context));
  auto weightAttr = DenseElementsAttr::get(type, ArrayRef<float>(weights));
  auto scheme = r2q::SchemeAttr::get(&context, 128, 2, r2q::Method::Greedy,
                                     Float16Type::get(&context));

  SmallVector<ElementsAttr> folded = foldReturnedValues(
      weightAttr, [&](OpBuilder &builder, Value weight) -> SmallVector<Value> {
        Location loc = builder.getUnknownLoc();
        auto quantize = r2q::QuantizeOp::create(builder, loc, weight, scheme);
        Value dequantized = r2q::DequantizeOp::create(
            builder, loc, type, quantize.getSigns(), quantize.getScales(),
            scheme.getGroupSize());
        return {dequantized};
      });
  ASSERT_EQ(folded.size(), 1u);

  r2q::quant::PackedWeight packed;
  ASSERT_TRUE(r2q::quant::quantize(
                  r2q::quant::MatrixView::ofFloats(weights.data(), rows, cols),
                  r2q::toQuantScheme(scheme), packed)
                  .ok());
  std::vector<float> expected(rows * cols);
  r2q::quant::dequantize(packed, expected.data());

  std::vector<uint8_t> actual = bytesOf(folded[0]);
  ASSERT_EQ(actual.size(), expected.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(actual.data(), expected.data(), actual.size()), 0);
  // The fold must not be the identity: the reconstruction differs from w.
  EXPECT_NE(std::memcmp(actual.data(), weights.data(), actual.size()), 0);
}

TEST_F(ConstantFoldingTest, PassFoldsQuantizeToCoreSignsAndScales) {
  checkQuantizeFolds(/*rows=*/37, Folder::Pass, /*expectFolded=*/true);
}

TEST_F(ConstantFoldingTest, FoldHooksFoldOnlySmallWeights) {
  const int64_t smallRows = r2q::kMaxFoldHookWeights / 256;
  checkQuantizeFolds(smallRows - 3, Folder::Canonicalizer,
                     /*expectFolded=*/true);
  checkQuantizeFolds(smallRows, Folder::Canonicalizer, /*expectFolded=*/true);
  checkQuantizeFolds(smallRows + 1, Folder::Canonicalizer,
                     /*expectFolded=*/false);
}

} // namespace
