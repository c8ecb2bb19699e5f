#!/usr/bin/env bash
# Installs what is missing, builds, and starts perfflow on the embedded
# default (SQLite, no server) with a demo tenant, then prints where to look.
#   ./scripts/dev.sh          start (or restart) the suite
#   ./scripts/dev.sh stop     stop it
# State (database, logs, pids) lives in .perfflow/ of the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=.perfflow
GRPC_PORT=${PERFFLOW_DEV_GRPC_PORT:-50051}
METRICS_PORT=${PERFFLOW_DEV_METRICS_PORT:-9464}
EVIDENCE_GRPC_PORT=${PERFFLOW_DEV_EVIDENCE_GRPC_PORT:-50052}
EVIDENCE_METRICS_PORT=${PERFFLOW_DEV_EVIDENCE_METRICS_PORT:-9465}
FEEDBACK_GRPC_PORT=${PERFFLOW_DEV_FEEDBACK_GRPC_PORT:-50053}
FEEDBACK_METRICS_PORT=${PERFFLOW_DEV_FEEDBACK_METRICS_PORT:-9466}
CALIBRATION_GRPC_PORT=${PERFFLOW_DEV_CALIBRATION_GRPC_PORT:-50054}
CALIBRATION_METRICS_PORT=${PERFFLOW_DEV_CALIBRATION_METRICS_PORT:-9467}
GATEWAY_HTTP_PORT=${PERFFLOW_DEV_GATEWAY_HTTP_PORT:-8080}
GATEWAY_GRPC_PORT=${PERFFLOW_DEV_GATEWAY_GRPC_PORT:-50050}
GATEWAY_METRICS_PORT=${PERFFLOW_DEV_GATEWAY_METRICS_PORT:-9463}
# Development-only secrets of the gateway's dev configuration.
export PERFFLOW_DEV_JWT_SECRET=dev-only-jwt-secret-0123456789abcdef
export PERFFLOW_DEV_CRM_SECRET=dev-only-crm-webhook-secret

stop_service() {
  local pidfile=$STATE/$1.pid
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

# Waits for a service's "listening" log line, or shows why it died.
wait_listening() {
  local name=$1 log=$STATE/logs/$1.log
  for _ in $(seq 1 600); do
    if grep -q '"msg":"listening"' "$log"; then return 0; fi
    if ! kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      echo "perfflow-$name failed to start; its log:" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "perfflow-$name did not start in 60 s" >&2
  exit 1
}

if [[ ${1:-start} == stop ]]; then
  stop_service gateway
  stop_service calibration
  stop_service feedback
  stop_service evidence
  stop_service event
  echo "perfflow stopped"
  exit 0
fi

./scripts/install-deps.sh
./scripts/build.sh

mkdir -p "$STATE/logs"
stop_service gateway
stop_service calibration
stop_service feedback
stop_service evidence
stop_service event

setsid build/bin/perfflow-event \
  --db "sqlite:$STATE/event.db" --dev_mode --demo --catalogue_dir services/event/catalogue \
  --grpc_port "$GRPC_PORT" --metrics_port "$METRICS_PORT" --drain_seconds 1 \
  >"$STATE/logs/event.log" 2>&1 < /dev/null &
echo $! > "$STATE/event.pid"
wait_listening event

setsid build/bin/perfflow-evidence \
  --db "sqlite:$STATE/evidence.db" --dev_mode --blob_dir "$STATE/blobs" --event_addr "127.0.0.1:$GRPC_PORT" \
  --grpc_port "$EVIDENCE_GRPC_PORT" --metrics_port "$EVIDENCE_METRICS_PORT" --drain_seconds 1 \
  >"$STATE/logs/evidence.log" 2>&1 < /dev/null &
echo $! > "$STATE/evidence.pid"
wait_listening evidence

setsid build/bin/perfflow-feedback \
  --db "sqlite:$STATE/feedback.db" --dev_mode --event_addr "127.0.0.1:$GRPC_PORT" \
  --evidence_addr "127.0.0.1:$EVIDENCE_GRPC_PORT" --lexicon services/feedback/lexicon/default.yaml \
  --grpc_port "$FEEDBACK_GRPC_PORT" --metrics_port "$FEEDBACK_METRICS_PORT" --drain_seconds 1 \
  >"$STATE/logs/feedback.log" 2>&1 < /dev/null &
echo $! > "$STATE/feedback.pid"
wait_listening feedback

setsid build/bin/perfflow-calibration \
  --db "sqlite:$STATE/calibration.db" --dev_mode --event_addr "127.0.0.1:$GRPC_PORT" \
  --grpc_port "$CALIBRATION_GRPC_PORT" --metrics_port "$CALIBRATION_METRICS_PORT" --drain_seconds 1 \
  >"$STATE/logs/calibration.log" 2>&1 < /dev/null &
echo $! > "$STATE/calibration.pid"
wait_listening calibration

setsid build/bin/perfflow-gateway \
  --db "sqlite:$STATE/gateway.db" --dev_mode --config gateway/dev-gateway.yaml \
  --event_addr "127.0.0.1:$GRPC_PORT" --evidence_addr "127.0.0.1:$EVIDENCE_GRPC_PORT" \
  --feedback_addr "127.0.0.1:$FEEDBACK_GRPC_PORT" --calibration_addr "127.0.0.1:$CALIBRATION_GRPC_PORT" \
  --http_port "$GATEWAY_HTTP_PORT" --grpc_port "$GATEWAY_GRPC_PORT" --metrics_port "$GATEWAY_METRICS_PORT" \
  --drain_seconds 1 >"$STATE/logs/gateway.log" 2>&1 < /dev/null &
echo $! > "$STATE/gateway.pid"
wait_listening gateway

# An admin API key for the demo tenant (created once, shown here each start)
# and a one-day bearer token for an HR person, e100.
if [[ ! -s $STATE/admin-key ]]; then
  build/bin/perfflow-gateway --db "sqlite:$STATE/gateway.db" --tenant demo --roles admin,hr,system \
    --principal dev-admin --display_name "dev admin" create-api-key >"$STATE/admin-key" 2>/dev/null
fi
ADMIN_KEY=$(cat "$STATE/admin-key")
TOKEN=$(/usr/bin/python3 - <<'PY'
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = {"iss": "perfflow-dev", "aud": "perfflow", "sub": "e100", "tenant": "demo", "roles": ["hr", "manager"],
          "iat": now, "exp": now + 86400}
signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
key = os.environ["PERFFLOW_DEV_JWT_SECRET"].encode()
print(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()))
PY
)
echo "$TOKEN" > "$STATE/hr-token"

