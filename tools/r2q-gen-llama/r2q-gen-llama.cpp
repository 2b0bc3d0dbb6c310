//===- r2q-gen-llama.cpp - Llama-shaped modules for scaling tests ---------===//
//
// Writes the linear layers of N Llama decoder layers (q, k, v, o projections
// and a gated MLP) in the form Torch-MLIR emits for a bf16 model: weights are
// bf16 dense_resource constants transposed for linalg.matmul into an f32
// accumulator, then truncated. Weight data is random (deterministic) and the
// module is written as MLIR bytecode, which reads a 7B-sized model far faster
// than hex text. Used by scripts/measure-limits.py (docs/reliability.md):
// 7B-sized layers, and many small ones in one function (--hidden=256
// --intermediate=768) to measure compile time per layer.
//
//===----------------------------------------------------------------------===//

#include "r2q/InitAll.h"
#include "r2q/Quant/FloatFormats.h"
#include "r2q/Runtime/Resources.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cmath>
#include <cstring>

namespace cl = llvm::cl;
using llvm::formatv;

namespace {

/// Builds the function body one op at a time with fresh SSA names.
class LlamaWriter {
public:
  LlamaWriter(int64_t hidden, int64_t intermediate)
      : hidden_(hidden), intermediate_(intermediate) {}

  std::string module(int layers) {
    std::string h = "%x";
    for (int layer = 0; layer < layers; ++layer)
      h = decoderLayer(h, layer);
    return formatv(R"(#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<?x{0}xbf16>) -> tensor<?x{0}xbf16> {{
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %rows = tensor.dim %x, %c0 : tensor<?x{0}xbf16>
{1}  return {2} : tensor<?x{0}xbf16>
}
)",
                   hidden_, body_, h)
        .str();
  }

