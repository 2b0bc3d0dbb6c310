//===- MmaGemm.cpp - r2q.matmul on tensor cores (the GPU GEMM) ------------===//
//
// Strategy mma_gemm (a static batch and weight shape, meant for 16 rows or
// more): a block of 4 warps computes a tile of `blockRows` activation rows x
// `blockFeatures` output features. Per step of 64 columns its 128 threads
// stage the activations' tile as f16 in shared memory and decode the
// weight's tile into f16 there (w = sum over planes of +-scale), from
// values they loaded into registers during the previous step's products;
// the warps then load fragments with ldmatrix and multiply them with
// mma.sync m16n8k16 (nvgpu: f16 inputs, f32 accumulators in registers) and,
// after the last step, each lane adds its accumulators' elements to the
// result. When the output tiles are few, their steps are split among
// several blocks (split-K), which add to the result atomically.
//
// f16 has 5 exponent bits, so nothing is decoded at its own magnitude: a
// first kernel finds, per activation row and per weight row, the power of
// two that brings the row's largest magnitude (|x|, or sum_p |s_p| over the
// row's groups) into [2^14, 2^15), writes the activations times theirs as
// a zero-padded f16 matrix, and the main kernel multiplies the weight's
// scales by theirs before decoding. Both factors are exact; the products
// are multiplied back by the inverse powers in f32. The error is that of
// rounding x and w to f16 once (docs/gpu.md: within 2^-10 sum_k |x_k w_k|
// plus f32 rounding), whatever the scales' range.
//
// With gpu-launch both kernels are gpu.launch ops; without, the same bodies
// run on the host in loops over blocks, threads, warps and lanes, each
// lane's registers in buffers: ldmatrix becomes the loads from the lanes'
// row addresses that it makes, mma.sync the product of the fragments as
// its layout spreads them over the lanes. The CPU tests execute the
// kernels' index math, decoding and fragment layout.
//
// Strategy wgmma_gemm is the same kernel on sm_90a's wgmma.mma_async, its
// tiles swizzled (MmaShape::wgmma). The products of a step's tiles, either
// kind on the GPU and on the host, are in MmaProducts.cpp.
//
//===----------------------------------------------------------------------===//

#include "MmaGemm.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace r2q::lowering::mma {

/// Output features of a block unless tile_rows says otherwise.
constexpr int64_t kDefaultBlockFeatures = 128;
/// Split-K: blocks of output tiles are multiplied by splits of K until
/// about this many blocks run (two waves of an H100/H200's 132 SMs), each
/// split at least kMinSplitSteps steps (256 columns) long.
constexpr int64_t kTargetBlocks = 264;
constexpr int64_t kMinSplitSteps = 4;
/// The table decode takes weights of at most this many planes. One byte
/// permute (PRMT) selects from 8 bytes: a table of 4 f16 values. Up to 2
/// planes a group's table holds its 2^P signed sums; from 3 on, the sums
/// with plane 0's sign positive (w = s_0 (a_0 + s_0 s_1 a_1 + ...)), 4 per
/// table (two tables for 4 planes), and the looked-up value's sign is
/// flipped by plane 0's bit.
constexpr int64_t kTablePlanes = 4;
/// The planes a table of 4 values indexes directly.
constexpr int64_t kPlanesPerTable = 2;
/// ... and groups of whole steps, or of 16 or 32 columns (a table per group
/// of a step): each byte permute reads one byte of signs per plane, 8
/// columns that lie in one group of 16 or more.
constexpr int64_t kTableMinGroupSize = 16;
/// wgmma_gemm asks ptxas for registers that leave room for this many
/// blocks (16 warps) per SM, or for as many as the SM's shared memory
/// holds if fewer: left alone, ptxas gives the kernel at 64 x 192 (3
/// blocks by shared memory) 198 registers, 2 blocks; at 64 x 128 it
/// needs 127 of the 128 that 4 leave.
constexpr int64_t kWgmmaBlocksPerSM = 4;
/// An sm_90 SM's shared memory, and what it reserves for each block.
constexpr int64_t kSharedBytesPerSM = 228 * 1024;
constexpr int64_t kSharedBytesReservedPerBlock = 1024;
/// A row's largest magnitude is scaled into [2^14, 2^15).
constexpr int32_t kTargetExponent = 14;
constexpr int32_t kF32Bias = 127;
constexpr int32_t kMaxShift = 126;

MmaShape mmaShape(const MatmulOperands &operands, int64_t rows) {
  MmaShape shape;
  shape.wgmma = operands.kernel.getStrategy() == KernelStrategy::WgmmaGemm;
  static_cast<KernelDims &>(shape) = KernelDims::of(operands, rows);
  shape.groups = llvm::divideCeil(shape.columns, shape.groupSize);
  shape.blockRows = rows <= 16 ? 16 : rows <= 32 ? 32 : kMmaMaxBlockRows;
  shape.warpsM = shape.blockRows == 16 ? 1 : 2;
  shape.warpsN = kWarps / shape.warpsM;
  int64_t tileRows = operands.kernel.getTileRows();
  shape.blockFeatures = tileRows > 0 ? tileRows : kDefaultBlockFeatures;
  int64_t tiles = shape.blocksN() * shape.blocksM();
  int64_t splits = std::min<int64_t>(
      llvm::divideCeil(shape.steps(), kMinSplitSteps),
      std::max<int64_t>(1, llvm::divideCeil(kTargetBlocks, tiles)));
  shape.stepsPerSplit = llvm::divideCeil(shape.steps(), splits);
  shape.splits = llvm::divideCeil(shape.steps(), shape.stepsPerSplit);
  shape.tableDecode = shape.planes <= kTablePlanes &&
                      (shape.groupSize % kStepColumns == 0 ||
                       (kStepColumns % shape.groupSize == 0 &&
                        shape.groupSize >= kTableMinGroupSize)) &&
                      shape.wholeSteps() > 0;
  return shape;
}

