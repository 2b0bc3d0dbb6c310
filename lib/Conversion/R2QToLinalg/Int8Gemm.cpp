//===- Int8Gemm.cpp - r2q.matmul of many rows on int8 dot products --------===//
//
// Strategy int8_gemm: the product of many activation rows (prefill, batch
// 9 and up, static or dynamic) on the CPU's byte dot-product instructions.
// Lossy like lut_gemv's fast mode: activations are rounded to int8.
//
// Per call, each activation row is rounded per unit of U = min(G, 128)
// columns to q = round(x / s) with s = max |x| / 127, and stored as signed
// bytes, transposed so that one vector holds the same four columns (one
// quad) of L consecutive rows (XT[quad][m], four bytes per lane; L = 16 with
// AVX-512, 8 with AVX2). With b the sign bits of a plane (1: negative),
//
//   sum_k (1 - 2 b_k) q_k = Sq - 2 sum_k b_k q_k,
//
// where Sq is the sum of the unit's q. The last sum is a byte dot product of
// the bits as unsigned bytes (0 or 1) with the signed activations: vpdpbusd
// adds four such products into each i32 lane, so one instruction covers a
// quad of L rows for one weight row; the weight's dword (four 0/1 bytes) is
// broadcast to every lane straight from memory. (Activations as the
// unsigned operand, q + 128, would need each unit's count of set bits too.) The
// bits of each weight row and unit are expanded to bytes once (a masked byte
// move; on AVX2 a shuffle, an AND and a compare) into a small scratch buffer,
// then used by every row of activations. Per unit the i32 sums become f32,
// times the group's weight scale and the unit's activation scale, added into a
// transposed f32 output (yT[n][m]) that is transposed into the result at the
// end of the part.
//
// AVX-512 VNNI runs vpdpbusd on 16 lanes; AVX2 emulates it with vpmaddubsw
// (pairs of byte products into i16: at most 2 * 127, no saturation), added
// in i16 through a unit (at most 64 * 127), and vpmaddwd by ones (pairs of
// i16 into i32) once per unit.
//
// The output features are split across threads in parts of whole blocks of
// weight rows (8 with AVX-512, 4 with AVX2; splitFeatures); the activations
// are rounded once, before that split, their units split across the threads
// (splitColumns). A part's last block clamps its rows to the part's last
// one; those rows land in yT rows past the part, which are never read.
//
// Loop names: blk block of weight rows, u unit, mv vector of L activation
// rows, j quad within a unit, p plane.
//
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

/// Weight rows computed together: their dwords are broadcast against each
/// loaded vector of activations. With AVX-512 and two planes, 16 running
/// sums: enough independent dot products to cover their latency at two per
/// cycle (8 rows ran 1.15-1.2x faster than 4 at batch 16 and 128); AVX2 has
/// 16 vector registers, so 4 rows (8 sums) there.
constexpr int64_t kBlockRowsAVX512 = 8;
constexpr int64_t kBlockRowsAVX2 = 4;
/// The largest unit of columns with one activation scale.
constexpr int64_t kMaxUnitColumns = 128;
/// Activations are rounded to [-127, 127].
constexpr int64_t kActivationLevels = 127;

/// The kernel's operands, shape and target.
struct Int8Gemm {
  Value x;      // M x K, f32 (M may be dynamic)
  Value signs;  // P x N x ceil(K/8), i8
  Value scales; // P x N x ceil(K/G)
  int64_t groupSize;
  KernelTarget target;
  VectorType words;  // L x i32
  VectorType floats; // L x f32

  Int8Gemm(OpBuilder &builder, Value x, Value signs, Value scales,
           int64_t groupSize, KernelTarget target)
      : x(x), signs(signs), scales(scales), groupSize(groupSize),
        target(target) {
    int64_t lanes = target == KernelTarget::AVX512 ? 16 : 8;
    words = VectorType::get({lanes}, builder.getI32Type());
    floats = VectorType::get({lanes}, builder.getF32Type());
  }

