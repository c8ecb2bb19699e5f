#!/usr/bin/python3
"""Calibration brief generation against its floor, in one run on one MariaDB.

A 50-person cohort in one department; 10,000 and then 100,000 chains, one a
second going back from now (chain n at now - n s, wrapping at 90 days; so
100,000 span the last 28 hours, all inside the brief's window), are written
straight into the event service's tables.
For each size it measures (median of 3):
  - the floor: the raw SQL read of the same rows (the flows and events of the
    brief's window, the columns the event service streams), through the
    MariaDB client with the output discarded;
  - GenerateBrief through perfflow-calibration, which streams the facts from
    perfflow-event over gRPC and aggregates them;
and the calibration service's peak RSS after each size. Prints the ratio to
the floor next to the goal (<= 2x) and whether memory grew with the event
count (the brief streams and aggregates per person and month).

Run by ./scripts/bench.sh brief (which starts the MariaDB).
"""

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from perfflow_e2e import Server, catalogue_request, generate_stubs, mysql_env, mysql_url  # noqa: E402

HR = [("x-perfflow-tenant", "bench"), ("x-perfflow-principal", "hr-1"), ("x-perfflow-roles", "hr")]
PEOPLE = 50


def mariadb(schema, statement, out=subprocess.PIPE):
    m = re.match(r"^mysql://([^:@/]+)@([^:/]+):(\d+)$", mysql_url())
    return subprocess.run(["mariadb", "--protocol=TCP", "-h", m.group(2), "-P", m.group(3), "-u", m.group(1),
                           "-N", "-B", "--quick", schema, "-e", statement],
                          env=dict(os.environ, MYSQL_PWD=os.environ.get("PERFFLOW_TEST_MYSQL_PASSWORD", "")),
                          stdout=out, stderr=subprocess.PIPE, text=True, check=True).stdout


def seed(schema, first, last):
    """Chains first..last (1-based) of PEOPLE people, chain n at now - (n mod 90 days in seconds) s."""
    mariadb(schema, (
        "SET @now = FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000); "
        "INSERT INTO events (tenant_id, event_id, event_type, source, external_id, subject_id, department_id, "
        "occurred_at, attributes, registry_version, payload_hash, step, round, verdict, requires_cross_confirm, "
        "triggered_at, triggered_day, owner_action_at, manager_feedback_at, cross_confirm_at, archived_at, "
        "evidence_complete_at) "
        "SELECT 'bench', LPAD(HEX(seq), 32, '0'), 'mes.first_article_passed', 'mes', CONCAT('x', seq), "
        "CONCAT('p', seq MOD {people}), 'assembly', @now - (seq MOD 7776000) * 1000, '{{}}', 1, '', "
        "5, 1, 1 + seq MOD 3, 0, @now - (seq MOD 7776000) * 1000, "
        "FLOOR((@now - (seq MOD 7776000) * 1000) / 86400000), "
        "@now - (seq MOD 7776000) * 1000 + (1 + seq MOD 40) * 3600000, "
        "@now - (seq MOD 7776000) * 1000 + (10 + seq MOD 50) * 3600000, NULL, "
        "@now - (seq MOD 7776000) * 1000 + (20 + seq MOD 70) * 3600000, "
        "IF(seq MOD 5 = 0, NULL, @now - (seq MOD 7776000) * 1000 + 3600000) "
        "FROM seq_{first}_to_{last}").format(people=PEOPLE, first=first, last=last))


def setup_assembly(events, epb, source_dir, metadata):
    """The catalogue and a directory of one department, assembly: head m0 and PEOPLE people p0.. at P4."""
    events.ApplyEventTypes(catalogue_request(epb, source_dir), metadata=metadata)
    org = epb.UpsertDirectoryRequest()
    org.departments.add(id="assembly", name="Assembly", head_id="m0")
    org.employees.add(id="m0", display_name="Head", department_id="assembly", grade="M3")
    for i in range(PEOPLE):
        org.employees.add(id="p%d" % i, display_name="Person %d" % i, department_id="assembly", grade="P4",
                          manager_id="m0")
    events.UpsertDirectory(org, metadata=metadata)