namespace {

/// Makes a thread's stores to shared memory visible to wgmma, which reads
/// its operands through the async proxy.
constexpr const char *kAsyncProxyFence = "fence.proxy.async.shared::cta;";

/// The buffers both kernels read and write: the op's, and the scaling
/// kernel's results.
struct MmaOperands : KernelBuffers {
  Value scaledX;  // Mp x Kp f16: x times its row's power of two, padded
  Value xFactors; // Mp f32: the inverse of each activation row's power
  Value wScales;  // N f32: each weight row's power of two
  Value wFactors; // N f32: its inverse
  MmaShape shape;
};

//===----------------------------------------------------------------------===//
// The row scaling kernel: one warp per activation or weight row
//===----------------------------------------------------------------------===//

/// The biased exponent field of the f32 `value` (its sign left out).
Value biasedExponent(OpBuilder &builder, Location loc, Value value) {
  Value bits =
      arith::BitcastOp::create(builder, loc, builder.getI32Type(), value);
  return arith::AndIOp::create(
      builder, loc,
      arith::ShRUIOp::create(builder, loc, bits, i32Constant(builder, loc, 23)),
      i32Constant(builder, loc, 0xff));
}

/// The f32 power of two whose biased exponent is `biased` (1 to 254).
Value powerOfTwo(OpBuilder &builder, Location loc, Value biased) {
  Value word = arith::ShLIOp::create(builder, loc, biased,
                                     i32Constant(builder, loc, 23));
  return arith::BitcastOp::create(builder, loc, builder.getF32Type(), word);
}

/// The power of two 2^e and its inverse for a row whose largest magnitude is
/// `max` (f32): e brings max into [2^14, 2^15), clamped to [-126, 126] so
/// that both are normal f32 (a zero row gets 2^126, which it cannot
/// overflow; infinities and NaNs stay what they are).
std::pair<Value, Value> rowPowers(OpBuilder &builder, Location loc, Value max) {
  Value shift = arith::SubIOp::create(
      builder, loc, i32Constant(builder, loc, kTargetExponent + kF32Bias),
      biasedExponent(builder, loc, max));
  shift = arith::MaxSIOp::create(builder, loc, shift,
                                 i32Constant(builder, loc, -kMaxShift));
  shift = arith::MinSIOp::create(builder, loc, shift,
                                 i32Constant(builder, loc, kMaxShift));
  Value bias = i32Constant(builder, loc, kF32Bias);
  return {powerOfTwo(builder, loc,
                     arith::AddIOp::create(builder, loc, bias, shift)),
          powerOfTwo(builder, loc,
                     arith::SubIOp::create(builder, loc, bias, shift))};
}

/// `product` times the rows' inverse powers `xFactor` and `wFactor` (2^-e,
/// e in [-126, 126]): their exponents are added as integers and the sum, in
/// [-252, 252], applied as two powers of the same sign of at most 2^126
/// each, so the value moves from the product to the result without an
/// intermediate outside both (`product * xFactor` alone overflows for
/// activations near f32's largest value with tiny weights).
Value scaleByPowers(OpBuilder &builder, Location loc, Value product,
                    Value xFactor, Value wFactor) {
  Value sum = arith::SubIOp::create(
      builder, loc,
      arith::AddIOp::create(builder, loc, biasedExponent(builder, loc, xFactor),
                            biasedExponent(builder, loc, wFactor)),
      i32Constant(builder, loc, 2 * kF32Bias));
  Value half =
      arith::DivSIOp::create(builder, loc, sum, i32Constant(builder, loc, 2));
  Value rest = arith::SubIOp::create(builder, loc, sum, half);
  Value bias = i32Constant(builder, loc, kF32Bias);
  auto times = [&](Value value, Value exponent) {
    return arith::MulFOp::create(
        builder, loc, value,
        powerOfTwo(builder, loc,
                   arith::AddIOp::create(builder, loc, exponent, bias)));
  };
  return times(times(product, half), rest);
}

/// The row scaling kernel's per-lane work, shared by the GPU and host
/// mappings: lane l of a row's warp handles columns (or groups) l, l + 32,
/// ...; the lanes' maxima meet (a butterfly on the GPU, a loop on the host:
/// a maximum is exact, so both give the same power).
class RowScaling {
public:
  RowScaling(OpBuilder &builder, Location loc, const MmaOperands &ops)
      : builder(builder), loc(loc), ops(ops), shape(ops.shape) {}

  /// The largest |x| of lane `lane`'s columns of padded row `m` (0 past the
  /// last row).
  Value activationMax(Value m, Value lane) {
    Value end = arith::SelectOp::create(
        builder, loc, lessThan(builder, loc, m, shape.rows),
        index(builder, loc, shape.columns), index(builder, loc, 0));
    return stridedLoop(
        builder, loc, lane, end, kLanes, {f32Constant(builder, loc, 0)},
        [&](Value k, ValueRange max) {
          Value x = toF32(
              builder, loc,
              memref::LoadOp::create(builder, loc, ops.x, ValueRange{m, k}));
          return SmallVector<Value>{arith::MaxNumFOp::create(
              builder, loc, max[0], math::AbsFOp::create(builder, loc, x))};
        })[0];
  }

  /// Writes lane `lane`'s columns of scaled row `m` (x times `power`, zero
  /// past the last row and column) and, from lane 0, the row's factor.
  void writeActivations(Value m, Value lane, Value power, Value inverse) {
    Value row = clampIndex(builder, loc, m, shape.rows - 1);
    Value realRow = lessThan(builder, loc, m, shape.rows);
    Value zero =
        arith::ConstantOp::create(builder, loc, builder.getF16FloatAttr(0));
    stridedRange(
        builder, loc, lane, shape.paddedColumns(), kLanes, [&](Value k) {
          Value column = clampIndex(builder, loc, k, shape.columns - 1);
          Value x = toF32(builder, loc,
                          memref::LoadOp::create(builder, loc, ops.x,
                                                 ValueRange{row, column}));
          Value scaled = arith::TruncFOp::create(
              builder, loc, builder.getF16Type(),
              arith::MulFOp::create(builder, loc, x, power));
          Value inside = arith::AndIOp::create(
              builder, loc, realRow, lessThan(builder, loc, k, shape.columns));
          memref::StoreOp::create(
              builder, loc,
              arith::SelectOp::create(builder, loc, inside, scaled, zero),
              ops.scaledX, ValueRange{m, k});
        });
    ifFirstLane(lane, [&] {
      memref::StoreOp::create(builder, loc, inverse, ops.xFactors, m);
    });
  }

  /// Lane `lane`'s features of result row `m` (below M) set to the
  /// accumulator's, to which the GEMM's splits add.
  void initializeResult(Value m, Value lane) {
    ifThen(builder, loc, lessThan(builder, loc, m, shape.rows), [&] {
      stridedRange(builder, loc, lane, shape.features, kLanes, [&](Value n) {
        Value value = memref::LoadOp::create(builder, loc, ops.accumulator,
                                             ValueRange{m, n});
        memref::StoreOp::create(builder, loc, value, ops.result,
                                ValueRange{m, n});
      });
    });
  }

  /// The largest sum_p |s_p| of lane `lane`'s groups of weight row `n`.
  Value weightMax(Value n, Value lane) {
    return stridedLoop(
        builder, loc, lane, index(builder, loc, shape.groups), kLanes,
        {f32Constant(builder, loc, 0)}, [&](Value g, ValueRange max) {
          Value sum = f32Constant(builder, loc, 0);
          for (int64_t p = 0; p < shape.planes; ++p) {
            Value s = toF32(builder, loc,
                            memref::LoadOp::create(
                                builder, loc, ops.scales,
                                ValueRange{index(builder, loc, p), n, g}));
            sum = arith::AddFOp::create(builder, loc, sum,
                                        math::AbsFOp::create(builder, loc, s));
          }
          return SmallVector<Value>{
              arith::MaxNumFOp::create(builder, loc, max[0], sum)};
        })[0];
  }

  /// Lane 0 writes weight row `n`'s power and its inverse.
  void writeWeightPowers(Value n, Value lane, Value power, Value inverse) {
    ifFirstLane(lane, [&] {
      memref::StoreOp::create(builder, loc, power, ops.wScales, n);
      memref::StoreOp::create(builder, loc, inverse, ops.wFactors, n);
    });
  }

private:
  void ifFirstLane(Value lane, const std::function<void()> &body) {
    ifThen(builder, loc,
           arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, lane,
                                 index(builder, loc, 0)),
           body);
  }

  OpBuilder &builder;
  Location loc;
  const MmaOperands &ops;
  const MmaShape &shape;
};

/// The row scaling kernel as a gpu.launch: warp w of block b takes row
/// 4b + w of the padded activations, then of the weight; the lanes' maxima
/// meet in a butterfly of xor shuffles.
void emitScalingLaunch(OpBuilder &builder, Location loc,
                       const MmaOperands &ops) {
  const MmaShape &shape = ops.shape;
  int64_t rows = shape.paddedRows() + shape.features;
  Value one = index(builder, loc, 1);
  auto launch = gpu::LaunchOp::create(
      builder, loc, index(builder, loc, llvm::divideCeil(rows, kWarps)), one,
      one, index(builder, loc, kLanes), index(builder, loc, kWarps), one);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  Value lane = launch.getThreadIds().x;
  Value row = arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, launch.getBlockIds().x, kWarps),
      launch.getThreadIds().y);
  RowScaling scaling(builder, loc, ops);
  auto butterflyMax = [&](Value max) {
    for (int32_t offset = kLanes / 2; offset >= 1; offset /= 2) {
      auto shuffle = gpu::ShuffleOp::create(builder, loc, max, offset, kLanes,
                                            gpu::ShuffleMode::XOR);
      max = arith::MaxNumFOp::create(builder, loc, max,
                                     shuffle.getShuffleResult());
    }
    return rowPowers(builder, loc, max);
  };
  Value activationRow = lessThan(builder, loc, row, shape.paddedRows());
  ifThenElse(
      builder, loc, activationRow,
      [&] {
        auto [power, inverse] = butterflyMax(scaling.activationMax(row, lane));
        scaling.writeActivations(row, lane, power, inverse);
        scaling.initializeResult(row, lane);
      },
      [&] {
        Value n = arith::SubIOp::create(
            builder, loc, row, index(builder, loc, shape.paddedRows()));
        ifThen(builder, loc, lessThan(builder, loc, n, shape.features), [&] {
          auto [power, inverse] = butterflyMax(scaling.weightMax(n, lane));
          scaling.writeWeightPowers(n, lane, power, inverse);
        });
      });
  gpu::TerminatorOp::create(builder, loc);
}

