//===- ByteLutGemv.cpp - One row by tables of sign bytes (the GPU kernel) -===//
//
// Strategy byte_lut_gemv (a static batch and weight shape, meant for one
// activation row; weights in the row-interleaved layout, docs/format.md):
// the r2q GEMV for memory bandwidth. A block of 8 warps works on a split of
// the columns (slices of 32 sign bytes per row, 256 columns) for 8 *
// `blocksPerWarp` blocks of 16 output features:
//
//   * per slice, its 256 threads build 32 tables in shared memory, one per
//     sign byte of the slice: the 256 signed sums +-x[8c] ... +-x[8c + 7]
//     (f32). Consecutive slices' tables are two sets in 64 KiB of dynamic
//     shared memory: entry e of table l of set t at byte 256 e + 128 t +
//     4 l, so that lane l's lookups all fall in bank l and never conflict,
//     and a lookup's address is one byte permute (PTX prmt) of the sign
//     word and the lane's byte 128 t + 4 l. The next slice's tables are
//     built in the other set while this slice's are read: one barrier per
//     slice, the slice's sign pieces and the next slice's activations
//     loaded before it (its scales with its lookups);
//   * lane l loads piece l of the slice for each of its warp's blocks and
//     each plane, one 128-bit load of the row-interleaved layout holding
//     sign byte l of 16 rows; each byte is one lookup in table l, times the
//     scale of its row and group (the 16 rows' scales are 16 consecutive
//     values of the layout);
//   * after its split, a warp's 32 lanes hold 16 sums per block: they meet
//     in a transposing butterfly (each round a lane keeps half of its
//     values and sends the other half, 16 shuffles in all), and the even
//     lanes add their row's sum to the result atomically: the splits of the
//     columns meet there. A first launch zeroes the result (the dense
//     product's accumulator is zero: reading it would keep its fill, a
//     launch of its own, alive).
//
// One lookup and one multiply-add per 8 weights and plane, against one per
// 4 for warp_lut_gemv's 16-entry tables; the tables are built once per
// slice for all of a block's rows (8 to 32 blocks of 16).
//
// With gpu-launch both kernels are gpu.launch ops; without, the same bodies
// run on the host in loops over blocks, threads and lanes, and the
// butterfly runs on buffers of the 32 lanes' values, round by round: the CPU
// tests execute the GPU kernel's index math, tables and reduction.
//
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "r2q/Quant/InterleavedWeight.h"
#include "r2q/Quant/PackedWeight.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

constexpr int64_t kLanes = 32;
constexpr int64_t kWarps = 8;
constexpr int64_t kThreads = kLanes * kWarps;
constexpr int64_t kBlockRows = quant::kInterleavedBlockRows;
/// One 128-bit load: one sign byte of each of a block's 16 rows.
constexpr int64_t kPieceBytes = quant::kInterleavedLaneBytes;
constexpr int64_t kStepBytes = quant::kInterleavedStepBytes;
constexpr int64_t kPassSteps = quant::kInterleavedPassSteps;
/// Bytes of one block and step in the layout: 64 pieces.
constexpr int64_t kStepPieces = kStepBytes;
/// A slice is half a step: one piece (and one table) per lane.
constexpr int64_t kSlicePieces = kLanes;
constexpr int64_t kSlicesPerStep = kStepPieces / kSlicePieces;
/// Columns of a step: a slice's bytes are spread over the whole step.
constexpr int64_t kStepColumns = kStepBytes * 8;
/// Entries of a table: the sign patterns of a byte.
constexpr int64_t kEntries = 256;
/// The tables' bytes: entry e of table l of set t (two sets, for two
/// slices) at byte 256 e + 128 t + 4 l, so that a lookup's address is one
/// byte permute of the sign word and the lane's byte 128 t + 4 l.
constexpr int64_t kEntryBytes = 256;
constexpr int64_t kSetBytes = 128;
constexpr int64_t kTableBytes = kEntries * kEntryBytes;
/// The entries a thread builds: those whose top 3 bits are its warp's.
constexpr int64_t kEntriesPerThread = kEntries / kWarps;
/// Blocks of threads to aim for (four per SM of an H100/H200's 132: two
/// waves of the two blocks an SM holds at once), and the fewest (one wave)
/// before a warp takes fewer blocks of rows.
constexpr int64_t kTargetBlocks = 528;
constexpr int64_t kFewestBlocks = 264;
/// The blocks per SM the kernel asks ptxas to leave registers for
/// (nvvm.minctasm): one waits at a barrier while the other issues. On its
/// own ptxas gave the kernel 162-166 registers, one block per SM, whose
/// warps all wait at each slice's barrier; under the cap of 128 it spills 8
/// bytes with 2 planes (more with 1, 3 or 4).
constexpr int32_t kBlocksPerSM = 2;
/// A split of the columns is at least one step (two slices), so that the
/// butterfly at its end is amortized.
constexpr int64_t kMinSplitSlices = 2;

