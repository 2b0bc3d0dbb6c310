//===- TuneGroupSize.cpp - Group size and planes per layer ----------------===//
//
// Measures every candidate scheme on every layer's constant weight and lets
// the numerics core's bit allocation choose (r2q/Quant/BitAllocation.h).
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"
#include "r2q/Dialect/R2Q/Transforms/CalibrationStatistics.h"
#include "r2q/Dialect/R2Q/Transforms/LinearLayers.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"
#include "r2q/Quant/BitAllocation.h"
#include "r2q/Quant/Calibration.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

namespace r2q {
#define GEN_PASS_DEF_R2QTUNEGROUPSIZEPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// A scheme the pass may choose; group size 0 is one group per row.
struct Candidate {
  int64_t groupSize;
  int64_t planes;
  Method method;
};

/// What one candidate scheme costs and leaves on one weight.
struct Measurement {
  SchemeAttr scheme;
  int64_t bits = 0;
  double squaredError = 0;
};

/// A weight to tune: the layers that share it and its measurements.
struct TunedWeight {
  std::string name;
  SmallVector<Operation *> layers;
  /// Input features, and N x K.
  int64_t k = 0;
  int64_t weights = 0;
  double squaredNorm = 0;
  double importance = 1;
  std::vector<Measurement> candidates;
  /// The uniform scheme it is compared with, when it applies.
  std::optional<Measurement> baseline;

