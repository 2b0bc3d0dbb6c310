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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
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
constexpr int64_t kWarpsPerBlock = 4;
constexpr int64_t kChunkBytes = 16; // one 128-bit load per plane and row
constexpr int64_t kChunkColumns = 8 * kChunkBytes;
constexpr int64_t kWordColumns = 32;
constexpr int64_t kQuad = 4;
constexpr int64_t kMaxBatchTile = 8;

/// The static sizes of one warp_gemv kernel and the tiles it works in.
struct WarpShape {
  int64_t rows, features, columns, planes, groupSize;
  int64_t bytesPerRow;     // ceil(K / 8)
  int64_t batchTile;       // activation rows per pass over the weight
  int64_t rowsPerWarp;     // output features of one warp
  int64_t wholeChunks;     // chunks of 128 columns read by vector loads
  int64_t segment;         // columns summed before a scale multiplies them
  uint64_t signsAlignment; // bytes, of every chunk's load
  uint64_t inputAlignment; // bytes, of every quad of activations
  Type inputElement;

  int64_t rowsPerBlock() const { return rowsPerWarp * kWarpsPerBlock; }
  int64_t blocks() const { return llvm::divideCeil(features, rowsPerBlock()); }
  int64_t tailStart() const { return wholeChunks * kChunkColumns; }
};

/// The largest power of two of at most 32 dividing the group size (a
/// multiple of 8): segments then never straddle a group.
int64_t segmentColumns(int64_t groupSize) {
  return static_cast<int64_t>(llvm::MinAlign(groupSize, kWordColumns));
}

WarpShape warpShape(const MatmulOperands &operands, int64_t rows) {
  auto signs = cast<RankedTensorType>(operands.signs.getType());
  Type element = cast<RankedTensorType>(operands.x.getType()).getElementType();
  WarpShape shape;
  shape.rows = rows;
  shape.planes = signs.getDimSize(0);
  shape.features = signs.getDimSize(1);
  shape.bytesPerRow = signs.getDimSize(2);
  shape.columns = operands.columns();
  shape.groupSize = operands.groupSize;
  shape.batchTile = std::min(rows, kMaxBatchTile);
  int64_t tileRows = operands.kernel.getTileRows();
  shape.rowsPerWarp = tileRows > 0           ? tileRows
                      : shape.batchTile <= 2 ? 4
                      : shape.batchTile <= 4 ? 2
                                             : 1;
  shape.segment = segmentColumns(shape.groupSize);
  shape.wholeChunks = shape.columns / kChunkColumns;
  shape.signsAlignment = llvm::MinAlign(shape.bytesPerRow, kChunkBytes);
  uint64_t elementBytes = element.getIntOrFloatBitWidth() / 8;
  shape.inputAlignment =
      llvm::MinAlign(shape.columns * elementBytes, kQuad * elementBytes);
  shape.inputElement = element;
  return shape;
}

/// The buffers the kernel reads and writes, and its shape.
struct WarpOperands {
  Value x;           // M x K, the input's element type
  Value signs;       // P x N x ceil(K/8) i8
  Value scales;      // P x N x ceil(K/G)
  Value accumulator; // M x N f32, read
  Value result;      // M x N f32, written
  WarpShape shape;
};

Value index(OpBuilder &builder, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(builder, loc, value);
}

Value f32Constant(OpBuilder &builder, Location loc, float value) {
  return arith::ConstantOp::create(builder, loc,
                                   builder.getF32FloatAttr(value));
}

Value toF32(OpBuilder &builder, Location loc, Value value) {
  Type f32 = builder.getF32Type();
  Type type = value.getType();
  if (auto vector = dyn_cast<VectorType>(type))
    f32 = VectorType::get(vector.getShape(), f32);
  if (type == f32)
    return value;
  return arith::ExtFOp::create(builder, loc, f32, value);
}

/// Emits the body of one lane: its partial sums for a tile of output
/// features and activation rows.
class LaneSums {
public:
  LaneSums(OpBuilder &builder, Location loc, const WarpOperands &operands)
      : builder(builder), loc(loc), ops(operands), shape(operands.shape) {}

