//===- WarpGemv.cpp - r2q.matmul by 32-lane warps (the GPU kernel) --------===//
//
// Strategy warp_gemv (a static batch and weight shape): one warp of 32 lanes
// computes `tile_rows` output features. Lane l reads the 16-byte chunks
// l, l + 32, ... of each row's sign bits (consecutive lanes, consecutive
// bytes: coalesced 128-bit loads of the canonical layout), flips the float
// sign bit of 4 activations at a time by the weight's bits (an xor), sums a
// segment (a group, or 32 columns of one) and multiplies it by the plane's
// scale. Columns past the last whole chunk of 128 are read one per lane.
// The lanes' sums meet in a butterfly of xor shuffles; lane 0 writes them.
//
// With gpu-launch the kernel is a gpu.launch of blocks of 4 warps; without,
// the same body runs on the host in loops over blocks, warps and lanes, and
// the butterfly runs on a buffer of the 32 lanes' values, in the same order
// of additions: the CPU tests execute the GPU kernel's index math and
// decoding.
//
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

constexpr int64_t kLanes = 32;
constexpr int64_t kWarpsPerBlock = 4;
constexpr int64_t kChunkBytes = 16; // one 128-bit load per plane and row
constexpr int64_t kChunkColumns = 8 * kChunkBytes;
constexpr int64_t kWordColumns = 32;
constexpr int64_t kQuad = 4;
constexpr int64_t kMaxBatchTile = 8;
/// Entries of a warp_lut_gemv table: the sign patterns of a quad.
constexpr int64_t kTableEntries = 16;

/// The static sizes of one warp_gemv kernel and the tiles it works in.
struct WarpShape : KernelDims {
  int64_t batchTile;       // activation rows per pass over the weight
  int64_t rowsPerWarp;     // output features of one warp
  int64_t wholeChunks;     // chunks of 128 columns read by vector loads
  int64_t segment;         // columns summed before a scale multiplies them
  uint64_t signsAlignment; // bytes, of every chunk's load
  uint64_t inputAlignment; // bytes, of every quad of activations
  int64_t warpsPerBlock = kWarpsPerBlock;
  int64_t chunkColumns = kChunkColumns; // columns of one lane's chunk

  int64_t rowsPerBlock() const { return rowsPerWarp * warpsPerBlock; }
  int64_t blocks() const { return llvm::divideCeil(features, rowsPerBlock()); }
  int64_t tailStart() const { return wholeChunks * chunkColumns; }
  int64_t chunkBytes() const { return chunkColumns / 8; }
  /// warp_lut_gemv: the quads of a slice of 32 chunks, and the f32 entries
  /// of its tables (16 per quad and row of the batch tile).
  int64_t quadsPerSlice() const { return kLanes * chunkColumns / kQuad; }
  int64_t tableSize() const {
    return quadsPerSlice() * kTableEntries * batchTile;
  }
};

/// The largest power of two of at most 32 dividing the group size (a
/// multiple of 8): segments then never straddle a group.
int64_t segmentColumns(int64_t groupSize) {
  return static_cast<int64_t>(llvm::MinAlign(groupSize, kWordColumns));
}

WarpShape warpShape(const MatmulOperands &operands, int64_t rows) {
  WarpShape shape;
  static_cast<KernelDims &>(shape) = KernelDims::of(operands, rows);
  shape.batchTile = std::min(rows, kMaxBatchTile);
  int64_t tileRows = operands.kernel.getTileRows();
  shape.rowsPerWarp = tileRows > 0           ? tileRows
                      : shape.batchTile <= 2 ? 4
                      : shape.batchTile <= 4 ? 2
                                             : 1;
  shape.segment = segmentColumns(shape.groupSize);
  shape.wholeChunks = shape.columns / kChunkColumns;
  shape.signsAlignment = llvm::MinAlign(shape.bytesPerRow, kChunkBytes);
  uint64_t elementBytes = shape.inputElement.getIntOrFloatBitWidth() / 8;
  shape.inputAlignment =
      llvm::MinAlign(shape.columns * elementBytes, kQuad * elementBytes);
  return shape;
}

/// The buffers the kernel reads and writes, and its shape.
struct WarpOperands : KernelBuffers {
  WarpShape shape;
};

/// Emits the body of one lane: its partial sums for a tile of output
/// features and activation rows.
class LaneSums {
public:
  LaneSums(OpBuilder &builder, Location loc, const WarpOperands &operands)
      : builder(builder), loc(loc), ops(operands), shape(operands.shape) {}

  /// Starts a tile: features rowBase + [0, rowsPerWarp) (loads clamped to
  /// the last feature) and activation rows m0 + [0, mt).
  void begin(Value rowBase, Value m0, int64_t mt) {
    this->m0 = m0;
    this->mt = mt;
    featureRows.clear();
    Value last = index(builder, loc, shape.features - 1);
    for (int64_t r = 0; r < shape.rowsPerWarp; ++r)
      featureRows.push_back(arith::MinUIOp::create(
          builder, loc,
          arith::AddIOp::create(builder, loc, rowBase, index(builder, loc, r)),
          last));
  }

  /// Zero sums of the tile: one f32 per (feature, row), feature-major.
  SmallVector<Value> zeros() {
    return SmallVector<Value>(shape.rowsPerWarp * mt,
                              f32Constant(builder, loc, 0));
  }