/// The most blocks of rows per warp whose sums and sign pieces ptxas fits
/// in the 128 registers a thread has at two blocks per SM (sm_90a, counted
/// with scripts/kernel-sass.py): four for 2 planes (0.69 instructions per
/// weight and plane at 28672 x 8192, no spill), two for 1, 3 or 4 (at four
/// they spill, 30 to 72 local loads and stores a slice; at two, 3 and 4
/// planes issue 0.72 and 0.68 per weight and plane, as 2 planes do at
/// four). docs/gpu.md has the counts.
int64_t defaultBlocksPerWarp(int64_t planes) { return planes == 2 ? 4 : 2; }

/// The static sizes of a byte_lut_gemv kernel and how it splits the work.
struct ByteLutShape {
  int64_t rows, features, columns, planes, groupSize;
  int64_t blocks; // of 16 rows: ceil(N / 16)
  int64_t steps;  // of 512 columns: ceil(ceil(K / 8) / 64)
  int64_t groups; // ceil(K / G)
  int64_t passGroups;
  Type scaleElement;
  int64_t blocksPerWarp;
  int64_t slicesPerSplit;

  int64_t slices() const { return steps * kSlicesPerStep; }
  int64_t blocksPerTile() const { return kWarps * blocksPerWarp; }
  int64_t tiles() const { return llvm::divideCeil(blocks, blocksPerTile()); }
  int64_t splits() const { return llvm::divideCeil(slices(), slicesPerSplit); }
  int64_t sums() const { return blocksPerWarp * kBlockRows; }
};

/// The most splits of the columns for a weight of `slices` slices.
int64_t maxSplits(int64_t slices) {
  return std::max<int64_t>(1, slices / kMinSplitSlices);
}

ByteLutShape byteLutShape(const MatmulOperands &operands,
                          const KernelBuffers &buffers) {
  auto signs = cast<RankedTensorType>(operands.signs.getType());
  auto scales = cast<RankedTensorType>(operands.scales.getType());
  ByteLutShape shape;
  shape.rows = buffers.rows();
  shape.features = buffers.rowsType.getDimSize(1);
  shape.columns = operands.columns();
  shape.planes = signs.getDimSize(0);
  shape.groupSize = operands.groupSize;
  shape.blocks = signs.getDimSize(1);
  shape.steps = quant::interleavedSteps(shape.columns);
  shape.groups = quant::groupsPerRow(shape.columns, shape.groupSize);
  shape.passGroups = quant::interleavedPassGroups(shape.groupSize);
  shape.scaleElement = scales.getElementType();
  // As many blocks of rows per warp as keep two blocks of threads per SM
  // busy (each warp's tables cost the same whatever its rows).
  int64_t tileRows = operands.kernel.getTileRows();
  shape.blocksPerWarp = tileRows / kBlockRows;
  if (tileRows == 0) {
    shape.blocksPerWarp = defaultBlocksPerWarp(shape.planes);
    while (shape.blocksPerWarp > 1 &&
           shape.tiles() * maxSplits(shape.slices()) * shape.rows <
               kFewestBlocks)
      shape.blocksPerWarp /= 2;
  }
  int64_t wanted = llvm::divideCeil(kTargetBlocks, shape.tiles() * shape.rows);
  int64_t perSplit = llvm::divideCeil(shape.slices(), wanted);
  shape.slicesPerSplit =
      std::min(shape.slices(), std::max(kMinSplitSlices, perSplit));
  return shape;
}

struct ByteLutOperands : KernelBuffers {
  ByteLutShape shape;
  Value table; // kTableBytes bytes: workgroup memory on the GPU
  bool gpu;    // byte permutes as PTX prmt, else in shifts
};

Value addIndices(OpBuilder &builder, Location loc, Value a, Value b) {
  return arith::AddIOp::create(builder, loc, a, b);
}

/// Where a lane's piece of a slice lies: the step, and the sign byte of the
/// step's 64 that lane l reads, table l describes and piece l holds.
struct SlicePiece {
  Value step;   // s = slice / 2
  Value piece;  // q = 32 (slice % 2) + l, the 16-byte piece within the step
  Value column; // the first of the byte's 8 columns: 8 (64 s + 16 (q % 4) +
                // q / 4)

  SlicePiece(OpBuilder &builder, Location loc, Value slice, Value lane) {
    step = arith::DivUIOp::create(builder, loc, slice,
                                  index(builder, loc, kSlicesPerStep));
    Value half = arith::RemUIOp::create(builder, loc, slice,
                                        index(builder, loc, kSlicesPerStep));
    piece =
        addIndices(builder, loc, mulIndex(builder, loc, half, kLanes), lane);
    // Piece q holds byte b = q / 4 of the 16 bytes of lane L = q % 4 of the
    // layout's step: byte 16 L + b of the step.
    Value byteInStep = addIndices(
        builder, loc,
        mulIndex(
            builder, loc,
            arith::RemUIOp::create(builder, loc, piece, index(builder, loc, 4)),
            kPieceBytes),
        arith::DivUIOp::create(builder, loc, piece, index(builder, loc, 4)));
    column = mulIndex(builder, loc,
                      addIndices(builder, loc,
                                 mulIndex(builder, loc, step, kStepBytes),
                                 byteInStep),
                      8);
  }
};

