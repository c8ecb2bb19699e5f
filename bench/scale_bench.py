#!/usr/bin/python3
"""1,000,000 stored events: flow health on both backends, and every service's
memory.

For each backend (MariaDB, then SQLite) one million chains, one a second
going back from now (so they span the last 11.6 days), are written straight
into the event service's tables (seeding is not what is measured). Then,
median of 3:
  - GetFlowHealth over the last 91 days (every stored chain) through
    perfflow-event, against
  - the floor: the same aggregate as raw SQL (the query the event service
    runs), through the database's own client.
Goal (DESIGN.md §8): < 1 s on both backends; the ratio to the floor is
printed beside it.

On MariaDB the four services and the gateway then run against the 1M-event
tenant; each is exercised on its large path (flow health and a full
StreamFlowFactBatches read on the event service; a 50-person brief on the
calibration service; list, get and health calls on evidence, feedback and
the gateway) and every process's peak RSS is reported (goal < 100 MiB each).

Run by ./scripts/bench.sh scale (which starts the MariaDB).
"""

import argparse
import json
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
from perfflow_e2e import Server, generate_stubs, mysql_env, mysql_url  # noqa: E402
from brief_bench import PEOPLE, create_assembly_session, mariadb, median_seconds, seed, setup_assembly  # noqa: E402,E501

EVENTS = 1_000_000
# The gateway refuses to start without an internal credential; every service shares it.
INTERNAL = "bench-" + secrets.token_hex(16)
HR = [("x-perfflow-tenant", "bench"), ("x-perfflow-principal", "hr-1"), ("x-perfflow-roles", "hr,admin"),
      ("x-perfflow-internal-token", INTERNAL)]
DAY_MS = 86_400_000
WINDOW_MS = 48 * 3_600_000


def seed_sqlite(path, count):
    """The chains brief_bench.seed() writes on MariaDB, for SQLite."""
    db = sqlite3.connect(path)
    now = int(time.time() * 1000)
    db.execute("BEGIN")
    for first in range(1, count + 1, 100_000):
        last = min(first + 99_999, count)
        db.execute(
            "WITH RECURSIVE seq(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM seq WHERE n < ?) "
            "INSERT INTO events (tenant_id, event_id, event_type, source, external_id, subject_id, department_id, "
            "occurred_at, attributes, registry_version, payload_hash, step, round, verdict, requires_cross_confirm, "
            "triggered_at, triggered_day, owner_action_at, manager_feedback_at, cross_confirm_at, archived_at, "
            "evidence_complete_at) "
            "SELECT 'bench', printf('%032X', n), 'mes.first_article_passed', 'mes', 'x' || n, 'p' || (n % ?), "
            "'assembly', t, '{}', 1, '', 5, 1, 1 + n % 3, 0, t, t / 86400000, t + (1 + n % 40) * 3600000, "
            "t + (10 + n % 50) * 3600000, NULL, t + (20 + n % 70) * 3600000, "
            "CASE WHEN n % 5 = 0 THEN NULL ELSE t + 3600000 END "
            "FROM (SELECT n, ? - (n % 7776000) * 1000 AS t FROM seq)", (first, last, PEOPLE, now))
    db.commit()
    db.close()


def health_request(epb):
    req = epb.GetFlowHealthRequest()
    now = int(time.time())
    req.start_time.FromSeconds(now - 91 * 86400)
    req.end_time.FromSeconds(now + 60)
    return req


