"""Shared pieces of the end-to-end tests: stubs generated from the repo's
protos with Debian's grpc_tools, and real perfflow binaries started on
loopback with OS-picked ports."""

import argparse
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

GOOGLEAPIS = "/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis"
GRPC_PROTOS = "/usr/share/grpc-proto"


def generate_stubs(source_dir, out_dir):
    """Compiles every perfflow proto plus health/reflection/google.rpc into out_dir."""
    from grpc_tools import protoc
    protos = [os.path.relpath(p, os.path.join(source_dir, "protos"))
              for p in glob.glob(os.path.join(source_dir, "protos/perfflow/**/*.proto"), recursive=True)]
    # The health and reflection protos live under grpc/, which would shadow
    # the grpcio package; compile copies of them under e2e_grpc/ instead.
    extra_dir = os.path.join(out_dir, "_extra")
    os.makedirs(os.path.join(extra_dir, "e2e_grpc"))
    for rel in ["grpc/health/v1/health.proto", "grpc/reflection/v1alpha/reflection.proto"]:
        shutil.copy(os.path.join(GRPC_PROTOS, rel), os.path.join(extra_dir, "e2e_grpc"))
    extra = ["google/rpc/status.proto", "google/rpc/error_details.proto", "google/rpc/code.proto",
             "google/api/http.proto", "google/api/annotations.proto",
             "e2e_grpc/health.proto", "e2e_grpc/reflection.proto"]
    args = ["protoc", "-I" + os.path.join(source_dir, "protos"), "-I" + GOOGLEAPIS, "-I" + extra_dir,
            "-I/usr/include", "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + protos + extra
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, out_dir)


class Server:
    """A perfflow binary, ports picked by the OS and read from its log."""

    def __init__(self, binary, args, env=None, grpc_port=0):
        self.proc = subprocess.Popen(
            [binary, "--grpc_port=%d" % grpc_port, "--metrics_port=0", "--host=127.0.0.1", "--drain_seconds=0"] + args,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})), text=True)
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("server did not report its ports:\n" + "".join(self.log))
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("server exited early:\n" + "".join(self.log))
            record = json.loads(line)
            if record.get("msg") == "listening":
                self.grpc_port = int(record["grpc_port"])
                self.metrics_port = int(record["metrics_port"])
                return

    def _pump(self):
        # A line that is not UTF-8 is a defect of the server's log writer:
        # kept as pump_error for tests to assert on.
        self.pump_error = None
        try:
            for line in self.proc.stdout:
                self.log.append(line)
                self.lines.put(line)
        except UnicodeDecodeError as e:
            self.pump_error = e
        self.lines.put(None)

    def address(self):
        return "127.0.0.1:%d" % self.grpc_port

    def peak_rss_kib(self):
        """VmHWM of the process: its peak resident set so far."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        return code


def field_violations(err):
    """google.rpc.BadRequest field violations of a gRPC error, as {field: description}."""
    from google.rpc import status_pb2, error_details_pb2
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for any_detail in status.details:
                bad = error_details_pb2.BadRequest()
                if any_detail.Unpack(bad):
                    return {v.field: v.description for v in bad.field_violations}
    return {}


def mysql_url():
    base = os.environ.get("PERFFLOW_TEST_MYSQL_URL")
    if not base:
        raise RuntimeError("PERFFLOW_TEST_MYSQL_URL is not set (run ./scripts/test.sh)")
    return base


def mariadbd_pid(port):
    """The pid of the mariadbd listening on `port` (0 when none is found here)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) in (b"mariadbd", b"mysqld") and \
                any(a == b"--port=%d" % port for a in args):
            return int(pid)
    return 0


def test_mariadbd_pid():
    """The pid of the MariaDB in PERFFLOW_TEST_MYSQL_URL, when it runs on this machine (else 0)."""
    return mariadbd_pid(int(mysql_url().rsplit(":", 1)[1]))


def cpu_times(pid):
    """(user, system) CPU seconds a process has used so far (/proc/<pid>/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    return sum(cpu_times(pid))


def mysql_env():
    return {"PERFFLOW_DB_PASSWORD": os.environ.get("PERFFLOW_TEST_MYSQL_PASSWORD", "")}


def print_warnings(name, lines, limit=20):
    """The last `limit` warn and error records of a service's log, for a failed test's output."""
    records = [line.rstrip() for line in lines if '"level":"warn"' in line or '"level":"error"' in line]
    if records:
        print("--- %s warned (last %d of %d):" % (name, min(limit, len(records)), len(records)))
        print("\n".join(records[-limit:]))


def run_tests(module_globals, *required_flags):
    """Parses the script's flags into module_globals["ARGS"] and runs its tests."""
    parser = argparse.ArgumentParser()
    for flag in required_flags:
        parser.add_argument(flag, required=True)
    args, rest = parser.parse_known_args()
    module_globals["ARGS"] = args
    unittest.main(module=module_globals["__name__"], argv=[sys.argv[0]] + rest, verbosity=2)


def scrape_metrics(server, wait_for=None, timeout=30):
    """The text of server's /metrics, polled (bounded) until it contains wait_for."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.metrics_port, timeout=10) as r:
            text = r.read().decode()
        if wait_for is None or wait_for in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def assert_metrics(test, text, needles):
    """Every needle is in the exposition text and promtool finds it clean."""
    for needle in needles:
        test.assertTrue(needle in text, "missing from /metrics: " + needle)
    check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text, text=True, capture_output=True)
    test.assertEqual(check.returncode, 0, check.stdout + check.stderr)


def catalogue_request(epb, source_dir):
    """ApplyEventTypesRequest with every shipped catalogue file."""
    req = epb.ApplyEventTypesRequest()
    for path in sorted(glob.glob(os.path.join(source_dir, "services/event/catalogue/*.yaml"))):
        with open(path, encoding="utf-8") as f:
            req.files.add(name=os.path.basename(path), content=f.read())
    return req


# The departments the shipped catalogue routes work to, each with its head.
CATALOGUE_HEADS = [("sales", "s-head"), ("quality", "q-head"), ("production", "p-head"),
                   ("supply_chain", "c-head"), ("rnd", "r-head")]


def org_request(epb, heads, people):
    """An org: heads is [(department, head id)], each head reporting to "ceo"
    (in production); people is [(id, department, manager)]."""
    req = epb.UpsertDirectoryRequest()
    for dept, head in heads:
        req.departments.add(id=dept, name=dept.replace("_", " ").title(), head_id=head)
    req.employees.add(id="ceo", display_name="Chief", department_id="production")
    for dept, head in heads:
        req.employees.add(id=head, display_name=head, department_id=dept, manager_id="ceo", grade="M3")
    for person, dept, manager in people:
        req.employees.add(id=person, display_name=person, department_id=dept, manager_id=manager, grade="P4")
    return req
