//===- Npy.cpp - Reading NumPy .npy weight files --------------------------===//
//
// Format: "\x93NUMPY", major and minor version bytes, a little-endian header
// length (2 bytes in version 1, 4 in versions 2 and 3), then a Python dict
// literal such as {'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }
// and the raw data.
//
//===----------------------------------------------------------------------===//

#include "r2q/Quant/Npy.h"

#include <cstring>
#include <fstream>
#include <regex>

namespace r2q::quant {

namespace {

Status fail(const std::string &path, const std::string &why) {
  return Status::failure(path + ": " + why);
}

/// The first capture of `pattern` in the header dict, or "" if absent.
std::string dictValue(const std::string &header, const std::string &pattern) {
  std::smatch match;
  if (std::regex_search(header, match, std::regex(pattern)))
    return match[1];
  return "";
}

/// What a .npy header says, with `file` positioned at the data.
struct NpyHeader {
  std::string descr;
  std::vector<int64_t> shape;
};

Status readHeader(const std::string &path, std::ifstream &file,
                  NpyHeader &result) {
  if (!file)
    return fail(path, "cannot open");
  char magic[8];
  if (!file.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return fail(path, "not a .npy file");
  int major = static_cast<unsigned char>(magic[6]);
  uint32_t headerLength = 0;
  unsigned char lengthBytes[4] = {};
  int lengthSize = major == 1 ? 2 : 4;
  if (!file.read(reinterpret_cast<char *>(lengthBytes), lengthSize))
    return fail(path, "truncated header");
  for (int i = lengthSize - 1; i >= 0; --i)
    headerLength = headerLength << 8 | lengthBytes[i];
  std::string header(headerLength, '\0');
  if (!file.read(header.data(), headerLength))
    return fail(path, "truncated header");

  result.descr = dictValue(header, R"('descr':\s*'([^']*)')");
  if (dictValue(header, R"('fortran_order':\s*(\w+))") != "False")
    return fail(path, "Fortran-ordered arrays are not supported");
  std::string shape = dictValue(header, R"('shape':\s*\(([^)]*)\))");
  std::regex dimension(R"(\d+)");
  for (auto it = std::sregex_iterator(shape.begin(), shape.end(), dimension);
       it != std::sregex_iterator(); ++it)
    result.shape.push_back(std::stoll(it->str()));
  return Status::success();
}

Status readData(const std::string &path, std::ifstream &file, void *data,
                size_t bytes) {
  if (!file.read(static_cast<char *>(data),
                 static_cast<std::streamsize>(bytes)))
    return fail(path, "truncated data");
  return Status::success();
}

} // namespace

Status readNpyMatrix(const std::string &path, NpyMatrix &matrix) {
  std::ifstream file(path, std::ios::binary);
  NpyHeader header;
  if (Status status = readHeader(path, file, header); !status)
    return status;
  NpyMatrix result;
  if (header.descr == "<f4")
    result.type = FloatType::F32;
  else if (header.descr == "<f2")
    result.type = FloatType::F16;
  else
    return fail(path,
                "element type '" + header.descr + "' is not '<f4' or '<f2'");
  if (header.shape.size() != 2)
    return fail(path, "the array is not 2-D");
  result.rows = header.shape[0];
  result.cols = header.shape[1];
  result.bytes.resize(result.rows * result.cols * byteWidth(result.type));
  if (Status status =
          readData(path, file, result.bytes.data(), result.bytes.size());
      !status)
    return status;
  matrix = std::move(result);
  return Status::success();
}

Status readNpyFloat64(const std::string &path, std::vector<int64_t> &shape,
                      std::vector<double> &values) {
  std::ifstream file(path, std::ios::binary);
  NpyHeader header;
  if (Status status = readHeader(path, file, header); !status)
    return status;
  if (header.descr != "<f8")
    return fail(path, "element type '" + header.descr + "' is not '<f8'");
  int64_t count = 1;
  for (int64_t size : header.shape)
    count *= size;
  std::vector<double> result(count);
  if (Status status =
          readData(path, file, result.data(), count * sizeof(double));
      !status)
    return status;
  shape = std::move(header.shape);
  values = std::move(result);
  return Status::success();
}

} // namespace r2q::quant
