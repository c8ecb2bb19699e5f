#!/usr/bin/python3
"""perfflow's ingestion paths as ratios to this machine's limits, in one run.

Starts perfflow-event (Release) on the throwaway MariaDB with the catalogue
and a directory, then runs build-bench/bin/limits_bench, which measures in one
process, rounds interleaved: raw durable one-row INSERTs through Connector/C++
and IngestEvent, both with 16 in flight; raw 100-row INSERTs and
BatchIngestEvents of 100, both with 4 in flight; and an empty gRPC echo. Prints
each path as a ratio to its limit next to the goal from DESIGN.md §8, and the
event service's peak RSS.

Run by ./scripts/bench.sh limits (which starts the MariaDB).
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from perfflow_e2e import (CATALOGUE_HEADS, Server, catalogue_request, org_request, generate_stubs, test_mariadbd_pid,  # noqa: E402
                          mysql_env, mysql_url)

INTERNAL = "bench-" + secrets.token_hex(16)
MD = [("x-perfflow-tenant", "bench"), ("x-perfflow-roles", "admin,system"), ("x-perfflow-internal-token", INTERNAL)]


def verdict(ratio, goal):
    return "meets" if ratio >= goal else "MISSES"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument("--event-arg", action="append", default=[],
                        help="a further flag for perfflow-event, e.g. --event-arg=--workers=false (repeatable)")
    parser.add_argument("--db-query", default="", help="appended to the event service's --db URL, e.g. ?pool_size=16")
    parser.add_argument("--event-env", action="append", default=[],
                        help="KEY=VALUE for perfflow-event's environment, e.g. MALLOC_ARENA_MAX=16 (repeatable)")
    parser.add_argument("--compare-bin-dir",
                        help="another build's bin dir: its perfflow-event's IngestEvent runs in the same rounds, "
                             "on a schema of its own, and is reported as a ratio to this build's")
    parser.add_argument("--compare-event-arg", action="append", default=[],
                        help="a further flag for the compared perfflow-event only (after --event-arg; repeatable), "
                             "e.g. --compare-bin-dir build/bin --compare-event-arg=--ingest_transactions=0")
    parser.add_argument("--candidate", default="", choices=["", "outbox_rows"],
                        help="a data model measured by hand beside the same-work floor, in the same rounds")
    parser.add_argument("--event-preload", help="a library to LD_PRELOAD into perfflow-event (e.g. an allocator)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="perfflow-limits-bench-")
    generate_stubs(args.source_dir, os.path.join(work, "stubs"))
    import grpc
    from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc as epb_grpc

    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL)
    suffix = secrets.token_hex(4)
    event_env = dict(env, **dict(kv.split("=", 1) for kv in args.event_env))
    if args.event_preload:
        event_env["LD_PRELOAD"] = args.event_preload
    def start_event(bin_dir, schema, extra_args=()):
        server = Server(os.path.join(bin_dir, "perfflow-event"),
                        ["--db=%s/%s%s" % (mysql_url(), schema, args.db_query)] + args.event_arg + list(extra_args),
                        event_env)
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(server.address()))
        stub.ApplyEventTypes(catalogue_request(epb, args.source_dir), metadata=MD)
        stub.UpsertDirectory(org_request(epb, CATALOGUE_HEADS, [("s1", "sales", "s-head")]), metadata=MD)
        return server

    servers = []
    try:
        event = start_event(args.bin_dir, "limits_" + suffix)
        servers.append(event)
        compare = start_event(args.compare_bin_dir, "limits_cmp_" + suffix, args.compare_event_arg) if args.compare_bin_dir else None
        if compare:
            servers.append(compare)
        run = subprocess.run([os.path.join(args.bin_dir, "limits_bench"), "--mysql_url=" + mysql_url(),
                              "--schema=limits_raw_" + suffix, "--event_schema=limits_" + suffix,
                              "--event_addr=" + event.address(), "--event_pid=%d" % event.proc.pid,
                              "--mysql_pid=%d" % test_mariadbd_pid(),
                              "--seconds=%d" % args.seconds, "--rounds=%d" % args.rounds]
                             + (["--candidate=" + args.candidate] if args.candidate else [])
                             + (["--compare_addr=" + compare.address(), "--compare_pid=%d" % compare.proc.pid]
                                if compare else []),
                             env=dict(os.environ, **env), stdout=subprocess.PIPE, text=True, check=True)
        r = json.loads(run.stdout)
        rss_kib = event.peak_rss_kib()
    finally:
        for server in servers:
            server.stop()

    single = r["ingest_events_per_s"] / r["raw_single_rows_per_s"]
    same = r["ingest_events_per_s"] / r["same_work_events_per_s"]
    batch = r["batch_events_per_s"] / r["raw_batch_rows_per_s"]
    print("%-58s %14s %10s %8s %7s" % ("path vs the machine's limit (same process, same run)", "per second",
                                         "ratio", "goal", ""))
    print("%-58s %14.0f" % ("limit: raw durable one-row INSERT, 16 in flight (rows)", r["raw_single_rows_per_s"]))
    print("%-58s %14.0f" % ("floor: the same statements by hand, 16 in flight (events)",
                            r["same_work_events_per_s"]))
    print("%-58s %14.0f %10.2f %8s %7s" % ("IngestEvent, 16 in flight (events)", r["ingest_events_per_s"], same,
                                            ">= 0.70", verdict(same, 0.7)))
    print("%-58s %14s %10.2f" % ("  (IngestEvent against one raw row per event)", "", single))
    print("%-58s %14.0f" % ("limit: raw 100-row INSERT, 4 in flight (rows)", r["raw_batch_rows_per_s"]))
    print("%-58s %14.0f %10.2f %8s %7s" % ("BatchIngestEvents of 100, 4 in flight (events)", r["batch_events_per_s"],
                                            batch, ">= 0.30", verdict(batch, 0.3)))
    print("%-58s %14.0f" % ("limit: empty gRPC unary echo, 16 in flight (calls)", r["raw_echo_calls_per_s"]))
    cpu = r["cpu_us_per_event"]
    print("CPU per event (us): event service %.0f, MariaDB %.0f (same-work floor: MariaDB %.0f); "
          "gRPC echo, client and server together, %.0f per call"
          % (cpu["ingest_service"], cpu["ingest_mysql"], cpu["same_work_mysql"], cpu["echo_client_and_server"]))
    if args.candidate:
        print("candidate model '%s', same work by hand: %.0f events/s (%.2f of the floor), MariaDB %.0f us per "
              "event (%.2f of the floor's), %d rows per event (floor %d)"
              % (args.candidate, r["candidate_events_per_s"], r["candidate_events_per_s"] / r["same_work_events_per_s"],
                 cpu["candidate_mysql"], cpu["candidate_mysql"] / cpu["same_work_mysql"],
                 r["candidate_rows_per_event"], r["same_work_rows_per_event"]))
    if compare:
        print("IngestEvent of %s: %.0f events/s, this build's is %.2f of it; CPU per event: event service %.0f, "
              "MariaDB %.0f (this build: %.0f, %.0f); its BatchIngestEvents %.0f events/s (this build's %.2f of it)"
              % (args.compare_bin_dir, r["compare_events_per_s"], r["ingest_events_per_s"] / r["compare_events_per_s"],
                 cpu["compare_service"], cpu["compare_mysql"], cpu["ingest_service"], cpu["ingest_mysql"],
                 r["compare_batch_events_per_s"], r["batch_events_per_s"] / r["compare_batch_events_per_s"]))
    switches = r["mysql_context_switches_per_event"]
    print("MariaDB thread context switches per event: %.1f under IngestEvent, %.1f under the same statements by hand"
          % (switches["ingest"], switches["same_work"]))
    print("IngestEvent reaches %.1f%% of the bare gRPC call rate; event service peak RSS %.1f MiB"
          % (100 * r["ingest_events_per_s"] / r["raw_echo_calls_per_s"], rss_kib / 1024))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(r, compare_bin_dir=args.compare_bin_dir, compare_event_args=args.compare_event_arg, event_args=args.event_arg, event_env=args.event_env, event_preload=args.event_preload, ingest_ratio=single, ingest_goal=0.5, same_work_ratio=same, same_work_goal=0.7,
                           batch_ratio=batch, batch_goal=0.3,
                           event_peak_rss_kib=rss_kib), f, indent=2)


if __name__ == "__main__":
    main()
