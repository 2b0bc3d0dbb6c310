// RUN: r2q-opt %s --r2q-verify-llvm-contract --verify-diagnostics

llvm.func @lowered() {
  llvm.return
}

// expected-error @+1 {{'func.func' was not lowered to the LLVM dialect}}
func.func @not_lowered() {
  // expected-error @+1 {{'func.return' was not lowered to the LLVM dialect}}
  return
}
