#!/usr/bin/python3
"""Security suite: replays the attacks of a hostile test (issue #17) against
the real gateway in front of the four real services on the real MariaDB, all
sharing an internal credential as in production, and asserts the fixed
behaviour and that nothing was written.

Tokens and signatures are made here, independently of the gateway's code
(the helpers of gateway_e2e: hmac, hashlib)."""

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import re
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from perfflow_e2e import run_tests, Server, generate_stubs, mysql_env, mysql_url, scrape_metrics  # noqa: E402
import gateway_e2e  # noqa: E402
from gateway_e2e import GatewayServer, claims, hs256_token, standard_webhook  # noqa: E402

ARGS = None
WORK = None
SERVERS = {}
GATEWAY = None
INTERNAL = "internal-" + secrets.token_hex(16)
HS_SECRET = secrets.token_hex(32)
CRM_SECRET = secrets.token_bytes(24)
EVENTS = {}
ZH = "张伟"

CONFIG = """
jwt_issuers:
  - issuer: https://idp.test
    audiences: [perfflow]
    algorithm: hs256
    secret_env: HS_SECRET
webhook_sources:
  - name: crm
    tenant: sec
    scheme: standard
    secret_envs: [CRM_SECRET]
    mapping:
      external_id: /deal/id
      fixed_event_type: crm.contract_signed
      subject_id: /deal/owner
      occurred_at: /deal/signed_at
      attributes:
        contract_value: /deal/amount
        customer_tier: /deal/tier
rate_limit:
  requests_per_second: 5000
  burst: 10000
"""


def token(sub, roles, **kw):
    return hs256_token(claims(sub, roles, tenant="sec", **kw), secret=HS_SECRET)


def bearer(sub, roles):
    return {"Authorization": "Bearer " + token(sub, roles)}


ADMIN = None


def call(method, path, body=None, headers=None, raw=None):
    """(status, parsed JSON or text) of one real HTTP request to the gateway."""
    status, _, parsed = gateway_e2e.call(method, path, body, headers, port=GATEWAY.http_port, raw=raw)
    return status, parsed


def event_of(name):
    status, body = call("GET", "/v1/" + name, None, ADMIN)
    assert status == 200, body
    return body["event"]


def ingest(subject, external_id, **extra):
    body = {"source": "crm", "externalId": external_id, "eventType": "crm.contract_signed", "subjectId": subject,
            "attributes": {"contract_value": 1000, "customer_tier": "key"}}
    body.update(extra)
    return call("POST", "/v1/events:ingest", body, ADMIN)


def upload(event, who, data=b"%PDF-1.7\n" + b"x" * 2000 + b"\n%%EOF\n"):
    lines = [{"metadata": {"event": event, "kind": "contract_scan", "fileName": "c.pdf",
                           "contentType": "application/pdf"}},
             {"chunk": base64.b64encode(data).decode()}]
    return call("POST", "/v1/evidence:upload", None, bearer(who, ["employee"]),
                raw="\n".join(json.dumps(line) for line in lines).encode())


def start_gateway(extra_env=None, extra_args=()):
    path = os.path.join(WORK, "gateway-%s.yaml" % secrets.token_hex(4))
    with open(path, "w") as f:
        f.write(CONFIG)
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL, HS_SECRET=HS_SECRET,
               CRM_SECRET="whsec_" + base64.b64encode(CRM_SECRET).decode())
    env.update(extra_env or {})
    addrs = ["--%s_addr=%s" % (name, server.address()) for name, server in SERVERS.items()]
    return GatewayServer(os.path.join(ARGS.bin_dir, "perfflow-gateway"),
                         ["--http_port=0", "--db=" + mysql_url() + "/sec_gw_" + secrets.token_hex(4),
                          "--config=" + path] + addrs + list(extra_args), env)


