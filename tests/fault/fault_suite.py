#!/usr/bin/python3
"""Fault suite (ctest -L fault): real perfflow-event processes on a private
MariaDB that this script starts, kills and restarts itself.

- kill -9 the event service in the middle of an ingest burst while the
  clients retry; a restarted replica on the same port serves the retries;
- SIGKILL MariaDB under load and start it again: readiness turns NOT_SERVING,
  callers get UNAVAILABLE, the service recovers on its own;
- a duplicate-delivery storm: the same ids sent in parallel to three replicas;
- the database clock jumps forward three days (every timer due at once: all
  fire, none early by the database clock) and then back (nothing fires early
  or twice) — MariaDB runs under libfaketime with a clock file it re-reads;

after each, an invariant checker reads the tables directly: every
acknowledged event exists exactly once with its whole chain (flow row, inbox
row, the same number of tasks as every other event of its type, one
task.assigned outbox message per task) and nothing is half-written.
"""

import argparse
import collections
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from perfflow_e2e import Server, generate_stubs, catalogue_request, org_request  # noqa: E402

ARGS = None
WORK = None
DB = None
TENANT = [("x-perfflow-tenant", "fault"), ("x-perfflow-roles", "system")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    """A private mariadbd whose process this test owns (same data and port across restarts)."""

    FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

    def __init__(self, movable_clock=False):
        self.dir = tempfile.mkdtemp(prefix="perfflow-fault-mariadb-")
        self.clock_file = os.path.join(self.dir, "clock") if movable_clock else None
        if self.clock_file:
            self.set_clock("+0")
        self.port = free_port()
        self.password = secrets.token_hex(8)
        self.proc = None
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.dir + "/data",
                        "--user=" + pwd.getpwuid(os.getuid()).pw_name, "--skip-test-db"],
                       check=True, capture_output=True)
        self.start()
        self.sql("CREATE USER 'perfflow'@'127.0.0.1' IDENTIFIED BY '%s'; "
                 "GRANT ALL PRIVILEGES ON *.* TO 'perfflow'@'127.0.0.1';" % self.password, root=True)

    def set_clock(self, offset):
        """The server's clock offset from real time, e.g. "+3d" or "-2h" (read within a second)."""
        with open(self.clock_file, "w") as f:
            f.write(offset + "\n")

    def now_ms(self, schema):
        return int(self.sql("SELECT FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000)", schema)[0][0])

    def start(self):
        env = dict(os.environ)
        if self.clock_file:
            env.update(LD_PRELOAD=self.FAKETIME, FAKETIME_TIMESTAMP_FILE=self.clock_file, FAKETIME_CACHE_DURATION="1",
                       FAKETIME_DONT_RESET="1")
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + self.dir + "/data", "--socket=" + self.dir + "/s",
             "--port=%d" % self.port, "--bind-address=127.0.0.1", "--skip-name-resolve",
             "--user=" + pwd.getpwuid(os.getuid()).pw_name, "--log-error=" + self.dir + "/error.log", "--skip-log-bin",
             "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=1", "--max-connections=300",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while subprocess.run(["mariadb-admin", "--no-defaults", "--socket=" + self.dir + "/s", "-uroot", "ping"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("mariadbd did not start:\n" + open(self.dir + "/error.log").read())
            time.sleep(0.1)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, schema):
        return "mysql://perfflow@127.0.0.1:%d/%s" % (self.port, schema)

    def env(self):
        return {"PERFFLOW_DB_PASSWORD": self.password}

    def sql(self, statement, schema="", root=False):
        args = ["mariadb", "--no-defaults", "-N", "-B"]
        args += ["--socket=" + self.dir + "/s", "-uroot"] if root else \
            ["--protocol=TCP", "-h127.0.0.1", "-P%d" % self.port, "-uperfflow"]
        out = subprocess.run(args + ([schema] if schema else []) + ["-e", statement], check=True, text=True,
                             capture_output=True, env=dict(os.environ, MYSQL_PWD=self.password))
        return [line.split("\t") for line in out.stdout.strip().split("\n") if line]


def setUpModule():
    global WORK, DB, grpc, epb, epb_grpc, health_pb2, health_grpc
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-fault-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    from e2e_grpc import health_pb2 as h, health_pb2_grpc as hg
    epb, epb_grpc, health_pb2, health_grpc = event_service_pb2, event_service_pb2_grpc, h, hg
    DB = MariaDB()


def tearDownModule():
    if DB is not None:
        DB.stop()
    shutil.rmtree(WORK, ignore_errors=True)


def start_event(schema, port=0, extra=(), db=None):
    db = db or DB
    workers = [] if any(a.startswith("--workers") or a.startswith("--timer") for a in extra) else ["--workers=false"]
    return Server(os.path.join(ARGS.bin_dir, "perfflow-event"), ["--db=" + db.url(schema)] + workers + list(extra),
                  db.env(), grpc_port=port)


def prepare(server):
    stub = epb_grpc.EventServiceStub(grpc.insecure_channel(server.address()))
    stub.ApplyEventTypes(catalogue_request(epb, ARGS.source_dir), metadata=TENANT, timeout=30)
    heads = [("sales", "s-head"), ("quality", "q-head"), ("production", "p-head"), ("supply_chain", "c-head"),
             ("rnd", "r-head")]
    stub.UpsertDirectory(org_request(epb, heads, [("s%d" % i, "sales", "s-head") for i in range(8)]),
                         metadata=TENANT, timeout=30)


def ingest_request(external_id, subject="s1"):
    req = epb.IngestEventRequest(source="crm", external_id=external_id, event_type="crm.contract_signed",
                                 subject_id=subject)
    req.attributes.update({"contract_value": 1000, "customer_tier": "key"})
    return req


class RetryingClient(threading.Thread):
    """Ingests its ids one by one, retrying each (same request) until acknowledged."""

    def __init__(self, addresses, ids, give_up_after=120):
        super().__init__(daemon=True)
        self.addresses, self.ids, self.give_up_after = addresses, ids, give_up_after
        self.acked = {}  # external id -> (event name, duplicate)
        self.errors = collections.Counter()

    def run(self):
        stubs = [epb_grpc.EventServiceStub(grpc.insecure_channel(a)) for a in self.addresses]
        deadline = time.monotonic() + self.give_up_after
        for n, external_id in enumerate(self.ids):
            attempt = 0
            while time.monotonic() < deadline:
                stub = stubs[(n + attempt) % len(stubs)]
                try:
                    reply = stub.IngestEvent(ingest_request(external_id), metadata=TENANT, timeout=5)
                    self.acked[external_id] = (reply.event.name, reply.duplicate)
                    break
                except grpc.RpcError as e:
                    self.errors[e.code().name] += 1
                    attempt += 1
                    time.sleep(min(0.05 * attempt, 0.5))


def check_invariants(test, schema, acked):
    """Every acknowledged event exactly once with its whole chain; nothing half-written."""
    rows = DB.sql("SELECT e.external_id, e.event_id, "
                  "(SELECT COUNT(*) FROM flows f WHERE f.tenant_id = e.tenant_id AND f.event_id = e.event_id), "
                  "(SELECT COUNT(*) FROM inbox i WHERE i.tenant_id = e.tenant_id AND i.event_id = e.event_id), "
                  "(SELECT COUNT(*) FROM tasks t WHERE t.tenant_id = e.tenant_id AND t.event_id = e.event_id) "
                  "FROM events e WHERE e.tenant_id = 'fault' AND e.source = 'crm'", schema)
    by_external = collections.defaultdict(list)
    for external_id, event_id, flows, inbox, tasks in rows:
        by_external[external_id].append((event_id, int(flows), int(inbox), int(tasks)))
    test.assertEqual([x for x, v in by_external.items() if len(v) > 1], [], "events stored twice")
    test.assertEqual(sorted(set(acked) - set(by_external)), [], "acknowledged but missing")
    return check_chains(test, schema, acked, by_external)


def check_chains(test, schema, acked, by_external):
    for external_id, (name, _) in acked.items():
        test.assertEqual("events/" + by_external[external_id][0][0], name)
    test.assertEqual([x for x, v in by_external.items() if v[0][1] != 1 or v[0][2] != 1], [],
                     "events without exactly one flow and one inbox row")
    task_counts = {v[0][3] for v in by_external.values()}
    test.assertEqual(len(task_counts), 1, "events of one type with different task counts: %s" % task_counts)
    test.assertGreater(task_counts.pop(), 0)
    orphans = DB.sql("SELECT COUNT(*) FROM tasks t WHERE t.tenant_id = 'fault' AND NOT EXISTS "
                     "(SELECT 1 FROM events e WHERE e.tenant_id = t.tenant_id AND e.event_id = t.event_id)", schema)
    test.assertEqual(orphans, [["0"]], "tasks without their event")
    unsent = DB.sql("SELECT COUNT(*) FROM tasks t WHERE t.tenant_id = 'fault' AND (SELECT COUNT(*) FROM outbox o "
                    "WHERE o.tenant_id = t.tenant_id AND o.topic = 'task.assigned' "
                    "AND o.idempotency_key LIKE CONCAT('%', t.task_id, '%')) <> 1", schema)
    test.assertEqual(unsent, [["0"]], "tasks without exactly one task.assigned message")
    return len(by_external)


class KillDuringIngestTest(unittest.TestCase):
    def test_kill_9_mid_burst(self):
        schema = "fault_kill_" + secrets.token_hex(3)
        port = free_port()
        server = start_event(schema, port)
        prepare(server)
        clients = [RetryingClient([server.address()], ["k%d-%d" % (c, i) for i in range(120)]) for c in range(8)]
        for c in clients:
            c.start()
        # Kill once some events are in, well before the burst ends.
        deadline = time.monotonic() + 60
        while sum(len(c.acked) for c in clients) < 150:
            self.assertLess(time.monotonic(), deadline, "the burst never got going")
            time.sleep(0.01)
        server.proc.kill()
        server.proc.wait()
        acked_at_kill = sum(len(c.acked) for c in clients)
        replacement = start_event(schema, port)
        for c in clients:
            c.join(timeout=180)
        replacement.stop()
        acked = {k: v for c in clients for k, v in c.acked.items()}
        self.assertEqual(len(acked), 8 * 120, "some requests were never acknowledged")
        self.assertLess(acked_at_kill, 8 * 120)
        self.assertGreater(sum(c.errors["UNAVAILABLE"] for c in clients), 0, "the kill was never seen")
        stored = check_invariants(self, schema, acked)
        self.assertEqual(stored, 8 * 120)
        print("kill -9 after %d of %d acknowledgements; %d retried errors; %d events, each exactly once"
              % (acked_at_kill, 8 * 120, sum(sum(c.errors.values()) for c in clients), stored), file=sys.stderr)


class DatabaseRestartTest(unittest.TestCase):
    def test_mariadb_killed_and_restarted_under_load(self):
        schema = "fault_db_" + secrets.token_hex(3)
        server = start_event(schema, extra=["--metrics_refresh_seconds=1"])
        prepare(server)
        health = health_grpc.HealthStub(grpc.insecure_channel(server.address()))

        def status():
            try:
                return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
            except grpc.RpcError:
                return None
        self.assertEqual(status(), health_pb2.HealthCheckResponse.SERVING)
        clients = [RetryingClient([server.address()], ["d%d-%d" % (c, i) for i in range(150)], give_up_after=240)
                   for c in range(4)]
        for c in clients:
            c.start()
        while sum(len(c.acked) for c in clients) < 100:
            time.sleep(0.01)
        DB.kill()
        deadline = time.monotonic() + 30
        while status() != health_pb2.HealthCheckResponse.NOT_SERVING:
            self.assertLess(time.monotonic(), deadline, "readiness never turned NOT_SERVING")
            time.sleep(0.1)
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(server.address()))
        with self.assertRaises(grpc.RpcError) as err:
            stub.IngestEvent(ingest_request("during-outage"), metadata=TENANT, timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAVAILABLE)
        DB.start()
        deadline = time.monotonic() + 60
        while status() != health_pb2.HealthCheckResponse.SERVING:
            self.assertLess(time.monotonic(), deadline, "the service did not recover by itself")
            time.sleep(0.1)
        for c in clients:
            c.join(timeout=240)
        self.assertIsNone(server.proc.poll(), "the service died with its database")
        server.stop()
        acked = {k: v for c in clients for k, v in c.acked.items()}
        self.assertEqual(len(acked), 4 * 150)
        self.assertGreater(sum(c.errors["UNAVAILABLE"] for c in clients), 0)
        # Regression: Connector/C++'s commit() let a COMMIT lost with the
        # server pass as success; such events were acknowledged and gone.
        check_invariants(self, schema, acked)


