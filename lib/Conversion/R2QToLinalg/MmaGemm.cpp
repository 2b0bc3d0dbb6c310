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
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

constexpr int64_t kLanes = 32;
constexpr int64_t kWarps = 4;
constexpr int64_t kThreads = kLanes * kWarps;
/// A warp's tile is fragmentsM x fragmentsN fragments of 16 rows x 16
/// features.
constexpr int64_t kFragment = 16;
/// mma.sync m16n8k16: A is 16 rows x 16 columns, B 16 columns x 8 features,
/// so a fragment's 16 features are two products.
constexpr int64_t kMmaM = 16;
constexpr int64_t kMmaN = 8;
constexpr int64_t kMmaK = 16;
constexpr int64_t kProductsPerFragment = kFragment / kMmaN;
/// ldmatrix loads 8 x 8 matrices of 16-bit values.
constexpr int64_t kLdMatrixRows = 8;
/// Columns of one step: 8 sign bytes per row and plane.
constexpr int64_t kStepColumns = 64;
constexpr int64_t kStepBytes = kStepColumns / 8;
/// f16 values moved at once (16 bytes), and the columns of one sign byte.
constexpr int64_t kVector = 8;
/// Shared tiles' rows: 64 columns and 8 f16 of padding (144 bytes, so that
/// the 16-byte stores of consecutive rows fall in different banks).
constexpr int64_t kTileStride = kStepColumns + kVector;
/// ldmatrix reads 16-byte rows, which must be 16-byte aligned.
constexpr int64_t kTileAlignment = 16;
/// wgmma_gemm's tiles: rows of one step's 64 f16 (128 bytes) whose 16-byte
/// pieces are swizzled (piece c of row r at c ^ (r % 8)) in atoms of 8 rows
/// (1024 bytes), as wgmma's 128-byte swizzle mode reads them: the xor takes
/// bits 7-9 of the address, so a tile starts on a multiple of 1024.
constexpr int64_t kSwizzleAtomRows = 8;
constexpr int64_t kSwizzleAtomBytes = kSwizzleAtomRows * kStepColumns * 2;
/// wgmma m64nNk16: A (the weight) is 64 features x 16 columns; N is the
/// block's activation rows.
constexpr int64_t kWgmmaM = 64;
constexpr int64_t kDefaultBlockFeatures = 128;
/// Split-K: blocks of output tiles are multiplied by splits of K until
/// about this many blocks run (two waves of an H100/H200's 132 SMs), each
/// split at least kMinSplitSteps steps (256 columns) long.
constexpr int64_t kTargetBlocks = 264;
constexpr int64_t kMinSplitSteps = 4;
/// The table decode takes weights of at most this many planes: the 2^P f16
/// signed sums of a group's scales fit the 8 bytes one byte permute (PRMT)
/// selects from.
constexpr int64_t kTablePlanes = 2;
/// ... and groups of whole steps, or of 16 or 32 columns (a table per group
/// of a step): each byte permute reads one byte of signs per plane, 8
/// columns that lie in one group of 16 or more.
constexpr int64_t kTableMinGroupSize = 16;
/// A row's largest magnitude is scaled into [2^14, 2^15).
constexpr int32_t kTargetExponent = 14;
constexpr int32_t kF32Bias = 127;
constexpr int32_t kMaxShift = 126;

/// The static sizes of an mma_gemm kernel and its tiles.
struct MmaShape : KernelDims {
  int64_t groups;
  int64_t blockRows;     // activation rows of a block: 16, 32 or 64
  int64_t blockFeatures; // output features of a block: 64, 128 or 192
  int64_t warpsM, warpsN;
  int64_t splits, stepsPerSplit; // split-K: the steps of one block
  /// Whether whole steps are decoded through tables of the 2^P signed
  /// sums of a group's scales (1 or 2 planes, groups of whole steps or of
  /// 16 or 32 columns).
  bool tableDecode;
  /// wgmma_gemm: the tiles swizzled for wgmma.mma_async, which multiplies
  /// them from shared memory (mma_gemm: padded rows, ldmatrix, mma.sync).
  bool wgmma;

  int64_t paddedRows() const { return llvm::alignTo(rows, blockRows); }
  int64_t paddedColumns() const { return llvm::alignTo(columns, kStepColumns); }
  int64_t steps() const { return paddedColumns() / kStepColumns; }
  int64_t blocksN() const { return llvm::divideCeil(features, blockFeatures); }
  int64_t blocksM() const { return paddedRows() / blockRows; }
  int64_t fragmentsM() const { return blockRows / (kFragment * warpsM); }
  int64_t fragmentsN() const { return blockFeatures / (kFragment * warpsN); }
  /// A warp's m16n8 products per fragment row, and the index of product
  /// (i, jn) among its fragmentsM x productsN accumulators (row-major).
  int64_t productsN() const { return fragmentsN() * kProductsPerFragment; }
  int64_t productIndex(int64_t i, int64_t jn) const {
    return i * productsN() + jn;
  }
  /// Steps whose 8 sign bytes lie inside every row (all but a last, partial
  /// one when K is not a multiple of 64).
  int64_t wholeSteps() const { return bytesPerRow / kStepBytes; }
  /// A thread's 16-byte pieces of a step's activation tile, and its feature
  /// rows of the weight tile in the table decode (thread t: rows t, t + 128,
  /// ...; the last may lie past the tile).
  int64_t piecesPerThread() const { return blockRows * kStepBytes / kThreads; }
  int64_t tableRowsPerThread() const {
    return tableDecode ? llvm::divideCeil(blockFeatures, kThreads) : 0;
  }
  /// The groups a whole step spans in the table decode (1, 2 or 4), and the
  /// group of its sign byte `byte` (0-7).
  int64_t stepGroups() const {
    return std::max<int64_t>(1, kStepColumns / groupSize);
  }
  int64_t stepGroupOfByte(int64_t byte) const {
    return byte * 8 * stepGroups() / kStepColumns;
  }
  /// The f16 elements of a shared tile's row, and the alignment of the
  /// tiles' start.
  int64_t tileStride() const { return wgmma ? kStepColumns : kTileStride; }
  int64_t tileAlignment() const {
    return wgmma ? kSwizzleAtomBytes : kTileAlignment;
  }
  /// Byte offsets in the block's shared buffer (after its alignment; with
  /// wgmma a multiple of 1024, as blockRows is of 8).
  int64_t weightTileOffset() const { return blockRows * tileStride() * 2; }
  int64_t sharedBytes() const {
    return weightTileOffset() + blockFeatures * tileStride() * 2 +
           tileAlignment();
  }
  /// wgmma_gemm's products per 16 columns: one per 64 features.
  int64_t wgmmaProducts() const { return blockFeatures / kWgmmaM; }
};

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

/// The block's shared tiles, views of one byte buffer whose start is
/// rounded up to the tiles' alignment (a workgroup buffer is only as
/// aligned as its element type): the activations (blockRows rows, mma.sync's
/// A, wgmma's B) and the decoded weight (blockFeatures rows, a feature per
/// row: mma.sync's B, column-major, wgmma's A), f16. mma_gemm's rows are
/// 72 f16 (ldmatrix reads 16-byte aligned rows); wgmma_gemm's are 64,
/// their 16-byte pieces swizzled (pieceColumn).
struct SharedTiles {
  Value activations, weights;
  /// The tiles' addresses (on the GPU in the shared window, which wgmma's
  /// descriptors take).
  Value activationsAddress, weightsAddress;
  bool swizzled;