def floor_sql(now_ms):
    """The aggregate perfflow-event runs for GetFlowHealth (SqlEventStore::HealthBuckets), as raw SQL."""
    start, end = now_ms - 91 * DAY_MS, now_ms + 60_000
    return ("SELECT f.department_id, f.event_type, f.triggered_day, "
            "SUM(CASE WHEN f.archived_at IS NOT NULL AND f.archived_at <= f.triggered_at + {w} THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN (f.archived_at IS NULL OR f.archived_at > f.triggered_at + {w}) AND "
            "f.triggered_at + {w} <= {now} THEN 1 ELSE 0 END), COUNT(*) FROM events f WHERE f.tenant_id = 'bench' "
            "AND f.triggered_day >= {start_day} AND f.triggered_day <= {end_day} AND f.triggered_at >= {start} "
            "AND f.triggered_at < {end} GROUP BY f.triggered_day, f.department_id, f.event_type").format(
                w=WINDOW_MS, now=now_ms, start=start, end=end, start_day=start // DAY_MS, end_day=end // DAY_MS)


def measure_health(stub, epb, raw):
    reply = stub.GetFlowHealth(health_request(epb), metadata=HR, timeout=120)
    total = reply.overall.within_sla + reply.overall.outside_sla + reply.overall.pending
    health = median_seconds(lambda: stub.GetFlowHealth(health_request(epb), metadata=HR, timeout=120))
    floor = median_seconds(raw)
    return {"chains": total, "flow_health_seconds": round(health, 3), "raw_sql_seconds": round(floor, 3),
            "ratio": round(health / floor, 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--json")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="perfflow-scale-bench-")
    generate_stubs(args.source_dir, os.path.join(work, "stubs"))
    import grpc
    from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc as epb_grpc
    from perfflow.calibration.v1 import calibration_service_pb2 as cpb, calibration_service_pb2_grpc as cpb_grpc
    from perfflow.evidence.v1 import evidence_service_pb2 as vpb, evidence_service_pb2_grpc as vpb_grpc
    from perfflow.feedback.v1 import feedback_service_pb2 as fpb, feedback_service_pb2_grpc as fpb_grpc
    binary = lambda name: os.path.join(args.bin_dir, "perfflow-" + name)  # noqa: E731
    results = {"events": args.events}

    # ---- SQLite
    db_path = os.path.join(work, "event.db")
    event = Server(binary("event"), ["--db=sqlite:" + db_path, "--workers=false"], {"PERFFLOW_INTERNAL_TOKEN": INTERNAL})
    setup_assembly(epb_grpc.EventServiceStub(grpc.insecure_channel(event.address())), epb, args.source_dir, HR)
    event.stop()
    start = time.monotonic()
    seed_sqlite(db_path, args.events)
    print("seeded %d chains into SQLite in %.0f s" % (args.events, time.monotonic() - start), flush=True)
    event = Server(binary("event"), ["--db=sqlite:" + db_path, "--workers=false"], {"PERFFLOW_INTERNAL_TOKEN": INTERNAL})
    stub = epb_grpc.EventServiceStub(grpc.insecure_channel(event.address()))
    sql = floor_sql(int(time.time() * 1000))
    results["sqlite"] = measure_health(stub, epb, lambda: subprocess.run(
        ["sqlite3", db_path, sql], stdout=subprocess.DEVNULL, check=True))
    results["sqlite"]["event_peak_rss_kib"] = event.peak_rss_kib()
    event.stop()
    print("sqlite:", results["sqlite"], flush=True)

    # ---- MariaDB, with every service
    schema = "scale_ev_" + secrets.token_hex(4)
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL)
    event = Server(binary("event"), ["--db=%s/%s" % (mysql_url(), schema)], env)
    stub = epb_grpc.EventServiceStub(grpc.insecure_channel(event.address()))
    setup_assembly(stub, epb, args.source_dir, HR)
    start = time.monotonic()
    for first in range(1, args.events + 1, 100_000):
        seed(schema, first, min(first + 99_999, args.events))
    print("seeded %d chains into MariaDB in %.0f s" % (args.events, time.monotonic() - start), flush=True)
    sql = floor_sql(int(time.time() * 1000))
    results["mariadb"] = measure_health(stub, epb, lambda: mariadb(schema, sql, out=subprocess.DEVNULL))
    print("mariadb:", results["mariadb"], flush=True)

    others = {}
    lexicon = os.path.join(args.source_dir, "services/feedback/lexicon/default.yaml")
    for name, extra in (("evidence", []), ("feedback", ["--lexicon=" + lexicon]), ("calibration", [])):
        others[name] = Server(binary(name), ["--db=%s/scale_%s_%s" % (mysql_url(), name, secrets.token_hex(4)),
                                             "--event_addr=" + event.address()] + extra, env)
    config = os.path.join(work, "gateway.yaml")
    with open(config, "w") as f:
        f.write("rate_limit: {requests_per_second: 1000, burst: 1000}\n")
    gateway = Server(binary("gateway"), [
        "--http_port=0", "--config=" + config, "--db=%s/scale_gw_%s" % (mysql_url(), secrets.token_hex(4)),
        "--event_addr=" + event.address(), "--evidence_addr=" + others["evidence"].address(),
        "--feedback_addr=" + others["feedback"].address(),
        "--calibration_addr=" + others["calibration"].address()], env)
    try:
        facts = 0
        for batch in stub.StreamFlowFactBatches(epb.StreamFlowFactsRequest(), metadata=HR, timeout=600):
            facts += len(batch.facts)
        results["mariadb"]["facts_streamed"] = facts
        cal = cpb_grpc.CalibrationServiceStub(grpc.insecure_channel(others["calibration"].address()))
        create_assembly_session(cal, cpb, "scale", HR)
        brief = cal.GenerateBrief(cpb.GenerateBriefRequest(session="sessions/scale"), metadata=HR, timeout=600)
        results["mariadb"]["brief_people"] = len(brief.people)
        vpb_grpc.EvidenceServiceStub(grpc.insecure_channel(others["evidence"].address())).ListEvidence(
            vpb.ListEvidenceRequest(event="events/%032X" % 1), metadata=HR)
        fpb_grpc.FeedbackServiceStub(grpc.insecure_channel(others["feedback"].address())).ListReviews(
            fpb.ListReviewsRequest(event="events/%032X" % 1), metadata=HR)
        port = next(int(json.loads(line)["http_port"]) for line in gateway.log if '"http listening"' in line)
        urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=30).read()
        rss = {"event": event.peak_rss_kib(), "gateway": gateway.peak_rss_kib()}
        rss.update({name: server.peak_rss_kib() for name, server in others.items()})
        results["peak_rss_kib"] = rss
    finally:
        gateway.stop()
        for server in others.values():
            server.stop()
        event.stop()

    for backend in ("mariadb", "sqlite"):
        r = results[backend]
        print("flow health over %d chains on %-7s: %.3f s (goal < 1 s: %s); the same aggregate as raw SQL "
              "%.3f s; ratio %.2f" % (r["chains"], backend, r["flow_health_seconds"],
                                      "meets" if r["flow_health_seconds"] < 1 else "MISSES", r["raw_sql_seconds"],
                                      r["ratio"]))
    print("peak RSS with %d events stored (goal < 100 MiB each):" % args.events)
    for name, kib in sorted(results["peak_rss_kib"].items()):
        print("  %-12s %7.1f MiB %s" % (name, kib / 1024, "meets" if kib < 100 * 1024 else "MISSES"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
