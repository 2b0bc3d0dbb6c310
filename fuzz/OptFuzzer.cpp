//===- OptFuzzer.cpp - libFuzzer target over r2q-opt's main path ----------===//
//
// Parses the input as MLIR, verifies it, and runs r2q-quantize-linear (options
// chosen from a hash of the input), convert-r2q-to-linalg and the verifier
// again. Any outcome but a crash, a hang or a sanitizer report is fine:
// diagnostics are expected. Seeded with the lit test inputs (make fuzz).
//
//===----------------------------------------------------------------------===//

#include "r2q/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <algorithm>
#include <memory>
#include <string>

using namespace mlir;

namespace {

/// A context reused across inputs and replaced now and then, because
/// uniqued types and attributes accumulate in it.
class Session {
public:
  MLIRContext &context() {
    if (!context_ || ++uses_ % 2000 == 0) {
      DialectRegistry registry;
      r2q::registerR2QAndUpstream(registry);
      context_ = std::make_unique<MLIRContext>(
          registry, MLIRContext::Threading::DISABLED);
      context_->loadAllAvailableDialects();
    }
    return *context_;
  }

private:
  std::unique_ptr<MLIRContext> context_;
  uint64_t uses_ = 0;
};

/// The characters MLIR's lexer skips as white space: not \v or \f, which
/// StringRef::trim() also removes (a list holding them does not lex), but a
/// NUL byte before the end of the buffer.
const llvm::StringRef kMLIRWhiteSpace(" \t\n\r\0", 5);

/// Whether `list` (the inside of [...]) is a well-formed integer list.
bool isIntegerList(llvm::StringRef list) {
  if (list.trim(kMLIRWhiteSpace).empty())
    return true;
  llvm::SmallVector<llvm::StringRef> items;
  list.split(items, ',');
  return llvm::all_of(items, [](llvm::StringRef item) {
    int64_t value;
    return !item.trim(kMLIRWhiteSpace).getAsInteger(10, value);
  });
}

/// Whether a blob after `dialect_resources` in `text` starts with a zero
/// alignment header ("0x00000000"): upstream MLIR 22.1.8's parser aborts on
/// it (fuzz/known-upstream/README.md).
bool hasZeroAlignmentBlob(llvm::StringRef text) {
  size_t section = text.find("dialect_resources");
  return section != llvm::StringRef::npos &&
         text.drop_front(section).contains_insensitive("\"0x00000000");
}

/// Whether brackets in `text` nest deeper than any real IR does: MLIR
/// 22.1.8's recursive parsers overflow the stack on thousands of nested
/// parentheses (fuzz/known-upstream/README.md). Counted over the raw text,
/// strings and comments included: skipping a few extra inputs is harmless.
bool nestsTooDeep(llvm::StringRef text) {
  constexpr int kMaxDepth = 256;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '(' || c == '[' || c == '{' || c == '<')
      ++depth;
    else if (c == ')' || c == ']' || c == '}' ||
             (c == '>' && (i == 0 || text[i - 1] != '-')))
      depth = std::max(depth - 1, 0);
    if (depth > kMaxDepth)
      return true;
  }
  return false;
}

/// Whether `text` has a `permutation =` or `dimensions =` not followed by a
/// well-formed integer list in brackets, or a resource blob with a zero
/// alignment, or nests brackets too deeply: upstream MLIR 22.1.8 crashes on
/// those (fuzz/known-upstream/README.md).
bool hitsKnownUpstreamCrash(llvm::StringRef text) {
  if (hasZeroAlignmentBlob(text) || nestsTooDeep(text))
    return true;
  for (llvm::StringRef keyword : {"permutation", "dimensions"}) {
    for (size_t at = text.find(keyword); at != llvm::StringRef::npos;
         at = text.find(keyword, at + 1)) {
      llvm::StringRef rest =
          text.drop_front(at + keyword.size()).ltrim(kMLIRWhiteSpace);
      if (!rest.consume_front("="))
        continue;
      rest = rest.ltrim(kMLIRWhiteSpace);
      if (!rest.consume_front("["))
        return true;
      size_t close = rest.find(']');
      if (close == llvm::StringRef::npos ||
          !isIntegerList(rest.take_front(close)))
        return true;
    }
  }
  return false;
}

std::string pipelineFor(llvm::StringRef text) {
  static const char *const pipelines[] = {
      "r2q-quantize-linear,convert-r2q-to-linalg",
      "r2q-quantize-linear{group-size=8 planes=1 scale-type=f32},"
      "r2q-select-cpu-kernels{vector-width=8 threads=3},convert-r2q-to-linalg",
      "r2q-quantize-linear{group-size=32 planes=3 method=refined},"
      "r2q-decompose-quantize,convert-r2q-to-linalg",
      "r2q-quantize-linear{group-size=16 planes=4 scale-type=bf16 "
      "min-weights=64},canonicalize,r2q-select-cpu-kernels{threads=1},"
      "convert-r2q-to-linalg",
      // Dense + sparse weights, explicit folding, kernel outlining and
      // ml_program globals: everything r2q-cpu-pipeline runs before
      // bufferization.
      "r2q-quantize-linear{group-size=8 outliers=0.05 outlier-threshold=3},"
      "r2q-verify-resource-blobs,r2q-fold-constant-weights,"
      "r2q-select-cpu-kernels{threads=2},r2q-outline-kernels,"
      "convert-r2q-to-linalg,"
      "r2q-lower-ml-program-globals",
      "r2q-quantize-linear{group-size=24 outliers=0.01 outlier-type=f32 "
      "ragged-groups=false},r2q-outline-kernels,convert-r2q-to-linalg",
  };
  return pipelines[llvm::hash_value(text) % std::size(pipelines)];
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  r2q::registerR2QPasses();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static Session session;
  MLIRContext &context = session.context();
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  // A std::string is null-terminated, as every buffer r2q-opt reads from a
  // file is: MLIR's lexer and diagnostic printer rely on that terminator.
  const std::string text(reinterpret_cast<const char *>(data), size);
  if (hitsKnownUpstreamCrash(text))
    return 0;
  // Top-level ops go into a module, as r2q-opt parses files, so that the
  // module passes of every pipeline apply.
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(text, ParserConfig(&context));
  if (!module || failed(verify(*module)))
    return 0;
  PassManager pm(&context);
  if (failed(parsePassPipeline(pipelineFor(text), pm)))
    return 0;
  if (succeeded(pm.run(*module)))
    (void)verify(*module);
  return 0;
}
