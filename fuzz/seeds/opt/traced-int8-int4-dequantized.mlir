// int8 codes (sitofp, zero point, per-row scale) and int4 codes in i8 (uitofp, zero point 8).
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @int8(%x: tensor<1x16xf32>) -> tensor<1x8xf32> {
  %q = arith.constant dense<"0x7005C5635BCCE453211B950FE657D26EA8EAAD86BBC008EB9156CF7F301A50E98D4C5E56198A50F53E6A06A861BE956EDF22EF2AC0C33B01D2AA89246FA6913396CD7CDFC043D234C0323B952CA2E8777B29D2C9457DF24D812437CDBABE5BB5ED94DCC647D817BD2583957CC31186B968D9541F0977532030A173CF364E51C6"> : tensor<8x16xi8>
  %s = arith.constant dense<"0x065910BC7B400ABC456CD93B6C02A1BA91C2463B455A03BBFE9D66BBC32ACFBB"> : tensor<8xf32>
  %e0 = tensor.empty() : tensor<8x16xf32>
  %w = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%q, %s : tensor<8x16xi8>, tensor<8xf32>) outs(%e0 : tensor<8x16xf32>) {
  ^bb0(%a: i8, %b: f32, %o: f32):
    %f = arith.sitofp %a : i8 to f32
    %zp = arith.constant 3.0 : f32
    %c = arith.subf %f, %zp : f32
    %p = arith.mulf %c, %b : f32
    linalg.yield %p : f32
  } -> tensor<8x16xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<1x8xf32>) -> tensor<1x8xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%x, %w : tensor<1x16xf32>, tensor<8x16xf32>) outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

func.func @int4(%x: tensor<1x16xf32>) -> tensor<1x8xf32> {
  %q = arith.constant dense<"0x0104040309010B02050E060B01070707090B07050C020B050B030C06010D020708040B050C0D0203080C0F07040B05000908000F0F0C03080E04050C0008040704090202000F090F0C050E0A060D0F0B0F000408090904090903070605090D080302050F0C01050C030702070D05040E0608000A08010A0F08080B0501000906"> : tensor<8x16xi8>
  %e0 = tensor.empty() : tensor<8x16xf32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%q : tensor<8x16xi8>) outs(%e0 : tensor<8x16xf32>) {
  ^bb0(%a: i8, %o: f32):
    %i = arith.extui %a : i8 to i32
    %f = arith.uitofp %i : i32 to f32
    %zp = arith.constant 8.0 : f32
    %c = arith.subf %f, %zp : f32
    %sc = arith.constant 0.0625 : f32
    %p = arith.mulf %c, %sc : f32
    linalg.yield %p : f32
  } -> tensor<8x16xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<1x8xf32>) -> tensor<1x8xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%x, %w : tensor<1x16xf32>, tensor<8x16xf32>) outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}