  /// The sums of lane `lane` for features rowBase + [0, rowsPerWarp) (loads
  /// clamped to the last feature) and activation rows m0 + [0, mt): one f32
  /// per (feature, row), feature-major.
  SmallVector<Value> emit(Value rowBase, Value lane, Value m0, int64_t mt) {
    this->m0 = m0;
    this->mt = mt;
    featureRows.clear();
    Value last = index(builder, loc, shape.features - 1);
    for (int64_t r = 0; r < shape.rowsPerWarp; ++r)
      featureRows.push_back(arith::MinUIOp::create(
          builder, loc,
          arith::AddIOp::create(builder, loc, rowBase, index(builder, loc, r)),
          last));
    SmallVector<Value> sums(shape.rowsPerWarp * mt,
                            f32Constant(builder, loc, 0));
    if (shape.wholeChunks > 0)
      sums = laneLoop(
          lane, shape.wholeChunks, sums,
          [&](Value chunk, ValueRange in) { return chunkSums(chunk, in); });
    if (shape.tailStart() < shape.columns) {
      Value first = arith::AddIOp::create(
          builder, loc, index(builder, loc, shape.tailStart()), lane);
      sums = laneLoop(
          first, shape.columns, sums,
          [&](Value column, ValueRange in) { return columnSums(column, in); });
    }
    return sums;
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

  Value scale(int64_t plane, int64_t r, Value column) {
    Value group = arith::DivUIOp::create(builder, loc, column,
                                         index(builder, loc, shape.groupSize));
    Value s = memref::LoadOp::create(
        builder, loc, ops.scales,
        ValueRange{index(builder, loc, plane), featureRows[r], group});
    return toF32(builder, loc, s);
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
    auto inputQuad = VectorType::get({kQuad}, shape.inputElement);
    auto bitsQuad = VectorType::get({kQuad}, builder.getI32Type());
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
            inputs.push_back(vector::BitCastOp::create(
                builder, loc, bitsQuad,
                toF32(builder, loc,
                      x(index(builder, loc, m), column, inputQuad))));
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
            Value factor = scale(p, r, first);
            for (int64_t m = 0; m < mt; ++m) {
              Value &sum = sums[r * mt + m];
              sum = math::FmaOp::create(builder, loc, factor,
                                        segment[(p * rowsPerWarp + r) * mt + m],
                                        sum);
            }
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
      for (int64_t m = 0; m < mt; ++m) {
        Value &sum = sums[r * mt + m];
        sum = math::FmaOp::create(builder, loc, weight, inputs[m], sum);
      }
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
                            index(builder, loc, kWarpsPerBlock)),
      warp);
  return arith::MulIOp::create(builder, loc, warpIndex,
                               index(builder, loc, shape.rowsPerWarp));
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
    SmallVector<Value> sums = laneSums.emit(rowBase, lane, m0, mt);
    for (Value &sum : sums)
      for (int32_t offset = kLanes / 2; offset >= 1; offset /= 2) {
        auto shuffle = gpu::ShuffleOp::create(builder, loc, sum, offset, kLanes,
                                              gpu::ShuffleMode::XOR);
        sum = arith::AddFOp::create(builder, loc, sum,
                                    shuffle.getShuffleResult());
      }
    Value first = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq,
                                        lane, index(builder, loc, 0));
    scf::IfOp::create(builder, loc, first, [&](OpBuilder &b, Location l) {
      OpBuilder::InsertionGuard inner(builder);
      builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
      storeSums(builder, loc, ops, rowBase, m0, mt, sums);
      scf::YieldOp::create(b, l);
    });
  });
  gpu::TerminatorOp::create(builder, loc);
}

/// `body(i)` in an scf.for i = 0 to `count`.
void forRange(OpBuilder &builder, Location loc, int64_t count,
              const std::function<void(Value)> &body) {
  scf::ForOp::create(
      builder, loc, index(builder, loc, 0), index(builder, loc, count),
      index(builder, loc, 1), ValueRange{},
      [&](OpBuilder &b, Location l, Value i, ValueRange) {
        OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
        body(i);
        scf::YieldOp::create(b, l);
      });
}

