#!/usr/bin/python3
"""The action pages in a real browser (Debian's chromium + chromium-driver,
driven by python3-selenium), on the real services and MariaDB.

The suite starts the four services and the gateway as in production, with a
notification configuration that sends every task notice to loopback receivers
(a Standard-Webhooks endpoint, a DingTalk robot and a WeCom robot). It then
drives one chain from the links found in those captured notifications to
ARCHIVED: the owner uploads a PDF, the manager writes "表现良好", sees the live
guidance, picks a behaviour, cites the evidence and submits 达标, the
confirmer ticks the impact scope; and asserts the flow, the tasks and the
archived seal through the API. Reused, expired, tampered and someone else's
links are refused. A manager signs in with a token from the JWT issuer and
sees their team. Screenshots of every page are written to --artifacts.
"""
import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from perfflow_e2e import Server, mysql_env, mysql_url, print_warnings, run_tests  # noqa: E402
from deadlines_e2e import Receiver, poll  # noqa: E402

ARGS = None
WORK = None
SERVERS = []
GATEWAY_PORT = None
INTERNAL = "internal-" + secrets.token_hex(16)
HS_SECRET = secrets.token_hex(32)
LINK_KEY = secrets.token_hex(16)
HOOK_SECRET = "whsec_" + base64.b64encode(b"perfflow-browser-hook").decode()
TENANT = "browser"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# Display names people see; ids never appear on the pages.
PEOPLE = [
    {"id": "ceo", "displayName": "陈总", "departmentId": "production"},
    {"id": "s-head", "displayName": "王芳", "departmentId": "sales", "managerId": "ceo"},
    {"id": "c-head", "displayName": "赵敏", "departmentId": "supply_chain", "managerId": "ceo"},
    {"id": "p-head", "displayName": "孙强", "departmentId": "production", "managerId": "ceo"},
    {"id": "q-head", "displayName": "周杰", "departmentId": "quality", "managerId": "ceo"},
    {"id": "r-head", "displayName": "吴磊", "departmentId": "rnd", "managerId": "ceo"},
    {"id": "s1", "displayName": "李雷", "departmentId": "sales", "managerId": "s-head"},
    {"id": "s2", "displayName": "韩梅梅", "departmentId": "sales", "managerId": "s-head"},
]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer_token(subject, roles):
    """An HS256 token from the test's issuer (the gateway's --config names it)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    body = b64url(json.dumps({"sub": subject, "iss": "https://idp.test", "aud": "perfflow", "iat": now,
                              "exp": now + 3600, "tenant": TENANT, "roles": roles}).encode())
    signature = hmac.new(HS_SECRET.encode(), (header + "." + body).encode(), hashlib.sha256).digest()
    return header + "." + body + "." + b64url(signature)


def signed_link(task_id, person, expires, key=LINK_KEY):
    """An action link signed here, independently of the gateway's code."""
    claims = b64url("\x1f".join([TENANT, task_id, person, str(int(expires))]).encode())
    signed = "v1." + claims
    return signed + "." + b64url(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest())