/// The kernel's body, shared by the gpu.launch and the host loop nest.
class ByteLutKernel {
public:
  ByteLutKernel(OpBuilder &builder, Location loc, const ByteLutOperands &ops)
      : builder(builder), loc(loc), ops(ops), shape(ops.shape) {}

  /// The block of rows that warp `warp` of tile `tile` takes as its `r`-th,
  /// and the block its loads read (the last one past the weight's end).
  Value rowBlock(Value tile, Value warp, int64_t r) {
    Value first = mulIndex(
        builder, loc,
        addIndices(builder, loc, mulIndex(builder, loc, tile, kWarps), warp),
        shape.blocksPerWarp);
    return addIndex(builder, loc, first, r);
  }
  Value loadedBlock(Value block) {
    return clampIndex(builder, loc, block, shape.blocks - 1);
  }

  /// The 16 sign bytes of piece `where.piece` of the slice for `block` and
  /// `plane`, as 4 words: flat byte T B 4096 + block S_T 1024 + 1024 (s - 4
  /// T) + 16 q of the plane.
  Value loadPiece(const SlicePiece &where, Value block, int64_t plane) {
    Value offset = addIndices(builder, loc,
                              passOffset(where.step, block, kPassSteps,
                                         shape.steps, kStepBytes * kBlockRows),
                              mulIndex(builder, loc, where.piece, kPieceBytes));
    Value load = loadFlat(ops.signs, plane, offset,
                          VectorType::get({kPieceBytes}, builder.getI8Type()),
                          shape.steps * kStepBytes * kBlockRows);
    return vector::BitCastOp::create(
        builder, loc, VectorType::get({kPieceBytes / 4}, builder.getI32Type()),
        load);
  }

  /// Every piece lane `lane` reads in a slice: per block of its warp, per
  /// plane.
  SmallVector<Value> loadPieces(const SlicePiece &where, Value tile,
                                Value warp) {
    SmallVector<Value> pieces;
    for (int64_t r = 0; r < shape.blocksPerWarp; ++r) {
      Value block = loadedBlock(rowBlock(tile, warp, r));
      for (int64_t p = 0; p < shape.planes; ++p)
        pieces.push_back(loadPiece(where, block, p));
    }
    return pieces;
  }

  /// The 16 rows' scales of `block` and `plane` for the group of column
  /// `column` (the last group past K, where the tables are zero), in f32:
  /// flat element U B 16 Gp + block G_U 16 + 16 (g - U Gp) of the plane.
  SmallVector<Value> loadScales(Value column, Value block, int64_t plane) {
    Value group =
        clampIndex(builder, loc,
                   arith::DivUIOp::create(builder, loc, column,
                                          index(builder, loc, shape.groupSize)),
                   shape.groups - 1);
    Value load = loadFlat(
        ops.scales, plane,
        passOffset(group, block, shape.passGroups, shape.groups, kBlockRows),
        VectorType::get({kBlockRows}, shape.scaleElement),
        kBlockRows * shape.groups);
    Value f32s = load;
    if (!shape.scaleElement.isF32())
      f32s = arith::ExtFOp::create(
          builder, loc, VectorType::get({kBlockRows}, builder.getF32Type()),
          load);
    SmallVector<Value> result;
    for (int64_t j = 0; j < kBlockRows; ++j)
      result.push_back(
          vector::ExtractOp::create(builder, loc, f32s, ArrayRef<int64_t>{j}));
    return result;
  }

  /// The 8 activations of row `row` that thread `thread` builds the
  /// entries of slice `slice`'s tables from: those of the byte of lane
  /// `thread % 32` (zero past K).
  SmallVector<Value> loadActivations(Value slice, Value row, Value thread) {
    Value lane = arith::RemUIOp::create(builder, loc, thread,
                                        index(builder, loc, kLanes));
    SlicePiece where(builder, loc, slice, lane);
    SmallVector<Value> x;
    for (int64_t i = 0; i < 8; ++i)
      x.push_back(activation(row, addIndex(builder, loc, where.column, i)));
    return x;
  }

