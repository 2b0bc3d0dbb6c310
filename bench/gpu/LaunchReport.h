//===- LaunchReport.h - What ran: a call's kernel launches, described -----===//
//
// Below each timed line r2q-gpu-bench describes the launches of one call:
// per kernel its grid and block and what the driver says about it
// (registers and local memory per thread, shared memory, the blocks one SM
// holds at once, the waves the grid takes, the architecture of the machine
// code that ran). A GPU is lent for minutes; with these lines a time can be
// read after it is gone (a kernel that spills, one block per SM, a JIT from
// PTX instead of the fatbin's sm_90a code).
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_BENCH_GPU_LAUNCHREPORT_H
#define R2Q_BENCH_GPU_LAUNCHREPORT_H

#include "r2q/Runtime/CudaRuntime.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace r2q::bench {

/// One kernel launch as lowered code asks for it (mgpuLaunchKernel).
struct Launch {
  void *function;
  int64_t grid[3], block[3];
  int32_t dynamicSharedBytes;

  int64_t blocks() const { return grid[0] * grid[1] * grid[2]; }
  int threads() const { return int(block[0] * block[1] * block[2]); }
};

/// Fills `info` for `launch` (r2qCudaKernelInfo) or returns an error.
using KernelQuery =
    std::function<std::string(const Launch &launch, R2QCudaKernelInfo &info)>;

/// One line per launch, "  kernel I: grid GxGxG, block BxBxB" and the
/// driver's facts, or the query's error in parentheses.
inline std::string describeLaunches(const std::vector<Launch> &launches,
                                    int multiprocessors,
                                    const KernelQuery &query) {
  std::string out;
  for (size_t i = 0; i < launches.size(); ++i) {
    const Launch &l = launches[i];
    char line[512];
    int length = std::snprintf(
        line, sizeof line,
        "  kernel %zu: grid %lldx%lldx%lld, block %lldx%lldx%lld", i + 1,
        (long long)l.grid[0], (long long)l.grid[1], (long long)l.grid[2],
        (long long)l.block[0], (long long)l.block[1], (long long)l.block[2]);
    R2QCudaKernelInfo info{};
    std::string error = query(l, info);
    if (!error.empty()) {
      std::snprintf(line + length, sizeof line - length, " (%s)\n",
                    error.c_str());
    } else {
      double waves = info.blocksPerSM
                         ? double(l.blocks()) /
                               (double(info.blocksPerSM) * multiprocessors)
                         : 0.0;
      std::snprintf(line + length, sizeof line - length,
                    ", %d registers, %d local bytes, %d + %d shared bytes, "
                    "%d blocks/SM (%.2f waves), sm_%d\n",
                    info.registers, info.localBytes, info.staticSharedBytes,
                    l.dynamicSharedBytes, info.blocksPerSM, waves,
                    info.binaryVersion);
    }
    out += line;
  }
  return out;
}

} // namespace r2q::bench

#endif // R2Q_BENCH_GPU_LAUNCHREPORT_H