/// The kernel's loop nest on the host: blocks, warps and lanes in loops, the
/// butterfly on two buffers of the lanes' values (each round, every lane
/// adds its partner's value, as a shuffle does).
void emitHostLoops(OpBuilder &builder, Location loc, const WarpOperands &ops) {
  const WarpShape &shape = ops.shape;
  int64_t values = shape.rowsPerWarp * shape.batchTile;
  auto laneValues = MemRefType::get({kLanes, values}, builder.getF32Type());
  Value current = memref::AllocaOp::create(builder, loc, laneValues);
  Value next = memref::AllocaOp::create(builder, loc, laneValues);
  forRange(builder, loc, shape.blocks(), [&](Value block) {
    forRange(builder, loc, kWarpsPerBlock, [&](Value warp) {
      Value rowBase = warpRowBase(builder, loc, shape, block, warp);
      LaneSums laneSums(builder, loc, ops);
      forEachBatchTile(builder, loc, shape, [&](Value m0, int64_t mt) {
        forRange(builder, loc, kLanes, [&](Value lane) {
          SmallVector<Value> sums = laneSums.emit(rowBase, lane, m0, mt);
          for (auto [i, sum] : llvm::enumerate(sums))
            memref::StoreOp::create(builder, loc, sum, current,
                                    ValueRange{lane, index(builder, loc, i)});
        });
        Value in = current, out = next;
        for (int64_t offset = kLanes / 2; offset >= 1; offset /= 2) {
          forRange(builder, loc, kLanes, [&](Value lane) {
            Value partner = arith::XOrIOp::create(builder, loc, lane,
                                                  index(builder, loc, offset));
            for (int64_t i = 0; i < shape.rowsPerWarp * mt; ++i) {
              Value column = index(builder, loc, i);
              Value own = memref::LoadOp::create(builder, loc, in,
                                                 ValueRange{lane, column});
              Value theirs = memref::LoadOp::create(
                  builder, loc, in, ValueRange{partner, column});
              memref::StoreOp::create(
                  builder, loc,
                  arith::AddFOp::create(builder, loc, own, theirs), out,
                  ValueRange{lane, column});
            }
          });
          std::swap(in, out);
        }
        SmallVector<Value> sums;
        for (int64_t i = 0; i < shape.rowsPerWarp * mt; ++i)
          sums.push_back(memref::LoadOp::create(
              builder, loc, in,
              ValueRange{index(builder, loc, 0), index(builder, loc, i)}));
        storeSums(builder, loc, ops, rowBase, m0, mt, sums);
      });
    });
  });
}

Value readBuffer(OpBuilder &builder, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      builder, loc, MemRefType::get(type.getShape(), type.getElementType()),
      tensor, /*read_only=*/true);
}

struct WarpGemvPattern : MatmulStrategyPattern {
  WarpGemvPattern(MLIRContext *context, bool gpuLaunch)
      : MatmulStrategyPattern(context, KernelStrategy::WarpGemv),
        gpuLaunch(gpuLaunch) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    Value x = asRowMatrix(builder, loc, operands.x);
    Value accumulatorRows = asRowMatrix(builder, loc, accumulator);
    auto rowsType = cast<RankedTensorType>(accumulatorRows.getType());
    WarpOperands ops{
        readBuffer(builder, loc, x),
        readBuffer(builder, loc, operands.signs),
        readBuffer(builder, loc, operands.scales),
        readBuffer(builder, loc, accumulatorRows),
        memref::AllocOp::create(
            builder, loc,
            MemRefType::get(rowsType.getShape(), rowsType.getElementType())),
        warpShape(operands, rowsType.getDimSize(0))};
    if (gpuLaunch)
      emitGPULaunch(builder, loc, ops);
    else
      emitHostLoops(builder, loc, ops);
    Value result = bufferization::ToTensorOp::create(
        builder, loc, rowsType, ops.result, /*restrict=*/true,
        /*writable=*/true);
    return fromRowMatrix(builder, loc, result, accumulator);
  }

  bool gpuLaunch;
};

} // namespace

void populateWarpGemvPatterns(RewritePatternSet &patterns, bool gpuLaunch) {
  patterns.add<WarpGemvPattern>(patterns.getContext(), gpuLaunch);
}

} // namespace r2q::lowering
