//===- BitAllocation.h - Bits where the error drops most --------*- C++ -*-===//
//
// Given, for every layer of a model, a few ways to quantize it (each with the
// bits it stores and the error it leaves), chooses one per layer: under a
// budget of bits for the whole model with the least total error, or per
// layer the cheapest one that meets an error target. The tuning pass
// (-r2q-tune-group-size) measures the candidates; this is the decision,
// kept apart so it can be tested on its own.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_BITALLOCATION_H
#define R2Q_QUANT_BITALLOCATION_H

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace r2q::quant {

/// One way to quantize one layer.
struct AllocationCandidate {
  /// Bits stored for the whole layer (sign planes, scales, outliers).
  int64_t bits = 0;
  /// The error it leaves, already weighted by the layer's importance.
  double error = 0;
};

/// One candidate chosen per layer, and the totals.
struct Allocation {
  std::vector<size_t> choice;
  int64_t bits = 0;
  double error = 0;
  /// Whether the choice is the proven optimum (the exact search ran).
  bool exact = false;
};

/// The candidates of each layer; every layer has at least one.
using LayerCandidates = std::vector<std::vector<AllocationCandidate>>;

/// The least total error with at most `budgetBits` bits, or nothing when
/// even the cheapest candidate of every layer exceeds it.
///
/// Exact (dynamic programming over the layers on the Pareto frontier of
/// (bits, error)) while that frontier stays within `maxFrontier` points
/// (tens of layers; it grows with the number of distinct bit totals).
/// Otherwise by marginal gain:
/// every layer starts at its cheapest candidate and moves up its lower convex
/// hull of (bits, error), always taking the step with the largest error drop
/// per bit that still fits; then leftover bits buy the best single move each
/// layer can still afford; the result is never worse than giving every layer
/// the same candidate index (a uniform scheme, when candidates are listed in
/// the same order for every layer) where that fits. Deterministic: ties go to
/// the earlier layer and candidate.
std::optional<Allocation> allocateBits(const LayerCandidates &layers,
                                       int64_t budgetBits,
                                       size_t maxFrontier = 1 << 14);

/// Per layer, the cheapest candidate whose error is at most that layer's
/// entry of `maxError`, or the one with the least error when none is.
Allocation allocateForErrorTarget(const LayerCandidates &layers,
                                  std::span<const double> maxError);

} // namespace r2q::quant

#endif // R2Q_QUANT_BITALLOCATION_H