  int64_t lanes() const { return words.getDimSize(0); }
  int64_t blockRows() const {
    return target == KernelTarget::AVX512 ? kBlockRowsAVX512 : kBlockRowsAVX2;
  }
  /// The running sums of a unit: i32 (vpdpbusd), or with AVX2 i16 pairs
  /// (vpmaddubsw: at most 2 x 127 per pair and quad, 32 quads fit in i16).
  VectorType sums() const {
    if (target == KernelTarget::AVX512)
      return words;
    return VectorType::get({2 * lanes()},
                           IntegerType::get(words.getContext(), 16));
  }
  int64_t columns() const {
    return cast<RankedTensorType>(x.getType()).getDimSize(1);
  }
  int64_t planes() const {
    return cast<RankedTensorType>(signs.getType()).getDimSize(0);
  }
  int64_t groups() const {
    return cast<RankedTensorType>(scales.getType()).getDimSize(2);
  }
  int64_t unitColumns() const { return std::min(groupSize, kMaxUnitColumns); }
  int64_t units() const { return llvm::divideCeil(columns(), unitColumns()); }
  int64_t quadsPerUnit() const { return unitColumns() / 4; }
  /// Whether every unit's sign bytes lie within a row (K a multiple of the
  /// unit): then they are read without a bounds check.
  bool wholeUnits() const { return columns() % unitColumns() == 0; }
  /// The group of unit `u` (a unit never spans two groups).
  Value groupOf(OpBuilder &builder, Location loc, Value unit) const {
    return arith::DivUIOp::create(builder, loc,
                                  mulIndex(builder, loc, unit, unitColumns()),
                                  index(builder, loc, groupSize));
  }
};

/// The activations as the kernel reads them: XT (quads x Mp, i32: four
/// unsigned bytes per lane), and per unit and row the sum of the rounded
/// values (SQ) and the scale (AS), both units x Mp f32. Mp is M rounded up
/// to whole vectors; the rows past M hold zeros (bytes 128, scale 0).
struct Activations {
  Value transposed, sums, scales;
  Value paddedRows;
};

Value filled(OpBuilder &builder, Location loc, Value tensor, Attribute value) {
  Value scalar =
      arith::ConstantOp::create(builder, loc, cast<TypedAttr>(value));
  return linalg::FillOp::create(builder, loc, scalar, tensor).getResult(0);
}

/// Rounds unit `u` of row `m` and writes it into `current` (XT, SQ, AS, or
/// slices of them from unit `u - slot` on).
SmallVector<Value> roundUnit(OpBuilder &builder, Location loc,
                             const Int8Gemm &kernel, Value m, Value u,
                             Value slot, ValueRange current) {
  int64_t columns = kernel.unitColumns();
  auto floatsType = VectorType::get({columns}, builder.getF32Type());
  auto intsType = VectorType::get({columns}, builder.getI32Type());
  auto bytesType = VectorType::get({columns}, builder.getI8Type());
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  Value xs = vector::TransferReadOp::create(
      builder, loc, floatsType, kernel.x,
      ValueRange{m, mulIndex(builder, loc, u, columns)}, zero,
      ArrayRef<bool>{false});
  Value largest =
      vector::ReductionOp::create(builder, loc, vector::CombiningKind::MAXIMUMF,
                                  math::AbsFOp::create(builder, loc, xs));
  Value levels = arith::ConstantOp::create(
      builder, loc, builder.getF32FloatAttr(kActivationLevels));
  Value positive = arith::CmpFOp::create(
      builder, loc, arith::CmpFPredicate::OGT, largest, zero);
  Value inverse = arith::SelectOp::create(
      builder, loc, positive,
      arith::DivFOp::create(builder, loc, levels, largest), zero);
  Value rounded = arith::FPToSIOp::create(
      builder, loc, intsType,
      math::RoundEvenOp::create(
          builder, loc,
          arith::MulFOp::create(
              builder, loc, xs,
              vector::BroadcastOp::create(builder, loc, floatsType, inverse))));
  Value sum = arith::SIToFPOp::create(
      builder, loc, builder.getF32Type(),
      vector::ReductionOp::create(builder, loc, vector::CombiningKind::ADD,
                                  rounded));
  Value quads = vector::BitCastOp::create(
      builder, loc, VectorType::get({columns / 4}, builder.getI32Type()),
      arith::TruncIOp::create(builder, loc, bytesType, rounded));
  Value transposed = current[0];
  Value firstQuad = mulIndex(builder, loc, slot, kernel.quadsPerUnit());
  for (int64_t j = 0; j < kernel.quadsPerUnit(); ++j)
    transposed = tensor::InsertOp::create(
        builder, loc, vector::ExtractOp::create(builder, loc, quads, j),
        transposed, ValueRange{addIndex(builder, loc, firstQuad, j), m});
  Value sums = tensor::InsertOp::create(builder, loc, sum, current[1],
                                        ValueRange{slot, m});
  Value scale = arith::DivFOp::create(builder, loc, largest, levels);
  Value scales = tensor::InsertOp::create(builder, loc, scale, current[2],
                                          ValueRange{slot, m});
  return {transposed, sums, scales};
}

