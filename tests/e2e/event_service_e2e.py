#!/usr/bin/python3
"""End-to-end test of the real perfflow-event binary on the real MariaDB.

Started by ctest (label e2e) from ./scripts/test.sh, which exports
PERFFLOW_TEST_MYSQL_URL and PERFFLOW_TEST_MYSQL_PASSWORD. Stubs are generated
from the repo's protos at test time with Debian's grpc_tools; the client is
Debian's python3-grpcio, as a platform team would use it.
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import CATALOGUE_HEADS, run_tests, catalogue_request, org_request, Server, field_violations, generate_stubs, mysql_env, mysql_url  # noqa: E402

ARGS = None
SERVER = None
STUBS_DIR = None
TENANT = [("x-perfflow-tenant", "e2e")]


def setUpModule():
    global SERVER, pb, t_pb, stub, health_pb, health_stub, refl_pb, refl_stub, grpc
    import grpc as grpc_module
    grpc = grpc_module
    global STUBS_DIR
    out = STUBS_DIR = tempfile.mkdtemp(prefix="perfflow-e2e-stubs-")
    generate_stubs(ARGS.source_dir, out)
    from perfflow.event.v1 import event_service_pb2 as pb_module, event_service_pb2_grpc
    from perfflow.type.v1 import flow_pb2
    from e2e_grpc import health_pb2, health_pb2_grpc
    from e2e_grpc import reflection_pb2, reflection_pb2_grpc
    pb, t_pb, health_pb, refl_pb = pb_module, flow_pb2, health_pb2, reflection_pb2
    base = mysql_url()
    SERVER = Server(ARGS.binary, ["--db=" + base + "/e2e_" + secrets.token_hex(6), "--metrics_refresh_seconds=1"],
                    mysql_env())
    channel = grpc.insecure_channel("127.0.0.1:%d" % SERVER.grpc_port)
    stub = event_service_pb2_grpc.EventServiceStub(channel)
    health_stub = health_pb2_grpc.HealthStub(channel)
    refl_stub = reflection_pb2_grpc.ServerReflectionStub(channel)


def tearDownModule():
    if SERVER is not None and SERVER.proc.poll() is None:
        SERVER.stop()
    if STUBS_DIR:
        shutil.rmtree(STUBS_DIR, ignore_errors=True)


def org():
    return org_request(pb, CATALOGUE_HEADS, [("s%d" % i, "sales", "s-head") for i in range(1, 4)])


def contract(external_id, subject="s1", value=250000):
    req = pb.IngestEventRequest(source="crm", external_id=external_id, event_type="crm.contract_signed",
                                subject_id=subject)
    req.attributes.update({"contract_value": value, "customer_tier": "key"})
    return req


def event_count():
    total, token = 0, ""
    while True:
        resp = stub.ListEvents(pb.ListEventsRequest(page_size=100, page_token=token), metadata=TENANT)
        total += len(resp.events)
        token = resp.next_page_token
        if not token:
            return total


def scrape():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % SERVER.metrics_port, timeout=10) as r:
        return r.read().decode()


class EventServiceE2E(unittest.TestCase):
    """Ordered steps of one session: each test builds on the previous ones."""

    def expect_error(self, code, call, *args, text=None, field=None):
        with self.assertRaises(grpc.RpcError) as ctx:
            call(*args, metadata=TENANT)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        if text:
            self.assertIn(text, ctx.exception.details())
        if field:
            self.assertIn(field, field_violations(ctx.exception))
        return ctx.exception

    def test_01_health_and_reflection(self):
        self.assertEqual(health_stub.Check(health_pb.HealthCheckRequest()).status,
                         health_pb.HealthCheckResponse.SERVING)
        self.assertEqual(health_stub.Check(health_pb.HealthCheckRequest(
            service="perfflow.event.v1.EventService")).status, health_pb.HealthCheckResponse.SERVING)
        responses = refl_stub.ServerReflectionInfo(iter([refl_pb.ServerReflectionRequest(list_services="")]))
        names = [s.name for r in responses for s in r.list_services_response.service]
        self.assertIn("perfflow.event.v1.EventService", names)

    def test_02_tenant_is_required_outside_dev_mode(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            stub.ListDepartments(pb.ListDepartmentsRequest())
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_03_apply_catalogue(self):
        bad = pb.ApplyEventTypesRequest()
        bad.files.add(name="broken.yaml", content="kind: EventType\nkey: x.y\nsource: crm\nactions: {owner_upload: {due_hours: 0}}\n")
        err = self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ApplyEventTypes, bad)
        self.assertIn("file broken.yaml, document 1", err.details())
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.GetRegistry, pb.GetRegistryRequest())
        resp = stub.ApplyEventTypes(catalogue_request(pb, ARGS.source_dir), metadata=TENANT)
        self.assertEqual(resp.version, 1)
        self.assertGreaterEqual(len(resp.applied_event_types), 12)
        reg = stub.GetRegistry(pb.GetRegistryRequest(), metadata=TENANT).registry
        self.assertEqual(reg.version, 1)

    def test_04_load_org(self):
        bad = org()
        bad.employees.add(id="x1", display_name="X", department_id="sales", manager_id="ghost")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.UpsertDirectory, bad,
                          field="employees[%d].manager_id" % (len(bad.employees) - 1))
        self.assertEqual(len(stub.ListEmployees(pb.ListEmployeesRequest(), metadata=TENANT).employees), 0)
        dup = org()
        dup.employees.append(dup.employees[-1])
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.UpsertDirectory, dup,
                          field="employees[%d].id" % (len(dup.employees) - 1))
        cycle = org()
        cycle.employees[0].manager_id = "s1"  # ceo -> s1 -> s-head -> ceo
        err = self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.UpsertDirectory, cycle)
        self.assertIn("manager cycle", str(field_violations(err)))
        self.assertEqual(len(stub.ListEmployees(pb.ListEmployeesRequest(), metadata=TENANT).employees), 0)
        resp = stub.UpsertDirectory(org(), metadata=TENANT)
        self.assertEqual(resp.employees_upserted, 9)
        page = stub.ListEmployees(pb.ListEmployeesRequest(page_size=4), metadata=TENANT)
        self.assertEqual(len(page.employees), 4)
        self.assertTrue(page.next_page_token)
        team = stub.ListEmployees(pb.ListEmployeesRequest(manager_id="s-head"), metadata=TENANT).employees
        self.assertEqual(sorted(e.id for e in team), sorted(e.id for e in org().employees if e.manager_id == "s-head"))
        self.assertTrue(team)

    def test_05_ingest_duplicate_conflict(self):
        trace_id = secrets.token_hex(16)
        first = stub.IngestEvent(contract("crm-1001"), metadata=TENANT + [
            ("traceparent", "00-%s-%s-01" % (trace_id, secrets.token_hex(8)))])
        self.assertFalse(first.duplicate)
        self.assertEqual(len(first.event.tasks), 3)
        self.assertFalse(first.event.flow.times.HasField("owner_action_at"))
        self.assertFalse(any(t.HasField("completed_at") for t in first.event.tasks))
        deadline = time.monotonic() + 10
        while not any(trace_id in line and "IngestEvent" in line for line in SERVER.log):
            self.assertLess(time.monotonic(), deadline, "no log line carries the trace id")
            time.sleep(0.05)
        self.assertTrue(first.event.name.startswith("events/"))
        again = stub.IngestEvent(contract("crm-1001"), metadata=TENANT)
        self.assertTrue(again.duplicate)
        self.assertEqual(again.event.name, first.event.name)
        self.expect_error(grpc.StatusCode.ALREADY_EXISTS, stub.IngestEvent, contract("crm-1001", value=1),
                          text="different payload")
        self.assertEqual(event_count(), 1)

    def test_06_each_bad_input_is_rejected_and_nothing_stored(self):
        before = event_count()
        unknown = contract("bad-1")
        unknown.event_type = "crm.unknown"
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.IngestEvent, unknown, field="event_type")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.IngestEvent, contract("bad-2", subject="ghost"),
                          field="subject_id")
        schema = contract("bad-3")
        schema.attributes.update({"customer_tier": "galactic"})
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.IngestEvent, schema, field="attributes.customer_tier")
        big = contract("bad-4")
        big.attributes.update({"notes": "x" * 70000})
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.IngestEvent, big, field="attributes",
                          text="65536-byte limit")
        pilot = pb.IngestEventRequest(source="mes", external_id="bad-5", event_type="mes.equipment_daily_check",
                                      subject_id="s1")
        pilot.attributes.update({"equipment_id": "cnc-7", "abnormal": False})
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.IngestEvent, pilot, text="not enabled")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.IngestEvent, pb.IngestEventRequest(),
                          field="source")
        # Disable the promotion-order type, then try it.
        registry = stub.GetRegistry(pb.GetRegistryRequest(), metadata=TENANT).registry
        promo = next(t for t in registry.event_types if t.key == "erp.promotion_order_fulfilled")
        promo.disabled = True
        self.assertEqual(stub.ApplyEventTypes(pb.ApplyEventTypesRequest(event_types=[promo]),
                                              metadata=TENANT).version, 2)
        disabled = pb.IngestEventRequest(source="erp", external_id="bad-6", event_type=promo.key, subject_id="s1")
        disabled.attributes.update({"order_id": "PO-1", "lines": 3, "on_time": True})
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.IngestEvent, disabled, text="disabled")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.GetEvent, pb.GetEventRequest(name="nope"),
                          field="name")
        self.expect_error(grpc.StatusCode.NOT_FOUND, stub.GetEvent, pb.GetEventRequest(name="events/" + "0" * 32))
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ListEvents,
                          pb.ListEventsRequest(page_token="not-a-token"), field="page_token")
        self.assertEqual(event_count(), before)

    def test_07_batch_ingest_reports_each_item(self):
        batch = pb.BatchIngestEventsRequest(requests=[contract("batch-1"), contract("batch-2", subject="ghost"),
                                                      contract("crm-1001")])
        results = stub.BatchIngestEvents(batch, metadata=TENANT).results
        self.assertEqual([r.status.code for r in results], [0, grpc.StatusCode.INVALID_ARGUMENT.value[0], 0])
        self.assertFalse(results[0].duplicate)
        self.assertTrue(results[2].duplicate)
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.BatchIngestEvents, pb.BatchIngestEventsRequest())

    def test_08_inbox_and_chain(self):
        tasks = stub.ListTasks(pb.ListTasksRequest(assignee_id="s-head"), metadata=TENANT).tasks
        self.assertEqual(len(tasks), 2)
        self.assertLessEqual(tasks[0].due_at.ToDatetime(), tasks[1].due_at.ToDatetime())
        self.assertIn("sales.renewal_rate", tasks[0].goals)
        self.assertEqual(tasks[0].kind, t_pb.TASK_KIND_MANAGER_REVIEW)
        one = stub.GetTask(pb.GetTaskRequest(name=tasks[0].name), metadata=TENANT).task
        self.assertEqual(one, tasks[0])
        self.expect_error(grpc.StatusCode.NOT_FOUND, stub.GetTask, pb.GetTaskRequest(name="tasks/" + "0" * 32))
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.GetTask, pb.GetTaskRequest(name="events/x"),
                          field="name")
        # Another tenant does not see it.
        with self.assertRaises(grpc.RpcError) as other:
            stub.GetTask(pb.GetTaskRequest(name=tasks[0].name), metadata=[("x-perfflow-tenant", "e2e-other")])
        self.assertEqual(other.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_09_step_chain_to_archived(self):
        name = stub.IngestEvent(contract("crm-1001"), metadata=TENANT).event.name
        def step(step_id, step, verdict=0):
            return stub.RecordFlowStep(pb.RecordFlowStepRequest(event=name, step=step, step_id=step_id,
                                                                verdict=verdict, actor_id="s1"), metadata=TENANT)
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.RecordFlowStep,
                          pb.RecordFlowStepRequest(event=name, step=t_pb.FLOW_STEP_ARCHIVED, step_id="early"))
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.RecordFlowStep,
                          pb.RecordFlowStepRequest(event=name, step=t_pb.FLOW_STEP_MANAGER_FEEDBACK, step_id="nov"),
                          field="verdict")
        self.assertEqual(step("up-1", t_pb.FLOW_STEP_OWNER_ACTION).event.flow.step, t_pb.FLOW_STEP_OWNER_ACTION)
        self.assertTrue(step("up-1", t_pb.FLOW_STEP_OWNER_ACTION).duplicate)
        redo = step("rev-1", t_pb.FLOW_STEP_MANAGER_FEEDBACK, t_pb.VERDICT_REDO).event
        self.assertEqual(redo.flow.round, 2)
        self.assertEqual(redo.flow.step, t_pb.FLOW_STEP_TRIGGERED)
        step("up-2", t_pb.FLOW_STEP_OWNER_ACTION)
        step("rev-2", t_pb.FLOW_STEP_MANAGER_FEEDBACK, t_pb.VERDICT_MEETS)
        step("conf-1", t_pb.FLOW_STEP_CROSS_CONFIRM)
        done = step("seal-1", t_pb.FLOW_STEP_ARCHIVED).event
        self.assertEqual(done.flow.step, t_pb.FLOW_STEP_ARCHIVED)
        self.assertTrue(done.flow.times.HasField("archived_at"))
        self.assertTrue(all(t.state == t_pb.TASK_STATE_DONE for t in done.tasks))
        got = stub.GetEvent(pb.GetEventRequest(name=name), metadata=TENANT).event
        self.assertEqual(got.flow.verdict, t_pb.VERDICT_MEETS)

    def test_10_flow_health_and_facts(self):
        health = stub.GetFlowHealth(pb.GetFlowHealthRequest(period=pb.PERIOD_DAY), metadata=TENANT)
        self.assertEqual(health.overall.within_sla, 1)
        self.assertEqual(health.overall.outside_sla, 0)
        self.assertEqual(health.overall.pending, 1)  # batch-1 is still inside its window
        self.assertAlmostEqual(health.overall.ratio, 1.0)
        self.assertEqual([f.key for f in health.by_department], ["sales"])
        self.assertEqual(len(health.by_period), 1)
        facts = list(stub.StreamFlowFacts(pb.StreamFlowFactsRequest(), metadata=TENANT))
        self.assertEqual(len(facts), 2)
        self.assertEqual(sum(1 for f in facts if f.within_sla), 1)

    def test_11_metrics(self):
        # Gauges come from a periodic refresh that sets one family after the
        # other: wait until a scrape shows both of the ones checked below.
        gauges = ['perfflow_flow_health_ratio{department="all",event_type="all",tenant="e2e"} 1',
                  'perfflow_flow_open_chains{step="triggered",tenant="e2e"} 1']
        deadline = time.monotonic() + 30
        text = scrape()
        while not all(g in text for g in gauges):
            self.assertLess(time.monotonic(), deadline, "the refreshed gauges never appeared:\n" + text[-3000:])
            time.sleep(0.2)
            text = scrape()
        for needle in [
            'perfflow_events_ingested_total{event_type="crm.contract_signed",result="accepted",source="crm"} 2',
            'perfflow_events_ingested_total{event_type="crm.contract_signed",result="conflict",source="crm"} 1',
            'perfflow_flow_chains_closed_total{department="sales",event_type="crm.contract_signed",tenant="e2e",within_sla="true"} 1',
            'grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="IngestEvent",grpc_service="perfflow.event.v1.EventService",grpc_type="unary"}',
            'grpc_server_handling_seconds_bucket{grpc_method="StreamFlowFacts",grpc_service="perfflow.event.v1.EventService",grpc_type="server_stream"',
            'grpc_server_started_total{grpc_method="RecordFlowStep"',
            'perfflow_flow_open_chains{step="triggered",tenant="e2e"} 1',
        ]:
            self.assertIn(needle, text)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing (package prometheus)")
        check = subprocess.run([promtool, "check", "metrics"], input=text, text=True, capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_12_bad_sizes_refuse_to_start(self):
        for flag, bad, bounds in [("health_scan_threads", "0", "1 to 8"), ("health_scan_threads", "9", "1 to 8"),
                                  ("ingest_transactions", "-1", "0 (off) to 64"),
                                  ("ingest_transactions", "65", "0 (off) to 64")]:
            proc = subprocess.run([ARGS.binary, "--grpc_port=0", "--metrics_port=0", "--host=127.0.0.1",
                                   "--db=sqlite::memory:", "--%s=%s" % (flag, bad)],
                                  capture_output=True, text=True, timeout=30)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("invalid --%s %s: must be %s" % (flag, bad, bounds), proc.stdout + proc.stderr)

    def test_13_sigterm_stops_cleanly(self):
        self.assertEqual(SERVER.stop(), 0)
        self.assertTrue(any('"msg":"stopped"' in line for line in SERVER.log))


if __name__ == "__main__":
    run_tests(globals(), "--binary", "--source-dir")