cat <<MSG

perfflow is running on the embedded default (SQLite: $STATE/event.db), demo tenant "demo"
(13 event types, 51 people in 5 departments, 300 events over the last 90 days).

  event service (gRPC)     127.0.0.1:$GRPC_PORT   perfflow.event.v1.EventService, health + reflection
  evidence service (gRPC)  127.0.0.1:$EVIDENCE_GRPC_PORT   perfflow.evidence.v1.EvidenceService
  feedback service (gRPC)  127.0.0.1:$FEEDBACK_GRPC_PORT   perfflow.feedback.v1.FeedbackService
  calibration (gRPC)       127.0.0.1:$CALIBRATION_GRPC_PORT   perfflow.calibration.v1.CalibrationService
  gateway (HTTP/JSON)      http://127.0.0.1:$GATEWAY_HTTP_PORT   every RPC as HTTP/JSON, POST /v1/webhooks/crm, /people/ pages
  gateway (gRPC)           127.0.0.1:$GATEWAY_GRPC_PORT   the same services behind API keys / bearer tokens
  metrics                  http://127.0.0.1:{$METRICS_PORT,$EVIDENCE_METRICS_PORT,$FEEDBACK_METRICS_PORT,$CALIBRATION_METRICS_PORT,$GATEWAY_METRICS_PORT}/metrics
  logs (JSON lines)        $STATE/logs/{event,evidence,feedback,calibration,gateway}.log
  admin API key            $STATE/admin-key   (X-Api-Key; tenant demo, roles admin,hr,system)
  HR bearer token (e100)   $STATE/hr-token    (Authorization: Bearer, or the perfflow_token cookie; valid 1 day)

Try (through the gateway):
  curl -s -H "X-Api-Key: \$(cat $STATE/admin-key)" 'http://127.0.0.1:$GATEWAY_HTTP_PORT/v1/flowHealth?period=PERIOD_MONTH'
  curl -s -H "Authorization: Bearer \$(cat $STATE/hr-token)" http://127.0.0.1:$GATEWAY_HTTP_PORT/people/flow-health > flow-health.html
  curl -s -H "X-Api-Key: \$(cat $STATE/admin-key)" 'http://127.0.0.1:$GATEWAY_HTTP_PORT/v1/events?department_id=sales&page_size=3'

Or straight at the services (dev mode trusts identity metadata; no internal token is set):
  build/bin/perfflowctl GetFlowHealth '{"period":"PERIOD_MONTH"}'
  build/bin/perfflowctl ListTasks '{"assignee_id":"e100"}'
  build/bin/perfflowctl ListEvents '{"department_id":"sales","page_size":3}'
  build/bin/perfflowctl --addr 127.0.0.1:$EVIDENCE_GRPC_PORT ValidateChain '{"event":"events/<id from ListEvents>"}'
  build/bin/perfflowctl --addr 127.0.0.1:$FEEDBACK_GRPC_PORT AnalyzeFeedback '{"text":"表现良好，继续努力"}'
  C="build/bin/perfflowctl --addr 127.0.0.1:$CALIBRATION_GRPC_PORT --roles hr"
  \$C CreateSession '{"session_id":"sales-q","session":{"title":"Sales","cohort":{"departments":["sales"]},"scheduled_time":"2030-01-01T09:00:00Z","facilitator_id":"e100"}}'
  \$C GenerateBrief '{"session":"sessions/sales-q"}'
  \$C RenderBrief '{"session":"sessions/sales-q","format":"RENDER_FORMAT_HTML"}'
  \$C GetInsights '{}'
  build/bin/perfflowctl list
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep perfflow_flow_health_ratio

Stop with: ./scripts/dev.sh stop
MSG
