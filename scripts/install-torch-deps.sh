#!/usr/bin/env bash
# Installs what r2q.torch (python/r2q/torch.py) and its tests need, only what
# is missing: quick when everything is there.
#   - Debian: python3-venv, python3-numpy.
#   - A virtual environment (default build-torch/venv, ignored by git) on top
#     of the system Python with torch, torch-mlir, transformers and ml_dtypes
#     from PyPI. numpy stays Debian's 1.24 (seen through
#     --system-site-packages, and pinned below 2 so no package pulls numpy 2
#     in): the r2q module is built against it with Debian's pybind11 2.10,
#     whose array code predates numpy 2's ABI. torch 2.15.0 runs with numpy
#     1.24 (torch.from_numpy / .numpy() checked); ml_dtypes 0.6.0 requires
#     numpy 2, so ml_dtypes 0.5.4 (numpy >= 1.21) is used. torch is PyPI's
#     default wheel (it pulls the CUDA runtime wheels along; the PyTorch CPU
#     index may not be reachable); everything runs on the CPU.
# Nothing else is downloaded, here or at run time (models are built from
# configs, never fetched).
# Usage: scripts/install-torch-deps.sh [venv-dir]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=venv-helpers.sh
source "$here/venv-helpers.sh"
venv=${1:-$here/../build-torch/venv}

debian_packages=(python3-venv python3-numpy)
python_packages=(torch==2.15.0 torch-mlir==20261001 transformers==5.23.0
  ml_dtypes==0.5.4 "numpy<2")

install_debian_packages r2q-torch "${debian_packages[@]}"
create_venv "$venv"

# The stamp records the exact package list, so a changed pin reinstalls. It
# is written only after pip succeeded: test/PythonTorch runs only where it is
# there, so a half-installed environment (a full disk, a network error) makes
# those tests unsupported instead of failing them.
stamp="$venv/.r2q-torch-packages"
wanted="${python_packages[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "r2q-torch: installing $wanted into $venv"
  pip_install "$venv" "${python_packages[@]}"
  echo "$wanted" >"$stamp"
fi