  double relativeError(const Measurement &measurement) const {
    return squaredNorm > 0 ? std::sqrt(measurement.squaredError / squaredNorm)
                           : 0;
  }
  double bitsPerWeight(const Measurement &measurement) const {
    return double(measurement.bits) / weights;
  }
};

constexpr int64_t kBaselineGroupSize = 128, kBaselinePlanes = 2;

/// Reads `{"layer name": weight, ...}`.
llvm::Expected<llvm::StringMap<double>> loadImportance(StringRef path) {
  auto fail = [&](const Twine &why) {
    return llvm::createStringError("importance file '" + path + "': " + why);
  };
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return fail(buffer.getError().message());
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fail(llvm::toString(json.takeError()));
  const llvm::json::Object *object = json->getAsObject();
  if (!object)
    return fail("expected an object mapping layer names to numbers");
  llvm::StringMap<double> importance;
  for (const auto &[name, value] : *object) {
    std::optional<double> number = value.getAsNumber();
    if (!number || !std::isfinite(*number) || *number < 0)
      return fail("the weight of layer '" + name.str() +
                  "' is not a finite non-negative number");
    importance[name.str()] = *number;
  }
  return importance;
}

/// A number as the user wrote it (2.25, 0.001), not in exponent notation.
std::string formatOption(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", value);
  return text;
}

std::string describe(SchemeAttr scheme, int64_t k) {
  std::string groups =
      llvm::formatv("group size {0}{1}", scheme.getGroupSize(),
                    scheme.getGroupSize() == k ? " (per-channel)" : "");
  return llvm::formatv("{0}, {1} planes, {2}", groups, scheme.getPlanes(),
                       stringifyMethod(scheme.getMethod()))
      .str();
}

class TuneGroupSizePass
    : public impl::R2QTuneGroupSizePassBase<TuneGroupSizePass> {
public:
  using Base::Base;

  LogicalResult initialize(MLIRContext *context) override;
  void runOnOperation() override;

private:
  LogicalResult parseCandidates(MLIRContext *context);
  /// The weights of the module's linear layers, each measured with every
  /// candidate that applies to its shape.
  FailureOr<std::vector<TunedWeight>> measureWeights();
  /// Quantizes `weights` with `scheme` (calibrated with `columnWeights`,
  /// the diagonal of X^T X, when given) and measures it.
  LogicalResult measure(const quant::MatrixView &weights,
                        std::span<const double> columnWeights,
                        SchemeAttr scheme, Measurement &result,
                        std::string &error) const;
  /// The diagonal of the layer's X^T X from calibration=, or an empty
  /// vector (with a warning where the file lacks the layer).
  FailureOr<std::vector<double>> readColumnWeights(Operation *layer,
                                                   StringRef name, int64_t k);
  FailureOr<quant::Allocation> choose(ArrayRef<TunedWeight> weights);
  void report(ArrayRef<TunedWeight> weights,
              const quant::Allocation &allocation);

  std::vector<Candidate> candidates;
  quant::OutlierPolicy outlierPolicy;
  std::shared_ptr<const llvm::StringMap<double>> importanceByLayer;
  /// X^T X of layer inputs (calibration=), shared by the pass's clones.
  std::shared_ptr<const CalibrationStatistics> calibrationStatistics;
};

LogicalResult TuneGroupSizePass::initialize(MLIRContext *context) {
  auto emitError = [&] {
    return mlir::emitError(UnknownLoc::get(context)) << "r2q-tune-group-size: ";
  };
  bool budget = budgetBitsPerWeight != 0, target = maxRelativeError != 0;
  if (budget == target) {
    emitError() << "give exactly one of budget-bpw and max-rel-error";
    return failure();
  }
  if (!(budgetBitsPerWeight >= 0) || !(maxRelativeError >= 0)) {
    emitError() << "budget-bpw and max-rel-error must be positive";
    return failure();
  }
  if (failed(
          verifyOutlierOptions(emitError, outlierFraction, outlierThreshold)))
    return failure();
  outlierPolicy =
      quant::OutlierPolicy{outlierFraction, outlierThreshold, outlierType};
  if (!importance.empty()) {
    llvm::Expected<llvm::StringMap<double>> loaded = loadImportance(importance);
    if (!loaded) {
      emitError() << llvm::toString(loaded.takeError());
      return failure();
    }
    importanceByLayer =
        std::make_shared<const llvm::StringMap<double>>(std::move(*loaded));
  }
  if (!calibration.empty()) {
    auto loaded = CalibrationStatistics::loadShared(calibration);
    if (!loaded) {
      emitError() << llvm::toString(loaded.takeError());
      return failure();
    }
    calibrationStatistics = std::move(*loaded);
  }
  return parseCandidates(context);
}

LogicalResult TuneGroupSizePass::parseCandidates(MLIRContext *context) {
  auto emitError = [&] {
    return mlir::emitError(UnknownLoc::get(context)) << "r2q-tune-group-size: ";
  };
  SmallVector<int64_t> sizes;
  for (const std::string &size :
       groupSizes.empty() ? std::vector<std::string>{"32", "64", "128", "256",
                                                     "512", "per-channel"}
                          : std::vector<std::string>(groupSizes)) {
    int64_t value = 0;
    if (size != "per-channel" && (StringRef(size).getAsInteger(10, value) ||
                                  failed(verifyGroupSize(emitError, value))))
      return failure();
    sizes.push_back(value);
  }
  SmallVector<int64_t> planeList(planeCounts.begin(), planeCounts.end());
  if (planeList.empty())
    planeList = {1, 2, 3, 4};
  for (int64_t planes : planeList)
    if (failed(verifyPlaneCount(emitError, planes)))
      return failure();
  SmallVector<Method> methodList;
  for (const std::string &name : methods) {
    std::optional<Method> method = symbolizeMethod(name);
    if (!method) {
      emitError() << "unknown method '" << name << "' (greedy or refined)";
      return failure();
    }
    methodList.push_back(*method);
  }
  if (methodList.empty())
    methodList.push_back(Method::Greedy);
  candidates.clear();
  for (Method method : methodList)
    for (int64_t planes : planeList)
      for (int64_t size : sizes)
        candidates.push_back({size, planes, method});
  return success();
}

/// sum_n sum_k c_k (w_nk - r_nk)^2, with c_k = 1 without column weights.
double weightedSquaredError(const quant::MatrixView &weights,
                            const float *reconstruction,
                            std::span<const double> columnWeights) {
  double total = 0;
  for (int64_t row = 0; row < weights.rows; ++row)
    for (int64_t col = 0; col < weights.cols; ++col) {
      double error =
          double(weights.at(row, col)) -
          (reconstruction ? reconstruction[row * weights.cols + col] : 0.f);
      total +=
          (columnWeights.empty() ? 1.0 : columnWeights[col]) * error * error;
    }
  return total;
}

LogicalResult TuneGroupSizePass::measure(const quant::MatrixView &weights,
                                         std::span<const double> columnWeights,
                                         SchemeAttr scheme, Measurement &result,
                                         std::string &error) const {
  quant::Scheme quantScheme = toQuantScheme(scheme);
  quantScheme.outliers = outlierPolicy;
  quant::PackedWeight packed;
  quant::Status status =
      columnWeights.empty()
          ? quant::quantize(weights, quantScheme, packed)
          : quant::quantizeCalibrated(weights, quantScheme, {{}, columnWeights},
                                      packed);
  if (!status) {
    error = status.message();
    return failure();
  }
  std::vector<float> reconstruction(packed.rows * packed.cols);
  quant::dequantize(packed, reconstruction.data());
  result = {
      scheme, 8 * packed.storageBytes(),
      weightedSquaredError(weights, reconstruction.data(), columnWeights)};
  return success();
}

FailureOr<std::vector<double>>
TuneGroupSizePass::readColumnWeights(Operation *layer, StringRef name,
                                     int64_t k) {
  if (!calibrationStatistics)
    return std::vector<double>();
  if (!calibrationStatistics->contains(name)) {
    layer->emitWarning() << "layer '" << name
                         << "': no calibration statistics in '"
                         << calibrationStatistics->getPath()
                         << "'; tuned on its weight error";
    return std::vector<double>();
  }
  llvm::Expected<LayerCalibration> statistics =
      calibrationStatistics->read(name, k, /*full=*/false);
  if (!statistics) {
    layer->emitError() << "layer '" << name
                       << "': " << llvm::toString(statistics.takeError());
    return failure();
  }
  return std::move(statistics->diagonal);
}

FailureOr<std::vector<TunedWeight>> TuneGroupSizePass::measureWeights() {
  MLIRContext *context = &getContext();
  Type scaleElementType = toMlirFloatType(context, scaleType);
  std::vector<TunedWeight> tuned;
  bool failedWeight = false;
  getOperation()->walk([&](FunctionOpInterface function) {
    ConstantEvaluator constants(maxFoldElements);
    WeightRules rules{constants};
    // One entry per weight, in the order its first layer appears.
    llvm::MapVector<std::pair<Value, unsigned>, size_t> byWeight;
    unsigned index = 0;
    function->walk([&](linalg::LinalgOp op) {
      if (!linalg::isaContractionOpInterface(op))
        return;
      unsigned layerIndex = index++;
      FailureOr<LinearLayer> layer = matchLinearLayer(op, rules);
      if (failed(layer) || !layer->weight.isConstant())
        return;
      std::pair<Value, unsigned> key{layer->weight.value,
                                     layer->weight.transposed};
      if (auto it = byWeight.find(key); it != byWeight.end()) {
        tuned[it->second].layers.push_back(op);
        return;
      }
      std::string name = getLayerName(*layer, layerIndex);
      std::vector<float> storage;
      quant::MatrixView weights;
      if (quant::Status status =
              loadWeightMatrix(layer->weight, constants, storage, weights);
          !status) {
        op->emitError() << "layer '" << name << "': " << status.message();
        failedWeight = true;
        return;
      }
      TunedWeight weight;
      weight.name = name;
      weight.layers.push_back(op);
      weight.k = layer->k;
      weight.weights = layer->n * layer->k;
      if (importanceByLayer)
        if (auto it = importanceByLayer->find(name);
            it != importanceByLayer->end())
          weight.importance = it->second;
      FailureOr<std::vector<double>> columnWeights =
          readColumnWeights(op, name, layer->k);
      if (failed(columnWeights)) {
        failedWeight = true;
        return;
      }
      weight.squaredNorm =
          weightedSquaredError(weights, nullptr, *columnWeights);
      auto schemeFor = [&](int64_t groupSize, int64_t planes, Method method) {
        return SchemeAttr::get(context, groupSize, planes, method,
                               scaleElementType);
      };
      for (const Candidate &candidate : candidates) {
        int64_t groupSize =
            candidate.groupSize ? candidate.groupSize : layer->k;
        if (groupSize > layer->k || groupSize % 8 != 0 ||
            !whyNotQuantizable(layer->n, layer->k, groupSize, raggedGroups)
                 .empty())
          continue;
        SchemeAttr scheme =
            schemeFor(groupSize, candidate.planes, candidate.method);
        // Per-channel is one of the listed group sizes when K is.
        if (llvm::any_of(weight.candidates, [&](const Measurement &done) {
              return done.scheme == scheme;
            }))
          continue;
        Measurement measurement;
        std::string error;
        if (failed(
                measure(weights, *columnWeights, scheme, measurement, error))) {
          op->emitError() << "layer '" << name << "': " << error;
          failedWeight = true;
          return;
        }
        weight.candidates.push_back(measurement);
      }
      if (weight.candidates.empty()) {
        op->emitRemark() << "layer '" << name
                         << "' not tuned: no candidate group size fits K = "
                         << layer->k;
        return;
      }
      Measurement baseline;
      std::string ignored;
      if (whyNotQuantizable(layer->n, layer->k, kBaselineGroupSize, true)
              .empty() &&
          succeeded(measure(weights, *columnWeights,
                            schemeFor(kBaselineGroupSize, kBaselinePlanes,
                                      candidates.front().method),
                            baseline, ignored)))
        weight.baseline = baseline;
      byWeight[key] = tuned.size();
      tuned.push_back(std::move(weight));
    });
  });
  if (failedWeight)
    return failure();
  return tuned;
}

FailureOr<quant::Allocation>
TuneGroupSizePass::choose(ArrayRef<TunedWeight> weights) {
  quant::LayerCandidates problem;
  int64_t totalWeights = 0;
  for (const TunedWeight &weight : weights) {
    totalWeights += weight.weights;
    std::vector<quant::AllocationCandidate> &options = problem.emplace_back();
    for (const Measurement &measurement : weight.candidates)
      options.push_back(
          {measurement.bits, weight.importance * measurement.squaredError});
  }
  if (maxRelativeError != 0) {
    std::vector<double> targets;
    for (const TunedWeight &weight : weights)
      targets.push_back(weight.importance * maxRelativeError *
                        maxRelativeError * weight.squaredNorm);
    return quant::allocateForErrorTarget(problem, targets);
  }
  auto budget = static_cast<int64_t>(
      std::floor(budgetBitsPerWeight * static_cast<double>(totalWeights)));
  std::optional<quant::Allocation> allocation =
      quant::allocateBits(problem, budget);
  if (!allocation) {
    int64_t cheapest = 0;
    for (const auto &options : problem)
      cheapest +=
          std::min_element(options.begin(), options.end(),
                           [](auto &a, auto &b) { return a.bits < b.bits; })
              ->bits;
    mlir::emitError(getOperation().getLoc()) << llvm::formatv(
        "r2q-tune-group-size: budget-bpw={0} is below what the candidate "
        "schemes can store these layers in ({1:f3} bits per weight at the "
        "least)",
        formatOption(budgetBitsPerWeight), double(cheapest) / totalWeights);
    return failure();
  }
  return *allocation;
}

void TuneGroupSizePass::report(ArrayRef<TunedWeight> weights,
                               const quant::Allocation &allocation) {
  int64_t totalWeights = 0, bits = 0, baselineBits = 0;
  double error = 0, baselineError = 0;
  bool baselineEverywhere = true;
  for (auto [weight, index] : llvm::zip_equal(weights, allocation.choice)) {
    const Measurement &chosen = weight.candidates[index];
    totalWeights += weight.weights;
    bits += chosen.bits;
    error += chosen.squaredError;
    std::string baseline = "no uniform baseline (K < 128)";
    if (weight.baseline) {
      baselineBits += weight.baseline->bits;
      baselineError += weight.baseline->squaredError;
      baseline = llvm::formatv("uniform group size {0}, {1} planes: {2:f3} "
                               "bits per weight, relative error {3:f4}",
                               kBaselineGroupSize, kBaselinePlanes,
                               weight.bitsPerWeight(*weight.baseline),
                               weight.relativeError(*weight.baseline));
    } else {
      baselineEverywhere = false;
    }
    for (Operation *layer : weight.layers)
      layer->setAttr(R2QDialect::getLayerSchemeAttrName(), chosen.scheme);
    Operation *first = weight.layers.front();
    if (maxRelativeError != 0 &&
        weight.relativeError(chosen) > maxRelativeError)
      first->emitWarning() << "layer '" << weight.name
                           << "': no candidate scheme reaches relative error "
                           << formatOption(maxRelativeError)
                           << llvm::formatv("; the most accurate one leaves "
                                            "{0:f4}",
                                            weight.relativeError(chosen))
                                  .str();
    first->emitRemark() << llvm::formatv(
        "layer '{0}': {1}: {2:f3} bits per weight, relative error {3:f4} "
        "({4})",
        weight.name, describe(chosen.scheme, weight.k),
        weight.bitsPerWeight(chosen), weight.relativeError(chosen), baseline);
  }
  std::string goal =
      maxRelativeError != 0
          ? "target relative error " + formatOption(maxRelativeError)
          : "budget " + formatOption(budgetBitsPerWeight) +
                (allocation.exact ? ", the optimum" : ", by marginal gain");
  std::string baseline =
      baselineEverywhere
          ? llvm::formatv("uniform group size {0}, {1} planes: {2:f3} bits "
                          "per weight, squared error {3:e3}",
                          kBaselineGroupSize, kBaselinePlanes,
                          double(baselineBits) / totalWeights, baselineError)
                .str()
          : std::string("no uniform baseline: a layer has K < 128");
  // At the module's location only: the module itself is not worth printing.
  mlir::emitRemark(getOperation().getLoc()) << llvm::formatv(
      "r2q-tune-group-size: {0} weights, {1} weights in all: {2:f3} bits per "
      "weight ({3}), squared error {4:e3} ({5})",
      weights.size(), totalWeights, double(bits) / totalWeights, goal, error,
      baseline);
}

void TuneGroupSizePass::runOnOperation() {
  FailureOr<std::vector<TunedWeight>> weights = measureWeights();
  if (failed(weights))
    return signalPassFailure();
  if (weights->empty())
    return;
  FailureOr<quant::Allocation> allocation = choose(*weights);
  if (failed(allocation))
    return signalPassFailure();
  report(*weights, *allocation);
}

} // namespace
} // namespace r2q