/// The rounded activations, the units split across the kernel's threads.
Activations roundActivations(OpBuilder &builder, Location loc,
                             const Int8Gemm &kernel, KernelAttr attr) {
  Value rows = tensor::DimOp::create(builder, loc, kernel.x, 0);
  Value lanes = index(builder, loc, kernel.lanes());
  Value paddedRows = arith::MulIOp::create(
      builder, loc, arith::CeilDivUIOp::create(builder, loc, rows, lanes),
      lanes);
  int64_t units = kernel.units();
  Value transposed =
      filled(builder, loc,
             emptyTensor(builder, loc,
                         {units * kernel.quadsPerUnit(), ShapedType::kDynamic},
                         builder.getI32Type(), paddedRows),
             builder.getI32IntegerAttr(0));
  auto unitTensor = [&] {
    return filled(builder, loc,
                  emptyTensor(builder, loc, {units, ShapedType::kDynamic},
                              builder.getF32Type(), paddedRows),
                  builder.getF32FloatAttr(0));
  };
  // Units [first, first + count) of every row into the part's slices.
  auto roundPart = [&](OpBuilder &b, Location l, Value first, Value count,
                       ValueRange slices) {
    Value end = arith::AddIOp::create(b, l, first, count);
    return countedLoop(
        b, l, index(b, l, 0), rows, slices,
        [&](OpBuilder &rb, Location rl, Value m, ValueRange carried) {
          return countedLoop(
              rb, rl, first, end, carried,
              [&](OpBuilder &ub, Location ul, Value u, ValueRange current) {
                Value slot = arith::SubIOp::create(ub, ul, u, first);
                return roundUnit(ub, ul, kernel, m, u, slot, current);
              });
        });
  };
  SmallVector<Value> rounded =
      splitColumns(builder, loc, attr, units, 0,
                   ValueRange{transposed, unitTensor(), unitTensor()},
                   {kernel.quadsPerUnit(), 1, 1}, roundPart);
  return {rounded[0], rounded[1], rounded[2], paddedRows};
}

/// acc + the byte dot products of `weights` (unsigned, 0 or 1) and
/// `activations` (signed): four per i32 lane (AVX-512), or two per i16 lane
/// (AVX2).
Value dotBytes(OpBuilder &builder, Location loc, const Int8Gemm &kernel,
               Value acc, Value activations, Value weights) {
  auto bytes = VectorType::get({4 * kernel.lanes()}, builder.getI8Type());
  Value unsignedBytes = vector::BitCastOp::create(builder, loc, bytes, weights);
  Value signedBytes =
      vector::BitCastOp::create(builder, loc, bytes, activations);
  if (kernel.target == KernelTarget::AVX512)
    return callIntrinsic(builder, loc, kernel.words,
                         "llvm.x86.avx512.vpdpbusd.512",
                         ValueRange{acc, unsignedBytes, signedBytes});
  Value pairs =
      callIntrinsic(builder, loc, kernel.sums(), "llvm.x86.avx2.pmadd.ub.sw",
                    ValueRange{unsignedBytes, signedBytes});
  return arith::AddIOp::create(builder, loc, acc, pairs);
}

/// A unit's running sums as i32 per activation row (AVX2: the i16 pairs
/// added by vpmaddwd with ones).
Value widenSums(OpBuilder &builder, Location loc, const Int8Gemm &kernel,
                Value sums) {
  if (kernel.target == KernelTarget::AVX512)
    return sums;
  return callIntrinsic(builder, loc, kernel.words, "llvm.x86.avx2.pmadd.wd",
                       ValueRange{sums, splat(builder, loc, kernel.sums(), 1)});
}

