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

cat <<MSG

perfflow is running on the embedded default (SQLite: $STATE/event.db), demo tenant "demo"
(13 event types, 51 people in 5 departments, 300 events over the last 90 days).

  event service (gRPC)     127.0.0.1:$GRPC_PORT   perfflow.event.v1.EventService, health + reflection
  evidence service (gRPC)  127.0.0.1:$EVIDENCE_GRPC_PORT   perfflow.evidence.v1.EvidenceService
  feedback service (gRPC)  127.0.0.1:$FEEDBACK_GRPC_PORT   perfflow.feedback.v1.FeedbackService
  calibration (gRPC)       127.0.0.1:$CALIBRATION_GRPC_PORT   perfflow.calibration.v1.CalibrationService
  metrics                  http://127.0.0.1:{$METRICS_PORT,$EVIDENCE_METRICS_PORT,$FEEDBACK_METRICS_PORT,$CALIBRATION_METRICS_PORT}/metrics
  logs (JSON lines)        $STATE/logs/{event,evidence,feedback,calibration}.log

Try:
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
