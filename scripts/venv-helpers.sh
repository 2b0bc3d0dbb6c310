# Sourced by scripts/install-eval-deps.sh and scripts/install-torch-deps.sh:
# the Debian packages and the virtual environment both set up.

# install_debian_packages TAG PACKAGE...: apt-get installs those not installed.
install_debian_packages() {
  local tag=$1 package
  shift
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "$tag: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# create_venv DIR: a virtual environment on Debian's Python that sees its
# packages (numpy 1.24, which the r2q module is built against).
create_venv() {
  [ -x "$1/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$1"
}

# pip_install VENV ARG...: pip install into VENV without pip's wheel cache.
# The cache would hold a second copy of torch and its CUDA wheels (several
# GB) on the machine that builds and tests.
pip_install() {
  local venv=$1
  shift
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --no-cache-dir "$@"
}
