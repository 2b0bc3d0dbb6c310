#!/usr/bin/env bash
# Installs the Debian 12 packages r2q needs, only those missing: quick when
# everything is there. Runs as root or through sudo.
set -euo pipefail

packages=(
  # Toolchain: LLVM/MLIR 22 from bookworm-security, clang-22 and its runtimes
  # (sanitizers, libFuzzer), the build tools.
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
  clang-format-22 libclang-rt-22-dev cmake ninja-build ccache make
  # LLVM's OpenMP runtime (libomp.so), which compiled code calls for its
  # parallel loops.
  libomp-22-dev
  # Tests, benchmarks and the Python module.
  libgtest-dev libbenchmark-dev libopenblas-dev
  python3 python3-dev python3-numpy pybind11-dev python3-pybind11
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
    grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
echo "r2q: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# LLVM 22 comes from bookworm-security. Machines whose sources already list
# that suite need nothing more; a list of ours left beside such a source (with
# a different Signed-By) makes apt refuse every source, so drop it first and
# add it back only where the suite is missing.
security_list=/etc/apt/sources.list.d/r2q-bookworm-security.list
$sudo rm -f "$security_list"
$sudo apt-get update -qq
if ! apt-cache policy libmlir-22-dev | grep -q 'Candidate: [0-9]'; then
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "http://deb.debian.org/debian-security bookworm-security main" |
    $sudo tee "$security_list" >/dev/null
  $sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
