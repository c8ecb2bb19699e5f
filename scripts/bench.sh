#!/usr/bin/env bash
# Runs perfflow's benchmarks and prints each path as a ratio to its floor
# measured in the same run.
#   ./scripts/bench.sh              all benchmarks
#   ./scripts/bench.sh validator    the evidence-chain validator only
#   ./scripts/bench.sh phrases      the feedback guidance engine, 50 vs 500 phrases
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

run_phrases() {
  local json
  json=$(mktemp)
  build-bench/bin/phrase_bench --benchmark_format=json --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true >"$json"
  /usr/bin/python3 - "$json" <<'PY'
import json, sys
runs = {b["run_name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("aggregate_name") == "median"}
small = runs["BM_Analyze50"]["items_per_second"]
large = runs["BM_Analyze500"]["items_per_second"]
verdict = "meets" if large / small >= 0.5 else "MISSES"
print("feedback analysis: %.0f comments/s with 50 phrases, %.0f/s with 500; ratio %.2f (goal >= 0.50: %s)"
      % (small, large, large / small, verdict))
PY
  rm -f "$json"
}

case "${1:-all}" in
  validator) run_validator ;;
  phrases) run_phrases ;;
  all) run_validator; run_phrases ;;
  *) echo "unknown benchmark '$1' (validator, phrases)" >&2; exit 2 ;;
esac
