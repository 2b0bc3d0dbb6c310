//===- Diagnostics.h - MLIR diagnostics collected for Python ----*- C++ -*-===//
//
// The Python module never prints MLIR diagnostics: it collects them and hands
// them to the caller (returned, or carried by r2q.CompileError).
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_PYTHON_DIAGNOSTICS_H
#define R2Q_PYTHON_DIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"

#include <exception>
#include <mutex>
#include <string>
#include <vector>

namespace r2q::python {

/// One diagnostic: "error", "warning", "remark" or "note"; where, as
/// "file:line:column" when the location has one; and the message.
struct DiagnosticRecord {
  std::string severity;
  std::string location;
  std::string message;
};

/// Records every diagnostic of a context (and its notes) while it lives.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &context);

  const std::vector<DiagnosticRecord> &records() const { return records_; }

private:
  void record(mlir::Diagnostic &diagnostic);

  std::mutex mutex_;
  std::vector<DiagnosticRecord> records_;
  mlir::ScopedDiagnosticHandler handler_;
};

/// A compilation that stopped on an error: raised in Python as
/// r2q.CompileError with every diagnostic.
class CompileFailure : public std::exception {
public:
  CompileFailure(std::string summary, std::vector<DiagnosticRecord> diagnostics)
      : summary_(std::move(summary)), diagnostics_(std::move(diagnostics)) {}

  const char *what() const noexcept override { return summary_.c_str(); }
  const std::vector<DiagnosticRecord> &diagnostics() const {
    return diagnostics_;
  }

private:
  std::string summary_;
  std::vector<DiagnosticRecord> diagnostics_;
};

/// `summary`, then one "location: severity: message" line per diagnostic.
std::string formatDiagnostics(const std::string &summary,
                              const std::vector<DiagnosticRecord> &records);

} // namespace r2q::python

#endif // R2Q_PYTHON_DIAGNOSTICS_H
