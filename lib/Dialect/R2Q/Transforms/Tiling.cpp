//===- Tiling.cpp - Kernel candidates and tuning files --------------------===//
//
// The candidate CPU kernels of an r2q.matmul, the key of a layer in a tuning
// file, and reading and writing tuning files (llvm/Support/JSON.h). Shared by
// r2q-tune-tiling and r2q-bench-tiling, which measures the candidates.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Tiling.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace r2q {
namespace {

/// The format marker of a tuning file.
constexpr llvm::StringLiteral kTilingFormat = "r2q-tiling";

std::string typeName(Type type) {
  std::string name;
  llvm::raw_string_ostream os(name);
  type.print(os);
  return name;
}

llvm::Error fileError(llvm::StringRef path, const llvm::Twine &message) {
  return llvm::createStringError("tuning file '" + path + "': " + message);
}

/// The field `name` of entry `index`, or an error naming both.
template <typename T>
llvm::Expected<T> field(llvm::StringRef path, size_t index,
                        const llvm::json::Object &entry, llvm::StringRef name) {
  std::optional<T> value;
  if constexpr (std::is_same_v<T, int64_t>)
    value = entry.getInteger(name);
  else if constexpr (std::is_same_v<T, double>)
    value = entry.getNumber(name);
  else if (std::optional<llvm::StringRef> text = entry.getString(name))
    value = text->str();
  if (!value)
    return fileError(
        path, llvm::formatv(
                  "entry {0} has no {1} '{2}'", index,
                  std::is_same_v<T, std::string> ? "string" : "number", name));
  return *value;
}

llvm::Expected<TilingEntry> parseEntry(llvm::StringRef path, size_t index,
                                       const llvm::json::Value &value) {
  const llvm::json::Object *entry = value.getAsObject();
  if (!entry)
    return fileError(path, llvm::formatv("entry {0} is not an object", index));
  TilingEntry parsed;
  TilingKey &key = parsed.key;
  std::pair<int64_t *, llvm::StringRef> integers[] = {
      {&key.n, "n"},
      {&key.k, "k"},
      {&key.groupSize, "group_size"},
      {&key.planes, "planes"},
      {&key.rows, "rows"},
      {&key.version, "version"},
      {&parsed.choice.tileRows, "tile_rows"},
      {&parsed.choice.vectorWidth, "vector_width"}};
  for (auto [slot, name] : integers) {
    auto read = field<int64_t>(path, index, *entry, name);
    if (!read)
      return read.takeError();
    *slot = *read;
  }
  std::pair<std::string *, llvm::StringRef> strings[] = {
      {&key.input, "input"}, {&key.scales, "scales"}, {&key.target, "target"}};
  for (auto [slot, name] : strings) {
    auto read = field<std::string>(path, index, *entry, name);
    if (!read)
      return read.takeError();
    *slot = *read;
  }
  auto strategy = field<std::string>(path, index, *entry, "strategy");
  if (!strategy)
    return strategy.takeError();
  std::optional<KernelStrategy> symbol = symbolizeKernelStrategy(*strategy);
  if (!symbol || isGPUStrategy(*symbol))
    return fileError(path, llvm::formatv("entry {0} ({1}) names strategy "
                                         "'{2}', not a CPU one",
                                         index, key.str(), *strategy));
  if (*symbol == KernelStrategy::Int8Gemm)
    return fileError(path, llvm::formatv("entry {0} ({1}) names strategy "
                                         "'{2}', which rounds activations: "
                                         "the tuner chooses among exact "
                                         "strategies",
                                         index, key.str(), *strategy));
  parsed.choice.strategy = *symbol;
  if (parsed.choice.tileRows < 0 || parsed.choice.vectorWidth < 8 ||
      !llvm::isPowerOf2_64(parsed.choice.vectorWidth))
    return fileError(path,
                     llvm::formatv("entry {0} ({1}) has tile_rows {2} "
                                   "and vector_width {3}: expected "
                                   "tile_rows >= 0 and a power of two "
                                   "of at least 8",
                                   index, key.str(), parsed.choice.tileRows,
                                   parsed.choice.vectorWidth));
  parsed.seconds = entry->getNumber("seconds").value_or(0);
  parsed.defaultSeconds = entry->getNumber("default_seconds").value_or(0);
  return parsed;
}

} // namespace

std::string TilingKey::str() const {
  return llvm::formatv("N={0} K={1} group_size={2} planes={3} rows={4} "
                       "input={5} scales={6} target={7} version={8}",
                       n, k, groupSize, planes, rows, input, scales,
                       target.empty() ? "(none)" : target, version)
      .str();
}

bool TilingKey::sameLayer(const TilingKey &other) const {
  return n == other.n && k == other.k && groupSize == other.groupSize &&
         planes == other.planes && rows == other.rows && input == other.input &&
         scales == other.scales;
}

bool TilingKey::operator==(const TilingKey &other) const {
  return sameLayer(other) && target == other.target && version == other.version;
}

std::string TilingChoice::str() const {
  return llvm::formatv("{0} tile_rows={1} vector_width={2}",
                       stringifyKernelStrategy(strategy), tileRows, vectorWidth)
      .str();
}

