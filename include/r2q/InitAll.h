//===- InitAll.h - The one registration point of r2q ------------*- C++ -*-===//
//
// r2q-opt, the mlir-opt plugin and the Python module all register r2q through
// these functions, so each sees the same dialects, passes and pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_INITALL_H
#define R2Q_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace r2q {

/// The r2q dialect and the dialects and interface models its passes create
/// or rely on.
void registerR2QDialects(mlir::DialectRegistry &registry);

/// The r2q passes and named pipelines.
void registerR2QPasses();

/// What r2q-opt offers: r2q plus every upstream dialect, extension and pass.
void registerR2QAndUpstream(mlir::DialectRegistry &registry);

} // namespace r2q

#endif // R2Q_INITALL_H
