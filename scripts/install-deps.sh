#!/usr/bin/env bash
# Installs the Debian 12 packages perfflow builds, runs and tests with.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git curl ca-certificates
  protobuf-compiler libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev libabsl-dev
  libmysqlcppconn-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  libsqlite3-dev sqlite3 libyaml-cpp-dev libssl-dev libbenchmark-dev libutf8proc-dev
  libcurl4-openssl-dev libcpp-httplib-dev libarchive-dev rapidjson-dev tzdata libfaketime
  clang libclang-rt-14-dev
  golang-github-grpc-ecosystem-grpc-gateway-dev
  mariadb-server mariadb-client galera-4 rsync iproute2
  python3 python3-grpcio python3-protobuf python3-grpc-tools python3-yaml grpc-proto
  prometheus
  chromium chromium-driver python3-selenium fonts-noto-cjk python3-jsonschema
)
# kubectl renders the kustomize tree; Debian's kubernetes-client is the
# fallback where the machine has none.
if ! command -v kubectl >/dev/null 2>&1; then PACKAGES+=(kubernetes-client); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps the image lean; the MariaDB server package does
# not start a system instance we rely on: tests start their own on loopback.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
