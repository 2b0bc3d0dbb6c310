// Dense + sparse R2Q in r2q-quantize-linear: outliers=<fraction>,
// outlier-threshold=<t> and outlier-type=f16|f32 keep the largest weights of
// constant weights exactly, folded into CSR constants beside the planes and
// scales and passed to r2q.matmul.
// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=32 outliers=0.01" | FileCheck %s --check-prefixes=CHECK,F16
// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=32 outlier-threshold=4 outlier-type=f32" | FileCheck %s --check-prefixes=CHECK,F32
// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=32" | FileCheck %s --check-prefix=NONE
// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=32 outliers=0.01 stats=true" 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: not r2q-opt %s --r2q-quantize-linear="outliers=1.5" 2>&1 | FileCheck %s --check-prefix=FRACTION
// RUN: not r2q-opt %s --r2q-quantize-linear="outlier-threshold=-1" 2>&1 | FileCheck %s --check-prefix=THRESHOLD

// A 4 x 64 weight of spread 0.05 with three injected large weights: 6.0 at
// (1, 5), -3.0 at (1, 40) and 2.5 at (3, 63). Both the 1% largest (3 of 256)
// and those above 4x their group's RMS are exactly these; rows 0 and 2 have
// none.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{.*}}> : tensor<2x4x8xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{.*}}> : tensor<2x4x2xf16>
// CHECK-DAG: %[[O:.*]] = arith.constant dense<[0, 0, 2, 2, 3]> : tensor<5xi32>
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[5, 40, 63]> : tensor<3xi16>
// F16-DAG: %[[V:.*]] = arith.constant dense<{{.*}}> : tensor<3xf16>
// F32-DAG: %[[V:.*]] = arith.constant dense<{{.*}}> : tensor<3xf32>
// F16: r2q.matmul %{{.*}}, %[[S]], %[[A]] outliers(%[[O]], %[[C]], %[[V]]) group_size 32 : tensor<3x64xf32>, tensor<2x4x8xi8>, tensor<2x4x2xf16>, outliers(tensor<5xi32>, tensor<3xi16>, tensor<3xf16>) -> tensor<3x4xf32>
// F32: r2q.matmul %{{.*}}, %[[S]], %[[A]] outliers(%[[O]], %[[C]], %[[V]]) group_size 32 : tensor<3x64xf32>, tensor<2x4x8xi8>, tensor<2x4x2xf16>, outliers(tensor<5xi32>, tensor<3xi16>, tensor<3xf32>) -> tensor<3x4xf32>
// CHECK-NOT: linalg.matmul
// NONE-LABEL: func.func @linear
// NONE-NOT: outliers
// NONE: r2q.matmul %{{.*}} group_size 32 : tensor<3x64xf32>, tensor<2x4x8xi8>, tensor<2x4x2xf16> -> tensor<3x4xf32>
// Bits per weight count the outliers: 64 sign bytes + 32 scale bytes + 20
// offset bytes + 3 x (2 + 2) bytes = 128 bytes for 256 weights.
// STATS: remark: layer 'linear:linear0': 4x64 weight, group size 32, 2 planes, 4.000 bits per weight, 3 outliers, relative error {{[0-9.]+}}
// FRACTION: r2q-quantize-linear: outliers must be a fraction between 0 and 1, not 1.5
// THRESHOLD: r2q-quantize-linear: outlier-threshold must be non-negative, not -1
func.func @linear(%x: tensor<3x64xf32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<[[-0.0393, 0.0203, 0.0152, 0.044, -0.0229, -0.0244, 0.0234, 0.0158, -0.0197, 0.0184, -0.0103, 0.0278, -0.0382, -0.0277, 0.0401, -0.0142, -0.024, 0.0304, 0.0132, -0.035, 0.0051, 0.0164, -0.0335, 0.0152, -0.0377, -0.0163, -0.0417, -0.0296, 0.0478, -0.0096, 0.049, -0.0061, 0.0108, 0.0373, 0.0187, -0.0388, 0.0089, 0.0134, -0.0319, -0.0405, 0.0375, 0.0014, -0.0306, -0.0047, -0.0282, 0.0298, 0.0, -0.0398, 0.0318, -0.041, -0.0219, -0.0472, 0.024, -0.0386, 0.0026, -0.0407, -0.002, 0.0185, 0.0035, -0.0045, -0.0015, -0.0063, 0.0095, -0.0405], [-0.0025, -0.0264, 0.0365, 0.0439, -0.0434, 6.0, 0.0203, 0.0071, -0.0481, 0.0205, 0.0444, -0.0077, -0.0153, 0.0069, 0.0439, -0.0236, -0.0198, -0.0311, 0.0128, -0.0031, -0.0244, -0.0112, -0.0465, -0.0188, 0.0483, 0.0086, -0.0217, 0.0436, -0.0142, -0.0248, -0.0465, -0.0354, -0.0301, -0.027, 0.0373, -0.0235, -0.0251, 0.0104, 0.0417, -0.0209, -3.0, -0.0131, 0.0061, 0.0096, 0.0442, 0.0257, 0.0008, 0.0341, -0.0134, -0.0116, 0.046, 0.0046, 0.0273, -0.0186, 0.0415, 0.0113, -0.0253, 0.0434, -0.0031, -0.0161, -0.0237, -0.0397, -0.0299, 0.0192], [-0.0359, -0.0241, -0.0053, 0.0045, -0.0119, 0.0285, -0.0243, -0.0131, -0.0075, -0.0371, -0.0278, -0.0354, 0.0225, -0.0353, 0.0168, -0.0278, 0.0147, 0.0157, -0.0147, 0.0433, 0.0157, 0.0057, -0.0454, -0.0093, -0.0234, -0.003, 0.0433, 0.0364, -0.0438, 0.018, 0.0434, 0.0042, -0.0403, 0.0367, -0.0074, 0.0481, 0.0374, 0.0329, 0.0431, -0.0432, 0.0294, -0.0195, -0.0365, -0.0121, 0.0089, -0.0495, -0.005, 0.0284, -0.0005, 0.0028, -0.0204, 0.0471, -0.0252, 0.0181, 0.0146, -0.0499, 0.0496, -0.0265, 0.0489, 0.0428, 0.0401, 0.0355, -0.0102, -0.0055], [-0.0154, 0.0436, -0.0471, -0.0363, 0.0456, 0.0306, 0.0206, 0.0468, 0.0024, 0.0335, -0.0057, 0.0401, -0.043, -0.0062, 0.0077, 0.0294, -0.0077, 0.0181, 0.0468, -0.0081, -0.03, -0.047, 0.0362, -0.0024, -0.0112, 0.002, -0.038, -0.0278, -0.0264, -0.0245, 0.036, -0.0253, -0.041, 0.0367, 0.0058, -0.0472, 0.0175, 0.0186, 0.015, 0.0275, -0.0076, -0.0275, 0.0244, 0.0125, 0.0204, -0.0316, -0.0127, 0.0191, -0.0115, 0.0102, -0.0027, 0.0255, -0.0152, -0.0002, 0.0328, -0.0189, -0.0324, 0.0137, -0.0367, 0.0357, -0.0225, 0.0404, 0.0034, 2.5]]> : tensor<4x64xf32>
  %e = tensor.empty() : tensor<64x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x64xf32>) outs(%e : tensor<64x4xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<3x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<3x64xf32>, tensor<64x4xf32>) outs(%acc : tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Weights of 1e-10 whose f16 scales would underflow, with one weight of 1.0:
// the layer falls back to f32 scales and keeps its outlier.
// CHECK-LABEL: func.func @tiny
// CHECK-DAG: %[[O:.*]] = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
// CHECK-DAG: %[[C:.*]] = arith.constant dense<7> : tensor<1xi16>
// CHECK: r2q.matmul %{{.*}} outliers(%[[O]], %[[C]], %{{.*}}) group_size 32 : tensor<3x64xf32>, tensor<2x2x8xi8>, tensor<2x2x2xf32>, outliers(tensor<3xi32>, tensor<1xi16>, tensor<1x{{f16|f32}}>)
// STATS: warning: layer 'tiny:linear0': {{.*}} this layer uses f32 scales
// STATS: remark: layer 'tiny:linear0': 2x64 weight, group size 32, 2 planes, {{[0-9.]+}} bits per weight, 1 outliers
func.func @tiny(%x: tensor<3x64xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[4.2e-11, 3.65e-10, -2.8e-11, 2.7e-10, -2.62e-10, 9.18e-10, -6.51e-10, 1.0, -9.53e-10, 1.4e-11, -8.67e-10, -7.36e-10, 1.77e-10, 8.09e-10, -3.81e-10, -1.94e-10, -4.8e-11, 2.1e-10, -2.99e-10, -2.97e-10, 7.07e-10, 1.11e-10, -2.95e-10, 6.36e-10, 9.98e-10, -1.36e-10, -9.7e-10, -3.89e-10, 7.96e-10, -6.56e-10, -6.03e-10, 5.85e-10, -7.71e-10, 6.99e-10, -5.47e-10, -2.24e-10, 1.89e-10, -7.76e-10, 5.5e-10, -1.23e-10, 5.41e-10, 5.28e-10, -8.46e-10, 6.45e-10, 6.42e-10, -5.17e-10, 1.83e-10, -5.89e-10, 7.7e-11, 5.04e-10, -2.46e-10, 6.6e-11, -7.37e-10, 7.26e-10, 2.53e-10, 6.61e-10, -8.39e-10, 4.91e-10, -8.19e-10, 1.13e-10, -5.38e-10, 8.03e-10, -7.88e-10, -5.4e-11], [-5.8e-11, -2.28e-10, -8.71e-10, 3.32e-10, 9.44e-10, -2.78e-10, 7.98e-10, -3.22e-10, -4.54e-10, -9.1e-11, 9.46e-10, 5.59e-10, 2.65e-10, -9.21e-10, -9.7e-11, -9.7e-10, -8.76e-10, -2.47e-10, -5.12e-10, -7.92e-10, 2.3e-11, 5.65e-10, 8.51e-10, 8.32e-10, -1.48e-10, -6.43e-10, 9.27e-10, -1.53e-10, -3.14e-10, 6.48e-10, 1.16e-10, 9.05e-10, 4.02e-10, 8.92e-10, -6.94e-10, 8.87e-10, 8.3e-11, 3.93e-10, -3.98e-10, -5.12e-10, -4.07e-10, -6.6e-10, 9.21e-10, -7.61e-10, -5.15e-10, 2.67e-10, -5.91e-10, -5.73e-10, -4.94e-10, -5.32e-10, -9.8e-10, 4.8e-10, 3.18e-10, -3.8e-10, 7.98e-10, 1.19e-10, -5.6e-10, 9.3e-10, -5.41e-10, 6.19e-10, 6.33e-10, -9.94e-10, 6.94e-10, -1.59e-10]]> : tensor<2x64xf32>
  %e = tensor.empty() : tensor<64x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x64xf32>) outs(%e : tensor<64x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<3x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<3x2xf32>) -> tensor<3x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<3x64xf32>, tensor<64x2xf32>) outs(%acc : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
