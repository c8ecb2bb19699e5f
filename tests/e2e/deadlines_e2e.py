#!/usr/bin/python3
"""Timers and notification delivery of the real perfflow-event binary.

ChannelDeliveryTest (ctest e2e): one replica delivers task notifications to
local HTTP receivers, one per channel (Standard Webhooks, DingTalk, Feishu,
WeCom); each receiver checks the body format and verifies the signature with
its own implementation (Python's hmac). A 5xx destination and a slow one are
retried on the backoff schedule and then dead-lettered.

ReplicasTest (ctest integration): three replicas on one MariaDB fire the
overdue warning of 10,000 tasks exactly once, while one replica is killed
with SIGKILL and another is paused past its lease (SIGSTOP/SIGCONT) and
comes back fenced; every warning reaches the webhook receiver at least once
under its idempotency key, and none fired before its due time.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import (CATALOGUE_HEADS, run_tests, catalogue_request, org_request, Server, generate_stubs, mysql_env,  # noqa: E402
                          mysql_url, scrape_metrics, assert_metrics)

ARGS = None
WORK = None
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"perfflow-e2e-webhook-key").decode()
DING_SECRET = "SEC" + secrets.token_hex(16)
FEISHU_SECRET = secrets.token_hex(16)


def setUpModule():
    global WORK, grpc, pb, stub_module
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-deadlines-e2e-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    pb, stub_module = event_service_pb2, event_service_pb2_grpc


def tearDownModule():
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def poll(what, predicate, timeout=60, interval=0.1):
    """Polls predicate() until it returns a true value (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class Receiver:
    """A loopback HTTP receiver recording every request; `mode` decides the answer."""

    def __init__(self, mode="ok", reply=b"{}"):
        self.mode, self.reply, self.requests, self.lock = mode, reply, [], threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body, time.time()))
                if receiver.mode == "slow":
                    time.sleep(1.5)
                status = 503 if receiver.mode == "fail" else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(receiver.reply)))
                    self.end_headers()
                    self.wfile.write(receiver.reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_standard_webhook(test, headers, body, secret):
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body)), timestamp within 5 minutes."""
    msg_id, ts, sig = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    test.assertLess(abs(int(ts) - time.time()), 300)
    key = base64.b64decode(secret[len("whsec_"):])
    expected = base64.b64encode(hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256).digest())
    signatures = [s.split(",", 1)[1] for s in sig.split(" ") if s.startswith("v1,")]
    test.assertTrue(any(hmac.compare_digest(expected.decode(), s) for s in signatures), "bad webhook signature")
    return msg_id


def write_config(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class ChannelDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hook = Receiver()
        cls.ding = Receiver(reply=b'{"errcode":0,"errmsg":"ok"}')
        cls.feishu = Receiver(reply=b'{"code":0,"msg":"success"}')
        cls.wecom = Receiver(reply=b'{"errcode":0,"errmsg":"ok"}')
        cls.broken = Receiver(mode="fail")
        cls.slow = Receiver(mode="slow", reply=b'{"errcode":0}')
        config = write_config(os.path.join(WORK, "notify.yaml"), """
destinations:
  - {name: hook, type: webhook, url: "%s", secret_env: E2E_HOOK_SECRET, rate_per_minute: 600}
  - {name: ding, type: dingtalk, url: "%s?access_token=tok", secret_env: E2E_DING_SECRET, rate_per_minute: 600}
  - {name: feishu, type: feishu, url: "%s", secret_env: E2E_FEISHU_SECRET, rate_per_minute: 600}
  - {name: wecom, type: wecom, url: "%s?key=k", rate_per_minute: 600}
  - {name: broken, type: webhook, url: "%s", secret_env: E2E_HOOK_SECRET, rate_per_minute: 600}
  - {name: slow, type: wecom, url: "%s", timeout_ms: 300, rate_per_minute: 600}
routes:
  - {departments: [sales], destinations: [hook, ding, feishu, wecom]}
  - {departments: [supply_chain], destinations: [broken, slow]}
