//===- MatvecToVector.cpp - r2q.matmul as a GEMV on the sign bits ---------===//
//
// Strategy vector_gemv. For few activation rows the product is computed from
// the packed bits, never decoding a weight to a float. With s = +-1 the sign of
// a bit,
//
//   y[m, n] = sum_g sum_p a_p[n, g] * sum_{k in g} s_p[n, k] * x[m, k]
//           = sum_g A[n, g] * S[m, g]  -  2 * sum_p sum_{k : bit_p[n, k]}
//           a_p[n, g(k)] * x[m, k]
//
// where A = sum_p a_p and S[m, g] = sum_{k in g} x[m, k], computed once per
// row. The second sum is vector work: W/8 sign bytes become a
// vector<W x i1> mask by a bitcast (lane k is bit k mod 8 of byte k / 8, as
// docs/format.md packs them), and the mask selects which lanes of
// acc_p + a_p * x replace acc_p: one masked FMA per plane, no negation.
// Each plane has its own accumulator so their FMA chains run side by side.
//
// When the group size G does not divide K, the whole groups run in a loop and
// the shorter last group once after it, its last chunk read with masked
// transfers: activations past K read as zero and sign bytes past the row as
// zero, so nothing is read past a row and the padding bits of the last byte
// multiply zeros.
//
// The group sums S are computed once per call, before the output features
// are split across threads; each thread's part then loops over rows and its
// features, writing its slice of the output.
//
// Loop names: m activation row, n output feature, g group, c chunk of W
// columns within the group.
//
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

/// The largest power of two of at least 8 that divides `groupSize` and is
/// at most `width`.
int64_t chunkWidth(int64_t groupSize, int64_t width) {
  int64_t chunk = 8;
  while (chunk * 2 <= width && groupSize % (chunk * 2) == 0)
    chunk *= 2;
  return chunk;
}

/// for (i = 0; i < count; ++i) carrying `initial`; `body(b, l, i, carried)`
/// returns the values to carry on.
template <typename BodyFn>
ValueRange countedLoop(OpBuilder &builder, Location loc, Value count,
                       ValueRange initial, BodyFn body) {
  auto loop = scf::ForOp::create(
      builder, loc, index(builder, loc, 0), count, index(builder, loc, 1),
      initial, [&](OpBuilder &b, Location l, Value i, ValueRange carried) {
        scf::YieldOp::create(b, l, body(b, l, i, carried));
      });
  return loop.getResults();
}

/// The chunks of one group: how many, and whether the last may reach past K
/// (then its reads are masked).
struct GroupChunks {
  int64_t count;
  bool inBounds;
};

/// The kernel's operands and the vector types it works in.
struct Matvec {
  Value x;      // M x K, f32
  Value signs;  // P x N x ceil(K/8), i8
  Value scales; // P x N x ceil(K/G)
  int64_t groupSize;
  VectorType floats; // W x f32, W divides groupSize
  VectorType bytes;  // W/8 x i8
  VectorType mask;   // W x i1

  Matvec(OpBuilder &builder, Value x, Value signs, Value scales,
         int64_t groupSize, int64_t vectorWidth)
      : x(x), signs(signs), scales(scales), groupSize(groupSize) {
    int64_t width = chunkWidth(groupSize, vectorWidth);
    floats = VectorType::get({width}, builder.getF32Type());
    bytes = VectorType::get({width / 8}, builder.getI8Type());
    mask = VectorType::get({width}, builder.getI1Type());
  }

  int64_t width() const { return floats.getDimSize(0); }
  int64_t planes() const {
    return cast<RankedTensorType>(signs.getType()).getDimSize(0);
  }
  int64_t groups() const {
    return cast<RankedTensorType>(scales.getType()).getDimSize(2);
  }
  int64_t columns() const {
    return cast<RankedTensorType>(x.getType()).getDimSize(1);
  }
  int64_t wholeGroups() const { return columns() / groupSize; }
  /// Columns of the shorter last group; 0 when G divides K.
  int64_t lastGroupColumns() const { return columns() % groupSize; }

  /// x[row, column : column + W]; lanes past K read as 0 unless `inBounds`.
  Value readActivations(OpBuilder &builder, Location loc, Value row,
                        Value column, bool inBounds) const {
    Value pad =
        arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
    return vector::TransferReadOp::create(builder, loc, floats, x,
                                          ValueRange{row, column}, pad,
                                          ArrayRef<bool>{inBounds});
  }

  /// The W sign bits of plane `plane`, row `feature`, from byte `byte` of
  /// the row, as a mask whose set lanes are the negative weights; bytes past
  /// the row read as 0 unless `inBounds`.
  Value readNegativeMask(OpBuilder &builder, Location loc, int64_t plane,
                         Value feature, Value byte, bool inBounds) const {
    Value pad = arith::ConstantIntOp::create(builder, loc, 0, 8);
    Value packed = vector::TransferReadOp::create(
        builder, loc, bytes, signs,
        ValueRange{index(builder, loc, plane), feature, byte}, pad,
        ArrayRef<bool>{inBounds});
    return vector::BitCastOp::create(builder, loc, mask, packed);
  }

