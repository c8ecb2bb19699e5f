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
acknowledged event exists exactly once with its whole chain (its flow, payload
hash, the same number of tasks as every other event of its type, each task
its own task.assigned notice) and nothing is half-written.
"""

import argparse
import collections
import os
import pwd
import re
import secrets
import shutil
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
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.proc = None
        self.install()
        self.start()
        self.create_user()

    def install(self):
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.dir + "/data", "--user=" + self.user,
                        "--skip-test-db"], check=True, capture_output=True)

    def create_user(self):
        self.sql("CREATE USER 'perfflow'@'127.0.0.1' IDENTIFIED BY '%s'; "
                 "GRANT ALL PRIVILEGES ON *.* TO 'perfflow'@'127.0.0.1';" % self.password, root=True)

    def set_clock(self, offset):
        """The server's clock offset from real time, e.g. "+3d" or "-2h" (read within a second)."""
        with open(self.clock_file, "w") as f:
            f.write(offset + "\n")

    def now_ms(self, schema):
        return int(self.sql("SELECT FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000)", schema)[0][0])

    def start(self):
        self.proc = subprocess.Popen(self.server_args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=self.server_env())
        deadline = time.monotonic() + 120
        while not self.ready():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("mariadbd did not start:\n" + open(self.dir + "/error.log").read()[-5000:])
            time.sleep(0.1)

    def server_args(self):
        return ["/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + self.dir + "/data", "--socket=" + self.dir + "/s",
                "--port=%d" % self.port, "--bind-address=127.0.0.1", "--skip-name-resolve", "--user=" + self.user,
                "--log-error=" + self.dir + "/error.log", "--skip-log-bin", "--innodb-buffer-pool-size=128M",
                "--innodb-flush-log-at-trx-commit=1", "--max-connections=300", "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin"]

    def server_env(self):
        env = dict(os.environ)
        if self.clock_file:
            env.update(LD_PRELOAD=self.FAKETIME, FAKETIME_TIMESTAMP_FILE=self.clock_file, FAKETIME_CACHE_DURATION="1",
                       FAKETIME_DONT_RESET="1")
        return env

    def ready(self):
        return subprocess.run(["mariadb-admin", "--no-defaults", "--socket=" + self.dir + "/s", "-uroot", "ping"],
                              capture_output=True).returncode == 0

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def terminate(self):
        """Shuts the server down; one that ignores it for 60 s (a Galera node
        stuck outside its group, seen once) is killed rather than left running
        past the test."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def stop(self):
        self.terminate()
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


class GaleraNode(MariaDB):
    """One node of a MariaDB Galera cluster on loopback (galera-4's wsrep provider).

    Its clock runs `clock_offset` ahead of real time (libfaketime, monotonic
    time left real so the group's timeouts are): every timer of a task the
    services create now is due at once. As root the node runs as the mysql
    user, the way Debian runs it: the rsync daemon of a state transfer must
    not write the data directory as root.
    """

    PROVIDER = "/usr/lib/galera/libgalera_smm.so"

    def __init__(self, cluster, index):
        self.cluster, self.index = cluster, index
        self.dir = os.path.join(cluster.dir, "node%d" % index)
        os.makedirs(self.dir + "/data")
        self.clock_file = None
        self.port, self.gcomm_port, self.ist_port, self.sst_port = (free_port() for _ in range(4))
        self.password = cluster.password
        self.user = "mysql" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        for d in (self.dir, self.dir + "/data"):
            shutil.chown(d, self.user)
        self.proc = None
        self.bootstrap = False
        self.start_position = None

    def restart_after_crash(self):
        """What Debian's galera_recovery does before a crashed node starts: read
        the last committed position from InnoDB, so the node can catch up by
        incremental transfer from a peer's cache instead of a full copy."""
        log = os.path.join(self.dir, "recover.log")
        subprocess.run(self.server_args() + ["--wsrep-recover", "--log-error=" + log], env=self.server_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        with open(log, errors="replace") as f:
            found = re.findall(r"WSREP: Recovered position: (\S+)", f.read())
        self.start_position = found[-1] if found else None
        self.start()

    def server_args(self):
        args = [a for a in super().server_args() if a != "--skip-log-bin"] + [
            "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2", "--wsrep-on=ON",
            "--wsrep-provider=" + self.PROVIDER, "--wsrep-cluster-name=perfflow-fault",
            "--wsrep-cluster-address=" + self.cluster.address(), "--wsrep-node-name=node%d" % self.index,
            "--wsrep-node-address=127.0.0.1:%d" % self.gcomm_port,
            "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;"
            "gcache.size=256M" % (self.gcomm_port, self.ist_port),
            "--wsrep-sst-method=rsync", "--wsrep-sst-receive-address=127.0.0.1:%d" % self.sst_port]
        if self.start_position:
            args.append("--wsrep-start-position=" + self.start_position)
        return args + (["--wsrep-new-cluster"] if self.bootstrap else [])

    def server_env(self):
        return dict(os.environ, LD_PRELOAD=self.FAKETIME, FAKETIME=self.cluster.clock_offset,
                    FAKETIME_DONT_FAKE_MONOTONIC="1")

    def status(self, name):
        out = subprocess.run(["mariadb", "--no-defaults", "-N", "-B", "--socket=" + self.dir + "/s", "-uroot", "-e",
                              "SHOW GLOBAL STATUS LIKE '%s'" % name], capture_output=True, text=True)
        fields = out.stdout.split()
        return fields[1] if out.returncode == 0 and len(fields) == 2 else None

    def ready(self):
        return self.status("wsrep_local_state_comment") == "Synced"

    def stop(self):
        self.terminate()  # the cluster removes the directory of all nodes


class GaleraCluster:
    """Three Galera nodes: the first bootstraps the group, the others join it by state transfer."""

    def __init__(self, size=3, clock_offset="+0"):
        self.dir = tempfile.mkdtemp(prefix="perfflow-fault-galera-")
        os.chmod(self.dir, 0o755)
        self.clock_offset = clock_offset
        self.password = secrets.token_hex(8)
        self.nodes = [GaleraNode(self, i) for i in range(size)]
        first = self.nodes[0]
        first.install()
        first.bootstrap = True
        first.start()
        first.bootstrap = False  # a restart joins the group like any node
        first.create_user()  # replicated to the joiners with everything else
        for node in self.nodes[1:]:
            node.start()

    def address(self):
        return "gcomm://" + ",".join("127.0.0.1:%d" % n.gcomm_port for n in self.nodes)

    def stop(self):
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


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


def check_invariants(test, schema, acked, db=None):
    """Every acknowledged event exactly once with its whole chain; nothing half-written."""
    db = db or DB
    rows = db.sql("SELECT e.external_id, e.event_id, "
                  "e.triggered_at > 0, "
                  "LENGTH(e.payload_hash) = 64, "
                  "(SELECT COUNT(*) FROM tasks t WHERE t.tenant_id = e.tenant_id AND t.event_id = e.event_id) "
                  "FROM events e WHERE e.tenant_id = 'fault' AND e.source = 'crm'", schema)
    by_external = collections.defaultdict(list)
    for external_id, event_id, flowing, keyed, tasks in rows:
        by_external[external_id].append((event_id, int(flowing), int(keyed), int(tasks)))
    test.assertEqual([x for x, v in by_external.items() if len(v) > 1], [], "events stored twice")
    test.assertEqual(sorted(set(acked) - set(by_external)), [], "acknowledged but missing")
    return check_chains(test, schema, acked, by_external, db)


def check_chains(test, schema, acked, by_external, db):
    for external_id, (name, _) in acked.items():
        test.assertEqual("events/" + by_external[external_id][0][0], name)
    test.assertEqual([x for x, v in by_external.items() if v[0][1] != 1 or v[0][2] != 1], [],
                     "events without their flow or their payload hash")
    task_counts = {v[0][3] for v in by_external.values()}
    test.assertEqual(len(task_counts), 1, "events of one type with different task counts: %s" % task_counts)
    test.assertGreater(task_counts.pop(), 0)
    orphans = db.sql("SELECT COUNT(*) FROM tasks t WHERE t.tenant_id = 'fault' AND NOT EXISTS "
                     "(SELECT 1 FROM events e WHERE e.tenant_id = t.tenant_id AND e.event_id = t.event_id)", schema)
    test.assertEqual(orphans, [["0"]], "tasks without their event")
    # Each task row is its own task.assigned notice (pending, delivered or
    # dead-lettered); no outbox row announces it a second time.
    unsent = db.sql("SELECT COUNT(*) FROM tasks WHERE tenant_id = 'fault' AND notice_state NOT IN (0, 1, 2)", schema)
    test.assertEqual(unsent, [["0"]], "tasks without their task.assigned notice")
    twice = db.sql("SELECT COUNT(*) FROM outbox WHERE tenant_id = 'fault' AND topic = 'task.assigned'", schema)
    test.assertEqual(twice, [["0"]], "task.assigned notices in the outbox as well")
    return len(by_external)


def readiness(server):
    """The replica's grpc.health answer for the whole server; None when it does not answer."""
    health = health_grpc.HealthStub(grpc.insecure_channel(server.address()))
    try:
        return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
    except grpc.RpcError:
        return None


def await_readiness(test, server, wanted, within, what):
    deadline = time.monotonic() + within
    while readiness(server) != wanted:
        test.assertLess(time.monotonic(), deadline, what)
        time.sleep(0.1)
    return time.monotonic()


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
        self.assertEqual(readiness(server), health_pb2.HealthCheckResponse.SERVING)
        clients = [RetryingClient([server.address()], ["d%d-%d" % (c, i) for i in range(150)], give_up_after=240)
                   for c in range(4)]
        for c in clients:
            c.start()
        while sum(len(c.acked) for c in clients) < 100:
            time.sleep(0.01)
        DB.kill()
        await_readiness(self, server, health_pb2.HealthCheckResponse.NOT_SERVING, 30,
                        "readiness never turned NOT_SERVING")
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(server.address()))
        with self.assertRaises(grpc.RpcError) as err:
            stub.IngestEvent(ingest_request("during-outage"), metadata=TENANT, timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAVAILABLE)
        DB.start()
        await_readiness(self, server, health_pb2.HealthCheckResponse.SERVING, 60,
                        "the service did not recover by itself")
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


class GaleraNodeKillTest(unittest.TestCase):
    """High availability on a 3-node Galera cluster (issue #21): three event
    replicas, each on its own node, ingest and fire timers together; one node
    is SIGKILLed mid-burst and brought back (it catches up by incremental
    state transfer). The cluster's clock runs four days ahead, so every timer
    of every task is due as soon as the task exists: the three replicas claim
    and fire the same rows on different nodes, where only certification
    decides who wins."""

    WORKERS = ["--workers=true", "--timer_poll_ms=100", "--relay_poll_ms=100", "--timer_batch=200",
               "--timer_lease_seconds=5", "--metrics_refresh_seconds=1"]

    def test_node_sigkilled_mid_burst_and_back(self):
        cluster = GaleraCluster(3, clock_offset="+4d")
        try:
            self.run_scenario(cluster)
        finally:
            cluster.stop()

    def run_scenario(self, cluster):
        schema = "fault_galera"
        first, victim, third = cluster.nodes
        replicas = [start_event(schema, db=first, extra=self.WORKERS)]
        prepare(replicas[0])
        replicas += [start_event(schema, db=node, extra=self.WORKERS) for node in (victim, third)]
        without_key = first.sql("SELECT t.table_name FROM information_schema.tables t WHERE t.table_schema = DATABASE() "
                                "AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c WHERE "
                                "c.table_schema = t.table_schema AND c.table_name = t.table_name "
                                "AND c.constraint_type = 'PRIMARY KEY')", schema)
        self.assertEqual(without_key, [], "Galera replicates by primary key: every table needs one")
        for r in replicas:
            self.assertTrue(any("Galera cluster node" in line for line in r.log), "the replica did not detect Galera")
        # Read after write across nodes: an event acknowledged through the first
        # node is found at once through the third (wsrep_sync_wait).
        writer, reader = (epb_grpc.EventServiceStub(grpc.insecure_channel(r.address())) for r in (replicas[0],
                                                                                                 replicas[2]))
        read_after_write = {}
        for i in range(30):
            name = writer.IngestEvent(ingest_request("g-raw-%d" % i), metadata=TENANT, timeout=10).event.name
            reader.GetEvent(epb.GetEventRequest(name=name), metadata=TENANT, timeout=10)
            read_after_write["g-raw-%d" % i] = (name, False)

        # Burst through all three replicas; SIGKILL the second node in the middle of it.
        addresses = [r.address() for r in replicas]
        clients = [RetryingClient(addresses[c % 3:] + addresses[:c % 3], ["g%d-%d" % (c, i) for i in range(150)],
                                  give_up_after=300) for c in range(6)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 120
        while sum(len(c.acked) for c in clients) < 150:
            self.assertLess(time.monotonic(), deadline, "the burst never got going")
            time.sleep(0.01)
        victim.kill()
        killed_at = time.monotonic()
        log_before_restart = os.path.getsize(victim.dir + "/error.log")
        acked_at_kill = sum(len(c.acked) for c in clients)
        not_serving_at = await_readiness(self, replicas[1], health_pb2.HealthCheckResponse.NOT_SERVING, 30,
                                         "the replica on the killed node never turned NOT_SERVING")
        for r in (replicas[0], replicas[2]):
            self.assertEqual(readiness(r), health_pb2.HealthCheckResponse.SERVING, "a surviving node's replica")
        # The survivors evict the dead member before it comes back: a node that
        # restarts on the same address while the group still counts its old
        # incarnation can leave the group gathering views past the start deadline
        # (seen once in this suite on a loaded machine).
        evicted_by = time.monotonic() + 60
        while first.status("wsrep_cluster_size") != "2":
            self.assertLess(time.monotonic(), evicted_by, "the survivors never evicted the killed node")
            time.sleep(0.2)
        victim.restart_after_crash()  # rejoins the group; returns once it is Synced again
        rejoined_at = time.monotonic()
        serving_at = await_readiness(self, replicas[1], health_pb2.HealthCheckResponse.SERVING, 60,
                                     "the replica on the rejoined node never served again")
        for c in clients:
            c.join(timeout=300)
        acked = {k: v for c in clients for k, v in c.acked.items()}
        self.assertEqual(len(acked), 6 * 150, "some requests were never acknowledged")
        self.assertLess(acked_at_kill, 6 * 150, "the kill came after the burst")
        # After the rejoin, through the replica on the node that came back only.
        late = RetryingClient([replicas[1].address()], ["g-late-%d" % i for i in range(60)], give_up_after=120)
        late.run()
        self.assertEqual(len(late.acked), 60)
        acked.update(late.acked)
        acked.update(read_after_write)

        # Timers: every level of every task fired exactly once, none early by the database clock.
        tasks = int(first.sql("SELECT COUNT(*) FROM tasks WHERE state = 1", schema)[0][0])
        deadline = time.monotonic() + 240
        while int(first.sql("SELECT COUNT(*) FROM tasks WHERE state = 1 AND timer_at IS NOT NULL", schema)[0][0]):
            self.assertLess(time.monotonic(), deadline, "timers still pending")
            time.sleep(0.5)
        for r in replicas:
            self.assertIsNone(r.proc.poll(), "a replica died")
            r.stop()
        per_level = first.sql("SELECT level, COUNT(*), COUNT(DISTINCT task_id), MIN(fired_at - timer_at) "
                              "FROM timer_firings GROUP BY level ORDER BY level", schema)
        self.assertEqual([row[0] for row in per_level], ["1", "2", "3"], per_level)
        for level, firings, distinct_tasks, earliest in per_level:
            self.assertEqual(int(firings), tasks, "level %s fired for %s of %d tasks" % (level, firings, tasks))
            self.assertEqual(int(distinct_tasks), tasks)
            self.assertGreaterEqual(int(earliest), 0, "a level-%s timer fired before its time" % level)
        for topic in ("task.reminder", "task.overdue"):
            notices = first.sql("SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM outbox WHERE topic = '%s'"
                                % topic, schema)
            self.assertEqual(notices, [[str(tasks), str(tasks)]], "%s: one message per task" % topic)
        owners = first.sql("SELECT COUNT(DISTINCT owner) FROM timer_firings", schema)[0][0]

        # Events: every acknowledged one exactly once with its whole chain, and the same on every node.
        stored = check_invariants(self, schema, acked, db=first)
        self.assertEqual(stored, len(acked))
        counts = [node.sql("SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM tasks), "
                           "(SELECT COUNT(*) FROM timer_firings), (SELECT COUNT(*) FROM outbox)", schema)[0]
                  for node in cluster.nodes]
        self.assertEqual(counts[1], counts[0], "the rejoined node differs")
        self.assertEqual(counts[2], counts[0])
        with open(victim.dir + "/error.log", errors="replace") as f:
            f.seek(log_before_restart)
            rejoin_log = f.read()
        # The rsync script runs either way; which transfer it did is in its own log line.
        self.assertIn("rsync IST completed on joiner", rejoin_log, "the node needed a full copy (SST) to rejoin")
        writesets = re.search(r"Receiving IST: (\d+) writesets", rejoin_log).group(1)
        conflicts = sum(int(n.status("wsrep_local_cert_failures")) + int(n.status("wsrep_local_bf_aborts"))
                        for n in cluster.nodes)
        errors = collections.Counter()
        for c in clients:
            errors.update(c.errors)
        print("galera: node killed after %d of %d acknowledgements; NOT_SERVING %.1f s after the kill, node synced "
              "again %.1f s after it by incremental state transfer (%s writesets), SERVING %.1f s after that; %d events each exactly once on all 3 nodes; %d tasks x 3 "
              "timer levels fired once each by %s replicas, none early; %d certification conflicts/aborts retried; "
              "client errors retried: %s"
              % (acked_at_kill, 6 * 150, not_serving_at - killed_at, rejoined_at - killed_at, writesets,
                 serving_at - rejoined_at,
                 stored, tasks, owners, conflicts, dict(errors)), file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