class DuplicateStormTest(unittest.TestCase):
    def test_same_ids_in_parallel_on_three_replicas(self):
        schema = "fault_dup_" + secrets.token_hex(3)
        replicas = [start_event(schema)]
        prepare(replicas[0])
        replicas += [start_event(schema) for _ in range(2)]
        ids = ["dup-%d" % i for i in range(200)]
        clients = [RetryingClient([r.address() for r in replicas[c % 3:] + replicas[:c % 3]], ids) for c in range(6)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=240)
        for r in replicas:
            r.stop()
        names = collections.defaultdict(set)
        fresh = collections.Counter()
        for c in clients:
            self.assertEqual(len(c.acked), len(ids))
            for external_id, (name, duplicate) in c.acked.items():
                names[external_id].add(name)
                fresh[external_id] += 0 if duplicate else 1
        self.assertTrue(all(len(v) == 1 for v in names.values()), "one id answered with different events")
        self.assertEqual(set(fresh.values()), {1}, "each id must be accepted exactly once, duplicate otherwise")
        acked = {k: (next(iter(v)), False) for k, v in names.items()}
        self.assertEqual(check_invariants(self, schema, acked), len(ids))


class ClockJumpTest(unittest.TestCase):
    def test_database_clock_forward_then_back(self):
        db = MariaDB(movable_clock=True)
        try:
            self.run_jumps(db)
        finally:
            db.stop()

    def run_jumps(self, db):
        schema = "fault_clock"
        server = start_event(schema, db=db, extra=["--timer_poll_ms=100", "--relay_poll_ms=100", "--timer_batch=500"])
        prepare(server)
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(server.address()))
        for i in range(150):
            stub.IngestEvent(ingest_request("clock-%d" % i, "s%d" % (i % 8)), metadata=TENANT, timeout=10)

        def firings():
            return int(db.sql("SELECT COUNT(*) FROM timer_firings", schema)[0][0])

        def due_now():
            return int(db.sql("SELECT COUNT(*) FROM tasks WHERE state = 1 AND timer_at <= %d" % db.now_ms(schema),
                              schema)[0][0])

        def never_early():
            return int(db.sql("SELECT COALESCE(MIN(fired_at - timer_at), 0) FROM timer_firings", schema)[0][0])

        # Real time: the first timers (reminders 4 h before due) are a day away.
        self.assertEqual(due_now(), 0)
        self.assertEqual(firings(), 0)
        # Forward three days: every level of every timer is due at once.
        tasks = int(db.sql("SELECT COUNT(*) FROM tasks WHERE state = 1", schema)[0][0])
        db.set_clock("+3d")
        deadline = time.monotonic() + 120
        while firings() < 3 * tasks or due_now() > 0:  # three levels per task
            self.assertLess(time.monotonic(), deadline, "the timers due after the jump never all fired")
            time.sleep(0.2)
        fired = firings()
        self.assertEqual(fired, 3 * tasks)
        levels = db.sql("SELECT level, COUNT(*) FROM timer_firings GROUP BY level ORDER BY level", schema)
        self.assertEqual(len(levels), 3, levels)  # reminder, overdue warning, escalation
        self.assertGreaterEqual(never_early(), 0)
        # Back to two hours before real time: new tasks are far from due, the
        # fired ones stay fired once; give the workers many poll cycles.
        db.set_clock("-2h")
        deadline = time.monotonic() + 10
        while db.now_ms(schema) > time.time() * 1000:  # the server re-reads its clock file each second
            self.assertLess(time.monotonic(), deadline, "the database clock never went back")
            time.sleep(0.1)
        fired = firings()
        for i in range(20):
            stub.IngestEvent(ingest_request("clock-late-%d" % i), metadata=TENANT, timeout=10)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            self.assertEqual(firings(), fired, "a timer fired after the clock went back")
            time.sleep(0.2)
        self.assertGreaterEqual(never_early(), 0)
        duplicates = db.sql("SELECT COUNT(*) FROM (SELECT task_id, level FROM timer_firings "
                            "GROUP BY task_id, level HAVING COUNT(*) > 1) d", schema)
        self.assertEqual(duplicates, [["0"]])
        self.assertIsNone(server.proc.poll())
        server.stop()
        print("clock +3d: %d timers fired (levels %s), none early; clock -2h: none more" % (fired, levels),
              file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
