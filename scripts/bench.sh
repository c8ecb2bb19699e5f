#!/usr/bin/env bash
# Runs perfflow's benchmarks and prints each path as a ratio to its floor
# measured in the same run.
#   ./scripts/bench.sh              all benchmarks
#   ./scripts/bench.sh validator    the evidence-chain validator only
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
BUILD_TYPE=Release BUILD_DIR=build-bench ./scripts/build.sh -DBUILD_TESTING=OFF

run_validator() {
  local json
  json=$(mktemp)
  build-bench/bin/validator_bench --benchmark_format=json --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true >"$json"
  /usr/bin/python3 - "$json" <<'PY'
import json, sys
runs = {b["run_name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("aggregate_name") == "median"}
v = runs["BM_ValidateTenRules"]["items_per_second"]
p = runs["BM_PlainLookupTenRules"]["items_per_second"]
print("validator, 10 rules: %.0f validations/s; plain lookup of the same rules: %.0f/s; ratio %.2f (%.1fx slower)"
      % (v, p, v / p, p / v))
PY
  rm -f "$json"
}

case "${1:-all}" in
  validator|all) run_validator ;;
  *) echo "unknown benchmark '$1' (validator)" >&2; exit 2 ;;
esac