  /// Thread `thread`'s entries of the slice's tables from its activations
  /// `x` (loadActivations): table `thread % 32` (lane l's byte), the 32
  /// entries whose top 3 bits are `thread / 32`.
  void buildTables(Value slice, Value thread, ValueRange x) {
    Value lane = arith::RemUIOp::create(builder, loc, thread,
                                        index(builder, loc, kLanes));
    Value warp = arith::DivUIOp::create(builder, loc, thread,
                                        index(builder, loc, kLanes));
    // Bits 5-7 of the entries are the warp's: their sum is common.
    Value base = f32Constant(builder, loc, 0);
    for (int64_t i = 5; i < 8; ++i) {
      Value bit = arith::AndIOp::create(
          builder, loc,
          arith::ShRUIOp::create(builder, loc, warp,
                                 index(builder, loc, i - 5)),
          index(builder, loc, 1));
      Value negative = arith::CmpIOp::create(
          builder, loc, arith::CmpIPredicate::ne, bit, index(builder, loc, 0));
      Value term = arith::SelectOp::create(
          builder, loc, negative, arith::NegFOp::create(builder, loc, x[i]),
          x[i]);
      base = arith::AddFOp::create(builder, loc, base, term);
    }
    // Signed sums of the pairs (x0, x1) and (x2, x3), indexed by their two
    // sign bits.
    SmallVector<Value> low = signedPairSums(builder, loc, x[0], x[1]);
    SmallVector<Value> middle = signedPairSums(builder, loc, x[2], x[3]);
    Value withX4[2] = {arith::AddFOp::create(builder, loc, base, x[4]),
                       arith::SubFOp::create(builder, loc, base, x[4])};
    SmallVector<Value> high; // bits 2-4 and the base
    for (int64_t k = 0; k < 8; ++k)
      high.push_back(
          arith::AddFOp::create(builder, loc, middle[k & 3], withX4[k >> 2]));
    Value firstEntry =
        mulIndex(builder, loc, warp, kEntriesPerThread * kEntryBytes);
    Value laneStart =
        addIndices(builder, loc, firstEntry, laneTableByte(slice, lane));
    for (int64_t e = 0; e < kEntriesPerThread; ++e) {
      memref::StoreOp::create(
          builder, loc,
          arith::AddFOp::create(builder, loc, low[e & 3], high[e >> 2]),
          tableEntry(addIndex(builder, loc, laneStart, e * kEntryBytes)),
          index(builder, loc, 0));
    }
  }

  /// Lane `lane`'s sums after a slice: per block of its warp and plane, one
  /// lookup per row's sign byte, times the row's scale.
  SmallVector<Value> lookUp(Value slice, const SlicePiece &where, Value tile,
                            Value warp, Value lane, ArrayRef<Value> pieces,
                            ValueRange in) {
    SmallVector<Value> sums(in);
    Value laneByte = arith::IndexCastUIOp::create(
        builder, loc, builder.getI32Type(), laneTableByte(slice, lane));
    for (int64_t r = 0; r < shape.blocksPerWarp; ++r) {
      Value block = loadedBlock(rowBlock(tile, warp, r));
      for (int64_t p = 0; p < shape.planes; ++p) {
        SmallVector<Value> scales = loadScales(where.column, block, p);
        Value words = pieces[r * shape.planes + p];
        for (int64_t j = 0; j < kBlockRows; ++j) {
          Value word = vector::ExtractOp::create(builder, loc, words,
                                                 ArrayRef<int64_t>{j / 4});
          // 256 byte + laneByte: the lane's byte, then byte j % 4 of the
          // word, then zeros (bytes of laneByte).
          Value address = bytePermute(
              builder, loc, word, laneByte,
              i32Constant(builder, loc, 0x5504 | (j % 4) << 4), ops.gpu);
          Value value = memref::LoadOp::create(
              builder, loc,
              tableEntry(arith::IndexCastUIOp::create(
                  builder, loc, builder.getIndexType(), address)),
              index(builder, loc, 0));
          Value &sum = sums[r * kBlockRows + j];
          sum = math::FmaOp::create(builder, loc, value, scales[j], sum);
        }
      }
    }
    return sums;
  }

  /// One round of the transposing butterfly on `count` * 2 values: a lane
  /// whose bit `offset` is set keeps the upper half and sends the lower
  /// one, its partner the reverse. Returns (kept, sent).
  std::pair<SmallVector<Value>, SmallVector<Value>>
  halve(ArrayRef<Value> values, Value lane, int64_t offset, int64_t count) {
    Value upper = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::ne,
        arith::AndIOp::create(builder, loc, lane, index(builder, loc, offset)),
        index(builder, loc, 0));
    SmallVector<Value> kept, sent;
    for (int64_t i = 0; i < count; ++i) {
      Value low = values[i], high = values[i + count];
      kept.push_back(arith::SelectOp::create(builder, loc, upper, high, low));
      sent.push_back(arith::SelectOp::create(builder, loc, upper, low, high));
    }
    return {kept, sent};
  }

  /// Adds `sum` (lane `lane`'s row of `block` after the butterfly: row
  /// lane / 2, written by the even lane) to the result row `row`.
  void addToResult(Value row, Value block, Value lane, Value sum) {
    Value feature = addIndices(
        builder, loc, mulIndex(builder, loc, block, kBlockRows),
        arith::DivUIOp::create(builder, loc, lane, index(builder, loc, 2)));
    Value even = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(builder, loc, lane, index(builder, loc, 2)),
        index(builder, loc, 0));
    Value inside = arith::AndIOp::create(
        builder, loc, even, lessThan(builder, loc, feature, shape.features));
    ifThen(builder, loc, inside, [&] {
      memref::AtomicRMWOp::create(builder, loc, arith::AtomicRMWKind::addf, sum,
                                  ops.result, ValueRange{row, feature});
    });
  }

  /// The slice whose activations slice `next`'s tables are built from
  /// (built while the slice before is read): `next`, or past the weight's
  /// end (where those tables are never read) the last again. Clamped
  /// rather than chosen, so that range analysis bounds the reads without
  /// knowing the loop's.
  Value sliceReadAhead(Value next) {
    return clampIndex(builder, loc, next, shape.slices() - 1);
  }

  /// The first and the end slice of split `split`.
  std::pair<Value, Value> splitSlices(Value split) {
    Value first = mulIndex(builder, loc, split, shape.slicesPerSplit);
    Value end = clampIndex(builder, loc,
                           addIndex(builder, loc, first, shape.slicesPerSplit),
                           shape.slices());
    return {first, end};
  }

  /// result[row][n] = 0 for element `i` = row N + n.
  void zeroResult(Value i) {
    Value row = arith::DivUIOp::create(builder, loc, i,
                                       index(builder, loc, shape.features));
    Value feature = arith::RemUIOp::create(builder, loc, i,
                                           index(builder, loc, shape.features));
    memref::StoreOp::create(builder, loc, f32Constant(builder, loc, 0),
                            ops.result, ValueRange{row, feature});
  }

