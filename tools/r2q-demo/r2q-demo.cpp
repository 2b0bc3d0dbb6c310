//===- r2q-demo.cpp - The main job on bundled examples --------------------===//
//
// 1. R2Q against 2-bit round-to-nearest on a real weight matrix.
// 2. A Llama-style MLP block in Torch-MLIR form quantized, compiled for this
//    CPU on 1 and all threads and run: bits per weight, error and time
//    against the float block.
// 3. The quantized block on an NVIDIA GPU (r2q-gpu-pipeline), against the
//    CPU's output, where a GPU can be used; otherwise one line saying why.
//
//===----------------------------------------------------------------------===//

#include "LlamaBlockDemo.h"
#include "QuantizationReport.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"

#include <cstdio>
#include <cstdlib>

namespace cl = llvm::cl;

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // OpenMP's threads bound to the CPUs, one each, unless the environment
  // says otherwise: unbound, two-thread times varied up to 2x from one run
  // to the next (docs/rationale.md, "Bind the threads").
  setenv("OMP_PROC_BIND", "true", /*overwrite=*/0);
  cl::opt<std::string> weights(
      "weights", cl::desc("A 2-D float .npy weight matrix to quantize"),
      cl::init("examples/weights/minilm_l6_layer0_ffn_up.npy"));
  cl::opt<std::string> model(
      "model", cl::desc("The Llama MLP template in Torch-MLIR form"),
      cl::init("examples/llama_mlp.mlir.in"));
  cl::opt<int64_t> hidden("hidden", cl::desc("Hidden size of the block"),
                          cl::init(1024));
  cl::opt<int64_t> intermediate("intermediate",
                                cl::desc("Intermediate size of the block"),
                                cl::init(2816));
  cl::list<int64_t> batches("batch", cl::desc("Batch sizes to run"),
                            cl::CommaSeparated);
  // Not "threads": libLLVM registers that name.
  cl::list<int64_t> threads(
      "thread-counts",
      cl::desc("Thread counts to compile both blocks for (default: 1 and "
               "all hardware threads)"),
      cl::CommaSeparated);
  cl::opt<int> repetitions("repetitions",
                           cl::desc("Timed runs per measurement (median)"),
                           cl::init(15));
  cl::ParseCommandLineOptions(argc, argv, "r2q: the main job\n");

  if (int status = r2q::demo::printQuantizationReport(weights))
    return status;
  std::printf("\n");
  r2q::demo::LlamaBlockOptions options;
  options.templatePath = model;
  options.hidden = hidden;
  options.intermediate = intermediate;
  if (!batches.empty())
    options.batches.assign(batches.begin(), batches.end());
  options.threads.assign(threads.begin(), threads.end());
  options.repetitions = repetitions;
  return r2q::demo::runLlamaBlockDemo(options);
}
