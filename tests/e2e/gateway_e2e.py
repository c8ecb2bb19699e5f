#!/usr/bin/python3
"""End-to-end test of perfflow-gateway in front of the four real services on
the real MariaDB, all sharing an internal credential. Everything goes through
real HTTP (http.client) or real gRPC; JWTs and webhook signatures are computed
here, independently of the gateway's code (hmac, hashlib, the openssl CLI).
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import (run_tests, Server, generate_stubs, mysql_env, mysql_url, scrape_metrics,  # noqa: E402
                          assert_metrics)

ARGS = None
WORK = None
SERVERS = []
GATEWAY = None
INTERNAL = "internal-" + secrets.token_hex(16)
HS_SECRET = secrets.token_hex(32)
CRM_OLD, CRM_NEW = secrets.token_bytes(24), secrets.token_bytes(24)
PLM_SECRET = secrets.token_hex(16)
LINK_NEW, LINK_OLD = secrets.token_hex(16), secrets.token_hex(16)
PEOPLE = [("e1", "sales", "m1"), ("e2", "sales", "m1"), ("e3", "quality", "m2")]
FIRST_EVENT = {}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(claims, secret=None, header=None):
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new((secret or HS_SECRET).encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def rs256_token(claims):
    signing = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(WORK, "rs.key")],
                         input=signing.encode(), capture_output=True, check=True).stdout
    return signing + "." + b64url(sig)


def claims(sub, roles, tenant="gw", aud="perfflow", iss="https://idp.test", exp_in=600, **extra):
    now = int(time.time())
    c = {"iss": iss, "aud": aud, "sub": sub, "tenant": tenant, "roles": roles, "iat": now, "exp": now + exp_in}
    c.update(extra)
    return c


def bearer(sub, roles, **kw):
    return {"Authorization": "Bearer " + hs256_token(claims(sub, roles, **kw))}


ADMIN = None  # set up below: HR + admin + system
HR = None


def call(method, path, body=None, headers=None, port=None, raw=None):
    """(status, headers, parsed JSON or text) of one real HTTP request."""
    conn = http.client.HTTPConnection("127.0.0.1", port or GATEWAY.http_port, timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed


def standard_webhook(body, secret, msg_id=None, ts=None):
    msg_id = msg_id or "msg_" + secrets.token_hex(8)
    ts = str(int(time.time()) if ts is None else ts)
    sig = base64.b64encode(hmac.new(secret, (msg_id + "." + ts + ".").encode() + body, hashlib.sha256).digest())
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + sig.decode()}


def deal(deal_id, owner="e1", amount=120000):
    return json.dumps({"deal": {"id": deal_id, "owner": owner, "amount": amount, "tier": "key",
                                "signed_at": "2026-11-20T09:30:00Z"}}).encode()


class GatewayServer(Server):
    def __init__(self, binary, args, env):
        super().__init__(binary, args, env)
        for line in self.log:
            record = json.loads(line)
            if record.get("msg") == "http listening":
                self.http_port = int(record["http_port"])
        if not hasattr(self, "http_port"):
            raise RuntimeError("gateway did not report its HTTP port:\n" + "".join(self.log))


def start_gateway(config_text, extra=()):
    path = os.path.join(WORK, "gateway-%s.yaml" % secrets.token_hex(4))
    with open(path, "w") as f:
        f.write(config_text)
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL, HS_SECRET=HS_SECRET,
               PERFFLOW_ACTION_LINK_KEYS=LINK_NEW + "," + LINK_OLD,
               CRM_OLD="whsec_" + base64.b64encode(CRM_OLD).decode(),
               CRM_NEW="whsec_" + base64.b64encode(CRM_NEW).decode(), PLM_SECRET=PLM_SECRET)
    addrs = ["--%s_addr=%s" % (name, server.address()) for name, server in SERVERS]
    return GatewayServer(os.path.join(ARGS.bin_dir, "perfflow-gateway"),
                         ["--http_port=0", "--db=" + mysql_url() + "/gw_" + secrets.token_hex(4),
                          "--config=" + path] + addrs + list(extra), env)


CONFIG = """
jwt_issuers:
  - issuer: https://idp.test
    audiences: [perfflow]
    algorithm: hs256
    secret_env: HS_SECRET
  - issuer: https://rs.test
    audiences: [perfflow, other-app]
    algorithm: rs256
    public_key_file: {pub}
webhook_sources:
  - name: crm
    tenant: gw
    scheme: standard
    secret_envs: [CRM_OLD, CRM_NEW]
    mapping:
      external_id: /deal/id
      fixed_event_type: crm.contract_signed
      subject_id: /deal/owner
      occurred_at: /deal/signed_at
      attributes:
        contract_value: /deal/amount
        customer_tier: /deal/tier
  - name: plm
    tenant: gw
    scheme: github
    secret_envs: [PLM_SECRET]
    mapping:
      event_type: /type
      subject_id: /owner/id
      source: crm
      attributes:
        contract_value: /value
        customer_tier: /tier
rate_limit:
  requests_per_second: 1000
  burst: 2000
