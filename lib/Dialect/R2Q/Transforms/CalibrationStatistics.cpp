//===- CalibrationStatistics.cpp - X^T X per layer, from a file -----------===//

#include "r2q/Dialect/R2Q/Transforms/CalibrationStatistics.h"
#include "r2q/Quant/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace r2q {

namespace {

Error failure(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

} // namespace

Expected<CalibrationStatistics>
CalibrationStatistics::load(const std::string &path) {
  CalibrationStatistics result;
  result.indexPath = path;
  if (sys::fs::is_directory(path)) {
    SmallString<256> index(path);
    sys::path::append(index, "index.json");
    result.indexPath = index.str().str();
  }
  result.directory = sys::path::parent_path(result.indexPath).str();
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(result.indexPath);
  if (!buffer)
    return failure("cannot read calibration index '" + result.indexPath +
                   "': " + buffer.getError().message());
  Expected<json::Value> parsed = json::parse((*buffer)->getBuffer());
  if (!parsed)
    return failure("calibration index '" + result.indexPath +
                   "' is not JSON: " + toString(parsed.takeError()));
  const json::Object *layers = parsed->getAsObject()
                                   ? parsed->getAsObject()->getObject("layers")
                                   : nullptr;
  if (!layers)
    return failure("calibration index '" + result.indexPath +
                   "' has no \"layers\" object");
  for (const auto &[name, value] : *layers) {
    const json::Object *fields = value.getAsObject();
    std::optional<StringRef> gram =
        fields ? fields->getString("xtx") : std::nullopt;
    std::optional<StringRef> diagonal =
        fields ? fields->getString("diag") : std::nullopt;
    std::optional<int64_t> k = fields ? fields->getInteger("K") : std::nullopt;
    if (!gram || !diagonal || !k)
      return failure("calibration index '" + result.indexPath + "': layer '" +
                     name.str() + "' needs \"xtx\", \"diag\" and \"K\"");
    result.layers[name.str()] = {gram->str(), diagonal->str(), *k,
                                 fields->getInteger("tokens").value_or(0)};
  }
  return result;
}

Expected<LayerCalibration>
CalibrationStatistics::read(StringRef layer, int64_t k, bool full) const {
  const Entry &entry = layers.find(layer)->second;
  if (entry.k != k)
    return failure("calibration statistics of layer '" + layer + "' are for " +
                   Twine(entry.k) + " input features, the layer has " +
                   Twine(k));
  SmallString<256> file(directory);
  sys::path::append(file, full ? entry.gramFile : entry.diagonalFile);
  std::vector<int64_t> shape;
  LayerCalibration result;
  std::vector<double> &values = full ? result.gram : result.diagonal;
  if (quant::Status status =
          quant::readNpyFloat64(file.str().str(), shape, values);
      !status)
    return failure(status.message());
  std::vector<int64_t> expected =
      full ? std::vector<int64_t>{k, k} : std::vector<int64_t>{k};
  if (shape != expected)
    return failure(file + ": expected " + (full ? "K x K" : "K") +
                   " values for K = " + Twine(k));
  result.tokens = entry.tokens;
  return result;
}

llvm::Expected<std::shared_ptr<const CalibrationStatistics>>
CalibrationStatistics::loadShared(const std::string &path) {
  llvm::Expected<CalibrationStatistics> loaded = load(path);
  if (!loaded)
    return loaded.takeError();
  return std::make_shared<const CalibrationStatistics>(std::move(*loaded));
}

} // namespace r2q
