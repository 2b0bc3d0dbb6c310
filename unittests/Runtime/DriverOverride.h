//===- DriverOverride.h - The driver a runtime test loads -------*- C++ -*-===//
//
// The CUDA runtime tests choose the driver the library loads (a missing one,
// the fake) through R2Q_CUDA_DRIVER before any test runs, also in every
// re-executed death-test child, and run death tests in the "threadsafe"
// style (re-executing the binary). The style is set by a test environment:
// at static initialization gtest's own flag may not be constructed yet.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_UNITTESTS_RUNTIME_DRIVEROVERRIDE_H
#define R2Q_UNITTESTS_RUNTIME_DRIVEROVERRIDE_H

#include <gtest/gtest.h>

#include <cstdlib>

namespace r2q::test {

class ThreadsafeDeathTests : public ::testing::Environment {
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

/// Points R2Q_CUDA_DRIVER at `driver` and registers the death-test style;
/// returns true (for a namespace-scope initializer).
inline bool overrideDriver(const char *driver) {
  setenv("R2Q_CUDA_DRIVER", driver, /*overwrite=*/1);
  ::testing::AddGlobalTestEnvironment(new ThreadsafeDeathTests);
  return true;
}

} // namespace r2q::test

#endif // R2Q_UNITTESTS_RUNTIME_DRIVEROVERRIDE_H