/// The row scaling kernel on the host: per row, the 32 lanes' maxima in a
/// buffer, combined by a loop, then the lanes' writes.
void emitScalingLoops(OpBuilder &builder, Location loc,
                      const MmaOperands &ops) {
  const MmaShape &shape = ops.shape;
  Value laneMax = memref::AllocaOp::create(
      builder, loc, MemRefType::get({kLanes}, builder.getF32Type()));
  RowScaling scaling(builder, loc, ops);
  auto rowMax = [&](const std::function<Value(Value)> &lanePart) {
    forRange(builder, loc, kLanes, [&](Value lane) {
      memref::StoreOp::create(builder, loc, lanePart(lane), laneMax, lane);
    });
    Value max = countedLoop(
        builder, loc, index(builder, loc, 0), index(builder, loc, kLanes),
        {f32Constant(builder, loc, 0)},
        [&](OpBuilder &b, Location l, Value lane, ValueRange carried) {
          Value value = memref::LoadOp::create(b, l, laneMax, lane);
          return SmallVector<Value>{
              arith::MaxNumFOp::create(b, l, carried[0], value)};
        })[0];
    return rowPowers(builder, loc, max);
  };
  forRange(builder, loc, shape.paddedRows(), [&](Value m) {
    auto [power, inverse] =
        rowMax([&](Value lane) { return scaling.activationMax(m, lane); });
    forRange(builder, loc, kLanes, [&](Value lane) {
      scaling.writeActivations(m, lane, power, inverse);
      scaling.initializeResult(m, lane);
    });
  });
  forRange(builder, loc, shape.features, [&](Value n) {
    auto [power, inverse] =
        rowMax([&](Value lane) { return scaling.weightMax(n, lane); });
    scaling.writeWeightPowers(n, index(builder, loc, 0), power, inverse);
  });
}

//===----------------------------------------------------------------------===//
// The GEMM kernel: f16 tiles in shared memory, 16x16x16 fragment products
//===----------------------------------------------------------------------===//

} // namespace

SharedTiles::SharedTiles(OpBuilder &builder, Location loc,
                         const MmaShape &shape, Value buffer, Value stage)
    : swizzled(shape.wgmma) {
  int64_t alignment = shape.tileAlignment();
  Value address =
      memref::ExtractAlignedPointerAsIndexOp::create(builder, loc, buffer);
  Value misaligned = arith::RemUIOp::create(builder, loc, address,
                                            index(builder, loc, alignment));
  Value start = arith::RemUIOp::create(
      builder, loc,
      arith::SubIOp::create(builder, loc, index(builder, loc, alignment),
                            misaligned),
      index(builder, loc, alignment));
  // wgmma's descriptor of the first stage, invariant in the step loop, and
  // the stage's offset added to its address field.
  if (swizzled)
    descriptor = wgmmaDescriptor(
        builder, loc, arith::AddIOp::create(builder, loc, address, start));
  if (stage) {
    Value offset = mulIndex(builder, loc, stage, shape.stageBytes());
    start = arith::AddIOp::create(builder, loc, start, offset);
    if (swizzled)
      descriptor = arith::AddIOp::create(
          builder, loc, descriptor,
          arith::IndexCastUIOp::create(
              builder, loc, builder.getI64Type(),
              arith::ShRUIOp::create(builder, loc, offset,
                                     index(builder, loc, 4))));
  }
  activationsAddress = arith::AddIOp::create(builder, loc, address, start);
  weightsAddress =
      addIndex(builder, loc, activationsAddress, shape.weightTileOffset());
  auto space = cast<MemRefType>(buffer.getType()).getMemorySpace();
  auto view = [&](int64_t offset, ArrayRef<int64_t> shape, Type element) {
    return memref::ViewOp::create(
        builder, loc,
        MemRefType::get(shape, element, MemRefLayoutAttrInterface(), space),
        buffer, addIndex(builder, loc, start, offset), ValueRange{});
  };
  Type f16 = builder.getF16Type();
  activations = view(0, {shape.blockRows, shape.tileStride()}, f16);
  weights = view(shape.weightTileOffset(),
                 {shape.blockFeatures, shape.tileStride()}, f16);
}

Value SharedTiles::pieceColumn(OpBuilder &builder, Location loc, Value row,
                               Value column) const {
  if (!swizzled)
    return column;
  auto constant = [&](int64_t value) { return index(builder, loc, value); };
  Value piece = arith::XOrIOp::create(
      builder, loc, arith::DivUIOp::create(builder, loc, column, constant(8)),
      arith::RemUIOp::create(builder, loc, row, constant(kSwizzleAtomRows)));
  return mulIndex(builder, loc, piece, kVector);
}

namespace {

/// The GEMM kernel's steps, shared by the GPU and host mappings.
class MmaTiles {
public:
  /// `gpu`: the byte permutes are PRMT instructions (nvvm.prmt), else
  /// their arithmetic on the host.
  MmaTiles(OpBuilder &builder, Location loc, const MmaOperands &ops, bool gpu)
      : builder(builder), loc(loc), ops(ops), shape(ops.shape), gpu(gpu) {}

  /// The i32 words thread `thread` loads from global memory for step
  /// `step` (the block's tiles start at firstRow and firstFeature): its
  /// 16-byte pieces of the activation tile (4 words each), then, for the
  /// table decode, per feature row the sign words of each plane and the
  /// scales of the step's groups times the row's power (f32 bits). The GPU
  /// kernel loads step s + 1's words before the warps multiply step s's tiles
  /// and carries them in registers, so the loads' latency hides behind the
  /// products; fillTiles stores them.
  SmallVector<Value> loadStep(Value thread, Value step, Value firstRow,
                              Value firstFeature) {
    SmallVector<Value> words;
    Value firstColumn = mulIndex(builder, loc, step, kStepColumns);
    for (int64_t i = 0; i < shape.piecesPerThread(); ++i) {
      auto [row, column] = activationPiece(thread, i);
      Value piece = vector::LoadOp::create(
          builder, loc, VectorType::get({kVector}, builder.getF16Type()),
          ops.scaledX,
          ValueRange{arith::AddIOp::create(builder, loc, firstRow, row),
                     arith::AddIOp::create(builder, loc, firstColumn, column)},
          false, builder.getI64IntegerAttr(16));
      llvm::append_range(words, toWords(piece));
    }
    if (!shape.tableDecode)
      return words;
    // A last, partial step is decoded byte by byte; its table words are
    // those of the last whole step, unused.
    Value tableStep = clampIndex(builder, loc, step, shape.wholeSteps() - 1);
    for (int64_t i = 0; i < shape.tableRowsPerThread(); ++i) {
      Value feature = tableFeature(thread, i, firstFeature);
      for (int64_t p = 0; p < shape.planes; ++p)
        llvm::append_range(words, stepWords(feature, tableStep, p));
      for (Value scale : scaledScales(feature, tableStep))
        words.push_back(arith::BitcastOp::create(builder, loc,
                                                 builder.getI32Type(), scale));
    }
    return words;
  }

  /// How many words loadStep returns.
  int64_t stepWordCount() const {
    return shape.piecesPerThread() * kVector / 2 +
           shape.tableRowsPerThread() * tableRowWords();
  }

  /// A table row's words: each plane's sign words, then the scaled scales.
  int64_t tableRowWords() const {
    return shape.planes * (kStepBytes / 4 + shape.stepGroups());
  }