def setUpModule():
    global WORK, GATEWAY, ADMIN, grpc, epb, epb_grpc, tpb
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-security-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    from perfflow.type.v1 import flow_pb2
    epb, epb_grpc, tpb = event_service_pb2, event_service_pb2_grpc, flow_pb2
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL)
    base = mysql_url()
    event = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), ["--db=%s/sec_event_%s" % (base, secrets.token_hex(4))],
                   env)
    SERVERS["event"] = event
    extra = {"feedback": ["--lexicon=" + os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml")],
             "evidence": ["--blob_dir=" + os.path.join(WORK, "blobs")]}
    for name in ("evidence", "feedback", "calibration"):
        SERVERS[name] = Server(os.path.join(ARGS.bin_dir, "perfflow-" + name),
                               ["--db=%s/sec_%s_%s" % (base, name, secrets.token_hex(4)),
                                "--event_addr=" + event.address()] + extra.get(name, []), env)
    GATEWAY = start_gateway()
    ADMIN = bearer("root", ["admin", "hr", "system"])
    deadline = time.monotonic() + 30
    while call("GET", "/readyz")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("gateway never became ready")
        time.sleep(0.2)
    files = [{"name": os.path.basename(p), "content": open(p, encoding="utf-8").read()}
             for p in sorted(__import__("glob").glob(os.path.join(ARGS.source_dir, "services/event/catalogue/*.yaml")))]
    status, body = call("POST", "/v1/eventTypes:apply", {"files": files}, ADMIN)
    assert status == 200, body
    heads = [("sales", "m1"), ("quality", "m2"), ("production", "p-head"), ("supply_chain", "c-head"),
             ("rnd", "r-head")]
    people = [("e1", "sales", "m1"), ("e2", "sales", "m1"), ("e3", "quality", "m2"), (ZH, "sales", "m1")]
    employees = [{"id": "ceo", "displayName": "Chief", "departmentId": "production"}]
    employees += [{"id": h, "displayName": h, "departmentId": d, "managerId": "ceo"} for d, h in heads]
    employees += [{"id": p, "displayName": p, "departmentId": d, "managerId": m} for p, d, m in people]
    status, body = call("POST", "/v1/directory:upsert", {
        "departments": [{"id": d, "name": d.title(), "headId": h} for d, h in heads], "employees": employees}, ADMIN)
    assert status == 200, body
    for person in ("e1", "e2", ZH):
        status, body = ingest(person, "seed-" + secrets.token_hex(4))
        assert status == 200, body
        EVENTS[person] = body["event"]["name"]


def tearDownModule():
    for server in [GATEWAY] + list(SERVERS.values()):
        if server is not None:
            server.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


class GatewayAlive:
    def assert_gateway_alive(self):
        self.assertIsNone(GATEWAY.proc.poll(), "the gateway exited:\n" + "".join(GATEWAY.log[-20:]))
        self.assertEqual(call("GET", "/healthz")[0], 200)


class RecordFlowStepTest(unittest.TestCase, GatewayAlive):
    """#17.1: an employee recorded every step on a colleague's event."""

    def test_people_cannot_record_steps_over_http(self):
        event = ingest("e1", "step-" + secrets.token_hex(4))[1]["event"]["name"]
        before = event_of(event)
        attacks = [{"step": "FLOW_STEP_OWNER_ACTION", "stepId": "a1", "actorId": "e1"},
                   {"step": "FLOW_STEP_MANAGER_FEEDBACK", "verdict": "VERDICT_MEETS", "stepId": "a2", "actorId": "m1"},
                   {"step": "FLOW_STEP_CROSS_CONFIRM", "stepId": "a3", "actorId": "c-head"},
                   {"step": "FLOW_STEP_ARCHIVED", "stepId": "a4", "actorId": "m1"}]
        for who, roles in (("e2", ["employee"]), ("m1", ["manager"]), ("e1", ["employee"]), ("hr-1", ["hr"])):
            for attack in attacks:
                with self.subTest(who=who, step=attack["step"]):
                    status, body = call("POST", "/v1/%s:recordStep" % event, attack, bearer(who, roles))
                    self.assertEqual(status, 403, body)
                    self.assertNotIn("event", body)  # the reply leaks nothing
        self.assertEqual(event_of(event)["flow"], before["flow"])

    def test_the_service_refuses_people_even_with_the_internal_credential(self):
        event = ingest("e1", "step-" + secrets.token_hex(4))[1]["event"]["name"]
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(SERVERS["event"].address()))
        person = [("x-perfflow-tenant", "sec"), ("x-perfflow-principal", "e2"), ("x-perfflow-roles", "employee"),
                  ("x-perfflow-internal-token", INTERNAL)]
        with self.assertRaises(grpc.RpcError) as err:
            stub.RecordFlowStep(epb.RecordFlowStepRequest(event=event, step=tpb.FLOW_STEP_OWNER_ACTION, step_id="x",
                                                          actor_id="e1"), metadata=person, timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # A peer service reporting for a person may not name another actor.
        with self.assertRaises(grpc.RpcError) as err:
            stub.RecordFlowStep(epb.RecordFlowStepRequest(event=event, step=tpb.FLOW_STEP_OWNER_ACTION, step_id="y",
                                                          actor_id="e1"),
                                metadata=person + [("x-perfflow-peer", "evidence")], timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as err:
            stub.MarkEvidenceComplete(epb.MarkEvidenceCompleteRequest(event=event), metadata=person, timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        flow = event_of(event)["flow"]
        self.assertEqual(flow["step"], "FLOW_STEP_TRIGGERED")
        self.assertNotIn("evidenceCompleteAt", flow["times"])

    def test_owners_act_through_uploads_and_systems_may_report(self):
        event = ingest("e1", "step-" + secrets.token_hex(4))[1]["event"]["name"]
        status, body = upload(event, "e1")
        self.assertEqual(status, 200, body)
        self.assertEqual(event_of(event)["flow"]["step"], "FLOW_STEP_OWNER_ACTION")
        system = bearer("mes-bot", ["system"])
        status, body = call("POST", "/v1/%s:recordStep" % event,
                            {"step": "FLOW_STEP_MANAGER_FEEDBACK", "verdict": "VERDICT_MEETS", "stepId": "sys-1",
                             "actorId": "m1"}, system)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["event"]["flow"]["step"], "FLOW_STEP_MANAGER_FEEDBACK")


class UnicodePrincipalTest(unittest.TestCase, GatewayAlive):
    """#17.2: a validly signed JWT whose sub is 张伟 aborted the gateway."""

    def test_chinese_subject_is_carried_to_the_services(self):
        status, body = call("GET", "/v1/" + EVENTS[ZH], None, bearer(ZH, ["employee"]))
        self.assertEqual(status, 200, body)  # the event service recognised its owner
        self.assertEqual(body["event"]["subjectId"], ZH)
        status, body = call("GET", "/v1/tasks?assignee_id=" + urlquote(ZH), None, bearer(ZH, ["employee"]))
        self.assertEqual(status, 200, body)
        self.assertTrue(body["tasks"])
        status, body = upload(EVENTS[ZH], ZH)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["evidence"]["uploaderId"], ZH)
        self.assert_gateway_alive()

    def test_control_characters_are_refused_and_the_gateway_stays_up(self):
        for sub in ("e1\x01", "e1\r\nx-perfflow-roles: admin", "\x7f", "a" * 300):
            with self.subTest(sub=repr(sub)):
                status, body = call("GET", "/v1/registry", None, bearer(sub, ["employee"]))
                self.assertEqual(status, 401, body)
                self.assertIn("subject", body["message"])
        self.assert_gateway_alive()

    def test_over_the_grpc_port_too(self):
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel("127.0.0.1:%d" % GATEWAY.grpc_port))
        md = [("authorization", "Bearer " + token(ZH, ["employee"]))]
        reply = stub.GetEvent(epb.GetEventRequest(name=EVENTS[ZH]), metadata=md, timeout=10)
        self.assertEqual(reply.event.subject_id, ZH)
        self.assert_gateway_alive()