  /// The sums of lane `lane` over the whole chunks of 128 columns and the
  /// tail (the xor strategy).
  SmallVector<Value> emit(Value rowBase, Value lane, Value m0, int64_t mt) {
    begin(rowBase, m0, mt);
    SmallVector<Value> sums = zeros();
    if (shape.wholeChunks > 0)
      sums = laneLoop(
          lane, shape.wholeChunks, sums,
          [&](Value chunk, ValueRange in) { return chunkSums(chunk, in); });
    return tail(lane, sums);
  }

  /// `sums` plus the columns from tailStart() on, one per lane.
  SmallVector<Value> tail(Value lane, ValueRange sums) {
    if (shape.tailStart() >= shape.columns)
      return SmallVector<Value>(sums);
    Value first = arith::AddIOp::create(
        builder, loc, index(builder, loc, shape.tailStart()), lane);
    return laneLoop(
        first, shape.columns, sums,
        [&](Value column, ValueRange in) { return columnSums(column, in); });
  }

  /// Activations m0 + row, columns column + [0, 4), as f32 bits.
  Value inputQuadBits(Value row, Value column) {
    auto inputQuad = VectorType::get({kQuad}, shape.inputElement);
    return vector::BitCastOp::create(
        builder, loc, VectorType::get({kQuad}, builder.getI32Type()),
        toF32(builder, loc, x(row, column, inputQuad)));
  }

  /// The scale of plane `plane` for tile feature `r` at `column`, in f32.
  Value scale(int64_t plane, int64_t r, Value column) {
    Value group = arith::DivUIOp::create(builder, loc, column,
                                         index(builder, loc, shape.groupSize));
    Value s = memref::LoadOp::create(
        builder, loc, ops.scales,
        ValueRange{index(builder, loc, plane), featureRows[r], group});
    return toF32(builder, loc, s);
  }

  Value featureRow(int64_t r) const { return featureRows[r]; }
  int64_t tileRows() const { return mt; }

  /// sums[r][m] += factor * values[m] for the tile's rows m (feature-major
  /// sums, feature `r`).
  void addScaled(MutableArrayRef<Value> sums, int64_t r, Value factor,
                 ArrayRef<Value> values) {
    for (int64_t m = 0; m < mt; ++m) {
      Value &sum = sums[r * mt + m];
      sum = math::FmaOp::create(builder, loc, factor, values[m], sum);
    }
  }

private:
  using Step = std::function<SmallVector<Value>(Value, ValueRange)>;

  /// scf.for i = first to end step 32 carrying the sums.
  SmallVector<Value> laneLoop(Value first, int64_t end, ValueRange sums,
                              const Step &step) {
    auto loop = scf::ForOp::create(
        builder, loc, first, index(builder, loc, end),
        index(builder, loc, kLanes), sums,
        [&](OpBuilder &b, Location l, Value i, ValueRange in) {
          OpBuilder::InsertionGuard guard(builder);
          builder.setInsertionPoint(b.getInsertionBlock(),
                                    b.getInsertionPoint());
          scf::YieldOp::create(b, l, step(i, in));
        });
    return loop.getResults();
  }

  Value x(Value row, Value column, Type type) {
    Value m = arith::AddIOp::create(builder, loc, m0, row);
    return vector::LoadOp::create(
        builder, loc, type, ops.x, ValueRange{m, column}, false,
        builder.getI64IntegerAttr(shape.inputAlignment));
  }

  /// The four 32-bit words of the sign bits of one chunk of 128 columns,
  /// per plane and feature row.
  SmallVector<Value> chunkWords(Value chunk) {
    auto bytes = VectorType::get({kChunkBytes}, builder.getI8Type());
    auto words = VectorType::get({kChunkBytes / 4}, builder.getI32Type());
    Value byte = arith::MulIOp::create(builder, loc, chunk,
                                       index(builder, loc, kChunkBytes));
    SmallVector<Value> result;
    for (int64_t p = 0; p < shape.planes; ++p)
      for (int64_t r = 0; r < shape.rowsPerWarp; ++r) {
        Value load = vector::LoadOp::create(
            builder, loc, bytes, ops.signs,
            ValueRange{index(builder, loc, p), featureRows[r], byte}, false,
            builder.getI64IntegerAttr(shape.signsAlignment));
        result.push_back(vector::BitCastOp::create(builder, loc, words, load));
      }
    return result;
  }

  /// Activations of 4 columns with their sign bits flipped where bits
  /// `first .. first + 3` of `word` are set (a set bit is -1).
  Value flipped(Value inputBits, Value word, int64_t first) {
    auto quad = VectorType::get({kQuad}, builder.getI32Type());
    SmallVector<int32_t> shifts;
    for (int64_t i = 0; i < kQuad; ++i)
      shifts.push_back(31 - static_cast<int32_t>(first + i));
    Value shifted = arith::ShLIOp::create(
        builder, loc, vector::BroadcastOp::create(builder, loc, quad, word),
        arith::ConstantOp::create(
            builder, loc, DenseElementsAttr::get(quad, ArrayRef(shifts))));
    Value sign = arith::AndIOp::create(
        builder, loc, shifted,
        arith::ConstantOp::create(
            builder, loc,
            DenseElementsAttr::get(quad, static_cast<int32_t>(0x80000000u))));
    Value bits = arith::XOrIOp::create(builder, loc, inputBits, sign);
    return vector::BitCastOp::create(
        builder, loc, VectorType::get({kQuad}, builder.getF32Type()), bits);
  }