  /// Thread `thread` fills its share of step `step`'s tiles from the words
  /// loadStep returned: it stores its activation pieces and decodes its
  /// weight rows through the table, or (other weights, or a last partial
  /// step) decodes its sign bytes one at a time.
  void fillTiles(const SharedTiles &tiles, Value thread, Value step,
                 ValueRange words, Value firstFeature) {
    auto piece = VectorType::get({kVector}, builder.getF16Type());
    int64_t pieceWords = kVector / 2;
    for (int64_t i = 0; i < shape.piecesPerThread(); ++i) {
      auto [row, column] = activationPiece(thread, i);
      storePiece(tiles,
                 fromWords(words.slice(i * pieceWords, pieceWords), piece),
                 tiles.activations, row, column);
    }
    ValueRange tableWords =
        words.drop_front(shape.piecesPerThread() * pieceWords);
    if (!shape.tableDecode)
      return decodeBytes(tiles, thread, step, firstFeature);
    if (shape.wholeSteps() == shape.steps())
      return decodeThroughTable(tiles, thread, tableWords);
    ifThenElse(
        builder, loc, lessThan(builder, loc, step, shape.wholeSteps()),
        [&] { decodeThroughTable(tiles, thread, tableWords); },
        [&] { decodeBytes(tiles, thread, step, firstFeature); });
  }

  /// Thread `thread` decodes its sign bytes of the step's weight tile
  /// (features firstFeature + [0, blockFeatures)) one byte at a time.
  void decodeBytes(const SharedTiles &tiles, Value thread, Value step,
                   Value firstFeature) {
    int64_t pieces = shape.blockFeatures * kStepBytes;
    Value firstByte = mulIndex(builder, loc, step, kStepBytes);
    stridedRange(builder, loc, thread, pieces, kThreads, [&](Value item) {
      Value row = arith::DivUIOp::create(builder, loc, item,
                                         index(builder, loc, kStepBytes));
      Value piece = arith::RemUIOp::create(builder, loc, item,
                                           index(builder, loc, kStepBytes));
      Value feature = clampIndex(
          builder, loc, arith::AddIOp::create(builder, loc, firstFeature, row),
          shape.features - 1);
      Value byte = arith::AddIOp::create(builder, loc, firstByte, piece);
      Value weights = decodeByte(
          feature, clampIndex(builder, loc, byte, shape.bytesPerRow - 1));
      auto f16Piece = VectorType::get({kVector}, builder.getF16Type());
      weights = arith::SelectOp::create(
          builder, loc, lessThan(builder, loc, byte, shape.bytesPerRow),
          weights, zeros(builder, loc, f16Piece));
      storePiece(tiles, weights, tiles.weights, row,
                 mulIndex(builder, loc, piece, kVector));
    });
  }

  /// Thread `thread` decodes its feature rows of a whole step's weight
  /// tile from their words (per plane 2 sign words, then the scaled scales
  /// of each of the step's groups): per group the weight values (sum_p
  /// +-s_p times the row's power, in f32, rounded to f16: the values
  /// decodeByte computes) packed into tables of 4, then per pair of weights
  /// one byte permute of its group's table that selects both halves by the
  /// pair's sign bits (from 3 planes on, relative to plane 0's sign, which
  /// then flips the pair's halves; with 4, a second permute and a choice).
  void decodeThroughTable(const SharedTiles &tiles, Value thread,
                          ValueRange words) {
    int64_t signWords = kStepBytes / 4;
    int64_t rowWords = tableRowWords();
    for (int64_t i = 0; i < shape.tableRowsPerThread(); ++i) {
      ValueRange row = words.slice(i * rowWords, rowWords);
      Value tileRow = addIndex(builder, loc, thread, i * kThreads);
      auto decode = [&] {
        SmallVector<SmallVector<Value>> tables;
        ValueRange scaled = row.drop_front(shape.planes * signWords);
        for (int64_t g = 0; g < shape.stepGroups(); ++g) {
          SmallVector<Value> scales;
          for (Value word : scaled.slice(g * shape.planes, shape.planes))
            scales.push_back(arith::BitcastOp::create(
                builder, loc, builder.getF32Type(), word));
          tables.push_back(weightTables(scales));
        }
        for (int64_t w = 0; w < signWords; ++w) {
          SmallVector<Value> signs;
          for (int64_t p = 0; p < shape.planes; ++p)
            signs.push_back(row[p * signWords + w]);
          auto [first, second] = tableIndexWords(signs);
          for (int64_t half = 0; half < 2; ++half) {
            Value spread = spreadSigns(first, second, half);
            // The selectors of the pairs at `bit` and `bit + 16` in one
            // word (prmt reads its low 16 bits).
            SmallVector<Value> selectors;
            for (int64_t bit = 0; bit < 8; bit += 2)
              selectors.push_back(pairSelectors(spread, bit));
            for (int64_t b = 0; b < 2; ++b) {
              int64_t byteOfWord = half + 2 * b;
              int64_t byte = 4 * w + byteOfWord;
              PairSigns pairSigns = relativeSigns(signs, byteOfWord);
              ArrayRef<Value> table = tables[shape.stepGroupOfByte(byte)];
              SmallVector<Value> pairs;
              for (auto [k, selector] : llvm::enumerate(selectors))
                pairs.push_back(lookUpPair(
                    table,
                    b ? arith::ShRUIOp::create(builder, loc, selector,
                                               i32Constant(builder, loc, 16))
                            .getResult()
                      : selector,
                    pairSigns, 2 * static_cast<int64_t>(k)));
              storePiece(
                  tiles,
                  fromWords(pairs,
                            VectorType::get({kVector}, builder.getF16Type())),
                  tiles.weights, tileRow, index(builder, loc, kVector * byte));
            }
          }
        }
      };
      // Threads past a tile of 64 or 192 features have no row (or no
      // second one).
      if ((i + 1) * kThreads <= shape.blockFeatures)
        decode();
      else
        ifThen(builder, loc,
               lessThan(builder, loc, tileRow, shape.blockFeatures), decode);
    }
  }

  /// result[m][n] += product x the rows' inverse powers, if (m, n) lies
  /// inside M x N.
  void addProduct(Value m, Value n, Value product) const {
    Value inside = arith::AndIOp::create(
        builder, loc, lessThan(builder, loc, m, shape.rows),
        lessThan(builder, loc, n, shape.features));
    ifThen(builder, loc, inside, [&] {
      Value xFactor = memref::LoadOp::create(builder, loc, ops.xFactors, m);
      Value wFactor = memref::LoadOp::create(builder, loc, ops.wFactors, n);
      addToResult(scaleByPowers(builder, loc, product, xFactor, wFactor), m, n);
    });
  }

private:
  /// Stores the 8 f16 `piece` at `row`, `column` of `tile` (where the
  /// tiles' layout puts them: SharedTiles::pieceColumn), 16 bytes at once.
  void storePiece(const SharedTiles &tiles, Value piece, Value tile, Value row,
                  Value column) {
    vector::StoreOp::create(
        builder, loc, piece, tile,
        ValueRange{row, tiles.pieceColumn(builder, loc, row, column)}, false,
        builder.getI64IntegerAttr(16));
  }

  /// result[m][n] += value: an atomic add where the splits of K add to the
  /// same outputs, else a load and a store (one block writes each output).
  void addToResult(Value value, Value m, Value n) const {
    if (shape.splits > 1) {
      memref::AtomicRMWOp::create(builder, loc, arith::AtomicRMWKind::addf,
                                  value, ops.result, ValueRange{m, n});
      return;
    }
    Value before =
        memref::LoadOp::create(builder, loc, ops.result, ValueRange{m, n});
    memref::StoreOp::create(builder, loc,
                            arith::AddFOp::create(builder, loc, before, value),
                            ops.result, ValueRange{m, n});
  }

  /// Thread `thread`'s block row and column of its activation piece i.
  std::pair<Value, Value> activationPiece(Value thread, int64_t i) {
    Value item = addIndex(builder, loc, thread, i * kThreads);
    Value row = arith::DivUIOp::create(builder, loc, item,
                                       index(builder, loc, kStepBytes));
    Value column =
        mulIndex(builder, loc,
                 arith::RemUIOp::create(builder, loc, item,
                                        index(builder, loc, kStepBytes)),
                 kVector);
    return {row, column};
  }