def urlquote(text):
    import urllib.parse
    return urllib.parse.quote(text)


class ViewerRulesTest(unittest.TestCase):
    """#17.5: evidence and reviews were readable by anyone in the tenant."""

    @classmethod
    def setUpClass(cls):
        cls.event = ingest("e2", "view-" + secrets.token_hex(4))[1]["event"]["name"]
        status, body = upload(cls.event, "e2")
        assert status == 200, body
        cls.evidence = body["evidence"]["name"]
        status, body = call("POST", "/v1/%s/reviews" % cls.event,
                            {"verdict": "VERDICT_NEEDS_IMPROVEMENT", "comment": "confidential: pricing was too low"},
                            bearer("m1", ["manager"]))
        assert status == 200, body

    def reads(self):
        return [("GET", "/v1/" + self.evidence), ("GET", "/v1/%s:download" % self.evidence),
                ("GET", "/v1/%s/evidence" % self.event), ("GET", "/v1/%s/reviews" % self.event),
                ("GET", "/v1/" + self.event)]

    def test_outsiders_are_refused_everywhere(self):
        for who, roles in (("e3", ["employee"]), ("m2", ["manager"]), ("e1", ["employee"])):
            for method, path in self.reads():
                with self.subTest(who=who, path=path):
                    status, body = call(method, path, None, bearer(who, roles))
                    self.assertEqual(status, 403, body)
                    self.assertNotIn("confidential", json.dumps(body, ensure_ascii=False))

    def test_owner_manager_and_hr_still_read(self):
        for who, roles in (("e2", ["employee"]), ("m1", ["manager"]), ("hr-1", ["hr"])):
            for method, path in self.reads():
                with self.subTest(who=who, path=path):
                    status, body = call(method, path, None, bearer(who, roles))
                    self.assertEqual(status, 200, body)


