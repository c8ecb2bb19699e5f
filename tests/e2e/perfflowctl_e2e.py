#!/usr/bin/python3
"""End-to-end test of perfflowctl against the one-process dev mode
(`perfflowctl dev`: the four services and the gateway on SQLite with the demo
tenant): the dev process itself (ports, readiness, seeded evidence and KPI
observations, graceful stop), apply with its diff and a bad config's precise
error, a CSV import with bad rows, ingest, tasks, health and heatmap in both
output modes, and the exit codes.
"""

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import run_tests  # noqa: E402

ARGS = None
WORK = None
DEV = None


class DevProcess:
    """`perfflowctl dev` on a free services port, the rest picked by the OS."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.services_port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [os.path.abspath(os.path.join(ARGS.bin_dir, "perfflowctl")), "--state_dir=" + os.path.join(WORK, "state"),
             "--services_port=%d" % self.services_port, "--services_metrics_port=0", "--gateway_http_port=0",
             "--gateway_grpc_port=0", "--gateway_metrics_port=0", "--demo_events=120", "dev"],
            # Outside the source tree: the catalogue and lexicon are found from the binary.
            cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        lines = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                self.log.append(line)
                lines.put(line)
            lines.put(None)
        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 120
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("perfflowctl dev exited:\n" + "".join(self.log))
            if '"msg":"dev ready"' in line:
                self.ready = json.loads(line)
                return

    def address(self):
        return "127.0.0.1:%d" % self.services_port

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def setUpModule():
    global WORK, DEV
    WORK = tempfile.mkdtemp(prefix="perfflowctl-e2e-")
    DEV = DevProcess()


def tearDownModule():
    if DEV is not None and DEV.proc.poll() is None:
        DEV.stop()
    shutil.rmtree(WORK, ignore_errors=True)


def ctl(*args, addr=None):
    """(exit code, stdout, stderr) of one perfflowctl run."""
    out = subprocess.run([os.path.join(ARGS.bin_dir, "perfflowctl"), "--addr=" + (addr or DEV.address())] + list(args),
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


class DevModeTest(unittest.TestCase):
    def test_one_process_serves_everything_with_demo_data(self):
        ports = {k: int(v) for k, v in DEV.ready.items() if k.endswith("_port")}
        self.assertEqual(ports["services_grpc_port"], DEV.services_port)
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % ports["gateway_http_port"], timeout=10) as r:
            self.assertEqual(r.status, 200)
        deadline = time.monotonic() + 30
        while True:  # readiness follows the backends' health, polled every 2 s
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % ports["gateway_http_port"], timeout=10) as r:
                    break
            except urllib.error.HTTPError:
                self.assertLess(time.monotonic(), deadline, "the gateway never became ready")
                time.sleep(0.3)
        for port, family in ((ports["services_metrics_port"], "grpc_server_handled_total"),
                             (ports["gateway_metrics_port"], "perfflow_gateway_http_requests_total")):
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
                self.assertIn(family, r.read().decode())
        # The demo tenant has chains, evidence on open chains, KPI observations.
        seeded = [json.loads(l) for l in DEV.log if "demo evidence and KPI observations seeded" in l][0]
        self.assertGreater(int(seeded["evidence_uploads"]), 0)
        self.assertGreater(int(seeded["kpi_observations"]), 0)
        code, out, err = ctl("--roles=hr", "--output=json", "GetGoalStatus", '{"goal":"sales.renewal_rate"}')
        self.assertEqual(code, 0, err)
        self.assertTrue(json.loads(out)["goal"]["hasActual"])
        code, out, err = ctl("--output=json", "health", "month")
        self.assertGreater(int(json.loads(out)["overall"]["withinSla"]), 0)


class ApplyTest(unittest.TestCase):
    def test_diff_then_apply(self):
        catalogue = os.path.join(ARGS.source_dir, "services/event/catalogue")
        code, out, err = ctl("--output=json", "--dry_run", "apply", catalogue)
        self.assertEqual(code, 0, err)
        before = json.loads(out)
        self.assertFalse(before["applied"])
        self.assertTrue(all(c["change"] == "unchanged" for c in before["changes"]), before)
        with open(os.path.join(catalogue, "10-sales.yaml"), encoding="utf-8") as f:
            sales = f.read()
        self.assertIn("owner_upload: {due_hours: 24}", sales)
        changed = write("10-sales.yaml", sales.replace("owner_upload: {due_hours: 24}", "owner_upload: {due_hours: 36}", 1))
        code, out, err = ctl("--dry_run", "apply", changed)
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"event type\s+crm\.contract_signed\s+changed\s+actions")
        self.assertIn("1 change(s); --dry_run: nothing applied", out)
        code, out, err = ctl("--output=json", "apply", changed)
        self.assertEqual(code, 0, err)
        applied = json.loads(out)
        self.assertTrue(applied["applied"])
        self.assertEqual(applied["version"], before["version"] + 1)
        code, out, _ = ctl("--output=json", "--dry_run", "apply", changed)
        self.assertEqual(json.loads(out)["version"], applied["version"])
        self.assertTrue(all(c["change"] == "unchanged" for c in json.loads(out)["changes"]))

    def test_bad_config_is_refused_with_the_precise_error(self):
        bad = write("bad.yaml", "kind: EventType\nkey: x.broken\nsource: crm\nno_such_field: 1\n")
        code, out, err = ctl("apply", bad)
        self.assertEqual(code, 1)
        self.assertIn("InvalidArgument", err)
        self.assertIn("bad.yaml", err)
        self.assertIn("no_such_field", err)
        self.assertEqual(out, "")
        self.assertEqual(ctl("apply", os.path.join(WORK, "missing.yaml"))[0], 2)


class ImportTest(unittest.TestCase):
    def test_csv_with_bad_rows(self):
        csv = write("people.csv", "\n".join([
            "id,display_name,department_id,manager_id,grade,contact:email",
            'c2,"Chen, Two",sales,c1,P3,c2@example.com',   # manager defined on a later line
            "c1,Chen One,sales,e100,M1,c1@example.com",
            "bad id,Bad,sales,,P1,",
            "c3,,sales,c1,P2,",
            "c4,Four,nodept,c1,P2,",
            "c5,Five,sales",
            'c6,"Six ""the"" sixth",quality,c1,P2,',
        ]) + "\n")
        code, out, err = ctl("--output=json", "import-employees", csv)
        self.assertEqual(code, 3, err)
        result = json.loads(out)
        self.assertEqual(result["imported"], 3)
        self.assertEqual([r["line"] for r in result["rejected"]], [4, 5, 6, 7])
        self.assertIn("department_id: unknown department 'nodept'", result["rejected"][2]["reason"])
        self.assertIn("3 fields, the header has 6", result["rejected"][3]["reason"])
        code, out, _ = ctl("--output=json", "GetEmployee", '{"id":"c6"}')
        self.assertEqual(code, 0)
        employee = json.loads(out)["employee"]
        self.assertEqual(employee["displayName"], 'Six "the" sixth')
        self.assertEqual(employee["managerId"], "c1")
        code, out, _ = ctl("import-employees", csv)
        self.assertEqual(code, 3)
        self.assertIn("rejected 4 row(s)", out)
        self.assertIn("line 6: department_id: unknown department 'nodept'", out)
        self.assertEqual(ctl("import-employees", write("empty.csv", ""))[0], 2)
        self.assertEqual(ctl("import-employees", write("nohead.csv", "id,name\nx,y\n"))[0], 2)


class DailyCommandsTest(unittest.TestCase):
    def test_ingest_tasks_health_heatmap(self):
        code, out, err = ctl("--output=json", "ingest", "crm.contract_signed", "e101", "contract_value=250000",
                             "customer_tier=key")
        self.assertEqual(code, 0, err)
        event = json.loads(out)["event"]
        self.assertEqual(event["source"], "crm")  # from the event type
        self.assertEqual(event["attributes"]["contract_value"], 250000)
        code, out, err = ctl("--principal=e101", "--output=json", "tasks")
        self.assertEqual(code, 0, err)
        self.assertIn(event["name"], [t["event"] for t in json.loads(out)["tasks"]])
        code, out, _ = ctl("--principal=e101", "tasks")
        self.assertIn("owner_upload", out)
        code, out, _ = ctl("health", "month")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"flow health [0-9.]+%")
        self.assertIn("by department", out)
        code, out, _ = ctl("--output=json", "health")
        self.assertIn("overall", json.loads(out))
        code, out, err = ctl("--roles=hr", "--output=json", "heatmap", addr=DEV.address())
        self.assertEqual(code, 0, err)
        self.assertTrue(json.loads(out)["cells"])
        code, out, _ = ctl("--roles=hr", "heatmap", addr=DEV.address())
        self.assertIn("median hours to the owner's action", out)

    def test_list_as_json(self):
        code, out, _ = ctl("--output=json", "list")
        methods = {m["method"]: m for m in json.loads(out)}
        self.assertTrue(methods["perfflow.evidence.v1.EvidenceService/UploadEvidence"]["clientStreaming"])
        self.assertTrue(methods["perfflow.event.v1.EventService/StreamFlowFacts"]["serverStreaming"])
        self.assertIn("perfflow.gateway.v1.GatewayAdminService/CreateApiKey", methods)

    def test_import_history_is_idempotent_counted_and_lists_rejected_rows(self):
        header = ("source,external_id,event_type,subject_id,occurred_at,owner_action_at,manager_feedback_at,verdict,"
                  "cross_confirm_at,archived_at,attr:contract_value,attr:customer_tier\n")
        good = "crm,old-%d,crm.contract_signed,e101,2025-03-0%dT09:00:00Z,2025-03-0%dT12:00:00Z," \
               "2025-03-0%dT20:00:00Z,MEETS,2025-03-0%dT08:00:00Z,2025-03-0%dT%s:00:00Z,120000,key\n"
        rows = [good % (1, 1, 1, 1, 2, 2, "10"),   # closed after 25 h: within 48 h
                good % (2, 3, 3, 3, 4, 6, "10"),   # closed after 73 h: outside
                "crm,old-3,crm.contract_signed,e101,2025-03-07T09:00:00Z,,,MEETS,,,1,key\n",  # still open
                "crm,old-4,crm.contract_signed,e101,yesterday,,,MEETS,,,1,key\n"]
        csv = os.path.join(WORK, "history.csv")
        with open(csv, "w") as f:
            f.write(header + "".join(rows))
        code, out, err = ctl("--roles=admin", "--output=json", "import-history", csv)
        self.assertEqual(code, 3, err)  # done in part
        result = json.loads(out)
        self.assertEqual(result["imported"], 2)
        rejected = {r["line"]: r["reason"] for r in result["rejected"]}
        self.assertEqual(set(rejected), {4, 5})
        self.assertIn("only closed chains are imported", rejected[4])
        self.assertIn("occurred_at: 'yesterday' is not an RFC 3339 time", rejected[5])
        # Again: nothing new (the same ids), the same rows refused.
        code, out, err = ctl("--roles=admin", "import-history", csv)
        self.assertEqual(code, 3, err)
        self.assertIn("imported 0 chain(s) of history (2 already there)", out)
        # Counted in flow health for their month, marked imported, never timed.
        code, out, err = ctl("--output=json", "GetFlowHealth",
                             '{"startTime":"2025-03-01T00:00:00Z","endTime":"2025-04-01T00:00:00Z"}')
        self.assertEqual(code, 0, err)
        overall = json.loads(out)["overall"]
        self.assertEqual((int(overall["withinSla"]), int(overall["outsideSla"])), (1, 1))
        code, out, _ = ctl("--output=json", "ListEvents", '{"subjectId":"e101","pageSize":500}')
        imported = [e for e in json.loads(out)["events"] if e["externalId"].startswith("old-")]
        self.assertEqual(len(imported), 2)
        self.assertTrue(all(e["imported"] for e in imported))
        self.assertTrue(all(t["state"] == "TASK_STATE_DONE" for e in imported for t in e["tasks"]))
        self.assertTrue(all(not t["overdue"] for e in imported for t in e["tasks"]))
        # Only admins import.
        code, _, err = ctl("--roles=hr", "import-history", csv)
        self.assertEqual(code, 1)
        self.assertIn("PermissionDenied", err)

    def test_what_if_replays_the_demo_chains(self):
        settings = os.path.join(WORK, "what-if.yaml")
        with open(settings, "w") as f:
            f.write("closure_hours: 720\ntimers: {reminders_off: true, escalate_after_hours: 8}\n"
                    "due_hours: {owner_upload: 12}\nevent_types:\n  crm.contract_signed: {manager_review: 24}\n")
        code, out, err = ctl("--roles=hr", "--output=json", "what-if", settings)
        self.assertEqual(code, 0, err)
        result = json.loads(out)
        current, what_if = result["current"], result["whatIf"]
        # Today's settings replayed agree with the flow health the service reports for the same 30 days.
        code, out, _ = ctl("--output=json", "health")
        overall = json.loads(out)["overall"]
        self.assertEqual((int(current["within"]), int(current["outside"])),
                         (int(overall["withinSla"]), int(overall["outsideSla"])))
        self.assertGreater(int(result["chains"]), 0)
        self.assertGreaterEqual(what_if["flowHealth"], current["flowHealth"])  # a 30-day window forgives more
        self.assertEqual(int(what_if["reminders"]), 0)  # reminders off
        self.assertGreater(int(current["reminders"]), 0)
        code, out, err = ctl("--roles=hr", "what-if", settings)
        self.assertEqual(code, 0, err)
        self.assertIn("today's settings", out)
        self.assertIn("flow health", out)
        # Bad input: a misspelt field (exit 2, with the line), an unknown type (refused by the service), no HR.
        with open(settings, "w") as f:
            f.write("closure_hours: 48\nclosure_hour: 12\n")
        code, _, err = ctl("--roles=hr", "what-if", settings)
        self.assertEqual(code, 2)
        self.assertIn("line 2", err)
        with open(settings, "w") as f:
            f.write("event_types:\n  no.such_type: {owner_upload: 12}\n")
        code, _, err = ctl("--roles=hr", "what-if", settings)
        self.assertEqual(code, 1)
        self.assertIn("unknown event type 'no.such_type'", err)
        code, _, err = ctl("--roles=employee", "what-if", settings)
        self.assertEqual(code, 1)
        self.assertIn("PermissionDenied", err)

    def test_dev_without_shipped_files_says_which_flag(self):
        alone = os.path.join(WORK, "alone")
        os.makedirs(alone)
        binary = os.path.join(alone, "perfflowctl")
        try:
            os.link(os.path.join(ARGS.bin_dir, "perfflowctl"), binary)
        except OSError:
            shutil.copy(os.path.join(ARGS.bin_dir, "perfflowctl"), binary)
        done = subprocess.run([binary, "--state_dir=" + os.path.join(alone, "state"), "dev"], cwd=alone,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("cannot find services/event/catalogue", done.stderr)
        self.assertIn("--catalogue_dir", done.stderr)

    def test_exit_codes(self):
        self.assertEqual(ctl("no-such-command")[0], 2)
        self.assertEqual(ctl("--output=yaml", "health")[0], 2)
        self.assertEqual(ctl("ingest", "only-type")[0], 2)
        self.assertEqual(ctl("ingest", "crm.contract_signed", "e101", "contract_value=1")[0], 1)  # missing tier
        self.assertEqual(ctl("--timeout_seconds=2", "health", addr="127.0.0.1:1")[0], 4)


class ZzShutdownTest(unittest.TestCase):
    """Runs last: SIGTERM stops the whole process cleanly."""

    def test_graceful_stop(self):
        self.assertEqual(DEV.stop(), 0)
        self.assertTrue(any('"msg":"stopped"' in line for line in DEV.log))


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir")
