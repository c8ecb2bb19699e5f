#!/usr/bin/env bash
# Runs perfflow's benchmarks and prints each path as a ratio to its floor
# measured in the same run.
#   ./scripts/bench.sh              all benchmarks
#   ./scripts/bench.sh limits       IngestEvent / BatchIngestEvents vs raw inserts and a gRPC echo
#   ./scripts/bench.sh scale        1M stored events: flow health on MariaDB and SQLite, every service's peak RSS
#   ./scripts/bench.sh validator    the evidence-chain validator only
#   ./scripts/bench.sh phrases      the feedback guidance engine, 50 vs 500 phrases
#   ./scripts/bench.sh timers       100,000 tasks due at once on a throwaway MariaDB
#                                   (timers --no-ingest: the storm alone, without the ingest phases)
#   ./scripts/bench.sh brief        a 50-person brief over 10k and 100k stored events vs raw SQL reads
#   ./scripts/bench.sh gateway      signed webhooks through perfflow-gateway vs direct gRPC IngestEvent
#   ./scripts/bench.sh upgrade      the event service's migrations 7-11 over 1M stored events vs one table rebuild
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
BUILD_TYPE=Release BUILD_DIR=build-bench ./scripts/build.sh -DBUILD_TESTING=OFF

# Runs one Google Benchmark binary (5 repetitions) and prints one line built
# from the medians' items/s: $1 binary, $2 Python format expression over
# `r` (run name -> items/s).
run_bench() {
  local json
  json=$(mktemp)
  "build-bench/bin/$1" --benchmark_format=json --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true >"$json"
  /usr/bin/python3 - "$json" "$2" <<'PY'
import json, sys
r = {b["run_name"]: b["items_per_second"] for b in json.load(open(sys.argv[1]))["benchmarks"]
     if b.get("aggregate_name") == "median"}
print(eval(sys.argv[2]))
PY
  rm -f "$json"
}

run_validator() {
  run_bench validator_bench '"validator, 10 rules: %.0f validations/s; plain lookup of the same rules: %.0f/s; ratio %.2f (%.1fx slower)" % (r["BM_ValidateTenRules"], r["BM_PlainLookupTenRules"], r["BM_ValidateTenRules"] / r["BM_PlainLookupTenRules"], r["BM_PlainLookupTenRules"] / r["BM_ValidateTenRules"])'
}

run_phrases() {
  run_bench phrase_bench '"feedback analysis: %.0f comments/s with 50 phrases, %.0f/s with 500; ratio %.2f (goal >= 0.50: %s)" % (r["BM_Analyze50"], r["BM_Analyze500"], r["BM_Analyze500"] / r["BM_Analyze50"], "meets" if r["BM_Analyze500"] / r["BM_Analyze50"] >= 0.5 else "MISSES")'
}

# Runs a Python benchmark against a throwaway MariaDB (started once).
with_mariadb() {
  if [[ -z "${MARIADB_URL:-}" ]]; then
    # shellcheck source=scripts/mariadb.sh
    source scripts/mariadb.sh
    mariadb_start
  fi
  PERFFLOW_TEST_MYSQL_URL="$MARIADB_URL" PERFFLOW_TEST_MYSQL_PASSWORD="$MARIADB_PASSWORD" /usr/bin/python3 "$@"
}

run_limits() {
  with_mariadb bench/limits_bench.py --bin-dir build-bench/bin --source-dir . --json build-bench/limits_bench.json
}

run_scale() {
  with_mariadb bench/scale_bench.py --bin-dir build-bench/bin --source-dir . --json build-bench/scale_bench.json
}

run_timers() {
  with_mariadb bench/timer_storm.py --binary build-bench/bin/perfflow-event --source-dir . \
    --json build-bench/timer_storm.json "$@"
}

# CPU per IngestEvent with its notices' delivery included; more builds to
# compare side by side: ./scripts/bench.sh cost --build old=/path/to/bin
run_cost() {
  with_mariadb bench/ingest_cost.py --build this=build-bench/bin --source-dir . "$@"
}

run_brief() {
  with_mariadb bench/brief_bench.py --event-binary build-bench/bin/perfflow-event \
    --calibration-binary build-bench/bin/perfflow-calibration --source-dir . --json build-bench/brief_bench.json
}

run_upgrade() {
  with_mariadb bench/upgrade_bench.py --bin-dir build-bench/bin --json build-bench/upgrade_bench.json
}

run_gateway() {
  with_mariadb bench/gateway_bench.py --bin-dir build-bench/bin --source-dir . --json build-bench/gateway_bench.json
}

case "${1:-all}" in
  limits) run_limits ;;
  scale) run_scale ;;
  validator) run_validator ;;
  phrases) run_phrases ;;
  timers) run_timers "${@:2}" ;;
  brief) run_brief ;;
  cost) run_cost "${@:2}" ;;
  gateway) run_gateway ;;
  upgrade) run_upgrade ;;
  all) run_limits; run_validator; run_phrases; run_timers; run_brief; run_gateway; run_scale; run_upgrade ;;
  *) echo "unknown benchmark '$1' (limits, scale, validator, phrases, timers, brief, cost, gateway, upgrade)" >&2; exit 2 ;;
esac