/// The bits of `packed` (bit k of the unit: bit k % 8 of byte k / 8) as
/// bytes 0 or 1. AVX-512 selects from a mask register; AVX2 has none (LLVM
/// would take the bits one by one), so there each byte is spread over eight
/// lanes by a shuffle and its bit picked by an AND with the lane's bit.
Value bitsToBytes(OpBuilder &builder, Location loc, const Int8Gemm &kernel,
                  Value packed) {
  int64_t columns = kernel.unitColumns();
  auto bytesType = VectorType::get({columns}, builder.getI8Type());
  Value ones = splat(builder, loc, bytesType, 1);
  Value zeros = splat(builder, loc, bytesType, 0);
  if (kernel.target == KernelTarget::AVX512) {
    Value mask = vector::BitCastOp::create(
        builder, loc, VectorType::get({columns}, builder.getI1Type()), packed);
    return arith::SelectOp::create(builder, loc, mask, ones, zeros);
  }
  SmallVector<int64_t> spread;
  SmallVector<int8_t> bits;
  for (int64_t k = 0; k < columns; ++k) {
    spread.push_back(k / 8);
    bits.push_back(static_cast<int8_t>(1u << (k % 8)));
  }
  Value spreadBytes =
      vector::ShuffleOp::create(builder, loc, packed, packed, spread);
  Value bitOfLane = arith::ConstantOp::create(
      builder, loc, DenseElementsAttr::get(bytesType, ArrayRef<int8_t>(bits)));
  Value set = arith::CmpIOp::create(
      builder, loc, arith::CmpIPredicate::ne,
      arith::AndIOp::create(builder, loc, spreadBytes, bitOfLane), zeros);
  return arith::ExtUIOp::create(builder, loc, bytesType, set);
}

/// Expands unit `u` of plane `p`'s row `row` into row `slot` of `decoded`
/// (quadsPerUnit x i32: four 0/1 bytes each); returns the updated scratch,
/// and the unit's weight scale (f32) in `scale`.
Value decodeUnit(OpBuilder &builder, Location loc, const Int8Gemm &kernel,
                 Value row, int64_t p, Value u, Value decoded, int64_t slot,
                 Value &scale) {
  int64_t columns = kernel.unitColumns();
  auto packedType = VectorType::get({columns / 8}, builder.getI8Type());
  Value pad = arith::ConstantIntOp::create(builder, loc, 0, 8);
  Value packed = vector::TransferReadOp::create(
      builder, loc, packedType, kernel.signs,
      ValueRange{index(builder, loc, p), row,
                 mulIndex(builder, loc, u, columns / 8)},
      pad, ArrayRef<bool>{kernel.wholeUnits()});
  Value bytes = bitsToBytes(builder, loc, kernel, packed);
  Value dwords = vector::BitCastOp::create(
      builder, loc, VectorType::get({columns / 4}, builder.getI32Type()),
      bytes);
  Value group =
      arith::MinUIOp::create(builder, loc, kernel.groupOf(builder, loc, u),
                             index(builder, loc, kernel.groups() - 1));
  scale = convertFloat(
      builder, loc,
      tensor::ExtractOp::create(builder, loc, kernel.scales,
                                ValueRange{index(builder, loc, p), row, group}),
      builder.getF32Type());
  return vector::TransferWriteOp::create(
             builder, loc, dwords, decoded,
             ValueRange{index(builder, loc, slot), index(builder, loc, 0)},
             ArrayRef<bool>{true})
      .getResult();
}

/// The block's i32 sums for activation vector `mv` of unit `u`: one per
/// (row of the block, plane), over the unit's quads.
SmallVector<Value> unitSums(OpBuilder &builder, Location loc,
                            const Int8Gemm &kernel, const Activations &acts,
                            Value decoded, Value u, Value mv) {
  int64_t slots = kernel.blockRows() * kernel.planes();
  SmallVector<Value> initial(slots, splat(builder, loc, kernel.sums(), 0));
  Value firstQuad = mulIndex(builder, loc, u, kernel.quadsPerUnit());
  Value firstRow = mulIndex(builder, loc, mv, kernel.lanes());
  Value pad = arith::ConstantIntOp::create(builder, loc, 0, 32);
  SmallVector<Value> sums = countedLoop(
      builder, loc, index(builder, loc, 0),
      index(builder, loc, kernel.quadsPerUnit()), initial,
      [&](OpBuilder &b, Location l, Value j, ValueRange sums) {
        Value activations = vector::TransferReadOp::create(
            b, l, kernel.words, acts.transposed,
            ValueRange{arith::AddIOp::create(b, l, firstQuad, j), firstRow},
            pad, ArrayRef<bool>{true});
        SmallVector<Value> next;
        for (int64_t slot = 0; slot < slots; ++slot) {
          Value weights = vector::BroadcastOp::create(
              b, l, kernel.words,
              tensor::ExtractOp::create(b, l, decoded,
                                        ValueRange{index(b, l, slot), j}));
          next.push_back(
              dotBytes(b, l, kernel, sums[slot], activations, weights));
        }
        return next;
      });
  for (Value &sum : sums)
    sum = widenSums(builder, loc, kernel, sum);
  return sums;
}