  /// The sums after one chunk of 128 columns.
  SmallVector<Value> chunkSums(Value chunk, ValueRange in) {
    SmallVector<Value> sums(in);
    SmallVector<Value> words = chunkWords(chunk);
    Value chunkColumn = arith::MulIOp::create(
        builder, loc, chunk, index(builder, loc, kChunkColumns));
    int64_t rowsPerWarp = shape.rowsPerWarp;
    for (int64_t w = 0; w < kChunkColumns / kWordColumns; ++w) {
      SmallVector<Value> wordBits;
      for (Value chunkWord : words)
        wordBits.push_back(vector::ExtractOp::create(builder, loc, chunkWord,
                                                     ArrayRef<int64_t>{w}));
      for (int64_t s = 0; s < kWordColumns; s += shape.segment) {
        Value first =
            arith::AddIOp::create(builder, loc, chunkColumn,
                                  index(builder, loc, w * kWordColumns + s));
        // segment[(p * R + r) * mt + m]
        SmallVector<Value> segment(shape.planes * rowsPerWarp * mt,
                                   f32Constant(builder, loc, 0));
        for (int64_t q = 0; q < shape.segment; q += kQuad) {
          Value column = arith::AddIOp::create(builder, loc, first,
                                               index(builder, loc, q));
          SmallVector<Value> inputs;
          for (int64_t m = 0; m < mt; ++m)
            inputs.push_back(inputQuadBits(index(builder, loc, m), column));
          for (int64_t pr = 0; pr < shape.planes * rowsPerWarp; ++pr)
            for (int64_t m = 0; m < mt; ++m) {
              Value quad = flipped(inputs[m], wordBits[pr], s + q);
              Value &acc = segment[pr * mt + m];
              acc = vector::ReductionOp::create(
                  builder, loc, vector::CombiningKind::ADD, quad, acc,
                  arith::FastMathFlags::reassoc);
            }
        }
        for (int64_t p = 0; p < shape.planes; ++p)
          for (int64_t r = 0; r < rowsPerWarp; ++r) {
            addScaled(sums, r, scale(p, r, first),
                      ArrayRef(segment).slice((p * rowsPerWarp + r) * mt, mt));
          }
      }
    }
    return sums;
  }

  /// The sums after one column read on its own (the tail).
  SmallVector<Value> columnSums(Value column, ValueRange in) {
    SmallVector<Value> sums(in);
    Value byte =
        arith::DivUIOp::create(builder, loc, column, index(builder, loc, 8));
    Value bit = arith::IndexCastOp::create(
        builder, loc, builder.getI8Type(),
        arith::RemUIOp::create(builder, loc, column, index(builder, loc, 8)));
    Value one =
        arith::ConstantOp::create(builder, loc, builder.getI8IntegerAttr(1));
    SmallVector<Value> inputs;
    for (int64_t m = 0; m < mt; ++m) {
      Value row =
          arith::AddIOp::create(builder, loc, m0, index(builder, loc, m));
      inputs.push_back(toF32(builder, loc,
                             memref::LoadOp::create(builder, loc, ops.x,
                                                    ValueRange{row, column})));
    }
    for (int64_t r = 0; r < shape.rowsPerWarp; ++r) {
      Value weight = f32Constant(builder, loc, 0);
      for (int64_t p = 0; p < shape.planes; ++p) {
        Value signByte = memref::LoadOp::create(
            builder, loc, ops.signs,
            ValueRange{index(builder, loc, p), featureRows[r], byte});
        Value set = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::ne,
            arith::AndIOp::create(
                builder, loc,
                arith::ShRUIOp::create(builder, loc, signByte, bit), one),
            arith::ConstantOp::create(builder, loc,
                                      builder.getI8IntegerAttr(0)));
        Value s = scale(p, r, column);
        Value signedScale = arith::SelectOp::create(
            builder, loc, set, arith::NegFOp::create(builder, loc, s), s);
        weight = arith::AddFOp::create(builder, loc, weight, signedScale);
      }
      addScaled(sums, r, weight, inputs);
    }
    return sums;
  }

  OpBuilder &builder;
  Location loc;
  const WarpOperands &ops;
  const WarpShape &shape;
  Value m0;
  int64_t mt = 0;
  SmallVector<Value> featureRows;
};

/// Writes lane 0's reduced sums: result = accumulator + sums for the
/// features rowBase + r below N and rows m0 + [0, mt).
void storeSums(OpBuilder &builder, Location loc, const WarpOperands &ops,
               Value rowBase, Value m0, int64_t mt, ArrayRef<Value> sums) {
  for (int64_t r = 0; r < ops.shape.rowsPerWarp; ++r) {
    Value feature =
        arith::AddIOp::create(builder, loc, rowBase, index(builder, loc, r));
    Value inside =
        arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult, feature,
                              index(builder, loc, ops.shape.features));
    scf::IfOp::create(builder, loc, inside, [&](OpBuilder &b, Location l) {
      for (int64_t m = 0; m < mt; ++m) {
        Value row = arith::AddIOp::create(b, l, m0, index(b, l, m));
        Value before = memref::LoadOp::create(b, l, ops.accumulator,
                                              ValueRange{row, feature});
        memref::StoreOp::create(
            b, l, arith::AddFOp::create(b, l, before, sums[r * mt + m]),
            ops.result, ValueRange{row, feature});
      }
      scf::YieldOp::create(b, l);
    });
  }
}