  /// The feature of thread `thread`'s table row i: firstFeature + thread +
  /// 128 i, the tile's last row for a thread past it, clamped to the last
  /// feature.
  Value tableFeature(Value thread, int64_t i, Value firstFeature) {
    Value row = addIndex(builder, loc, thread, i * kThreads);
    if ((i + 1) * kThreads > shape.blockFeatures)
      row = clampIndex(builder, loc, row, shape.blockFeatures - 1);
    return clampIndex(builder, loc,
                      arith::AddIOp::create(builder, loc, firstFeature, row),
                      shape.features - 1);
  }

  /// `value` (a vector of a multiple of 4 bytes) as i32 words, and back.
  SmallVector<Value> toWords(Value value) {
    auto type = cast<VectorType>(value.getType());
    int64_t count = type.getNumElements() * type.getElementTypeBitWidth() / 32;
    Value words = vector::BitCastOp::create(
        builder, loc, VectorType::get({count}, builder.getI32Type()), value);
    SmallVector<Value> result;
    for (int64_t w = 0; w < count; ++w)
      result.push_back(
          vector::ExtractOp::create(builder, loc, words, ArrayRef<int64_t>{w}));
    return result;
  }
  Value fromWords(ValueRange words, VectorType type) {
    Value vector = vector::FromElementsOp::create(
        builder, loc,
        VectorType::get({static_cast<int64_t>(words.size())},
                        builder.getI32Type()),
        words);
    return vector::BitCastOp::create(builder, loc, type, vector);
  }

  /// The scales of `feature`'s groups at (whole) step `step`, per group
  /// and plane, times the row's power (f32).
  SmallVector<Value> scaledScales(Value feature, Value step) {
    Value firstGroup = arith::DivUIOp::create(
        builder, loc, mulIndex(builder, loc, step, kStepColumns),
        index(builder, loc, shape.groupSize));
    Value power = memref::LoadOp::create(builder, loc, ops.wScales, feature);
    SmallVector<Value> scaled;
    for (int64_t g = 0; g < shape.stepGroups(); ++g)
      for (int64_t p = 0; p < shape.planes; ++p)
        scaled.push_back(arith::MulFOp::create(
            builder, loc,
            toF32(builder, loc,
                  memref::LoadOp::create(
                      builder, loc, ops.scales,
                      ValueRange{index(builder, loc, p), feature,
                                 addIndex(builder, loc, firstGroup, g)})),
            power));
    return scaled;
  }

  /// An i32 constant of the bits of `value`.
  Value bits32(uint32_t value) {
    return i32Constant(builder, loc, static_cast<int32_t>(value));
  }

  /// Whether the tables hold the sums with plane 0's sign positive, which
  /// plane 0's bit then flips (3 and 4 planes).
  bool relativeToPlane0() const { return shape.planes > kPlanesPerTable; }

  /// The weight values of a group whose scales times the row's power are
  /// `scaled`, summed in f32 in plane order as decodeByte does and rounded
  /// to f16, as words of two halves, 4 values (2 words) a table: up to 2
  /// planes v[b_0 + 2 b_1] = (b_0 ? -s_0 : s_0) + (b_1 ? -s_1 : s_1), one
  /// table; from 3 on v[b_1 + 2 b_2 + 4 b_3] = s_0 + (b_1 ? -s_1 : s_1) +
  /// ..., one table for 3 planes and two for 4 (b_3 chooses). The sums of
  /// -s_0 are these negated (but for a zero's sign): IEEE addition and
  /// rounding are symmetric.
  SmallVector<Value> weightTables(ArrayRef<Value> scaled) {
    Type i32 = builder.getI32Type();
    int64_t firstIndexed = relativeToPlane0() ? 1 : 0;
    int64_t entries = int64_t{1} << (shape.planes - firstIndexed);
    SmallVector<Value> bits;
    for (int64_t entry = 0; entry < entries; ++entry) {
      Value sum = f32Constant(builder, loc, 0);
      for (int64_t p = 0; p < shape.planes; ++p) {
        bool negative =
            p >= firstIndexed && ((entry >> (p - firstIndexed)) & 1);
        Value term = negative ? arith::NegFOp::create(builder, loc, scaled[p])
                              : scaled[p];
        sum = arith::AddFOp::create(builder, loc, sum, term);
      }
      Value half =
          arith::TruncFOp::create(builder, loc, builder.getF16Type(), sum);
      bits.push_back(arith::ExtUIOp::create(
          builder, loc, i32,
          arith::BitcastOp::create(builder, loc, builder.getI16Type(), half)));
    }
    while (bits.size() < 4)
      bits.push_back(i32Constant(builder, loc, 0));
    SmallVector<Value> words;
    for (size_t e = 0; e < bits.size(); e += 2)
      words.push_back(arith::OrIOp::create(
          builder, loc, bits[e],
          arith::ShLIOp::create(builder, loc, bits[e + 1],
                                i32Constant(builder, loc, 16))));
    return words;
  }

  /// The sign words whose bits index a table of 4 (spreadSigns' `first`
  /// and `second`), from the words of each plane at one place: planes 0
  /// and 1 (a zero word for 1 plane), or from 3 planes on planes 1 and 2
  /// relative to plane 0 (xor-ed with it).
  std::pair<Value, Value> tableIndexWords(ArrayRef<Value> signs) {
    if (!relativeToPlane0())
      return {signs[0],
              shape.planes > 1 ? signs[1] : i32Constant(builder, loc, 0)};
    return {arith::XOrIOp::create(builder, loc, signs[1], signs[0]),
            arith::XOrIOp::create(builder, loc, signs[2], signs[0])};
  }

  /// The bits that finish a pair's lookup from 3 planes on, each from one
  /// sign byte as pairBits spreads it: `flips`, plane 0's (negate), and
  /// with 4 planes `choices`, plane 3's relative to plane 0 (the second
  /// table). Null where unused.
  struct PairSigns {
    Value flips, choices;
  };

  PairSigns relativeSigns(ArrayRef<Value> signs, int64_t byteOfWord) {
    PairSigns pair;
    if (!relativeToPlane0())
      return pair;
    pair.flips = pairBits(signs[0], byteOfWord);
    if (shape.planes > 3)
      pair.choices = pairBits(
          arith::XOrIOp::create(builder, loc, signs[3], signs[0]), byteOfWord);
    return pair;
  }

  /// Byte `byteOfWord` of `word` with its even bits where they are and its
  /// odd bits 15 higher: a pair's sign bits (i, i + 1, i even) at i and
  /// i + 16, the places of the pair's two f16 halves, shifted.
  Value pairBits(Value word, int64_t byteOfWord) {
    Value byte = byteOfWord ? arith::ShRUIOp::create(builder, loc, word,
                                                     bits32(8 * byteOfWord))
                                  .getResult()
                            : word;
    Value even = arith::AndIOp::create(builder, loc, byte, bits32(0x55));
    Value odd = arith::ShLIOp::create(
        builder, loc, arith::AndIOp::create(builder, loc, byte, bits32(0xAA)),
        bits32(15));
    return arith::OrIOp::create(builder, loc, even, odd);
  }

  /// The two f16 weights of the pair whose sign bits are at `bit` and
  /// `bit + 1` of its byte, as one word: `selector`'s byte permute of the
  /// table (of the second table where `signs.choices` has the pair's bit),
  /// negated where `signs.flips` has it.
  Value lookUpPair(ArrayRef<Value> table, Value selector, PairSigns signs,
                   int64_t bit) {
    Value pair = permute(table[0], table[1], selector);
    if (signs.choices) {
      // Halves of all ones where the second table's value is chosen.
      Value chosen = arith::MulIOp::create(
          builder, loc,
          arith::AndIOp::create(
              builder, loc,
              arith::ShRUIOp::create(builder, loc, signs.choices, bits32(bit)),
              bits32(0x00010001)),
          bits32(0xFFFF));
      Value other = permute(table[2], table[3], selector);
      pair = arith::XOrIOp::create(
          builder, loc, pair,
          arith::AndIOp::create(
              builder, loc, arith::XOrIOp::create(builder, loc, pair, other),
              chosen));
    }
    if (signs.flips) {
      // The halves' sign bits, 15 and 31.
      Value negated = arith::AndIOp::create(
          builder, loc,
          arith::ShLIOp::create(builder, loc, signs.flips, bits32(15 - bit)),
          bits32(0x80008000));
      pair = arith::XOrIOp::create(builder, loc, pair, negated);
    }
    return pair;
  }

