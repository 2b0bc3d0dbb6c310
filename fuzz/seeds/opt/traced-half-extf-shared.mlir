// An f16 weight widened by arith.extf, read by three contractions.
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @shared(%x: tensor<4x16xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>) {
  %h = arith.constant dense<"0x5F29E3AA85A82A2EA52CE22D53ABF428DAA83129272C1828410CCC27D0284FAC6B29C8AC872C05A840AD2CAE682580ADD5A4D8ADD328A62C15AECF259227D221FC2DD5A80E2D0B2012ABB3A919ADC02A1CAB8224032B3DAAC62798284CA33F2B5FA38CAC3BAD88ACC729181497ACB52D40AEBD24709CFA2C1925662C16AB5C1E302B89A6E82955A403A8CEA9AA283B2EE4AD53AB91AD36AC4D144722F428C7AC782CC4AB322B5CA5511A532C4A2D1520A0ADD5A87329132CFB2CA52115ADA6A9ABA3AEACC1A7DDA8C629959FB42339A9B529292156AD6D2D04AD74AA4CADA02B992C40A0BE2AAB2B952CB22DAC272525F7AD2FAB4E2EF41DA12D1EAB102C8A2B"> : tensor<8x16xf16>
  %e0 = tensor.empty() : tensor<8x16xf32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%h : tensor<8x16xf16>) outs(%e0 : tensor<8x16xf32>) {
  ^bb0(%a: f16, %o: f32):
    %f = arith.extf %a : f16 to f32
    linalg.yield %f : f32
  } -> tensor<8x16xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y1 = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>) outs(%i : tensor<4x8xf32>) -> tensor<4x8xf32>
  %et = tensor.empty() : tensor<16x8xf32>
  %wt = linalg.transpose ins(%w : tensor<8x16xf32>) outs(%et : tensor<16x8xf32>) permutation = [1, 0]
  %y2 = linalg.matmul ins(%x, %wt : tensor<4x16xf32>, tensor<16x8xf32>) outs(%y1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %xt = tensor.empty() : tensor<16x4xf32>
  %xtt = linalg.transpose ins(%x : tensor<4x16xf32>) outs(%xt : tensor<16x4xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<8x4xf32>
  %i2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<8x4xf32>) -> tensor<8x4xf32>
  %y3 = linalg.matmul ins(%w, %xtt : tensor<8x16xf32>, tensor<16x4xf32>) outs(%i2 : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %y1, %y2, %y3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>
}
