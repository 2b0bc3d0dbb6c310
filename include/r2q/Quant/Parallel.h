//===- Parallel.h - Splitting row loops across threads ----------*- C++ -*-===//

#ifndef R2Q_QUANT_PARALLEL_H
#define R2Q_QUANT_PARALLEL_H

#include <cstdint>
#include <functional>

namespace r2q::quant {

/// `requested`, or the number of hardware threads when it is 0.
unsigned resolveThreadCount(unsigned requested);

/// Calls `body(begin, end)` on disjoint ranges that cover [0, count), on up to
/// `threads` threads (0 = one per hardware thread). Runs inline when one
/// thread suffices.
void parallelFor(int64_t count, unsigned threads,
                 const std::function<void(int64_t begin, int64_t end)> &body);

} // namespace r2q::quant

#endif // R2Q_QUANT_PARALLEL_H