private:
  /// Where unit `unit` (a step of the signs, a group of the scales) of
  /// `block` starts in a plane of the row-interleaved layout, whose units
  /// come in passes of `perPass` (of `total`), each pass holding its units
  /// of every block, `unitSize` elements per unit and block: pass U of
  /// units [U perPass, U perPass + C), C = min(perPass, total - U perPass),
  /// starts at U B perPass unitSize, and the block's units of it at block C
  /// unitSize.
  Value passOffset(Value unit, Value block, int64_t perPass, int64_t total,
                   int64_t unitSize) {
    Value pass = arith::DivUIOp::create(builder, loc, unit,
                                        index(builder, loc, perPass));
    // Every pass is whole where the units divide into them; else the last
    // is shorter.
    Value passUnits = index(builder, loc, perPass);
    if (total % perPass != 0) {
      Value unitsLeft =
          arith::SubIOp::create(builder, loc, index(builder, loc, total),
                                mulIndex(builder, loc, pass, perPass));
      passUnits = arith::MinUIOp::create(builder, loc, passUnits, unitsLeft);
    }
    // The unit's place in its pass as a remainder, not unit - pass perPass:
    // range analysis bounds the one, not the other (fewer unproven checks,
    // and ptxas issues 5 fewer instructions a slice on 28672 x 8192).
    Value inPass = addIndices(
        builder, loc, arith::MulIOp::create(builder, loc, block, passUnits),
        arith::RemUIOp::create(builder, loc, unit,
                               index(builder, loc, perPass)));
    return addIndices(
        builder, loc,
        mulIndex(builder, loc, pass, shape.blocks * perPass * unitSize),
        mulIndex(builder, loc, inPass, unitSize));
  }

  /// The `type` vector at flat element `offset` of plane `plane` of
  /// `buffer` (P x B x rowLength), aligned to its size.
  Value loadFlat(Value buffer, int64_t plane, Value offset, VectorType type,
                 int64_t rowLength) {
    int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
    SmallVector<Value> indices{index(builder, loc, plane)};
    SmallVector<ReassociationIndices> planes{{0}, {1, 2}};
    auto memref = cast<MemRefType>(buffer.getType());
    if (memref::CollapseShapeOp::isGuaranteedCollapsible(memref, planes)) {
      // Each plane as one row: no division of the offset (a 64-bit one
      // where the rows' length is not a power of two).
      buffer = memref::CollapseShapeOp::create(builder, loc, buffer, planes);
      indices.push_back(offset);
    } else {
      Value length = index(builder, loc, rowLength);
      indices.push_back(arith::DivUIOp::create(builder, loc, offset, length));
      indices.push_back(arith::RemUIOp::create(builder, loc, offset, length));
    }
    return vector::LoadOp::create(builder, loc, type, buffer, indices, false,
                                  builder.getI64IntegerAttr(bytes));
  }

  /// Lane l's byte in an entry of the tables of `slice`: 128 (slice % 2) +
  /// 4 l. Word 64 e + 32 t + l of the tables lies in bank l: all of a lane's
  /// lookups fall in its bank.
  Value laneTableByte(Value slice, Value lane) {
    Value set =
        arith::RemUIOp::create(builder, loc, slice, index(builder, loc, 2));
    return addIndices(builder, loc, mulIndex(builder, loc, set, kSetBytes),
                      mulIndex(builder, loc, lane, 4));
  }

  /// The f32 at byte `offset` of the tables.
  Value tableEntry(Value offset) {
    auto type = cast<MemRefType>(ops.table.getType());
    return memref::ViewOp::create(builder, loc,
                                  MemRefType::get({1}, builder.getF32Type(),
                                                  MemRefLayoutAttrInterface(),
                                                  type.getMemorySpace()),
                                  ops.table, offset, ValueRange{});
  }

  /// x[row][column] in f32, zero past K. The columns of the steps end at
  /// K when it is a multiple of a step's: no check then. (A slice's bytes
  /// lie all over its step, so a K of whole slices is not enough.)
  Value activation(Value row, Value column) {
    bool checked = shape.columns % kStepColumns != 0;
    Value read =
        checked ? clampIndex(builder, loc, column, shape.columns - 1) : column;
    Value value = toF32(
        builder, loc,
        memref::LoadOp::create(builder, loc, ops.x, ValueRange{row, read}));
    if (!checked)
      return value;
    return arith::SelectOp::create(
        builder, loc, lessThan(builder, loc, column, shape.columns), value,
        f32Constant(builder, loc, 0));
  }

  OpBuilder &builder;
  Location loc;
  const ByteLutOperands &ops;
  const ByteLutShape &shape;
};