class TruncatedUploadTest(unittest.TestCase):
    """#17.4: a cancelled upload, or one past its deadline, was stored as the owner's evidence."""

    def cancelled_uploads(self):
        text = scrape_metrics(SERVERS["evidence"])
        match = re.search(r'perfflow_evidence_uploads_total\{result="cancelled"\} (\S+)', text)
        return float(match.group(1)) if match else 0.0

    def upload_then_stall(self, event, port, md, end):
        """Sends the metadata and two chunks, then stalls until released;
        `end(stub, messages, md, chunks_sent)` ends the call its way."""
        from perfflow.evidence.v1 import evidence_service_pb2 as vpb, evidence_service_pb2_grpc as vpb_grpc
        release, chunks_sent = threading.Event(), threading.Event()

        def messages():
            yield vpb.UploadEvidenceRequest(metadata=vpb.UploadMetadata(
                event=event, kind="contract_scan", file_name="half.pdf", content_type="application/pdf"))
            yield vpb.UploadEvidenceRequest(chunk=b"%PDF-1.7\n" + b"a" * 60000)
            yield vpb.UploadEvidenceRequest(chunk=b"b" * 60000)
            chunks_sent.set()  # gRPC asks for the next message once it took these
            release.wait(20)

        stub = vpb_grpc.EvidenceServiceStub(grpc.insecure_channel("127.0.0.1:%d" % port))
        return end(stub, messages, md, chunks_sent), release

    @staticmethod
    def part_files():
        return [f for _, _, files in os.walk(os.path.join(WORK, "blobs")) for f in files if f.endswith(".part")]

    @classmethod
    def cancel_midway(cls, stub, messages, md, chunks_sent):
        future = stub.UploadEvidence.future(messages(), metadata=md, timeout=30)
        chunks_sent.wait(10)
        # Cancelled once the evidence service holds part of the file (through
        # the gateway, the client's library may have taken the chunks before
        # the gateway passed them on: a CI run cancelled before that).
        deadline = time.monotonic() + 10
        while not cls.part_files() and time.monotonic() < deadline:
            time.sleep(0.05)
        future.cancel()
        return future

    def assert_nothing_stored(self, event, before):
        deadline = time.monotonic() + 20
        while self.cancelled_uploads() < before + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.cancelled_uploads(), before + 1, "the evidence service never saw the upload end")
        status, body = call("GET", "/v1/%s/evidence" % event, None, ADMIN)
        self.assertEqual((status, body.get("evidence", [])), (200, []))
        self.assertEqual(event_of(event)["flow"]["step"], "FLOW_STEP_TRIGGERED")
        deadline = time.monotonic() + 10
        while self.part_files() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.part_files(), [], "a temporary file was left behind")

    def test_cancelled_upload_leaves_nothing(self):
        event = ingest("e1", "cut-" + secrets.token_hex(4))[1]["event"]["name"]
        before = self.cancelled_uploads()
        md = [("authorization", "Bearer " + token("e1", ["employee"]))]
        future, release = self.upload_then_stall(event, GATEWAY.grpc_port, md, self.cancel_midway)
        release.set()
        with self.assertRaises(grpc.FutureCancelledError):
            future.result()
        self.assert_nothing_stored(event, before)

    def test_the_evidence_service_itself_drops_a_cancelled_upload(self):
        event = ingest("e1", "cut-" + secrets.token_hex(4))[1]["event"]["name"]
        before = self.cancelled_uploads()
        md = [("x-perfflow-tenant", "sec"), ("x-perfflow-principal", "e1"), ("x-perfflow-roles", "employee"),
              ("x-perfflow-internal-token", INTERNAL)]
        future, release = self.upload_then_stall(event, SERVERS["evidence"].grpc_port, md, self.cancel_midway)
        release.set()
        self.assertTrue(future.cancelled())
        self.assert_nothing_stored(event, before)

    def test_upload_past_its_deadline_leaves_nothing(self):
        event = ingest("e1", "late-" + secrets.token_hex(4))[1]["event"]["name"]
        before = self.cancelled_uploads()

        def end(stub, messages, md, chunks_sent):
            with self.assertRaises(grpc.RpcError) as err:
                stub.UploadEvidence(messages(), metadata=md, timeout=1.5)
            return err.exception

        md = [("authorization", "Bearer " + token("e1", ["employee"]))]
        error, release = self.upload_then_stall(event, GATEWAY.grpc_port, md, end)
        release.set()
        self.assertEqual(error.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assert_nothing_stored(event, before)


class ReplyDroppingProxy:
    """A gRPC hop between a peer service and the event service that passes
    every unary call on and, while `dropping`, answers RecordFlowStep with
    UNAVAILABLE after the event service has replied: the step is committed,
    the caller never hears so."""

    def __init__(self, target):
        from concurrent import futures
        self.channel = grpc.insecure_channel(target)
        self.dropping = False
        self.dropped = 0
        proxy = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                method = details.method

                def unary(request, context):
                    md = [(k, v) for k, v in context.invocation_metadata()
                          if not k.startswith(":") and k not in ("user-agent", "grpc-accept-encoding")]
                    forward = proxy.channel.unary_unary(method)
                    try:
                        reply = forward(request, metadata=md, timeout=context.time_remaining())
                    except grpc.RpcError as e:
                        context.abort(e.code(), e.details())
                    if method.endswith("/RecordFlowStep") and proxy.dropping:
                        proxy.dropped += 1
                        context.abort(grpc.StatusCode.UNAVAILABLE, "reply dropped by the fault proxy")
                    return reply
                return grpc.unary_unary_rpc_method_handler(unary)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[Handler()])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self):
        self.server.stop(0)