default_destinations: [hook]
max_attempts: 3
backoff_initial_ms: 200
no_jitter: true
""" % (cls.hook.url, cls.ding.url, cls.feishu.url, cls.wecom.url, cls.broken.url, cls.slow.url))
        db = "sqlite:" + os.path.join(WORK, "channels.db")
        cls.server = Server(ARGS.binary, ["--db=" + db, "--notify_config=" + config, "--relay_poll_ms=50",
                                          "--timer_poll_ms=50", "--metrics_refresh_seconds=1"],
                            {"E2E_HOOK_SECRET": WEBHOOK_SECRET, "E2E_DING_SECRET": DING_SECRET,
                             "E2E_FEISHU_SECRET": FEISHU_SECRET})
        channel = grpc.insecure_channel(cls.server.address())
        cls.stub = stub_module.EventServiceStub(channel)
        md = [("x-perfflow-tenant", "chan")]
        cls.stub.ApplyEventTypes(catalogue_request(pb, ARGS.source_dir), metadata=md)
        org = org_request(pb, CATALOGUE_HEADS, [("s1", "sales", "s-head")])
        for e in org.employees:
            if e.id == "s1":
                e.contacts["dingtalk"] = "ding-s1"
                e.contacts["feishu"] = "ou_s1"
                e.contacts["wecom"] = "wecom-s1"
        cls.stub.UpsertDirectory(org, metadata=md)
        req = pb.IngestEventRequest(source="crm", external_id="deal-1", event_type="crm.contract_signed",
                                    subject_id="s1")
        req.attributes.update({"contract_value": 250000, "customer_tier": "key"})
        cls.stub.IngestEvent(req, metadata=md)
        # task.assigned: s1 and s-head (sales: four channels), c-head (supply_chain: broken + slow).
        for r in (cls.hook, cls.ding, cls.feishu, cls.wecom):
            poll("two deliveries to " + r.url, lambda r=r: len(r.snapshot()) >= 2)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        for r in (cls.hook, cls.ding, cls.feishu, cls.wecom, cls.broken, cls.slow):
            r.close()

    def test_standard_webhook_signed_and_keyed(self):
        ids = set()
        for path, headers, body, _ in self.hook.snapshot():
            ids.add(verify_standard_webhook(self, headers, body, WEBHOOK_SECRET))
            message = json.loads(body)
            self.assertEqual(message["type"], "task.assigned")
            self.assertEqual(headers["Idempotency-Key"], headers["webhook-id"])
            self.assertIn(message["recipient"], ("s1", "s-head"))
            self.assertTrue(message["data"]["task"].startswith("tasks/"))
            self.assertTrue(re.match(r"^task\.assigned:[0-9a-f]{32}$", headers["webhook-id"]))
        self.assertEqual(len(ids), 2)

    def test_dingtalk_signed_in_milliseconds(self):
        for path, headers, body, received in self.ding.snapshot():
            query = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
            self.assertEqual(query["access_token"], ["tok"])
            ts = query["timestamp"][0]
            self.assertLess(abs(int(ts) / 1000 - received), 300)  # milliseconds
            expected = base64.b64encode(hmac.new(DING_SECRET.encode(), ("%s\n%s" % (ts, DING_SECRET)).encode(),
                                                 hashlib.sha256).digest()).decode()
            self.assertTrue(hmac.compare_digest(query["sign"][0], expected), "bad DingTalk sign")
            message = json.loads(body)
            self.assertEqual(message["msgtype"], "text")
            self.assertIn("New task", message["text"]["content"])
        at = [json.loads(b).get("at", {}).get("atUserIds") for _, _, b, _ in self.ding.snapshot()]
        self.assertIn(["ding-s1"], at)  # s1's contact handle is @-mentioned

    def test_feishu_signed_in_seconds(self):
        for _, headers, body, received in self.feishu.snapshot():
            message = json.loads(body)
            ts = message["timestamp"]
            self.assertLess(abs(int(ts) - received), 300)  # seconds
            key = ("%s\n%s" % (ts, FEISHU_SECRET)).encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            self.assertTrue(hmac.compare_digest(message["sign"], expected), "bad Feishu sign")
            self.assertEqual(message["msg_type"], "text")
            self.assertIn("New task", message["content"]["text"])
        texts = [json.loads(b)["content"]["text"] for _, _, b, _ in self.feishu.snapshot()]
        self.assertTrue(any('<at user_id="ou_s1"></at>' in t for t in texts))

    def test_wecom_format(self):
        for path, _, body, _ in self.wecom.snapshot():
            self.assertIn("key=k", path)
            message = json.loads(body)
            self.assertEqual(message["msgtype"], "text")
            self.assertIn("New task", message["text"]["content"])
        mentioned = [json.loads(b)["text"].get("mentioned_list") for _, _, b, _ in self.wecom.snapshot()]
        self.assertIn(["wecom-s1"], mentioned)

    def test_5xx_and_timeouts_retry_then_dead_letter(self):
        text = scrape_metrics(self.server, 'perfflow_outbox_dead_letters{tenant="chan"} 1', timeout=30)
        attempts = self.broken.snapshot()
        self.assertEqual(len(attempts), 3, "max_attempts is 3")
        self.assertEqual(len({h["webhook-id"] for _, h, _, _ in attempts}), 1, "one idempotency key for all attempts")
        # Not earlier than the backoff schedule (200 ms, then 400 ms, counted
        # from each claim; a few ms of slack for the request itself).
        gaps = [b[3] - a[3] for a, b in zip(attempts, attempts[1:])]
        self.assertGreaterEqual(gaps[0], 0.18)
        self.assertGreaterEqual(gaps[1], 0.36)
        self.assertEqual(len(self.slow.snapshot()), 3, "timeouts are retried the same way")
        assert_metrics(self, text, [
            'perfflow_outbox_dead_letters{tenant="chan"} 1',
            'perfflow_notifications_total{channel="webhook",result="dead_letter"} 1',
            'perfflow_notifications_total{channel="webhook",result="retry"} 2',
            'perfflow_notifications_total{channel="wecom",result="dead_letter"} 1',
            'perfflow_notifications_total{channel="dingtalk",result="delivered"} 2',
            'perfflow_notifications_total{channel="feishu",result="delivered"} 2',
            "perfflow_timer_fire_lag_seconds_bucket",
            "perfflow_timer_claims_lost_total 0",
            'perfflow_timers_due_backlog{tenant="chan"} 0',
        ])

    def test_bad_config_refuses_to_start(self):
        bad = write_config(os.path.join(WORK, "bad.yaml"),
                           "destinations:\n  - {name: x, type: webhook, url: 'http://example.com/', secret_env: NOPE}\n")
        proc = subprocess.run([ARGS.binary, "--grpc_port=0", "--metrics_port=0", "--host=127.0.0.1",
                               "--db=sqlite:" + os.path.join(WORK, "bad.db"), "--notify_config=" + bad],
                              capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("destinations[0].url: must be https://", proc.stdout + proc.stderr)


class Mariadb:
    """The test MariaDB through its command-line client."""

    def __init__(self, schema):
        m = re.match(r"^mysql://([^:@/]+)@([^:/]+):(\d+)$", mysql_url())
        self.user, self.host, self.port = m.group(1), m.group(2), m.group(3)
        self.schema = schema

    def query(self, sql):
        out = subprocess.run(["mariadb", "--protocol=TCP", "-h", self.host, "-P", self.port, "-u", self.user,
                              "-N", "-B", self.schema, "-e", sql],
                             env=dict(os.environ, MYSQL_PWD=os.environ.get("PERFFLOW_TEST_MYSQL_PASSWORD", "")),
                             capture_output=True, text=True, check=True)
        return [line.split("\t") for line in out.stdout.splitlines()]

    def scalar(self, sql):
        rows = self.query(sql)
        return int(rows[0][0]) if rows and rows[0][0] != "NULL" else None


class CardDeliveryTest(unittest.TestCase):
    """With action links configured, chat robots get cards with buttons, each body valid against the platform's
    documented schema (tests/e2e/schemas, written from the platforms' documentation), and the Standard-Webhooks
    payload carries the action URL."""

    @classmethod
    def setUpClass(cls):
        import jsonschema
        cls.jsonschema = jsonschema
        cls.hook = Receiver()
        cls.ding = Receiver(reply=b'{"errcode":0,"errmsg":"ok"}')
        cls.feishu = Receiver(reply=b'{"code":0,"msg":"success"}')
        cls.wecom = Receiver(reply=b'{"errcode":0,"errmsg":"ok"}')
        config = write_config(os.path.join(WORK, "cards.yaml"), """
destinations:
  - {name: hook, type: webhook, url: "%s", secret_env: E2E_HOOK_SECRET, rate_per_minute: 600}
  - {name: ding, type: dingtalk, url: "%s?access_token=tok", secret_env: E2E_DING_SECRET, rate_per_minute: 600}
  - {name: feishu, type: feishu, url: "%s", secret_env: E2E_FEISHU_SECRET, rate_per_minute: 600}
  - {name: wecom, type: wecom, url: "%s?key=k", rate_per_minute: 600}
default_destinations: [hook, ding, feishu, wecom]
""" % (cls.hook.url, cls.ding.url, cls.feishu.url, cls.wecom.url))
        cls.server = Server(ARGS.binary, ["--db=sqlite:" + os.path.join(WORK, "cards.db"), "--notify_config=" + config,
                                          "--relay_poll_ms=50", "--action_base_url=https://perfflow.example.com"],
                            {"E2E_HOOK_SECRET": WEBHOOK_SECRET, "E2E_DING_SECRET": DING_SECRET,
                             "E2E_FEISHU_SECRET": FEISHU_SECRET, "PERFFLOW_ACTION_LINK_KEYS": "k" * 32})
        cls.stub = stub_module.EventServiceStub(grpc.insecure_channel(cls.server.address()))
        md = [("x-perfflow-tenant", "cards")]
        cls.stub.ApplyEventTypes(catalogue_request(pb, ARGS.source_dir), metadata=md)
        cls.stub.UpsertDirectory(org_request(pb, CATALOGUE_HEADS, [("s1", "sales", "s-head")]), metadata=md)
        req = pb.IngestEventRequest(source="crm", external_id="card-1", event_type="crm.contract_signed",
                                    subject_id="s1")
        req.attributes.update({"contract_value": 250000, "customer_tier": "key"})
        cls.stub.IngestEvent(req, metadata=md)
        # task.assigned: s1 (upload), s-head (review), c-head (confirm), each to all four destinations.
        for r in (cls.hook, cls.ding, cls.feishu, cls.wecom):
            poll("three deliveries to " + r.url, lambda r=r: len(r.snapshot()) >= 3)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        for r in (cls.hook, cls.ding, cls.feishu, cls.wecom):
            r.close()

    def schema(self, name):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas", name + ".json")) as f:
            return json.load(f)

    def bodies(self, receiver, schema):
        validator = self.jsonschema.Draft202012Validator(self.schema(schema))
        out = []
        for _, _, body, _ in receiver.snapshot():
            message = json.loads(body)
            errors = sorted(validator.iter_errors(message), key=str)
            self.assertEqual(errors, [], json.dumps(message, ensure_ascii=False))
            out.append(message)
        return out

    def assert_buttons(self, labels_by_title):
        """One card per task: its title names the task, its buttons the actions."""
        self.assertEqual(len(labels_by_title), 3, labels_by_title)
        for title, labels in labels_by_title.items():
            if "Review" in title:
                self.assertEqual([l for l, _ in labels], ["达标 Meets", "待优化 Needs improvement", "需重做 Redo"])
                self.assertTrue(all(u.endswith("?verdict=" + v) for (_, u), v in
                                    zip(labels, ["VERDICT_MEETS", "VERDICT_NEEDS_IMPROVEMENT", "VERDICT_REDO"])))
            elif "Upload" in title:
                self.assertEqual([l for l, _ in labels], ["上传证据 Upload"])
            else:
                self.assertIn("Confirm", title)
                self.assertEqual([l for l, _ in labels], ["确认影响 Confirm"])
            for _, url in labels:
                self.assertTrue(url.startswith("https://perfflow.example.com/act/v1."), url)

    def test_dingtalk_action_card(self):
        cards = {m["actionCard"]["title"]: [(b["title"], b["actionURL"]) for b in m["actionCard"]["btns"]]
                 for m in self.bodies(self.ding, "dingtalk_action_card")}
        self.assert_buttons(cards)
        texts = " ".join(m["actionCard"]["text"] for m in self.bodies(self.ding, "dingtalk_action_card"))
        self.assertIn("合同签订 Contract signed", texts)  # display names, never keys
        self.assertIn("合同金额 Contract value**: 250000", texts)  # a headline attribute
        self.assertNotIn("crm.contract_signed", texts)

    def test_feishu_interactive_card(self):
        cards = {}
        for m in self.bodies(self.feishu, "feishu_interactive"):
            actions = [e for e in m["card"]["elements"] if e["tag"] == "action"][0]["actions"]
            cards[m["card"]["header"]["title"]["content"]] = [(a["text"]["content"], a["url"]) for a in actions]
        self.assert_buttons(cards)

    def test_wecom_template_card(self):
        cards = {}
        for m in self.bodies(self.wecom, "wecom_template_card"):
            card = m["template_card"]
            cards[card["main_title"]["title"]] = [(j["title"], j["url"]) for j in card["jump_list"]]
            self.assertEqual(card["card_action"]["url"], card["jump_list"][0]["url"])
            self.assertIn({"keyname": "事件 Event", "value": "合同签订 Contract signed"}, card["horizontal_content_list"])
        self.assert_buttons(cards)

    def test_standard_webhook_payload_carries_the_action_url(self):
        urls = []
        for _, headers, body, _ in self.hook.snapshot():
            verify_standard_webhook(self, headers, body, WEBHOOK_SECRET)
            urls.append(json.loads(body)["data"]["action_url"])
        self.assertEqual(len(urls), 3)
        self.assertTrue(all(u.startswith("https://perfflow.example.com/act/v1.") for u in urls), urls)

    def test_the_schemas_refuse_what_the_platforms_refuse(self):
        """The schemas are not vacuous: text messages and broken cards fail them."""
        ding = self.jsonschema.Draft202012Validator(self.schema("dingtalk_action_card"))
        self.assertFalse(ding.is_valid({"msgtype": "text", "text": {"content": "x"}}))
        self.assertFalse(ding.is_valid({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x",
                                                                                "btns": [{"title": "a"}]}}))
        wecom = self.jsonschema.Draft202012Validator(self.schema("wecom_template_card"))
        card = json.loads(self.wecom.snapshot()[0][2])
        card["template_card"]["jump_list"] = card["template_card"]["jump_list"] * 4  # at most 3
        self.assertFalse(wecom.is_valid(card))
        feishu = self.jsonschema.Draft202012Validator(self.schema("feishu_interactive"))
        self.assertFalse(feishu.is_valid({"msg_type": "interactive", "card": {"elements": [{"tag": "button"}]}}))


class ReplicasTest(unittest.TestCase):
    TASKS = 10000

    def test_three_replicas_fire_each_warning_exactly_once(self):
        schema = "timers_" + secrets.token_hex(6)
        db_url = mysql_url() + "/" + schema
        hook = Receiver()
        config = write_config(os.path.join(WORK, "replicas.yaml"), """
destinations:
  - {name: hook, type: webhook, url: "%s", secret_env: E2E_HOOK_SECRET, rate_per_minute: 10000000}
default_destinations: [hook]
""" % hook.url)
        env = dict(mysql_env(), E2E_HOOK_SECRET=WEBHOOK_SECRET)

        def replica(name, *extra):
            return Server(ARGS.binary, ["--db=" + db_url, "--notify_config=" + config, "--worker_id=" + name,
                                        "--timer_poll_ms=200", "--timer_batch=20", "--timer_lease_seconds=2",
                                        "--relay_poll_ms=100", "--metrics_refresh_seconds=1"] + list(extra), env)

        # The first replica migrates the schema; the others start on it.
        replicas = {"r1": replica("r1")}
        replicas["r2"] = replica("r2")
        replicas["r3"] = replica("r3", "--fault_delay_before_fire_ms=1500")
        try:
            db = Mariadb(schema)
            db.query("SET @due = FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000) + 3000; "
                     "INSERT INTO tasks (tenant_id, task_id, event_id, event_type, kind, assignee_id, state, due_at, "
                     "created_at, timer_level, timer_at, escalate_after_ms, escalate_to) "
                     "SELECT 'storm', LPAD(HEX(seq), 32, '0'), LPAD(HEX(seq), 32, '0'), 'crm.contract_signed', 1, "
                     "CONCAT('p', seq MOD 50), 1, @due, @due - 86400000, 2, @due, 864000000000, 1 "
                     "FROM seq_1_to_%d" % self.TASKS)
            fired = lambda: db.scalar("SELECT COUNT(*) FROM timer_firings")  # noqa: E731

            # r3 holds its claims for 1.5 s before firing: pause it while it
            # holds some, past its 2 s lease; the others take them over.
            poll("r3 to hold a claim", lambda: db.scalar(
                "SELECT COUNT(*) FROM tasks WHERE lease_owner = 'r3' AND lease_until > 0"), timeout=60, interval=0.02)
            replicas["r3"].proc.send_signal(signal.SIGSTOP)
            held = db.scalar("SELECT COUNT(*) FROM tasks WHERE lease_owner = 'r3' AND lease_until > 0")
            # Kill r2 outright in the middle of the storm.
            poll("the storm to start", lambda: fired() >= 500, timeout=60, interval=0.02)
            at_kill = fired()
            replicas["r2"].proc.kill()
            replicas["r2"].proc.wait()
            replicas["r2"].proc.stdout.close()
            self.assertLess(at_kill, self.TASKS, "the kill came after the storm")
            # r3 stays paused until its lease has run out and every claim it
            # held was taken over by another replica.
            poll("r3's claims to be taken over", lambda: db.scalar(
                "SELECT COUNT(*) FROM tasks WHERE lease_owner = 'r3'") == 0, timeout=60, interval=0.1)
            replicas["r3"].proc.send_signal(signal.SIGCONT)

            poll("every warning to fire", lambda: fired() == self.TASKS, timeout=120, interval=0.2)
            self.assertEqual(db.scalar("SELECT COUNT(DISTINCT task_id) FROM timer_firings"), self.TASKS)
            self.assertEqual(db.scalar("SELECT COUNT(*) FROM timer_firings WHERE level = 2"), self.TASKS)
            self.assertGreaterEqual(db.scalar("SELECT MIN(fired_at - timer_at) FROM timer_firings"), 0,
                                    "a warning fired before its due time")
            self.assertEqual(db.scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'task.overdue'"), self.TASKS)
            # r3 came back holding claims that had moved on: fenced, not fired.
            self.assertGreater(held, 0)
            lost = scrape_metrics(replicas["r3"], "perfflow_timer_claims_lost_total", timeout=30)
            lost_count = float(re.search(r"^perfflow_timer_claims_lost_total (\S+)$", lost, re.M).group(1))
            self.assertGreater(lost_count, 0, "r3 committed claims it no longer held")
            by_owner = dict((r[0], int(r[1])) for r in db.query(
                "SELECT owner, COUNT(*) FROM timer_firings GROUP BY owner"))

            # At least once, each under its own idempotency key.
            def delivered():
                keys = {h["webhook-id"] for _, h, _, _ in hook.snapshot()}
                return len([k for k in keys if k.startswith("task.overdue:")]) == self.TASKS
            poll("every warning to reach the receiver", delivered, timeout=180, interval=0.5)
            requests = len(hook.snapshot())
            print("\nfired by replica: %s; r3 held %d claims when paused and lost %d; %d webhook requests for %d "
                  "warnings" % (by_owner, held, lost_count, requests, self.TASKS), file=sys.stderr)
        finally:
            for name, server in replicas.items():
                if server.proc.poll() is None:
                    server.stop()
            hook.close()


if __name__ == "__main__":
    run_tests(globals(), "--binary", "--source-dir")