/// The tables on the GPU: the block's dynamic shared memory (64 KiB, more
/// than the 48 KiB that a kernel may declare statically everywhere; the
/// runtime opts each launch in).
Value sharedTables(OpBuilder &builder, Location loc) {
  return dynamicWorkgroupBuffer(builder, loc, kTableBytes);
}

/// gpu.launch of `blocks` blocks of `threads` threads in x (and `grid`'s
/// y and z); returns it with the insertion point in its body.
gpu::LaunchOp createLaunch(OpBuilder &builder, Location loc, Value gridX,
                           Value gridY, Value gridZ, int64_t lanes,
                           int64_t warps, Value sharedBytes = Value()) {
  return gpu::LaunchOp::create(
      builder, loc, gridX, gridY, gridZ, index(builder, loc, lanes),
      index(builder, loc, warps), index(builder, loc, 1), sharedBytes);
}

/// The result zeroed: one element per thread.
void emitZeroLaunch(OpBuilder &builder, Location loc,
                    const ByteLutOperands &ops) {
  int64_t elements = ops.shape.rows * ops.shape.features;
  Value one = index(builder, loc, 1);
  auto launch = createLaunch(
      builder, loc, index(builder, loc, llvm::divideCeil(elements, kThreads)),
      one, one, kThreads, 1);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  Value i = addIndices(builder, loc,
                       mulIndex(builder, loc, launch.getBlockIds().x, kThreads),
                       launch.getThreadIds().x);
  ByteLutKernel kernel(builder, loc, ops);
  ifThen(builder, loc, lessThan(builder, loc, i, elements),
         [&] { kernel.zeroResult(i); });
  gpu::TerminatorOp::create(builder, loc);
}

/// The GEMV as a gpu.launch: grid (tiles of rows, splits of the columns,
/// activation rows), 8 warps, the tables in dynamic shared memory; one
/// barrier per slice; the butterfly in xor shuffles.
void emitGemvLaunch(OpBuilder &builder, Location loc,
                    const ByteLutOperands &ops) {
  const ByteLutShape &shape = ops.shape;
  auto launch = createLaunch(builder, loc, index(builder, loc, shape.tiles()),
                             index(builder, loc, shape.splits()),
                             index(builder, loc, shape.rows), kLanes, kWarps,
                             i32Constant(builder, loc, kTableBytes));
  askForBlocksPerSM(builder, launch, kBlocksPerSM);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  Value lane = launch.getThreadIds().x, warp = launch.getThreadIds().y;
  Value tile = launch.getBlockIds().x, row = launch.getBlockIds().z;
  Value thread =
      addIndices(builder, loc, mulIndex(builder, loc, warp, kLanes), lane);
  ByteLutOperands withTables = ops;
  withTables.table = sharedTables(builder, loc);
  ByteLutKernel kernel(builder, loc, withTables);
  auto [first, end] = kernel.splitSlices(launch.getBlockIds().y);
  SmallVector<Value> zeros(shape.sums(), f32Constant(builder, loc, 0));
  // Slice s + 1's tables are built (in the other set) while slice s's are
  // read, after one barrier per slice, which every thread reaches after its
  // lookups of slice s - 1 (the last reads of the set it then builds) and
  // its entries of slice s (which this slice's lookups read). The slice's
  // sign pieces and the next slice's activations are loaded before the
  // barrier, which the compilers do not move them past (its scales are
  // loaded with its lookups). The last slice of a split builds tables that
  // no one reads: slice s + 1's, in the other set, or for the weight's
  // last slice the same entries again (its activations, in the set of
  // s + 1; sliceReadAhead keeps the reads inside the weight).
  kernel.buildTables(first, thread, kernel.loadActivations(first, row, thread));
  SmallVector<Value> sums = stridedLoop(
      builder, loc, first, end, 1, zeros, [&](Value slice, ValueRange in) {
        SlicePiece where(builder, loc, slice, lane);
        SmallVector<Value> pieces = kernel.loadPieces(where, tile, warp);
        Value next = addIndex(builder, loc, slice, 1);
        SmallVector<Value> x =
            kernel.loadActivations(kernel.sliceReadAhead(next), row, thread);
        gpu::BarrierOp::create(builder, loc);
        SmallVector<Value> out =
            kernel.lookUp(slice, where, tile, warp, lane, pieces, in);
        kernel.buildTables(next, thread, x);
        return out;
      });
  for (int64_t r = 0; r < shape.blocksPerWarp; ++r) {
    SmallVector<Value> values(ArrayRef(sums).slice(r * kBlockRows, kBlockRows));
    for (int64_t offset = kLanes / 2, count = kBlockRows / 2; count >= 1;
         offset /= 2, count /= 2) {
      auto [kept, sent] = kernel.halve(values, lane, offset, count);
      values.resize(count);
      for (int64_t i = 0; i < count; ++i) {
        auto shuffle = gpu::ShuffleOp::create(builder, loc, sent[i], offset,
                                              kLanes, gpu::ShuffleMode::XOR);
        values[i] = arith::AddFOp::create(builder, loc, kept[i],
                                          shuffle.getShuffleResult());
      }
    }
    // Lanes 2j and 2j + 1 hold halves of row j's sum.
    auto pair = gpu::ShuffleOp::create(builder, loc, values[0], 1, kLanes,
                                       gpu::ShuffleMode::XOR);
    Value sum =
        arith::AddFOp::create(builder, loc, values[0], pair.getShuffleResult());
    Value block = kernel.rowBlock(tile, warp, r);
    ifThen(builder, loc, lessThan(builder, loc, block, shape.blocks),
           [&] { kernel.addToResult(row, block, lane, sum); });
  }
  gpu::TerminatorOp::create(builder, loc);
}