class LostReplyTest(unittest.TestCase):
    """#17.9: a DEADLINE_EXCEEDED after the event service committed deleted a
    verdict the flow still showed. Now the verdict, the confirmation and the
    seal are kept and their steps retried until both sides agree."""

    @classmethod
    def setUpClass(cls):
        from perfflow.feedback.v1 import feedback_service_pb2, feedback_service_pb2_grpc
        from perfflow.evidence.v1 import evidence_service_pb2, evidence_service_pb2_grpc
        cls.fpb, cls.vpb = feedback_service_pb2, evidence_service_pb2
        cls.proxy = ReplyDroppingProxy(SERVERS["event"].address())
        env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL)
        common = ["--event_addr=127.0.0.1:%d" % cls.proxy.port, "--step_retry_seconds=1"]
        cls.feedback = Server(os.path.join(ARGS.bin_dir, "perfflow-feedback"),
                              ["--db=%s/sec_lost_fb_%s" % (mysql_url(), secrets.token_hex(4)),
                               "--lexicon=" + os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml")]
                              + common, env)
        cls.evidence = Server(os.path.join(ARGS.bin_dir, "perfflow-evidence"),
                              ["--db=%s/sec_lost_ev_%s" % (mysql_url(), secrets.token_hex(4)),
                               "--blob_dir=" + os.path.join(WORK, "lost-blobs")] + common, env)
        cls.feedback_stub = feedback_service_pb2_grpc.FeedbackServiceStub(grpc.insecure_channel(cls.feedback.address()))
        cls.evidence_stub = evidence_service_pb2_grpc.EvidenceServiceStub(grpc.insecure_channel(cls.evidence.address()))

    @classmethod
    def tearDownClass(cls):
        cls.feedback.stop()
        cls.evidence.stop()
        cls.proxy.stop()

    def as_person(self, who, roles="employee"):
        return [("x-perfflow-tenant", "sec"), ("x-perfflow-principal", who), ("x-perfflow-roles", roles),
                ("x-perfflow-internal-token", INTERNAL)]

    def pending(self, server, service):
        text = scrape_metrics(server, wait_for='perfflow_step_reports_pending{service="%s"}' % service)
        match = re.search(r'perfflow_step_reports_pending\{service="%s"\} (\S+)' % service, text)
        return float(match.group(1)) if match else -1.0

    def wait_pending(self, server, service, expected):
        deadline = time.monotonic() + 30
        while self.pending(server, service) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.pending(server, service), expected)

    def test_verdict_confirmation_and_seal_survive_lost_replies(self):
        event = ingest("e1", "lost-" + secrets.token_hex(4))[1]["event"]["name"]
        vpb, fpb = self.vpb, self.fpb

        def messages():
            yield vpb.UploadEvidenceRequest(metadata=vpb.UploadMetadata(
                event=event, kind="contract_scan", file_name="c.pdf", content_type="application/pdf"))
            yield vpb.UploadEvidenceRequest(chunk=b"%PDF-1.7\n" + b"z" * 500 + b"\n%%EOF\n")
        self.evidence_stub.UploadEvidence(messages(), metadata=self.as_person("e1"), timeout=30)
        self.assertEqual(event_of(event)["flow"]["step"], "FLOW_STEP_OWNER_ACTION")

        self.proxy.dropping = True
        dropped = self.proxy.dropped
        reply = self.feedback_stub.SubmitReview(fpb.SubmitReviewRequest(
            event=event, verdict=tpb.VERDICT_MEETS, comment="clarified the delivery terms"),
            metadata=self.as_person("m1", "manager"), timeout=30)
        self.assertTrue(reply.review.name)
        self.assertEqual(self.proxy.dropped, dropped + 1, "the fault never happened")
        # The event service has the verdict; the feedback service kept it.
        self.assertEqual(event_of(event)["flow"]["verdict"], "VERDICT_MEETS")
        reviews = self.feedback_stub.ListReviews(fpb.ListReviewsRequest(event=event),
                                                 metadata=self.as_person("m1", "manager"), timeout=30)
        self.assertEqual(len(reviews.reviews), 1)

        confirmer = [t["assigneeId"] for t in event_of(event)["tasks"] if t["kind"] == "TASK_KIND_CROSS_CONFIRM"][0]
        self.feedback_stub.ConfirmImpact(fpb.ConfirmImpactRequest(event=event, scopes=[fpb.IMPACT_SCOPE_DELIVERY]),
                                         metadata=self.as_person(confirmer, "manager"), timeout=30)
        self.assertIn("crossConfirmAt", event_of(event)["flow"]["times"])
        sealed = self.evidence_stub.SealEvidence(vpb.SealEvidenceRequest(event=event),
                                                 metadata=self.as_person("m1", "manager"), timeout=30)
        self.assertTrue(sealed.seal.digest)
        self.assertEqual(event_of(event)["flow"]["step"], "FLOW_STEP_ARCHIVED")
        self.assertEqual(self.proxy.dropped, dropped + 3)
        self.wait_pending(self.feedback, "feedback", 2)  # still unacknowledged: kept, retried

        self.proxy.dropping = False
        self.wait_pending(self.feedback, "feedback", 0)
        self.wait_pending(self.evidence, "evidence", 0)
        reviews = self.feedback_stub.ListReviews(fpb.ListReviewsRequest(event=event),
                                                 metadata=self.as_person("m1", "manager"), timeout=30)
        self.assertEqual(len(reviews.reviews), 1)
        verified = self.evidence_stub.VerifySeal(vpb.VerifySealRequest(event=event),
                                                 metadata=self.as_person("m1", "manager"), timeout=30)
        self.assertTrue(verified.intact)
        flow = event_of(event)["flow"]
        self.assertEqual((flow["step"], flow["verdict"]), ("FLOW_STEP_ARCHIVED", "VERDICT_MEETS"))


