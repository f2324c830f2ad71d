#!/usr/bin/env bash
# Installs the Debian 12 packages Kvasir needs to build, test and run.
# Idempotent: when every package is already installed it does nothing.
#
#   scripts/install-deps.sh            build + test dependencies (default)
#   scripts/install-deps.sh --runtime  only the shared libraries the kvasir
#                                      binary needs at run time (Docker image)
#   scripts/install-deps.sh --list [--runtime]   print the package list
#
# The build mode, in a source tree, also makes sure Node.js and npm are there (Debian's nodejs
# and npm when `node` is missing; any Node >= 18 will do) and installs the
# official `openai` npm client (openai@4, pinned in
# tests/integration/node/package.json) from the npm registry into
# tests/integration/node/node_modules (git-ignored), for
# tests/integration/openai_node_test.cc.
set -euo pipefail

BUILD_PACKAGES=(
  g++ cmake make pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libdnnl-dev ocl-icd-opencl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libssl-dev clang-format prometheus-cpp-dev libpcre2-dev libeigen3-dev
  nginx
)
# `make fuzz` (tests/fuzz/): clang with its sanitizer runtimes (which
# --no-install-recommends leaves out) and libFuzzer, and clang's OpenMP
# runtime for the engine. Installed in a source tree only, like Node below
# (the Docker build stage, which copies this script alone, does not fuzz).
FUZZ_PACKAGES=(clang-16 libclang-rt-16-dev libfuzzer-16-dev libomp-16-dev)
RUNTIME_PACKAGES=(
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libspdlog1.10
  libfmt9 libdnnl2 libyaml-cpp0.7 libcpp-httplib0.11 libssl3 libgomp1
  libprometheus-cpp-core1.0 libpcre2-8-0
  ca-certificates
)

mode=build
list=0
for arg in "$@"; do
  case "$arg" in
    --runtime) mode=runtime ;;
    --list) list=1 ;;
    *) echo "install-deps.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$mode" = runtime ]; then pkgs=("${RUNTIME_PACKAGES[@]}"); else pkgs=("${BUILD_PACKAGES[@]}"); fi
if [ "$mode" = build ] && [ -d "$root/tests/fuzz" ]; then pkgs+=("${FUZZ_PACKAGES[@]}"); fi
if [ "$list" = 1 ]; then printf '%s\n' "${pkgs[@]}"; exit 0; fi

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
# Node for the openai client test, when the tests are there (the Docker
# build stage copies this script alone): Debian's packages only when there
# is no node at all (a newer Node from elsewhere is kept).
node_dir="$root/tests/integration/node"
node_tests=0
if [ "$mode" = build ] && [ -f "$node_dir/package.json" ]; then node_tests=1; fi
if [ "$node_tests" = 1 ] && ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

apt_install() {
  echo "install-deps.sh: installing $*"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
      echo "install-deps.sh: need root (or sudo) to install: $*" >&2; exit 1
    fi
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi

if [ "$node_tests" = 1 ]; then
  if [ ! -f "$node_dir/node_modules/openai/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then apt_install npm; fi
    echo "install-deps.sh: npm install (openai@4) in $node_dir"
    (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
