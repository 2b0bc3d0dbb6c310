//===- MmaGemm.h - mma_gemm and wgmma_gemm: shapes, tiles, products -*- C++
//-*-===//
//
// What the tensor-core GEMM's two files share: MmaGemm.cpp (the row scaling
// kernel, the staging and decoding of a step's tiles, the kernels' loops and
// the pattern) and MmaProducts.cpp (the products of a step's tiles: each
// warp's mma.sync, or the warpgroup's wgmma.mma_async, on the GPU and as
// their host emulations).
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_MMAGEMM_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_MMAGEMM_H

#include "MatmulStrategy.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/MathExtras.h"

#include <memory>

namespace r2q::lowering::mma {

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
/// The static sizes of an mma_gemm kernel and its tiles.
struct MmaShape : KernelDims {
  int64_t groups;
  int64_t blockRows;     // activation rows of a block: 16, 32 or 64
  int64_t blockFeatures; // output features of a block: 64, 128 or 192
  int64_t warpsM, warpsN;
  int64_t splits, stepsPerSplit; // split-K: the steps of one block
  /// Whether whole steps are decoded through tables of the signed sums of
  /// a group's scales (1 to 4 planes, groups of whole steps or of 16 or 32
  /// columns).
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
  /// One set of tiles. wgmma_gemm has two (stages): the products of a step
  /// read one while the threads fill the other with the next step.
  int64_t stageBytes() const {
    return weightTileOffset() + blockFeatures * tileStride() * 2;
  }
  int64_t stages() const { return wgmma ? 2 : 1; }
  int64_t sharedBytes() const {
    return stages() * stageBytes() + tileAlignment();
  }
  /// wgmma_gemm's products per 16 columns: one per 64 features.
  int64_t wgmmaProducts() const { return blockFeatures / kWgmmaM; }
};

/// The shape of the kernel for `operands` and `rows` activation rows.
MmaShape mmaShape(const MatmulOperands &operands, int64_t rows);

/// The block's shared tiles, views of one byte buffer whose start is
/// rounded up to the tiles' alignment (a workgroup buffer is only as
/// aligned as its element type): the activations (blockRows rows, mma.sync's
/// A, wgmma's B) and the decoded weight (blockFeatures rows, a feature per
/// row: mma.sync's B, column-major, wgmma's A), f16. mma_gemm's rows are
/// 72 f16 (ldmatrix reads 16-byte aligned rows); wgmma_gemm's are 64,
/// their 16-byte pieces swizzled (pieceColumn).
struct SharedTiles {
  mlir::Value activations, weights;
  /// The tiles' addresses (on the GPU in the shared window, which wgmma's
  /// descriptors take).
  mlir::Value activationsAddress, weightsAddress;
  /// wgmma_gemm: the descriptor of the activation tile's first row (i64),
  /// to which the offsets of the other operands' rows / 16 are added.
  mlir::Value descriptor;
  bool swizzled;

  /// The tiles of stage `stage` (an index; none: stage 0).
  SharedTiles(mlir::OpBuilder &builder, mlir::Location loc,
              const MmaShape &shape, mlir::Value buffer,
              mlir::Value stage = nullptr);

  /// The column where the 16-byte piece of tile row `row` that holds
  /// columns `column` + [0, 8) is stored: itself, or in wgmma_gemm's
  /// swizzled tiles piece (column / 8) ^ (row % 8).
  mlir::Value pieceColumn(mlir::OpBuilder &builder, mlir::Location loc,
                          mlir::Value row, mlir::Value column) const;
};

/// A block's first activation row and feature and its steps, from its 3-D
/// index (output tile and split of K).
struct BlockOrigin {
  mlir::OpBuilder &builder;
  mlir::Location loc;
  mlir::Value firstRow, firstFeature;
  mlir::Value firstStep, endStep; // the block's split of K, in steps

  BlockOrigin(mlir::OpBuilder &builder, mlir::Location loc,
              const MmaShape &shape, mlir::Value blockM, mlir::Value blockN,
              mlir::Value split);

  /// The step after `step` whose words the kernel loads while it
  /// multiplies `step`'s tiles: the block's last step again after its last
  /// (loaded, not used).
  mlir::Value nextStep(mlir::Value step) const;
};

/// Adds `product` (f32, before the rows' inverse powers) to the result at
/// activation row `m`, feature `n` (MmaTiles::addProduct: nothing outside
/// M x N).
using AddProduct =
    llvm::function_ref<void(mlir::Value m, mlir::Value n, mlir::Value product)>;

/// The tensor-core products in the GPU kernel: accumulators carried as
/// values through the step loop.
class GpuProducts {
public:
  virtual ~GpuProducts() = default;
  /// The accumulators before the first step.
  virtual llvm::SmallVector<mlir::Value> zeros() = 0;
  /// The accumulators after the products of a step's `tiles`; `before`
  /// emits what the products should hide (the next step's loads, and with
  /// wgmma the filling of the next step's tiles).
  virtual llvm::SmallVector<mlir::Value>
  multiply(const SharedTiles &tiles, mlir::ValueRange accumulators,
           llvm::function_ref<void()> before) = 0;
  /// Adds every element of the accumulators after the last step.
  virtual void write(llvm::ArrayRef<mlir::Value> accumulators,
                     const BlockOrigin &origin, AddProduct add) = 0;
};

/// mma_gemm's warps (mma.sync) or wgmma_gemm's warpgroup, for the thread
/// `lane` of warp `warp`.
std::unique_ptr<GpuProducts> gpuProducts(mlir::OpBuilder &builder,
                                         mlir::Location loc,
                                         const MmaShape &shape,
                                         mlir::Value lane, mlir::Value warp);

/// The same products in the host loop nest, for every warp of a block at
/// once: each lane's registers in buffers.
class HostProducts {
public:
  virtual ~HostProducts() = default;
  virtual void zero() = 0;
  virtual void multiply(const SharedTiles &tiles) = 0;
  virtual void write(const BlockOrigin &origin, AddProduct add) = 0;
};

std::unique_ptr<HostProducts> hostProducts(mlir::OpBuilder &builder,
                                           mlir::Location loc,
                                           const MmaShape &shape);

/// The wgmma descriptor (128-byte swizzle, 1024 bytes from one 8-row atom
/// to the next) of an operand whose first row is at `address` (index) in
/// shared memory.
mlir::Value wgmmaDescriptor(mlir::OpBuilder &builder, mlir::Location loc,
                            mlir::Value address);

/// An inline PTX statement without operands, ordered with memory accesses.
void ptxStatement(mlir::OpBuilder &builder, mlir::Location loc,
                  llvm::StringRef statement);

} // namespace r2q::lowering::mma

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_MMAGEMM_H
