#!/usr/bin/python3
"""What one IngestEvent costs, delivery of its notices included, build against build.

The limits bench measures CPU over its IngestEvent phases only; the relay's
work for those events (three task.assigned notices each) partly falls into
later phases, and differently for builds that deliver sooner or later. Here
each measurement runs until everything it ingested is delivered:

  for each round, for each build (the order alternates between rounds):
    a fresh schema and perfflow-event with its workers; a warm-up;
    CPU of the service and of MariaDB (/proc) before;
    IngestEvent for --seconds with 16 in flight (Python clients, not counted);
    wait until no task.assigned notice is pending;
    CPU after -> CPU per event, and MariaDB's statement and row counters.

Prints each build's medians and its ratio to the first build's. Run with
the test MariaDB's environment (./scripts/bench.sh starts one), e.g.
  bench/ingest_cost.py --build new=build/bin --build old=/tmp/old-bin --source-dir .
A build may carry a query for the service's --db URL, e.g. pool16=build/bin?pool_size=16.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from perfflow_e2e import (CATALOGUE_HEADS, Server, catalogue_request, cpu_seconds, cpu_times, generate_stubs,  # noqa: E402
                          mysql_env, mysql_url, org_request, test_mariadbd_pid)
from timer_storm import COUNTERS, TENANT, ingest_load, server_counters, sql  # noqa: E402


def measure(grpc, pb, pb_grpc, source_dir, build, seconds):
    bin_dir, _, query = build.partition("?")
    schema = "cost_" + secrets.token_hex(4)
    server = Server(os.path.join(bin_dir, "perfflow-event"),
                    ["--db=%s/%s%s" % (mysql_url(), schema, "?" + query if query else "")], mysql_env())
    try:
        stub = pb_grpc.EventServiceStub(grpc.insecure_channel(server.address()))
        stub.ApplyEventTypes(catalogue_request(pb, source_dir), metadata=TENANT)
        stub.UpsertDirectory(org_request(pb, CATALOGUE_HEADS, [("s%d" % i, "sales", "s-head") for i in range(1, 9)]),
                             metadata=TENANT)
        pending = "SELECT EXISTS (SELECT 1 FROM tasks WHERE notice_state = 0)"

        def drain():
            deadline = time.monotonic() + 180
            while sql(schema, pending) == "1":
                if time.monotonic() > deadline:
                    raise SystemExit("notices still pending 180 s after ingestion")
                time.sleep(0.1)

        ingest_load(stub, pb, "warmup", seconds=2)
        drain()
        db_pid = test_mariadbd_pid()
        counters_before = server_counters(schema)
        before = (cpu_times(server.proc.pid), cpu_seconds(db_pid))
        latencies, _ = ingest_load(stub, pb, "cost", seconds=seconds)
        drain()
        after = (cpu_times(server.proc.pid), cpu_seconds(db_pid))
        counters_after = server_counters(schema)
        events = len(latencies)
        (user0, system0), (user1, system1) = before[0], after[0]
        return {"events": events,
                "service_us": (user1 + system1 - user0 - system0) / events * 1e6,
                "mariadb_us": (after[1] - before[1]) / events * 1e6,
                # the service's own code and libraries, without the kernel's
                # scheduling and network time (the noisier part on a shared VM)
                "service_user_us": (user1 - user0) / events * 1e6,
                "counts": {k: (counters_after[k] - counters_before[k]) / events for k in COUNTERS}}
    finally:
        server.stop()
        sql(schema, "DROP DATABASE IF EXISTS %s" % schema)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="append", required=True,
                        help="name=bin_dir[?db_query] (repeatable; the first is 1.0)")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.build]

    import grpc
    work = tempfile.mkdtemp(prefix="perfflow-ingest-cost-")
    generate_stubs(args.source_dir, os.path.join(work, "stubs"))
    from perfflow.event.v1 import event_service_pb2 as pb, event_service_pb2_grpc as pb_grpc

    results = {name: [] for name, _ in builds}
    for r in range(args.rounds):
        order = builds if r % 2 == 0 else list(reversed(builds))
        for name, bin_dir in order:
            m = measure(grpc, pb, pb_grpc, args.source_dir, bin_dir, args.seconds)
            results[name].append(m)
            print("round %d %-8s %5d events: service %4.0f us (user %4.0f), MariaDB %4.0f us per event, delivery "
                  "included" % (r + 1, name, m["events"], m["service_us"], m["service_user_us"], m["mariadb_us"]),
                  flush=True)
    first = builds[0][0]
    kinds = ("service_us", "service_user_us", "mariadb_us")
    base = {k: statistics.median(m[k] for m in results[first]) for k in kinds}
    for name, _ in builds:
        med = {k: statistics.median(m[k] for m in results[name]) for k in kinds}
        counts = {k: statistics.median(m["counts"][k] for m in results[name]) for k in COUNTERS}
        print("%-8s median per event: service %4.0f us (%.2f of %s; user %4.0f us, %.2f), MariaDB %4.0f us (%.2f); "
              "MariaDB per event: %s"
              % (name, med["service_us"], med["service_us"] / base["service_us"], first, med["service_user_us"],
                 med["service_user_us"] / base["service_user_us"], med["mariadb_us"],
                 med["mariadb_us"] / base["mariadb_us"], ", ".join("%s %.2f" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