private:
  std::string fresh() { return "%v" + std::to_string(next_++); }

  std::string type(int64_t cols, const char *element = "bf16") {
    return formatv("tensor<?x{0}x{1}>", cols, element).str();
  }

  /// y = x W^T for an n x k weight, as Torch-MLIR emits it for bf16.
  std::string linear(const std::string &x, int64_t k, int64_t n,
                     const std::string &name) {
    std::string w = fresh(), empty = fresh(), wt = fresh(), out = fresh(),
                acc = fresh(), product = fresh(), rounded = fresh(),
                roundedInit = fresh();
    body_ +=
        formatv(
            R"(  {0} = arith.constant dense_resource<{1}> : tensor<{2}x{3}xbf16>
  {4} = tensor.empty() : tensor<{3}x{2}xbf16>
  {5} = linalg.transpose ins({0} : tensor<{2}x{3}xbf16>) outs({4} : tensor<{3}x{2}xbf16>) permutation = [1, 0]
  {6} = tensor.empty(%rows) : {7}
  {8} = linalg.fill ins(%zero : f32) outs({6} : {7}) -> {7}
  {9} = linalg.matmul ins({10}, {5} : {11}, tensor<{3}x{2}xbf16>) outs({8} : {7}) -> {7}
  {12} = tensor.empty(%rows) : {13}
  {14} = linalg.generic {{indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins({9} : {7}) outs({12} : {13}) {{
  ^bb0(%in: f32, %out: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  } -> {13}
)",
            w, name, n, k, empty, wt, out, type(n, "f32"), acc, product, x,
            type(k), roundedInit, type(n), rounded)
            .str();
    return rounded;
  }

  /// An element-wise combination of two bf16 tensors of `cols` columns,
  /// computed in f32: `expression` uses %a and %b.
  std::string combine(const std::string &a, const std::string &b, int64_t cols,
                      const std::string &expression) {
    std::string init = fresh(), result = fresh();
    body_ += formatv(R"(  {0} = tensor.empty(%rows) : {1}
  {2} = linalg.generic {{indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins({3}, {4} : {1}, {1}) outs({0} : {1}) {{
  ^bb0(%ia: bf16, %ib: bf16, %out: bf16):
    %a = arith.extf %ia : bf16 to f32
    %b = arith.extf %ib : bf16 to f32
{5}
    %r = arith.truncf %c : f32 to bf16
    linalg.yield %r : bf16
  } -> {1}
)",
                     init, type(cols), result, a, b, expression)
                 .str();
    return result;
  }

  std::string decoderLayer(const std::string &h, int layer) {
    auto weight = [&](const char *name) {
      return formatv("layers.{0}.{1}.weight", layer, name).str();
    };
    const std::string add = "    %c = arith.addf %a, %b : f32";
    const std::string siluTimes = "    %n = arith.negf %a : f32\n"
                                  "    %e = math.exp %n : f32\n"
                                  "    %d = arith.addf %e, %one : f32\n"
                                  "    %s = arith.divf %a, %d : f32\n"
                                  "    %c = arith.mulf %s, %b : f32";
    std::string q = linear(h, hidden_, hidden_, weight("self_attn.q_proj"));
    std::string k = linear(h, hidden_, hidden_, weight("self_attn.k_proj"));
    std::string v = linear(h, hidden_, hidden_, weight("self_attn.v_proj"));
    std::string mixed = combine(combine(q, k, hidden_, add), v, hidden_, add);
    std::string o = linear(mixed, hidden_, hidden_, weight("self_attn.o_proj"));
    std::string h1 = combine(h, o, hidden_, add);
    std::string gate =
        linear(h1, hidden_, intermediate_, weight("mlp.gate_proj"));
    std::string up = linear(h1, hidden_, intermediate_, weight("mlp.up_proj"));
    std::string act = combine(gate, up, intermediate_, siluTimes);
    std::string down =
        linear(act, intermediate_, hidden_, weight("mlp.down_proj"));
    return combine(h1, down, hidden_, add);
  }

  int64_t hidden_, intermediate_;
  std::string body_;
  int next_ = 0;
};

/// Roughly N(0, 0.02^2) bf16 values from a fast generator (Irwin-Hall sum of
/// four uniforms): the scaling study needs realistic magnitudes, not exact
/// Gaussians, and 1.6 G values must be made in seconds.
void fillRandomBFloat16(llvm::MutableArrayRef<char> bytes, uint64_t seed) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const float scale = 0.02f * std::sqrt(3.0f) / 65536.0f / 2.0f;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    uint64_t bits = next();
    float sum = 0;
    for (int part = 0; part < 4; ++part)
      sum += static_cast<float>((bits >> (16 * part)) & 0xffff) - 32767.5f;
    uint16_t value = r2q::quant::floatToBFloat16Bits(sum * scale);
    std::memcpy(&bytes[i], &value, 2);
  }
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::opt<int> layers("layers", cl::desc("Decoder layers"), cl::init(1));
  cl::opt<int64_t> hidden("hidden", cl::desc("Hidden size"), cl::init(4096));
  cl::opt<int64_t> intermediate(
      "intermediate", cl::desc("MLP intermediate size"), cl::init(11008));
  cl::opt<std::string> output("o", cl::desc("Output bytecode file"),
                              cl::Required);
  cl::ParseCommandLineOptions(argc, argv,
                              "Llama-shaped bf16 modules for scaling tests\n");

  mlir::DialectRegistry registry;
  r2q::registerR2QAndUpstream(registry);
  mlir::MLIRContext context(registry);
  LlamaWriter writer(hidden, intermediate);
  auto module =
      mlir::parseSourceString<mlir::ModuleOp>(writer.module(layers), &context);
  if (!module)
    return 1;
  uint64_t seed = 0;
  r2q::supplyResources(*module, [&](mlir::DenseResourceElementsAttr,
                                    llvm::MutableArrayRef<char> bytes) {
    fillRandomBFloat16(bytes, ++seed);
  });

  std::string error;
  auto file = mlir::openOutputFile(output, &error);
  if (!file) {
    llvm::errs() << error << "\n";
    return 1;
  }
  if (failed(mlir::writeBytecodeToFile(*module, file->os())))
    return 1;
  file->keep();
  return 0;
}