/// The lanes' values of one block of rows, on the host: the butterfly's
/// rounds as buffers of 32 lanes x 16 values, each round every lane's kept
/// and sent halves stored before any lane adds its partner's.
class HostButterfly {
public:
  HostButterfly(OpBuilder &builder, Location loc, ByteLutKernel &kernel)
      : builder(builder), loc(loc), kernel(kernel) {
    auto type = MemRefType::get({kLanes, kBlockRows}, builder.getF32Type());
    values = memref::AllocaOp::create(builder, loc, type);
    kept = memref::AllocaOp::create(builder, loc, type);
    sent = memref::AllocaOp::create(builder, loc, type);
  }

  Value laneValues() const { return values; }

  /// Runs the rounds on `laneValues()` and adds the even lanes' sums.
  void reduceAndAdd(Value row, Value block) {
    for (int64_t offset = kLanes / 2, count = kBlockRows / 2; count >= 1;
         offset /= 2, count /= 2) {
      forRange(builder, loc, kLanes, [&](Value lane) {
        auto [keep, send] =
            kernel.halve(load(values, lane, 2 * count), lane, offset, count);
        store(kept, lane, keep);
        store(sent, lane, send);
      });
      forRange(builder, loc, kLanes, [&](Value lane) {
        Value partner = arith::XOrIOp::create(builder, loc, lane,
                                              index(builder, loc, offset));
        SmallVector<Value> own = load(kept, lane, count);
        SmallVector<Value> theirs = load(sent, partner, count);
        SmallVector<Value> sums;
        for (int64_t i = 0; i < count; ++i)
          sums.push_back(
              arith::AddFOp::create(builder, loc, own[i], theirs[i]));
        store(values, lane, sums);
      });
    }
    forRange(builder, loc, kLanes, [&](Value lane) {
      Value partner =
          arith::XOrIOp::create(builder, loc, lane, index(builder, loc, 1));
      Value sum = arith::AddFOp::create(builder, loc, load(values, lane, 1)[0],
                                        load(values, partner, 1)[0]);
      kernel.addToResult(row, block, lane, sum);
    });
  }

  SmallVector<Value> load(Value buffer, Value lane, int64_t count) {
    SmallVector<Value> result;
    for (int64_t i = 0; i < count; ++i)
      result.push_back(memref::LoadOp::create(
          builder, loc, buffer, ValueRange{lane, index(builder, loc, i)}));
    return result;
  }

  void store(Value buffer, Value lane, ArrayRef<Value> items) {
    for (auto [i, item] : llvm::enumerate(items))
      memref::StoreOp::create(builder, loc, item, buffer,
                              ValueRange{lane, index(builder, loc, i)});
  }

private:
  OpBuilder &builder;
  Location loc;
  ByteLutKernel &kernel;
  Value values, kept, sent;
};