  /// The 8 sign bytes of `feature`'s step `step` in plane `plane`, as two
  /// words.
  SmallVector<Value> stepWords(Value feature, Value step, int64_t plane) {
    Value load = vector::LoadOp::create(
        builder, loc, VectorType::get({kStepBytes}, builder.getI8Type()),
        ops.signs,
        ValueRange{index(builder, loc, plane), feature,
                   mulIndex(builder, loc, step, kStepBytes)},
        false,
        builder.getI64IntegerAttr(
            static_cast<int64_t>(llvm::MinAlign(shape.bytesPerRow, 8))));
    return toWords(load);
  }

  /// Bytes `half` and `half + 2` of the words of plane 0 (`first`) and 1
  /// (`second`), spread so that one shift brings a pair's 4 sign bits where
  /// pairSelector wants them: the bytes at bits 16 b (b < 2), plane 0's bit
  /// i at 16 b + i and 16 b + i + 7, plane 1's at 16 b + i + 1 and 16 b + i
  /// + 8; even positions from plane 0, odd from plane 1 (the pairs' weights
  /// i, i + 1 with i even read plane 0 at 16 b + i and 16 b + i + 8, plane 1
  /// one bit above).
  Value spreadSigns(Value first, Value second, int64_t half) {
    auto bytes = [&](Value word) {
      if (half)
        word = arith::ShRUIOp::create(builder, loc, word, bits32(8));
      return arith::AndIOp::create(builder, loc, word, bits32(0x00FF00FF));
    };
    auto shl = [&](Value value, uint32_t amount) {
      return arith::ShLIOp::create(builder, loc, value, bits32(amount));
    };
    Value a = bytes(first), b = bytes(second);
    Value planeA = arith::OrIOp::create(builder, loc, a, shl(a, 7));
    Value planeB = arith::OrIOp::create(builder, loc, shl(b, 1), shl(b, 8));
    return arith::OrIOp::create(
        builder, loc,
        arith::AndIOp::create(builder, loc, planeA, bits32(0x55555555)),
        arith::AndIOp::create(builder, loc, planeB, bits32(0xAAAAAAAA)));
  }

  /// The byte-permute selectors of the pairs of weights whose plane-0 sign
  /// bits are at `position` and `position + 16` of `spread`, in the low
  /// and high half of one word: with D = 2 (b0 + 2 b1) of each weight (the
  /// byte offset of its half in the table), the nibbles (D_i, D_i + 1,
  /// D_i+1, D_i+1 + 1) of each pair (at most 7: no carry between them).
  Value pairSelectors(Value spread, int64_t position) {
    Value shifted =
        position >= 1
            ? Value(arith::ShRUIOp::create(
                  builder, loc, spread,
                  i32Constant(builder, loc,
                              static_cast<int32_t>(position - 1))))
            : Value(arith::ShLIOp::create(builder, loc, spread,
                                          i32Constant(builder, loc, 1)));
    Value offsets = arith::AndIOp::create(
        builder, loc, shifted, i32Constant(builder, loc, 0x06060606));
    return arith::AddIOp::create(
        builder, loc,
        arith::MulIOp::create(builder, loc, offsets,
                              i32Constant(builder, loc, 0x11)),
        i32Constant(builder, loc, 0x10101010));
  }

  Value permute(Value low, Value high, Value selector) {
    return bytePermute(builder, loc, low, high, selector, gpu);
  }

  /// The 8 weights of sign byte `byte` of `feature`, as f16: per plane,
  /// +-scale (a set bit is -1) times the row's power, summed in f32.
  Value decodeByte(Value feature, Value byte) {
    auto f32Piece = VectorType::get({kVector}, builder.getF32Type());
    auto bytePiece = VectorType::get({kVector}, builder.getI8Type());
    Value group =
        arith::DivUIOp::create(builder, loc, mulIndex(builder, loc, byte, 8),
                               index(builder, loc, shape.groupSize));
    Value power = memref::LoadOp::create(builder, loc, ops.wScales, feature);
    SmallVector<int8_t> bits;
    for (int64_t i = 0; i < kVector; ++i)
      bits.push_back(static_cast<int8_t>(1u << i));
    Value bitMasks = arith::ConstantOp::create(
        builder, loc, DenseElementsAttr::get(bytePiece, ArrayRef(bits)));
    Value sum = zeros(builder, loc, f32Piece);
    for (int64_t p = 0; p < shape.planes; ++p) {
      Value plane = index(builder, loc, p);
      Value signs = memref::LoadOp::create(builder, loc, ops.signs,
                                           ValueRange{plane, feature, byte});
      Value scale = arith::MulFOp::create(
          builder, loc,
          toF32(builder, loc,
                memref::LoadOp::create(builder, loc, ops.scales,
                                       ValueRange{plane, feature, group})),
          power);
      Value negative = arith::CmpIOp::create(
          builder, loc, arith::CmpIPredicate::ne,
          arith::AndIOp::create(
              builder, loc,
              vector::BroadcastOp::create(builder, loc, bytePiece, signs),
              bitMasks),
          zeros(builder, loc, bytePiece));
      Value positive =
          vector::BroadcastOp::create(builder, loc, f32Piece, scale);
      Value signedScale = arith::SelectOp::create(
          builder, loc, negative, arith::NegFOp::create(builder, loc, positive),
          positive);
      sum = arith::AddFOp::create(builder, loc, sum, signedScale);
    }
    return arith::TruncFOp::create(
        builder, loc, VectorType::get({kVector}, builder.getF16Type()), sum);
  }

  OpBuilder &builder;
  Location loc;
  const MmaOperands &ops;
  const MmaShape &shape;
  bool gpu;
};

} // namespace

BlockOrigin::BlockOrigin(OpBuilder &builder, Location loc,
                         const MmaShape &shape, Value blockM, Value blockN,
                         Value split)
    : builder(builder), loc(loc),
      firstRow(mulIndex(builder, loc, blockM, shape.blockRows)),
      firstFeature(mulIndex(builder, loc, blockN, shape.blockFeatures)),
      firstStep(mulIndex(builder, loc, split, shape.stepsPerSplit)),
      endStep(clampIndex(builder, loc,
                         addIndex(builder, loc, firstStep, shape.stepsPerSplit),
                         shape.steps())) {}

Value BlockOrigin::nextStep(Value step) const {
  return arith::MinUIOp::create(
      builder, loc, addIndex(builder, loc, step, 1),
      arith::SubIOp::create(builder, loc, endStep, index(builder, loc, 1)));
}