"""


def setUpModule():
    global WORK, GATEWAY, ADMIN, HR, grpc, epb, epb_grpc
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-gateway-e2e-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    epb, epb_grpc = event_service_pb2, event_service_pb2_grpc
    subprocess.run(["openssl", "genrsa", "-out", os.path.join(WORK, "rs.key"), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", os.path.join(WORK, "rs.key"), "-pubout", "-out",
                    os.path.join(WORK, "rs.pub")], check=True, capture_output=True)
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL)
    base = mysql_url()
    event = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), ["--db=%s/gw_event_%s" % (base, secrets.token_hex(4))], env)
    SERVERS.append(("event", event))
    extra = {"feedback": ["--lexicon=" + os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml")]}
    for name in ("evidence", "feedback", "calibration"):
        SERVERS.append((name, Server(os.path.join(ARGS.bin_dir, "perfflow-" + name),
                                     ["--db=%s/gw_%s_%s" % (base, name, secrets.token_hex(4)),
                                      "--event_addr=" + event.address()] + extra.get(name, []), env)))
        if name == "evidence":  # feedback archives ready chains through it
            extra["feedback"].append("--evidence_addr=" + SERVERS[-1][1].address())
    GATEWAY = start_gateway(CONFIG.format(pub=os.path.join(WORK, "rs.pub")))
    ADMIN = bearer("root", ["admin", "hr", "system"])
    HR = bearer("hr-1", ["hr"])
    deadline = time.monotonic() + 30
    while call("GET", "/readyz")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("gateway never became ready")
        time.sleep(0.2)
    files = [{"name": os.path.basename(p), "content": open(p, encoding="utf-8").read()}
             for p in sorted(__import__("glob").glob(os.path.join(ARGS.source_dir, "services/event/catalogue/*.yaml")))]
    status, _, body = call("POST", "/v1/eventTypes:apply", {"files": files}, ADMIN)
    assert status == 200, body
    heads = [("sales", "m1"), ("quality", "m2"), ("production", "p-head"), ("supply_chain", "c-head"), ("rnd", "r-head")]
    employees = [{"id": "ceo", "displayName": "Chief", "departmentId": "production"}]
    employees += [{"id": h, "displayName": h, "departmentId": d, "managerId": "ceo"} for d, h in heads]
    employees += [{"id": p, "displayName": p, "departmentId": d, "managerId": m} for p, d, m in PEOPLE]
    status, _, body = call("POST", "/v1/directory:upsert", {
        "departments": [{"id": d, "name": d.title(), "headId": h} for d, h in heads],
        "employees": employees}, ADMIN)
    assert status == 200, body
    for person, _, _ in PEOPLE:
        status, _, body = call("POST", "/v1/events:ingest", {
            "source": "crm", "externalId": "seed-" + person, "eventType": "crm.contract_signed",
            "subjectId": person, "attributes": {"contract_value": 100000, "customer_tier": "key"}}, ADMIN)
        assert status == 200, body
        FIRST_EVENT[person] = body["event"]["name"]


def tearDownModule():
    for server in [GATEWAY] + [s for _, s in SERVERS]:
        if server is not None:
            server.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


class RouteFamiliesTest(unittest.TestCase):
    def test_every_service_is_reachable_over_http(self):
        checks = [
            ("GET", "/v1/registry", None, lambda b: b["registry"] if "registry" in b else b),
            ("GET", "/v1/employees?department_id=sales&page_size=10", None, lambda b: b["employees"]),
            ("GET", "/v1/departments", None, lambda b: b["departments"]),
            ("GET", "/" + "v1/" + FIRST_EVENT["e1"], None, lambda b: b["event"]["subjectId"] == "e1" or None),
            ("GET", "/v1/events?subject_id=e2", None, lambda b: b["events"]),
            ("GET", "/v1/tasks?assignee_id=e1", None, lambda b: b["tasks"]),
            ("GET", "/v1/flowHealth?period=PERIOD_MONTH", None, lambda b: b),
            ("GET", "/v1/%s/evidence" % FIRST_EVENT["e1"], None, lambda b: "evidence" in b or None),
            ("POST", "/v1/feedback:analyze", {"text": "Good job, keep it up."}, lambda b: b),
            ("GET", "/v1/feedbackStats", None, lambda b: b),
            ("POST", "/v1/sessions", {"session": {"title": "Q4 sales", "cohort": {"departments": ["sales"]},
                                                  "scheduledTime": "2026-12-20T09:00:00Z",
                                                  "facilitatorId": "hr-1"}}, lambda b: b["name"]),
            ("GET", "/v1/sessions", None, lambda b: b["sessions"]),
            ("GET", "/v1/heatmap", None, lambda b: b),
            ("GET", "/v1/apiKeys", None, lambda b: "apiKeys" in b or None),
        ]
        for method, path, body, check in checks:
            with self.subTest(path=path):
                status, headers, reply = call(method, path, body, ADMIN)
                self.assertEqual(status, 200, reply)
                self.assertEqual(headers["content-type"], "application/json")
                self.assertTrue(check(reply), reply)

    def test_server_stream_is_newline_delimited_json(self):
        status, headers, text = call("GET", "/v1/flowFacts", None, ADMIN)
        self.assertEqual(status, 200, text)
        self.assertEqual(headers["content-type"], "application/x-ndjson")
        lines = [json.loads(line) for line in text.strip().split("\n")]
        self.assertGreaterEqual(len(lines), len(PEOPLE))
        self.assertTrue(all("event" in line for line in lines), lines[:2])

    def test_client_stream_upload_as_json_lines(self):
        pdf = b"%PDF-1.7\n" + b"x" * 2000 + b"\n%%EOF\n"
        lines = [{"metadata": {"event": FIRST_EVENT["e1"], "kind": "contract_scan", "fileName": "c.pdf",
                               "contentType": "application/pdf"}},
                 {"chunk": base64.b64encode(pdf[:1000]).decode()}, {"chunk": base64.b64encode(pdf[1000:]).decode()}]
        body = "\n".join(json.dumps(line) for line in lines).encode()
        status, _, reply = call("POST", "/v1/evidence:upload", None, bearer("e2", ["employee"]), raw=body)
        self.assertEqual(status, 403, reply)  # not the owner
        status, _, reply = call("POST", "/v1/evidence:upload", None, bearer("e1", ["employee"]), raw=body)
        self.assertEqual(status, 200, reply)
        evidence = reply["evidence"]
        self.assertEqual(int(evidence["sizeBytes"]), len(pdf))
        self.assertEqual(evidence["sha256"], hashlib.sha256(pdf).hexdigest())
        status, _, got = call("GET", "/v1/" + evidence["name"], None, bearer("e1", ["employee"]))
        self.assertEqual((status, got["evidence"]["fileName"]), (200, "c.pdf"))
        status, _, reply = call("POST", "/v1/evidence:upload", None, bearer("e1", ["employee"]),
                                raw=body + b"\n{not json")
        self.assertEqual(status, 400)
        self.assertIn("body line 4", reply["message"])

    def test_errors_are_json_with_the_conventional_status(self):
        status, _, body = call("POST", "/v1/events:ingest", {"source": "crm"}, ADMIN)
        self.assertEqual(status, 400)
        self.assertEqual(body["status"], "INVALID_ARGUMENT")
        violations = [v["field"] for d in body["details"] for v in d.get("fieldViolations", [])]
        self.assertIn("external_id", violations)
        status, _, body = call("GET", "/v1/events/%s" % ("0" * 32), None, ADMIN)
        self.assertEqual((status, body["status"]), (404, "NOT_FOUND"))

    def test_unknown_route_wrong_method_malformed_and_oversized(self):
        status, _, body = call("GET", "/v1/nope", None, ADMIN)
        self.assertEqual((status, body["status"]), (404, "NOT_FOUND"))
        status, headers, body = call("DELETE", "/v1/registry", None, ADMIN)
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET")
        status, _, body = call("POST", "/v1/events:ingest", None, ADMIN, raw=b'{"source": "crm",')
        self.assertEqual(status, 400)
        self.assertIn("malformed JSON", body["message"])
        status, _, body = call("POST", "/v1/events:ingest", None, ADMIN, raw=b"x" * (1024 * 1024 + 10))
        self.assertEqual(status, 413)
        self.assertEqual(body["status"], "RESOURCE_EXHAUSTED")
        status, _, body = call("GET", "/v1/events?no_such_field=1", None, ADMIN)
        self.assertEqual(status, 400)

    def test_request_id_and_traceparent_are_kept(self):
        trace = secrets.token_hex(16)
        status, headers, _ = call("GET", "/v1/registry", None,
                                  dict(ADMIN, **{"x-request-id": "req-42", "traceparent": "00-%s-%s-01" % (trace, "1" * 16)}))
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-request-id"], "req-42")
        status, headers, _ = call("GET", "/v1/registry", None, ADMIN)
        self.assertRegex(headers["x-request-id"], "^[0-9a-f]{32}$")
        deadline = time.monotonic() + 10
        event_log = SERVERS[0][1].log
        while not any(trace in line for line in event_log) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(any(trace in line and "GetRegistry" in line for line in event_log), "trace not forwarded")
        access = [json.loads(line) for line in GATEWAY.log if '"kind":"access"' in line]
        self.assertTrue(any(a.get("request_id") == "req-42" and a.get("trace_id") == trace and a["route"] == "GET /v1/registry"
                            for a in access))

    def test_metrics(self):
        call("GET", "/v1/registry", None, ADMIN)
        text = scrape_metrics(GATEWAY, wait_for="perfflow_gateway_http_requests_total")
        assert_metrics(self, text, ['perfflow_gateway_http_requests_total{code="200",route="GET /v1/registry"}',
                                    "perfflow_gateway_http_request_duration_seconds_bucket"])


def action_link(tenant, task_id, person, expires, key=None):
    """A signed action link made here, independently of the gateway's code:
    v1.<base64url(tenant US task US person US expiry)>.<base64url(HMAC-SHA256)>."""
    claims = b64url("\x1f".join([tenant, task_id, person, str(int(expires))]).encode())
    signed = "v1." + claims
    return signed + "." + b64url(hmac.new((key or LINK_NEW).encode(), signed.encode(), hashlib.sha256).digest())


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def multipart(fields, files):
    """multipart/form-data: fields {name: value}, files [(field, file name, content type, bytes)]."""
    boundary = "----perfflow" + secrets.token_hex(8)
    out = b""
    for name, value in fields.items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, name, value)).encode()
    for field, file_name, content_type, data in files:
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: %s\r\n\r\n'
                % (boundary, field, file_name, content_type)).encode() + data + b"\r\n"
    return out + ("--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary


class ActionLinkTest(unittest.TestCase):
    """The action pages over plain HTTP: links open pages, forms act, and every refusal writes nothing."""

    def open_task(self, person, kind=None, event=None):
        status, _, body = call("GET", "/v1/tasks?assignee_id=" + person, None, ADMIN)
        self.assertEqual(status, 200, body)
        tasks = [t for t in body.get("tasks", []) if t["state"] == "TASK_STATE_OPEN"
                 and (kind is None or t["kind"] == kind) and (event is None or t["event"] == event)]
        self.assertTrue(tasks, body)
        return tasks[0]["name"][len("tasks/"):]

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY.http_port, timeout=30)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def get(self, token, headers=None):
        return self.request("GET", "/act/" + token, headers=headers)

    def open_link(self, token, lang="en"):
        """Opens the link as a browser would; returns the session cookie header for its posts."""
        status, headers, page = self.get(token, {"Accept-Language": lang})
        self.assertEqual(status, 200, page)
        cookie = headers["set-cookie"]
        self.assertIn("Path=/act/" + token, cookie)
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)
        return {"Cookie": cookie.split(";")[0], "Accept-Language": lang}, page

    def post_form(self, token, fields, session, path_suffix=""):
        body = "&".join("%s=%s" % (urllib.parse.quote(k), urllib.parse.quote(v)) for k, v in fields)
        headers = dict(session, **{"Content-Type": "application/x-www-form-urlencoded"})
        return self.request("POST", "/act/" + token + path_suffix, body.encode(), headers)

    def evidence_of(self, event):
        status, _, body = call("GET", "/v1/" + event + "/evidence", None, ADMIN)
        self.assertEqual(status, 200, body)
        return body.get("evidence", [])

    def new_event(self, person, external_id):
        status, _, body = call("POST", "/v1/events:ingest", {
            "source": "crm", "externalId": external_id, "eventType": "crm.contract_signed", "subjectId": person,
            "attributes": {"contract_value": 250000, "customer_tier": "key"}}, ADMIN)
        self.assertEqual(status, 200, body)
        return body["event"]["name"]

    def test_a_valid_link_opens_its_task_for_its_person(self):
        task = self.open_task("e2")
        for key in (LINK_NEW, LINK_OLD):  # both keys verify while rotating
            status, headers, page = self.get(action_link("gw", task, "e2", time.time() + 3600, key))
            self.assertEqual(status, 200, page)
            self.assertIn("合同签订", page)  # the display name, not the key; zh by default
            self.assertIn("上传证据", page)
            self.assertNotIn("crm.contract_signed", page)
            self.assertIn("perfflow_action=", headers["set-cookie"])
        _, english = self.open_link(action_link("gw", task, "e2", time.time() + 3600))
        self.assertIn("Contract signed", english)
        self.assertIn("Upload a piece of evidence", english)
        self.assertIn('capture="environment"', english)  # the phone camera

    def test_an_inbox_link_lists_open_tasks_each_with_a_working_link(self):
        self.open_task("e2")
        status, headers, page = self.get(action_link("gw", "", "e2", time.time() + 3600), {"Accept-Language": "en"})
        self.assertEqual(status, 200, page)
        self.assertIn("My tasks", page)
        self.assertIn("Contract signed", page)
        links = re.findall(r'href="(/act/[^"]+)"', page)
        self.assertTrue(links)
        status, _, task_page = self.get(links[0][len("/act/"):], {"Accept-Language": "en"})
        self.assertEqual(status, 200, task_page)
        self.assertIn("Upload the evidence", task_page)
        inbox = action_link("gw", "", "e2", time.time() + 3600)
        status, _, _ = self.request("POST", "/act/" + inbox, b"")
        self.assertEqual(status, 405)

    def test_the_directory_language_wins_over_the_browsers(self):
        status, _, body = call("POST", "/v1/directory:upsert", {"employees": [
            {"id": "e3", "displayName": "e3", "departmentId": "quality", "managerId": "m2", "language": "en"}]}, ADMIN)
        self.assertEqual(status, 200, body)
        try:
            task = self.open_task("e3")
            status, _, page = self.get(action_link("gw", task, "e3", time.time() + 3600), {"Accept-Language": "zh-CN"})
            self.assertEqual(status, 200, page)
            self.assertIn("Upload the evidence", page)
            self.assertIn('lang="en"', page)
        finally:
            call("POST", "/v1/directory:upsert", {"employees": [
                {"id": "e3", "displayName": "e3", "departmentId": "quality", "managerId": "m2"}]}, ADMIN)

    def test_expired_tampered_done_and_other_peoples_links_are_refused(self):
        task = self.open_task("e2")
        good = action_link("gw", task, "e2", time.time() + 3600)
        cases = {
            "expired": (action_link("gw", task, "e2", time.time() - 1), 410, "expired"),
            "tampered": (action_link("gw", task, "e3", time.time() + 3600)[:-4] + good[-4:], 403, "not valid"),
            "unknown key": (action_link("gw", task, "e2", time.time() + 3600, key="x" * 32), 403, "not valid"),
            "not this person's task": (action_link("gw", task, "e3", time.time() + 3600), 404, "no such task"),
            "garbage": ("v1.%%%.x", 403, "not valid"),
        }
        for name, (token, expected, text) in cases.items():
            with self.subTest(name):
                status, headers, page = self.get(token, {"Accept-Language": "en"})
                self.assertEqual(status, expected, page)
                self.assertIn(text, page)
                self.assertNotIn("set-cookie", headers)
        # Signed in as someone else: refused.
        other = hs256_token(claims("e3", ["employee"]))
        status, _, page = self.get(good, {"Cookie": "perfflow_token=" + other, "Accept-Language": "en"})
        self.assertEqual(status, 403, page)
        self.assertIn("someone else", page)

    def test_a_whole_chain_through_the_pages_archives_itself(self):
        event = self.new_event("e1", "pages-chain-1")
        expires = time.time() + 3600
        upload = action_link("gw", self.open_task("e1", "TASK_KIND_OWNER_UPLOAD", event), "e1", expires)
        session, page = self.open_link(upload)
        self.assertIn("Signed contract scan", page)  # what the type asks for, by its display name
        self.assertIn("What is still missing", page)
        self.assertIn("https://sop.example.com/sales/contract-archiving", page)  # the gap's SOP
        # The page's URL holds the token: following an SOP link must not send it as the Referer.
        self.assertIn('<meta name="referrer" content="no-referrer">', page)
        self.assertEqual(self.request("GET", "/act/" + upload)[1]["referrer-policy"], "no-referrer")

        # Owner: a PDF through the multipart form.
        body, content_type = multipart({"kind": "contract_scan", "note": "scan"},
                                       [("file", "contract.pdf", "application/pdf", PDF)])
        status, _, page = self.request("POST", "/act/" + upload, body, dict(session, **{"Content-Type": content_type}))
        self.assertEqual(status, 200, page)
        self.assertIn("Uploaded: contract.pdf", page)
        self.assertIn("The evidence chain is complete", page)
        self.assertIn("You can add evidence until the chain is archived", page)
        [stored] = self.evidence_of(event)
        self.assertEqual(stored["uploaderId"], "e1")

        # Manager: wording check, the live guidance, then the verdict.
        review = action_link("gw", self.open_task("m1", "TASK_KIND_MANAGER_REVIEW", event), "m1", expires)
        session, page = self.open_link(review, lang="zh-CN,zh;q=0.9")
        for label in ("达标", "待优化", "需重做"):
            self.assertIn(label, page)
        self.assertIn('name="behaviour" value="clarified_delivery_terms"', page)
        status, _, page = self.post_form(review, [("comment", "表现良好"), ("action", "check")], session)
        self.assertEqual(status, 200, page)
        self.assertIn("<mark>", page)  # the vague words marked
        self.assertIn("建议的句子", page)
        status, _, fragment = self.post_form(review, [("comment", "表现良好")], session, "/guidance")
        self.assertEqual(status, 200, fragment)
        self.assertIn('id="guidance-panel"', fragment)
        self.assertNotIn("<html", fragment)
        # A redo without a reason is refused and writes nothing.
        status, _, page = self.post_form(review, [("verdict", "VERDICT_REDO"), ("comment", ""), ("action", "submit")],
                                         session)
        self.assertEqual(status, 400, page)
        self.assertIn("需重做时必须写明原因", page)
        status, _, body = call("GET", "/v1/" + event + "/reviews", None, ADMIN)
        self.assertEqual(body.get("reviews", []), [], body)
        status, _, page = self.post_form(review, [
            ("verdict", "VERDICT_MEETS"), ("behaviour", "clarified_delivery_terms"), ("cite", stored["name"]),
            ("comment", "表现良好，签约前与交付团队确认了交期"), ("action", "submit")], session)
        self.assertEqual(status, 200, page)
        self.assertIn("评价已提交：达标", page)
        status, _, page = self.get(review, {"Accept-Language": "en"})  # reused: done
        self.assertEqual(status, 410, page)
        self.assertIn("already done", page)

        # Confirmer (head of supply chain): the type's scopes, then confirm.
        confirm = action_link("gw", self.open_task("c-head", "TASK_KIND_CROSS_CONFIRM", event), "c-head", expires)
        session, page = self.open_link(confirm)
        self.assertIn('value="supply_chain"', page)
        self.assertIn('value="delivery"', page)
        self.assertNotIn('value="quality"', page)  # not among this type's scopes
        status, _, page = self.post_form(confirm, [("scope", "none"), ("scope", "delivery")], session)
        self.assertEqual(status, 400, page)
        status, _, page = self.post_form(confirm, [("scope", "quality")], session)
        self.assertEqual(status, 400, page)
        status, _, page = self.post_form(confirm, [("scope", "supply_chain"), ("scope", "delivery")], session)
        self.assertEqual(status, 200, page)
        self.assertIn("The impact is confirmed", page)

        # The chain archived itself, sealed.
        status, _, body = call("GET", "/v1/" + event, None, ADMIN)
        self.assertEqual(body["event"]["flow"]["step"], "FLOW_STEP_ARCHIVED", body)
        status, _, seal = call("GET", "/v1/" + event + ":verifySeal", None, ADMIN)
        self.assertEqual(status, 200, seal)
        self.assertTrue(seal.get("intact"), seal)
        status, _, page = self.get(upload, {"Accept-Language": "en"})  # archived: the owner's link is done too
        self.assertEqual(status, 410, page)
        # The tokens are credentials: the access log names the route, never a token.
        log = "".join(GATEWAY.log)
        for token in (upload, review, confirm):
            self.assertNotIn(token.split(".")[-1], log)
        self.assertIn('"path":"/act/<token>/guidance"', log)

    def test_refused_posts_write_nothing(self):
        event = self.new_event("e2", "pages-refusals-1")
        token = action_link("gw", self.open_task("e2", "TASK_KIND_OWNER_UPLOAD", event), "e2", time.time() + 3600)
        session, _ = self.open_link(token)
        body, content_type = multipart({"kind": "contract_scan"}, [("file", "c.pdf", "application/pdf", PDF)])
        cases = {
            "no session cookie": ({"Content-Type": content_type, "Accept-Language": "en"}, body, 403, "session"),
            "another link's session": (dict(session, Cookie="perfflow_action=v1.other.x",
                                            **{"Content-Type": content_type}), body, 403, "session"),
            "not multipart": (dict(session, **{"Content-Type": "application/x-www-form-urlencoded"}), b"kind=x", 400,
                              "multipart"),
        }
        # Each with its own body and boundary.
        for name, fields, files, text in [
                ("no file", {"kind": "contract_scan"}, [], "Choose a file"),
                ("an empty file", {"kind": "contract_scan"}, [("file", "c.pdf", "application/pdf", b"")], "Choose a file"),
                ("a kind the type does not ask for", {"kind": "selfie"}, [("file", "c.pdf", "application/pdf", PDF)],
                 "Choose one of the kinds listed"),
                ("not a PDF", {"kind": "contract_scan"}, [("file", "c.pdf", "application/pdf", b"MZ not a pdf")],
                 "declared application/pdf but the content is")]:
            payload, ct = multipart(fields, files)
            cases[name] = (dict(session, **{"Content-Type": ct}), payload, 400, text)
        for name, (headers, payload, expected, text) in cases.items():
            with self.subTest(name):
                status, _, page = self.request("POST", "/act/" + token, payload, headers)
                self.assertEqual(status, expected, page)
                self.assertIn(text, page)
                self.assertEqual(self.evidence_of(event), [])
        # A refused post with its body unread leaves a kept-alive connection usable (or closes it).
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY.http_port, timeout=30)
        conn.request("POST", "/act/" + token, body=body, headers={"Content-Type": content_type})
        refused = conn.getresponse()
        refused.read()
        self.assertEqual(refused.status, 403)
        try:
            conn.request("GET", "/healthz")
            after = conn.getresponse()
            self.assertEqual(after.status, 200)
            after.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            pass  # closed after the refusal: the client opens a new one
        conn.close()
        # Beyond the upload limit: 413 before the file is read.
        status, _, page = self.request("POST", "/act/" + token, b"x" * 10, dict(session, **{
            "Content-Type": content_type, "Content-Length": str(21 << 20)}))
        self.assertEqual(status, 413, page)
        self.assertEqual(self.evidence_of(event), [])
        # A multipart body sent to an API route is refused, not crashed on.
        status, _, _ = call("POST", "/v1/events:ingest", None, dict(ADMIN, **{"Content-Type": content_type}), raw=body)
        self.assertEqual(status, 400)


class TokenTest(unittest.TestCase):
    def status_with(self, token, path="/v1/registry"):
        return call("GET", path, None, {"Authorization": "Bearer " + token})

    def test_valid_hs256_and_rs256(self):
        self.assertEqual(self.status_with(hs256_token(claims("e1", ["employee"])))[0], 200)
        self.assertEqual(self.status_with(rs256_token(claims("e1", ["employee"], iss="https://rs.test",
                                                             aud=["x", "other-app"])))[0], 200)

    def test_refused_tokens(self):
        cases = {
            "expired": hs256_token(claims("e1", ["employee"], exp_in=-120)),
            "wrong audience": hs256_token(claims("e1", ["employee"], aud="someone-else")),
            "unknown issuer": hs256_token(claims("e1", ["employee"], iss="https://evil.test")),
            "bad signature": hs256_token(claims("e1", ["employee"]), secret="x" * 64),
            "not yet valid": hs256_token(claims("e1", ["employee"], nbf=int(time.time()) + 600)),
            "alg none": b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(claims("e1", ["admin"])).encode()) + ".",
            # An RS256 issuer's token signed with HS256 under its public key.
            "algorithm confusion": hs256_token(claims("e1", ["admin"], iss="https://rs.test"),
                                               secret=open(os.path.join(WORK, "rs.pub")).read(),
                                               header={"alg": "HS256"}),
            "no tenant": hs256_token(claims("e1", ["employee"], tenant="")),
            "garbage": "abc.def",
        }
        for name, token in cases.items():
            with self.subTest(name):
                status, headers, body = self.status_with(token)
                self.assertEqual(status, 401, body)
                self.assertEqual(body["status"], "UNAUTHENTICATED")
                self.assertEqual(headers.get("www-authenticate"), "Bearer")
        self.assertEqual(call("GET", "/v1/registry")[0], 401)

    def test_other_tenant_sees_nothing_and_metadata_cannot_be_spoofed(self):
        other = bearer("hr-9", ["hr", "admin"], tenant="other")
        status, _, body = call("GET", "/v1/" + FIRST_EVENT["e1"], None, other)
        self.assertEqual(status, 404, body)
        status, _, body = call("GET", "/v1/events", None, other)
        self.assertEqual((status, body["events"]), (200, []))
        spoof = dict(other, **{"x-perfflow-tenant": "gw", "x-perfflow-roles": "admin",
                               "x-perfflow-internal-token": "guess"})
        self.assertEqual(call("GET", "/v1/" + FIRST_EVENT["e1"], None, spoof)[0], 404)

    def test_services_refuse_identity_without_the_internal_credential(self):
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(SERVERS[0][1].address()))
        with self.assertRaises(grpc.RpcError) as err:
            stub.GetRegistry(epb.GetRegistryRequest(), metadata=[("x-perfflow-tenant", "gw"),
                                                                 ("x-perfflow-roles", "admin")], timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        stub.GetRegistry(epb.GetRegistryRequest(), metadata=[("x-perfflow-tenant", "gw"),
                                                             ("x-perfflow-internal-token", INTERNAL)], timeout=10)
        # With a verified identity the service itself keeps the configuration to admins.
        employee = [("x-perfflow-tenant", "gw"), ("x-perfflow-principal", "e1"), ("x-perfflow-roles", "employee"),
                    ("x-perfflow-internal-token", INTERNAL)]
        for call_rpc, request in ((stub.ApplyEventTypes, epb.ApplyEventTypesRequest()),
                                  (stub.UpsertDirectory, epb.UpsertDirectoryRequest())):
            with self.assertRaises(grpc.RpcError) as err:
                call_rpc(request, metadata=employee, timeout=10)
            self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)


class RoleMatrixTest(unittest.TestCase):
    """Each role against each resource: the HTTP status the gateway and the
    services together answer, compared with the table below."""

    def test_matrix(self):
        roles = {
            "employee": bearer("e1", ["employee"]),
            "manager": bearer("m1", ["manager"]),
            "hr": bearer("hr-1", ["hr"]),
            "admin": bearer("root", ["admin"]),
            "system": bearer("crm-bot", ["system"]),
        }
        ingest = lambda: {"source": "crm", "externalId": "matrix-" + secrets.token_hex(6),  # noqa: E731
                          "eventType": "crm.contract_signed", "subjectId": "e2",
                          "attributes": {"contract_value": 1, "customer_tier": "key"}}
        resources = [
            # (name, method, path, body, {role: status})
            ("own event", "GET", "/v1/" + FIRST_EVENT["e1"], None,
             dict(employee=200, manager=200, hr=200, admin=200, system=200)),
            ("a report's event", "GET", "/v1/" + FIRST_EVENT["e2"], None,
             dict(employee=403, manager=200, hr=200, admin=200, system=200)),
            ("another team's event", "GET", "/v1/" + FIRST_EVENT["e3"], None,
             dict(employee=403, manager=403, hr=200, admin=200, system=200)),
            ("own tasks", "GET", "/v1/tasks?assignee_id=e1", None,
             dict(employee=200, manager=200, hr=200, admin=200, system=200)),
            ("another's tasks", "GET", "/v1/tasks?assignee_id=e3", None,
             dict(employee=403, manager=403, hr=200, admin=200, system=200)),
            ("ingest", "POST", "/v1/events:ingest", ingest,
             dict(employee=403, manager=403, hr=403, admin=200, system=200)),
            ("apply config", "POST", "/v1/eventTypes:apply", {"files": []},
             dict(employee=403, manager=403, hr=403, admin=400, system=403)),
            ("directory", "POST", "/v1/directory:upsert",
             {"departments": [{"id": "rnd", "name": "Rnd", "headId": "r-head"}]},
             dict(employee=403, manager=403, hr=200, admin=200, system=200)),
            ("flow health", "GET", "/v1/flowHealth", None,
             dict(employee=403, manager=200, hr=200, admin=200, system=200)),
            ("flow facts", "GET", "/v1/flowFacts", None,
             dict(employee=403, manager=403, hr=200, admin=200, system=200)),
            ("calibration sessions", "GET", "/v1/sessions", None,
             dict(employee=403, manager=200, hr=200, admin=200, system=403)),
            ("API keys", "GET", "/v1/apiKeys", None,
             dict(employee=403, manager=403, hr=403, admin=200, system=403)),
        ]
        mismatches = []
        for name, method, path, body, expected in resources:
            for role, headers in roles.items():
                status, _, reply = call(method, path, body() if callable(body) else body, headers)
                if status != expected[role]:
                    mismatches.append("%s as %s: %d (expected %d) %s" % (name, role, status, expected[role], reply))
        self.assertEqual(mismatches, [])

    def test_employee_listing_defaults_to_own_events(self):
        status, _, body = call("GET", "/v1/events", None, bearer("e1", ["employee"]))
        self.assertEqual(status, 200)
        self.assertTrue(body["events"])
        self.assertEqual({e["subjectId"] for e in body["events"]}, {"e1"})


class WebhookTest(unittest.TestCase):
    def post(self, source, body, headers):
        return call("POST", "/v1/webhooks/" + source, None, headers, raw=body)

    def count_events(self, external_prefix):
        status, _, body = call("GET", "/v1/events?subject_id=e1&page_size=1000", None, ADMIN)
        return sum(1 for e in body["events"] if e["externalId"].startswith(external_prefix))

    def test_accepted_then_duplicate_and_replayed(self):
        body = deal("D-100")
        headers = standard_webhook(body, CRM_NEW)
        status, _, reply = self.post("crm", body, headers)
        self.assertEqual((status, reply["result"]), (202, "accepted"), reply)
        event = reply["event"]
        status, _, got = call("GET", "/v1/" + event, None, ADMIN)
        self.assertEqual(got["event"]["attributes"]["contract_value"], 120000)
        self.assertEqual(got["event"]["occurredAt"], "2026-11-20T09:30:00Z")
        # The sender redelivers (new message id) and an attacker replays the
        # captured request as is: both are duplicates of the same event.
        for h in (standard_webhook(body, CRM_NEW), headers):
            status, _, reply = self.post("crm", body, h)
            self.assertEqual((status, reply["result"], reply["event"]), (200, "duplicate", event))
        self.assertEqual(self.count_events("D-100"), 1)

    def test_rejections_write_nothing(self):
        body = deal("D-200")
        cases = {
            "bad signature": (body, standard_webhook(body, b"not-the-secret")),
            "stale timestamp": (body, standard_webhook(body, CRM_NEW, ts=int(time.time()) - 301)),
            "future timestamp": (body, standard_webhook(body, CRM_NEW, ts=int(time.time()) + 301)),
            "tampered body": (deal("D-200", amount=1), standard_webhook(body, CRM_NEW)),
            "missing headers": (body, {}),
        }
        for name, (sent, headers) in cases.items():
            with self.subTest(name):
                status, _, reply = self.post("crm", sent, headers)
                self.assertEqual((status, reply["result"]), (401, "rejected"), reply)
                self.assertTrue(reply["reason"])
        status, _, reply = self.post("nope", body, standard_webhook(body, CRM_NEW))
        self.assertEqual((status, reply["result"]), (404, "rejected"))
        bad_payload = json.dumps({"deal": {"id": "D-201"}}).encode()
        status, _, reply = self.post("crm", bad_payload, standard_webhook(bad_payload, CRM_NEW))
        self.assertEqual((status, reply["result"]), (400, "rejected"))
        self.assertIn("/deal/owner", reply["reason"])
        self.assertEqual(self.count_events("D-20"), 0)

    def test_secret_rotation_accepts_both_active_secrets(self):
        for i, secret in enumerate((CRM_OLD, CRM_NEW)):
            body = deal("D-30%d" % i)
            status, _, reply = self.post("crm", body, standard_webhook(body, secret))
            self.assertEqual((status, reply["result"]), (202, "accepted"), reply)

    def test_github_scheme(self):
        body = json.dumps({"type": "crm.contract_signed", "owner": {"id": "e1"}, "value": 5, "tier": "key"}).encode()
        sig = "sha256=" + hmac.new(PLM_SECRET.encode(), body, hashlib.sha256).hexdigest()
        delivery = "gh-" + secrets.token_hex(8)
        headers = {"X-Hub-Signature-256": sig, "X-GitHub-Delivery": delivery}
        status, _, reply = self.post("plm", body, headers)
        self.assertEqual((status, reply["result"]), (202, "accepted"), reply)
        status, _, reply = self.post("plm", body, headers)
        self.assertEqual((status, reply["result"]), (200, "duplicate"), reply)
        status, _, reply = self.post("plm", body, dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64}))
        self.assertEqual(status, 401)
        status, _, reply = self.post("plm", body, {"X-Hub-Signature-256": sig})
        self.assertEqual(status, 401)
        self.assertEqual(self.count_events(delivery), 1)

    def test_webhook_metrics(self):
        text = scrape_metrics(GATEWAY, wait_for='perfflow_gateway_webhooks_total{result="rejected"')
        self.assertIn('perfflow_gateway_webhooks_total{result="accepted",source="crm"}', text)


class ApiKeyTest(unittest.TestCase):
    def test_create_use_list_revoke(self):
        status, _, created = call("POST", "/v1/apiKeys", {"displayName": "ERP", "roles": ["system"],
                                                          "principal": "erp", "allowedSources": ["crm"]}, ADMIN)
        self.assertEqual(status, 200, created)
        key, name = created["key"], created["apiKey"]["name"]
        self.assertTrue(key.startswith("pfk_"))
        auth = {"X-Api-Key": key}
        ok = {"source": "crm", "externalId": "erp-1", "eventType": "crm.contract_signed", "subjectId": "e1",
              "attributes": {"contract_value": 1, "customer_tier": "key"}}
        self.assertEqual(call("POST", "/v1/events:ingest", ok, auth)[0], 200)
        status, _, reply = call("POST", "/v1/events:ingest", dict(ok, source="plm", externalId="erp-2"), auth)
        self.assertEqual(status, 403, reply)
        status, _, listed = call("GET", "/v1/apiKeys", None, ADMIN)
        self.assertIn(name, [k["name"] for k in listed["apiKeys"]])
        self.assertNotIn(key, json.dumps(listed))
        self.assertEqual(call("POST", "/v1/%s:revoke" % name, {}, ADMIN)[0], 200)
        status, _, reply = call("POST", "/v1/events:ingest", dict(ok, externalId="erp-3"), auth)
        self.assertEqual((status, reply["message"]), (401, "API key revoked"))
        self.assertEqual(call("GET", "/v1/registry", None, {"X-Api-Key": key[:-2] + "xx"})[0], 401)
        self.assertEqual(call("GET", "/v1/registry", None, {"X-Api-Key": "pfk_nope"})[0], 401)

    def test_bad_key_requests(self):
        status, _, body = call("POST", "/v1/apiKeys", {"displayName": "", "roles": ["root"], "principal": "x y"}, ADMIN)
        self.assertEqual(status, 400)
        fields = {v["field"] for d in body["details"] for v in d.get("fieldViolations", [])}
        self.assertEqual(fields, {"display_name", "roles[0]", "principal"})
        other_admin = bearer("root", ["admin"], tenant="other")
        status, _, body = call("GET", "/v1/apiKeys", None, ADMIN)
        some = body["apiKeys"][0]["name"] if body["apiKeys"] else "apiKeys/0000"
        self.assertEqual(call("POST", "/v1/%s:revoke" % some, {}, other_admin)[0], 404)


class GrpcPortTest(unittest.TestCase):
    def stub(self):
        return epb_grpc.EventServiceStub(grpc.insecure_channel("127.0.0.1:%d" % GATEWAY.grpc_port))

    def md(self, sub, roles):
        return [("authorization", bearer(sub, roles)["Authorization"])]

    def test_same_services_same_door(self):
        stub = self.stub()
        reply = stub.GetRegistry(epb.GetRegistryRequest(), metadata=self.md("e1", ["employee"]), timeout=10)
        self.assertTrue(reply.registry.event_types)
        with self.assertRaises(grpc.RpcError) as err:
            stub.GetRegistry(epb.GetRegistryRequest(), timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as err:
            stub.ApplyEventTypes(epb.ApplyEventTypesRequest(), metadata=self.md("e1", ["employee"]), timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        with self.assertRaises(grpc.RpcError) as err:
            stub.GetEvent(epb.GetEventRequest(name=FIRST_EVENT["e3"]), metadata=self.md("e1", ["employee"]), timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        facts = list(stub.StreamFlowFacts(epb.StreamFlowFactsRequest(), metadata=self.md("hr-1", ["hr"]), timeout=30))
        self.assertGreaterEqual(len(facts), len(PEOPLE))

    def test_deadline_is_propagated(self):
        marker = secrets.token_hex(16)
        md = self.md("hr-1", ["hr"]) + [("traceparent", "00-%s-%s-01" % (marker, "2" * 16))]
        self.stub().GetRegistry(epb.GetRegistryRequest(), metadata=md, timeout=3)
        deadline = time.monotonic() + 10
        seen = []
        while not seen and time.monotonic() < deadline:
            seen = [json.loads(line) for line in SERVERS[0][1].log if marker in line and "GetRegistry" in line]
            time.sleep(0.05)
        self.assertTrue(seen, "the call never reached the event service")
        # The caller's 3 s (give or take the timeout header's rounding), not
        # the gateway's 30 s cap, arrived at the service.
        self.assertLess(int(seen[0]["deadline_ms"]), 3500)
        self.assertGreater(int(seen[0]["deadline_ms"]), 1000)
        with self.assertRaises(grpc.RpcError) as err:
            self.stub().StreamFlowFacts(epb.StreamFlowFactsRequest(), metadata=self.md("hr-1", ["hr"]),
                                        timeout=0.001).next()
        self.assertEqual(err.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)


    def test_survives_expiring_cancelled_and_refused_calls(self):
        # Regression: a call whose deadline expired while the caller's side
        # still had a read outstanding used to touch the finished service-side
        # call and abort the gateway ("pure virtual method called").
        stub, good = self.stub(), self.md("hr-1", ["hr"])
        outcomes = set()
        for i in range(150):
            md = good if i % 3 else []
            timeout = (0.0005, 0.002, 0.01, 5)[i % 4]
            try:
                if i % 2:
                    stream = stub.StreamFlowFacts(epb.StreamFlowFactsRequest(), metadata=md, timeout=timeout)
                    next(stream, None)
                    stream.cancel()
                else:
                    stub.GetRegistry(epb.GetRegistryRequest(), metadata=md, timeout=timeout)
                outcomes.add("OK")
            except grpc.RpcError as e:
                outcomes.add(e.code().name)
        self.assertIsNone(GATEWAY.proc.poll(), "the gateway died")
        self.assertIn("UNAUTHENTICATED", outcomes)
        stub.GetRegistry(epb.GetRegistryRequest(), metadata=good, timeout=10)


class PeoplePagesTest(unittest.TestCase):
    def page(self, path, token=None, cookie=None):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        if cookie:
            headers["Cookie"] = "theme=dark; perfflow_token=" + cookie
        return call("GET", path, None, headers)

    def test_flow_health_page(self):
        manager = hs256_token(claims("m1", ["manager"]))
        status, headers, html = self.page("/people/flow-health", cookie=manager)
        self.assertEqual(status, 200, html)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn("<h1>Flow health — gw</h1>", html)
        self.assertIn("By department", html)
        # Groups by name (the directory's, the catalogue's), never by key; the target and the window said.
        self.assertIn("<td>Sales</td>", html)
        self.assertIn("<td>Contract signed</td>", html)
        self.assertNotIn("<td>sales</td>", html)
        self.assertNotIn("crm.contract_signed", html)
        self.assertIn("the target is 87%", html)
        self.assertRegex(html, r"opened \d{4}-\d\d-\d\d \d\d:\d\d – \d{4}-\d\d-\d\d \d\d:\d\d UTC")
        self.assertIn("(partial)", html)  # the current week has not ended
        self.assertEqual(self.page("/people/flow-health")[0], 401)
        self.assertEqual(self.page("/people/flow-health", token=hs256_token(claims("e1", ["employee"])))[0], 403)
        self.assertEqual(self.page("/people/nothing", token=manager)[0], 404)

    def test_brief_page(self):
        status, _, session = call("POST", "/v1/sessions", {
            "session": {"title": "Brief <page>", "cohort": {"memberIds": ["e1", "e2"]},
                        "scheduledTime": "2026-12-24T09:00:00Z", "facilitatorId": "hr-1"}}, HR)
        self.assertEqual(status, 200, session)
        status, _, brief = call("POST", "/v1/%s/briefs" % session["name"], {}, HR)
        self.assertEqual(status, 200, brief)
        path = "/people/%s/brief" % session["name"]
        status, headers, html = self.page(path, token=hs256_token(claims("hr-1", ["hr"])))
        self.assertEqual(status, 200, html)
        self.assertTrue(html.lstrip().lower().startswith("<!doctype html"), html[:80])
        self.assertIn("<svg", html)
        self.assertNotIn("Brief <page>", html)  # escaped by the renderer
        self.assertEqual(self.page("/people/sessions/nope/brief", token=hs256_token(claims("hr-1", ["hr"])))[0], 404)
        self.assertEqual(self.page(path, token=hs256_token(claims("e1", ["employee"])))[0], 403)


class SignedInPagesTest(unittest.TestCase):
    """Sign-in with the JWT issuer (a cookie), the inbox and the manager's team view."""

    def form(self, path, fields, cookie=None):
        body = urllib.parse.urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"}
        if cookie:
            headers["Cookie"] = cookie
        return call("POST", path, None, headers, raw=body)

    def sign_in(self, person, roles=("employee",)):
        status, headers, page = self.form("/people/sign-in", {"token": hs256_token(claims(person, list(roles))),
                                                              "next": "/people/team"})
        self.assertEqual(status, 303, page)
        self.assertEqual(headers["location"], "/people/team")
        cookie = headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=Lax", "Path=/"):
            self.assertIn(attribute, cookie)
        max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
        self.assertTrue(0 < max_age <= 600, cookie)  # no longer than the token
        return cookie.split(";")[0]

    def test_sign_in_refuses_bad_tokens_and_foreign_redirects(self):
        status, headers, _ = call("GET", "/people/inbox", None, {"Accept-Language": "en"})
        self.assertEqual(status, 303)
        self.assertEqual(headers["location"], "/people/sign-in?next=/people/inbox")
        status, _, page = call("GET", "/people/sign-in?next=/people/team", None, {"Accept-Language": "en"})
        self.assertEqual(status, 200, page)
        self.assertIn('name="next" value="/people/team"', page)
        for name, fields, expected, text in [
                ("no token", {"token": ""}, 400, "A token is required"),
                ("bad signature", {"token": hs256_token(claims("e1", ["employee"]), secret="y" * 64)}, 401,
                 "bad token signature"),
                ("expired", {"id_token": hs256_token(claims("e1", ["employee"], exp_in=-120))}, 401, "expired")]:
            with self.subTest(name):
                status, headers, page = self.form("/people/sign-in", fields)
                self.assertEqual(status, expected, page)
                self.assertIn(text, page)
                self.assertNotIn("set-cookie", headers)
        for evil in ("https://evil.test/", "//evil.test/people/", "/people/../\\evil", "javascript:alert(1)"):
            with self.subTest(evil):
                status, headers, _ = self.form("/people/sign-in", {"token": hs256_token(claims("e1", ["employee"])),
                                                                   "next": evil})
                self.assertEqual(status, 303)
                self.assertEqual(headers["location"], "/people/inbox")
        status, headers, _ = call("GET", "/people/sign-out", None, {})
        self.assertEqual(status, 405)
        status, headers, _ = self.form("/people/sign-out", {})
        self.assertEqual(status, 303)
        self.assertIn("Max-Age=0", headers["set-cookie"])

    def test_inbox_and_team_for_signed_in_people(self):
        cookie = self.sign_in("e1")
        status, _, page = call("GET", "/people/inbox", None, {"Cookie": cookie, "Accept-Language": "en"})
        self.assertEqual(status, 200, page)
        self.assertIn("My tasks", page)
        links = re.findall(r'href="(/act/[^"]+)"', page)
        self.assertTrue(links, page)
        status, _, task = call("GET", links[0], None, {"Cookie": cookie, "Accept-Language": "en"})
        self.assertEqual(status, 200, task)
        # m1 manages e1 and e2: their open chains, whom each waits on, and m1's own reviews as links.
        manager = self.sign_in("m1", ["manager"])
        status, _, page = call("GET", "/people/team", None, {"Cookie": manager, "Accept-Language": "en"})
        self.assertEqual(status, 200, page)
        members = re.search(r'<table id="members">(.*?)</table>', page).group(1)
        self.assertIn("<td>e1</td>", members)
        self.assertIn("<td>e2</td>", members)
        self.assertNotIn("<td>e3</td>", members)  # m2's report
        self.assertIn("Contract signed", page)
        self.assertIn("Upload the evidence", page)
        # Without the manager role in the token, the directory still decides who reports to whom.
        status, _, page = call("GET", "/people/team", None, {"Cookie": self.sign_in("m1"), "Accept-Language": "en"})
        self.assertEqual(status, 200, page)
        self.assertIn("<td>e1</td>", page)
        status, _, page = call("GET", "/people/team", None, {"Cookie": self.sign_in("e3"), "Accept-Language": "en"})
        self.assertEqual(status, 200, page)
        self.assertIn("no direct reports", page)
        self.assertNotIn("<td>e1</td>", page)

    def test_chain_page_shows_steps_and_tasks_to_those_the_service_lets_see(self):
        status, _, body = call("GET", "/v1/events?subject_id=e1&page_size=1", None, ADMIN)
        self.assertEqual(status, 200, body)
        event_id = body["events"][0]["name"].split("/", 1)[1]
        english = {"Accept-Language": "en"}
        # HR (the brief's readers) and the owner see it: steps with times, tasks with names.
        for cookie in (self.sign_in("hr-1", ["hr"]), self.sign_in("e1")):
            status, _, page = call("GET", "/people/chains/" + event_id, None, dict(english, Cookie=cookie))
            self.assertEqual(status, 200, page)
            self.assertIn('<table id="steps">', page)
            self.assertIn("Chain opened", page)
            self.assertIn("Upload the evidence", page)
            self.assertIn("Contract signed", page)  # the type's display name, not its key
            self.assertNotIn("crm.contract_signed", page)
        # Another employee does not; nor does anyone signed out (sent to sign in, then brought back).
        status, _, page = call("GET", "/people/chains/" + event_id, None, dict(english, Cookie=self.sign_in("e3")))
        self.assertEqual(status, 403, page)
        status, headers, _ = call("GET", "/people/chains/" + event_id, None, english)
        self.assertEqual(status, 303)
        self.assertEqual(headers["location"], "/people/sign-in?next=/people/chains/" + event_id)
        status, _, page = call("GET", "/people/chains/" + "0" * 32, None, dict(english, Cookie=self.sign_in("hr-1", ["hr"])))
        self.assertEqual(status, 404, page)
        for bad in ("/people/chains/", "/people/chains/a/b"):
            with self.subTest(bad):
                self.assertEqual(call("GET", bad, None, english)[0], 404)
        self.assertEqual(call("POST", "/people/chains/" + event_id, None, dict(english, Cookie=self.sign_in("e1")),
                              raw=b"")[0], 405)


