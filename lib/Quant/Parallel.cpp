//===- Parallel.cpp - Splitting row loops across threads ------------------===//

#include "r2q/Quant/Parallel.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace r2q::quant {

unsigned resolveThreadCount(unsigned requested) {
  if (requested)
    return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

void parallelFor(int64_t count, unsigned threads,
                 const std::function<void(int64_t, int64_t)> &body) {
  if (count <= 0)
    return;
  int64_t workers = std::min<int64_t>(resolveThreadCount(threads), count);
  if (workers == 1) {
    body(0, count);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  int64_t chunk = count / workers, extra = count % workers, begin = 0;
  for (int64_t worker = 0; worker < workers; ++worker) {
    int64_t end = begin + chunk + (worker < extra ? 1 : 0);
    if (worker + 1 == workers)
      body(begin, end); // The calling thread takes the last chunk.
    else
      pool.emplace_back(body, begin, end);
    begin = end;
  }
  for (std::thread &thread : pool)
    thread.join();
}

} // namespace r2q::quant