/// Calls `tile(m0, mt)` for the batch tiles: an scf.for over the whole
/// tiles, then the last, shorter one.
void forEachBatchTile(OpBuilder &builder, Location loc, const WarpShape &shape,
                      const std::function<void(Value, int64_t)> &tile) {
  int64_t whole = shape.rows / shape.batchTile;
  if (whole == 1) {
    tile(index(builder, loc, 0), shape.batchTile);
  } else if (whole > 1) {
    scf::ForOp::create(builder, loc, index(builder, loc, 0),
                       index(builder, loc, whole * shape.batchTile),
                       index(builder, loc, shape.batchTile), ValueRange{},
                       [&](OpBuilder &b, Location l, Value m0, ValueRange) {
                         OpBuilder::InsertionGuard guard(builder);
                         builder.setInsertionPoint(b.getInsertionBlock(),
                                                   b.getInsertionPoint());
                         tile(m0, shape.batchTile);
                         scf::YieldOp::create(b, l);
                       });
  }
  if (int64_t rest = shape.rows % shape.batchTile)
    tile(index(builder, loc, whole * shape.batchTile), rest);
}

Value warpRowBase(OpBuilder &builder, Location loc, const WarpShape &shape,
                  Value block, Value warp) {
  Value warpIndex = arith::AddIOp::create(
      builder, loc,
      arith::MulIOp::create(builder, loc, block,
                            index(builder, loc, shape.warpsPerBlock)),
      warp);
  return arith::MulIOp::create(builder, loc, warpIndex,
                               index(builder, loc, shape.rowsPerWarp));
}

/// The lanes' sums meet in a butterfly of xor shuffles; lane 0 stores them.
void reduceAndStore(OpBuilder &builder, Location loc, const WarpOperands &ops,
                    Value lane, Value rowBase, Value m0, int64_t mt,
                    SmallVector<Value> sums) {
  for (Value &sum : sums)
    for (int32_t offset = kLanes / 2; offset >= 1; offset /= 2) {
      auto shuffle = gpu::ShuffleOp::create(builder, loc, sum, offset, kLanes,
                                            gpu::ShuffleMode::XOR);
      sum =
          arith::AddFOp::create(builder, loc, sum, shuffle.getShuffleResult());
    }
  Value first = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq,
                                      lane, index(builder, loc, 0));
  ifThen(builder, loc, first,
         [&] { storeSums(builder, loc, ops, rowBase, m0, mt, sums); });
}

/// The kernel as a gpu.launch: the butterfly in xor shuffles.
void emitGPULaunch(OpBuilder &builder, Location loc, const WarpOperands &ops) {
  const WarpShape &shape = ops.shape;
  Value one = index(builder, loc, 1);
  auto launch = gpu::LaunchOp::create(
      builder, loc, index(builder, loc, shape.blocks()), one, one,
      index(builder, loc, kLanes), index(builder, loc, kWarpsPerBlock), one);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  Value lane = launch.getThreadIds().x;
  Value rowBase = warpRowBase(builder, loc, shape, launch.getBlockIds().x,
                              launch.getThreadIds().y);
  LaneSums laneSums(builder, loc, ops);
  forEachBatchTile(builder, loc, shape, [&](Value m0, int64_t mt) {
    reduceAndStore(builder, loc, ops, lane, rowBase, m0, mt,
                   laneSums.emit(rowBase, lane, m0, mt));
  });
  gpu::TerminatorOp::create(builder, loc);
}

/// Two buffers of one value per lane and (feature, row) of a tile, for the
/// host's butterfly.
struct LaneBuffers {
  Value current, next;

  LaneBuffers(OpBuilder &builder, Location loc, const WarpShape &shape) {
    auto type = MemRefType::get({kLanes, shape.rowsPerWarp * shape.batchTile},
                                builder.getF32Type());
    current = memref::AllocaOp::create(builder, loc, type);
    next = memref::AllocaOp::create(builder, loc, type);
  }
};

/// Stores `sums` as lane `lane`'s values in `buffer`.
void storeLane(OpBuilder &builder, Location loc, Value buffer, Value lane,
               ArrayRef<Value> sums) {
  for (auto [i, sum] : llvm::enumerate(sums))
    memref::StoreOp::create(builder, loc, sum, buffer,
                            ValueRange{lane, index(builder, loc, i)});
}

/// The lanes' values in `buffers.current` meet in a butterfly on the two
/// buffers (each round, every lane adds its partner's value, as a shuffle
/// does); lane 0's sums are stored.
void hostReduceAndStore(OpBuilder &builder, Location loc,
                        const WarpOperands &ops, const LaneBuffers &buffers,
                        Value rowBase, Value m0, int64_t mt) {
  int64_t values = ops.shape.rowsPerWarp * mt;
  Value in = buffers.current, out = buffers.next;
  for (int64_t offset = kLanes / 2; offset >= 1; offset /= 2) {
    forRange(builder, loc, kLanes, [&](Value lane) {
      Value partner = arith::XOrIOp::create(builder, loc, lane,
                                            index(builder, loc, offset));
      for (int64_t i = 0; i < values; ++i) {
        Value column = index(builder, loc, i);
        Value own =
            memref::LoadOp::create(builder, loc, in, ValueRange{lane, column});
        Value theirs = memref::LoadOp::create(builder, loc, in,
                                              ValueRange{partner, column});
        memref::StoreOp::create(
            builder, loc, arith::AddFOp::create(builder, loc, own, theirs), out,
            ValueRange{lane, column});
      }
    });
    std::swap(in, out);
  }
  SmallVector<Value> sums;
  for (int64_t i = 0; i < values; ++i)
    sums.push_back(memref::LoadOp::create(
        builder, loc, in,
        ValueRange{index(builder, loc, 0), index(builder, loc, i)}));
  storeSums(builder, loc, ops, rowBase, m0, mt, sums);
}

