#!/usr/bin/env bash
# Installs what is missing, builds, starts a throwaway MariaDB on loopback and
# runs every test tier (unit, integration, e2e, deploy). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

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
run_tier deploy

# Every test tier must have run its MySQL half: a skip here means the
# database was not reachable, which is a failure of this script.
if (cd build && ctest -L integration -N | grep -q "Total Tests: 0"); then failed+=("integration (none found)"); fi

if ((${#failed[@]})); then
  echo "FAILED tiers: ${failed[*]}"
  exit 1
fi
echo "all test tiers passed"