def create_assembly_session(calibration, pb, session_id, metadata):
    """A calibration session over assembly's P4 people, in 30 days."""
    req = pb.CreateSessionRequest(session_id=session_id)
    req.session.title = "Assembly P4"
    req.session.cohort.departments.append("assembly")
    req.session.cohort.grades.append("P4")
    req.session.scheduled_time.FromSeconds(int(time.time()) + 30 * 86400)
    req.session.facilitator_id = "hr-1"
    calibration.CreateSession(req, metadata=metadata)


def median_seconds(fn, runs=3):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        fn()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--event-binary", required=True)
    parser.add_argument("--calibration-binary", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--json", default="brief_bench.json")
    args = parser.parse_args()

    import grpc
    work = tempfile.mkdtemp(prefix="perfflow-brief-bench-")
    generate_stubs(args.source_dir, os.path.join(work, "stubs"))
    from perfflow.calibration.v1 import calibration_service_pb2 as pb, calibration_service_pb2_grpc
    from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc

    event_schema = "brief_ev_" + secrets.token_hex(4)
    event = Server(args.event_binary, ["--db=" + mysql_url() + "/" + event_schema, "--workers=false"], mysql_env())
    calibration = Server(args.calibration_binary, ["--db=" + mysql_url() + "/brief_cal_" + secrets.token_hex(4),
                                                   "--event_addr=" + event.address()], mysql_env())
    results = {"people": PEOPLE, "sizes": []}
    try:
        events = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(event.address()))
        stub = calibration_service_pb2_grpc.CalibrationServiceStub(grpc.insecure_channel(calibration.address()))
        setup_assembly(events, epb, args.source_dir, HR)
        create_assembly_session(stub, pb, "bench", HR)

        window_start_ms = None
        seeded = 0
        for size in (10000, 100000):
            seed(event_schema, seeded + 1, size)
            seeded = size
            brief = stub.GenerateBrief(pb.GenerateBriefRequest(session="sessions/bench"), metadata=HR)
            window_start_ms = brief.window_start.seconds * 1000
            window_end_ms = brief.window_end.seconds * 1000 + 1000
            in_window = sum(p.totals.chains for p in brief.people)
            raw_sql = (
                "SELECT e.event_id, e.event_type, e.source, e.external_id, e.subject_id, e.department_id, "
                "e.occurred_at, e.attributes, e.registry_version, e.triggered_at, e.owner_action_at, "
                "e.manager_feedback_at, e.cross_confirm_at, e.archived_at, e.requires_cross_confirm, e.round, "
                "e.verdict, e.evidence_complete_at FROM events e WHERE e.tenant_id = 'bench' AND "
                "e.triggered_at >= %d AND e.triggered_at < %d ORDER BY e.triggered_at, e.event_id"
                % (window_start_ms, window_end_ms))
            raw = median_seconds(lambda: mariadb(event_schema, raw_sql, out=subprocess.DEVNULL))
            generate = median_seconds(lambda: stub.GenerateBrief(pb.GenerateBriefRequest(session="sessions/bench"),
                                                                 metadata=HR))
            rss = calibration.peak_rss_kib()
            results["sizes"].append({"stored_events": size, "events_in_window": in_window,
                                     "raw_read_seconds": round(raw, 3), "brief_seconds": round(generate, 3),
                                     "ratio": round(generate / raw, 2), "calibration_peak_rss_kib": rss})
        small, large = results["sizes"]
        results["rss_growth_kib"] = large["calibration_peak_rss_kib"] - small["calibration_peak_rss_kib"]
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        for s in results["sizes"]:
            print("brief, %d-person cohort, %d stored events (%d in the window): %.2f s vs raw SQL read %.2f s, "
                  "ratio %.2f (goal <= 2.0: %s); calibration peak RSS %d KiB" % (
                      PEOPLE, s["stored_events"], s["events_in_window"], s["brief_seconds"], s["raw_read_seconds"],
                      s["ratio"], "meets" if s["ratio"] <= 2.0 else "MISSES", s["calibration_peak_rss_kib"]))
        print("calibration peak RSS grew by %d KiB from 10,000 to 100,000 stored events" % results["rss_growth_kib"])
    finally:
        calibration.stop()
        event.stop()


if __name__ == "__main__":
    main()
