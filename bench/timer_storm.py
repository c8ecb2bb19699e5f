#!/usr/bin/python3
"""Timer storm on MariaDB: 100,000 tasks come due at once.

Measures, in one run against one throwaway MariaDB and the same replicas:
  0. the ingest capacity: IngestEvent throughput with 16 in flight;
  1. IngestEvent latency at a fixed rate of half that capacity (open loop:
     latency counts from each request's scheduled time, so queueing shows;
     16 clients: they queue requests themselves once a call takes longer
     than 16 / rate — 35 ms at 450/s; 64 changed nothing beyond the noise)
     with no due timers                                        -> p50/p99 baseline;
  2. 100,000 open tasks made due at the same instant; the same fixed-rate
     ingest while the replicas fire them                       -> p50/p99 under storm;
  3. the time until every one of the 100,000 overdue warnings has fired.
With --no-ingest only step 3 runs, with no load beside the storm.
Prints the ratios next to the goals (all warned within 60 s; ingest p99
under storm within 2x of the baseline — DESIGN.md — and within 3x, issue
#21's restated goal) and writes them as JSON. CPU per firing (claim, fire
and the warning's delivery) of MariaDB and of the replicas comes from
/proc over the storm; with --no-ingest it is the storm's alone (#21's goal:
MariaDB <= 200 us per firing). A closed
loop of 16 clients would saturate this machine on its own; the fixed rate
leaves the head-room a production deployment keeps.

Run by ./scripts/bench.sh timers (which starts the MariaDB).
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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from perfflow_e2e import (CATALOGUE_HEADS, Server, catalogue_request, cpu_seconds, generate_stubs,  # noqa: E402
                          mysql_env, mysql_url, org_request, test_mariadbd_pid)

TENANT = [("x-perfflow-tenant", "bench")]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def sql(schema, statement):
    m = re.match(r"^mysql://([^:@/]+)@([^:/]+):(\d+)$", mysql_url())
    out = subprocess.run(["mariadb", "--protocol=TCP", "-h", m.group(2), "-P", m.group(3), "-u", m.group(1),
                          "-N", "-B", schema, "-e", statement],
                         env=dict(os.environ, MYSQL_PWD=os.environ.get("PERFFLOW_TEST_MYSQL_PASSWORD", "")),
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


# What MariaDB did, counted: statements by kind and row operations. Its CPU
# per firing moves by a fifth between runs of one build (the VM, purge and
# page flushing); these counts do not, so a change of statements shows here.
COUNTERS = ("Com_select", "Com_insert", "Com_update", "Com_commit", "Handler_read_key", "Handler_read_next",
            "Handler_write", "Handler_update")


def server_counters(schema):
    names = ", ".join("'%s'" % c for c in COUNTERS)
    out = sql(schema, "SHOW GLOBAL STATUS WHERE Variable_name IN (%s)" % names)
    return {name: int(value) for name, value in (line.split("\t") for line in out.splitlines())}


def ingest_load(stub, pb, prefix, seconds=None, until=None, in_flight=16, rate=None):
    """Ingests contracts from `in_flight` threads, back to back (closed loop)
    or at `rate` per second (open loop); returns (latencies in s, requests/s)."""
    latencies, lock, stop = [], threading.Lock(), threading.Event()
    started = time.monotonic()
    deadline = started + seconds if seconds else None
    ticket = [0]

    def worker(w):
        n = 0
        while not stop.is_set():
            with lock:
                i = ticket[0]
                ticket[0] += 1
            scheduled = started + i / rate if rate else time.monotonic()
            delay = scheduled - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    return
            req = pb.IngestEventRequest(source="crm", external_id="%s-%d-%d" % (prefix, w, n),
                                        event_type="crm.contract_signed", subject_id="s%d" % (w % 8 + 1))
            req.attributes.update({"contract_value": 120000 + n, "customer_tier": "key"})
            stub.IngestEvent(req, metadata=TENANT, timeout=30)
            with lock:
                latencies.append(time.monotonic() - scheduled)
            n += 1

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(in_flight)]
    for t in threads:
        t.start()
    while True:
        time.sleep(0.1)
        if deadline and time.monotonic() >= deadline:
            break
        if until and until():
            break
    stop.set()
    for t in threads:
        t.join()
    return latencies, len(latencies) / (time.monotonic() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--baseline-seconds", type=int, default=20)
    parser.add_argument("--json", default="timer_storm.json")
    parser.add_argument("--no-ingest", action="store_true", help="the storm alone: no ingest phases")
    parser.add_argument("--event-arg", action="append", default=[],
                        help="a further flag for each replica, e.g. --event-arg=--background_duty_percent=25 "
                             "(repeatable)")
    parser.add_argument("--ingest-rate", type=float, default=0,
                        help="IngestEvent per second beside the storm (default: half the capacity measured first); "
                             "a fixed rate compares builds under the same load")
    args = parser.parse_args()

    import grpc
    work = tempfile.mkdtemp(prefix="perfflow-timer-storm-")
    generate_stubs(args.source_dir, os.path.join(work, "stubs"))
    from perfflow.event.v1 import event_service_pb2 as pb, event_service_pb2_grpc

    schema = "storm_" + secrets.token_hex(4)
    db_url = mysql_url() + "/" + schema
    replicas = [Server(args.binary, ["--db=" + db_url, "--worker_id=r%d" % i] + args.event_arg, mysql_env())
                for i in range(args.replicas)]
    try:
        stub = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(replicas[0].address()))
        stub.ApplyEventTypes(catalogue_request(pb, args.source_dir), metadata=TENANT)
        stub.UpsertDirectory(org_request(pb, CATALOGUE_HEADS, [("s%d" % i, "sales", "s-head") for i in range(1, 9)]),
                             metadata=TENANT)
        ingest_load(stub, pb, "warmup", seconds=3)
        if not args.no_ingest:
            _, capacity = ingest_load(stub, pb, "capacity", seconds=10)
            rate = args.ingest_rate or capacity / 2
            baseline, _ = ingest_load(stub, pb, "base", seconds=args.baseline_seconds, rate=rate)

        # Every task of the storm is due now, by the database's clock.
        sql(schema, "SET @due = FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000); "
                    "INSERT INTO tasks (tenant_id, task_id, event_id, event_type, kind, assignee_id, state, due_at, "
                    "created_at, timer_level, timer_at, escalate_after_ms, escalate_to) "
                    "SELECT 'storm', LPAD(HEX(seq), 32, '0'), LPAD(HEX(seq), 32, '0'), 'crm.contract_signed', 1, "
                    "CONCAT('p', seq MOD 500), 1, @due, @due - 86400000, 2, @due, 864000000000, 1 "
                    "FROM seq_1_to_%d" % args.tasks)
        due = int(sql(schema, "SELECT MIN(due_at) FROM tasks WHERE tenant_id = 'storm'"))
        db_pid = test_mariadbd_pid()

        def cpu():
            return {"mariadb": cpu_seconds(db_pid) if db_pid else 0.0,
                    "replicas": sum(cpu_seconds(r.proc.pid) for r in replicas)}
        counters_before = server_counters(schema)
        cpu_before = cpu()
        started = time.monotonic()
        # The probes stop at the first row they find (the storm's unfired
        # timers sort first in the timer index, pending messages in the due
        # index), so watching costs MariaDB next to nothing of what is measured;
        # the counts are taken once, after the CPU.
        done_at = []

        def all_fired():
            # On the timer index: the storm's fired tasks have moved on past
            # `due`, so the range holds only the unfired (on the tenant's
            # index MariaDB read past every fired row: ~19 reads per firing).
            unfired = ("SELECT EXISTS (SELECT 1 FROM tasks FORCE INDEX (tasks_timer) "
                       "WHERE state = 1 AND timer_at <= %d AND tenant_id = 'storm')")
            if sql(schema, unfired % due) == "0":
                done_at.append(time.monotonic())
                return True
            return time.monotonic() - started > 600

        if args.no_ingest:
            while not all_fired():
                time.sleep(0.5)
        else:
            storm, _ = ingest_load(stub, pb, "storm", until=all_fired, rate=rate)
        storm_seconds = (done_at[0] if done_at else time.monotonic()) - started
        # The claim/fire/deliver cost: CPU until the last warning has also left the outbox.
        deliver_deadline = time.monotonic() + 600
        while sql(schema, "SELECT EXISTS (SELECT 1 FROM outbox WHERE tenant_id = 'storm' AND state = 0)") == "1" \
                and time.monotonic() < deliver_deadline:
            time.sleep(0.2)
        delivered_seconds = time.monotonic() - started
        cpu_after = cpu()
        counters_after = server_counters(schema)
        per_firing_counts = {k: round((counters_after[k] - counters_before[k]) / args.tasks, 2) for k in COUNTERS}
        fired = int(sql(schema, "SELECT COUNT(*) FROM timer_firings WHERE tenant_id = 'storm'"))
        if fired != args.tasks:
            raise SystemExit("only %d of %d timers fired within 600 s" % (fired, args.tasks))
        delivered = int(sql(schema, "SELECT COUNT(*) FROM outbox WHERE tenant_id = 'storm' AND state <> 0"))
        per_firing_us = {k: round((cpu_after[k] - cpu_before[k]) / args.tasks * 1e6, 1) for k in cpu_before}
        lag = sql(schema, "SELECT MIN(fired_at - timer_at), MAX(fired_at - timer_at) FROM timer_firings "
                          "WHERE tenant_id = 'storm'").split("\t")
        if args.no_ingest:
            result = {"tasks": args.tasks, "replicas": args.replicas, "all_warned_seconds": round(storm_seconds, 2),
                      "all_warned_goal_seconds": 60, "fire_lag_ms_min_max": [int(lag[0]), int(lag[1])],
                      "all_delivered_seconds": round(delivered_seconds, 2), "messages_delivered": delivered,
                      "cpu_us_per_firing": per_firing_us, "mariadb_cpu_us_per_firing_goal": 200,
                      "mariadb_counts_per_firing": per_firing_counts}
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
            print("timer storm alone: %d tasks due at once, %d replicas: all warned in %.1f s (goal <= 60 s: %s); "
                  "fire lag %s..%s ms; %d warnings delivered after %.1f s; CPU per firing, claim to delivery: "
                  "MariaDB %.0f us (goal <= 200 us: %s), replicas %.0f us" % (
                      args.tasks, args.replicas, storm_seconds, "meets" if storm_seconds <= 60 else "MISSES",
                      lag[0], lag[1], delivered, delivered_seconds, per_firing_us["mariadb"],
                      "meets" if db_pid and per_firing_us["mariadb"] <= 200 else "MISSES", per_firing_us["replicas"]))
            print("MariaDB per firing: " + ", ".join("%s %.2f" % kv for kv in per_firing_counts.items()))
            return

        result = {
            "tasks": args.tasks,
            "replicas": args.replicas,
            "ingest_capacity_per_second": round(capacity, 1),
            "ingest_rate_per_second": round(rate, 1),
            "all_warned_seconds": round(storm_seconds, 2),
            "all_warned_goal_seconds": 60,
            "fire_lag_ms_min_max": [int(lag[0]), int(lag[1])],
            "ingest_baseline": {"n": len(baseline), "p50_ms": round(statistics.median(baseline) * 1000, 2),
                                "p99_ms": round(percentile(baseline, 99) * 1000, 2)},
            "ingest_storm": {"n": len(storm), "p50_ms": round(statistics.median(storm) * 1000, 2),
                             "p99_ms": round(percentile(storm, 99) * 1000, 2)},
        }
        result["ingest_p99_ratio"] = round(result["ingest_storm"]["p99_ms"] / result["ingest_baseline"]["p99_ms"], 2)
        result["ingest_p99_ratio_goal"] = 2.0
        result["ingest_p99_ratio_goal_issue_21"] = 3.0
        result["cpu_us_per_firing_with_ingest"] = per_firing_us
        result["mariadb_counts_per_firing_with_ingest"] = per_firing_counts
        result["all_delivered_seconds"] = round(delivered_seconds, 2)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print("timer storm: %d tasks due at once, %d replicas: all warned in %.1f s (goal <= 60 s: %s); "
              "ingest at %.0f/s (%.2f of the %.0f/s capacity): p99 %.1f ms under storm vs %.1f ms without, "
              "ratio %.2f (goal <= 2.0: %s; #21's <= 3.0: %s); fire lag %s..%s ms; CPU during the storm per firing "
              "(ingest included): MariaDB %.0f us, replicas %.0f us" % (
                  args.tasks, args.replicas, storm_seconds, "meets" if storm_seconds <= 60 else "MISSES",
                  rate, rate / capacity, capacity,
                  result["ingest_storm"]["p99_ms"], result["ingest_baseline"]["p99_ms"], result["ingest_p99_ratio"],
                  "meets" if result["ingest_p99_ratio"] <= 2.0 else "MISSES",
                  "meets" if result["ingest_p99_ratio"] <= 3.0 else "MISSES", lag[0], lag[1],
                  per_firing_us["mariadb"], per_firing_us["replicas"]))
    finally:
        for r in replicas:
            r.stop()


if __name__ == "__main__":
    main()
