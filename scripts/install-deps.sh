#!/usr/bin/env bash
# Installs the Debian 12 packages Kvasir needs to build, test and run.
# Idempotent: when every package is already installed it does nothing.
#
#   scripts/install-deps.sh            build + test dependencies (default)
#   scripts/install-deps.sh --runtime  only the shared libraries the kvasir
#                                      binary needs at run time (Docker image)
#   scripts/install-deps.sh --list [--runtime]   print the package list
set -euo pipefail

BUILD_PACKAGES=(
  g++ cmake make pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libdnnl-dev ocl-icd-opencl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libssl-dev clang-format prometheus-cpp-dev libpcre2-dev
  nginx
)
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
if [ "$mode" = runtime ]; then pkgs=("${RUNTIME_PACKAGES[@]}"); else pkgs=("${BUILD_PACKAGES[@]}"); fi
if [ "$list" = 1 ]; then printf '%s\n' "${pkgs[@]}"; exit 0; fi

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
