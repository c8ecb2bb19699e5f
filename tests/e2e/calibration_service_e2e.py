#!/usr/bin/python3
"""End-to-end test of perfflow-calibration with a real perfflow-event, both on
the real MariaDB: a cohort's chains are ingested and stepped through the event
service, KPI observations recorded, a session created, its brief generated
from the streamed flow facts, rendered as HTML and parsed back; the viewer
rules, bad input and the goal status go through the same gRPC surface.
"""

import html.parser
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import (CATALOGUE_HEADS, run_tests, catalogue_request, org_request, Server, field_violations, generate_stubs,  # noqa: E402
                          mysql_env, mysql_url)

ARGS = None
WORK = None
EVENT = None
CALIBRATION = None
HR = [("x-perfflow-tenant", "cal"), ("x-perfflow-principal", "hr-1"), ("x-perfflow-roles", "hr")]
PEOPLE = ["s%d" % i for i in range(1, 6)]


def setUpModule():
    global WORK, EVENT, CALIBRATION, grpc, pb, epb, t_pb, stub, events
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-calibration-e2e-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.calibration.v1 import calibration_service_pb2, calibration_service_pb2_grpc
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    from perfflow.type.v1 import flow_pb2
    pb, epb, t_pb = calibration_service_pb2, event_service_pb2, flow_pb2
    base = mysql_url()
    global EVENT_SCHEMA
    EVENT_SCHEMA = "cal_event_" + secrets.token_hex(4)
    EVENT = Server(ARGS.event_binary, ["--db=" + base + "/" + EVENT_SCHEMA], mysql_env())
    global CAL_SCHEMA
    CAL_SCHEMA = "cal_" + secrets.token_hex(4)
    CALIBRATION = Server(ARGS.calibration_binary, ["--db=" + base + "/" + CAL_SCHEMA,
                                                   "--event_addr=" + EVENT.address()], mysql_env())
    events = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(EVENT.address()))
    stub = calibration_service_pb2_grpc.CalibrationServiceStub(grpc.insecure_channel(CALIBRATION.address()))
    events.ApplyEventTypes(catalogue_request(epb, ARGS.source_dir), metadata=HR)
    events.UpsertDirectory(org_request(epb, CATALOGUE_HEADS, [(p, "sales", "s-head") for p in PEOPLE]), metadata=HR)
    # Two contracts each; s1..s3 act on theirs, the manager reviews s1's.
    for p in PEOPLE:
        for n in range(2):
            req = epb.IngestEventRequest(source="crm", external_id="%s-%d" % (p, n), event_type="crm.contract_signed",
                                         subject_id=p)
            req.attributes.update({"contract_value": 100000 + n, "customer_tier": "key"})
            name = events.IngestEvent(req, metadata=HR).event.name
            if p in ("s1", "s2", "s3"):
                events.RecordFlowStep(epb.RecordFlowStepRequest(event=name, step=t_pb.FLOW_STEP_OWNER_ACTION,
                                                                step_id="own-" + name[-8:], actor_id=p), metadata=HR)
            if p == "s1":
                events.RecordFlowStep(epb.RecordFlowStepRequest(
                    event=name, step=t_pb.FLOW_STEP_MANAGER_FEEDBACK, verdict=t_pb.VERDICT_MEETS,
                    step_id="rev-" + name[-8:], actor_id="s-head"), metadata=HR)
    kpis = pb.RecordKpiObservationsRequest()
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    month = now.strftime("%Y-%m")
    # The brief's three months, each observed (a KPI comparison needs three observations).
    months = ["%04d-%02d" % ((now.year * 12 + now.month - 1 - k) // 12, (now.year * 12 + now.month - 1 - k) % 12 + 1)
              for k in range(3)]
    for i, p in enumerate(PEOPLE):
        for m in months:
            kpis.observations.add(kpi="customer.signoff_rate", subject_id=p, period=m, value=0.9 if i else 0.6)
    kpis.observations.add(kpi="sales.renewal_rate", period=month, value=0.8)
    resp = stub.RecordKpiObservations(kpis, metadata=HR)
    assert resp.recorded == 3 * len(PEOPLE) + 1, resp


def tearDownModule():
    for server in (CALIBRATION, EVENT):
        if server is not None and server.proc.poll() is None:
            server.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


class BriefPage(html.parser.HTMLParser):
    """Collects the sections, SVG charts and prompts of a rendered brief."""

    def __init__(self):
        super().__init__()
        self.sections, self.svgs, self.prompts, self.external = [], 0, [], []
        self._in_prompt = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "data-employee" in attrs:  # a person's section (not the fairness check)
            self.sections.append(attrs.get("data-employee"))
        if tag == "svg":
            self.svgs += 1
        if tag in ("script", "link", "img", "iframe") or (tag != "svg" and "src" in attrs):
            self.external.append(tag)
        self._in_prompt = tag == "p" and attrs.get("class") == "prompt"

    def handle_data(self, data):
        if self._in_prompt:
            self.prompts.append(data)


def mariadb(sql, schema=None):
    """Runs `sql` with the mariadb client (on the calibration service's schema unless told), as someone with
    database access would; returns the rows as tab-separated lines."""
    import urllib.parse
    url = urllib.parse.urlparse(mysql_url())
    done = subprocess.run(["mariadb", "--no-defaults", "-h", url.hostname, "-P", str(url.port), "-u", url.username,
                           "-p" + os.environ.get("PERFFLOW_TEST_MYSQL_PASSWORD", ""), "--batch", "--skip-column-names",
                           schema or CAL_SCHEMA, "-e", sql], check=True, capture_output=True, text=True, timeout=30)
    return done.stdout.splitlines()


class CalibrationE2E(unittest.TestCase):
    def session(self, session_id, members=None):
        req = pb.CreateSessionRequest(session_id=session_id)
        req.session.title = "Sales P4 <Q2>"
        if members:
            req.session.cohort.member_ids.extend(members)
        else:
            req.session.cohort.departments.append("sales")
            req.session.cohort.grades.append("P4")
        req.session.scheduled_time.FromSeconds(2000000000)
        req.session.facilitator_id = "hrbp-1"
        return stub.CreateSession(req, metadata=HR)

    def expect_error(self, code, fn, req, metadata=HR, field=None):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(req, metadata=metadata)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        if field:
            self.assertIn(field, field_violations(cm.exception))
        return cm.exception

    def test_1_generate_render_and_parse(self):
        created = self.session("q2-sales")
        self.assertEqual(created.name, "sessions/q2-sales")
        brief = stub.GenerateBrief(pb.GenerateBriefRequest(session="sessions/q2-sales"), metadata=HR)
        self.assertEqual(brief.version, 1)
        self.assertEqual(brief.cohort_size, 5)
        self.assertTrue(brief.HasField("fairness"))
        self.assertEqual(brief.fairness.min_group, 5)
        self.assertFalse(brief.peers_withheld)
        by_id = {p.employee_id: p for p in brief.people}
        self.assertEqual(set(by_id), set(PEOPLE))
        self.assertEqual(by_id["s4"].totals.chains, 2)
        self.assertEqual(list(by_id["s4"].totals.defined), ["evidence_completeness"])
        self.assertIn("median_response_hours", by_id["s1"].totals.defined)
        self.assertAlmostEqual(by_id["s1"].totals.verdict_meets, 1.0)
        signoff = [c for c in by_id["s1"].business if c.measure == "kpi:customer.signoff_rate"][0]
        self.assertAlmostEqual(signoff.relative_difference, (0.6 - 0.9) / 0.9)
        self.assertTrue(signoff.flagged)
        self.assertIn("sales.renewal_rate", [g.goal for g in by_id["s1"].goals])

        page = stub.RenderBrief(pb.RenderBriefRequest(session="sessions/q2-sales", format=pb.RENDER_FORMAT_HTML),
                                metadata=HR)
        self.assertEqual(page.content_type, "text/html; charset=utf-8")
        parser = BriefPage()
        parser.feed(page.content)
        self.assertEqual(sorted(parser.sections), sorted(PEOPLE))
        self.assertEqual(parser.sections[0], brief.people[0].employee_id, "flagged people first")
        self.assertGreaterEqual(parser.svgs, 5)
        self.assertEqual(parser.external, [], "the page must be self-contained")
        self.assertIn("Sales P4 &lt;Q2&gt;", page.content)
        md = stub.RenderBrief(pb.RenderBriefRequest(session="sessions/q2-sales", format=pb.RENDER_FORMAT_MARKDOWN),
                              metadata=HR)
        self.assertTrue(md.content.startswith("# Sales P4 <Q2> — calibration brief v1"))

    def test_2_viewers_and_bad_input(self):
        self.session("viewers")
        stub.GenerateBrief(pb.GenerateBriefRequest(session="sessions/viewers"), metadata=HR)
        manager = [("x-perfflow-tenant", "cal"), ("x-perfflow-principal", "s-head")]
        mine = stub.GetBrief(pb.GetBriefRequest(session="sessions/viewers"), metadata=manager)
        self.assertEqual(len(mine.people), 5)  # all report to s-head
        outsider = [("x-perfflow-tenant", "cal"), ("x-perfflow-principal", "q-head")]
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, stub.GetBrief,
                          pb.GetBriefRequest(session="sessions/viewers"), metadata=outsider)
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, stub.GenerateBrief,
                          pb.GenerateBriefRequest(session="sessions/viewers"), metadata=manager)
        other_tenant = [("x-perfflow-tenant", "other"), ("x-perfflow-roles", "hr")]
        self.expect_error(grpc.StatusCode.NOT_FOUND, stub.GetBrief, pb.GetBriefRequest(session="sessions/viewers"),
                          metadata=other_tenant)
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.CreateSession, pb.CreateSessionRequest(),
                          field="session.cohort")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.GetBrief, pb.GetBriefRequest(session="nope"),
                          field="session")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.RenderBrief,
                          pb.RenderBriefRequest(session="sessions/viewers"), field="format")
        bad = pb.RecordKpiObservationsRequest()
        bad.observations.add(kpi="ok.kpi", period="2026-5", value=1)
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.RecordKpiObservations, bad,
                          field="observations[0].period")

    def test_3_small_cohort_withholds_peers(self):
        self.session("trio", members=["s1", "s2", "s3"])
        brief = stub.GenerateBrief(pb.GenerateBriefRequest(session="sessions/trio"), metadata=HR)
        self.assertTrue(brief.peers_withheld)
        self.assertTrue(all(len(p.comparisons) == 0 for p in brief.people))

    def test_4_goal_status_heatmap_and_flow_brief(self):
        status = stub.GetGoalStatus(pb.GetGoalStatusRequest(goal="sales.renewal_rate"), metadata=HR)
        self.assertAlmostEqual(status.goal.actual, 0.8)
        self.assertFalse(status.goal.met)
        self.assertEqual([g.goal for g in status.goal.upstream],
                         ["delivery.on_time_rate", "quality.complaint_closure_days"])
        self.assertAlmostEqual(status.goal_alignment_rate, 1.0)
        heatmap = stub.GetHeatmap(pb.GetHeatmapRequest(), metadata=HR)
        cell = [c for c in heatmap.cells if c.department_id == "sales"][0]
        self.assertEqual(cell.chains, 10)
        self.assertEqual(cell.owner_count, 6)
        self.assertEqual(cell.feedback_count, 2)
        flow = stub.GetFlowBrief(pb.GetFlowBriefRequest(department_id="sales"), metadata=HR, timeout=30)
        self.assertEqual(flow.total.events, 10)
        # Streams every fact of the period through the real event service
        # (a stream that never finished once made this hang: bounded here).
        insights = stub.GetInsights(pb.GetInsightsRequest(), metadata=HR, timeout=30)
        self.assertTrue(all(i.kind in ("department_gap", "behaviour_outcome") for i in insights.insights))

    def test_5_calibration_changes_on_the_record(self):
        self.session("log", members=PEOPLE)
        record = lambda person, rating, reason="": stub.RecordOutcome(pb.RecordOutcomeRequest(
            session="sessions/log", employee_id=person, final_rating=rating, rationale=reason), metadata=HR)
        raised = record("s1", "A", "Closed the Acme renewal two weeks early")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.RecordOutcome, pb.RecordOutcomeRequest(
            session="sessions/log", employee_id="s1", final_rating="C"), field="rationale")
        lowered = record("s1", "C", "The renewal slipped into Q3 after all")
        record("s2", "B")
        self.assertEqual((raised.previous_rating, lowered.previous_rating), ("", "A"))
        self.assertEqual(lowered.recorded_by, "hr-1")
        # s1 is told, with the reason, through the event service's outbox (the tenant's channels).
        self.assertTrue(lowered.HasField("notice_time"))
        self.assertFalse(raised.HasField("notice_time"))  # nothing was proposed: nothing changed
        queued = mariadb("SELECT recipient_id, payload FROM outbox WHERE tenant_id = 'cal' AND "
                         "topic = 'calibration.changed'", schema=EVENT_SCHEMA)
        self.assertEqual(len(queued), 1, queued)
        recipient, payload = queued[0].split("\t", 1)
        self.assertEqual(recipient, "s1")
        self.assertIn('"rationale":"The renewal slipped into Q3 after all"', payload)
        self.assertIn('"previous_rating":"A"', payload)
        verified = stub.VerifyCalibrationLog(pb.VerifyCalibrationLogRequest(), metadata=HR)
        self.assertTrue(verified.intact, verified.problem)
        self.assertEqual(verified.head_hash, stub.ListOutcomes(pb.ListOutcomesRequest(session="sessions/log"),
                                                               metadata=HR).outcomes[-1].log_hash)
        manager = [("x-perfflow-tenant", "cal"), ("x-perfflow-principal", "s-head"), ("x-perfflow-roles", "manager")]
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, stub.VerifyCalibrationLog,
                          pb.VerifyCalibrationLogRequest(), metadata=manager)
        # Someone with database access softens the lowered rating in the log: the check names the entry.
        mariadb("UPDATE calibration_log SET body = REPLACE(body, '\"finalRating\":\"C\"', '\"finalRating\":\"B\"') "
                "WHERE tenant_id = 'cal' AND sequence = %d" % lowered.log_sequence)
        verified = stub.VerifyCalibrationLog(pb.VerifyCalibrationLogRequest(), metadata=HR)
        self.assertFalse(verified.intact)
        self.assertEqual(verified.first_bad_sequence, lowered.log_sequence)
        self.assertEqual(verified.problem, "entry %d was altered: its content no longer matches its hash"
                         % lowered.log_sequence)


if __name__ == "__main__":
    run_tests(globals(), "--event-binary", "--calibration-binary", "--source-dir")
