//===- BitAllocation.cpp - Bits where the error drops most ----------------===//

#include "r2q/Quant/BitAllocation.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <queue>

namespace r2q::quant {
namespace {

/// Indices of a layer's candidates on the lower convex hull of
/// (bits, error), by increasing bits and decreasing error, starting at the
/// cheapest (least error among equally cheap).
std::vector<size_t> lowerHull(const std::vector<AllocationCandidate> &options) {
  std::vector<size_t> order(options.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (options[a].bits != options[b].bits)
      return options[a].bits < options[b].bits;
    if (options[a].error != options[b].error)
      return options[a].error < options[b].error;
    return a < b;
  });
  std::vector<size_t> hull;
  for (size_t index : order) {
    const AllocationCandidate &next = options[index];
    // Only candidates that lower the error are worth their bits.
    if (!hull.empty() && next.error >= options[hull.back()].error)
      continue;
    // Drop points above the segment from their predecessor to `next`.
    while (hull.size() >= 2) {
      const AllocationCandidate &a = options[hull[hull.size() - 2]];
      const AllocationCandidate &b = options[hull.back()];
      double slopeAB = (a.error - b.error) / double(b.bits - a.bits);
      double slopeAN = (a.error - next.error) / double(next.bits - a.bits);
      if (slopeAN < slopeAB)
        break;
      hull.pop_back();
    }
    hull.push_back(index);
  }
  return hull;
}

Allocation totals(const LayerCandidates &layers, std::vector<size_t> choice) {
  Allocation allocation{std::move(choice), 0, 0, false};
  for (size_t layer = 0; layer < layers.size(); ++layer) {
    allocation.bits += layers[layer][allocation.choice[layer]].bits;
    allocation.error += layers[layer][allocation.choice[layer]].error;
  }
  return allocation;
}

/// A point of the exact search: the totals of one choice for the layers so
/// far, and how it was reached.
struct FrontierPoint {
  int64_t bits;
  double error;
  /// Index of the point it extends in the previous layer's frontier.
  size_t parent;
  size_t candidate;
};

/// The exact optimum by dynamic programming over the layers, keeping only
/// choices no other beats on both bits and error; nothing when that set
/// grows past `maxFrontier` points (many layers with many candidates).
std::optional<std::vector<size_t>> exactOptimum(const LayerCandidates &layers,
                                                int64_t budgetBits,
                                                size_t maxFrontier) {
  // Bits the layers after each one need at least.
  std::vector<int64_t> cheapestAfter(layers.size() + 1, 0);
  for (size_t layer = layers.size(); layer-- > 0;)
    cheapestAfter[layer] =
        cheapestAfter[layer + 1] +
        std::min_element(layers[layer].begin(), layers[layer].end(),
                         [](auto &a, auto &b) { return a.bits < b.bits; })
            ->bits;
  std::vector<std::vector<FrontierPoint>> frontiers;
  std::vector<FrontierPoint> frontier = {{0, 0.0, 0, 0}};
  for (size_t layer = 0; layer < layers.size(); ++layer) {
    std::vector<FrontierPoint> next;
    for (size_t from = 0; from < frontier.size(); ++from)
      for (size_t c = 0; c < layers[layer].size(); ++c) {
        FrontierPoint point{frontier[from].bits + layers[layer][c].bits,
                            frontier[from].error + layers[layer][c].error, from,
                            c};
        if (point.bits + cheapestAfter[layer + 1] <= budgetBits)
          next.push_back(point);
      }
    std::sort(next.begin(), next.end(), [](auto &a, auto &b) {
      return a.bits != b.bits ? a.bits < b.bits : a.error < b.error;
    });
    std::vector<FrontierPoint> pruned;
    for (const FrontierPoint &point : next)
      if (pruned.empty() || point.error < pruned.back().error)
        pruned.push_back(point);
    if (pruned.empty() || pruned.size() > maxFrontier)
      return std::nullopt;
    frontiers.push_back(std::move(frontier));
    frontier = std::move(pruned);
  }
  // Errors fall as bits grow: the last point has the least error.
  std::vector<size_t> choice(layers.size());
  size_t at = frontier.size() - 1;
  for (size_t layer = layers.size(); layer-- > 0;) {
    choice[layer] = frontier[at].candidate;
    at = frontier[at].parent;
    frontier = std::move(frontiers[layer]);
  }
  return choice;
}

/// Climbs each layer's hull, steepest error drop per bit first.
std::vector<size_t> climbHulls(const LayerCandidates &layers,
                               int64_t budgetBits) {
  std::vector<std::vector<size_t>> hulls;
  std::vector<size_t> position(layers.size(), 0), choice;
  int64_t bits = 0;
  for (const auto &options : layers) {
    hulls.push_back(lowerHull(options));
    choice.push_back(hulls.back().front());
    bits += options[choice.back()].bits;
  }
  // (gain per bit, -layer): the largest gain first, then the earlier layer.
  using Step = std::pair<double, int64_t>;
  std::priority_queue<Step> steps;
  auto pushNextStep = [&](size_t layer) {
    const std::vector<size_t> &hull = hulls[layer];
    if (position[layer] + 1 >= hull.size())
      return;
    const AllocationCandidate &from = layers[layer][hull[position[layer]]];
    const AllocationCandidate &to = layers[layer][hull[position[layer] + 1]];
    steps.push({(from.error - to.error) / double(to.bits - from.bits),
                -static_cast<int64_t>(layer)});
  };
  for (size_t layer = 0; layer < layers.size(); ++layer)
    pushNextStep(layer);
  while (!steps.empty()) {
    size_t layer = static_cast<size_t>(-steps.top().second);
    steps.pop();
    const std::vector<size_t> &hull = hulls[layer];
    int64_t extra = layers[layer][hull[position[layer] + 1]].bits -
                    layers[layer][hull[position[layer]]].bits;
    if (bits + extra > budgetBits)
      continue; // This layer's later steps cost more still: it stops here.
    bits += extra;
    choice[layer] = hull[++position[layer]];
    pushNextStep(layer);
  }
  return choice;
}

/// Spends leftover bits: repeatedly the single move (any candidate of any
/// layer) that lowers the error most and still fits.
void spendLeftover(const LayerCandidates &layers, int64_t budgetBits,
                   Allocation &allocation) {
  while (true) {
    double bestGain = 0;
    size_t bestLayer = 0, bestCandidate = 0;
    for (size_t layer = 0; layer < layers.size(); ++layer) {
      const AllocationCandidate &current =
          layers[layer][allocation.choice[layer]];
      for (size_t index = 0; index < layers[layer].size(); ++index) {
        const AllocationCandidate &option = layers[layer][index];
        double gain = current.error - option.error;
        if (gain > bestGain &&
            allocation.bits - current.bits + option.bits <= budgetBits) {
          bestGain = gain;
          bestLayer = layer;
          bestCandidate = index;
        }
      }
    }
    if (bestGain <= 0)
      return;
    const AllocationCandidate &current =
        layers[bestLayer][allocation.choice[bestLayer]];
    const AllocationCandidate &option = layers[bestLayer][bestCandidate];
    allocation.bits += option.bits - current.bits;
    allocation.error += option.error - current.error;
    allocation.choice[bestLayer] = bestCandidate;
  }
}

/// The best allocation that gives every layer the same candidate index.
std::optional<Allocation> bestUniform(const LayerCandidates &layers,
                                      int64_t budgetBits) {
  size_t common = std::numeric_limits<size_t>::max();
  for (const auto &options : layers)
    common = std::min(common, options.size());
  std::optional<Allocation> best;
  for (size_t index = 0; index < common; ++index) {
    Allocation uniform =
        totals(layers, std::vector<size_t>(layers.size(), index));
    if (uniform.bits <= budgetBits && (!best || uniform.error < best->error))
      best = std::move(uniform);
  }
  return best;
}

} // namespace

