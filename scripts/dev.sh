#!/usr/bin/env bash
# Installs what is missing, builds, and starts perfflow on the embedded
# default (SQLite, no server) with a demo tenant, then prints where to look.
# The whole suite runs in one process: `perfflowctl dev` hosts the four
# services and the gateway from the same libraries as the separate binaries.
#   ./scripts/dev.sh          start (or restart) the suite
#   ./scripts/dev.sh stop     stop it
# State (SQLite files, blobs, logs, pid, dev credentials) lives in .perfflow/.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=.perfflow
SERVICES_PORT=${PERFFLOW_DEV_GRPC_PORT:-50051}
SERVICES_METRICS_PORT=${PERFFLOW_DEV_METRICS_PORT:-9464}
GATEWAY_HTTP_PORT=${PERFFLOW_DEV_GATEWAY_HTTP_PORT:-8080}
GATEWAY_GRPC_PORT=${PERFFLOW_DEV_GATEWAY_GRPC_PORT:-50050}
GATEWAY_METRICS_PORT=${PERFFLOW_DEV_GATEWAY_METRICS_PORT:-9463}
# Development-only secrets of the gateway's dev configuration.
export PERFFLOW_DEV_JWT_SECRET=dev-only-jwt-secret-0123456789abcdef
export PERFFLOW_DEV_CRM_SECRET=dev-only-crm-webhook-secret

stop_dev() {
  local pidfile=$STATE/dev.pid
  [[ -f $pidfile ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
}

if [[ ${1:-start} == stop ]]; then
  stop_dev
  echo "perfflow stopped"
  exit 0
fi

./scripts/install-deps.sh
./scripts/build.sh

mkdir -p "$STATE/logs"
stop_dev
setsid build/bin/perfflowctl --state_dir "$STATE" \
  --services_port "$SERVICES_PORT" --services_metrics_port "$SERVICES_METRICS_PORT" \
  --gateway_http_port "$GATEWAY_HTTP_PORT" --gateway_grpc_port "$GATEWAY_GRPC_PORT" \
  --gateway_metrics_port "$GATEWAY_METRICS_PORT" --gateway_config gateway/dev-gateway.yaml dev \
  >"$STATE/logs/dev.log" 2>&1 < /dev/null &
echo $! > "$STATE/dev.pid"
for _ in $(seq 1 1200); do
  if grep -q '"msg":"dev ready"' "$STATE/logs/dev.log"; then break; fi
  if ! kill -0 "$(cat "$STATE/dev.pid")" 2>/dev/null; then
    echo "perfflowctl dev failed to start; its log:" >&2
    grep -v '"msg":"rpc"' "$STATE/logs/dev.log" | tail -20 >&2
    exit 1
  fi
  sleep 0.1
done
grep -q '"msg":"dev ready"' "$STATE/logs/dev.log" || { echo "perfflowctl dev did not start in 120 s" >&2; exit 1; }

# An admin API key for the demo tenant (created once) and a one-day bearer
# token for an HR person, e100.
if [[ ! -s $STATE/admin-key ]]; then
  build/bin/perfflow-gateway --db "sqlite:$STATE/gateway.db" --tenant demo --roles admin,hr,system \
    --principal dev-admin --display_name "dev admin" create-api-key >"$STATE/admin-key" 2>/dev/null
fi
/usr/bin/python3 - >"$STATE/hr-token" <<'PY'
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = {"iss": "perfflow-dev", "aud": "perfflow", "sub": "e100", "tenant": "demo", "roles": ["hr", "manager"],
          "iat": now, "exp": now + 86400}
signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
key = os.environ["PERFFLOW_DEV_JWT_SECRET"].encode()
print(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()))
PY

cat <<MSG

perfflow is running in one process (perfflowctl dev) on the embedded default (SQLite files in $STATE/),
demo tenant "demo": 13 event types, 51 people in 5 departments, 300 chains over the last 90 days with
verdicts, evidence on the open chains and three months of KPI observations.

  services (gRPC, all four)  127.0.0.1:$SERVICES_PORT   event, evidence, feedback, calibration; health + reflection
  gateway (HTTP/JSON)        http://127.0.0.1:$GATEWAY_HTTP_PORT   every RPC as HTTP/JSON, POST /v1/webhooks/crm, /people/ pages
  gateway (gRPC)             127.0.0.1:$GATEWAY_GRPC_PORT   the same services behind API keys / bearer tokens
  metrics                    http://127.0.0.1:{$SERVICES_METRICS_PORT,$GATEWAY_METRICS_PORT}/metrics
  log (JSON lines)           $STATE/logs/dev.log
  admin API key              $STATE/admin-key   (X-Api-Key; tenant demo, roles admin,hr,system)
  HR bearer token (e100)     $STATE/hr-token    (Authorization: Bearer, or the perfflow_token cookie; valid 1 day)

Try (through the gateway):
  curl -s -H "X-Api-Key: \$(cat $STATE/admin-key)" 'http://127.0.0.1:$GATEWAY_HTTP_PORT/v1/flowHealth?period=PERIOD_MONTH'
  curl -s -H "Authorization: Bearer \$(cat $STATE/hr-token)" http://127.0.0.1:$GATEWAY_HTTP_PORT/people/flow-health > flow-health.html
  curl -s -H "X-Api-Key: \$(cat $STATE/admin-key)" 'http://127.0.0.1:$GATEWAY_HTTP_PORT/v1/events?department_id=sales&page_size=3'

With perfflowctl (straight at the services; dev mode trusts identity metadata):
  build/bin/perfflowctl health week
  build/bin/perfflowctl --principal e100 tasks
  build/bin/perfflowctl --roles hr heatmap
  build/bin/perfflowctl ingest crm.contract_signed e101 contract_value=250000 customer_tier=key
  build/bin/perfflowctl --dry_run apply services/event/catalogue
  build/bin/perfflowctl --roles hr CreateSession '{"session_id":"sales-q","session":{"title":"Sales","cohort":{"departments":["sales"]},"scheduled_time":"2030-01-01T09:00:00Z","facilitator_id":"e100"}}'
  build/bin/perfflowctl --roles hr brief sales-q            # writes sales-q-brief-v1.html
  build/bin/perfflowctl AnalyzeFeedback '{"text":"表现良好，继续努力"}'
  build/bin/perfflowctl list

Stop with: ./scripts/dev.sh stop
MSG
