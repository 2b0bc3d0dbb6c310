//===- QuantizationReport.h - R2Q vs round-to-nearest -----------*- C++ -*-===//

#ifndef R2Q_TOOLS_R2Q_DEMO_QUANTIZATIONREPORT_H
#define R2Q_TOOLS_R2Q_DEMO_QUANTIZATIONREPORT_H

#include <string>

namespace r2q::demo {

/// Quantizes the 2-D float matrix of the .npy file `path` with R2Q (greedy
/// and refined) and with 2-bit round-to-nearest (min/max and absmax) at group
/// sizes 32, 64 and 128, and prints their errors side by side. Returns the
/// process exit code.
int printQuantizationReport(const std::string &path);

} // namespace r2q::demo

#endif // R2Q_TOOLS_R2Q_DEMO_QUANTIZATIONREPORT_H
