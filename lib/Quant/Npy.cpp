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

} // namespace

Status readNpyMatrix(const std::string &path, NpyMatrix &matrix) {
  std::ifstream file(path, std::ios::binary);
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

  std::string descr = dictValue(header, R"('descr':\s*'([^']*)')");
  std::string order = dictValue(header, R"('fortran_order':\s*(\w+))");
  std::string shape = dictValue(header, R"('shape':\s*\(([^)]*)\))");
  NpyMatrix result;
  if (descr == "<f4")
    result.type = FloatType::F32;
  else if (descr == "<f2")
    result.type = FloatType::F16;
  else
    return fail(path, "element type '" + descr + "' is not '<f4' or '<f2'");
  if (order != "False")
    return fail(path, "Fortran-ordered arrays are not supported");
  std::smatch dims;
  if (!std::regex_match(shape, dims,
                        std::regex(R"(\s*(\d+)\s*,\s*(\d+)\s*,?\s*)")))
    return fail(path, "shape (" + shape + ") is not 2-D");
  result.rows = std::stoll(dims[1]);
  result.cols = std::stoll(dims[2]);
  result.bytes.resize(result.rows * result.cols * byteWidth(result.type));
  if (!file.read(reinterpret_cast<char *>(result.bytes.data()),
                 static_cast<std::streamsize>(result.bytes.size())))
    return fail(path, "truncated data");
  matrix = std::move(result);
  return Status::success();
}

} // namespace r2q::quant
