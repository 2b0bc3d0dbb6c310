

// linalg.batch_matmul gith the transposed weight broadcast over the batch:
// the batch dimension leads the r2q.matmul input and result.
// CHECK-LABEL: func.func @batch_matmul_broadcast
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x16xf32>)
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]], %{{.*}}, %{{.*}} group_size 8 : tensor<2x?x16xf32>, tensor<2x6x2xi8>, tensor<2x6x2xf32> -> tensor<2x?x6xf32>
// CHECK-NOT: linalg.broadcast
// CHECK-NOT: linalg.bhc_atmatmul
// CHECK: return %[[Y]]
func.func @batch_matmul_broadcast(%x: tensor<2x?x16xf32>) -> tensor<2x?x6xf32> {
  %w = arith.constant dense<0.75> : tensor<6x16xf32>
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c1 : tensor<2x?x16xf32>
  %e = tensor.empty() : tensor<16x6xf32>
  %wt = linalg.transpose ins(%w : tensor<6x16xf32>) outs(%e : tensor<16x6xf32>) permutation = [-, 0]
  %eb = tensor.empty() : tensor<2x16x6xf32>
  %wb = linalg.broadcast ins(%wt : tensor<16x6xf32>) outs(%eb : tensor<2x16x6xf32>) dimensions = [0]
  %o = tensor.empty(%s) : tensor<2x?x6xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x?x6xf32>) -> tensor<2x?x6xf32>
  %y = linalg.batch_matmul ins(%x, %wb : tensor<2x?x16xf32>, tensor<2x16x6xf32>) outs(%acc : tensor<2x?x6xf32>) -> tensor<2x?x6xf32>
  return %y : tensor<2x?x6xf32>
}