/// The kernel's loop nest on the host: blocks, warps and lanes in loops, the
/// butterfly on buffers of the lanes' values.
void emitHostLoops(OpBuilder &builder, Location loc, const WarpOperands &ops) {
  const WarpShape &shape = ops.shape;
  LaneBuffers buffers(builder, loc, shape);
  forRange(builder, loc, shape.blocks(), [&](Value block) {
    forRange(builder, loc, shape.warpsPerBlock, [&](Value warp) {
      Value rowBase = warpRowBase(builder, loc, shape, block, warp);
      LaneSums laneSums(builder, loc, ops);
      forEachBatchTile(builder, loc, shape, [&](Value m0, int64_t mt) {
        forRange(builder, loc, kLanes, [&](Value lane) {
          storeLane(builder, loc, buffers.current, lane,
                    laneSums.emit(rowBase, lane, m0, mt));
        });
        hostReduceAndStore(builder, loc, ops, buffers, rowBase, m0, mt);
      });
    });
  });
}

//===----------------------------------------------------------------------===//
// warp_lut_gemv: the activations' tables in shared memory
//===----------------------------------------------------------------------===//

constexpr int64_t kLutWarpsPerBlock = 8;
constexpr int64_t kLutMaxBatchTile = 4;
constexpr int64_t kLutThreads = kLanes * kLutWarpsPerBlock;

/// The shape of a warp_lut_gemv kernel: each lane reads chunks of C = 8, 4
/// or 2 bytes (the batch tile is 1, 2 or 3-4 rows, so that the tables of a
/// slice of 32 chunks take 32 KiB), 8 warps per block.
WarpShape lutShape(const MatmulOperands &operands, int64_t rows) {
  WarpShape shape = warpShape(operands, rows);
  shape.batchTile = std::min(rows, kLutMaxBatchTile);
  int64_t chunkBytes =
      8 / static_cast<int64_t>(llvm::PowerOf2Ceil(shape.batchTile));
  shape.chunkColumns = 8 * chunkBytes;
  shape.wholeChunks = shape.columns / shape.chunkColumns;
  shape.segment =
      static_cast<int64_t>(llvm::MinAlign(shape.groupSize, shape.chunkColumns));
  shape.signsAlignment = llvm::MinAlign(shape.bytesPerRow, chunkBytes);
  int64_t tileRows = operands.kernel.getTileRows();
  shape.rowsPerWarp = tileRows > 0 ? tileRows : 4;
  shape.warpsPerBlock = kLutWarpsPerBlock;
  return shape;
}

/// The table-lookup kernel's two steps for one batch tile, shared by the
/// GPU and host mappings. A slice is 32 consecutive chunks (one per lane);
/// its table holds, per row of the tile and quad q of its columns, the 16
/// signed sums of the quad's activations (entry e negates column 4q + i
/// where bit i of e is set, as a set sign bit does). Entry e of quad i of
/// lane l's chunk sits at (16 i + e) * 32 + l: in bank l, so the 32 lanes'
/// lookups never conflict, and the 32 threads of a warp that build the
/// tables write one bank each.
class LutSlices {
public:
  LutSlices(OpBuilder &builder, Location loc, const WarpOperands &ops,
            LaneSums &laneSums, Value table)
      : builder(builder), loc(loc), ops(ops), shape(ops.shape),
        laneSums(laneSums), table(table) {}

  int64_t slices() const { return llvm::divideCeil(shape.wholeChunks, kLanes); }

  /// Writes the tables of slice `slice` for the tile's rows: quads
  /// `thread`, `thread` + `threads`, ... of the slice.
  void buildTables(Value slice, Value thread, int64_t threads) {
    Value chunksLeft = arith::SubIOp::create(
        builder, loc, index(builder, loc, shape.wholeChunks),
        arith::MulIOp::create(builder, loc, slice,
                              index(builder, loc, kLanes)));
    Value chunks = arith::MinUIOp::create(builder, loc, chunksLeft,
                                          index(builder, loc, kLanes));
    // Thread t builds quad i of lane t mod 32's chunk for i = t / 32, t / 32
    // + threads / 32, ...: the 32 threads of a warp write the 32 lanes'
    // tables, one bank each.
    Value lane = arith::RemUIOp::create(builder, loc, thread,
                                        index(builder, loc, kLanes));
    Value first = arith::DivUIOp::create(builder, loc, thread,
                                         index(builder, loc, kLanes));
    Value used = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult,
                                       lane, chunks);
    ifThen(builder, loc, used, [&] {
      stridedRange(builder, loc, first, quadsPerChunk(), threads / kLanes,
                   [&](Value quad) { buildQuad(slice, lane, quad); });
    });
  }

  /// Lane `lane`'s chunk of slice `slice` and its sign words, per plane
  /// and feature (words[p * R + r]).
  struct ChunkBits {
    Value chunk;
    SmallVector<SmallVector<Value>> words;
  };

  /// Loads lane `lane`'s sign words for slice `slice`, from the chunk
  /// clamped to the last whole one, so that the loads can be issued before
  /// the tables are built (lookUp ignores a lane past the last chunk).
  ChunkBits loadChunk(Value slice, Value lane) {
    ChunkBits bits;
    bits.chunk = arith::AddIOp::create(
        builder, loc,
        arith::MulIOp::create(builder, loc, slice, index(builder, loc, kLanes)),
        lane);
    Value clamped = arith::MinUIOp::create(
        builder, loc, bits.chunk, index(builder, loc, shape.wholeChunks - 1));
    for (int64_t p = 0; p < shape.planes; ++p)
      for (int64_t r = 0; r < shape.rowsPerWarp; ++r)
        bits.words.push_back(chunkWords(clamped, p, r));
    return bits;
  }

  /// `sums` plus the lookups of a lane's chunk (nothing for a lane past
  /// the last whole chunk).
  SmallVector<Value> lookUp(const ChunkBits &bits, Value lane,
                            ValueRange sums) {
    Value inside = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::ult, bits.chunk,
        index(builder, loc, shape.wholeChunks));
    return ifThenElseYield(
        builder, loc, inside, [&] { return chunkSums(bits, lane, sums); },
        [&] { return SmallVector<Value>(sums); });
  }