  /// The first column of chunk `chunk` of group `group`.
  Value chunkColumn(OpBuilder &builder, Location loc, Value group,
                    Value chunk) const {
    Value groupStart = arith::MulIOp::create(builder, loc, group,
                                             index(builder, loc, groupSize));
    Value offset = arith::MulIOp::create(builder, loc, chunk,
                                         index(builder, loc, width()));
    return arith::AddIOp::create(builder, loc, groupStart, offset);
  }

  /// A loop over the `chunks.count` chunks of group `group` carrying
  /// `initial`; `body(b, l, column, carried)` sees each chunk's first column.
  template <typename BodyFn>
  ValueRange forEachChunk(OpBuilder &builder, Location loc, Value group,
                          GroupChunks chunks, ValueRange initial,
                          BodyFn body) const {
    return countedLoop(
        builder, loc, index(builder, loc, chunks.count), initial,
        [&](OpBuilder &b, Location l, Value chunk, ValueRange carried) {
          return body(b, l, chunkColumn(b, l, group, chunk), carried);
        });
  }

  /// A loop over the whole groups of a row carrying `initial`, then the
  /// shorter last group if there is one: `body(b, l, group, carried, chunks)`
  /// returns the values to carry on.
  template <typename BodyFn>
  SmallVector<Value> forEachGroup(OpBuilder &builder, Location loc,
                                  ValueRange initial, BodyFn body) const {
    SmallVector<Value> carried(initial);
    if (wholeGroups() > 0) {
      GroupChunks whole{groupSize / width(), true};
      carried = countedLoop(
          builder, loc, index(builder, loc, wholeGroups()), carried,
          [&](OpBuilder &b, Location l, Value group, ValueRange values) {
            return body(b, l, group, values, whole);
          });
    }
    if (int64_t last = lastGroupColumns(); last > 0) {
      GroupChunks partial{(last + width() - 1) / width(), last % width() == 0};
      carried = body(builder, loc, index(builder, loc, wholeGroups()), carried,
                     partial);
    }
    return carried;
  }
};

Value zeroVector(OpBuilder &builder, Location loc, VectorType type) {
  return arith::ConstantOp::create(builder, loc, builder.getZeroAttr(type));
}

Value sumVector(OpBuilder &builder, Location loc, Value vector) {
  return vector::ReductionOp::create(builder, loc, vector::CombiningKind::ADD,
                                     vector, arith::FastMathFlags::reassoc);
}

/// sum_{k in group} x[row, k].
Value groupSum(OpBuilder &builder, Location loc, const Matvec &kernel,
               Value row, Value group, GroupChunks chunks) {
  Value sum =
      kernel
          .forEachChunk(builder, loc, group, chunks,
                        zeroVector(builder, loc, kernel.floats),
                        [&](OpBuilder &b, Location l, Value column,
                            ValueRange acc) -> SmallVector<Value> {
                          Value x = kernel.readActivations(b, l, row, column,
                                                           chunks.inBounds);
                          return {arith::AddFOp::create(b, l, acc.front(), x)};
                        })
          .front();
  return sumVector(builder, loc, sum);
}

/// S[m, g] = sum_{k in g} x[m, k] for every row m and group g, as an M x
/// groups tensor: computed once, before the output features are split.
Value groupSums(OpBuilder &builder, Location loc, const Matvec &kernel) {
  Value rows = tensor::DimOp::create(builder, loc, kernel.x, 0);
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, kernel.x, 0, dynamicRows);
  Value sums =
      emptyTensor(builder, loc,
                  {cast<RankedTensorType>(kernel.x.getType()).getDimSize(0),
                   kernel.groups()},
                  builder.getF32Type(), dynamicRows);
  auto sumRow = [&](OpBuilder &b, Location l, Value row, ValueRange carried) {
    return kernel.forEachGroup(
        b, l, carried,
        [&](OpBuilder &gb, Location gl, Value group, ValueRange values,
            GroupChunks chunks) -> SmallVector<Value> {
          Value sum = groupSum(gb, gl, kernel, row, group, chunks);
          return {tensor::InsertOp::create(gb, gl, sum, values.front(),
                                           ValueRange{row, group})
                      .getResult()};
        });
  };
  return countedLoop(builder, loc, rows, sums, sumRow).front();
}

/// acc_p + (bit_p ? a_p * x : 0) over one chunk, for every plane p.
SmallVector<Value> accumulateNegatives(OpBuilder &builder, Location loc,
                                       const Matvec &kernel, Value row,
                                       Value feature, Value column,
                                       bool inBounds, ArrayRef<Value> scales,
                                       ValueRange accumulators) {
  Value x = kernel.readActivations(builder, loc, row, column, inBounds);
  Value byte =
      arith::DivUIOp::create(builder, loc, column, index(builder, loc, 8));
  SmallVector<Value> updated;
  for (auto [plane, scale, accumulator] :
       llvm::enumerate(scales, accumulators)) {
    Value negative =
        kernel.readNegativeMask(builder, loc, plane, feature, byte, inBounds);
    Value added = vector::FMAOp::create(builder, loc, x, scale, accumulator);
    updated.push_back(
        arith::SelectOp::create(builder, loc, negative, added, accumulator));
  }
  return updated;
}

