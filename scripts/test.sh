#!/usr/bin/env bash
# Installs what is missing, builds, starts a throwaway MariaDB on loopback and
# runs every test tier (unit, integration, e2e, fault, security, deploy, browser), then the
# libFuzzer harnesses (tests/fuzz, FUZZ_SECONDS each, default 20) from a clang
# ASan+UBSan build in build-sanitize/. Exits non-zero on any failure.
#   ./scripts/test.sh              every tier and the fuzzers
#   ./scripts/test.sh --sanitize   also the unit and integration tests from that ASan+UBSan
#                                  build, which must run clean (what .ci/run uses)
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

# Each tier's output is kept in build/test-logs/<tier>.log as well; a failed
# run ends by repeating what failed (CI shows only a log's tail).
mkdir -p build/test-logs
failed=()
run_tier() {
  local label=$1
  echo "=== $label tests"
  if ! (cd build && ctest -L "^${label}\$" --output-on-failure --timeout 600 -j "${CTEST_JOBS:-2}") 2>&1 |
    tee "build/test-logs/$label.log"; then
    failed+=("$label")
  fi
}
# The lines of a tier's log that say what failed: failed tests, Python
# tracebacks' test frames and exceptions, GoogleTest failures. Service log
# lines (JSON) and native stack frames are left out.
what_failed() {
  grep -v -E '^\{"ts"|^#[0-9]+ 0x' "$1" |
    grep -E '^\s*[0-9]+ - .+\(|^(ERROR|FAIL): |, line [0-9]+, in test|^[A-Za-z_.]+(Error|Exception): |: Failure$|runtime error: |^(Expected|Which is|Value of|  Actual)|^\[  FAILED  \]' |
    tail -n 30 || true
}
run_tier unit
run_tier integration
run_tier e2e
run_tier fault
run_tier security
run_tier deploy
run_tier browser

# One clang build with ASan+UBSan and coverage instrumentation serves the
# fuzzers and the sanitized unit and integration tests.
echo "=== fuzzers$($sanitize && echo ' and sanitized unit and integration tests') (clang, ASan + UBSan)"
cmake -S . -B build-sanitize -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS=-O1 -DBUILD_TESTING=ON -DPERFFLOW_FUZZ=ON -DFUZZ_SECONDS="${FUZZ_SECONDS:-20}" >/dev/null
targets=(condition_fuzz registry_yaml_fuzz webhook_mapping_fuzz transcode_fuzz phrase_fuzz struct_json_fuzz)
if $sanitize; then targets+=(perfflow_tests); fi
cmake --build build-sanitize -j "${JOBS:-2}" --target "${targets[@]}"
if ! (cd build-sanitize && ctest -L '^fuzz$' --output-on-failure -j "${CTEST_JOBS:-2}") 2>&1 |
  tee build/test-logs/fuzz.log; then
  failed+=("fuzz")
fi
if $sanitize; then
  while read -r t; do
    echo "=== sanitizers: $t"
    if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "build-sanitize/bin/$t" 2>&1 |
      tee "build/test-logs/sanitize:$t.log"; then
      failed+=("sanitize:$t")
    fi
  done < build-sanitize/test_binaries.txt
fi

# Every test tier must have run its MySQL half: a skip here means the
# database was not reachable, which is a failure of this script.
if (cd build && ctest -L integration -N | grep -q "Total Tests: 0"); then failed+=("integration (none found)"); fi

if ((${#failed[@]})); then
  for label in "${failed[@]}"; do
    if [[ -f "build/test-logs/$label.log" ]]; then
      echo "--- what failed in the $label tier (whole output above and in build/test-logs/$label.log):"
      what_failed "build/test-logs/$label.log"
    fi
  done
  echo "FAILED tiers: ${failed[*]}"
  exit 1
fi
echo "all test tiers passed"
