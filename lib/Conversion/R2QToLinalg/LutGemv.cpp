//===- LutGemv.cpp - r2q.matmul of 1-8 rows by table lookup ---------------===//
//
// Strategy lut_gemv: the table-lookup GEMV (T-MAC / LUT-GEMM style) for a
// static batch of 1 to 8 activation rows (the r2q.matmul verifier checks the
// rows and the group size). With s = +-1 the sign of a bit, a plane's
// contribution to y[m, n] is sum_g a_p[n, g] * sum_{k in g} s_p[n, k] x[m, k],
// and the inner sum runs four columns at a time: for each quad q of columns
// 4q..4q+3 and each of its 16 sign patterns t (bit i of t set: column 4q + i
// negative),
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
// The tables are built once per call, before the output features are split
// across threads (splitFeatures, in parts of whole 16-row blocks); every
// thread then runs the lookups over the blocks of its part. The build stays
// on one thread: split across threads too (splitColumns, as int8_gemm
// rounds its activations), it made two-thread calls slower on the
// development machine, where a second parallel region's barrier costs more
// than the 12 us of tables at K = 14336 (docs/rationale.md).
//
// Sums of the lookups run in f32 (exact mode: the numerics core's result to
// f32 rounding), in a few independent chains per row so that the adds
// overlap, and are multiplied by the scale of their group and plane
// (gathered for the 16 rows) once per group. Groups and chunks nest: a group
// of G >= 128 columns (G a multiple of 128) spans G / 128 chunks, a chunk
// holds 128 / G groups otherwise (G a power of two of at least 8). Columns past
// K read zero activations and zero sign bytes, so their table entries are 0;
// a block's rows past N are clamped to the last row and their lanes not
// written.
//
// Constant weights are stored in the kernel's row-interleaved layout at
// compile time (r2q-pack-weights, docs/format.md): the bytes of each block of
// 16 rows in the order of the transposed vectors, so that a step loads each
// of them with one plain load (readSignColumns) and the arithmetic is the
// same as for the canonical layout, bit for bit.
//
// Loop names: blk block of 16 output features, s span (one group, or one
// chunk of several groups), c chunk within a span, b byte within a chunk,
// m activation row, p plane.
//
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Quant/InterleavedWeight.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <array>
#include <functional>

using namespace mlir;

namespace r2q::lowering {
namespace {

/// Output features per vector (the lanes of a lookup).
constexpr int64_t kBlockRows = 16;
/// Sign bytes of a row read per step.
constexpr int64_t kChunkColumns = kLutChunkColumns;
constexpr int64_t kChunkBytes = kChunkColumns / 8;
/// Entries of a table: the sign patterns of four columns.
constexpr int64_t kTableEntries = 16;
constexpr int64_t kQuadsPerChunk = kChunkColumns / 4;
/// Running sums of lookups per row, plane and group.
constexpr int64_t kSumChains = 4;
/// The row-interleaved layout (r2q/Quant/InterleavedWeight.h): within a
/// block, the bytes of a 64-byte step, of a column b of it and of a 16-byte
/// lane of that column lie this far apart.
constexpr int64_t kInterleavedLaneStride = quant::kInterleavedBlockRows;
constexpr int64_t kInterleavedColumnStride = quant::kInterleavedStepBytes /
                                             quant::kInterleavedLaneBytes *
                                             kInterleavedLaneStride;
constexpr int64_t kInterleavedStepStride =
    kChunkBytes * kInterleavedColumnStride;
static_assert(quant::kInterleavedBlockRows == kBlockRows &&
                  quant::kInterleavedLaneBytes == kChunkBytes,
              "the row-interleaved layout is lut_gemv's blocks and chunks");

/// The kernel's operands, shape and target.
struct LutGemv {
  Value x;      // M x K, f32, M static
  Value signs;  // P x N x ceil(K/8), i8, or row-interleaved (layout) and
                // then flat: P x (blocks * steps * 1024)
  Value scales; // P x N x ceil(K/G), or row-interleaved and flat:
                // P x (blocks * 16 * ceil(K/G))
  int64_t groupSize;
  KernelTarget target;
  KernelPrecision precision;
  KernelLayout layout;
  VectorType lanes;   // 16 x f32
  VectorType indices; // 16 x i32
  VectorType bytes;   // 16 x i8
  int64_t blocks = 0; // row-interleaved: blocks of 16 rows of the weight