/// The scales a_p[feature, group] of every plane, in f32.
SmallVector<Value> groupScales(OpBuilder &builder, Location loc,
                               const Matvec &kernel, Value feature,
                               Value group) {
  SmallVector<Value> scales;
  for (int64_t plane = 0; plane < kernel.planes(); ++plane) {
    Value scale = tensor::ExtractOp::create(
        builder, loc, kernel.scales,
        ValueRange{index(builder, loc, plane), feature, group});
    scales.push_back(convertFloat(builder, loc, scale, builder.getF32Type()));
  }
  return scales;
}

/// sum_k x[row, k] * w_hat[feature, k] in f32, given the row's group sums.
Value dotProduct(OpBuilder &builder, Location loc, const Matvec &kernel,
                 Value row, Value feature, Value sums) {
  // Carried: the scalar sum_g A * S, then one accumulator per plane.
  SmallVector<Value> initial = {
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0))};
  initial.append(kernel.planes(), zeroVector(builder, loc, kernel.floats));
  SmallVector<Value> results = kernel.forEachGroup(
      builder, loc, initial,
      [&](OpBuilder &b, Location l, Value group, ValueRange carried,
          GroupChunks chunks) {
        SmallVector<Value> scales = groupScales(b, l, kernel, feature, group);
        Value scaleSum = scales.front();
        for (Value scale : llvm::drop_begin(scales))
          scaleSum = arith::AddFOp::create(b, l, scaleSum, scale);
        SmallVector<Value> broadcast;
        for (Value scale : scales)
          broadcast.push_back(
              vector::BroadcastOp::create(b, l, kernel.floats, scale));
        Value sum =
            tensor::ExtractOp::create(b, l, sums, ValueRange{row, group});
        SmallVector<Value> next = {arith::AddFOp::create(
            b, l, carried.front(), arith::MulFOp::create(b, l, scaleSum, sum))};
        llvm::append_range(
            next,
            kernel.forEachChunk(b, l, group, chunks, carried.drop_front(),
                                [&](OpBuilder &cb, Location cl, Value column,
                                    ValueRange accumulators) {
                                  return accumulateNegatives(
                                      cb, cl, kernel, row, feature, column,
                                      chunks.inBounds, broadcast, accumulators);
                                }));
        return next;
      });
  Value negatives = results[1];
  for (Value plane : llvm::drop_begin(results, 2))
    negatives = arith::AddFOp::create(builder, loc, negatives, plane);
  Value two =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(2));
  return arith::SubFOp::create(
      builder, loc, results.front(),
      arith::MulFOp::create(builder, loc, two,
                            sumVector(builder, loc, negatives)));
}

/// Fills `output` (M x count, f32) with the product of every activation row
/// with the output features [first, first + count), given the rows' group
/// sums.
Value matvecRows(OpBuilder &builder, Location loc, const Matvec &kernel,
                 Value sums, const FeaturePart &part) {
  Value rows = tensor::DimOp::create(builder, loc, kernel.x, 0);
  auto insertRow = [&](OpBuilder &b, Location l, Value row,
                       ValueRange carried) {
    return countedLoop(
        b, l, part.count, carried,
        [&](OpBuilder &fb, Location fl, Value column,
            ValueRange acc) -> SmallVector<Value> {
          Value feature = arith::AddIOp::create(fb, fl, part.first, column);
          Value dot = dotProduct(fb, fl, kernel, row, feature, sums);
          return {tensor::InsertOp::create(fb, fl, dot, acc.front(),
                                           ValueRange{row, column})
                      .getResult()};
        });
  };
  return countedLoop(builder, loc, rows, part.output, insertRow).front();
}

struct VectorGemvPattern : MatmulStrategyPattern {
  explicit VectorGemvPattern(MLIRContext *context)
      : MatmulStrategyPattern(context, KernelStrategy::VectorGemv) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    Value rows = asF32RowMatrix(builder, loc, operands.x);
    Matvec kernel(builder, rows, operands.signs, operands.scales,
                  operands.groupSize, operands.kernel.getVectorWidth());
    Value sums = groupSums(builder, loc, kernel);
    Value features = tensor::DimOp::create(builder, loc, operands.signs, 1);
    int64_t unitRows = std::max<int64_t>(1, operands.kernel.getTileRows());
    Value product =
        splitFeatures(builder, loc, operands.kernel, features, unitRows,
                      asRowMatrix(builder, loc, accumulator), {},
                      [&](OpBuilder &b, Location l,
                          const FeaturePart &part) -> SmallVector<Value> {
                        return {matvecRows(b, l, kernel, sums, part)};
                      });
    return fromRowMatrix(builder, loc, product, accumulator);
  }
};

} // namespace

void populateVectorGemvPatterns(RewritePatternSet &patterns) {
  patterns.add<VectorGemvPattern>(patterns.getContext());
}

} // namespace r2q::lowering