/// yT[block rows, mv] += the unit's products, scaled.
Value addUnit(OpBuilder &builder, Location loc, const Int8Gemm &kernel,
              const Activations &acts, ArrayRef<Value> weightScales,
              ArrayRef<Value> sums, Value u, Value mv, Value firstOutput,
              Value outputs) {
  Value firstRow = mulIndex(builder, loc, mv, kernel.lanes());
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  auto unitVector = [&](Value tensor) {
    return vector::TransferReadOp::create(builder, loc, kernel.floats, tensor,
                                          ValueRange{u, firstRow}, zero,
                                          ArrayRef<bool>{true})
        .getResult();
  };
  Value roundedSums = unitVector(acts.sums);
  Value activationScale = unitVector(acts.scales);
  Value minusTwo = splat(builder, loc, kernel.floats, -2);
  for (int64_t i = 0; i < kernel.blockRows(); ++i) {
    Value total = splat(builder, loc, kernel.floats, 0);
    for (int64_t p = 0; p < kernel.planes(); ++p) {
      int64_t slot = i * kernel.planes() + p;
      Value signedSum = vector::FMAOp::create(
          builder, loc,
          arith::SIToFPOp::create(builder, loc, kernel.floats, sums[slot]),
          minusTwo, roundedSums);
      total = vector::FMAOp::create(
          builder, loc, signedSum,
          vector::BroadcastOp::create(builder, loc, kernel.floats,
                                      weightScales[slot]),
          total);
    }
    SmallVector<Value> position = {addIndex(builder, loc, firstOutput, i),
                                   firstRow};
    Value previous =
        vector::TransferReadOp::create(builder, loc, kernel.floats, outputs,
                                       position, zero, ArrayRef<bool>{true});
    Value updated =
        vector::FMAOp::create(builder, loc, total, activationScale, previous);
    outputs = vector::TransferWriteOp::create(builder, loc, updated, outputs,
                                              position, ArrayRef<bool>{true})
                  .getResult();
  }
  return outputs;
}

/// The block of weight rows starting at part-relative `start`: adds its
/// products with every activation row into `outputs` (yT of the part).
SmallVector<Value> blockProduct(OpBuilder &builder, Location loc,
                                const Int8Gemm &kernel, const Activations &acts,
                                const FeaturePart &part, Value start,
                                Value outputs, Value decoded) {
  Value lastRow = arith::SubIOp::create(
      builder, loc, arith::AddIOp::create(builder, loc, part.first, part.count),
      index(builder, loc, 1));
  SmallVector<Value> rows;
  for (int64_t i = 0; i < kernel.blockRows(); ++i)
    rows.push_back(arith::MinUIOp::create(
        builder, loc,
        addIndex(builder, loc,
                 arith::AddIOp::create(builder, loc, part.first, start), i),
        lastRow));
  Value vectors = arith::DivUIOp::create(builder, loc, acts.paddedRows,
                                         index(builder, loc, kernel.lanes()));
  Value zero = index(builder, loc, 0);
  return countedLoop(
      builder, loc, zero, index(builder, loc, kernel.units()),
      ValueRange{outputs, decoded},
      [&](OpBuilder &b, Location l, Value u, ValueRange carried) {
        Value scratch = carried[1];
        SmallVector<Value> weightScales(kernel.blockRows() * kernel.planes());
        for (int64_t i = 0; i < kernel.blockRows(); ++i)
          for (int64_t p = 0; p < kernel.planes(); ++p) {
            int64_t slot = i * kernel.planes() + p;
            scratch = decodeUnit(b, l, kernel, rows[i], p, u, scratch, slot,
                                 weightScales[slot]);
          }
        Value updated =
            countedLoop(
                b, l, zero, vectors, ValueRange{carried[0]},
                [&](OpBuilder &mb, Location ml, Value mv, ValueRange out) {
                  SmallVector<Value> sums =
                      unitSums(mb, ml, kernel, acts, scratch, u, mv);
                  return SmallVector<Value>{addUnit(mb, ml, kernel, acts,
                                                    weightScales, sums, u, mv,
                                                    start, out.front())};
                })
                .front();
        return SmallVector<Value>{updated, scratch};
      });
}

