//===- LutGemv.cpp - r2q.matmul of 1-8 rows by table lookup ---------------===//
//
// The table-lookup GEMV (T-MAC / LUT-GEMM style) for a static batch of 1 to 8
// activation rows. With s = +-1 the sign of a bit, a plane's contribution to
// y[m, n] is sum_g a_p[n, g] * sum_{k in g} s_p[n, k] x[m, k], and the inner
// sum runs four columns at a time: for each quad q of columns 4q..4q+3 and
// each of its 16 sign patterns t (bit i of t set: column 4q + i negative),
//
//   T[m, q, t] = sum_{i < 4} (bit i of t ? -x[m, 4q + i] : x[m, 4q + i])
//
// is computed once per call (16 f32 per quad and row, shared by every output
// feature), and a weight's nibble (bits 4q%8.. of byte q/2, as docs/format.md
// packs them) indexes it: one lookup and one add per 4 weights and plane.
//
// The lookup is a permute of a 16-lane f32 table by a vector of indices, so
// the lanes of a vector are 16 output features (a block of rows of W) and the
// table is the same for every lane. The canonical layout stores a row's
// bytes contiguously; each step reads 16 bytes (128 columns, a chunk) of 16
// rows and transposes them in registers (four rounds of byte interleaves:
// punpcklbw/punpckhbw) so that vector b holds byte b of the 16 rows. Its
// bytes, zero-extended to i32, index the table of quad 2b (the permute reads
// only the low four bits) and, shifted right by four, that of quad 2b + 1.
// AVX-512 permutes 16 lanes at once (vpermps zmm); AVX2 looks up both halves
// of the table (vpermps ymm reads three bits) and blends on the fourth bit.
// There is no vector-dialect op for a permute by a run-time index (nor an
// x86vector one in MLIR 22): the permutes are llvm.call_intrinsic ops on
// builtin vectors.
//
// Sums of the lookups run in f32 (exact mode: the numerics core's result to
// f32 rounding), in a few independent chains per row so that the adds
// overlap, and are multiplied by the scale of their group and plane
// (gathered for the 16 rows) once per group. Groups and chunks nest: a group
// of G >= 128 columns (G a multiple of 128) spans G / 128 chunks, a chunk
// holds 128 / G groups otherwise (G a power of two of at least 8); other
// group sizes are not matched (the other strategies take them). Columns past
// K read zero activations and zero sign bytes, so their table entries are 0;
// a block's rows past N are clamped to the last row and their lanes not
// written.
//
// Loop names: blk block of 16 output features, s span (one group, or one
// chunk of several groups), c chunk within a span, b byte within a chunk,
// m activation row, p plane.
//
//===----------------------------------------------------------------------===//

#include "TensorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "SparseProduct.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;
using namespace r2q::lowering;

namespace r2q {
namespace {

/// Output features per vector (the lanes of a lookup).
constexpr int64_t kBlockRows = 16;
/// Sign bytes of a row read per step.
constexpr int64_t kChunkBytes = 16;
constexpr int64_t kChunkColumns = 8 * kChunkBytes;
/// Entries of a table: the sign patterns of four columns.
constexpr int64_t kTableEntries = 16;
constexpr int64_t kQuadsPerChunk = kChunkColumns / 4;
/// Running sums of lookups per row, plane and group.
constexpr int64_t kSumChains = 4;

Value index(OpBuilder &builder, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(builder, loc, value);
}

Value mulIndex(OpBuilder &builder, Location loc, Value value, int64_t factor) {
  return arith::MulIOp::create(builder, loc, value,
                               index(builder, loc, factor));
}

Value addIndex(OpBuilder &builder, Location loc, Value value, int64_t offset) {
  return offset ? arith::AddIOp::create(builder, loc, value,
                                        index(builder, loc, offset))
                      .getResult()
                : value;
}

Value zeros(OpBuilder &builder, Location loc, VectorType type) {
  return arith::ConstantOp::create(builder, loc, builder.getZeroAttr(type));
}

/// for (i = begin; i < end; ++i) carrying `initial`; `body(b, l, i,
/// carried)` returns the values to carry on.
template <typename BodyFn>
SmallVector<Value> countedLoop(OpBuilder &builder, Location loc, Value begin,
                               Value end, ValueRange initial, BodyFn body) {
  auto loop = scf::ForOp::create(
      builder, loc, begin, end, index(builder, loc, 1), initial,
      [&](OpBuilder &b, Location l, Value i, ValueRange carried) {
        scf::YieldOp::create(b, l, body(b, l, i, carried));
      });
  return SmallVector<Value>(loop.getResults());
}

/// The kernel's operands, shape and target.
struct LutGemv {
  Value x;      // M x K, f32, M static
  Value signs;  // P x N x ceil(K/8), i8
  Value scales; // P x N x ceil(K/G)
  int64_t groupSize;
  LutTarget target;
  VectorType lanes;   // 16 x f32
  VectorType indices; // 16 x i32
  VectorType bytes;   // 16 x i8