namespace {

Value sharedBuffer(OpBuilder &builder, Location loc, const MmaShape &shape,
                   Attribute space) {
  return memref::AllocaOp::create(
      builder, loc,
      MemRefType::get({shape.sharedBytes()}, builder.getI8Type(),
                      MemRefLayoutAttrInterface(), space));
}

/// The step loop of mma_gemm's kernel, one set of tiles: per step the
/// threads fill the tiles from the words they loaded, meet at a barrier,
/// issue the next step's loads and multiply, and meet again before the
/// tiles are filled anew. Returns the accumulators after the last step.
SmallVector<Value> emitSteps(OpBuilder &builder, Location loc,
                             const SharedTiles &tiles, MmaTiles &mma,
                             GpuProducts &products, const BlockOrigin &origin,
                             Value thread) {
  SmallVector<Value> carried = products.zeros();
  int64_t accumulatorCount = carried.size();
  llvm::append_range(carried,
                     mma.loadStep(thread, origin.firstStep, origin.firstRow,
                                  origin.firstFeature));
  SmallVector<Value> accumulators = stridedLoop(
      builder, loc, origin.firstStep, origin.endStep, 1, carried,
      [&](Value step, ValueRange in) {
        mma.fillTiles(tiles, thread, step, in.drop_front(accumulatorCount),
                      origin.firstFeature);
        gpu::BarrierOp::create(builder, loc);
        SmallVector<Value> next;
        SmallVector<Value> out =
            products.multiply(tiles, in.take_front(accumulatorCount), [&] {
              next = mma.loadStep(thread, origin.nextStep(step),
                                  origin.firstRow, origin.firstFeature);
            });
        gpu::BarrierOp::create(builder, loc);
        llvm::append_range(out, next);
        return out;
      });
  accumulators.resize(accumulatorCount);
  return accumulators;
}

/// The parts of wgmma_gemm's steps, as the GPU kernel or the host loop
/// nest emits them; emitStagedSteps decides which step and which set of
/// tiles each part works on, for both.
struct StagedWork {
  /// Issues the loads of `step`'s words; returns them (on the GPU, to be
  /// carried to the next step; the host keeps them per thread).
  std::function<SmallVector<Value>(Value step)> load;
  /// Fills `tiles` with `step`'s activations and decoded weights from the
  /// loaded `words`.
  std::function<void(const SharedTiles &tiles, Value step, ValueRange words)>
      fill;
  /// Orders the first step's fill before its products (on the GPU, the
  /// async proxy fence and a barrier).
  std::function<void()> publishFirstFill;
  /// The accumulators after the products of `tiles`, with `overlapped`
  /// (the next step's fill and loads) beside them: on the GPU made visible
  /// to the next products and followed by the step's barrier; on the host
  /// emitted before the products, the worst order the two can meet in. A
  /// null `overlapped` (a split's last step, with no fill to publish and no
  /// tiles to protect) needs neither the fence nor the barrier.
  std::function<SmallVector<Value>(const SharedTiles &tiles,
                                   ValueRange accumulators,
                                   llvm::function_ref<void()> overlapped)>
      multiply;
};

/// wgmma_gemm's steps of `origin`'s split, from `zeros` to the final
/// accumulators: the first step's tiles filled into set 0 of `buffer`
/// before the loop; then step firstStep + i multiplied from set i % 2 while
/// step firstStep + i + 1 fills the other set and the words of the step
/// after load. The loop runs two steps an iteration, set 0's then set 1's,
/// so that both sets' addresses and descriptors are loop-invariant (a set
/// chosen per step cost 26 instructions a step on sm_90a); an odd count's
/// last step, the split's last, is multiplied after the loop from set 0
/// with nothing beside it. (The clamped next step of an even count's last
/// step fills the other set again: never read.)
SmallVector<Value> emitStagedSteps(OpBuilder &builder, Location loc,
                                   const MmaShape &shape, Value buffer,
                                   const BlockOrigin &origin, ValueRange zeros,
                                   const StagedWork &work) {
  SharedTiles first(builder, loc, shape, buffer);
  SharedTiles second(builder, loc, shape, buffer, index(builder, loc, 1));
  work.fill(first, origin.firstStep, work.load(origin.firstStep));
  work.publishFirstFill();
  // Carried from step to step: the accumulators, then the loaded words.
  SmallVector<Value> initial(zeros);
  size_t accumulatorCount = initial.size();
  llvm::append_range(initial, work.load(origin.nextStep(origin.firstStep)));
  auto oneStep = [&](Value step, const SharedTiles &current,
                     const SharedTiles &following, ValueRange carried) {
    Value next = origin.nextStep(step);
    SmallVector<Value> words;
    SmallVector<Value> out =
        work.multiply(current, carried.take_front(accumulatorCount), [&] {
          work.fill(following, next, carried.drop_front(accumulatorCount));
          words = work.load(origin.nextStep(next));
        });
    llvm::append_range(out, words);
    return out;
  };
  Value count =
      arith::SubIOp::create(builder, loc, origin.endStep, origin.firstStep);
  Value pairsEnd = arith::AddIOp::create(
      builder, loc, origin.firstStep,
      arith::SubIOp::create(
          builder, loc, count,
          arith::RemUIOp::create(builder, loc, count, index(builder, loc, 2))));
  SmallVector<Value> carried = stridedLoop(
      builder, loc, origin.firstStep, pairsEnd, 2, initial,
      [&](Value pair, ValueRange in) {
        SmallVector<Value> half = oneStep(pair, first, second, in);
        return oneStep(addIndex(builder, loc, pair, 1), second, first, half);
      });
  Value odd = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult,
                                    pairsEnd, origin.endStep);
  SmallVector<Value> accumulators(
      ValueRange(carried).take_front(accumulatorCount));
  return ifThenElseYield(
      builder, loc, odd,
      [&] { return work.multiply(first, accumulators, nullptr); },
      [&] { return accumulators; });
}

/// wgmma_gemm's step loop in the kernel: the words and accumulators in
/// registers, carried through the loop; the fill and loads beside the
/// warpgroup's asynchronous products, the stores fenced for the async
/// proxy, then the wait for the products and the step's one barrier.
/// Returns the accumulators after the last step.
SmallVector<Value> emitPipelinedSteps(OpBuilder &builder, Location loc,
                                      const MmaShape &shape, Value buffer,
                                      MmaTiles &mma, GpuProducts &products,
                                      const BlockOrigin &origin, Value thread) {
  StagedWork work;
  work.load = [&](Value step) {
    return mma.loadStep(thread, step, origin.firstRow, origin.firstFeature);
  };
  work.fill = [&](const SharedTiles &tiles, Value step, ValueRange words) {
    mma.fillTiles(tiles, thread, step, words, origin.firstFeature);
  };
  work.publishFirstFill = [&] {
    ptxStatement(builder, loc, kAsyncProxyFence);
    gpu::BarrierOp::create(builder, loc);
  };
  work.multiply = [&](const SharedTiles &tiles, ValueRange accumulators,
                      llvm::function_ref<void()> overlapped) {
    if (!overlapped)
      return products.multiply(tiles, accumulators, [] {});
    SmallVector<Value> out = products.multiply(tiles, accumulators, [&] {
      overlapped();
      ptxStatement(builder, loc, kAsyncProxyFence);
    });
    gpu::BarrierOp::create(builder, loc);
    return out;
  };
  return emitStagedSteps(builder, loc, shape, buffer, origin, products.zeros(),
                         work);
}

/// The blocks per SM wgmma_gemm's kernel asks ptxas to leave registers
/// for: kWgmmaBlocksPerSM, or as many as an SM's shared memory holds.
int32_t wgmmaBlocksPerSM(const MmaShape &shape) {
  int64_t bySharedMemory =
      kSharedBytesPerSM / (shape.sharedBytes() + kSharedBytesReservedPerBlock);
  assert(bySharedMemory >= 1 && "the tiles exceed an SM's shared memory");
  return static_cast<int32_t>(std::min(kWgmmaBlocksPerSM, bySharedMemory));
}