/// output[m, c] += yT[c, m] for the part's M x count output.
Value addTransposed(OpBuilder &builder, Location loc, Value transposed,
                    Value output) {
  MLIRContext *context = builder.getContext();
  AffineExpr m = getAffineDimExpr(0, context), c = getAffineDimExpr(1, context);
  SmallVector<AffineMap> maps = {AffineMap::get(2, 0, {c, m}, context),
                                 AffineMap::get(2, 0, {m, c}, context)};
  auto rows = tensor::DimOp::create(builder, loc, output, 0);
  auto count = tensor::DimOp::create(builder, loc, output, 1);
  Value used = tensor::ExtractSliceOp::create(
      builder, loc, transposed,
      ArrayRef<OpFoldResult>{builder.getIndexAttr(0), builder.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{count.getResult(), rows.getResult()},
      ArrayRef<OpFoldResult>{builder.getIndexAttr(1), builder.getIndexAttr(1)});
  return linalg::GenericOp::create(
             builder, loc, output.getType(), used, output, maps,
             SmallVector<utils::IteratorType>(2, kParallel),
             [](OpBuilder &b, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   b, l,
                   arith::AddFOp::create(b, l, args[0], args[1]).getResult());
             })
      .getResult(0);
}

/// The product of every activation row with the part's weight rows.
SmallVector<Value> partProduct(OpBuilder &builder, Location loc,
                               const Int8Gemm &kernel, const Activations &acts,
                               const FeaturePart &part) {
  Value outputs =
      filled(builder, loc, part.scratch[0], builder.getF32FloatAttr(0));
  Value blocks = arith::CeilDivUIOp::create(
      builder, loc, part.count, index(builder, loc, kernel.blockRows()));
  SmallVector<Value> computed =
      countedLoop(builder, loc, index(builder, loc, 0), blocks,
                  ValueRange{outputs, part.scratch[1]},
                  [&](OpBuilder &b, Location l, Value blk, ValueRange carried) {
                    return blockProduct(b, l, kernel, acts, part,
                                        mulIndex(b, l, blk, kernel.blockRows()),
                                        carried[0], carried[1]);
                  });
  return {addTransposed(builder, loc, computed[0], part.output), computed[0],
          computed[1]};
}

struct Int8GemmPattern : MatmulStrategyPattern {
  explicit Int8GemmPattern(MLIRContext *context)
      : MatmulStrategyPattern(context, KernelStrategy::Int8Gemm) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    Value x = asF32RowMatrix(builder, loc, operands.x);
    KernelAttr attr = operands.kernel;
    Int8Gemm kernel(builder, x, operands.signs, operands.scales,
                    operands.groupSize, attr.getTarget());
    // Rounded once per call, before the split of the features.
    Activations acts = roundActivations(builder, loc, kernel, attr);
    Value features = tensor::DimOp::create(builder, loc, operands.signs, 1);
    int64_t parts = attr.getThreads();
    int64_t unitRows =
        llvm::alignTo(std::max<int64_t>(kernel.blockRows(), attr.getTileRows()),
                      kernel.blockRows());
    Value partRows =
        largestPartFeatures(builder, loc, parts, features, unitRows);
    Value outputs = emptyTensor(
        builder, loc, {parts, ShapedType::kDynamic, ShapedType::kDynamic},
        builder.getF32Type(), ValueRange{partRows, acts.paddedRows});
    Value decoded = emptyTensor(
        builder, loc,
        {parts, kernel.blockRows() * kernel.planes(), kernel.quadsPerUnit()},
        builder.getI32Type());
    Value product = splitFeatures(
        builder, loc, attr, features, unitRows,
        asRowMatrix(builder, loc, accumulator), ValueRange{outputs, decoded},
        [&](OpBuilder &b, Location l, const FeaturePart &part) {
          return partProduct(b, l, kernel, acts, part);
        });
    return fromRowMatrix(builder, loc, product, accumulator);
  }
};

} // namespace

void populateInt8GemmPatterns(RewritePatternSet &patterns) {
  patterns.add<Int8GemmPattern>(patterns.getContext());
}

} // namespace r2q::lowering