private:
  int64_t quadsPerChunk() const { return shape.chunkColumns / kQuad; }

  /// The table position of entry `entry` of quad `quad` of lane `lane`'s
  /// chunk, for tile row `m`: every entry of a lane's quads lies in the
  /// lane's bank, so the 32 lanes' lookups never conflict.
  Value tableIndex(int64_t m, Value lane, Value quad, Value entry) {
    Value slot = arith::AddIOp::create(
        builder, loc,
        arith::MulIOp::create(builder, loc, quad,
                              index(builder, loc, kTableEntries)),
        entry);
    return arith::AddIOp::create(
        builder, loc,
        arith::MulIOp::create(builder, loc, slot, index(builder, loc, kLanes)),
        arith::AddIOp::create(
            builder, loc, lane,
            index(builder, loc, m * shape.quadsPerSlice() * kTableEntries)));
  }

  /// The 16 signed sums of quad `quad` of lane `lane`'s chunk, for every
  /// tile row.
  void buildQuad(Value slice, Value lane, Value quad) {
    // The lane's chunk, which buildTables keeps among the whole chunks;
    // clamped to the last too, so that range analysis bounds the reads
    // without that guard.
    Value chunk = clampIndex(
        builder, loc,
        arith::AddIOp::create(builder, loc,
                              mulIndex(builder, loc, slice, kLanes), lane),
        shape.wholeChunks - 1);
    Value column = arith::AddIOp::create(
        builder, loc, mulIndex(builder, loc, chunk, shape.chunkColumns),
        mulIndex(builder, loc, quad, kQuad));
    auto f32Quad = VectorType::get({kQuad}, builder.getF32Type());
    for (int64_t m = 0; m < laneSums.tileRows(); ++m) {
      Value bits = laneSums.inputQuadBits(index(builder, loc, m), column);
      Value values = vector::BitCastOp::create(builder, loc, f32Quad, bits);
      SmallVector<Value> x;
      for (int64_t i = 0; i < kQuad; ++i)
        x.push_back(vector::ExtractOp::create(builder, loc, values,
                                              ArrayRef<int64_t>{i}));
      // Signed sums of the pairs (x0, x1) and (x2, x3), indexed by their
      // two sign bits.
      SmallVector<Value> low = signedPairSums(builder, loc, x[0], x[1]);
      SmallVector<Value> high = signedPairSums(builder, loc, x[2], x[3]);
      for (int64_t entry = 0; entry < kTableEntries; ++entry)
        memref::StoreOp::create(
            builder, loc,
            arith::AddFOp::create(builder, loc, low[entry & 3],
                                  high[entry >> 2]),
            table, tableIndex(m, lane, quad, index(builder, loc, entry)));
    }
  }

  /// The sign bits of lane chunk `chunk` for plane `plane` and tile
  /// feature `r`, as 32-bit words (zero-extended below 4 bytes).
  SmallVector<Value> chunkWords(Value chunk, int64_t plane, int64_t r) {
    int64_t bytes = shape.chunkBytes();
    Value byte =
        arith::MulIOp::create(builder, loc, chunk, index(builder, loc, bytes));
    Value load = vector::LoadOp::create(
        builder, loc, VectorType::get({bytes}, builder.getI8Type()), ops.signs,
        ValueRange{index(builder, loc, plane), laneSums.featureRow(r), byte},
        false, builder.getI64IntegerAttr(shape.signsAlignment));
    int64_t wordBits = std::min<int64_t>(32, 8 * bytes);
    int64_t count = 8 * bytes / wordBits;
    Value words = vector::BitCastOp::create(
        builder, loc,
        VectorType::get({count}, builder.getIntegerType(wordBits)), load);
    SmallVector<Value> result;
    for (int64_t w = 0; w < count; ++w) {
      Value word =
          vector::ExtractOp::create(builder, loc, words, ArrayRef<int64_t>{w});
      if (wordBits < 32)
        word = arith::ExtUIOp::create(builder, loc, builder.getI32Type(), word);
      result.push_back(word);
    }
    return result;
  }

  /// Sign nibble `nibble` of a chunk (its quad's 4 bits), as an index.
  Value nibbleOf(ArrayRef<Value> words, int64_t nibble) {
    Value word = words[nibble / 8];
    Type i32 = builder.getI32Type();
    Value shifted = arith::ShRUIOp::create(
        builder, loc, word,
        arith::ConstantOp::create(
            builder, loc, builder.getIntegerAttr(i32, 4 * (nibble % 8))));
    Value bits = arith::AndIOp::create(
        builder, loc, shifted,
        arith::ConstantOp::create(builder, loc,
                                  builder.getIntegerAttr(i32, 15)));
    return arith::IndexCastUIOp::create(builder, loc, builder.getIndexType(),
                                        bits);
  }

  /// The sums after a lane's chunk: per segment, plane and feature, the
  /// lookups of its nibbles summed and multiplied by the scale.
  SmallVector<Value> chunkSums(const ChunkBits &bits, Value lane,
                               ValueRange in) {
    SmallVector<Value> sums(in);
    int64_t mt = laneSums.tileRows(), rowsPerWarp = shape.rowsPerWarp;
    int64_t nibblesPerChunk = shape.chunkColumns / kQuad;
    int64_t nibblesPerSegment = shape.segment / kQuad;
    const SmallVector<SmallVector<Value>> &words = bits.words;
    Value chunkColumn = arith::MulIOp::create(
        builder, loc, bits.chunk, index(builder, loc, shape.chunkColumns));
    for (int64_t first = 0; first < nibblesPerChunk;
         first += nibblesPerSegment) {
      Value column = arith::AddIOp::create(builder, loc, chunkColumn,
                                           index(builder, loc, first * kQuad));
      for (int64_t p = 0; p < shape.planes; ++p)
        for (int64_t r = 0; r < rowsPerWarp; ++r) {
          SmallVector<Value> segment(mt, f32Constant(builder, loc, 0));
          for (int64_t n = first; n < first + nibblesPerSegment; ++n) {
            Value entry = nibbleOf(words[p * rowsPerWarp + r], n);
            for (int64_t m = 0; m < mt; ++m) {
              Value value = memref::LoadOp::create(
                  builder, loc, table,
                  tableIndex(m, lane, index(builder, loc, n), entry));
              segment[m] =
                  arith::AddFOp::create(builder, loc, segment[m], value);
            }
          }
          laneSums.addScaled(sums, r, laneSums.scale(p, r, column), segment);
        }
    }
    return sums;
  }

  OpBuilder &builder;
  Location loc;
  const WarpOperands &ops;
  const WarpShape &shape;
  LaneSums &laneSums;
  Value table;
};