  LutGemv(OpBuilder &builder, Value x, Value signs, Value scales,
          int64_t groupSize, LutTarget target)
      : x(x), signs(signs), scales(scales), groupSize(groupSize),
        target(target) {
    lanes = VectorType::get({kBlockRows}, builder.getF32Type());
    indices = VectorType::get({kBlockRows}, builder.getI32Type());
    bytes = VectorType::get({kChunkBytes}, builder.getI8Type());
  }

  int64_t rows() const {
    return cast<RankedTensorType>(x.getType()).getDimSize(0);
  }
  int64_t columns() const {
    return cast<RankedTensorType>(x.getType()).getDimSize(1);
  }
  int64_t planes() const {
    return cast<RankedTensorType>(signs.getType()).getDimSize(0);
  }
  int64_t bytesPerRow() const {
    return cast<RankedTensorType>(signs.getType()).getDimSize(2);
  }
  int64_t groups() const {
    return cast<RankedTensorType>(scales.getType()).getDimSize(2);
  }
  /// A span is one group of whole chunks or one chunk of whole groups.
  int64_t chunksPerSpan() const {
    return std::max<int64_t>(1, groupSize / kChunkColumns);
  }
  int64_t groupsPerSpan() const {
    return std::max<int64_t>(1, kChunkColumns / groupSize);
  }
  int64_t spanBytes() const { return chunksPerSpan() * kChunkBytes; }
  /// Spans whose bytes all lie within a row, and all spans.
  int64_t wholeSpans() const { return bytesPerRow() / spanBytes(); }
  int64_t spans() const { return llvm::divideCeil(bytesPerRow(), spanBytes()); }
  int64_t paddedQuads() const {
    return spans() * chunksPerSpan() * kQuadsPerChunk;
  }
};

/// c_i[t] = (bit i of t) ? -1 : +1.
Value signPattern(OpBuilder &builder, Location loc, int64_t column) {
  SmallVector<float> signs;
  for (int64_t pattern = 0; pattern < kTableEntries; ++pattern)
    signs.push_back((pattern >> column) & 1 ? -1.0f : 1.0f);
  auto type = VectorType::get({kTableEntries}, builder.getF32Type());
  return arith::ConstantOp::create(
      builder, loc, DenseElementsAttr::get(type, ArrayRef<float>(signs)));
}

/// T[m, 16 q + t] for every row m and quad q (M x 16 Q, f32), built with
/// one multiply and three FMAs per quad; quads past K are zero.
Value buildTables(OpBuilder &builder, Location loc, const LutGemv &kernel) {
  int64_t quads = kernel.paddedQuads();
  Value tables =
      emptyTensor(builder, loc, {kernel.rows(), quads * kTableEntries},
                  builder.getF32Type());
  auto quadType = VectorType::get({4}, builder.getF32Type());
  auto tableType = VectorType::get({kTableEntries}, builder.getF32Type());
  SmallVector<Value> patterns;
  for (int64_t column = 0; column < 4; ++column)
    patterns.push_back(signPattern(builder, loc, column));
  Value zero = index(builder, loc, 0);
  auto fillRow = [&](OpBuilder &b, Location l, Value row, ValueRange carried) {
    return countedLoop(
        b, l, zero, index(b, l, quads), carried,
        [&](OpBuilder &qb, Location ql, Value quad,
            ValueRange table) -> SmallVector<Value> {
          Value pad = arith::ConstantOp::create(qb, ql, qb.getF32FloatAttr(0));
          Value xs = vector::TransferReadOp::create(
              qb, ql, quadType, kernel.x,
              ValueRange{row, mulIndex(qb, ql, quad, 4)}, pad,
              ArrayRef<bool>{false});
          Value entries;
          for (int64_t column = 0; column < 4; ++column) {
            Value value = vector::BroadcastOp::create(
                qb, ql, tableType,
                vector::ExtractOp::create(qb, ql, xs, column));
            entries =
                column == 0
                    ? arith::MulFOp::create(qb, ql, value, patterns[column])
                          .getResult()
                    : vector::FMAOp::create(qb, ql, value, patterns[column],
                                            entries)
                          .getResult();
          }
          return {vector::TransferWriteOp::create(
                      qb, ql, entries, table.front(),
                      ValueRange{row, mulIndex(qb, ql, quad, kTableEntries)},
                      ArrayRef<bool>{true})
                      .getResult()};
        });
  };
  return countedLoop(builder, loc, zero, index(builder, loc, kernel.rows()),
                     tables, fillRow)
      .front();
}

/// Interleaves the first (`high` false) or second halves of `a` and `b`
/// element by element (punpcklbw / punpckhbw).
Value interleave(OpBuilder &builder, Location loc, Value a, Value b,
                 bool high) {
  int64_t half = kChunkBytes / 2;
  SmallVector<int64_t> mask;
  for (int64_t i = 0; i < half; ++i) {
    mask.push_back((high ? half : 0) + i);
    mask.push_back(kChunkBytes + (high ? half : 0) + i);
  }
  return vector::ShuffleOp::create(builder, loc, a, b, mask);
}

/// 16 rows of 16 bytes transposed: result b holds byte b of every row.
SmallVector<Value> transposeBytes(OpBuilder &builder, Location loc,
                                  SmallVector<Value> rows) {
  int64_t half = kBlockRows / 2;
  for (int64_t round = 0; (int64_t(1) << round) < kBlockRows; ++round) {
    SmallVector<Value> next;
    for (int64_t i = 0; i < half; ++i) {
      next.push_back(interleave(builder, loc, rows[i], rows[i + half], false));
      next.push_back(interleave(builder, loc, rows[i], rows[i + half], true));
    }
    rows = std::move(next);
  }
  return rows;
}

Value callIntrinsic(OpBuilder &builder, Location loc, Type result,
                    StringRef name, ValueRange operands) {
  return LLVM::CallIntrinsicOp::create(builder, loc, result,
                                       builder.getStringAttr(name), operands)
      .getResult(0);
}

/// table[indices & 15] lane by lane.
Value lookup(OpBuilder &builder, Location loc, const LutGemv &kernel,
             Value table, Value indices) {
  if (kernel.target == LutTarget::AVX512)
    return callIntrinsic(builder, loc, kernel.lanes,
                         "llvm.x86.avx512.permvar.sf.512",
                         ValueRange{table, indices});
  // AVX2: vpermps ymm reads bits 0-2; bit 3 picks the half of the table.
  auto half = VectorType::get({8}, builder.getF32Type());
  auto halfIndices = VectorType::get({8}, builder.getI32Type());
  auto slice = [&](Value vector, int64_t offset) {
    return vector::ExtractStridedSliceOp::create(
               builder, loc, vector, ArrayRef<int64_t>{offset},
               ArrayRef<int64_t>{8}, ArrayRef<int64_t>{1})
        .getResult();
  };
  Value low = slice(table, 0), high = slice(table, 8);
  Value eight = arith::ConstantOp::create(
      builder, loc, DenseElementsAttr::get(halfIndices, int32_t(8)));
  Value zero = zeros(builder, loc, halfIndices);
  SmallVector<Value> parts;
  for (int64_t offset : {0, 8}) {
    Value part = slice(indices, offset);
    Value fromLow = callIntrinsic(builder, loc, half, "llvm.x86.avx2.permps",
                                  ValueRange{low, part});
    Value fromHigh = callIntrinsic(builder, loc, half, "llvm.x86.avx2.permps",
                                   ValueRange{high, part});
    Value upper = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::ne,
        arith::AndIOp::create(builder, loc, part, eight), zero);
    parts.push_back(
        arith::SelectOp::create(builder, loc, upper, fromHigh, fromLow));
  }
  SmallVector<int64_t> concat = llvm::to_vector(llvm::seq<int64_t>(0, 16));
  return vector::ShuffleOp::create(builder, loc, parts[0], parts[1], concat);
}

/// The rows of a block: row first + i, clamped to the last row in the last
/// block (a whole block's rows are one base address and constant offsets).
SmallVector<Value> blockRows(OpBuilder &builder, Location loc, Value first,
                             Value lastRow, bool whole) {
  SmallVector<Value> rows;
  for (int64_t i = 0; i < kBlockRows; ++i) {
    Value row = addIndex(builder, loc, first, i);
    rows.push_back(
        whole ? row
              : arith::MinSIOp::create(builder, loc, row, lastRow).getResult());
  }
  return rows;
}

/// Adds the values pairwise.
Value sumTree(OpBuilder &builder, Location loc, SmallVector<Value> values) {
  while (values.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < values.size(); i += 2)
      next.push_back(
          arith::AddFOp::create(builder, loc, values[i], values[i + 1]));
    if (values.size() % 2)
      next.push_back(values.back());
    values = std::move(next);
  }
  return values.front();
}

