#!/usr/bin/env bash
# Installs what is missing, builds, starts a throwaway MariaDB on loopback and
# runs every test tier (unit, integration, e2e, fault, deploy). Exits non-zero on any failure.
#   ./scripts/test.sh              every tier
#   ./scripts/test.sh --sanitize   also an ASan+UBSan build (build-asan/) of the unit and
#                                  integration tests, which must run clean
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=false
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=true ;;
    *) echo "unknown argument '$arg' (--sanitize)" >&2; exit 2 ;;
  esac
done

./scripts/install-deps.sh
./scripts/build.sh -DBUILD_TESTING=ON

source scripts/mariadb.sh
mariadb_start
export PERFFLOW_TEST_MYSQL_URL="$MARIADB_URL"
export PERFFLOW_TEST_MYSQL_PASSWORD="$MARIADB_PASSWORD"

failed=()
run_tier() {
  local label=$1
  echo "=== $label tests"
  if ! (cd build && ctest -L "^${label}\$" --output-on-failure --timeout 600 -j "${CTEST_JOBS:-2}"); then
    failed+=("$label")
  fi
}
run_tier unit
run_tier integration
run_tier e2e
run_tier fault
run_tier deploy

if $sanitize; then
  echo "=== sanitizers (ASan + UBSan): unit and integration"
  san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=ON -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build build-asan -j "${JOBS:-2}" --target unit_tests integration_tests
  for t in unit_tests integration_tests; do
    if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "build-asan/bin/$t"; then
      failed+=("sanitize:$t")
    fi
  done
fi

# Every test tier must have run its MySQL half: a skip here means the
# database was not reachable, which is a failure of this script.
if (cd build && ctest -L integration -N | grep -q "Total Tests: 0"); then failed+=("integration (none found)"); fi

if ((${#failed[@]})); then
  echo "FAILED tiers: ${failed[*]}"
  exit 1
fi
echo "all test tiers passed"
