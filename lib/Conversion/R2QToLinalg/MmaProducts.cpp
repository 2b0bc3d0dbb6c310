//===- MmaProducts.cpp - The tensor-core products of mma_gemm's steps ----===//
//
// The products of a block's step in mma_gemm and wgmma_gemm, behind
// GpuProducts and HostProducts (MmaGemm.h): on the GPU, each warp's
// ldmatrix loads and mma.sync m16n8k16 products (mma_gemm) or the
// warpgroup's wgmma.mma_async from swizzled shared memory (wgmma_gemm, sm_90a);
// on the host, the same loads and products emulated on each lane's
// registers in buffers, by the PTX ISA's fragment layouts and descriptor
// addressing, so that the CPU tests run the GPU code's index math.
//
//===----------------------------------------------------------------------===//

#include "MmaGemm.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace r2q::lowering::mma {
namespace {

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

  /// The result's row and feature where m16n8 product jn of fragment row i
  /// (of fragment column jn / 2) starts, in the block at `origin`.
  std::pair<Value, Value> productOrigin(const BlockOrigin &origin, int64_t i,
                                        int64_t jn) const {
    OpBuilder &builder = origin.builder;
    Location loc = origin.loc;
    return {arith::AddIOp::create(builder, loc, origin.firstRow,
                                  row(builder, loc, i)),
            addIndex(builder, loc,
                     arith::AddIOp::create(
                         builder, loc, origin.firstFeature,
                         feature(builder, loc, jn / kProductsPerFragment)),
                     (jn % kProductsPerFragment) * kMmaN)};
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

/// Adds lane `lane`'s elements of an m16n8 product whose first row and
/// feature are `first`, element e of pair p (row g + 8p, column 2t + e)
/// being `value(p, e)`, through `add`.
void addProductElements(OpBuilder &builder, Location loc, Value lane,
                        std::pair<Value, Value> first,
                        llvm::function_ref<Value(int64_t, int64_t)> value,
                        AddProduct add) {
  for (int64_t pair = 0; pair < 2; ++pair)
    for (int64_t e = 0; e < 2; ++e) {
      auto [row, column] = accumulatorElement(builder, loc, lane, pair, e);
      add(arith::AddIOp::create(builder, loc, first.first, row),
          arith::AddIOp::create(builder, loc, first.second, column),
          value(pair, e));
    }
}

/// A warp's mma.sync fragments in the GPU kernel: its accumulators (per
/// 16 x 16 fragment of its tile, two m16n8 products), carried as values,
/// and their products on the block's shared tiles.
class MmaSyncWarp : public GpuProducts {
public:
  MmaSyncWarp(OpBuilder &builder, Location loc, const MmaShape &shape,
              Value lane, Value warp)
      : builder(builder), loc(loc), shape(shape),
        fragments(builder, loc, shape, warp), lane(lane),
        fm(shape.fragmentsM()), fn(shape.fragmentsN()) {}

  /// fragmentsM x productsN zero accumulators (vector<2x2xf32>: row p is
  /// lane l's pair in row g + 8p), row-major.
  SmallVector<Value> zeros() override {
    Value zero = arith::ConstantOp::create(
        builder, loc, builder.getZeroAttr(accumulatorType()));
    return SmallVector<Value>(fm * shape.productsN(), zero);
  }

  /// The accumulators after the products of a step's tiles: per 16
  /// columns, the warp's A fragments and B fragments (two per 16
  /// features) loaded once with ldmatrix .x4, every pair multiplied.
  /// `before` emits what the products should hide (the next step's loads).
  SmallVector<Value> multiply(const SharedTiles &tiles, ValueRange in,
                              llvm::function_ref<void()> before) override {
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
  void write(ArrayRef<Value> acc, const BlockOrigin &origin,
             AddProduct add) override {
    for (int64_t i = 0; i < fm; ++i)
      for (int64_t jn = 0; jn < shape.productsN(); ++jn)
        addProductElements(
            builder, loc, lane, fragments.productOrigin(origin, i, jn),
            [&](int64_t pair, int64_t e) {
              return vector::ExtractOp::create(builder, loc,
                                               acc[shape.productIndex(i, jn)],
                                               ArrayRef<int64_t>{pair, e})
                  .getResult();
            },
            add);
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
  WarpFragments fragments;
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

/// The address bits a descriptor holds (18: bits 4-17 in its 14-bit field).
constexpr uint64_t kDescriptorAddressMask = 0x3FFFF;
constexpr uint64_t kDescriptorFieldMask = 0x3FFF;
constexpr int64_t kDescriptorStrideShift = 32;
constexpr uint64_t kDescriptorFixedFields =
    (uint64_t{16 >> 4} << 16) | // LBO (unused)
    (uint64_t{kSwizzleAtomBytes >> 4} << kDescriptorStrideShift) | // SBO
    (uint64_t{1} << 62); // 128-byte swizzle

Value i64Constant(OpBuilder &builder, Location loc, uint64_t value) {
  return arith::ConstantOp::create(
      builder, loc, builder.getI64IntegerAttr(static_cast<int64_t>(value)));
}

} // namespace

Value wgmmaDescriptor(OpBuilder &builder, Location loc, Value address) {
  Value start =
      arith::IndexCastUIOp::create(builder, loc, builder.getI64Type(), address);
  Value field = arith::ShRUIOp::create(
      builder, loc,
      arith::AndIOp::create(builder, loc, start,
                            i64Constant(builder, loc, kDescriptorAddressMask)),
      i64Constant(builder, loc, 4));
  return arith::OrIOp::create(
      builder, loc, field, i64Constant(builder, loc, kDescriptorFixedFields));
}

namespace {

/// The descriptors of product h's A (features 64 h + [0, 64)) and B for
/// columns 16 j + [0, 16) of a step: the tiles' descriptor plus the
/// offsets / 16 (the address field cannot carry out of its 14 bits: shared
/// memory ends below 2^18 bytes).
std::pair<Value, Value> wgmmaDescriptors(OpBuilder &builder, Location loc,
                                         const MmaShape &shape,
                                         const SharedTiles &tiles, int64_t h,
                                         int64_t j) {
  int64_t rowBytes = kStepColumns * 2, sliceBytes = kMmaK * 2;
  auto at = [&](int64_t offset) {
    return arith::AddIOp::create(builder, loc, tiles.descriptor,
                                 i64Constant(builder, loc, offset >> 4));
  };
  return {
      at(shape.weightTileOffset() + h * kWgmmaM * rowBytes + j * sliceBytes),
      at(j * sliceBytes)};
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
class WgmmaWarpgroup : public GpuProducts {
public:
  WgmmaWarpgroup(OpBuilder &builder, Location loc, const MmaShape &shape,
                 Value thread)
      : builder(builder), loc(loc), shape(shape), thread(thread) {}

  SmallVector<Value> zeros() override {
    return SmallVector<Value>(
        shape.wgmmaProducts(),
        LLVM::ZeroOp::create(builder, loc, accumulatorType()));
  }

  /// The accumulators after a step's products: fenced (the registers), all
  /// issued as one group, then `before` (what they should hide: the next
  /// step's tiles filled into the other set and the loads of the step
  /// after), then a wait for the group.
  SmallVector<Value> multiply(const SharedTiles &tiles, ValueRange in,
                              llvm::function_ref<void()> before) override {
    ptxStatement(builder, loc, "wgmma.fence.sync.aligned;");
    SmallVector<Value> acc(in);
    for (int64_t j = 0; j < kStepColumns / kMmaK; ++j)
      for (int64_t h = 0; h < shape.wgmmaProducts(); ++h) {
        auto [a, b] = wgmmaDescriptors(builder, loc, shape, tiles, h, j);
        acc[h] = product(acc[h], a, b);
      }
    ptxStatement(builder, loc, "wgmma.commit_group.sync.aligned;");
    before();
    ptxStatement(builder, loc, "wgmma.wait_group.sync.aligned 0;");
    return acc;
  }

  /// Writes every accumulator's elements to the result.
  void write(ArrayRef<Value> acc, const BlockOrigin &origin,
             AddProduct add) override {
    for (int64_t h = 0; h < shape.wgmmaProducts(); ++h)
      for (int64_t e = 0; e < shape.blockRows / 2; ++e) {
        auto [feature, row] = wgmmaElement(builder, loc, thread, h, e);
        add(arith::AddIOp::create(builder, loc, origin.firstRow, row),
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
  Value thread;
};

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
class HostWarps : public HostProducts {
public:
  HostWarps(OpBuilder &builder, Location loc, const MmaShape &shape)
      : builder(builder), loc(loc), shape(shape), fm(shape.fragmentsM()),
        fn(shape.fragmentsN()) {
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

  void zero() override {
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
  void multiply(const SharedTiles &tiles) override {
    forRange(builder, loc, kWarps, [&](Value warp) { multiply(tiles, warp); });
  }

  /// Every warp's results.
  void write(const BlockOrigin &origin, AddProduct add) override {
    forRange(builder, loc, kWarps,
             [&](Value warp) { write(origin, add, warp); });
  }

private:
  /// Warp `warp`'s products of a step's tiles, as MmaSyncWarp::multiply.
  void multiply(const SharedTiles &tiles, Value warp) {
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
  void write(const BlockOrigin &origin, AddProduct add, Value warp) {
    WarpFragments fragments(builder, loc, shape, warp);
    for (int64_t i = 0; i < fm; ++i)
      for (int64_t jn = 0; jn < shape.productsN(); ++jn)
        forRange(builder, loc, kLanes, [&](Value lane) {
          addProductElements(
              builder, loc, lane, fragments.productOrigin(origin, i, jn),
              [&](int64_t p, int64_t e) {
                return memref::LoadOp::create(
                           builder, loc, accumulators,
                           ValueRange{accumulator(warp, i, jn), lane,
                                      index(builder, loc, p),
                                      index(builder, loc, e)})
                    .getResult();
              },
              add);
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
  int64_t fm, fn;
  Value accumulators, aFragments, bFragments;
};

/// The warpgroup's wgmma.mma_async products in the host loop nest: each
/// thread's accumulators in a buffer, each element the sum over 16 columns
/// of A's and B's values read where the descriptors say they are, the
/// swizzle applied to the address as the hardware applies it (so a store
/// the descriptors do not describe reads wrong values).
class HostWarpgroup : public HostProducts {
public:
  HostWarpgroup(OpBuilder &builder, Location loc, const MmaShape &shape)
      : builder(builder), loc(loc), shape(shape) {
    accumulators = memref::AllocaOp::create(
        builder, loc,
        MemRefType::get({shape.wgmmaProducts(), kThreads, shape.blockRows / 2},
                        builder.getF32Type()));
  }

  void zero() override {
    forElements([&](Value thread, int64_t h, int64_t e) {
      memref::StoreOp::create(builder, loc, f32Constant(builder, loc, 0),
                              accumulators, slot(thread, h, e));
    });
  }

  /// The step's products, as WgmmaWarpgroup::multiply issues them.
  void multiply(const SharedTiles &tiles) override {
    for (int64_t j = 0; j < kStepColumns / kMmaK; ++j)
      for (int64_t h = 0; h < shape.wgmmaProducts(); ++h) {
        auto [a, b] = wgmmaDescriptors(builder, loc, shape, tiles, h, j);
        forElements(h, [&](Value thread, int64_t e) {
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
  void write(const BlockOrigin &origin, AddProduct add) override {
    forElements([&](Value thread, int64_t h, int64_t e) {
      auto [feature, row] = wgmmaElement(builder, loc, thread, h, e);
      add(arith::AddIOp::create(builder, loc, origin.firstRow, row),
          arith::AddIOp::create(builder, loc, origin.firstFeature, feature),
          memref::LoadOp::create(builder, loc, accumulators,
                                 slot(thread, h, e)));
    });
  }

private:
  /// `body(thread, h, e)` for every thread and element e of its
  /// accumulator of every product h.
  void forElements(const std::function<void(Value, int64_t, int64_t)> &body) {
    forRange(builder, loc, kThreads, [&](Value thread) {
      for (int64_t h = 0; h < shape.wgmmaProducts(); ++h)
        for (int64_t e = 0; e < shape.blockRows / 2; ++e)
          body(thread, h, e);
    });
  }
  /// `body(thread, e)` for every thread and element e of its accumulator
  /// of product h.
  void forElements(int64_t h, const std::function<void(Value, int64_t)> &body) {
    forRange(builder, loc, kThreads, [&](Value thread) {
      for (int64_t e = 0; e < shape.blockRows / 2; ++e)
        body(thread, e);
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
  Value accumulators;
};

} // namespace

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

std::unique_ptr<GpuProducts> gpuProducts(OpBuilder &builder, Location loc,
                                         const MmaShape &shape, Value lane,
                                         Value warp) {
  if (!shape.wgmma)
    return std::make_unique<MmaSyncWarp>(builder, loc, shape, lane, warp);
  Value thread = arith::AddIOp::create(
      builder, loc, mulIndex(builder, loc, warp, kLanes), lane);
  return std::make_unique<WgmmaWarpgroup>(builder, loc, shape, thread);
}

std::unique_ptr<HostProducts> hostProducts(OpBuilder &builder, Location loc,
                                           const MmaShape &shape) {
  if (shape.wgmma)
    return std::make_unique<HostWarpgroup>(builder, loc, shape);
  return std::make_unique<HostWarps>(builder, loc, shape);
}

} // namespace r2q::lowering::mma
