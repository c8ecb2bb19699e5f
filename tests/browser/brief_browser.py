#!/usr/bin/python3
"""The calibration brief and the chain pages it links to, in a real browser
(Debian's chromium + chromium-driver, driven by python3-selenium), on the
demo tenant of `perfflowctl dev` (SQLite, 300 seeded chains, KPI observations).

An HR person signs in with a token from the dev issuer, a session for the
supply-chain department is created and its brief generated through the
services; the brief page must show what people read, never what the code
keeps: display names with ids, department names, dates in the tenant's zone,
rates in percent and points, durations in hours, no measure or department
keys, no nanosecond timestamps, no long decimals. The first chain behind a
flagged deviation is followed to its page. Screenshots go to --artifacts.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from perfflow_e2e import print_warnings, run_tests  # noqa: E402
from deadlines_e2e import poll  # noqa: E402

ARGS = None
WORK = None
DEV = None
HTTP_PORT = None
SERVICES_PORT = None
JWT_SECRET = secrets.token_hex(32)
# Keys the code keeps and people must never read on the brief.
RAW_KEYS = ["on_time_rate", "evidence_completeness", "verdict_meets", "verdict_redo", "median_response_hours",
            "median_closure_hours", "supply_chain", "kpi:", "sales.renewal_rate", "crm.", "mes."]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hr_token():
    """An HS256 token of the dev issuer (gateway/dev-gateway.yaml) for e100, HR of the demo tenant."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"iss": "perfflow-dev", "aud": "perfflow", "sub": "e100", "tenant": "demo",
                              "roles": ["hr"], "iat": now, "exp": now + 3600}).encode())
    signature = hmac.new(JWT_SECRET.encode(), (header + "." + body).encode(), hashlib.sha256).digest()
    return header + "." + body + "." + b64url(signature)