/// The block being computed: its rows, and whether reads of its current span
/// stay within the rows' bytes.
struct Block {
  SmallVector<Value> rows;
  Value tables; // M x 16 Q
  bool inBounds;
};

/// For chunk `chunk`, sums[m][p][j] = sum over the columns of the chunk's
/// j-th group (of groupsPerSpan) of the plane's signed activations, for the
/// 16 rows of the block.
SmallVector<Value> chunkSums(OpBuilder &builder, Location loc,
                             const LutGemv &kernel, const Block &block,
                             Value chunk) {
  int64_t groupBytes = std::min<int64_t>(kChunkBytes, kernel.groupSize / 8);
  int64_t segments = kChunkBytes / groupBytes;
  Value firstByte = mulIndex(builder, loc, chunk, kChunkBytes);
  Value firstQuad = mulIndex(builder, loc, chunk, kQuadsPerChunk);
  Value pad = arith::ConstantIntOp::create(builder, loc, 0, 8);
  Value four = arith::ConstantOp::create(
      builder, loc, DenseElementsAttr::get(kernel.indices, int32_t(4)));
  auto tableType = VectorType::get({kTableEntries}, builder.getF32Type());
  // Layout of the result: (m, p, segment).
  SmallVector<Value> sums;
  sums.resize(kernel.rows() * kernel.planes() * segments);
  for (int64_t p = 0; p < kernel.planes(); ++p) {
    SmallVector<Value> rowBytes;
    for (Value row : block.rows)
      rowBytes.push_back(vector::TransferReadOp::create(
          builder, loc, kernel.bytes, kernel.signs,
          ValueRange{index(builder, loc, p), row, firstByte}, pad,
          ArrayRef<bool>{block.inBounds}));
    SmallVector<Value> columns = transposeBytes(builder, loc, rowBytes);
    for (int64_t segment = 0; segment < segments; ++segment) {
      // Each row's lookups are added into kSumChains running sums as they
      // come, so that few values stay live and the adds overlap.
      SmallVector<SmallVector<Value>> chains(kernel.rows());
      int64_t term = 0;
      for (int64_t b = segment * groupBytes; b < (segment + 1) * groupBytes;
           ++b) {
        Value low =
            arith::ExtUIOp::create(builder, loc, kernel.indices, columns[b]);
        Value high = arith::ShRUIOp::create(builder, loc, low, four);
        Value nibbles[] = {low, high};
        for (int64_t m = 0; m < kernel.rows(); ++m) {
          for (auto [nibble, indices] : llvm::enumerate(nibbles)) {
            Value quad = addIndex(builder, loc, firstQuad, 2 * b + nibble);
            Value table = vector::TransferReadOp::create(
                builder, loc, tableType, block.tables,
                ValueRange{index(builder, loc, m),
                           mulIndex(builder, loc, quad, kTableEntries)},
                arith::ConstantOp::create(builder, loc,
                                          builder.getF32FloatAttr(0)),
                ArrayRef<bool>{true});
            Value value = lookup(builder, loc, kernel, table, indices);
            size_t chain = (term + nibble) % kSumChains;
            if (chains[m].size() <= chain)
              chains[m].push_back(value);
            else
              chains[m][chain] =
                  arith::AddFOp::create(builder, loc, chains[m][chain], value);
          }
        }
        term += 2;
      }
      for (int64_t m = 0; m < kernel.rows(); ++m)
        sums[(m * kernel.planes() + p) * segments + segment] =
            sumTree(builder, loc, chains[m]);
    }
  }
  return sums;
}