/// The GEMM kernel as a gpu.launch: blocks (features, rows), 4 warps of
/// 32 lanes, the accumulators (each warp's mma.sync fragments, or the
/// warpgroup's wgmma ones) carried through the step loop; then each thread
/// adds its accumulators' elements to the result.
void emitGemmLaunch(OpBuilder &builder, Location loc, const MmaOperands &ops) {
  const MmaShape &shape = ops.shape;
  auto workgroup = gpu::AddressSpaceAttr::get(builder.getContext(),
                                              gpu::AddressSpace::Workgroup);
  // mma_gemm's tiles: a buffer allocated before the launch until
  // r2q-gpu-workgroup-buffers makes it a workgroup attribution (as
  // warp_lut_gemv's table). wgmma_gemm's two sets are more than the 48 KiB a
  // kernel may declare statically (49 KiB at 64 x 128): dynamic shared
  // memory, which the runtime opts the launch in to.
  Value buffer, dynamicBytes;
  if (shape.stages() > 1)
    dynamicBytes = i32Constant(builder, loc, shape.sharedBytes());
  else
    buffer = sharedBuffer(builder, loc, shape, workgroup);
  Value one = index(builder, loc, 1);
  auto launch = gpu::LaunchOp::create(
      builder, loc, index(builder, loc, shape.blocksN()),
      index(builder, loc, shape.blocksM()), index(builder, loc, shape.splits),
      index(builder, loc, kLanes), index(builder, loc, kWarps), one,
      dynamicBytes);
  if (shape.wgmma)
    askForBlocksPerSM(builder, launch, wgmmaBlocksPerSM(shape));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  if (!buffer)
    buffer = dynamicWorkgroupBuffer(builder, loc, shape.sharedBytes());
  Value lane = launch.getThreadIds().x, warp = launch.getThreadIds().y;
  Value thread = arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, warp, kLanes), lane);
  BlockOrigin origin(builder, loc, shape, launch.getBlockIds().y,
                     launch.getBlockIds().x, launch.getBlockIds().z);
  MmaTiles mma(builder, loc, ops, /*gpu=*/true);
  std::unique_ptr<GpuProducts> products =
      gpuProducts(builder, loc, shape, lane, warp);
  SmallVector<Value> accumulators =
      shape.stages() > 1
          ? emitPipelinedSteps(builder, loc, shape, buffer, mma, *products,
                               origin, thread)
          : emitSteps(builder, loc, SharedTiles(builder, loc, shape, buffer),
                      mma, *products, origin, thread);
  products->write(accumulators, origin, [&](Value m, Value n, Value product) {
    mma.addProduct(m, n, product);
  });
  gpu::TerminatorOp::create(builder, loc);
}

/// The words each of the 128 threads carries from one step to the next (in
/// registers on the GPU), in a host buffer.
class ThreadWords {
public:
  ThreadWords(OpBuilder &builder, Location loc, int64_t count)
      : builder(builder), loc(loc), count(count) {
    buffer = memref::AllocaOp::create(
        builder, loc,
        MemRefType::get({kThreads, std::max<int64_t>(count, 1)},
                        builder.getI32Type()));
  }

  void save(Value thread, ValueRange words) {
    assert(static_cast<int64_t>(words.size()) == count &&
           "loadStep and stepWordCount disagree");
    for (auto [i, word] : llvm::enumerate(words))
      memref::StoreOp::create(
          builder, loc, word, buffer,
          ValueRange{thread, index(builder, loc, static_cast<int64_t>(i))});
  }

  SmallVector<Value> restore(Value thread) {
    SmallVector<Value> words;
    for (int64_t i = 0; i < count; ++i)
      words.push_back(memref::LoadOp::create(
          builder, loc, buffer, ValueRange{thread, index(builder, loc, i)}));
    return words;
  }

private:
  OpBuilder &builder;
  Location loc;
  int64_t count;
  Value buffer;
};

/// The GEMM kernel on the host: per block and split of K, the 128 threads
/// fill the tiles in turn from the words they loaded (kept per thread in a
/// buffer, as in registers on the GPU) and load the next step's, and the
/// products run on the tiles: with one set of tiles (mma_gemm) fill, load,
/// multiply, as on the GPU; with two (wgmma_gemm) the first step's set
/// filled first, then per step the next step filled into the other set and
/// the loads of the step after, then the products of the step's set. On
/// the GPU the fill runs while the products read; filling first is the
/// worst order they can meet in, so a fill into the set being multiplied
/// (the same set, or both sets one) gives wrong results here. Then the
/// products' results are written.
void emitGemmLoops(OpBuilder &builder, Location loc, const MmaOperands &ops) {
  const MmaShape &shape = ops.shape;
  Value buffer = sharedBuffer(builder, loc, shape, Attribute());
  MmaTiles mma(builder, loc, ops, /*gpu=*/false);
  std::unique_ptr<HostProducts> products = hostProducts(builder, loc, shape);
  ThreadWords words(builder, loc, mma.stepWordCount());
  auto fill = [&](const SharedTiles &tiles, Value step,
                  const BlockOrigin &origin) {
    forRange(builder, loc, kThreads, [&](Value thread) {
      mma.fillTiles(tiles, thread, step, words.restore(thread),
                    origin.firstFeature);
    });
  };
  auto load = [&](Value step, const BlockOrigin &origin) {
    forRange(builder, loc, kThreads, [&](Value thread) {
      words.save(thread, mma.loadStep(thread, step, origin.firstRow,
                                      origin.firstFeature));
    });
  };
  forRange(builder, loc, shape.blocksM(), [&](Value blockM) {
    forRange(builder, loc, shape.blocksN(), [&](Value blockN) {
      forRange(builder, loc, shape.splits, [&](Value split) {
        BlockOrigin origin(builder, loc, shape, blockM, blockN, split);
        products->zero();
        if (shape.stages() == 1) {
          SharedTiles tiles(builder, loc, shape, buffer);
          load(origin.firstStep, origin);
          stridedRange(builder, loc, origin.firstStep, origin.endStep, 1,
                       [&](Value step) {
                         fill(tiles, step, origin);
                         load(origin.nextStep(step), origin);
                         products->multiply(tiles);
                       });
        } else {
          StagedWork work;
          work.load = [&](Value step) {
            load(step, origin);
            return SmallVector<Value>();
          };
          work.fill = [&](const SharedTiles &tiles, Value step, ValueRange) {
            fill(tiles, step, origin);
          };
          work.publishFirstFill = [] {};
          work.multiply = [&](const SharedTiles &tiles, ValueRange,
                              llvm::function_ref<void()> overlapped) {
            if (overlapped)
              overlapped();
            products->multiply(tiles);
            return SmallVector<Value>();
          };
          emitStagedSteps(builder, loc, shape, buffer, origin, {}, work);
        }
        products->write(origin, [&](Value m, Value n, Value product) {
          mma.addProduct(m, n, product);
        });
      });
    });
  });
}

Value newBuffer(OpBuilder &builder, Location loc, ArrayRef<int64_t> shape,
                Type element) {
  return memref::AllocOp::create(builder, loc, MemRefType::get(shape, element),
                                 ValueRange{}, builder.getI64IntegerAttr(64));
}

/// mma_gemm and wgmma_gemm: the operands' buffers, the scaled activations
/// and the rows' powers, a new result buffer, and both kernels as
/// gpu.launch ops or their host loop nests.
struct MmaGemmPattern : MatmulStrategyPattern {
  MmaGemmPattern(MLIRContext *context, KernelStrategy strategy, bool gpuLaunch)
      : MatmulStrategyPattern(context, strategy), gpuLaunch(gpuLaunch) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    KernelBuffers buffers =
        KernelBuffers::create(builder, loc, operands, accumulator);
    MmaShape shape = mmaShape(operands, buffers.rows());
    Type f32 = builder.getF32Type();
    MmaOperands ops{buffers,
                    newBuffer(builder, loc,
                              {shape.paddedRows(), shape.paddedColumns()},
                              builder.getF16Type()),
                    newBuffer(builder, loc, {shape.paddedRows()}, f32),
                    newBuffer(builder, loc, {shape.features}, f32),
                    newBuffer(builder, loc, {shape.features}, f32),
                    shape};
    if (gpuLaunch) {
      emitScalingLaunch(builder, loc, ops);
      emitGemmLaunch(builder, loc, ops);
    } else {
      emitScalingLoops(builder, loc, ops);
      emitGemmLoops(builder, loc, ops);
    }
    return ops.resultTensor(builder, loc, accumulator);
  }

  bool gpuLaunch;
};

} // namespace
} // namespace r2q::lowering::mma

namespace r2q::lowering {

void populateMmaGemmPatterns(RewritePatternSet &patterns, bool gpuLaunch) {
  for (KernelStrategy strategy :
       {KernelStrategy::MmaGemm, KernelStrategy::WgmmaGemm})
    patterns.add<mma::MmaGemmPattern>(patterns.getContext(), strategy,
                                      gpuLaunch);
}

} // namespace r2q::lowering