class NestedJsonTest(unittest.TestCase, GatewayAlive):
    """#17.6: attributes nested 100k deep pinned a core for minutes."""

    def test_deep_bodies_get_a_fast_400(self):
        external = "deep-" + secrets.token_hex(4)
        deep = "[" * 100000 + "]" * 100000
        raw = ('{"source":"crm","externalId":"%s","eventType":"crm.contract_signed","subjectId":"e1",'
               '"attributes":{"x":%s}}' % (external, deep)).encode()
        started = time.monotonic()
        status, body = call("POST", "/v1/events:ingest", None, ADMIN, raw=raw)
        self.assertEqual(status, 400, body)
        self.assertIn("32", body["message"])
        self.assertLess(time.monotonic() - started, 2.0)
        # 33 levels are refused, 32 taken.
        for depth, expected in ((40, 400), (20, 200)):
            nested = "[" * depth + "1" + "]" * depth
            status, body = call("POST", "/v1/events:ingest", None, ADMIN, raw=(
                '{"source":"crm","externalId":"%s-%d","eventType":"crm.contract_signed","subjectId":"e1",'
                '"attributes":{"contract_value":1,"customer_tier":"key","x":%s}}' % (external, depth, nested)).encode())
            self.assertEqual(status, expected, body)
        status, body = call("GET", "/v1/events?subject_id=e1&page_size=1000", None, ADMIN)
        self.assertEqual([e["externalId"] for e in body["events"] if e["externalId"].startswith(external)],
                         [external + "-20"])

    def test_deep_webhooks_get_a_fast_400(self):
        body = ('{"deal":{"id":"deep-wh","owner":"e1","amount":1,"tier":"key","x":%s}}'
                % ("{\"a\":" * 50000 + "1" + "}" * 50000)).encode()
        started = time.monotonic()
        status, reply = call("POST", "/v1/webhooks/crm", None, standard_webhook(body, CRM_SECRET), raw=body)
        self.assertEqual(status, 400, reply)
        self.assertIn("32", reply["reason"])
        self.assertLess(time.monotonic() - started, 2.0)
        self.assert_gateway_alive()


def peak_rss_mib(server):
    return server.peak_rss_kib() / 1024.0


def raw_request(head, body_chunks=(), timeout=30):
    """Sends `head` and then each of body_chunks on one socket until the
    server stops taking them; returns (status line, response text, chunks sent)."""
    sock = socket.create_connection(("127.0.0.1", GATEWAY.http_port), timeout=timeout)
    sent = 0
    try:
        sock.sendall(head.encode())
        for chunk in body_chunks:
            sock.sendall(chunk)
            sent += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            data += got
            if b"\r\n\r\n" in data and len(data) > data.index(b"\r\n\r\n") + 4 and b"Connection: close" not in data:
                break
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    text = data.decode(errors="replace")
    return text.split("\r\n", 1)[0], text, sent


def chunked(total_mib, piece=1 << 20):
    block = b"x" * piece
    frame = ("%x\r\n" % piece).encode() + block + b"\r\n"
    for _ in range(total_mib):
        yield frame