/// a_p[row, group] for the 16 rows of the block, in f32; `group` is clamped
/// to the last group (a span past K sums zeros).
Value blockScales(OpBuilder &builder, Location loc, const LutGemv &kernel,
                  const Block &block, int64_t plane, Value group) {
  Value clamped = arith::MinSIOp::create(
      builder, loc, group, index(builder, loc, kernel.groups() - 1));
  SmallVector<Value> elements;
  for (Value row : block.rows)
    elements.push_back(tensor::ExtractOp::create(
        builder, loc, kernel.scales,
        ValueRange{index(builder, loc, plane), row, clamped}));
  Type scaleType = elements.front().getType();
  Value scales = vector::FromElementsOp::create(
      builder, loc, VectorType::get({kBlockRows}, scaleType), elements);
  if (scaleType.isF32())
    return scales;
  return arith::ExtFOp::create(builder, loc, kernel.lanes, scales);
}

/// outputs[m] += sum_p sum_{j} a_p[., group j] * sums[m][p][j] for span
/// `span`.
SmallVector<Value> spanProduct(OpBuilder &builder, Location loc,
                               const LutGemv &kernel, const Block &block,
                               Value span, ValueRange outputs) {
  int64_t segments = kernel.groupsPerSpan();
  Value firstChunk = mulIndex(builder, loc, span, kernel.chunksPerSpan());
  SmallVector<Value> sums;
  if (kernel.chunksPerSpan() == 1) {
    sums = chunkSums(builder, loc, kernel, block, firstChunk);
  } else {
    SmallVector<Value> initial(kernel.rows() * kernel.planes(),
                               zeros(builder, loc, kernel.lanes));
    sums =
        countedLoop(builder, loc, index(builder, loc, 0),
                    index(builder, loc, kernel.chunksPerSpan()), initial,
                    [&](OpBuilder &b, Location l, Value c, ValueRange partial) {
                      Value chunk = arith::AddIOp::create(b, l, firstChunk, c);
                      SmallVector<Value> next =
                          chunkSums(b, l, kernel, block, chunk);
                      for (auto [sum, previous] : llvm::zip(next, partial))
                        sum = arith::AddFOp::create(b, l, previous, sum);
                      return next;
                    });
  }
  Value firstGroup = mulIndex(builder, loc, span, segments);
  SmallVector<Value> updated(outputs);
  for (int64_t p = 0; p < kernel.planes(); ++p) {
    for (int64_t segment = 0; segment < segments; ++segment) {
      Value scale = blockScales(builder, loc, kernel, block, p,
                                addIndex(builder, loc, firstGroup, segment));
      for (int64_t m = 0; m < kernel.rows(); ++m)
        updated[m] = vector::FMAOp::create(
            builder, loc, sums[(m * kernel.planes() + p) * segments + segment],
            scale, updated[m]);
    }
  }
  return updated;
}