def api(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", GATEWAY_PORT, timeout=30)
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                 headers={"Authorization": "Bearer " + bearer_token("root", ["admin", "hr", "system"]), "Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, json.loads(text) if text else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receivers:
    hook = ding = wecom = None


def setUpModule():
    global WORK, GATEWAY_PORT
    WORK = tempfile.mkdtemp(prefix="perfflow-browser-")
    os.makedirs(ARGS.artifacts, exist_ok=True)
    GATEWAY_PORT = free_port()  # the links name the gateway, so it is chosen first
    Receivers.hook = Receiver()
    Receivers.ding = Receiver(reply=b'{"errcode":0,"errmsg":"ok"}')
    Receivers.wecom = Receiver(reply=b'{"errcode":0,"errmsg":"ok"}')
    notify = os.path.join(WORK, "notify.yaml")
    with open(notify, "w") as f:
        f.write("""
destinations:
  - {name: hook, type: webhook, url: "%s", secret_env: HOOK_SECRET, rate_per_minute: 600}
  - {name: ding, type: dingtalk, url: "%s?access_token=t", rate_per_minute: 600}
  - {name: wecom, type: wecom, url: "%s?key=k", rate_per_minute: 600}
default_destinations: [hook, ding, wecom]
""" % (Receivers.hook.url, Receivers.ding.url, Receivers.wecom.url))
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL, PERFFLOW_ACTION_LINK_KEYS=LINK_KEY,
               HOOK_SECRET=HOOK_SECRET, HS_SECRET=HS_SECRET)
    base = mysql_url()
    event = Server(os.path.join(ARGS.bin_dir, "perfflow-event"),
                   ["--db=%s/br_event_%s" % (base, secrets.token_hex(4)), "--notify_config=" + notify,
                    "--relay_poll_ms=50", "--action_base_url=http://127.0.0.1:%d" % GATEWAY_PORT], env)
    SERVERS.append(event)
    evidence = Server(os.path.join(ARGS.bin_dir, "perfflow-evidence"),
                      ["--db=%s/br_evidence_%s" % (base, secrets.token_hex(4)), "--event_addr=" + event.address()],
                      env)
    SERVERS.append(evidence)
    feedback = Server(os.path.join(ARGS.bin_dir, "perfflow-feedback"),
                      ["--db=%s/br_feedback_%s" % (base, secrets.token_hex(4)), "--event_addr=" + event.address(),
                       "--evidence_addr=" + evidence.address(),
                       "--lexicon=" + os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml")], env)
    SERVERS.append(feedback)
    config = os.path.join(WORK, "gateway.yaml")
    with open(config, "w") as f:
        f.write("jwt_issuers:\n  - {issuer: https://idp.test, audiences: [perfflow], algorithm: hs256, "
                "secret_env: HS_SECRET}\n")
    SERVERS.append(Server(os.path.join(ARGS.bin_dir, "perfflow-gateway"),
                          ["--http_port=%d" % GATEWAY_PORT, "--config=" + config, "--calibration_addr=",
                           "--db=%s/br_gw_%s" % (base, secrets.token_hex(4)), "--event_addr=" + event.address(),
                           "--evidence_addr=" + evidence.address(), "--feedback_addr=" + feedback.address()], env))
    poll("the gateway ready", lambda: api("GET", "/readyz")[0] == 200, timeout=30)
    files = []
    for path in sorted(glob.glob(os.path.join(ARGS.source_dir, "services/event/catalogue/*.yaml"))):
        with open(path, encoding="utf-8") as f:
            files.append({"name": os.path.basename(path), "content": f.read()})
    files.append({"name": "settings.yaml", "content": "kind: Settings\ntime_zone: Asia/Shanghai\n"})
    status, body = api("POST", "/v1/eventTypes:apply", {"files": files})
    assert status == 200, body
    heads = {"sales": "s-head", "supply_chain": "c-head", "production": "p-head", "quality": "q-head", "rnd": "r-head"}
    status, body = api("POST", "/v1/directory:upsert", {
        "departments": [{"id": d, "name": d, "headId": h} for d, h in heads.items()], "employees": PEOPLE})
    assert status == 200, body


def tearDownModule():
    for server in reversed(SERVERS):
        server.stop()
        # What the services warned of: ctest shows it when a test failed.
        print_warnings(os.path.basename(server.proc.args[0]), server.log)
    for r in (Receivers.hook, Receivers.ding, Receivers.wecom):
        if r:
            r.close()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=430,1400", "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)  # a page that hangs fails its test, not the tier's timeout
    return driver


class ChainInTheBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.driver = browser()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    def shot(self, name):
        path = os.path.join(ARGS.artifacts, name + ".png")
        # The whole page, however long.
        height = self.driver.execute_script("return document.body.scrollHeight")
        self.driver.set_window_size(430, max(800, height + 40))
        self.driver.save_screenshot(path)

    def wait_for(self, what, predicate, timeout=15):
        return poll(what, predicate, timeout=timeout, interval=0.1)

    def click(self, what, selector):
        """Clicks `selector`; finds it again while the live guidance re-renders the part of the page it is in."""
        from selenium.common.exceptions import (ElementClickInterceptedException, ElementNotInteractableException,
                                                NoSuchElementException, StaleElementReferenceException)
        from selenium.webdriver.common.by import By

        def clicked():
            try:
                self.driver.find_element(By.CSS_SELECTOR, selector).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException,
                    ElementNotInteractableException):
                return False

        self.wait_for(what, clicked)

    def answers(self):
        """How many live guidance answers the verdict page has shown."""
        from selenium.webdriver.common.by import By
        return int(self.driver.find_element(By.ID, "guidance").get_attribute("data-answers") or 0)

    def text(self):
        """The page's text; "" while the browser is between pages (then a poll asks again)."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.common.by import By
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except (StaleElementReferenceException, NoSuchElementException):
            return ""

    def notices(self, receiver, count):
        return self.wait_for("%d notices" % count, lambda: len(receiver.snapshot()) >= count and receiver.snapshot())

    def test_a_chain_from_notification_links_to_archived(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select
        d = self.driver
        before = (len(Receivers.hook.snapshot()), len(Receivers.ding.snapshot()), len(Receivers.wecom.snapshot()))
        status, body = api("POST", "/v1/events:ingest", {
            "source": "crm", "externalId": "browser-deal-1", "eventType": "crm.contract_signed", "subjectId": "s1",
            "attributes": {"contract_value": 880000, "customer_tier": "key"}})
        self.assertEqual(status, 200, body)
        event = body["event"]["name"]
        # The links, as people get them: three task notices on every channel.
        hook = [json.loads(b) for _, _, b, _ in self.notices(Receivers.hook, before[0] + 3)[before[0]:]]
        ding = [json.loads(b) for _, _, b, _ in self.notices(Receivers.ding, before[1] + 3)[before[1]:]]
        wecom = [json.loads(b) for _, _, b, _ in self.notices(Receivers.wecom, before[2] + 3)[before[2]:]]
        owner_link = [m["data"]["action_url"] for m in hook if m["recipient"] == "s1"][0]
        review_card = [m for m in ding if "Review" in m["actionCard"]["title"]][0]
        meets_button = [b for b in review_card["actionCard"]["btns"] if b["title"].startswith("达标")][0]["actionURL"]
        confirm_card = [m for m in wecom if "Confirm" in m["template_card"]["main_title"]["title"]][0]
        confirm_link = confirm_card["template_card"]["jump_list"][0]["url"]
        self.assertIn("李雷", review_card["actionCard"]["text"])  # the owner by name on the card

        # The owner uploads a PDF.
        d.get(owner_link)
        self.assertIn("上传证据", self.text())
        self.assertIn("还缺什么", self.text())
        self.assertIn("合同签订", self.text())
        self.assertIn("CST", self.text())  # the tenant's zone (Asia/Shanghai)
        self.assertNotIn("crm.contract_signed", self.text())
        self.shot("01-owner-upload")
        Select(d.find_element(By.NAME, "kind")).select_by_value("contract_scan")
        pdf = os.path.join(WORK, "signed-contract.pdf")
        with open(pdf, "wb") as f:
            f.write(PDF)
        d.find_element(By.NAME, "file").send_keys(pdf)
        d.find_element(By.CSS_SELECTOR, "#upload button[type=submit]").click()
        self.wait_for("the upload notice", lambda: "已上传：signed-contract.pdf" in self.text())
        self.assertIn("证据链完整", self.text())
        self.shot("02-owner-uploaded")

        # The manager opens the card's 达标 button, writes, sees the guidance, picks a behaviour, submits.
        d.get(meets_button)
        self.assertTrue(d.find_element(By.CSS_SELECTOR, "input[name=verdict][value=VERDICT_MEETS]").is_selected())
        self.assertIn("李雷", self.text())
        comment = d.find_element(By.NAME, "comment")
        comment.send_keys("表现良好")
        panel = self.wait_for("the live guidance", lambda: d.find_elements(By.ID, "guidance-panel"))
        self.assertIn("良好", panel[0].text)  # the vague word, marked
        self.shot("03-manager-guidance")
        submit = d.find_element(By.CSS_SELECTOR, "button[name=action][value=submit]")
        submit_at = submit.location["y"]
        self.click("the behaviour", "input[name=behaviour][value=clarified_delivery_terms]")
        self.click("the citation", "input[name=cite]")
        self.click("the sentence to accept", "button[data-sentence]")  # accept, then edit
        self.wait_for("the sentence in the comment", lambda: comment.get_attribute("value") != "表现良好")
        answers = self.answers()
        comment.send_keys("表现良好。")
        self.wait_for("the guidance on the edited comment", lambda: self.answers() > answers)
        # The specific comment's guidance is shorter; the panel keeps its height, so the
        # submit button has not moved up under a pointer on its way there.
        self.assertGreaterEqual(submit.location["y"], submit_at)
        self.shot("04-manager-verdict")
        # The live guidance re-renders above the submit button 400 ms after the last keystroke; a click by
        # coordinates can land on its "use this sentence" button if the panel grows (a CI run timed out here
        # with the screenshot above showing the page ready). Submit with that very button instead.
        d.execute_script("arguments[0].form.requestSubmit(arguments[0]);", submit)
        self.wait_for("the verdict recorded", lambda: "评价已提交：达标" in self.text())
        self.shot("05-manager-done")

        # The confirmer (head of supply chain) ticks the scope from the WeCom card's link.
        d.get(confirm_link)
        self.assertIn("确认影响范围", self.text())
        self.assertIn("赵敏", self.text())
        d.find_element(By.CSS_SELECTOR, "input[name=scope][value=supply_chain]").click()
        self.shot("06-confirm")
        d.find_element(By.CSS_SELECTOR, "#confirm button[type=submit]").click()
        self.wait_for("the confirmation", lambda: "影响范围已确认" in self.text())

        # The chain archived itself: flow, tasks and seal.
        status, body = api("GET", "/v1/" + event)
        self.assertEqual(body["event"]["flow"]["step"], "FLOW_STEP_ARCHIVED", body)
        self.assertEqual(body["event"]["flow"]["verdict"], "VERDICT_MEETS")
        self.assertEqual({t["state"] for t in body["event"]["tasks"]}, {"TASK_STATE_DONE"})
        status, seal = api("GET", "/v1/" + event + ":verifySeal")
        self.assertEqual(status, 200, seal)
        self.assertTrue(seal.get("intact"), seal)
        status, reviews = api("GET", "/v1/" + event + "/reviews")
        [review] = reviews["reviews"]
        self.assertEqual(review["reviewerId"], "s-head")
        self.assertIn("clarified_delivery_terms", review["behaviours"])
        self.assertTrue(review["comment"].endswith("表现良好。"))

        # A used link is refused, with a page that says so.
        d.get(meets_button)
        self.assertIn("此任务已完成", self.text())
        self.shot("07-link-already-done")
        d.get(owner_link)  # archived: the owner's link is done too
        self.assertIn("此任务已完成", self.text())

    def test_refused_links_say_why(self):
        from selenium.webdriver.common.by import By
        d = self.driver
        status, body = api("POST", "/v1/events:ingest", {
            "source": "crm", "externalId": "browser-deal-2", "eventType": "crm.contract_signed", "subjectId": "s2",
            "attributes": {"contract_value": 120000, "customer_tier": "standard"}})
        self.assertEqual(status, 200, body)
        task = [t for t in body["event"]["tasks"] if t["kind"] == "TASK_KIND_OWNER_UPLOAD"][0]["name"][len("tasks/"):]
        good = signed_link(task, "s2", time.time() + 3600)
        cases = [
            ("expired", signed_link(task, "s2", time.time() - 60), "链接已过期"),
            ("tampered", good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:], "链接无效"),
            ("another key", signed_link(task, "s2", time.time() + 3600, key="z" * 32), "链接无效"),
        ]
        for name, token, text in cases:
            with self.subTest(name):
                d.get("http://127.0.0.1:%d/act/%s" % (GATEWAY_PORT, token))
                self.assertIn(text, self.text())
                self.assertEqual(d.find_elements(By.TAG_NAME, "form"), [])
        self.shot("08-link-expired")
        # Someone signed in as another person opens s2's link: refused.
        d.get("http://127.0.0.1:%d/healthz" % GATEWAY_PORT)
        d.add_cookie({"name": "perfflow_token", "value": bearer_token("s1", ["employee"]), "path": "/"})
        d.get("http://127.0.0.1:%d/act/%s" % (GATEWAY_PORT, good))
        self.assertIn("此链接属于他人", self.text())
        d.delete_all_cookies()
        # Its own person gets the page, and the inbox behind it.
        d.get("http://127.0.0.1:%d/act/%s" % (GATEWAY_PORT, good))
        self.assertIn("上传证据", self.text())
        d.find_element(By.LINK_TEXT, "← 我的任务").click()
        self.wait_for("the inbox", lambda: "项待办" in self.text())
        self.assertIn("韩梅梅", self.text())
        self.shot("09-inbox")

    def test_a_manager_signs_in_and_sees_the_team(self):
        from selenium.webdriver.common.by import By
        d = self.driver
        d.delete_all_cookies()
        status, body = api("POST", "/v1/events:ingest", {
            "source": "crm", "externalId": "browser-deal-3", "eventType": "crm.contract_signed", "subjectId": "s2",
            "attributes": {"contract_value": 64000, "customer_tier": "standard"}})
        self.assertEqual(status, 200, body)
        d.get("http://127.0.0.1:%d/people/team" % GATEWAY_PORT)
        self.wait_for("the sign-in page", lambda: "/people/sign-in" in d.current_url)
        self.assertIn("登录 perfflow", self.text())
        self.shot("10-sign-in")
        d.find_element(By.NAME, "token").send_keys(bearer_token("s-head", ["employee"]))
        d.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
        self.wait_for("the team page", lambda: d.current_url.endswith("/people/team") and "我的团队" in self.text())
        members = d.find_element(By.ID, "members").text
        self.assertIn("李雷", members)
        self.assertIn("韩梅梅", members)
        chains = d.find_element(By.ID, "chains").text
        self.assertIn("韩梅梅 · 上传证据", chains)  # whom the chain waits on
        self.assertNotIn("s2", chains)
        self.shot("11-team")
        # The HttpOnly cookie is not readable by the page's scripts.
        self.assertNotIn("perfflow_token", d.execute_script("return document.cookie"))


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir", "--artifacts")