/// `body(slice, sums)` in an scf.for over the slices carrying the sums.
SmallVector<Value>
forEachSlice(OpBuilder &builder, Location loc, int64_t slices, ValueRange sums,
             const std::function<SmallVector<Value>(Value, ValueRange)> &body) {
  auto loop = scf::ForOp::create(
      builder, loc, index(builder, loc, 0), index(builder, loc, slices),
      index(builder, loc, 1), sums,
      [&](OpBuilder &b, Location l, Value slice, ValueRange in) {
        OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
        scf::YieldOp::create(b, l, body(slice, in));
      });
  return loop.getResults();
}

/// warp_lut_gemv as a gpu.launch: the tables in workgroup (shared) memory,
/// built by all 256 threads between barriers, slice by slice.
void emitLutGPULaunch(OpBuilder &builder, Location loc,
                      const WarpOperands &ops) {
  const WarpShape &shape = ops.shape;
  int64_t tableSize = shape.tableSize();
  auto workgroup = gpu::AddressSpaceAttr::get(builder.getContext(),
                                              gpu::AddressSpace::Workgroup);
  auto tableType = MemRefType::get({tableSize}, builder.getF32Type(),
                                   MemRefLayoutAttrInterface(), workgroup);
  // A workgroup attribution would be a memref block argument, which buffer
  // deallocation gives an ownership argument (and the canonicalizer makes
  // one of an alloca at the top of the body): the table is an alloca in
  // workgroup memory before the launch until r2q-gpu-workgroup-buffers
  // makes it an attribution.
  Value table = memref::AllocaOp::create(builder, loc, tableType);
  Value one = index(builder, loc, 1);
  auto launch =
      gpu::LaunchOp::create(builder, loc, index(builder, loc, shape.blocks()),
                            one, one, index(builder, loc, kLanes),
                            index(builder, loc, shape.warpsPerBlock), one);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  Value lane = launch.getThreadIds().x, warp = launch.getThreadIds().y;
  Value thread = arith::AddIOp::create(
      builder, loc,
      arith::MulIOp::create(builder, loc, warp, index(builder, loc, kLanes)),
      lane);
  Value rowBase =
      warpRowBase(builder, loc, shape, launch.getBlockIds().x, warp);
  LaneSums laneSums(builder, loc, ops);
  LutSlices slices(builder, loc, ops, laneSums, table);
  forEachBatchTile(builder, loc, shape, [&](Value m0, int64_t mt) {
    laneSums.begin(rowBase, m0, mt);
    SmallVector<Value> sums =
        forEachSlice(builder, loc, slices.slices(), laneSums.zeros(),
                     [&](Value slice, ValueRange in) {
                       // The sign loads are issued first, to overlap the table
                       // build.
                       auto bits = slices.loadChunk(slice, lane);
                       gpu::BarrierOp::create(builder, loc);
                       slices.buildTables(slice, thread, kLutThreads);
                       gpu::BarrierOp::create(builder, loc);
                       return slices.lookUp(bits, lane, in);
                     });
    reduceAndStore(builder, loc, ops, lane, rowBase, m0, mt,
                   laneSums.tail(lane, sums));
  });
  gpu::TerminatorOp::create(builder, loc);
}