/// Writes y[m, first : first + 16] for every row m of one block.
Value blockProduct(OpBuilder &builder, Location loc, const LutGemv &kernel,
                   Value tables, Value first, Value lastRow, bool rowsInBounds,
                   Value output) {
  Block block{blockRows(builder, loc, first, lastRow, rowsInBounds), tables,
              true};
  SmallVector<Value> outputs(kernel.rows(), zeros(builder, loc, kernel.lanes));
  auto span = [&](OpBuilder &b, Location l, Value s, ValueRange carried) {
    return spanProduct(b, l, kernel, block, s, carried);
  };
  if (kernel.wholeSpans() > 0)
    outputs =
        countedLoop(builder, loc, index(builder, loc, 0),
                    index(builder, loc, kernel.wholeSpans()), outputs, span);
  if (kernel.spans() > kernel.wholeSpans()) {
    block.inBounds = false;
    outputs =
        span(builder, loc, index(builder, loc, kernel.wholeSpans()), outputs);
  }
  for (int64_t m = 0; m < kernel.rows(); ++m)
    output = vector::TransferWriteOp::create(
                 builder, loc, outputs[m], output,
                 ValueRange{index(builder, loc, m), first},
                 ArrayRef<bool>{rowsInBounds})
                 .getResult();
  return output;
}