def ctl(*args):
    done = subprocess.run([os.path.join(ARGS.bin_dir, "perfflowctl"), "--addr=127.0.0.1:%d" % SERVICES_PORT,
                           "--roles=hr", "--principal=e100", "--output=json"] + list(args),
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError("perfflowctl %s: %s" % (" ".join(args), done.stderr))
    return json.loads(done.stdout)


def setUpModule():
    global WORK, DEV, HTTP_PORT, SERVICES_PORT
    WORK = tempfile.mkdtemp(prefix="perfflow-brief-browser-")
    os.makedirs(ARGS.artifacts, exist_ok=True)
    HTTP_PORT, SERVICES_PORT = free_port(), free_port()
    env = dict(os.environ, PERFFLOW_DEV_JWT_SECRET=JWT_SECRET, PERFFLOW_DEV_CRM_SECRET=secrets.token_hex(16))
    log = open(os.path.join(WORK, "dev.log"), "w")
    DEV = subprocess.Popen(
        [os.path.join(ARGS.bin_dir, "perfflowctl"), "--state_dir=" + os.path.join(WORK, "state"),
         "--services_port=%d" % SERVICES_PORT, "--services_metrics_port=0", "--gateway_http_port=%d" % HTTP_PORT,
         "--gateway_grpc_port=0", "--gateway_metrics_port=0",
         "--gateway_config=" + os.path.join(ARGS.source_dir, "gateway/dev-gateway.yaml"), "dev"],
        stdout=log, stderr=subprocess.STDOUT, env=env)

    def ready():
        if DEV.poll() is not None:
            raise RuntimeError("perfflowctl dev exited:\n" + open(log.name).read()[-3000:])
        return '"msg":"dev ready"' in open(log.name).read()
    poll("perfflowctl dev ready", ready, timeout=120, interval=0.2)


def tearDownModule():
    if DEV is not None and DEV.poll() is None:
        DEV.terminate()
        DEV.wait(timeout=30)
    if WORK and os.path.exists(os.path.join(WORK, "dev.log")):
        with open(os.path.join(WORK, "dev.log")) as log:
            print_warnings("perfflowctl dev", log.readlines())
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,900",
                "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)  # a page that hangs fails its test, not the tier's timeout
    return driver


class BriefInTheBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.driver = browser()
        # Signed in: the perfflow_token cookie the sign-in page would set.
        cls.driver.get("http://127.0.0.1:%d/people/sign-in" % HTTP_PORT)
        cls.driver.add_cookie({"name": "perfflow_token", "value": hr_token(), "path": "/"})

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    def shot(self, name, height=None):
        """The page (its first `height` pixels when given, else all of it, up to 6000)."""
        height = height or min(self.driver.execute_script("return document.body.scrollHeight") + 40, 6000)
        self.driver.set_window_size(1100, max(900, height))
        self.driver.save_screenshot(os.path.join(ARGS.artifacts, name + ".png"))

    def open(self, path):
        from selenium.webdriver.common.by import By
        self.driver.get("http://127.0.0.1:%d%s" % (HTTP_PORT, path))
        return self.driver.find_element(By.TAG_NAME, "body").text

    def test_brief_reads_as_people_read_and_links_to_the_chains(self):
        from selenium.webdriver.common.by import By
        ctl("CreateSession", json.dumps({
            "session_id": "supply-q4", "session": {
                "title": "Supply chain, Q4", "cohort": {"departments": ["supply_chain"]},
                "scheduled_time": "2030-01-01T09:00:00Z", "facilitator_id": "e100"}}))
        brief = ctl("GenerateBrief", json.dumps({"session": "sessions/supply-q4"}))
        self.assertGreaterEqual(brief["cohortSize"], 4)
        flagged = [c for p in brief["people"] for c in p.get("comparisons", []) if c.get("flagged")]
        self.assertTrue(flagged, "the demo cohort has deviations to discuss")

        text = self.open("/people/sessions/supply-q4/brief")
        self.shot("brief-top", height=1400)
        self.shot("brief")
        self.assertIn("Supply chain, Q4", text)
        for key in RAW_KEYS:
            self.assertNotIn(key, text)
        self.assertNotRegex(text, r"\d{4}-\d\d-\d\dT\d\d:\d\d")  # no RFC 3339 timestamps
        self.assertNotRegex(text, r"\d\.\d{4,}")  # no long decimals
        self.assertRegex(text, r"window \d{4}-\d\d-\d\d – \d{4}-\d\d-\d\d \(UTC\)")  # the demo tenant's zone
        self.assertNotRegex(text, r"\d+% (lower|higher)")  # rates differ in points
        headings = [h.text for h in self.driver.find_elements(By.CSS_SELECTOR, "section[data-employee] h2")]
        self.assertEqual(len(headings), brief["cohortSize"])
        for heading in headings:
            self.assertRegex(heading, r"^\S.* \(e\d+\) Supply Chain · \S+$")  # name (id), department name, grade
        for person in brief["people"]:
            for c in person.get("comparisons", []):
                if c.get("tooFew"):
                    self.assertFalse(c.get("flagged"), c)
        # The fairness check: groups by name, with their shares and tests.
        fairness = self.driver.find_element(By.ID, "fairness").text
        self.assertIn("Fairness check", fairness)
        self.assertIn("Fisher's exact test", fairness)
        self.driver.find_element(By.ID, "fairness").screenshot(os.path.join(ARGS.artifacts, "brief-fairness.png"))
        # The chains behind a flagged deviation are links to their pages.
        links = self.driver.find_elements(By.CSS_SELECTOR, "tr.chains a")
        self.assertTrue(links)
        href = links[0].get_attribute("href")
        self.assertRegex(href, r"/people/chains/[0-9a-f]+$")
        links[0].click()
        poll("the chain page", lambda: "/people/chains/" in self.driver.current_url and
             self.driver.find_elements(By.ID, "steps"), timeout=15, interval=0.1)
        chain = self.driver.find_element(By.TAG_NAME, "body").text
        self.shot("chain")
        self.assertIn("Chain opened", chain)
        self.assertIn("Tasks", chain)
        for key in RAW_KEYS:
            self.assertNotIn(key, chain)
        event_id = href.rsplit("/", 1)[1]
        event = ctl("GetEvent", json.dumps({"name": "events/" + event_id}))["event"]
        owner = ctl("GetEmployee", json.dumps({"id": event["subjectId"]}))["employee"]
        self.assertIn(owner["displayName"], chain)


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir", "--artifacts")