  SharedTiles(OpBuilder &builder, Location loc, const MmaShape &shape,
              Value buffer)
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

  /// The column where the 16-byte piece of tile row `row` that holds
  /// columns `column` + [0, 8) is stored: itself, or in wgmma_gemm's
  /// swizzled tiles piece (column / 8) ^ (row % 8).
  Value pieceColumn(OpBuilder &builder, Location loc, Value row,
                    Value column) const {
    if (!swizzled)
      return column;
    auto constant = [&](int64_t value) { return index(builder, loc, value); };
    Value piece = arith::XOrIOp::create(
        builder, loc, arith::DivUIOp::create(builder, loc, column, constant(8)),
        arith::RemUIOp::create(builder, loc, row, constant(kSwizzleAtomRows)));
    return mulIndex(builder, loc, piece, kVector);
  }
};

/// Where a warp's fragments lie: warp w covers rows (w / warpsN) *
/// fragmentsM * 16 + [0, fragmentsM * 16) and features (w % warpsN) *
/// fragmentsN * 16 + [0, fragmentsN * 16) of the block's tile.
struct WarpFragments {
  Value firstRow, firstFeature;

  WarpFragments(OpBuilder &builder, Location loc, const MmaShape &shape,
                Value warp) {
    Value warpM = arith::DivUIOp::create(builder, loc, warp,
                                         index(builder, loc, shape.warpsN));
    Value warpN = arith::RemUIOp::create(builder, loc, warp,
                                         index(builder, loc, shape.warpsN));
    firstRow = mulIndex(builder, loc, warpM, shape.fragmentsM() * kFragment);
    firstFeature =
        mulIndex(builder, loc, warpN, shape.fragmentsN() * kFragment);
  }

  /// The first block row of fragment row i, the first block feature of
  /// fragment column j.
  Value row(OpBuilder &builder, Location loc, int64_t i) const {
    return addIndex(builder, loc, firstRow, i * kFragment);
  }
  Value feature(OpBuilder &builder, Location loc, int64_t j) const {
    return addIndex(builder, loc, firstFeature, j * kFragment);
  }
};

//===----------------------------------------------------------------------===//
// mma.sync m16n8k16's fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16
// with floating point type"): lane l = 4 g + t of a warp holds
//   A (16 x 16, f16): pairs (g, 2t), (g + 8, 2t), (g, 2t + 8), (g + 8, 2t + 8)
//   B (16 x 8, k x n, f16): pairs (2t, g), (2t + 8, g), k consecutive
//   C (16 x 8, f32): pairs (g, 2t), (g + 8, 2t)
// each pair being two consecutive columns (of B: rows). ldmatrix .x4 loads
// four 8 x 8 matrices of 16-bit values, lanes 8j to 8j + 7 giving the
// addresses of matrix j's rows; lane l receives from each matrix j (its
// register j) the pair at row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1.
//===----------------------------------------------------------------------===//

/// The tile row and column whose 16 bytes lane `lane` points ldmatrix .x4
/// to, loading the A fragment of rows row0 + [0, 16) and columns column0 +
/// [0, 16): matrices (rows 0-7, columns 0-7), (8-15, 0-7), (0-7, 8-15),
/// (8-15, 8-15), so that register j is A's pair j.
std::pair<Value, Value> activationRowAddress(OpBuilder &builder, Location loc,
                                             Value lane, Value row0,
                                             Value column0) {
  Value row = arith::AddIOp::create(
      builder, loc, row0,
      arith::RemUIOp::create(builder, loc, lane, index(builder, loc, kMmaM)));
  Value column = arith::AddIOp::create(
      builder, loc, column0,
      mulIndex(builder, loc,
               arith::DivUIOp::create(builder, loc, lane,
                                      index(builder, loc, kMmaM)),
               kLdMatrixRows));
  return {row, column};
}

/// The weight tile row (a feature) and column that lane `lane` points
/// ldmatrix .x4 to, loading the B fragments of features feature0 + [0, 8)
/// and feature0 + [8, 16) for columns column0 + [0, 16): matrices
/// (features 0-7, columns 0-7), (0-7, 8-15), (8-15, 0-7), (8-15, 8-15), so
/// that registers 0, 1 are the first B fragment and 2, 3 the second.
std::pair<Value, Value> weightRowAddress(OpBuilder &builder, Location loc,
                                         Value lane, Value feature0,
                                         Value column0) {
  auto constant = [&](int64_t value) { return index(builder, loc, value); };
  Value matrix =
      arith::DivUIOp::create(builder, loc, lane, constant(kLdMatrixRows));
  Value feature = arith::AddIOp::create(
      builder, loc, feature0,
      arith::AddIOp::create(
          builder, loc,
          mulIndex(builder, loc,
                   arith::DivUIOp::create(builder, loc, matrix, constant(2)),
                   kLdMatrixRows),
          arith::RemUIOp::create(builder, loc, lane, constant(kLdMatrixRows))));
  Value column = arith::AddIOp::create(
      builder, loc, column0,
      mulIndex(builder, loc,
               arith::RemUIOp::create(builder, loc, matrix, constant(2)),
               kLdMatrixRows));
  return {feature, column};
}

/// The row (of 16) and column (of 8) of element `e` of lane `lane`'s
/// accumulator pair `pair`: (g + 8 pair, 2t + e).
std::pair<Value, Value> accumulatorElement(OpBuilder &builder, Location loc,
                                           Value lane, int64_t pair,
                                           int64_t e) {
  Value g = arith::DivUIOp::create(builder, loc, lane, index(builder, loc, 4));
  Value t = arith::RemUIOp::create(builder, loc, lane, index(builder, loc, 4));
  return {addIndex(builder, loc, g, pair * (kMmaM / 2)),
          addIndex(builder, loc, mulIndex(builder, loc, t, 2), e)};
}

/// The GEMM kernel's steps, shared by the GPU and host mappings.
class MmaTiles {
public:
  /// `gpu`: the byte permutes are PRMT instructions (nvvm.prmt), else
  /// their arithmetic on the host.
  MmaTiles(OpBuilder &builder, Location loc, const MmaOperands &ops,
           const SharedTiles &tiles, bool gpu)
      : builder(builder), loc(loc), ops(ops), shape(ops.shape), tiles(tiles),
        gpu(gpu) {}

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
  void fillTiles(Value thread, Value step, ValueRange words,
                 Value firstFeature) {
    auto piece = VectorType::get({kVector}, builder.getF16Type());
    int64_t pieceWords = kVector / 2;
    for (int64_t i = 0; i < shape.piecesPerThread(); ++i) {
      auto [row, column] = activationPiece(thread, i);
      storePiece(fromWords(words.slice(i * pieceWords, pieceWords), piece),
                 tiles.activations, row, column);
    }
    ValueRange tableWords =
        words.drop_front(shape.piecesPerThread() * pieceWords);
    if (!shape.tableDecode)
      return decodeBytes(thread, step, firstFeature);
    if (shape.wholeSteps() == shape.steps())
      return decodeThroughTable(thread, tableWords);
    ifThenElse(
        builder, loc, lessThan(builder, loc, step, shape.wholeSteps()),
        [&] { decodeThroughTable(thread, tableWords); },
        [&] { decodeBytes(thread, step, firstFeature); });
  }