/// y = x * w_hat^T into `output` (M x N, f32): whole blocks of 16 output
/// features in a loop, then the last partial block.
Value lutMatvec(OpBuilder &builder, Location loc, const LutGemv &kernel,
                Value output) {
  Value tables = buildTables(builder, loc, kernel);
  Value features = tensor::DimOp::create(builder, loc, kernel.signs, 1);
  Value lastRow =
      arith::SubIOp::create(builder, loc, features, index(builder, loc, 1));
  Value blockSize = index(builder, loc, kBlockRows);
  Value wholeBlocks = arith::DivUIOp::create(builder, loc, features, blockSize);
  Value wholeEnd = arith::MulIOp::create(builder, loc, wholeBlocks, blockSize);
  output =
      countedLoop(builder, loc, index(builder, loc, 0), wholeBlocks, output,
                  [&](OpBuilder &b, Location l, Value blk, ValueRange carried) {
                    return SmallVector<Value>{blockProduct(
                        b, l, kernel, tables, mulIndex(b, l, blk, kBlockRows),
                        lastRow, true, carried.front())};
                  })
          .front();
  Value partial = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult,
                                        wholeEnd, features);
  return scf::IfOp::create(
             builder, loc, partial,
             [&](OpBuilder &b, Location l) {
               scf::YieldOp::create(b, l,
                                    blockProduct(b, l, kernel, tables, wholeEnd,
                                                 lastRow, false, output));
             },
             [&](OpBuilder &b, Location l) {
               scf::YieldOp::create(b, l, output);
             })
      .getResult(0);
}

/// Whether the kernel computes this product: a static batch of 1 to 8 rows
/// and a group size it can nest with its 128-column chunks.
bool lutApplies(MatmulOp op) {
  auto input = cast<RankedTensorType>(op.getInput().getType());
  if (!input.hasStaticShape())
    return false;
  int64_t rows = input.getNumElements() / input.getShape().back();
  int64_t groupSize = op.getGroupSize();
  bool nests = groupSize % kChunkColumns == 0 ||
               (groupSize >= 8 && kChunkColumns % groupSize == 0);
  return rows >= 1 && rows <= kLutMaxRows && nests;
}

struct MatmulToLutGemv : OpConversionPattern<MatmulOp> {
  MatmulToLutGemv(MLIRContext *context, LutTarget target)
      : OpConversionPattern(context, /*benefit=*/2), target(target) {}

  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!lutApplies(op))
      return rewriter.notifyMatchFailure(op, "not a batch of 1-8 rows with a "
                                             "group size of 8 * 2^i or a "
                                             "multiple of 128");
    Location loc = op.getLoc();
    Value x = convertTensor(rewriter, loc,
                            asRowMatrix(rewriter, loc, adaptor.getInput()),
                            rewriter.getF32Type());
    LutGemv kernel(rewriter, x, adaptor.getSigns(), adaptor.getScales(),
                   op.getGroupSize(), target);
    SmallVector<Value> dynamicSizes;
    appendIfDynamic(rewriter, loc, kernel.signs, 1, dynamicSizes);
    int64_t features =
        cast<RankedTensorType>(kernel.signs.getType()).getDimSize(1);
    Value output = emptyTensor(rewriter, loc, {kernel.rows(), features},
                               rewriter.getF32Type(), dynamicSizes);
    Value product = lutMatvec(rewriter, loc, kernel, output);
    if (op.hasOutliers())
      product = addSparseProduct(rewriter, loc, x,
                                 OutlierOperands{adaptor.getOutlierOffsets(),
                                                 adaptor.getOutlierColumns(),
                                                 adaptor.getOutlierValues()},
                                 product);
    RankedTensorType resultType = op.getResult().getType();
    Value result = fromRowMatrix(
        rewriter, loc,
        convertTensor(rewriter, loc, product, resultType.getElementType()),
        adaptor.getInput());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, result);
    return success();
  }

private:
  LutTarget target;
};

/// The intrinsics the table lookups call: register permutes, no memory.
constexpr llvm::StringLiteral kPermuteIntrinsics[] = {
    "llvm.x86.avx512.permvar.sf.512", "llvm.x86.avx2.permps"};

/// llvm.call_intrinsic has no memory effects of its own in MLIR 22, and
/// buffer deallocation refuses ops with unknown effects: the permutes above
/// touch no memory, any other intrinsic may read and write anything.
struct CallIntrinsicEffects
    : MemoryEffectOpInterface::ExternalModel<CallIntrinsicEffects,
                                             LLVM::CallIntrinsicOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<MemoryEffects::EffectInstance> &effects) const {
    if (llvm::is_contained(kPermuteIntrinsics,
                           cast<LLVM::CallIntrinsicOp>(op).getIntrin()))
      return;
    effects.emplace_back(MemoryEffects::Read::get());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

} // namespace

void registerLutGemvInterfaces(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, LLVM::LLVMDialect *) {
    LLVM::CallIntrinsicOp::attachInterface<CallIntrinsicEffects>(*context);
  });
}

void populateLutGemvPatterns(RewritePatternSet &patterns, LutTarget target) {
  patterns.add<MatmulToLutGemv>(patterns.getContext(), target);
}

} // namespace r2q
