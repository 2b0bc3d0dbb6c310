//===- Diagnostics.cpp - MLIR diagnostics collected for Python ------------===//

#include "Diagnostics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace r2q::python {
namespace {

std::string severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Remark:
    return "remark";
  case DiagnosticSeverity::Note:
    return "note";
  }
  return "error";
}

/// "file:line:column" of the first file location inside `location` (through
/// names, call sites and fusions), else the location as MLIR prints it.
std::string locationText(Location location) {
  std::string text;
  location->walk([&](Location inner) {
    if (auto file = dyn_cast<FileLineColLoc>(inner)) {
      text = (file.getFilename().str() + ":" + llvm::Twine(file.getLine()) +
              ":" + llvm::Twine(file.getColumn()))
                 .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (!text.empty())
    return text;
  if (isa<UnknownLoc>(location))
    return "unknown";
  llvm::raw_string_ostream os(text);
  location.print(os);
  return text;
}

DiagnosticRecord recordOf(Diagnostic &diagnostic) {
  return {severityName(diagnostic.getSeverity()),
          locationText(diagnostic.getLocation()), diagnostic.str()};
}

} // namespace

DiagnosticCollector::DiagnosticCollector(MLIRContext &context)
    : handler_(&context, [this](Diagnostic &diagnostic) {
        record(diagnostic);
        return success();
      }) {}

void DiagnosticCollector::record(Diagnostic &diagnostic) {
  std::lock_guard<std::mutex> lock(mutex_);
  records_.push_back(recordOf(diagnostic));
  for (Diagnostic &note : diagnostic.getNotes())
    records_.push_back(recordOf(note));
}

std::string formatDiagnostics(const std::string &summary,
                              const std::vector<DiagnosticRecord> &records) {
  std::string text = summary;
  for (const DiagnosticRecord &record : records)
    text +=
        "\n" + record.location + ": " + record.severity + ": " + record.message;
  return text;
}

} // namespace r2q::python