/// warp_lut_gemv's loop nest on the host: per block and batch tile, each
/// slice's tables built by the 256 threads in turn, then every warp's lanes
/// look up; the lanes' sums live in a buffer between slices.
void emitLutHostLoops(OpBuilder &builder, Location loc,
                      const WarpOperands &ops) {
  const WarpShape &shape = ops.shape;
  int64_t tableSize = shape.tableSize();
  Value table = memref::AllocaOp::create(
      builder, loc, MemRefType::get({tableSize}, builder.getF32Type()));
  int64_t values = shape.rowsPerWarp * shape.batchTile;
  Value laneSumsBuffer = memref::AllocaOp::create(
      builder, loc,
      MemRefType::get({kLutThreads, values}, builder.getF32Type()));
  LaneBuffers buffers(builder, loc, shape);
  auto loadLane = [&](Value thread, int64_t count) {
    SmallVector<Value> sums;
    for (int64_t i = 0; i < count; ++i)
      sums.push_back(
          memref::LoadOp::create(builder, loc, laneSumsBuffer,
                                 ValueRange{thread, index(builder, loc, i)}));
    return sums;
  };
  auto threadOf = [&](Value warp, Value lane) {
    return arith::AddIOp::create(
        builder, loc,
        arith::MulIOp::create(builder, loc, warp, index(builder, loc, kLanes)),
        lane);
  };
  forRange(builder, loc, shape.blocks(), [&](Value block) {
    forEachBatchTile(builder, loc, shape, [&](Value m0, int64_t mt) {
      LaneSums laneSums(builder, loc, ops);
      laneSums.begin(index(builder, loc, 0), m0, mt);
      LutSlices slices(builder, loc, ops, laneSums, table);
      forRange(builder, loc, kLutThreads, [&](Value thread) {
        storeLane(builder, loc, laneSumsBuffer, thread, laneSums.zeros());
      });
      forRange(builder, loc, slices.slices(), [&](Value slice) {
        forRange(builder, loc, kLutThreads, [&](Value thread) {
          slices.buildTables(slice, thread, kLutThreads);
        });
        forRange(builder, loc, shape.warpsPerBlock, [&](Value warp) {
          forRange(builder, loc, kLanes, [&](Value lane) {
            laneSums.begin(warpRowBase(builder, loc, shape, block, warp), m0,
                           mt);
            Value thread = threadOf(warp, lane);
            storeLane(builder, loc, laneSumsBuffer, thread,
                      slices.lookUp(slices.loadChunk(slice, lane), lane,
                                    loadLane(thread, shape.rowsPerWarp * mt)));
          });
        });
      });
      forRange(builder, loc, shape.warpsPerBlock, [&](Value warp) {
        Value rowBase = warpRowBase(builder, loc, shape, block, warp);
        forRange(builder, loc, kLanes, [&](Value lane) {
          laneSums.begin(rowBase, m0, mt);
          storeLane(builder, loc, buffers.current, lane,
                    laneSums.tail(lane, loadLane(threadOf(warp, lane),
                                                 shape.rowsPerWarp * mt)));
        });
        hostReduceAndStore(builder, loc, ops, buffers, rowBase, m0, mt);
      });
    });
  });
}

/// warp_gemv and warp_lut_gemv: the operands' buffers, a new result
/// buffer, and the kernel as a gpu.launch or its host loop nest.
struct WarpGemvPattern : MatmulStrategyPattern {
  WarpGemvPattern(MLIRContext *context, KernelStrategy strategy, bool gpuLaunch)
      : MatmulStrategyPattern(context, strategy),
        lut(strategy == KernelStrategy::WarpLutGemv), gpuLaunch(gpuLaunch) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    KernelBuffers buffers =
        KernelBuffers::create(builder, loc, operands, accumulator);
    WarpOperands ops{buffers, lut ? lutShape(operands, buffers.rows())
                                  : warpShape(operands, buffers.rows())};
    if (lut)
      (gpuLaunch ? emitLutGPULaunch : emitLutHostLoops)(builder, loc, ops);
    else
      (gpuLaunch ? emitGPULaunch : emitHostLoops)(builder, loc, ops);
    return ops.resultTensor(builder, loc, accumulator);
  }

  bool lut, gpuLaunch;
};

/// gpu.barrier has no memory effects in MLIR 22, and buffer deallocation
/// refuses ops with unknown effects: a barrier orders the block's reads and
/// writes, so it reads and writes (and is neither dropped nor moved).
struct BarrierEffects
    : MemoryEffectOpInterface::ExternalModel<BarrierEffects, gpu::BarrierOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<MemoryEffects::EffectInstance> &effects) const {
    effects.emplace_back(MemoryEffects::Read::get());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

} // namespace

void populateWarpGemvPatterns(RewritePatternSet &patterns, bool gpuLaunch) {
  for (KernelStrategy strategy :
       {KernelStrategy::WarpGemv, KernelStrategy::WarpLutGemv})
    patterns.add<WarpGemvPattern>(patterns.getContext(), strategy, gpuLaunch);
}

} // namespace r2q::lowering

void r2q::registerWarpGemvInterfaces(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, gpu::GPUDialect *) {
    gpu::BarrierOp::attachInterface<lowering::BarrierEffects>(*context);
  });
}