std::optional<Allocation> allocateBits(const LayerCandidates &layers,
                                       int64_t budgetBits, size_t maxFrontier) {
  if (std::optional<std::vector<size_t>> exact =
          exactOptimum(layers, budgetBits, maxFrontier)) {
    Allocation optimum = totals(layers, std::move(*exact));
    optimum.exact = true;
    return optimum;
  }
  Allocation allocation = totals(layers, climbHulls(layers, budgetBits));
  if (allocation.bits > budgetBits)
    return std::nullopt;
  spendLeftover(layers, budgetBits, allocation);
  if (std::optional<Allocation> uniform = bestUniform(layers, budgetBits);
      uniform && uniform->error < allocation.error)
    return uniform;
  return allocation;
}

Allocation allocateForErrorTarget(const LayerCandidates &layers,
                                  std::span<const double> maxError) {
  assert(maxError.size() == layers.size() && "one target per layer");
  std::vector<size_t> choice;
  for (size_t layer = 0; layer < layers.size(); ++layer) {
    const auto &options = layers[layer];
    size_t best = 0;
    bool meets = options[0].error <= maxError[layer];
    for (size_t index = 1; index < options.size(); ++index) {
      const AllocationCandidate &option = options[index];
      const AllocationCandidate &chosen = options[best];
      bool optionMeets = option.error <= maxError[layer];
      bool better = meets ? optionMeets && (option.bits < chosen.bits ||
                                            (option.bits == chosen.bits &&
                                             option.error < chosen.error))
                          : optionMeets || option.error < chosen.error;
      if (better) {
        best = index;
        meets = optionMeets;
      }
    }
    choice.push_back(best);
  }
  return totals(layers, std::move(choice));
}

} // namespace r2q::quant
