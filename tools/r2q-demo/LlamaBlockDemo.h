//===- LlamaBlockDemo.h - Quantize, compile and run a model block -*- C++ -*-=//

#ifndef R2Q_TOOLS_R2Q_DEMO_LLAMABLOCKDEMO_H
#define R2Q_TOOLS_R2Q_DEMO_LLAMABLOCKDEMO_H

#include <cstdint>
#include <string>
#include <vector>

namespace r2q::demo {

struct LlamaBlockOptions {
  /// The Torch-MLIR-form template with @HIDDEN@ and @INTERMEDIATE@.
  std::string templatePath;
  int64_t hidden = 1024;
  int64_t intermediate = 2816;
  std::vector<int64_t> batches = {1, 16};
  /// Thread counts both blocks are compiled for (r2q-cpu-pipeline's
  /// threads); empty: 1 and all hardware threads of the host.
  std::vector<int64_t> threads;
  int repetitions = 15;
};

/// Builds the Llama-style MLP block with deterministic random weights,
/// compiles it for this CPU (float, and quantized by r2q-quantize-linear)
/// through r2q-cpu-pipeline for each thread count, runs both on random
/// inputs, and prints bits per weight of the compiled modules, the relative
/// error against the float block and the time against it for each batch
/// and thread count; then the quantized block on an NVIDIA GPU where one
/// can be used (GpuBlockDemo.h). Returns the process exit code.
int runLlamaBlockDemo(const LlamaBlockOptions &options);

/// ||approximation - reference|| / ||reference|| (2-norms, in double).
double relativeError(const std::vector<float> &approximation,
                     const std::vector<float> &reference);

} // namespace r2q::demo

#endif // R2Q_TOOLS_R2Q_DEMO_LLAMABLOCKDEMO_H