/// Both kernels' loop nests on the host: per activation row, tile and split,
/// the first slice's tables built by the 256 threads in turn, then per slice
/// every warp's lanes look up (their sums in a buffer between slices) and
/// the threads build the next slice's tables in the other set, from the
/// activations read ahead as on the GPU; then per warp and block the
/// butterfly.
void emitHostLoops(OpBuilder &builder, Location loc,
                   const ByteLutOperands &ops) {
  const ByteLutShape &shape = ops.shape;
  ByteLutKernel kernel(builder, loc, ops);
  forRange(builder, loc, shape.rows * shape.features,
           [&](Value i) { kernel.zeroResult(i); });
  Value laneSums = memref::AllocaOp::create(
      builder, loc,
      MemRefType::get({kWarps, kLanes, shape.sums()}, builder.getF32Type()));
  HostButterfly butterfly(builder, loc, kernel);
  forRange(builder, loc, shape.rows, [&](Value row) {
    forRange(builder, loc, shape.tiles(), [&](Value tile) {
      forRange(builder, loc, shape.splits(), [&](Value split) {
        auto laneIndices = [&](Value warp, Value lane, int64_t i) {
          return SmallVector<Value>{warp, lane, index(builder, loc, i)};
        };
        forRange(builder, loc, kWarps, [&](Value warp) {
          forRange(builder, loc, kLanes, [&](Value lane) {
            for (int64_t i = 0; i < shape.sums(); ++i)
              memref::StoreOp::create(builder, loc,
                                      f32Constant(builder, loc, 0), laneSums,
                                      laneIndices(warp, lane, i));
          });
        });
        // The GPU's schedule: the first slice's tables, then per slice its
        // lookups and the next slice's tables (read ahead, in the other set).
        auto [first, end] = kernel.splitSlices(split);
        forRange(builder, loc, kThreads, [&](Value thread) {
          kernel.buildTables(first, thread,
                             kernel.loadActivations(first, row, thread));
        });
        stridedRange(builder, loc, first, end, 1, [&](Value slice) {
          forRange(builder, loc, kWarps, [&](Value warp) {
            forRange(builder, loc, kLanes, [&](Value lane) {
              SlicePiece where(builder, loc, slice, lane);
              SmallVector<Value> in;
              for (int64_t i = 0; i < shape.sums(); ++i)
                in.push_back(memref::LoadOp::create(
                    builder, loc, laneSums, laneIndices(warp, lane, i)));
              SmallVector<Value> out =
                  kernel.lookUp(slice, where, tile, warp, lane,
                                kernel.loadPieces(where, tile, warp), in);
              for (int64_t i = 0; i < shape.sums(); ++i)
                memref::StoreOp::create(builder, loc, out[i], laneSums,
                                        laneIndices(warp, lane, i));
            });
          });
          Value next = addIndex(builder, loc, slice, 1);
          Value ahead = kernel.sliceReadAhead(next);
          forRange(builder, loc, kThreads, [&](Value thread) {
            kernel.buildTables(next, thread,
                               kernel.loadActivations(ahead, row, thread));
          });
        });
        forRange(builder, loc, kWarps, [&](Value warp) {
          for (int64_t r = 0; r < shape.blocksPerWarp; ++r) {
            forRange(builder, loc, kLanes, [&](Value lane) {
              SmallVector<Value> values;
              for (int64_t j = 0; j < kBlockRows; ++j)
                values.push_back(memref::LoadOp::create(
                    builder, loc, laneSums,
                    laneIndices(warp, lane, r * kBlockRows + j)));
              butterfly.store(butterfly.laneValues(), lane, values);
            });
            Value block = kernel.rowBlock(tile, warp, r);
            ifThen(builder, loc, lessThan(builder, loc, block, shape.blocks),
                   [&] { butterfly.reduceAndAdd(row, block); });
          }
        });
      });
    });
  });
}

/// byte_lut_gemv: the operands' buffers (the weight in the row-interleaved
/// layout), a new result buffer, the tables, and both kernels as gpu.launch
/// ops or their host loop nests.
struct ByteLutGemvPattern : MatmulStrategyPattern {
  ByteLutGemvPattern(MLIRContext *context, bool gpuLaunch)
      : MatmulStrategyPattern(context, KernelStrategy::ByteLutGemv),
        gpuLaunch(gpuLaunch) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    KernelBuffers buffers =
        KernelBuffers::create(builder, loc, operands, accumulator);
    ByteLutOperands ops{buffers, byteLutShape(operands, buffers), Value(),
                        gpuLaunch};
    if (gpuLaunch) {
      emitZeroLaunch(builder, loc, ops);
      emitGemvLaunch(builder, loc, ops);
    } else {
      // Aligned as the GPU's shared memory is: the lookups read f32.
      ops.table = memref::AllocaOp::create(
          builder, loc, MemRefType::get({kTableBytes}, builder.getI8Type()),
          builder.getI64IntegerAttr(16));
      emitHostLoops(builder, loc, ops);
    }
    return ops.resultTensor(builder, loc, accumulator);
  }

  bool gpuLaunch;
};

} // namespace

void populateByteLutGemvPatterns(RewritePatternSet &patterns, bool gpuLaunch) {
  patterns.add<ByteLutGemvPattern>(patterns.getContext(), gpuLaunch);
}

} // namespace r2q::lowering