  /// Thread `thread` decodes its sign bytes of the step's weight tile
  /// (features firstFeature + [0, blockFeatures)) one byte at a time.
  void decodeBytes(Value thread, Value step, Value firstFeature) {
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
      storePiece(weights, tiles.weights, row,
                 mulIndex(builder, loc, piece, kVector));
    });
  }

  /// Thread `thread` decodes its feature rows of a whole step's weight
  /// tile from their words (per plane 2 sign words, then the scaled scales
  /// of each of the step's groups): per group the 2^P weight values (sum_p
  /// +-s_p times the row's power, in f32, rounded to f16: the values
  /// decodeByte computes) packed into two words, then per pair of weights
  /// one byte permute of its group's table that selects both halves by the
  /// pair's sign bits.
  void decodeThroughTable(Value thread, ValueRange words) {
    int64_t signWords = kStepBytes / 4;
    int64_t rowWords = tableRowWords();
    for (int64_t i = 0; i < shape.tableRowsPerThread(); ++i) {
      ValueRange row = words.slice(i * rowWords, rowWords);
      Value tileRow = addIndex(builder, loc, thread, i * kThreads);
      auto decode = [&] {
        SmallVector<std::pair<Value, Value>> tables;
        ValueRange scaled = row.drop_front(shape.planes * signWords);
        for (int64_t g = 0; g < shape.stepGroups(); ++g) {
          SmallVector<Value> scales;
          for (Value word : scaled.slice(g * shape.planes, shape.planes))
            scales.push_back(arith::BitcastOp::create(
                builder, loc, builder.getF32Type(), word));
          tables.push_back(weightTable(scales));
        }
        Value zero = i32Constant(builder, loc, 0);
        for (int64_t w = 0; w < signWords; ++w)
          for (int64_t half = 0; half < 2; ++half) {
            Value spread = spreadSigns(
                row[w], shape.planes > 1 ? row[signWords + w] : zero, half);
            // The selectors of the pairs at `bit` and `bit + 16` in one
            // word (prmt reads its low 16 bits).
            SmallVector<Value> selectors;
            for (int64_t bit = 0; bit < 8; bit += 2)
              selectors.push_back(pairSelectors(spread, bit));
            for (int64_t b = 0; b < 2; ++b) {
              int64_t byte = 4 * w + half + 2 * b;
              auto [low, high] = tables[shape.stepGroupOfByte(byte)];
              SmallVector<Value> pairs;
              for (Value selector : selectors)
                pairs.push_back(permute(
                    low, high,
                    b ? arith::ShRUIOp::create(builder, loc, selector,
                                               i32Constant(builder, loc, 16))
                            .getResult()
                      : selector));
              storePiece(
                  fromWords(pairs,
                            VectorType::get({kVector}, builder.getF16Type())),
                  tiles.weights, tileRow, index(builder, loc, kVector * byte));
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

  /// Lane `lane`'s elements of an m16n8 product for block rows m0 + [0,
  /// 16) and features n0 + [0, 8), element e of pair p (row g + 8p, column
  /// 2t + e) being `value(p, e)`: result += product x the rows' inverse
  /// powers, inside M x N.
  void
  writeAccumulator(Value lane, Value m0, Value n0,
                   const std::function<Value(int64_t, int64_t)> &value) const {
    for (int64_t pair = 0; pair < 2; ++pair)
      for (int64_t e = 0; e < 2; ++e) {
        auto [row, column] = accumulatorElement(builder, loc, lane, pair, e);
        addProduct(arith::AddIOp::create(builder, loc, m0, row),
                   arith::AddIOp::create(builder, loc, n0, column),
                   value(pair, e));
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
  void storePiece(Value piece, Value tile, Value row, Value column) {
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

  /// The 2^P weight values of a group whose scales times the row's power
  /// are `scaled`, v[b0 + 2 b1] = (b0 ? -s_0 : s_0) + (b1 ? -s_1 : s_1),
  /// summed in f32 as decodeByte does and rounded to f16, packed as two
  /// words of halves: (v0 | v1 << 16, v2 | v3 << 16).
  std::pair<Value, Value> weightTable(ArrayRef<Value> scaled) {
    Type i32 = builder.getI32Type();
    SmallVector<Value> bits;
    for (int64_t entry = 0; entry < (int64_t{1} << shape.planes); ++entry) {
      Value sum = f32Constant(builder, loc, 0);
      for (int64_t p = 0; p < shape.planes; ++p) {
        Value term = (entry >> p) & 1
                         ? arith::NegFOp::create(builder, loc, scaled[p])
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
    auto pack = [&](Value lowHalf, Value highHalf) {
      return arith::OrIOp::create(
          builder, loc, lowHalf,
          arith::ShLIOp::create(builder, loc, highHalf,
                                i32Constant(builder, loc, 16)));
    };
    return {pack(bits[0], bits[1]), pack(bits[2], bits[3])};
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
    auto constant = [&](uint32_t value) {
      return i32Constant(builder, loc, static_cast<int32_t>(value));
    };
    auto bytes = [&](Value word) {
      if (half)
        word = arith::ShRUIOp::create(builder, loc, word, constant(8));
      return arith::AndIOp::create(builder, loc, word, constant(0x00FF00FF));
    };
    auto shl = [&](Value value, uint32_t amount) {
      return arith::ShLIOp::create(builder, loc, value, constant(amount));
    };
    Value a = bytes(first), b = bytes(second);
    Value planeA = arith::OrIOp::create(builder, loc, a, shl(a, 7));
    Value planeB = arith::OrIOp::create(builder, loc, shl(b, 1), shl(b, 8));
    return arith::OrIOp::create(
        builder, loc,
        arith::AndIOp::create(builder, loc, planeA, constant(0x55555555)),
        arith::AndIOp::create(builder, loc, planeB, constant(0xAAAAAAAA)));
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
  const SharedTiles &tiles;
  bool gpu;
};

/// A block's first activation row and feature and its steps, from its 3-D
/// index (output tile and split of K), and where its warps' fragments
/// start.
struct BlockOrigin {
  OpBuilder &builder;
  Location loc;
  Value firstRow, firstFeature;
  Value firstStep, endStep; // the block's split of K, in steps

  BlockOrigin(OpBuilder &builder, Location loc, const MmaShape &shape,
              Value blockM, Value blockN, Value split)
      : builder(builder), loc(loc),
        firstRow(mulIndex(builder, loc, blockM, shape.blockRows)),
        firstFeature(mulIndex(builder, loc, blockN, shape.blockFeatures)),
        firstStep(mulIndex(builder, loc, split, shape.stepsPerSplit)),
        endStep(
            clampIndex(builder, loc,
                       addIndex(builder, loc, firstStep, shape.stepsPerSplit),
                       shape.steps())) {}

  /// The step after `step` whose words the kernel loads while it
  /// multiplies `step`'s tiles: the block's last step again after its last
  /// (loaded, not used).
  Value nextStep(Value step) const {
    return arith::MinUIOp::create(
        builder, loc, addIndex(builder, loc, step, 1),
        arith::SubIOp::create(builder, loc, endStep, index(builder, loc, 1)));
  }

  /// The activation row of the first row of a warp's fragment row i, the
  /// output feature of the first column of its fragment column j.
  Value fragmentRow(const WarpFragments &fragments, int64_t i) const {
    return arith::AddIOp::create(builder, loc, firstRow,
                                 fragments.row(builder, loc, i));
  }
  /// The output feature of the first column of a warp's m16n8 product jn
  /// (of its fragment column jn / 2).
  Value productFeature(const WarpFragments &fragments, int64_t jn) const {
    return addIndex(builder, loc,
                    fragmentFeature(fragments, jn / kProductsPerFragment),
                    (jn % kProductsPerFragment) * kMmaN);
  }
  Value fragmentFeature(const WarpFragments &fragments, int64_t j) const {
    return arith::AddIOp::create(builder, loc, firstFeature,
                                 fragments.feature(builder, loc, j));
  }
};

Value sharedBuffer(OpBuilder &builder, Location loc, const MmaShape &shape,
                   Attribute space) {
  return memref::AllocaOp::create(
      builder, loc,
      MemRefType::get({shape.sharedBytes()}, builder.getI8Type(),
                      MemRefLayoutAttrInterface(), space));
}

/// A warp's mma.sync fragments in the GPU kernel: its accumulators (per
/// 16 x 16 fragment of its tile, two m16n8 products), carried as values,
/// and their products on the block's shared tiles.
class MmaSyncWarp {
public:
  MmaSyncWarp(OpBuilder &builder, Location loc, const MmaShape &shape,
              const SharedTiles &tiles, const WarpFragments &fragments,
              Value lane)
      : builder(builder), loc(loc), shape(shape), tiles(tiles),
        fragments(fragments), lane(lane), fm(shape.fragmentsM()),
        fn(shape.fragmentsN()) {}

  /// fragmentsM x productsN zero accumulators (vector<2x2xf32>: row p is
  /// lane l's pair in row g + 8p), row-major.
  SmallVector<Value> zeros() {
    Value zero = arith::ConstantOp::create(
        builder, loc, builder.getZeroAttr(accumulatorType()));
    return SmallVector<Value>(fm * shape.productsN(), zero);
  }

  /// The accumulators after the products of a step's tiles: per 16
  /// columns, the warp's A fragments and B fragments (two per 16
  /// features) loaded once with ldmatrix .x4, every pair multiplied.
  /// `before` emits what the products should hide (the next step's loads).
  SmallVector<Value> multiply(ValueRange in,
                              llvm::function_ref<void()> before) {
    before();
    SmallVector<Value> acc(in);
    auto fragmentType = VectorType::get({4, 2}, builder.getF16Type());
    for (int64_t k = 0; k < kStepColumns; k += kMmaK) {
      Value column = index(builder, loc, k);
      SmallVector<Value> a, b;
      for (int64_t i = 0; i < fm; ++i) {
        auto [row, col] = activationRowAddress(
            builder, loc, lane, fragments.row(builder, loc, i), column);
        a.push_back(nvgpu::LdMatrixOp::create(builder, loc, fragmentType,
                                              tiles.activations,
                                              ValueRange{row, col}, false, 4));
      }
      for (int64_t j = 0; j < fn; ++j) {
        auto [feature, col] = weightRowAddress(
            builder, loc, lane, fragments.feature(builder, loc, j), column);
        Value both =
            nvgpu::LdMatrixOp::create(builder, loc, fragmentType, tiles.weights,
                                      ValueRange{feature, col}, false, 4);
        for (int64_t half = 0; half < kProductsPerFragment; ++half)
          b.push_back(registerPair(both, half));
      }
      for (int64_t i = 0; i < fm; ++i)
        for (int64_t jn = 0; jn < shape.productsN(); ++jn) {
          Value &product = acc[shape.productIndex(i, jn)];
          product =
              nvgpu::MmaSyncOp::create(builder, loc, a[i], b[jn], product,
                                       ArrayRef<int64_t>{kMmaM, kMmaN, kMmaK});
        }
    }
    return acc;
  }

  /// Writes every accumulator's elements to the result (each lane its
  /// own). Element [p][e] of an accumulator is PTX's c[2p + e] (row g +
  /// 8p, column 2t + e): NVGPU's lowering packs the mma.sync results row by
  /// row (convertIntrinsicResult in NVGPUToNVVM.cpp). This and
  /// registerPair run on the GPU only: the host form has no vectors.
  void write(ArrayRef<Value> acc, const MmaTiles &mma,
             const BlockOrigin &origin) {
    for (int64_t i = 0; i < fm; ++i)
      for (int64_t jn = 0; jn < shape.productsN(); ++jn)
        mma.writeAccumulator(
            lane, origin.fragmentRow(fragments, i),
            origin.productFeature(fragments, jn), [&](int64_t pair, int64_t e) {
              return vector::ExtractOp::create(builder, loc,
                                               acc[shape.productIndex(i, jn)],
                                               ArrayRef<int64_t>{pair, e})
                  .getResult();
            });
  }

private:
  /// Registers 2 half and 2 half + 1 of an ldmatrix .x4 result: one B
  /// fragment (NVGPU lowers each row of a vector<4x2xf16> or
  /// vector<2x2xf16> operand to one 32-bit register, in order:
  /// unpackOperandVector in NVGPUToNVVM.cpp). vector.extract_strided_slice
  /// of an n-D vector does not lower to NVVM; its rows do.
  Value registerPair(Value fragments, int64_t half) {
    auto pairType = VectorType::get({2, 2}, builder.getF16Type());
    Value pair =
        arith::ConstantOp::create(builder, loc, builder.getZeroAttr(pairType));
    for (int64_t r = 0; r < 2; ++r)
      pair = vector::InsertOp::create(
          builder, loc,
          vector::ExtractOp::create(builder, loc, fragments,
                                    ArrayRef<int64_t>{2 * half + r}),
          pair, ArrayRef<int64_t>{r});
    return pair;
  }

  VectorType accumulatorType() {
    return VectorType::get({2, 2}, builder.getF32Type());
  }

  OpBuilder &builder;
  Location loc;
  const MmaShape &shape;
  const SharedTiles &tiles;
  const WarpFragments &fragments;
  Value lane;
  int64_t fm, fn;
};

//===----------------------------------------------------------------------===//
// wgmma.mma_async m64nNk16 (wgmma_gemm, sm_90a): the warpgroup (the block's
// 4 warps) multiplies A, 64 features x 16 columns of the weight tile, by B,
// 16 columns x N = blockRows activation rows, both read from shared memory
// through 64-bit descriptors (PTX ISA, "Matrix Descriptor Format"): bits
// 0-13 the start address / 16, 16-29 the leading byte offset / 16 (unused
// for a K-major operand in a swizzle mode), 32-45 the stride byte offset /
// 16 (1024: from one atom of 8 rows to the next), 62-63 the swizzle mode
// (1: 128 bytes). Both operands are K-major (imm-trans 0: NVVM's layouts
// row for A, col for B). Within an atom, row r lies at 128 r and its
// 16-byte piece c at 16 (c ^ r) (the xor of address bits 4-6 with 7-9);
// columns 16 j + [0, 16) of a step start 32 j bytes into the row.
// Thread t = 32 w + 4 g + q holds D's elements d[4 i + 2 p + e] = D(16 w +
// g + 8 p, 8 i + 2 q + e): a feature (A's row) and an activation row (B's
// column), the transpose of the result's tile.
//===----------------------------------------------------------------------===//

constexpr uint64_t kDescriptorAddressMask = 0x3FFFF; // 14 bits of address/16
constexpr uint64_t kDescriptorFieldMask = 0x3FFF;
constexpr int64_t kDescriptorStrideShift = 32;
constexpr uint64_t kDescriptorFixedFields =
    (uint64_t{16 >> 4} << 16) | // LBO (unused)
    (uint64_t{kSwizzleAtomBytes >> 4} << kDescriptorStrideShift) | // SBO
    (uint64_t{1} << 62); // 128-byte swizzle

/// An inline PTX statement without operands, ordered with memory accesses.
/// The NVVM dialect has ops for wgmma.mma_async, its fence, commit and
/// wait and for fence.proxy, but they declare no memory effects, which
/// ownership-based-buffer-deallocation (r2q-gpu-pipeline's bufferization,
/// after this lowering) refuses; inline assembly declares them.
void ptxStatement(OpBuilder &builder, Location loc, StringRef statement) {
  LLVM::InlineAsmOp::create(builder, loc, Type(), ValueRange{}, statement,
                            "~{memory}", /*has_side_effects=*/true,
                            /*is_align_stack=*/false,
                            LLVM::tailcallkind::TailCallKind::None,
                            LLVM::AsmDialectAttr(), ArrayAttr());
}

Value i64Constant(OpBuilder &builder, Location loc, uint64_t value) {
  return arith::ConstantOp::create(
      builder, loc, builder.getI64IntegerAttr(static_cast<int64_t>(value)));
}

/// The descriptor of an operand whose rows start at `address` + `offset`
/// (bytes).
Value wgmmaDescriptor(OpBuilder &builder, Location loc, Value address,
                      int64_t offset) {
  Value start =
      arith::IndexCastUIOp::create(builder, loc, builder.getI64Type(),
                                   addIndex(builder, loc, address, offset));
  Value field = arith::ShRUIOp::create(
      builder, loc,
      arith::AndIOp::create(builder, loc, start,
                            i64Constant(builder, loc, kDescriptorAddressMask)),
      i64Constant(builder, loc, 4));
  return arith::OrIOp::create(
      builder, loc, field, i64Constant(builder, loc, kDescriptorFixedFields));
}

/// The descriptors of product h's A (features 64 h + [0, 64)) and B for
/// columns 16 j + [0, 16) of a step.
std::pair<Value, Value> wgmmaDescriptors(OpBuilder &builder, Location loc,
                                         const SharedTiles &tiles, int64_t h,
                                         int64_t j) {
  int64_t rowBytes = kStepColumns * 2, sliceBytes = kMmaK * 2;
  return {
      wgmmaDescriptor(builder, loc, tiles.weightsAddress,
                      h * kWgmmaM * rowBytes + j * sliceBytes),
      wgmmaDescriptor(builder, loc, tiles.activationsAddress, j * sliceBytes)};
}

/// The feature (of the block's tile) and the block row of element `e` of
/// thread `thread`'s accumulator of product h.
std::pair<Value, Value> wgmmaElement(OpBuilder &builder, Location loc,
                                     Value thread, int64_t h, int64_t e) {
  auto constant = [&](int64_t value) { return index(builder, loc, value); };
  Value warp = arith::DivUIOp::create(builder, loc, thread, constant(kLanes));
  Value lane = arith::RemUIOp::create(builder, loc, thread, constant(kLanes));
  Value g = arith::DivUIOp::create(builder, loc, lane, constant(4));
  Value q = arith::RemUIOp::create(builder, loc, lane, constant(4));
  Value feature = arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, warp, kMmaM),
      addIndex(builder, loc, g, h * kWgmmaM + 8 * ((e / 2) % 2)));
  Value row =
      addIndex(builder, loc, mulIndex(builder, loc, q, 2), 8 * (e / 4) + e % 2);
  return {feature, row};
}

/// The warpgroup's wgmma.mma_async products in the GPU kernel: per 64
/// features of the block an accumulator (a struct of blockRows / 2 f32 per
/// thread), carried as values.
class WgmmaWarpgroup {
public:
  WgmmaWarpgroup(OpBuilder &builder, Location loc, const MmaShape &shape,
                 const SharedTiles &tiles, Value thread)
      : builder(builder), loc(loc), shape(shape), tiles(tiles), thread(thread) {
  }

  SmallVector<Value> zeros() {
    return SmallVector<Value>(
        shape.wgmmaProducts(),
        LLVM::ZeroOp::create(builder, loc, accumulatorType()));
  }

  /// The accumulators after a step's products: fenced (the registers), all
  /// issued as one group, then `before` (what they should hide: the next
  /// step's loads), then a wait for the group.
  SmallVector<Value> multiply(ValueRange in,
                              llvm::function_ref<void()> before) {
    ptxStatement(builder, loc, "wgmma.fence.sync.aligned;");
    SmallVector<Value> acc(in);
    for (int64_t j = 0; j < kStepColumns / kMmaK; ++j)
      for (int64_t h = 0; h < shape.wgmmaProducts(); ++h) {
        auto [a, b] = wgmmaDescriptors(builder, loc, tiles, h, j);
        acc[h] = product(acc[h], a, b);
      }
    ptxStatement(builder, loc, "wgmma.commit_group.sync.aligned;");
    before();
    ptxStatement(builder, loc, "wgmma.wait_group.sync.aligned 0;");
    return acc;
  }

  /// Writes every accumulator's elements to the result.
  void write(ArrayRef<Value> acc, const MmaTiles &mma,
             const BlockOrigin &origin) {
    for (int64_t h = 0; h < shape.wgmmaProducts(); ++h)
      for (int64_t e = 0; e < shape.blockRows / 2; ++e) {
        auto [feature, row] = wgmmaElement(builder, loc, thread, h, e);
        mma.addProduct(
            arith::AddIOp::create(builder, loc, origin.firstRow, row),
            arith::AddIOp::create(builder, loc, origin.firstFeature, feature),
            LLVM::ExtractValueOp::create(builder, loc, acc[h],
                                         ArrayRef<int64_t>{e}));
      }
  }

private:
  /// acc + A B for the operands `a` and `b` describe: wgmma.mma_async
  /// m64nNk16 (f32 += f16 x f16, both K-major, D scaled by 1), its N / 2
  /// accumulator registers read and written in place.
  Value product(Value acc, Value a, Value b) {
    int64_t registers = shape.blockRows / 2;
    std::string list;
    llvm::raw_string_ostream os(list);
    for (int64_t r = 0; r < registers; ++r)
      os << (r ? ", " : "") << "$" << r;
    std::string statement = llvm::formatv(
        "{{\n.reg .pred p;\nsetp.ne.b32 p, ${0}, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n{1}k16.f32.f16.f16 {{{2}}, ${3}, "
        "${4}, p, 1, 1, 0, 0;\n}",
        2 * registers + 2, shape.blockRows, list, 2 * registers,
        2 * registers + 1);
    SmallVector<std::string> constraints(registers, "=f");
    for (int64_t r = 0; r < registers; ++r)
      constraints.push_back(std::to_string(r));
    constraints.append({"l", "l", "r", "~{memory}"});
    SmallVector<Value> operands;
    for (int64_t r = 0; r < registers; ++r)
      operands.push_back(LLVM::ExtractValueOp::create(builder, loc, acc,
                                                      ArrayRef<int64_t>{r}));
    llvm::append_range(operands,
                       ValueRange{a, b, i32Constant(builder, loc, 1)});
    return LLVM::InlineAsmOp::create(
               builder, loc, accumulatorType(), operands, statement,
               llvm::join(constraints, ","), /*has_side_effects=*/true,
               /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
               LLVM::AsmDialectAttr(), ArrayAttr())
        .getRes();
  }

  Type accumulatorType() {
    return LLVM::LLVMStructType::getLiteral(
        builder.getContext(),
        SmallVector<Type>(shape.blockRows / 2, builder.getF32Type()));
  }

  OpBuilder &builder;
  Location loc;
  const MmaShape &shape;
  const SharedTiles &tiles;
  Value thread;
};

/// The GEMM kernel as a gpu.launch: blocks (features, rows), 4 warps of
/// 32 lanes; per step the tiles are filled between two barriers and the
/// accumulators (each warp's mma.sync fragments, or the warpgroup's wgmma
/// ones) are carried through the step loop; then each thread writes its
/// accumulators' elements.
void emitGemmLaunch(OpBuilder &builder, Location loc, const MmaOperands &ops) {
  const MmaShape &shape = ops.shape;
  auto workgroup = gpu::AddressSpaceAttr::get(builder.getContext(),
                                              gpu::AddressSpace::Workgroup);
  // Allocated before the launch until r2q-gpu-workgroup-buffers makes it a
  // workgroup attribution (as warp_lut_gemv's table).
  Value buffer = sharedBuffer(builder, loc, shape, workgroup);
  Value one = index(builder, loc, 1);
  auto launch = gpu::LaunchOp::create(
      builder, loc, index(builder, loc, shape.blocksN()),
      index(builder, loc, shape.blocksM()), index(builder, loc, shape.splits),
      index(builder, loc, kLanes), index(builder, loc, kWarps), one);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  Value lane = launch.getThreadIds().x, warp = launch.getThreadIds().y;
  Value thread = arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, warp, kLanes), lane);
  BlockOrigin origin(builder, loc, shape, launch.getBlockIds().y,
                     launch.getBlockIds().x, launch.getBlockIds().z);
  SharedTiles tiles(builder, loc, shape, buffer);
  MmaTiles mma(builder, loc, ops, tiles, /*gpu=*/true);
  // The step loop carries the accumulators and the thread's words of the
  // next step, loaded while the products of this one run.
  auto emitSteps = [&](auto &products) {
    SmallVector<Value> carried = products.zeros();
    int64_t accumulatorCount = carried.size();
    llvm::append_range(carried,
                       mma.loadStep(thread, origin.firstStep, origin.firstRow,
                                    origin.firstFeature));
    SmallVector<Value> accumulators = stridedLoop(
        builder, loc, origin.firstStep, origin.endStep, 1, carried,
        [&](Value step, ValueRange in) {
          mma.fillTiles(thread, step, in.drop_front(accumulatorCount),
                        origin.firstFeature);
          // wgmma reads the tiles through the async proxy: the threads'
          // stores must be visible to it, not only to the other threads.
          if (shape.wgmma)
            ptxStatement(builder, loc, "fence.proxy.async.shared::cta;");
          gpu::BarrierOp::create(builder, loc);
          SmallVector<Value> next;
          SmallVector<Value> out =
              products.multiply(in.take_front(accumulatorCount), [&] {
                next = mma.loadStep(thread, origin.nextStep(step),
                                    origin.firstRow, origin.firstFeature);
              });
          gpu::BarrierOp::create(builder, loc);
          llvm::append_range(out, next);
          return out;
        });
    accumulators.resize(accumulatorCount);
    products.write(accumulators, mma, origin);
  };
  if (shape.wgmma) {
    WgmmaWarpgroup warpgroup(builder, loc, shape, tiles, thread);
    emitSteps(warpgroup);
  } else {
    WarpFragments fragments(builder, loc, shape, warp);
    MmaSyncWarp warpMma(builder, loc, shape, tiles, fragments, lane);
    emitSteps(warpMma);
  }
  gpu::TerminatorOp::create(builder, loc);
}

/// What ldmatrix .x4 gives the lanes of a warp whose lanes point it to the
/// rows `address(lane)` of `tile`, in registers[slot][lane][register][e]:
/// for register j, the pair at column 2 (l % 4) + e of the row that lane 8j
/// + l / 4 points to.
void hostLdMatrix(
    OpBuilder &builder, Location loc, Value tile, Value registers, int64_t slot,
    const std::function<std::pair<Value, Value>(Value)> &address) {
  forRange(builder, loc, kLanes, [&](Value lane) {
    Value quad =
        arith::DivUIOp::create(builder, loc, lane, index(builder, loc, 4));
    Value pairColumn = mulIndex(
        builder, loc,
        arith::RemUIOp::create(builder, loc, lane, index(builder, loc, 4)), 2);
    for (int64_t j = 0; j < 4; ++j) {
      auto [row, column] =
          address(addIndex(builder, loc, quad, j * kLdMatrixRows));
      Value first = arith::AddIOp::create(builder, loc, column, pairColumn);
      for (int64_t e = 0; e < 2; ++e) {
        Value value = memref::LoadOp::create(
            builder, loc, tile,
            ValueRange{row, addIndex(builder, loc, first, e)});
        memref::StoreOp::create(builder, loc, value, registers,
                                ValueRange{index(builder, loc, slot), lane,
                                           index(builder, loc, j),
                                           index(builder, loc, e)});
      }
    }
  });
}

/// One mma.sync m16n8k16 on the host, on the fragments as the lanes hold
/// them (a: slot aSlot of `aFragments`; b: registers bFirst and bFirst + 1
/// of slot bSlot of `bFragments`): lane l = 4g + t's accumulator pair p,
/// element e (in accumulators[accumulator][l][p][e]) gains sum_k A(g + 8p,
/// k) B(k, 2t + e), A's element (r, k) read where mma.sync's layout puts it
/// (lane 4 (r % 8) + (k % 8) / 2, register r / 8 + 2 (k / 8)) and B's (k,
/// n) likewise (lane 4n + (k % 8) / 2, register k / 8), element k % 2 of
/// the pair; f16 products, exact in f32, summed in f32.
void hostMmaSync(OpBuilder &builder, Location loc, Value aFragments,
                 int64_t aSlot, Value bFragments, int64_t bSlot, int64_t bFirst,
                 Value accumulators, Value accumulator) {
  auto constant = [&](int64_t value) { return index(builder, loc, value); };
  forRange(builder, loc, kLanes, [&](Value lane) {
    Value g = arith::DivUIOp::create(builder, loc, lane, constant(4));
    Value t = arith::RemUIOp::create(builder, loc, lane, constant(4));
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t e = 0; e < 2; ++e) {
        SmallVector<Value> slot{accumulator, lane, constant(p), constant(e)};
        Value n = addIndex(builder, loc, mulIndex(builder, loc, t, 2), e);
        Value before = memref::LoadOp::create(builder, loc, accumulators, slot);
        Value sum = countedLoop(
            builder, loc, constant(0), constant(kMmaK), {before},
            [&](OpBuilder &b, Location l, Value k, ValueRange carried) {
              Value quarter = arith::DivUIOp::create(
                  b, l, arith::RemUIOp::create(b, l, k, constant(8)),
                  constant(2));
              Value half = arith::DivUIOp::create(b, l, k, constant(8));
              Value element = arith::RemUIOp::create(b, l, k, constant(2));
              Value aLane =
                  arith::AddIOp::create(b, l, mulIndex(b, l, g, 4), quarter);
              Value aRegister = addIndex(b, l, mulIndex(b, l, half, 2), p);
              Value bLane =
                  arith::AddIOp::create(b, l, mulIndex(b, l, n, 4), quarter);
              Value bRegister = addIndex(b, l, half, bFirst);
              Value a = memref::LoadOp::create(
                  b, l, aFragments,
                  ValueRange{constant(aSlot), aLane, aRegister, element});
              Value w = memref::LoadOp::create(
                  b, l, bFragments,
                  ValueRange{constant(bSlot), bLane, bRegister, element});
              Value product = arith::MulFOp::create(
                  b, l, arith::ExtFOp::create(b, l, b.getF32Type(), a),
                  arith::ExtFOp::create(b, l, b.getF32Type(), w));
              return SmallVector<Value>{
                  arith::AddFOp::create(b, l, carried[0], product)};
            })[0];
        memref::StoreOp::create(builder, loc, sum, accumulators, slot);
      }
  });
}

/// The warps' fragments in the host loop nest: each lane's registers in
/// buffers (the accumulators kept between steps), loaded from the same
/// tiles by the same lane addresses as ldmatrix, multiplied as mma.sync
/// multiplies its fragments.
class HostWarps {
public:
  HostWarps(OpBuilder &builder, Location loc, const MmaShape &shape,
            const SharedTiles &tiles)
      : builder(builder), loc(loc), shape(shape), tiles(tiles),
        fm(shape.fragmentsM()), fn(shape.fragmentsN()) {
    Type f16 = builder.getF16Type();
    accumulators = memref::AllocaOp::create(
        builder, loc,
        MemRefType::get({kWarps * fm * shape.productsN(), kLanes, 2, 2},
                        builder.getF32Type()));
    aFragments = memref::AllocaOp::create(
        builder, loc, MemRefType::get({fm, kLanes, 4, 2}, f16));
    bFragments = memref::AllocaOp::create(
        builder, loc, MemRefType::get({fn, kLanes, 4, 2}, f16));
  }

  void zero() {
    forRange(
        builder, loc, kWarps * fm * shape.productsN(), [&](Value accumulator) {
          forRange(builder, loc, kLanes, [&](Value lane) {
            for (int64_t p = 0; p < 2; ++p)
              for (int64_t e = 0; e < 2; ++e)
                memref::StoreOp::create(
                    builder, loc, f32Constant(builder, loc, 0), accumulators,
                    ValueRange{accumulator, lane, index(builder, loc, p),
                               index(builder, loc, e)});
          });
        });
  }

  /// Every warp's products of a step's tiles.
  void multiply() {
    forRange(builder, loc, kWarps, [&](Value warp) { multiply(warp); });
  }

  /// Every warp's results.
  void write(const MmaTiles &mma, const BlockOrigin &origin) {
    forRange(builder, loc, kWarps,
             [&](Value warp) { write(mma, origin, warp); });
  }

private:
  /// Warp `warp`'s products of a step's tiles, as MmaSyncWarp::multiply.
  void multiply(Value warp) {
    WarpFragments fragments(builder, loc, shape, warp);
    for (int64_t k = 0; k < kStepColumns; k += kMmaK) {
      Value column = index(builder, loc, k);
      for (int64_t i = 0; i < fm; ++i)
        hostLdMatrix(
            builder, loc, tiles.activations, aFragments, i, [&](Value lane) {
              return activationRowAddress(
                  builder, loc, lane, fragments.row(builder, loc, i), column);
            });
      for (int64_t j = 0; j < fn; ++j)
        hostLdMatrix(
            builder, loc, tiles.weights, bFragments, j, [&](Value lane) {
              return weightRowAddress(builder, loc, lane,
                                      fragments.feature(builder, loc, j),
                                      column);
            });
      for (int64_t i = 0; i < fm; ++i)
        for (int64_t jn = 0; jn < shape.productsN(); ++jn)
          hostMmaSync(builder, loc, aFragments, i, bFragments,
                      jn / kProductsPerFragment,
                      2 * (jn % kProductsPerFragment), accumulators,
                      accumulator(warp, i, jn));
    }
  }

  /// Warp `warp`'s results, each lane's accumulator elements written from
  /// the buffer as the GPU writes them from its registers.
  void write(const MmaTiles &mma, const BlockOrigin &origin, Value warp) {
    WarpFragments fragments(builder, loc, shape, warp);
    for (int64_t i = 0; i < fm; ++i)
      for (int64_t jn = 0; jn < shape.productsN(); ++jn)
        forRange(builder, loc, kLanes, [&](Value lane) {
          mma.writeAccumulator(
              lane, origin.fragmentRow(fragments, i),
              origin.productFeature(fragments, jn), [&](int64_t p, int64_t e) {
                return memref::LoadOp::create(
                           builder, loc, accumulators,
                           ValueRange{accumulator(warp, i, jn), lane,
                                      index(builder, loc, p),
                                      index(builder, loc, e)})
                    .getResult();
              });
        });
  }

  Value accumulator(Value warp, int64_t i, int64_t jn) {
    return addIndex(builder, loc,
                    mulIndex(builder, loc, warp, fm * shape.productsN()),
                    shape.productIndex(i, jn));
  }

  OpBuilder &builder;
  Location loc;
  const MmaShape &shape;
  const SharedTiles &tiles;
  int64_t fm, fn;
  Value accumulators, aFragments, bFragments;
};

/// The warpgroup's wgmma.mma_async products in the host loop nest: each
/// thread's accumulators in a buffer, each element the sum over 16 columns
/// of A's and B's values read where the descriptors say they are, the
/// swizzle applied to the address as the hardware applies it (so a store
/// the descriptors do not describe reads wrong values).
class HostWarpgroup {
public:
  HostWarpgroup(OpBuilder &builder, Location loc, const MmaShape &shape,
                const SharedTiles &tiles)
      : builder(builder), loc(loc), shape(shape), tiles(tiles) {
    accumulators = memref::AllocaOp::create(
        builder, loc,
        MemRefType::get({shape.wgmmaProducts(), kThreads, shape.blockRows / 2},
                        builder.getF32Type()));
  }

  void zero() {
    forElements([&](Value thread, int64_t h, int64_t e) {
      memref::StoreOp::create(builder, loc, f32Constant(builder, loc, 0),
                              accumulators, slot(thread, h, e));
    });
  }

  /// The step's products, as WgmmaWarpgroup::multiply issues them.
  void multiply() {
    for (int64_t j = 0; j < kStepColumns / kMmaK; ++j)
      for (int64_t h = 0; h < shape.wgmmaProducts(); ++h) {
        auto [a, b] = wgmmaDescriptors(builder, loc, tiles, h, j);
        forElements([&](Value thread, int64_t product, int64_t e) {
          if (product != h)
            return;
          auto [feature, row] = wgmmaElement(builder, loc, thread, h, e);
          Value aRow = addIndex(builder, loc, feature, -h * kWgmmaM);
          SmallVector<Value> at = slot(thread, h, e);
          Value before = memref::LoadOp::create(builder, loc, accumulators, at);
          Value sum = countedLoop(
              builder, loc, index(builder, loc, 0), index(builder, loc, kMmaK),
              {before},
              [&](OpBuilder &, Location, Value k, ValueRange carried) {
                Value x =
                    operand(tiles.weights, tiles.weightsAddress, a, aRow, k);
                Value y = operand(tiles.activations, tiles.activationsAddress,
                                  b, row, k);
                Value product =
                    arith::MulFOp::create(builder, loc, toF32(builder, loc, x),
                                          toF32(builder, loc, y));
                return SmallVector<Value>{
                    arith::AddFOp::create(builder, loc, carried[0], product)};
              })[0];
          memref::StoreOp::create(builder, loc, sum, accumulators, at);
        });
      }
  }

  /// Every thread's results, as WgmmaWarpgroup::write writes them.
  void write(const MmaTiles &mma, const BlockOrigin &origin) {
    forElements([&](Value thread, int64_t h, int64_t e) {
      auto [feature, row] = wgmmaElement(builder, loc, thread, h, e);
      mma.addProduct(
          arith::AddIOp::create(builder, loc, origin.firstRow, row),
          arith::AddIOp::create(builder, loc, origin.firstFeature, feature),
          memref::LoadOp::create(builder, loc, accumulators,
                                 slot(thread, h, e)));
    });
  }

private:
  void forElements(const std::function<void(Value, int64_t, int64_t)> &body) {
    forRange(builder, loc, kThreads, [&](Value thread) {
      for (int64_t h = 0; h < shape.wgmmaProducts(); ++h)
        for (int64_t e = 0; e < shape.blockRows / 2; ++e)
          body(thread, h, e);
    });
  }

  SmallVector<Value> slot(Value thread, int64_t h, int64_t e) {
    return {index(builder, loc, h), thread, index(builder, loc, e)};
  }

  /// The f16 value at row `row`, column `k` of the operand that
  /// `descriptor` describes, read from `tile` (at `tileAddress`): the
  /// address is start + (row / 8) x stride + (row % 8) x 128 + 2 k with
  /// bits 4-6 xor-ed with bits 7-9, then taken as an offset into the tile.
  Value operand(Value tile, Value tileAddress, Value descriptor, Value row,
                Value k) {
    Type i64 = builder.getI64Type();
    auto constant = [&](uint64_t value) {
      return i64Constant(builder, loc, value);
    };
    auto field = [&](int64_t shift) {
      Value bits =
          arith::ShRUIOp::create(builder, loc, descriptor, constant(shift));
      return arith::ShLIOp::create(
          builder, loc,
          arith::AndIOp::create(builder, loc, bits,
                                constant(kDescriptorFieldMask)),
          constant(4));
    };
    auto asI64 = [&](Value value) {
      return arith::IndexCastUIOp::create(builder, loc, i64, value);
    };
    Value row64 = asI64(row);
    Value address = arith::AddIOp::create(
        builder, loc, field(0),
        arith::MulIOp::create(
            builder, loc,
            arith::DivUIOp::create(builder, loc, row64,
                                   constant(kSwizzleAtomRows)),
            field(kDescriptorStrideShift)));
    address = arith::AddIOp::create(
        builder, loc, address,
        arith::MulIOp::create(
            builder, loc,
            arith::RemUIOp::create(builder, loc, row64,
                                   constant(kSwizzleAtomRows)),
            constant(kStepColumns * 2)));
    address = arith::AddIOp::create(
        builder, loc, address,
        arith::MulIOp::create(builder, loc, asI64(k), constant(2)));
    Value atomRow = arith::AndIOp::create(
        builder, loc,
        arith::ShRUIOp::create(builder, loc, address, constant(7)),
        constant(kSwizzleAtomRows - 1));
    address = arith::XOrIOp::create(
        builder, loc, address,
        arith::ShLIOp::create(builder, loc, atomRow, constant(4)));
    Value offset = arith::AndIOp::create(
        builder, loc,
        arith::SubIOp::create(
            builder, loc, address,
            arith::AndIOp::create(builder, loc, asI64(tileAddress),
                                  constant(kDescriptorAddressMask))),
        constant(kDescriptorAddressMask));
    Value element = arith::IndexCastUIOp::create(
        builder, loc, builder.getIndexType(),
        arith::DivUIOp::create(builder, loc, offset, constant(2)));
    Value stride = index(builder, loc, shape.tileStride());
    return memref::LoadOp::create(
        builder, loc, tile,
        ValueRange{arith::DivUIOp::create(builder, loc, element, stride),
                   arith::RemUIOp::create(builder, loc, element, stride)});
  }

  OpBuilder &builder;
  Location loc;
  const MmaShape &shape;
  const SharedTiles &tiles;
  Value accumulators;
};

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

/// The host loop nest over blocks and steps, with `products` (HostWarps or
/// HostWarpgroup) for the tensor cores.
template <typename Products>
void emitBlockLoops(OpBuilder &builder, Location loc, const MmaShape &shape,
                    MmaTiles &mma, Products &products) {
  ThreadWords words(builder, loc, mma.stepWordCount());
  forRange(builder, loc, shape.blocksM(), [&](Value blockM) {
    forRange(builder, loc, shape.blocksN(), [&](Value blockN) {
      forRange(builder, loc, shape.splits, [&](Value split) {
        BlockOrigin origin(builder, loc, shape, blockM, blockN, split);
        products.zero();
        auto load = [&](Value step) {
          forRange(builder, loc, kThreads, [&](Value thread) {
            words.save(thread, mma.loadStep(thread, step, origin.firstRow,
                                            origin.firstFeature));
          });
        };
        load(origin.firstStep);
        stridedRange(builder, loc, origin.firstStep, origin.endStep, 1,
                     [&](Value step) {
                       forRange(builder, loc, kThreads, [&](Value thread) {
                         mma.fillTiles(thread, step, words.restore(thread),
                                       origin.firstFeature);
                       });
                       load(origin.nextStep(step));
                       products.multiply();
                     });
        products.write(mma, origin);
      });
    });
  });
}

/// The GEMM kernel on the host: per block and step, the 128 threads fill
/// the tiles in turn from the words they loaded, then load the next step's
/// (kept per thread in a buffer, as in registers on the GPU), then each
/// warp's fragment products (or the warpgroup's) run; then the results are
/// written.
void emitGemmLoops(OpBuilder &builder, Location loc, const MmaOperands &ops) {
  const MmaShape &shape = ops.shape;
  Value buffer = sharedBuffer(builder, loc, shape, Attribute());
  SharedTiles tiles(builder, loc, shape, buffer);
  MmaTiles mma(builder, loc, ops, tiles, /*gpu=*/false);
  if (shape.wgmma) {
    HostWarpgroup warpgroup(builder, loc, shape, tiles);
    emitBlockLoops(builder, loc, shape, mma, warpgroup);
  } else {
    HostWarps warps(builder, loc, shape, tiles);
    emitBlockLoops(builder, loc, shape, mma, warps);
  }
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

void populateMmaGemmPatterns(RewritePatternSet &patterns, bool gpuLaunch) {
  for (KernelStrategy strategy :
       {KernelStrategy::MmaGemm, KernelStrategy::WgmmaGemm})
    patterns.add<MmaGemmPattern>(patterns.getContext(), strategy, gpuLaunch);
}

} // namespace r2q::lowering
