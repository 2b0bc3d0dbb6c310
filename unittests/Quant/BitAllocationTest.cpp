//===- BitAllocationTest.cpp - Bits where the error drops most ------------===//
//
// Random allocation problems shaped like real ones (more bits, less error,
// with diminishing and uneven returns), checked against exhaustive search:
// the budget is always respected, the result is never worse than any uniform
// choice that fits, small problems are solved exactly, and with enough bits
// every layer gets its best candidate.
//
//===----------------------------------------------------------------------===//

#include "RandomWeights.h"

#include "r2q/Quant/BitAllocation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

using namespace r2q::quant;
using r2q::test::freshSeed;
using r2q::test::Rng;

namespace {

/// Each layer: candidates of growing bits whose error falls by a random
/// factor per step, listed in the same (scheme) order for every layer.
LayerCandidates randomProblem(Rng &rng, size_t layerCount,
                              size_t candidateCount) {
  LayerCandidates layers(layerCount);
  for (auto &options : layers) {
    int64_t size = 1000 + rng.next() % 9000;
    double error = 1 + 100 * rng.uniform();
    int64_t bitsPerWeight = 1;
    for (size_t c = 0; c < candidateCount; ++c) {
      options.push_back({size * bitsPerWeight, error});
      bitsPerWeight += 1 + rng.next() % 2;
      error *= 0.1 + 0.8 * rng.uniform();
    }
    // Scheme order is not bit order: shuffle so the allocator must sort.
    for (size_t c = options.size(); c > 1; --c)
      std::swap(options[c - 1], options[rng.next() % c]);
  }
  return layers;
}

/// The least total error within the budget, by trying every combination.
double optimalError(const LayerCandidates &layers, int64_t budgetBits) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> choice(layers.size(), 0);
  while (true) {
    int64_t bits = 0;
    double error = 0;
    for (size_t layer = 0; layer < layers.size(); ++layer) {
      bits += layers[layer][choice[layer]].bits;
      error += layers[layer][choice[layer]].error;
    }
    if (bits <= budgetBits)
      best = std::min(best, error);
    size_t layer = 0;
    while (layer < layers.size() && ++choice[layer] == layers[layer].size())
      choice[layer++] = 0;
    if (layer == layers.size())
      return best;
  }
}

int64_t bitsOf(const LayerCandidates &layers, const Allocation &allocation) {
  int64_t bits = 0;
  for (size_t layer = 0; layer < layers.size(); ++layer)
    bits += layers[layer][allocation.choice[layer]].bits;
  return bits;
}

/// A budget between the cheapest and the dearest choice of every layer.
int64_t randomBudget(Rng &rng, const LayerCandidates &layers) {
  int64_t cheapest = 0, dearest = 0;
  for (const auto &options : layers) {
    auto [low, high] =
        std::minmax_element(options.begin(), options.end(),
                            [](auto &a, auto &b) { return a.bits < b.bits; });
    cheapest += low->bits;
    dearest += high->bits;
  }
  return cheapest + static_cast<int64_t>(rng.uniform() * (dearest - cheapest));
}

/// The budget is respected, the totals are those of the choice, and no
/// uniform choice that fits is better.
void expectSound(const LayerCandidates &layers, int64_t budget,
                 const Allocation &allocation) {
  EXPECT_LE(allocation.bits, budget);
  EXPECT_EQ(allocation.bits, bitsOf(layers, allocation));
  for (size_t index = 0; index < layers.front().size(); ++index) {
    Allocation uniform{std::vector<size_t>(layers.size(), index)};
    double error = 0;
    for (size_t layer = 0; layer < layers.size(); ++layer)
      error += layers[layer][index].error;
    if (bitsOf(layers, uniform) <= budget)
      EXPECT_LE(allocation.error, error * (1 + 1e-12)) << "uniform " << index;
  }
}

TEST(BitAllocationTest, SmallProblemsAreSolvedExactly) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Rng rng(seed);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    LayerCandidates layers = randomProblem(rng, 1 + rng.next() % 6, 4);
    int64_t budget = randomBudget(rng, layers);
    std::optional<Allocation> allocation = allocateBits(layers, budget);
    ASSERT_TRUE(allocation);
    EXPECT_TRUE(allocation->exact);
    expectSound(layers, budget, *allocation);
    EXPECT_NEAR(allocation->error, optimalError(layers, budget),
                1e-9 * allocation->error);
  }
}

// Where the exact search would be too large (forced here with a frontier of
// no points), marginal gain decides: sound, and never better than exact.
TEST(BitAllocationTest, MarginalGainIsSoundAndExactIsNoWorse) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Rng rng(seed);
  for (int trial = 0; trial < 20; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    LayerCandidates layers = randomProblem(rng, 40, 8);
    int64_t budget = randomBudget(rng, layers);
    std::optional<Allocation> marginal =
        allocateBits(layers, budget, /*maxFrontier=*/0);
    std::optional<Allocation> exact = allocateBits(layers, budget);
    ASSERT_TRUE(marginal && exact);
    EXPECT_FALSE(marginal->exact);
    EXPECT_TRUE(exact->exact);
    expectSound(layers, budget, *marginal);
    expectSound(layers, budget, *exact);
    EXPECT_LE(exact->error, marginal->error * (1 + 1e-12));
  }
}

TEST(BitAllocationTest, EnoughBitsGiveEveryLayerItsBestCandidate) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Rng rng(seed);
  LayerCandidates layers = randomProblem(rng, 9, 6);
  std::optional<Allocation> allocation =
      allocateBits(layers, std::numeric_limits<int64_t>::max() / 2);
  ASSERT_TRUE(allocation);
  for (size_t layer = 0; layer < layers.size(); ++layer) {
    double least =
        std::min_element(layers[layer].begin(), layers[layer].end(),
                         [](auto &a, auto &b) { return a.error < b.error; })
            ->error;
    EXPECT_EQ(layers[layer][allocation->choice[layer]].error, least);
  }
}

TEST(BitAllocationTest, BudgetBelowTheCheapestIsInfeasible) {
  LayerCandidates layers = {{{100, 1.0}, {200, 0.5}}, {{300, 2.0}}};
  EXPECT_FALSE(allocateBits(layers, 399));
  std::optional<Allocation> allocation = allocateBits(layers, 400);
  ASSERT_TRUE(allocation);
  EXPECT_EQ(allocation->choice, (std::vector<size_t>{0, 0}));
  allocation = allocateBits(layers, 500);
  ASSERT_TRUE(allocation);
  EXPECT_EQ(allocation->choice, (std::vector<size_t>{1, 0}));
}

TEST(BitAllocationTest, ErrorTargetTakesTheCheapestThatMeetsIt) {
  LayerCandidates layers = {
      {{400, 0.1}, {100, 0.9}, {200, 0.4}, {300, 0.4}},
      {{100, 0.9}, {200, 0.8}}, // Cannot meet 0.5: the least error.
  };
  std::vector<double> target = {0.5, 0.5};
  Allocation allocation = allocateForErrorTarget(layers, target);
  EXPECT_EQ(allocation.choice, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(allocation.bits, 400);
  EXPECT_DOUBLE_EQ(allocation.error, 1.2);
}

} // namespace