class BodyLimitTest(unittest.TestCase, GatewayAlive):
    """#17.3: 4 x 300 MiB chunked posts before authentication took the gateway to 2 GiB."""

    def test_chunked_bodies_before_authentication_are_never_buffered(self):
        before = peak_rss_mib(GATEWAY)
        head = ("POST /v1/events:ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n")
        results = []
        threads = [threading.Thread(target=lambda: results.append(raw_request(head, chunked(300))))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(len(results), 4)
        for status_line, text, sent in results:
            self.assertIn(" 401 ", status_line, text[:300])
            self.assertLess(sent, 300, "the gateway took the whole body before refusing it")
        print("chunked before auth: %s MiB sent of 4 x 300, gateway peak RSS +%.1f MiB"
              % ([sent for _, _, sent in results], peak_rss_mib(GATEWAY) - before), file=sys.stderr)
        self.assertLess(peak_rss_mib(GATEWAY) - before, 32, "the gateway buffered unauthenticated bodies")
        self.assert_gateway_alive()

    def test_authenticated_chunked_bodies_stop_at_the_limit(self):
        before = peak_rss_mib(GATEWAY)
        head = ("POST /v1/events:ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Authorization: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % ADMIN["Authorization"])
        status_line, text, sent = raw_request(head, chunked(300, piece=256 * 1024))
        self.assertIn(" 413 ", status_line, text[:300])
        self.assertIn("RESOURCE_EXHAUSTED", text)
        self.assertLess(sent, 300 * 4)
        self.assertLess(peak_rss_mib(GATEWAY) - before, 32)
        self.assert_gateway_alive()

    def test_a_declared_length_over_the_limit_is_refused_before_the_body(self):
        head = ("POST /v1/events:ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Authorization: %s\r\nContent-Length: %d\r\n\r\n" % (ADMIN["Authorization"], 300 << 20))
        status_line, text, _ = raw_request(head, timeout=10)  # no body is ever sent
        self.assertIn(" 413 ", status_line, text[:300])

    def test_a_head_over_32_kib_is_refused_unread(self):
        status_line, text, _ = raw_request("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: %s\r\n\r\n" % ("a" * 40000),
                                           timeout=10)
        self.assertIn(" 431 ", status_line, text[:300])
        self.assert_gateway_alive()

    def test_small_chunked_bodies_still_work(self):
        external = "chunked-" + secrets.token_hex(4)
        body = json.dumps({"source": "crm", "externalId": external, "eventType": "crm.contract_signed",
                           "subjectId": "e1", "attributes": {"contract_value": 1, "customer_tier": "key"}}).encode()
        half = len(body) // 2
        frames = [("%x\r\n" % len(part)).encode() + part + b"\r\n" for part in (body[:half], body[half:])] + [b"0\r\n\r\n"]
        head = ("POST /v1/events:ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Authorization: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % ADMIN["Authorization"])
        status_line, text, _ = raw_request(head, frames)
        self.assertIn(" 200 ", status_line, text[:500])
        self.assertIn(external, text)

    def test_smuggling_framings_are_refused(self):
        for extra in ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding: gzip\r\n",
                      "Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: -1\r\n"):
            with self.subTest(extra=extra):
                status_line, text, _ = raw_request("POST /v1/events:ingest HTTP/1.1\r\nHost: x\r\n%s\r\n" % extra,
                                                   timeout=10)
                self.assertRegex(status_line, " (400|501) ", text[:300])


class SlowlorisTest(unittest.TestCase, GatewayAlive):
    """#17.7: 64 connections sending a header byte a second stopped all HTTP."""

    def test_normal_requests_stay_fast_during_200_slow_connections(self):
        slow = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", GATEWAY.http_port), timeout=5)
            s.setblocking(False)
            slow.append(s)
        request = b"GET /v1/registry HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 1000
        latencies = []
        closed_by_server = set()
        started = time.monotonic()
        step = 0
        # Drip one byte per connection every 0.5 s; probe in between. The
        # loop is bounded: the gateway must cut them off at its read timeout
        # (10 s) and the test gives it 20 s.
        while len(closed_by_server) < len(slow) and time.monotonic() - started < 20:
            for i, s in enumerate(slow):
                if i in closed_by_server:
                    continue
                try:
                    s.send(request[step % len(request):step % len(request) + 1])
                    if s.recv(4096) == b"":
                        closed_by_server.add(i)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    closed_by_server.add(i)
            step += 1
            if time.monotonic() - started < 8:
                t0 = time.monotonic()
                status, body = call("GET", "/v1/registry", None, ADMIN)
                latencies.append(time.monotonic() - t0)
                self.assertEqual(status, 200, body)
                t0 = time.monotonic()
                self.assertEqual(call("GET", "/healthz")[0], 200)
                latencies.append(time.monotonic() - t0)
            time.sleep(0.5)
        for s in slow:
            s.close()
        print("slowloris: %d probes beside 200 slow connections, median %.1f ms, max %.1f ms; %d cut off after %.1f s"
              % (len(latencies), sorted(latencies)[len(latencies) // 2] * 1000, max(latencies) * 1000,
                 len(closed_by_server), time.monotonic() - started), file=sys.stderr)
        self.assertGreater(len(latencies), 10)
        self.assertLess(max(latencies), 1.0, "normal requests waited behind slow connections: %s" % latencies)
        self.assertEqual(len(closed_by_server), len(slow), "slow connections were never cut off")
        self.assert_gateway_alive()


class TimestampTest(unittest.TestCase):
    """#17.8: times before 1677 were stored, then every read was HTTP 200 {}."""

    def test_year_one_round_trips_and_reads_stay_json(self):
        status, body = ingest("e1", "y1-" + secrets.token_hex(4), occurredAt="0001-01-01T00:00:00Z")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["event"]["occurredAt"], "0001-01-01T00:00:00Z")
        status, got = call("GET", "/v1/" + body["event"]["name"], None, ADMIN)
        self.assertEqual((status, got["event"]["occurredAt"]), (200, "0001-01-01T00:00:00Z"))
        status, listed = call("GET", "/v1/events?subject_id=e1&page_size=1000", None, ADMIN)
        self.assertEqual(status, 200)
        self.assertTrue(listed["events"])

    def test_out_of_range_timestamps_are_refused_over_grpc(self):
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel("127.0.0.1:%d" % GATEWAY.grpc_port))
        md = [("authorization", ADMIN["Authorization"])]
        from google.protobuf import timestamp_pb2
        far = timestamp_pb2.Timestamp(seconds=-10 ** 13)
        external = "far-" + secrets.token_hex(4)
        req = epb.IngestEventRequest(source="crm", external_id=external, event_type="crm.contract_signed",
                                     subject_id="e1", occurred_at=far)
        req.attributes.update({"contract_value": 1, "customer_tier": "key"})
        calls = [(stub.IngestEvent, req),
                 (stub.ListEvents, epb.ListEventsRequest(start_time=far)),
                 (stub.GetFlowHealth, epb.GetFlowHealthRequest(end_time=timestamp_pb2.Timestamp(seconds=10 ** 13))),
                 (stub.ListEvents, epb.ListEventsRequest(end_time=timestamp_pb2.Timestamp(seconds=1, nanos=-1)))]
        for rpc, request in calls:
            with self.subTest(request=type(request).__name__):
                with self.assertRaises(grpc.RpcError) as err:
                    rpc(request, metadata=md, timeout=10)
                self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        status, body = call("GET", "/v1/events?subject_id=e1&page_size=1000", None, ADMIN)
        self.assertFalse([e for e in body["events"] if e["externalId"] == external])


class LowSeverityTest(unittest.TestCase, GatewayAlive):
    """#17.10: oversized metadata, a 21 MiB upload, a PDF/ELF polyglot."""

    def test_oversized_metadata_is_invalid_argument_not_retry(self):
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel("127.0.0.1:%d" % GATEWAY.grpc_port))
        for size in (9000, 40000):
            with self.subTest(size=size):
                with self.assertRaises(grpc.RpcError) as err:
                    stub.GetRegistry(epb.GetRegistryRequest(), metadata=[("authorization", ADMIN["Authorization"]),
                                                                         ("x-filler", "a" * size)], timeout=10)
                self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn("at most 8192", err.exception.details())
        self.assert_gateway_alive()

    def test_a_file_over_the_limit_is_resource_exhausted_and_not_stored(self):
        from perfflow.evidence.v1 import evidence_service_pb2 as vpb, evidence_service_pb2_grpc as vpb_grpc
        event = ingest("e1", "big-" + secrets.token_hex(4))[1]["event"]["name"]

        def messages():
            yield vpb.UploadEvidenceRequest(metadata=vpb.UploadMetadata(
                event=event, kind="contract_scan", file_name="big.pdf", content_type="application/pdf"))
            yield vpb.UploadEvidenceRequest(chunk=b"%PDF-1.7\n")
            for _ in range(21):
                yield vpb.UploadEvidenceRequest(chunk=b"x" * (1 << 20))

        stub = vpb_grpc.EvidenceServiceStub(grpc.insecure_channel("127.0.0.1:%d" % GATEWAY.grpc_port))
        with self.assertRaises(grpc.RpcError) as err:
            stub.UploadEvidence(messages(), metadata=[("authorization", "Bearer " + token("e1", ["employee"]))],
                                timeout=60)
        self.assertEqual(err.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(call("GET", "/v1/%s/evidence" % event, None, ADMIN)[1].get("evidence", []), [])

    def test_a_pdf_header_glued_to_an_executable_is_refused(self):
        event = ingest("e1", "poly-" + secrets.token_hex(4))[1]["event"]["name"]
        status, body = upload(event, "e1", data=b"%PDF-1.7\n\x7fELF\x02\x01\x01" + b"\x00" * 3000)
        self.assertEqual(status, 400, body)
        self.assertIn("%%EOF", body["message"])
        self.assertEqual(call("GET", "/v1/%s/evidence" % event, None, ADMIN)[1].get("evidence", []), [])
        self.assertEqual(event_of(event)["flow"]["step"], "FLOW_STEP_TRIGGERED")


class InternalTokenTest(unittest.TestCase):
    """#17.10: the gateway accepted a 5-character internal token."""

    def test_short_tokens_refuse_to_start(self):
        for binary, args in (("perfflow-gateway", ["--http_port=0", "--db=sqlite:" + os.path.join(WORK, "gw.db")]),
                             ("perfflow-event", ["--db=sqlite:" + os.path.join(WORK, "ev.db")])):
            with self.subTest(binary=binary):
                proc = subprocess.run([os.path.join(ARGS.bin_dir, binary), "--grpc_port=0", "--metrics_port=0",
                                       "--host=127.0.0.1"] + args,
                                      env=dict(os.environ, PERFFLOW_INTERNAL_TOKEN="short"), capture_output=True,
                                      text=True, timeout=60)
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn("at least 32", proc.stdout + proc.stderr)
                self.assertNotIn("short", (proc.stdout + proc.stderr).replace("--", ""))


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir")