class PersonDataTest(unittest.TestCase):
    """Data-subject rights through the gateway: one person's export as a ZIP, then their erasure."""

    def setUp(self):
        import zipfile  # noqa: F401 (used below)
        self.person = "p-" + secrets.token_hex(3)
        status, _, body = call("POST", "/v1/directory:upsert", {"employees": [
            {"id": self.person, "displayName": "Zhao Lei " + self.person, "departmentId": "sales",
             "managerId": "m1", "contacts": {"email": self.person + "@example.com"}}]}, ADMIN)
        self.assertEqual(status, 200, body)
        status, _, body = call("POST", "/v1/events:ingest", {
            "source": "crm", "externalId": "dsr-" + self.person, "eventType": "crm.contract_signed",
            "subjectId": self.person, "attributes": {"contract_value": 50000, "customer_tier": "key"}}, ADMIN)
        self.assertEqual(status, 200, body)
        self.event = body["event"]["name"]
        lines = [{"metadata": {"event": self.event, "kind": "contract_scan", "fileName": "scan.pdf",
                               "contentType": "application/pdf"}},
                 {"chunk": base64.b64encode(PDF + self.person.encode()).decode()}]
        status, _, body = call("POST", "/v1/evidence:upload", None, bearer(self.person, ["employee"]),
                               raw="\n".join(json.dumps(line) for line in lines).encode())
        self.assertEqual(status, 200, body)
        self.evidence = body["evidence"]["name"]
        status, _, body = call("GET", "/v1/" + self.evidence + ":download", None, HR)  # read by someone else
        self.assertEqual(status, 200, body)
        status, _, body = call("POST", "/v1/" + self.event + "/reviews", {
            "verdict": "VERDICT_MEETS", "comment": "Confirmed the delivery dates with " + self.person + " before signing"},
            bearer("m1", ["manager"]))
        self.assertEqual(status, 200, body)

    def export(self, who):
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY.http_port, timeout=60)
        conn.request("GET", "/v1/people/%s:export" % self.person, headers=who)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def test_export_is_one_zip_of_everything_held_then_erasure_keeps_only_counts(self):
        import io
        import zipfile
        status, headers, data = self.export(bearer(self.person, ["employee"]))
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(headers["content-type"], "application/zip")
        self.assertRegex(headers["content-disposition"], r'attachment; filename="perfflow-gw-%s-\d{8}\.zip"' % self.person)
        archive = zipfile.ZipFile(io.BytesIO(data))
        self.assertIsNone(archive.testzip())
        names = archive.namelist()
        read = lambda name: json.loads(archive.read(name))  # noqa: E731
        self.assertIn("README.txt", names)
        self.assertIn("Zhao Lei " + self.person, archive.read("README.txt").decode())
        [entry] = read("event/directory_entry.json")
        self.assertEqual((entry["employee_id"], entry["manager_id"]), (self.person, "m1"))
        self.assertEqual(entry["contacts"]["contacts"]["email"], self.person + "@example.com")
        self.assertEqual([e["event_id"] for e in read("event/events.json")], [self.event.split("/")[1]])
        self.assertRegex(read("event/events.json")[0]["occurred_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        [flow] = read("event/flows.json")
        self.assertEqual((flow["event_id"], flow["subject_id"]), (self.event.split("/")[1], self.person))
        self.assertTrue(any(t["assignee_id"] == "m1" for t in read("event/tasks.json")), "tasks on their chain")
        # Their own task's task.assigned notice is part of the task row: its delivery state travels with it.
        [own] = [t for t in read("event/tasks.json") if t["assignee_id"] == self.person]
        self.assertIn(own["notice_state"], (0, 1, 2), own)
        [evidence] = read("evidence/evidence.json")
        file_name = "evidence/files/%s-scan.pdf" % self.evidence.split("/")[1]
        self.assertEqual(archive.read(file_name), PDF + self.person.encode())
        self.assertEqual([r["reader_id"] for r in read("evidence/evidence_reads.json")], ["hr-1"])
        [review] = read("feedback/reviews_received.json")
        self.assertIn("Confirmed the delivery dates", review["comment"])
        self.assertEqual(read("feedback/reviews_written.json"), [])

        # Someone else, HR for someone unknown, and nobody at all.
        self.assertEqual(self.export(bearer("e2", ["employee"]))[0], 403)
        self.assertEqual(self.export(HR)[0], 200)
        status, _, body = call("GET", "/v1/people/nobody-here:export", None, HR)
        self.assertEqual(status, 404, body)
        self.assertEqual(call("GET", "/v1/people/%s:export" % self.person)[0], 401)

        def health():
            body = call("GET", "/v1/flowHealth?period=PERIOD_MONTH", None, ADMIN)[2]
            body.pop("evaluatedAt")
            return body
        health_before = health()
        heat_before = call("GET", "/v1/heatmap", None, ADMIN)[2]
        # Only admins, and the pseudonym is perfflow's to choose.
        status, _, body = call("POST", "/v1/people/%s:erase" % self.person, {}, HR)
        self.assertEqual(status, 403, body)
        status, _, body = call("POST", "/v1/people/%s:erase" % self.person, {"pseudonym": "erased-0000000000000000"},
                               ADMIN)
        self.assertEqual(status, 400, body)
        self.assertEqual(call("GET", "/v1/employees/" + self.person, None, ADMIN)[0], 200, "refusals erased nothing")

        status, _, body = call("POST", "/v1/people/%s:erase" % self.person, {}, ADMIN)
        self.assertEqual(status, 200, body)
        pseudonym = body["pseudonym"]
        self.assertRegex(pseudonym, r"^erased-[0-9a-f]{16}$")
        self.assertEqual(int(body["filesDeleted"]), 1)
        tables = {t["table"]: int(t["rows"]) for t in body["tables"]}
        # Their one event counted once, though exported as events.json and flows.json.
        self.assertEqual(tables.get("event.events"), 1, tables)
        for table in ("event.employees", "event.tasks", "evidence.evidence",
                      "evidence.evidence_access", "feedback.reviews"):
            self.assertGreaterEqual(tables.get(table, 0), 1, (table, tables))

        # Gone by id, pseudonymised in place, counts unchanged.
        self.assertEqual(call("GET", "/v1/employees/" + self.person, None, ADMIN)[0], 404)
        status, _, body = call("GET", "/v1/employees/" + pseudonym, None, ADMIN)
        self.assertEqual((status, body["employee"]["displayName"]), (200, "Erased person"), body)
        self.assertEqual(body["employee"].get("contacts", {}), {})
        status, _, body = call("GET", "/v1/" + self.event, None, ADMIN)
        self.assertEqual(body["event"]["subjectId"], pseudonym)
        status, _, body = call("GET", "/v1/" + self.event + "/reviews", None, ADMIN)
        self.assertEqual([(r["subjectId"], r.get("comment", "")) for r in body["reviews"]], [(pseudonym, "")])
        status, _, body = call("GET", "/v1/" + self.evidence, None, ADMIN)
        self.assertEqual((body["evidence"]["removedReason"], body["evidence"]["fileName"]), ("erasure", "erased"))
        status, _, body = call("GET", "/v1/" + self.evidence + ":download", None, ADMIN)
        self.assertEqual(status, 400, body)
        self.assertIn("erased", body["message"])
        self.assertEqual(health(), health_before)
        self.assertEqual(call("GET", "/v1/heatmap", None, ADMIN)[2], heat_before)
        self.assertEqual(call("GET", "/v1/people/%s:export" % self.person, None, ADMIN)[0], 404)
        status, _, body = call("POST", "/v1/people/%s:erase" % self.person, {}, ADMIN)
        self.assertEqual(status, 404, body)

    def test_perfflowctl_exports_and_erases_through_the_gateways_grpc_port(self):
        import zipfile
        ctl = [os.path.join(ARGS.bin_dir, "perfflowctl"), "--addr=127.0.0.1:%d" % GATEWAY.grpc_port]
        out = os.path.join(WORK, self.person + ".zip")
        done = subprocess.run(ctl + ["--token=" + hs256_token(claims(self.person, ["employee"])), "export-person",
                                     self.person, out], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("bytes written to " + out, done.stdout)
        self.assertIn("event/events.json", zipfile.ZipFile(out).namelist())
        refused = subprocess.run(ctl + ["--token=" + hs256_token(claims("e2", ["employee"])), "export-person",
                                        self.person, out + ".other"], capture_output=True, text=True, timeout=60)
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("PermissionDenied", refused.stderr)
        self.assertFalse(os.path.exists(out + ".other"), "a refused export leaves no file")

        admin = ["--token=" + ADMIN["Authorization"].split(" ", 1)[1]]
        typo = subprocess.run(ctl + admin + ["erase-person", self.person], input="someone-else\n",
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(typo.returncode, 2, typo.stderr)
        self.assertEqual(call("GET", "/v1/employees/" + self.person, None, ADMIN)[0], 200)
        done = subprocess.run(ctl + admin + ["erase-person", self.person], input=self.person + "\n",
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout, self.person + r" is now erased-[0-9a-f]{16}; evidence files deleted: 1")
        self.assertIn("feedback.reviews", done.stdout)
        self.assertEqual(call("GET", "/v1/employees/" + self.person, None, ADMIN)[0], 404)

    def test_the_services_parts_are_internal(self):
        from perfflow.type.v1 import person_data_pb2
        request = person_data_pb2.ErasePersonRequest(person_id=self.person, pseudonym="erased-0123456789abcdef")
        # Through the gateway's gRPC port: refused at the door, whatever the role.
        erase = grpc.insecure_channel("127.0.0.1:%d" % GATEWAY.grpc_port).unary_unary(
            "/perfflow.event.v1.EventService/ErasePerson", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=person_data_pb2.ErasePersonResponse.FromString)
        with self.assertRaises(grpc.RpcError) as err:
            erase(request, metadata=[("authorization", ADMIN["Authorization"])], timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # Straight to the service with the internal credential, but not as the gateway.
        event = dict(SERVERS)["event"]
        erase = grpc.insecure_channel(event.address()).unary_unary(
            "/perfflow.event.v1.EventService/ErasePerson", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=person_data_pb2.ErasePersonResponse.FromString)
        with self.assertRaises(grpc.RpcError) as err:
            erase(request, metadata=[("x-perfflow-internal-token", INTERNAL), ("x-perfflow-tenant", "gw"),
                                     ("x-perfflow-principal", "root"), ("x-perfflow-roles", "admin")], timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(call("GET", "/v1/employees/" + self.person, None, ADMIN)[0], 200)


class RateLimitTest(unittest.TestCase):
    def test_429_with_retry_after(self):
        limited = start_gateway(CONFIG.format(pub=os.path.join(WORK, "rs.pub")).replace(
            "requests_per_second: 1000\n  burst: 2000", "requests_per_second: 0.2\n  burst: 2"))
        try:
            token = bearer("e1", ["employee"])
            codes = [call("GET", "/v1/registry", None, token, port=limited.http_port) for _ in range(3)]
            self.assertEqual([c[0] for c in codes], [200, 200, 429])
            self.assertGreaterEqual(int(codes[2][1]["retry-after"]), 1)
            self.assertEqual(codes[2][2]["status"], "RESOURCE_EXHAUSTED")
            # Another caller has its own bucket.
            self.assertEqual(call("GET", "/v1/registry", None, bearer("e2", ["employee"]), port=limited.http_port)[0], 200)
        finally:
            self.assertEqual(limited.stop(), 0)


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir")