  LutGemv(OpBuilder &builder, Location loc, Value x, Value signs, Value scales,
          int64_t groupSize, KernelTarget target, KernelPrecision precision,
          KernelLayout layout)
      : x(x), signs(signs), scales(scales), groupSize(groupSize),
        target(target), precision(precision), layout(layout) {
    lanes = VectorType::get({kBlockRows}, builder.getF32Type());
    indices = VectorType::get({kBlockRows}, builder.getI32Type());
    bytes = VectorType::get({kChunkBytes}, builder.getI8Type());
    if (interleaved()) {
      blocks = cast<RankedTensorType>(signs.getType()).getDimSize(1);
      auto flat = [&](Value tensor) {
        return tensor::CollapseShapeOp::create(
            builder, loc, tensor, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
      };
      this->signs = flat(signs);
      this->scales = flat(scales);
    }
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
  /// Steps of 64 bytes of a row (the row-interleaved layout's, the fast
  /// mode's).
  int64_t steps() const {
    return llvm::divideCeil(bytesPerRow(), quant::kInterleavedStepBytes);
  }
  int64_t bytesPerRow() const { return llvm::divideCeil(columns(), 8); }
  bool interleaved() const { return layout == KernelLayout::RowInterleaved; }
  int64_t groups() const { return llvm::divideCeil(columns(), groupSize); }
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
  /// The chunks that hold a row's bytes, and those of them in the last span
  /// when it runs past the row (spans() > wholeSpans()): the chunks after
  /// them lie past the row, in neither layout.
  int64_t chunks() const {
    return llvm::divideCeil(bytesPerRow(), kChunkBytes);
  }
  int64_t partialSpanChunks() const {
    return chunks() - wholeSpans() * chunksPerSpan();
  }
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

/// The 16 signed sums of x[first .. first + 3] (elements of the vector
/// `xs`): one multiply and three FMAs with the sign patterns.
Value signedSums(OpBuilder &builder, Location loc, Value xs, int64_t first,
                 ArrayRef<Value> patterns) {
  auto tableType = VectorType::get({kTableEntries}, builder.getF32Type());
  Value entries;
  for (int64_t column = 0; column < 4; ++column) {
    Value value = vector::BroadcastOp::create(
        builder, loc, tableType,
        vector::ExtractOp::create(builder, loc, xs, first + column));
    entries = column == 0
                  ? arith::MulFOp::create(builder, loc, value, patterns[column])
                        .getResult()
                  : vector::FMAOp::create(builder, loc, value, patterns[column],
                                          entries)
                        .getResult();
  }
  return entries;
}

/// The sign patterns c_0 .. c_3.
SmallVector<Value> signPatterns(OpBuilder &builder, Location loc) {
  SmallVector<Value> patterns;
  for (int64_t column = 0; column < 4; ++column)
    patterns.push_back(signPattern(builder, loc, column));
  return patterns;
}

/// T[m, 16 q + t] for every row m and quad q (M x 16 Q, f32), built with
/// one multiply and three FMAs per quad; quads past K are zero.
Value buildTables(OpBuilder &builder, Location loc, const LutGemv &kernel) {
  int64_t quads = kernel.paddedQuads();
  Value tables =
      emptyTensor(builder, loc, {kernel.rows(), quads * kTableEntries},
                  builder.getF32Type());
  auto quadType = VectorType::get({4}, builder.getF32Type());
  SmallVector<Value> patterns = signPatterns(builder, loc);
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
          Value entries = signedSums(qb, ql, xs, 0, patterns);
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

/// Interleaves the first (`high` false) or second halves of every 16-byte
/// lane of `a` and `b` element by element (punpcklbw / punpckhbw, which work
/// lane by lane on 32- and 64-byte vectors too).
Value interleave(OpBuilder &builder, Location loc, Value a, Value b,
                 bool high) {
  int64_t width = cast<VectorType>(a.getType()).getNumElements();
  int64_t half = kChunkBytes / 2;
  SmallVector<int64_t> mask;
  for (int64_t lane = 0; lane < width; lane += kChunkBytes) {
    for (int64_t i = 0; i < half; ++i) {
      mask.push_back(lane + (high ? half : 0) + i);
      mask.push_back(width + lane + (high ? half : 0) + i);
    }
  }
  return vector::ShuffleOp::create(builder, loc, a, b, mask);
}

/// The first `rounds` of the four interleave rounds that transpose 16 rows
/// of 16-byte lanes lane by lane.
SmallVector<Value> transposeRounds(OpBuilder &builder, Location loc,
                                   SmallVector<Value> rows, int64_t rounds) {
  int64_t half = kBlockRows / 2;
  for (int64_t round = 0; round < rounds; ++round) {
    SmallVector<Value> next;
    for (int64_t i = 0; i < half; ++i) {
      next.push_back(interleave(builder, loc, rows[i], rows[i + half], false));
      next.push_back(interleave(builder, loc, rows[i], rows[i + half], true));
    }
    rows = std::move(next);
  }
  return rows;
}

/// Vector b of the transpose from the first three rounds: lane L holds byte
/// 16 L + b of every row. (The last round is done where each vector is
/// used, so that fewer vectors are live at once.)
Value transposedColumn(OpBuilder &builder, Location loc,
                       ArrayRef<Value> threeRounds, int64_t b) {
  return interleave(builder, loc, threeRounds[b / 2],
                    threeRounds[b / 2 + kBlockRows / 2], b % 2 == 1);
}

/// table[indices & 15] lane by lane.
Value lookup(OpBuilder &builder, Location loc, const LutGemv &kernel,
             Value table, Value indices) {
  if (kernel.target == KernelTarget::AVX512)
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

/// The block being computed: its rows, its number (its first row / 16),
/// and whether reads of its current span stay within the rows' bytes.
struct Block {
  SmallVector<Value> rows;
  Value index;
  Value tables; // M x 16 Q
  bool inBounds;
};

/// The sign bytes of one plane for one step of the block's rows, transposed:
/// column(b) is the vector whose 16-byte lane L holds byte 16 L + b of the
/// step's bytes of the 16 rows (lane element j: row j).
struct SignColumns {
  /// Row-interleaved: the columns themselves; canonical: the first three
  /// interleave rounds, the fourth done by column(b) where each vector is
  /// used, so that fewer are live at once.
  SmallVector<Value> vectors;
  bool loaded;

  Value column(OpBuilder &builder, Location loc, int64_t b) const {
    return loaded ? vectors[b] : transposedColumn(builder, loc, vectors, b);
  }
};

/// Where item `item` (a step of the signs, a group of the scales) of block
/// `blk` lies in a plane of the row-interleaved layout (docs/format.md), in
/// units of the 16 rows' item: the `items` of a row come in passes of
/// `perPass`, each pass holding its items of every block.
Value interleavedUnit(OpBuilder &builder, Location loc, const LutGemv &kernel,
                      Value blk, Value item, int64_t items, int64_t perPass) {
  Value passItems = index(builder, loc, perPass);
  Value pass = arith::DivUIOp::create(builder, loc, item, passItems);
  Value inPass = arith::RemUIOp::create(builder, loc, item, passItems);
  Value itemsLeft =
      arith::SubIOp::create(builder, loc, index(builder, loc, items),
                            mulIndex(builder, loc, pass, perPass));
  Value itemsOfPass =
      arith::MinSIOp::create(builder, loc, itemsLeft, passItems);
  return arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, pass, kernel.blocks * perPass),
      arith::AddIOp::create(
          builder, loc, arith::MulIOp::create(builder, loc, blk, itemsOfPass),
          inPass));
}

/// The flat offset of step `step` of block `blk` within a sign plane of the
/// row-interleaved layout.
Value interleavedStepOffset(OpBuilder &builder, Location loc,
                            const LutGemv &kernel, Value blk, Value step) {
  return mulIndex(builder, loc,
                  interleavedUnit(builder, loc, kernel, blk, step,
                                  kernel.steps(), quant::kInterleavedPassSteps),
                  kInterleavedStepStride);
}

/// a_p[., group] for the 16 rows of block `blk` in the row-interleaved
/// layout: one read.
Value interleavedScales(OpBuilder &builder, Location loc, const LutGemv &kernel,
                        Value blk, int64_t plane, Value group) {
  Value offset = mulIndex(
      builder, loc,
      interleavedUnit(builder, loc, kernel, blk, group, kernel.groups(),
                      quant::interleavedPassGroups(kernel.groupSize)),
      kBlockRows);
  Type scaleType =
      cast<RankedTensorType>(kernel.scales.getType()).getElementType();
  Value scales = vector::TransferReadOp::create(
      builder, loc, VectorType::get({kBlockRows}, scaleType), kernel.scales,
      ValueRange{index(builder, loc, plane), offset},
      arith::ConstantOp::create(builder, loc,
                                builder.getFloatAttr(scaleType, 0)),
      ArrayRef<bool>{true});
  if (scaleType.isF32())
    return scales;
  return arith::ExtFOp::create(builder, loc, kernel.lanes, scales);
}

/// The step `chunk` of `bytes`-wide steps (16 or 64 bytes of each row) of
/// plane `plane`, as SignColumns: 16 row reads and three interleave rounds
/// in the canonical layout, 16 loads in the row-interleaved one (column b of
/// the 16-byte lane l of a 64-byte step starts at byte 64 b + 16 l of the
/// step's 1024; docs/format.md).
SignColumns readSignColumns(OpBuilder &builder, Location loc,
                            const LutGemv &kernel, const Block &block,
                            int64_t plane, Value chunk, VectorType bytes) {
  int64_t width = bytes.getNumElements();
  Value pad = arith::ConstantIntOp::create(builder, loc, 0, 8);
  SmallVector<Value> vectors;
  if (!kernel.interleaved()) {
    Value firstByte = mulIndex(builder, loc, chunk, width);
    for (Value row : block.rows)
      vectors.push_back(vector::TransferReadOp::create(
          builder, loc, bytes, kernel.signs,
          ValueRange{index(builder, loc, plane), row, firstByte}, pad,
          ArrayRef<bool>{block.inBounds}));
    return {transposeRounds(builder, loc, std::move(vectors), 3), false};
  }
  int64_t perStep = quant::kInterleavedStepBytes / width;
  Value step = chunk, lane = index(builder, loc, 0);
  if (perStep > 1) {
    step = arith::DivUIOp::create(builder, loc, chunk,
                                  index(builder, loc, perStep));
    lane = arith::RemUIOp::create(builder, loc, chunk,
                                  index(builder, loc, perStep));
  }
  Value base = arith::AddIOp::create(
      builder, loc,
      interleavedStepOffset(builder, loc, kernel, block.index, step),
      mulIndex(builder, loc, lane, kInterleavedLaneStride));
  // The layout pads rows and steps with zeros: every read is in bounds.
  for (int64_t b = 0; b < kChunkBytes; ++b)
    vectors.push_back(vector::TransferReadOp::create(
        builder, loc, bytes, kernel.signs,
        ValueRange{index(builder, loc, plane),
                   addIndex(builder, loc, base, b * kInterleavedColumnStride)},
        pad, ArrayRef<bool>{true}));
  return {std::move(vectors), true};
}

/// For chunk `chunk`, sums[m][p][j] = sum over the columns of the chunk's
/// j-th group (of groupsPerSpan) of the plane's signed activations, for the
/// 16 rows of the block.
SmallVector<Value> chunkSums(OpBuilder &builder, Location loc,
                             const LutGemv &kernel, const Block &block,
                             Value chunk) {
  int64_t groupBytes = std::min<int64_t>(kChunkBytes, kernel.groupSize / 8);
  int64_t segments = kChunkBytes / groupBytes;
  Value firstQuad = mulIndex(builder, loc, chunk, kQuadsPerChunk);
  Value four = arith::ConstantOp::create(
      builder, loc, DenseElementsAttr::get(kernel.indices, int32_t(4)));
  auto tableType = VectorType::get({kTableEntries}, builder.getF32Type());
  // Layout of the result: (m, p, segment).
  SmallVector<Value> sums;
  sums.resize(kernel.rows() * kernel.planes() * segments);
  for (int64_t p = 0; p < kernel.planes(); ++p) {
    SignColumns columns =
        readSignColumns(builder, loc, kernel, block, p, chunk, kernel.bytes);
    for (int64_t segment = 0; segment < segments; ++segment) {
      // Each row's lookups are added into kSumChains running sums as they
      // come, so that few values stay live and the adds overlap.
      SmallVector<SmallVector<Value>> chains(kernel.rows());
      int64_t term = 0;
      for (int64_t b = segment * groupBytes; b < (segment + 1) * groupBytes;
           ++b) {
        Value low = arith::ExtUIOp::create(builder, loc, kernel.indices,
                                           columns.column(builder, loc, b));
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
  if (kernel.interleaved())
    return interleavedScales(builder, loc, kernel, block.index, plane, clamped);
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
  // The partial last span (block.inBounds false) reads only the chunks that
  // hold the row's bytes: the row-interleaved layout pads a row to whole
  // steps, not to whole spans of a large group.
  int64_t spanChunks =
      block.inBounds ? kernel.chunksPerSpan() : kernel.partialSpanChunks();
  SmallVector<Value> sums;
  if (spanChunks == 1) {
    sums = chunkSums(builder, loc, kernel, block, firstChunk);
  } else {
    SmallVector<Value> initial(kernel.rows() * kernel.planes(),
                               zeros(builder, loc, kernel.lanes));
    sums = countedLoop(
        builder, loc, index(builder, loc, 0), index(builder, loc, spanChunks),
        initial, [&](OpBuilder &b, Location l, Value c, ValueRange partial) {
          Value chunk = arith::AddIOp::create(b, l, firstChunk, c);
          SmallVector<Value> next = chunkSums(b, l, kernel, block, chunk);
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

//===----------------------------------------------------------------------===//
// Fast mode: int8 tables looked up with vpshufb
//===----------------------------------------------------------------------===//
//
// Per call, each activation row is rounded per block of 128 columns to
// multiples of a scale s = (the block's largest sum of |x| over a quad) /
// kActivationLevels, so that a quad's 16 signed sums are exact int8 values.
// vpshufb looks up 16 bytes in a 16-byte table per 128-bit lane: each step
// reads 64 sign bytes (512 columns, four blocks) of 16 rows, transposes them
// lane by lane, and lane L of transposed vector b holds byte 16 L + b of the 16
// rows, i.e. quads 2b and 2b + 1 of block 4 c + L. The tables are stored in
// that order: 64 bytes per (b, nibble), lane L the table of block 4 c + L. The
// two lookups of a byte are interleaved so that their adjacent bytes belong to
// one row, and vpmaddubsw with ones adds them into int16 (16 bytes x 248 fit
// easily); per block the int16 sums become f32, times the activation scale and
// the group's weight scale. Group sizes are multiples of 128.

/// Sign bytes per row read per fast step, and the columns of one block.
constexpr int64_t kFastChunkBytes = 64;
static_assert(kFastChunkBytes == quant::kInterleavedStepBytes,
              "a fast step is a step of the row-interleaved layout");
constexpr int64_t kBlockColumns = 128;
constexpr int64_t kBlocksPerFastChunk = 8 * kFastChunkBytes / kBlockColumns;
/// The largest sum of |x| over a quad of a block is rounded to this: four
/// roundings add at most 2, so every table entry fits in int8.
constexpr int64_t kActivationLevels = 125;
/// Table bytes per fast step and activation row: (b, nibble) x 64.
constexpr int64_t kFastTableBytes = kChunkBytes * 2 * kFastChunkBytes;

/// The int8 tables (M x chunks * kFastTableBytes) and the activation scale
/// of every block (M x chunks * 4, f32; 0 past K).
struct FastTables {
  Value tables;
  Value scales;
};

/// One block of 128 columns of row `row`: its scale into `scales`, its 32
/// quads' tables into `tables`, at their places in the step's layout.
SmallVector<Value> fillFastBlock(OpBuilder &builder, Location loc,
                                 const LutGemv &kernel, Value row, Value block,
                                 ArrayRef<Value> patterns, Value tables,
                                 Value scales) {
  auto blockType = VectorType::get({kBlockColumns}, builder.getF32Type());
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  Value xs = vector::TransferReadOp::create(
      builder, loc, blockType, kernel.x,
      ValueRange{row, mulIndex(builder, loc, block, kBlockColumns)}, zero,
      ArrayRef<bool>{false});
  // The largest sum of |x| over a quad of the block.
  Value magnitudes = math::AbsFOp::create(builder, loc, xs);
  Value quadSums;
  for (int64_t column = 0; column < 4; ++column) {
    SmallVector<int64_t> pick;
    for (int64_t quad = 0; quad < kBlockColumns / 4; ++quad)
      pick.push_back(4 * quad + column);
    Value part =
        vector::ShuffleOp::create(builder, loc, magnitudes, magnitudes, pick);
    quadSums =
        column ? arith::AddFOp::create(builder, loc, quadSums, part).getResult()
               : part;
  }
  Value largest = vector::ReductionOp::create(
      builder, loc, vector::CombiningKind::MAXIMUMF, quadSums);
  Value levels = arith::ConstantOp::create(
      builder, loc, builder.getF32FloatAttr(kActivationLevels));
  Value positive = arith::CmpFOp::create(
      builder, loc, arith::CmpFPredicate::OGT, largest, zero);
  Value inverse = arith::SelectOp::create(
      builder, loc, positive,
      arith::DivFOp::create(builder, loc, levels, largest), zero);
  Value rounded = math::RoundEvenOp::create(
      builder, loc,
      arith::MulFOp::create(
          builder, loc, xs,
          vector::BroadcastOp::create(builder, loc, blockType, inverse)));
  scales = tensor::InsertOp::create(
      builder, loc, arith::DivFOp::create(builder, loc, largest, levels),
      scales, ValueRange{row, block});
  // Quad i of block j = 4 c + L goes to byte c * 2048 + 64 i + 16 L.
  Value step = arith::DivUIOp::create(builder, loc, block,
                                      index(builder, loc, kBlocksPerFastChunk));
  Value lane = arith::RemUIOp::create(builder, loc, block,
                                      index(builder, loc, kBlocksPerFastChunk));
  Value base = arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, step, kFastTableBytes),
      mulIndex(builder, loc, lane, kChunkBytes));
  auto byteTable = VectorType::get({kTableEntries}, builder.getI8Type());
  for (int64_t quad = 0; quad < kBlockColumns / 4; ++quad) {
    Value entries = arith::FPToSIOp::create(
        builder, loc, byteTable,
        signedSums(builder, loc, rounded, 4 * quad, patterns));
    tables = vector::TransferWriteOp::create(
                 builder, loc, entries, tables,
                 ValueRange{
                     row, addIndex(builder, loc, base, quad * kFastChunkBytes)},
                 ArrayRef<bool>{true})
                 .getResult();
  }
  return {tables, scales};
}

FastTables buildFastTables(OpBuilder &builder, Location loc,
                           const LutGemv &kernel) {
  int64_t blocks = kernel.steps() * kBlocksPerFastChunk;
  Value tables = emptyTensor(builder, loc,
                             {kernel.rows(), kernel.steps() * kFastTableBytes},
                             builder.getI8Type());
  Value scales =
      emptyTensor(builder, loc, {kernel.rows(), blocks}, builder.getF32Type());
  SmallVector<Value> patterns = signPatterns(builder, loc);
  Value zero = index(builder, loc, 0);
  SmallVector<Value> filled = countedLoop(
      builder, loc, zero, index(builder, loc, kernel.rows()),
      ValueRange{tables, scales},
      [&](OpBuilder &b, Location l, Value row, ValueRange carried) {
        return countedLoop(
            b, l, zero, index(b, l, blocks), carried,
            [&](OpBuilder &bb, Location bl, Value block, ValueRange current) {
              return fillFastBlock(bb, bl, kernel, row, block, patterns,
                                   current[0], current[1]);
            });
      });
  return {filled[0], filled[1]};
}

/// `name512` on 64-byte operands with AVX-512; with AVX2, `name256` on each
/// 32-byte half (the instructions work lane by lane) and the halves joined.
Value lanewise(OpBuilder &builder, Location loc, const LutGemv &kernel,
               StringRef name512, StringRef name256, VectorType result,
               ValueRange operands) {
  if (kernel.target == KernelTarget::AVX512)
    return callIntrinsic(builder, loc, result, name512, operands);
  int64_t half = result.getNumElements() / 2;
  auto halfType = VectorType::get({half}, result.getElementType());
  SmallVector<Value> parts;
  for (int64_t part = 0; part < 2; ++part) {
    SmallVector<Value> halves;
    for (Value operand : operands) {
      int64_t size = cast<VectorType>(operand.getType()).getNumElements() / 2;
      halves.push_back(vector::ExtractStridedSliceOp::create(
          builder, loc, operand, ArrayRef<int64_t>{part * size},
          ArrayRef<int64_t>{size}, ArrayRef<int64_t>{1}));
    }
    parts.push_back(callIntrinsic(builder, loc, halfType, name256, halves));
  }
  SmallVector<int64_t> concat =
      llvm::to_vector(llvm::seq<int64_t>(0, result.getNumElements()));
  return vector::ShuffleOp::create(builder, loc, parts[0], parts[1], concat);
}

/// The int16 sums of one plane's step: for each activation row, rows 0-7
/// (element 8 L + i: row i of block L) and rows 8-15.
SmallVector<std::array<Value, 2>>
fastPlaneSums(OpBuilder &builder, Location loc, const LutGemv &kernel,
              const Block &block, Value tables, Value chunk, int64_t plane) {
  auto bytes = VectorType::get({kFastChunkBytes}, builder.getI8Type());
  auto words = VectorType::get({kFastChunkBytes / 2}, builder.getI16Type());
  Value pad = arith::ConstantIntOp::create(builder, loc, 0, 8);
  SignColumns columns =
      readSignColumns(builder, loc, kernel, block, plane, chunk, bytes);
  Value nibble = splat(builder, loc, bytes, 15);
  Value four = splat(builder, loc, bytes, 4);
  Value ones = splat(builder, loc, bytes, 1);
  Value tableBase = mulIndex(builder, loc, chunk, kFastTableBytes);
  SmallVector<std::array<Value, 2>> sums(
      kernel.rows(), {zeros(builder, loc, words), zeros(builder, loc, words)});
  for (int64_t b = 0; b < kChunkBytes; ++b) {
    Value column = columns.column(builder, loc, b);
    Value low = arith::AndIOp::create(builder, loc, column, nibble);
    Value high = arith::AndIOp::create(
        builder, loc, arith::ShRUIOp::create(builder, loc, column, four),
        nibble);
    for (int64_t m = 0; m < kernel.rows(); ++m) {
      auto look = [&](int64_t half, Value indices) {
        Value table = vector::TransferReadOp::create(
            builder, loc, bytes, tables,
            ValueRange{index(builder, loc, m),
                       addIndex(builder, loc, tableBase,
                                (2 * b + half) * kFastChunkBytes)},
            pad, ArrayRef<bool>{true});
        return lanewise(builder, loc, kernel, "llvm.x86.avx512.pshuf.b.512",
                        "llvm.x86.avx2.pshuf.b", bytes,
                        ValueRange{table, indices});
      };
      Value fromLow = look(0, low), fromHigh = look(1, high);
      for (int64_t half = 0; half < 2; ++half) {
        Value pairs = interleave(builder, loc, fromLow, fromHigh, half == 1);
        Value added = lanewise(
            builder, loc, kernel, "llvm.x86.avx512.pmaddubs.w.512",
            "llvm.x86.avx2.pmadd.ub.sw", words, ValueRange{ones, pairs});
        sums[m][half] =
            arith::AddIOp::create(builder, loc, sums[m][half], added);
      }
    }
  }
  return sums;
}

/// Blocks of 128 columns per group (1, 2 or a multiple of 4 in fast mode).
int64_t blocksPerGroup(const LutGemv &kernel) {
  return kernel.groupSize / kBlockColumns;
}

/// The weight scales of one plane for the four blocks of step `chunk`, as
/// 16-row f32 vectors: each row's (at most) four groups of the step are one
/// read, the 16 reads joined by shuffles and picked apart lane by lane.
SmallVector<Value> fastStepScales(OpBuilder &builder, Location loc,
                                  const LutGemv &kernel, const Block &block,
                                  Value chunk, int64_t plane) {
  Type scaleType =
      cast<RankedTensorType>(kernel.scales.getType()).getElementType();
  int64_t perGroup = blocksPerGroup(kernel);
  int64_t groups =
      perGroup >= kBlocksPerFastChunk ? 1 : kBlocksPerFastChunk / perGroup;
  Value firstGroup = arith::DivUIOp::create(
      builder, loc, mulIndex(builder, loc, chunk, kBlocksPerFastChunk),
      index(builder, loc, perGroup));
  if (kernel.interleaved()) {
    // Past K the layout holds zero scales up to the last whole group:
    // clamp to it, as the canonical reads pad (their sums are zero anyway).
    SmallVector<Value> scales;
    for (int64_t lane = 0; lane < kBlocksPerFastChunk; ++lane) {
      Value group = arith::MinSIOp::create(
          builder, loc, addIndex(builder, loc, firstGroup, lane / perGroup),
          index(builder, loc, kernel.groups() - 1));
      scales.push_back(
          interleavedScales(builder, loc, kernel, block.index, plane, group));
    }
    return scales;
  }
  Value pad = arith::ConstantOp::create(builder, loc,
                                        builder.getFloatAttr(scaleType, 0));
  SmallVector<Value> rows;
  for (Value row : block.rows)
    rows.push_back(vector::TransferReadOp::create(
        builder, loc, VectorType::get({groups}, scaleType), kernel.scales,
        ValueRange{index(builder, loc, plane), row, firstGroup}, pad,
        ArrayRef<bool>{block.inBounds}));
  while (rows.size() > 1) {
    SmallVector<Value> joined;
    for (size_t i = 0; i < rows.size(); i += 2) {
      int64_t size = cast<VectorType>(rows[i].getType()).getNumElements();
      SmallVector<int64_t> concat =
          llvm::to_vector(llvm::seq<int64_t>(0, 2 * size));
      joined.push_back(vector::ShuffleOp::create(builder, loc, rows[i],
                                                 rows[i + 1], concat));
    }
    rows = std::move(joined);
  }
  SmallVector<Value> scales;
  for (int64_t lane = 0; lane < kBlocksPerFastChunk; ++lane) {
    int64_t group = perGroup >= kBlocksPerFastChunk ? 0 : lane / perGroup;
    SmallVector<int64_t> pick;
    for (int64_t row = 0; row < kBlockRows; ++row)
      pick.push_back(row * groups + group);
    Value picked =
        vector::ShuffleOp::create(builder, loc, rows[0], rows[0], pick);
    scales.push_back(scaleType.isF32() ? picked
                                       : arith::ExtFOp::create(
                                             builder, loc, kernel.lanes, picked)
                                             .getResult());
  }
  return scales;
}

/// outputs[m] += the step's four blocks of every plane, scaled.
SmallVector<Value> fastStep(OpBuilder &builder, Location loc,
                            const LutGemv &kernel, const Block &block,
                            const FastTables &tables, Value chunk,
                            ValueRange outputs) {
  SmallVector<Value> updated(outputs);
  for (int64_t plane = 0; plane < kernel.planes(); ++plane) {
    SmallVector<std::array<Value, 2>> sums =
        fastPlaneSums(builder, loc, kernel, block, tables.tables, chunk, plane);
    SmallVector<Value> scales =
        fastStepScales(builder, loc, kernel, block, chunk, plane);
    for (int64_t lane = 0; lane < kBlocksPerFastChunk; ++lane) {
      Value blockIndex =
          addIndex(builder, loc,
                   mulIndex(builder, loc, chunk, kBlocksPerFastChunk), lane);
      Value scale = scales[lane];
      SmallVector<int64_t> rows;
      for (int64_t i = 0; i < kBlockRows / 2; ++i)
        rows.push_back(8 * lane + i);
      for (int64_t i = 0; i < kBlockRows / 2; ++i)
        rows.push_back(kFastChunkBytes / 2 + 8 * lane + i);
      for (int64_t m = 0; m < kernel.rows(); ++m) {
        Value blockSums = vector::ShuffleOp::create(builder, loc, sums[m][0],
                                                    sums[m][1], rows);
        Value activationScale = tensor::ExtractOp::create(
            builder, loc, tables.scales,
            ValueRange{index(builder, loc, m), blockIndex});
        Value scaled = arith::MulFOp::create(
            builder, loc,
            arith::SIToFPOp::create(builder, loc, kernel.lanes, blockSums),
            vector::BroadcastOp::create(builder, loc, kernel.lanes,
                                        activationScale));
        updated[m] =
            vector::FMAOp::create(builder, loc, scaled, scale, updated[m]);
      }
    }
  }
  return updated;
}

/// One mode's steps along a block's rows: how many read only bytes within
/// the rows, how many in all, how many run over every block of a part before
/// the next ones (a pass), and one step (carrying the block's outputs).
struct Steps {
  int64_t whole, total, perPass;
  std::function<SmallVector<Value>(OpBuilder &, Location, const Block &, Value,
                                   ValueRange)>
      run;
};

/// The steps [first, end) of every block, then the partial step `whole` if
/// `partial`; added to the outputs of the passes before if `accumulate`.
struct Pass {
  Value first, end;
  bool partial, accumulate;
};

/// Writes the product of every row m with the weight rows first .. first +
/// 15 (clamped to `lastRow`) over the pass's steps into output[m, column :
/// column + 16], or adds it there.
Value blockProduct(OpBuilder &builder, Location loc, const LutGemv &kernel,
                   const Steps &steps, const Pass &pass, Value first,
                   Value column, Value lastRow, bool rowsInBounds,
                   Value output) {
  Block block{blockRows(builder, loc, first, lastRow, rowsInBounds),
              arith::DivUIOp::create(builder, loc, first,
                                     index(builder, loc, kBlockRows)),
              nullptr, true};
  SmallVector<Value> outputs;
  Value pad =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  for (int64_t m = 0; m < kernel.rows(); ++m)
    outputs.push_back(pass.accumulate
                          ? vector::TransferReadOp::create(
                                builder, loc, kernel.lanes, output,
                                ValueRange{index(builder, loc, m), column}, pad,
                                ArrayRef<bool>{rowsInBounds})
                                .getResult()
                          : zeros(builder, loc, kernel.lanes));
  outputs = countedLoop(
      builder, loc, pass.first, pass.end, outputs,
      [&](OpBuilder &b, Location l, Value step, ValueRange carried) {
        return steps.run(b, l, block, step, carried);
      });
  if (pass.partial) {
    block.inBounds = false;
    outputs = steps.run(builder, loc, block, index(builder, loc, steps.whole),
                        outputs);
  }
  for (int64_t m = 0; m < kernel.rows(); ++m)
    output = vector::TransferWriteOp::create(
                 builder, loc, outputs[m], output,
                 ValueRange{index(builder, loc, m), column},
                 ArrayRef<bool>{rowsInBounds})
                 .getResult();
  return output;
}

/// The tables of the kernel's mode, built once, and its steps.
Steps lutSteps(OpBuilder &builder, Location loc, const LutGemv &kernel) {
  if (kernel.precision == KernelPrecision::Exact) {
    Value tables = buildTables(builder, loc, kernel);
    // Spans of a pass of the row-interleaved layout, where they tile it.
    int64_t passChunks = quant::kInterleavedPassSteps *
                         quant::kInterleavedStepBytes / kChunkBytes;
    int64_t perPass =
        kernel.interleaved() && passChunks % kernel.chunksPerSpan() == 0
            ? passChunks / kernel.chunksPerSpan()
            : kernel.spans();
    return {kernel.wholeSpans(), kernel.spans(), perPass,
            [&kernel, tables](OpBuilder &b, Location l, const Block &block,
                              Value span, ValueRange outputs) {
              Block withTables = block;
              withTables.tables = tables;
              return spanProduct(b, l, kernel, withTables, span, outputs);
            }};
  }
  FastTables tables = buildFastTables(builder, loc, kernel);
  // A pass of the row-interleaved layout is contiguous, and its tables (8
  // KiB per activation row) stay in L1 next to the streamed signs.
  int64_t perPass =
      kernel.interleaved() ? quant::kInterleavedPassSteps : kernel.steps();
  return {kernel.bytesPerRow() / kFastChunkBytes, kernel.steps(), perPass,
          [&kernel, tables](OpBuilder &b, Location l, const Block &block,
                            Value chunk, ValueRange outputs) {
            return fastStep(b, l, kernel, block, tables, chunk, outputs);
          }};
}

/// One pass of the product of every activation row with the output features
/// [first, first + count) of `part` into `output` (M x count, f32): whole
/// blocks of 16 features in a loop, then the part's last partial block.
Value passProduct(OpBuilder &builder, Location loc, const LutGemv &kernel,
                  const Steps &steps, const Pass &pass, const FeaturePart &part,
                  Value output) {
  Value lastRow = arith::SubIOp::create(
      builder, loc, arith::AddIOp::create(builder, loc, part.first, part.count),
      index(builder, loc, 1));
  Value blockSize = index(builder, loc, kBlockRows);
  Value wholeBlocks =
      arith::DivUIOp::create(builder, loc, part.count, blockSize);
  Value wholeEnd = arith::MulIOp::create(builder, loc, wholeBlocks, blockSize);
  // Block `start` (part-relative): rows from part.first + start.
  auto block = [&](OpBuilder &b, Location l, Value start, bool whole,
                   Value output) {
    return blockProduct(b, l, kernel, steps, pass,
                        arith::AddIOp::create(b, l, part.first, start), start,
                        lastRow, whole, output);
  };
  output =
      countedLoop(builder, loc, index(builder, loc, 0), wholeBlocks, output,
                  [&](OpBuilder &b, Location l, Value blk, ValueRange carried) {
                    return SmallVector<Value>{
                        block(b, l, mulIndex(b, l, blk, kBlockRows), true,
                              carried.front())};
                  })
          .front();
  Value partial = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult,
                                        wholeEnd, part.count);
  return scf::IfOp::create(
             builder, loc, partial,
             [&](OpBuilder &b, Location l) {
               scf::YieldOp::create(b, l, block(b, l, wholeEnd, false, output));
             },
             [&](OpBuilder &b, Location l) {
               scf::YieldOp::create(b, l, output);
             })
      .getResult(0);
}

/// The product of every activation row with the output features of `part`
/// into its output, one pass of steps.perPass steps after another: the
/// first writes, the middle ones (a loop) and the last add.
Value lutMatvec(OpBuilder &builder, Location loc, const LutGemv &kernel,
                const Steps &steps, const FeaturePart &part) {
  int64_t passes = llvm::divideCeil(steps.total, steps.perPass);
  int64_t lastFirst = (passes - 1) * steps.perPass;
  bool partial = steps.total > steps.whole;
  Value output = passProduct(
      builder, loc, kernel, steps,
      Pass{index(builder, loc, 0),
           index(builder, loc, std::min(steps.perPass, steps.whole)),
           passes == 1 && partial, false},
      part, part.output);
  if (passes > 2)
    output = countedLoop(
                 builder, loc, index(builder, loc, 1),
                 index(builder, loc, passes - 1), output,
                 [&](OpBuilder &b, Location l, Value pass, ValueRange carried) {
                   Value first = mulIndex(b, l, pass, steps.perPass);
                   Pass middle{first, addIndex(b, l, first, steps.perPass),
                               false, true};
                   return SmallVector<Value>{passProduct(
                       b, l, kernel, steps, middle, part, carried.front())};
                 })
                 .front();
  if (passes > 1)
    output = passProduct(builder, loc, kernel, steps,
                         Pass{index(builder, loc, lastFirst),
                              index(builder, loc, steps.whole), partial, true},
                         part, output);
  return output;
}

/// The mode the kernel runs in: fast needs groups of 1, 2 or a multiple of
/// 4 blocks of 128 columns (a step's blocks then map to its groups the same
/// way in every step); other group sizes take the exact tables.
KernelPrecision lutPrecision(int64_t groupSize, KernelPrecision requested) {
  int64_t blocks = groupSize / kBlockColumns;
  bool whole = groupSize % kBlockColumns == 0 &&
               (blocks <= 2 || blocks % kBlocksPerFastChunk == 0);
  return whole ? requested : KernelPrecision::Exact;
}

struct LutGemvPattern : MatmulStrategyPattern {
  explicit LutGemvPattern(MLIRContext *context)
      : MatmulStrategyPattern(context, KernelStrategy::LutGemv) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    Value x = asF32RowMatrix(builder, loc, operands.x);
    KernelAttr attr = operands.kernel;
    LutGemv kernel(builder, loc, x, operands.signs, operands.scales,
                   operands.groupSize, attr.getTarget(),
                   lutPrecision(operands.groupSize, attr.getPrecision()),
                   attr.getLayout());
    // The tables, once per call, before the split.
    Steps steps = lutSteps(builder, loc, kernel);
    auto outputType = cast<RankedTensorType>(accumulator.getType());
    Value features = tensor::DimOp::create(builder, loc, accumulator,
                                           outputType.getRank() - 1);
    int64_t unitRows = llvm::alignTo(
        std::max<int64_t>(kBlockRows, attr.getTileRows()), kBlockRows);
    Value product =
        splitFeatures(builder, loc, attr, features, unitRows,
                      asRowMatrix(builder, loc, accumulator), {},
                      [&](OpBuilder &b, Location l,
                          const FeaturePart &part) -> SmallVector<Value> {
                        return {lutMatvec(b, l, kernel, steps, part)};
                      });
    return fromRowMatrix(builder, loc, product, accumulator);
  }
};

/// The intrinsics the CPU kernels call (table lookups, lut_gemv's fast mode,
/// int8_gemm's dot products): register operations, no memory.
constexpr llvm::StringLiteral kRegisterIntrinsics[] = {
    "llvm.x86.avx512.permvar.sf.512", "llvm.x86.avx2.permps",
    "llvm.x86.avx512.pshuf.b.512",    "llvm.x86.avx2.pshuf.b",
    "llvm.x86.avx512.pmaddubs.w.512", "llvm.x86.avx2.pmadd.ub.sw",
    "llvm.x86.avx512.vpdpbusd.512",   "llvm.x86.avx2.pmadd.wd"};

/// llvm.call_intrinsic has no memory effects of its own in MLIR 22, and
/// buffer deallocation refuses ops with unknown effects: the register
/// operations above touch no memory, any other intrinsic may read and write
/// anything.
struct CallIntrinsicEffects
    : MemoryEffectOpInterface::ExternalModel<CallIntrinsicEffects,
                                             LLVM::CallIntrinsicOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<MemoryEffects::EffectInstance> &effects) const {
    if (llvm::is_contained(kRegisterIntrinsics,
                           cast<LLVM::CallIntrinsicOp>(op).getIntrin()))
      return;
    effects.emplace_back(MemoryEffects::Read::get());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

} // namespace

void populateLutGemvPatterns(RewritePatternSet &patterns) {
  patterns.add<LutGemvPattern>(patterns.getContext());
}

} // namespace r2q::lowering

void r2q::registerLutGemvInterfaces(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, LLVM::LLVMDialect *) {
    LLVM::CallIntrinsicOp::attachInterface<lowering::CallIntrinsicEffects>(
        *context);
  });
}