std::string tilingTarget(llvm::StringRef targetFeatures) {
  llvm::StringMap<bool> features = cpuTargetFeatures(targetFeatures);
  SmallVector<std::string> enabled;
  for (llvm::StringRef name :
       {"avx", "avx2", "avx512bw", "avx512f", "avx512vl", "fma"})
    if (features.lookup(name))
      enabled.push_back("+" + name.str());
  return llvm::join(enabled, ",");
}

std::optional<TilingKey> tilingKeyOf(MatmulOp op,
                                     llvm::StringRef targetFeatures) {
  RankedTensorType input = op.getInput().getType();
  auto signs = cast<RankedTensorType>(op.getSigns().getType());
  auto scales = cast<RankedTensorType>(op.getScales().getType());
  if (!input.hasStaticShape() || !signs.hasStaticShape())
    return std::nullopt;
  TilingKey key;
  key.rows = input.getNumElements() / input.getShape().back();
  key.k = input.getShape().back();
  key.n = signs.getDimSize(1);
  key.planes = signs.getDimSize(0);
  key.groupSize = op.getGroupSize();
  key.input = typeName(input.getElementType());
  key.scales = typeName(scales.getElementType());
  key.target = tilingTarget(targetFeatures);
  return key;
}

std::vector<TilingChoice> tilingCandidates(MatmulOp op,
                                           llvm::StringRef targetFeatures) {
  std::optional<TilingKey> key = tilingKeyOf(op, targetFeatures);
  if (!key)
    return {};
  std::vector<TilingChoice> candidates;
  int64_t width = cpuVectorWidth(targetFeatures);
  if (cpuLutTarget(cpuTargetFeatures(targetFeatures)) &&
      op.lutGemvUnsupported().empty())
    candidates.push_back({KernelStrategy::LutGemv, 16, width});
  candidates.push_back({KernelStrategy::VectorGemv, 0, width});
  for (int64_t lanes : {16, 32, 64})
    if (lanes != width)
      candidates.push_back({KernelStrategy::VectorGemv, 0, lanes});
  int64_t roundedN = llvm::alignTo(key->n, 8);
  for (int64_t rows = 8; rows <= 256 && rows <= roundedN; rows *= 2)
    candidates.push_back({KernelStrategy::TiledDecode, rows, width});
  return candidates;
}

KernelAttr tilingKernel(MatmulOp op, const TilingChoice &choice,
                        int64_t threads, llvm::StringRef targetFeatures) {
  auto signs = cast<RankedTensorType>(op.getSigns().getType());
  int64_t k = op.getInput().getType().getShape().back();
  bool lut = choice.strategy == KernelStrategy::LutGemv;
  std::optional<KernelTarget> lutTarget =
      cpuLutTarget(cpuTargetFeatures(targetFeatures));
  return KernelAttr::get(
      op.getContext(), choice.strategy, std::nullopt, /*maxRows=*/0,
      choice.vectorWidth, choice.tileRows,
      cpuKernelThreads(signs.getDimSize(1), k, choice.tileRows, threads),
      KernelPrecision::Exact,
      lut && lutTarget ? *lutTarget : KernelTarget::AVX2);
}

llvm::Expected<std::vector<TilingEntry>> readTilingFile(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return fileError(path, "cannot be read: " + buffer.getError().message());
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fileError(path, "is not JSON: " + toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root || root->getString("format") != kTilingFormat)
    return fileError(path, "is not an r2q tuning file (expected an object "
                           "with \"format\": \"r2q-tiling\")");
  const llvm::json::Array *entries = root->getArray("entries");
  if (!entries)
    return fileError(path, "has no \"entries\" array");
  std::vector<TilingEntry> parsed;
  for (auto [index, value] : llvm::enumerate(*entries)) {
    auto entry = parseEntry(path, index, value);
    if (!entry)
      return entry.takeError();
    parsed.push_back(std::move(*entry));
  }
  return parsed;
}

llvm::Error writeTilingFile(llvm::StringRef path,
                            llvm::ArrayRef<TilingEntry> entries) {
  llvm::json::Array array;
  for (const TilingEntry &entry : entries) {
    const TilingKey &key = entry.key;
    array.push_back(llvm::json::Object{
        {"n", key.n},
        {"k", key.k},
        {"group_size", key.groupSize},
        {"planes", key.planes},
        {"rows", key.rows},
        {"input", key.input},
        {"scales", key.scales},
        {"target", key.target},
        {"version", key.version},
        {"strategy", stringifyKernelStrategy(entry.choice.strategy)},
        {"tile_rows", entry.choice.tileRows},
        {"vector_width", entry.choice.vectorWidth},
        {"seconds", entry.seconds},
        {"default_seconds", entry.defaultSeconds}});
  }
  std::error_code error;
  llvm::raw_fd_ostream os(path, error);
  if (error)
    return fileError(path, "cannot be written: " + error.message());
  os << llvm::formatv("{0:2}\n", llvm::json::Value(llvm::json::Object{
                                     {"format", kTilingFormat},
                                     {"entries", std::move(array)}}));
  return llvm::Error::success();
}

} // namespace r2q
