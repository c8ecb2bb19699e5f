#!/usr/bin/python3
"""Deployment checks (ctest label `deploy`, run by ./scripts/test.sh).

1. The kustomize copy of the catalogue matches services/event/catalogue.
2. `kubectl kustomize` renders every overlay.
3. The rendered manifests agree with the binaries: kinds per service, label
   selectors, probe ports and metrics ports equal each binary's --help defaults,
   non-root read-only containers with memory limits, a grace period covering
   the drain.
4. The alert rules pass `promtool check rules` and `promtool test rules`.
5. A running suite (perfflow-event + perfflow-evidence on SQLite, driven
   through one chain) exports every metric that a rule or dashboard names;
   `promtool check metrics` is clean on each /metrics.
6. A real Prometheus (Debian's binary, loopback only) scrapes the suite and
   evaluates the rules; the test reads flow health through its HTTP API.
"""

import filecmp
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from perfflow_e2e import run_tests, Server, generate_stubs  # noqa: E402

ARGS = None
SERVICES = ["perfflow-event", "perfflow-evidence", "perfflow-feedback", "perfflow-calibration", "perfflow-gateway"]
GATEWAY = "perfflow-gateway"
# Metrics Prometheus itself provides, and recording rules.
PROMETHEUS_NAMES = {"up"}


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(ARGS.source_dir, "k8s/overlays", overlay)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError("kustomize %s failed:\n%s" % (overlay, out.stderr))
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def binary_defaults(name):
    help_text = subprocess.run([os.path.join(ARGS.bin_dir, name), "--help"], capture_output=True, text=True).stdout
    flags = dict(re.findall(r'--(\w+) \(env \w+, default: "([^"]*)"\)', help_text))
    return int(flags["grpc_port"]), int(flags["metrics_port"]), int(flags["drain_seconds"])


def binary_http_port():
    help_text = subprocess.run([os.path.join(ARGS.bin_dir, GATEWAY), "--help"], capture_output=True, text=True).stdout
    return int(re.search(r'--http_port \(env \w+, default: "(\d+)"\)', help_text).group(1))


def rules_file(tmp):
    with open(os.path.join(ARGS.source_dir, "k8s/base/prometheusrule.yaml")) as f:
        rule = yaml.safe_load(f)
    path = os.path.join(tmp, "rules.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
    return path, rule


def expressions():
    """Every PromQL expression in the rules and the dashboards."""
    _, rule = rules_file(tempfile.mkdtemp())
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    for path in glob.glob(os.path.join(ARGS.source_dir, "k8s/base/dashboards/*.json")):
        with open(path) as f:
            dash = json.load(f)
        exprs += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        exprs += [v["query"]["query"] for v in dash["templating"]["list"] if isinstance(v.get("query"), dict)]
    return exprs, {r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r}


PROMQL_WORDS = {"and", "or", "unless", "offset", "bool"}


def metric_names(expr):
    """Metric names an expression reads: identifiers left after removing
    strings, label matchers, ranges, offsets, grouping clauses, label_values'
    label argument, and function names."""
    stripped = re.sub(r'"[^"]*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "[]", stripped)
    stripped = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    stripped = re.sub(r"(label_values\([^,]*),\s*\w+\)", r"\1)", stripped)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        is_function = re.match(r"\s*\(", stripped[m.end():]) is not None
        if not is_function and m.group(0) not in PROMQL_WORDS:
            names.add(m.group(0))
    return names


class DeployCheck(unittest.TestCase):
    def test_1_catalogue_copy_matches_source(self):
        src = os.path.join(ARGS.source_dir, "services/event/catalogue")
        dst = os.path.join(ARGS.source_dir, "k8s/base/catalogue")
        cmp = filecmp.dircmp(src, dst)
        self.assertFalse(cmp.left_only or cmp.right_only or cmp.diff_files,
                         "k8s/base/catalogue differs from services/event/catalogue: run ./scripts/sync-k8s-catalogue.sh")
        self.assertTrue(filecmp.cmp(os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml"),
                                    os.path.join(ARGS.source_dir, "k8s/base/lexicon/default.yaml"), shallow=False),
                        "k8s/base/lexicon differs from services/feedback/lexicon: run ./scripts/sync-k8s-catalogue.sh")
        with open(os.path.join(ARGS.source_dir, "k8s/base/kustomization.yaml")) as f:
            listed = yaml.safe_load(f)["configMapGenerator"][0]["files"]
        self.assertEqual(sorted(os.path.basename(p) for p in listed), sorted(os.listdir(dst)))

    def test_2_overlays_render_and_match_the_binaries(self):
        for overlay in ["dev", "prod", "prod-galera"]:
            docs = render(overlay)
            by_kind = {}
            for d in docs:
                by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
            for name in SERVICES:
                grpc_port, metrics_port, drain = binary_defaults(name)
                dep = by_kind["Deployment"][name]
                pod = dep["spec"]["template"]
                self.assertEqual(dep["spec"]["selector"]["matchLabels"].items() - pod["metadata"]["labels"].items(),
                                 set(), "%s/%s: selector does not match the pod labels" % (overlay, name))
                c = pod["spec"]["containers"][0]
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertEqual(ports["grpc"], grpc_port, "%s grpc port vs --help default" % name)
                self.assertEqual(ports["metrics"], metrics_port, "%s metrics port vs --help default" % name)
                self.assertIn("--grpc_port=%d" % grpc_port, c["args"])
                self.assertIn("--metrics_port=%d" % metrics_port, c["args"])
                self.assertEqual(c["readinessProbe"]["grpc"]["port"], grpc_port)
                liveness = c["livenessProbe"]
                self.assertEqual(liveness["grpc"]["port"] if "grpc" in liveness else liveness["httpGet"]["port"],
                                 grpc_port if "grpc" in liveness else binary_http_port())
                self.assertTrue(pod["spec"]["securityContext"]["runAsNonRoot"])
                self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
                self.assertIn("memory", c["resources"]["limits"])
                self.assertIn("memory", c["resources"]["requests"])
                pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
                self.assertGreaterEqual(pod["spec"]["terminationGracePeriodSeconds"], drain + 10 + pre_stop)
                env = {e["name"]: e for e in c["env"]}
                self.assertIn("secretKeyRef", env["PERFFLOW_DB_PASSWORD"]["valueFrom"])
                svc = by_kind["Service"][name]
                self.assertEqual(svc["spec"]["selector"].items() - pod["metadata"]["labels"].items(), set())
                if name == GATEWAY:
                    # The door: HTTP and gRPC for callers.
                    self.assertEqual({p["targetPort"] for p in svc["spec"]["ports"]}, {"http", "grpc", "metrics"})
                    self.assertEqual(ports["http"], binary_http_port())
                    self.assertIn("--http_port=%d" % ports["http"], c["args"])
                else:
                    self.assertEqual({p["targetPort"] for p in svc["spec"]["ports"]}, {"grpc", "metrics"})
                headless = by_kind["Service"][name + "-headless"]
                self.assertEqual(headless["spec"]["clusterIP"], "None")
                self.assertEqual(headless["spec"]["selector"].items() - pod["metadata"]["labels"].items(), set())
                self.assertIn("secretKeyRef", env["PERFFLOW_INTERNAL_TOKEN"]["valueFrom"])
                self.assertEqual(by_kind["PodDisruptionBudget"][name]["spec"]["selector"]["matchLabels"],
                                 dep["spec"]["selector"]["matchLabels"])
                self.assertEqual(by_kind["HorizontalPodAutoscaler"][name]["spec"]["scaleTargetRef"]["name"], name)
                monitor = by_kind["ServiceMonitor"]["perfflow"]
                selected = monitor["spec"]["selector"]["matchExpressions"][0]["values"]
                self.assertIn(name, selected)
                self.assertEqual(monitor["spec"]["endpoints"][0]["port"], "metrics")
            self.assertIn("PrometheusRule", by_kind)
            self.assertEqual(len(by_kind["NetworkPolicy"]), 4)
            dashboards = [n for n, d in by_kind["ConfigMap"].items()
                          if d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
            self.assertEqual(len(dashboards), 2)
            for n in dashboards:
                for content in by_kind["ConfigMap"][n]["data"].values():
                    dash = json.loads(content)
                    self.assertTrue(dash["uid"].startswith("perfflow-"))
                    self.assertIn("perfflow", dash["tags"])
                    self.assertEqual(dash["templating"]["list"][0]["type"], "datasource")
            if overlay == "dev":
                self.assertIn("perfflow-mysql", by_kind["StatefulSet"])
            # Every service's database, from the one ConfigMap each Deployment reads.
            db_maps = [d for n, d in by_kind["ConfigMap"].items() if n.startswith("perfflow-db")]
            self.assertEqual(len(db_maps), 1, overlay)
            hosts = {re.match(r"mysql://[^@]+@([^:/]+)", url).group(1) for url in db_maps[0]["data"].values()}
            self.assertEqual(hosts, {"perfflow-mysql" if overlay == "dev" else
                                     "perfflow-galera.database.svc.cluster.local" if overlay == "prod-galera" else
                                     "mysql-primary.database.svc.cluster.local"}, overlay)
            for name in SERVICES:
                env = {e["name"]: e for e in by_kind["Deployment"][name]["spec"]["template"]["spec"]["containers"][0]["env"]
                       if "valueFrom" in e}
                refs = [e["valueFrom"]["configMapKeyRef"]["name"] for e in env.values()
                        if "configMapKeyRef" in e["valueFrom"] and e["valueFrom"]["configMapKeyRef"]["key"].endswith("_url")]
                self.assertEqual(refs, [db_maps[0]["metadata"]["name"]], "%s/%s reads its database URL" % (overlay, name))
            # A first deploy that works: the HPA alone owns replica counts, replicas spread, Prometheus
            # Operator's selectors can pick the monitors up, dev images built on the node are not pulled,
            # and a single-node dev cluster can bind the evidence volume.
            for name in SERVICES:
                dep = by_kind["Deployment"][name]
                self.assertNotIn("replicas", dep["spec"], "%s/%s: the HPA owns the replica count" % (overlay, name))
                hpa = by_kind["HorizontalPodAutoscaler"][name]["spec"]
                self.assertLessEqual(hpa["minReplicas"], hpa["maxReplicas"])
                keys = {c["topologyKey"] for c in dep["spec"]["template"]["spec"]["topologySpreadConstraints"]}
                self.assertEqual(keys, {"kubernetes.io/hostname", "topology.kubernetes.io/zone"})
                pull = dep["spec"]["template"]["spec"]["containers"][0].get("imagePullPolicy")
                if overlay == "dev":
                    self.assertEqual(pull, "IfNotPresent", name)
                    self.assertEqual((hpa["minReplicas"], hpa["maxReplicas"]), (1, 1), name)
                else:
                    self.assertGreaterEqual(hpa["minReplicas"], 2, name)
            for kind in ("ServiceMonitor", "PrometheusRule"):
                self.assertIn("release", by_kind[kind]["perfflow"]["metadata"]["labels"], kind)
            modes = by_kind["PersistentVolumeClaim"]["perfflow-evidence-blobs"]["spec"]["accessModes"]
            self.assertEqual(modes, ["ReadWriteOnce"] if overlay == "dev" else ["ReadWriteMany"])
        # No deprecated kustomize fields.
        for path in glob.glob(os.path.join(ARGS.source_dir, "k8s/**/kustomization.yaml"), recursive=True):
            with open(path) as f:
                fields = set(yaml.safe_load(f))
            self.assertFalse(fields & {"bases", "patchesStrategicMerge", "patchesJson6902", "commonLabels"},
                             "%s uses deprecated fields" % path)

    def test_3_alert_rules_check_and_unit_tests(self):
        tmp = tempfile.mkdtemp()
        path, _ = rules_file(tmp)
        check = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        shutil.copy(os.path.join(ARGS.source_dir, "tests/prometheus/alerts_test.yaml"), tmp)
        test = subprocess.run(["promtool", "test", "rules", os.path.join(tmp, "alerts_test.yaml")],
                              capture_output=True, text=True)
        self.assertEqual(test.returncode, 0, test.stdout + test.stderr)

    def test_4_live_suite_exports_every_named_metric_and_prometheus_scrapes_it(self):
        work = tempfile.mkdtemp(prefix="perfflow-deploy-")
        event = evidence = gateway = prom = None
        try:
            generate_stubs(ARGS.source_dir, os.path.join(work, "stubs"))
            import grpc
            from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc
            from perfflow.evidence.v1 import evidence_service_pb2 as vpb, evidence_service_pb2_grpc
            from perfflow.type.v1 import flow_pb2 as tpb
            event = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), [
                "--db=sqlite:" + os.path.join(work, "event.db"), "--demo", "--demo_events=60",
                # The shipped notification config must load.
                "--notify_config=" + os.path.join(ARGS.source_dir, "k8s/base/notify/notify.yaml"),
                "--catalogue_dir=" + os.path.join(ARGS.source_dir, "services/event/catalogue"),
                "--metrics_refresh_seconds=1"])
            evidence = Server(os.path.join(ARGS.bin_dir, "perfflow-evidence"), [
                "--db=sqlite:" + os.path.join(work, "evidence.db"), "--event_addr=" + event.address(),
                "--blob_dir=" + os.path.join(work, "blobs"), "--metrics_refresh_seconds=1"])
            gateway = Server(os.path.join(ARGS.bin_dir, GATEWAY), [
                "--db=sqlite:" + os.path.join(work, "gateway.db"), "--dev_mode", "--http_port=0",
                "--event_addr=" + event.address(), "--evidence_addr=" + evidence.address(), "--feedback_addr=",
                "--calibration_addr=", "--config=" + os.path.join(ARGS.source_dir, "k8s/base/gateway/gateway.yaml")],
                {"PERFFLOW_JWT_SECRET": "x" * 32, "PERFFLOW_WEBHOOK_CRM_SECRET": "s"})
            http_port = next(int(json.loads(line)["http_port"]) for line in gateway.log if '"http listening"' in line)
            for path, body in (("/healthz", None), ("/v1/registry", None), ("/v1/nothing", None),
                               ("/v1/webhooks/crm", b"{}")):
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path), data=body)
                except urllib.error.HTTPError:
                    pass
            md = [("x-perfflow-tenant", "demo"), ("x-perfflow-principal", "e101")]
            events = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(event.address()))
            ev = evidence_service_pb2_grpc.EvidenceServiceStub(grpc.insecure_channel(evidence.address()))
            # One chain through every step: owner upload, verdict, confirmation, seal.
            req = epb.IngestEventRequest(source="crm", external_id="deploy-1", event_type="crm.contract_signed",
                                         subject_id="e101")
            req.attributes.update({"contract_value": 1000, "customer_tier": "key"})
            name = events.IngestEvent(req, metadata=md).event.name
            pdf = b"%PDF-1.7\n" + b"x" * 100 + b"\n%%EOF\n"
            ev.UploadEvidence(iter([vpb.UploadEvidenceRequest(metadata=vpb.UploadMetadata(
                event=name, kind="contract_scan", file_name="c.pdf", content_type="application/pdf")),
                vpb.UploadEvidenceRequest(chunk=pdf)]), metadata=md)
            events.RecordFlowStep(epb.RecordFlowStepRequest(event=name, step=tpb.FLOW_STEP_MANAGER_FEEDBACK,
                                                            verdict=tpb.VERDICT_MEETS, step_id="v"), metadata=md)
            events.RecordFlowStep(epb.RecordFlowStepRequest(event=name, step=tpb.FLOW_STEP_CROSS_CONFIRM,
                                                            step_id="c"), metadata=md)
            ev.SealEvidence(vpb.SealEvidenceRequest(event=name), metadata=md)
            try:
                events.GetEvent(epb.GetEventRequest(name="bad"), metadata=md)
            except grpc.RpcError:
                pass

            exported = set()
            deadline = time.monotonic() + 30
            for server in (event, evidence, gateway):
                while True:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.metrics_port) as r:
                        text = r.read().decode()
                    if server is not event or "perfflow_flow_health_ratio" in text or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True)
                self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
                for line in text.splitlines():
                    if line and not line.startswith("#"):
                        base = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
                        exported.add(base)
                        exported.add(re.sub(r"_(bucket|sum|count)$", "", base))
            exprs, recorded = expressions()
            for expr in exprs:
                unknown = metric_names(expr) - exported - recorded - PROMETHEUS_NAMES
                self.assertFalse(unknown, "%s names metrics no binary exports: %s" % (expr, sorted(unknown)))

            # A real Prometheus on loopback scrapes both and loads the rules.
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                prom_port = s.getsockname()[1]
            rules, _ = rules_file(work)
            config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": [rules],
                      "scrape_configs": [{"job_name": n, "static_configs": [{"targets": ["127.0.0.1:%d" % srv.metrics_port]}]}
                                         for n, srv in (("perfflow-event", event), ("perfflow-evidence", evidence),
                                                        (GATEWAY, gateway))]}
            with open(os.path.join(work, "prometheus.yml"), "w") as f:
                yaml.safe_dump(config, f)
            prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
                                     "--storage.tsdb.path=" + os.path.join(work, "tsdb"),
                                     "--web.listen-address=127.0.0.1:%d" % prom_port],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            query = urllib.parse.quote('perfflow_flow_health_ratio{tenant="demo",department="all",event_type="all"}')
            deadline = time.monotonic() + 60
            result = []
            while not result:
                self.assertLess(time.monotonic(), deadline, "Prometheus never returned flow health")
                time.sleep(0.5)
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?query=%s" % (prom_port, query)) as r:
                        result = json.load(r)["data"]["result"]
                except OSError:
                    continue
            ratio = float(result[0]["value"][1])
            self.assertGreater(ratio, 0.0)
            self.assertLessEqual(ratio, 1.0)
            print("Prometheus reads flow health %.3f for the demo tenant" % ratio, file=sys.stderr)
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/rules" % prom_port) as r:
                groups = json.load(r)["data"]["groups"]
            self.assertEqual({g["name"] for g in groups}, {"perfflow.flow", "perfflow.service"})
            self.assertTrue(all(rule["health"] != "err" for g in groups for rule in g["rules"]))
        finally:
            if prom is not None:
                prom.terminate()
                prom.wait(timeout=30)
            for server in (gateway, evidence, event):
                if server is not None:
                    server.stop()
            shutil.rmtree(work, ignore_errors=True)

    def test_5_dashboards_on_two_replicas_match_one(self):
        """Every dashboard query on a Prometheus scraping two event-service replicas of one database equals the
        same query on a Prometheus scraping one of them: per-replica gauges are not counted twice."""
        work = tempfile.mkdtemp(prefix="perfflow-dashboards-")
        servers, proms = [], []
        try:
            generate_stubs(ARGS.source_dir, os.path.join(work, "stubs"))
            import grpc
            from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc
            db = "--db=sqlite:" + os.path.join(work, "event.db")
            common = ["--catalogue_dir=" + os.path.join(ARGS.source_dir, "services/event/catalogue"),
                      "--metrics_refresh_seconds=1"]
            first = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), [db, "--demo", "--demo_events=80"] + common)
            servers.append(first)
            second = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), [db] + common)
            servers.append(second)
            # All traffic through the first replica: the counters' truth is its own.
            stub = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(first.address()))
            md = [("x-perfflow-tenant", "demo"), ("x-perfflow-principal", "e101")]
            for i in range(3):
                req = epb.IngestEventRequest(source="crm", external_id="dash-%d" % i, event_type="crm.contract_signed",
                                             subject_id="e101")
                req.attributes.update({"contract_value": 1000, "customer_tier": "key"})
                stub.IngestEvent(req, metadata=md)

            def start_prometheus(name, targets):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    port = sock.getsockname()[1]
                config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                          "scrape_configs": [{"job_name": "perfflow-event", "static_configs": [
                              {"targets": ["127.0.0.1:%d" % t.metrics_port for t in targets]}]}]}
                path = os.path.join(work, name + ".yml")
                with open(path, "w") as f:
                    yaml.safe_dump(config, f)
                proms.append(subprocess.Popen(["prometheus", "--config.file=" + path,
                                               "--storage.tsdb.path=" + os.path.join(work, name),
                                               "--web.listen-address=127.0.0.1:%d" % port],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                return port

            two = start_prometheus("two", [first, second])
            one = start_prometheus("one", [first])

            def query(port, expr):
                url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(expr))
                try:
                    with urllib.request.urlopen(url, timeout=10) as r:
                        data = json.load(r)["data"]["result"]
                except OSError:
                    return None
                return {json.dumps(x["metric"], sort_keys=True): float(x["value"][1]) for x in data}

            # Both have seen both replicas' gauges a few times.
            ready = 'count(perfflow_flow_open_chains{tenant="demo"}) by (instance)'
            deadline = time.monotonic() + 60
            while not (query(two, ready) and len(query(two, ready)) == 2 and query(one, ready)):
                self.assertLess(time.monotonic(), deadline, "Prometheus never scraped both replicas")
                time.sleep(0.5)
            time.sleep(5)
            # The setup can tell: a sum over replicas is twice the truth.
            doubled = 'sum(perfflow_flow_open_chains{tenant="demo"})'
            self.assertAlmostEqual(query(two, doubled)[json.dumps({})], 2 * query(one, doubled)[json.dumps({})])

            substitutions = {"$tenant": "demo", "$namespace": ".*", "$service": ".*"}
            checked = 0
            for path in sorted(glob.glob(os.path.join(ARGS.source_dir, "k8s/base/dashboards/*.json"))):
                with open(path) as f:
                    dashboard = json.load(f)
                for panel in dashboard["panels"]:
                    for target in panel.get("targets", []):
                        expr = target["expr"]
                        for k, v in substitutions.items():
                            expr = expr.replace(k, v)
                        self.assertNotIn("$", expr, "an unknown variable in " + panel["title"])
                        counts_events = any(f in expr for f in ("rate(", "increase(", "deriv("))
                        # Gauges refresh every second on both replicas: compare until they agree (bounded).
                        deadline = time.monotonic() + 20
                        while True:
                            a, b = query(two, expr), query(one, expr)
                            same = a is not None and b is not None and a.keys() == b.keys() and all(
                                abs(a[k] - b[k]) <= (0.25 * abs(b[k]) + 1e-9 if counts_events else 1e-9)
                                or (a[k] != a[k] and b[k] != b[k]) for k in a)
                            if same or time.monotonic() > deadline:
                                break
                            time.sleep(1)
                        self.assertTrue(same, "%s (%s): two replicas %s, one replica %s" % (
                            panel["title"], expr, a, b))
                        checked += 1
            print("%d dashboard queries agree on two replicas and on one" % checked, file=sys.stderr)
        finally:
            for prom in proms:
                prom.terminate()
                prom.wait(timeout=30)
            for server in servers:
                server.stop()
            shutil.rmtree(work, ignore_errors=True)

    def test_6_the_docs_python_stub_command_works(self):
        """docs/api.md's protoc command for Python clients, run as written, gives stubs that import."""
        with open(os.path.join(ARGS.source_dir, "docs", "api.md"), encoding="utf-8") as f:
            readme = f.read()
        command = re.search(r"From Python.*?```sh\n(.*?)```", readme, re.S).group(1)
        out = tempfile.mkdtemp(prefix="perfflow-readme-stubs-")
        try:
            run = subprocess.run(["bash", "-c", command.replace("/tmp/pf", out).replace("python3 ", "/usr/bin/python3 ")],
                                 cwd=ARGS.source_dir, capture_output=True, text=True)
            self.assertEqual(run.returncode, 0, run.stderr)
            check = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, %r); "
                                    "from perfflow.event.v1 import event_service_pb2_grpc; "
                                    "from perfflow.feedback.v1 import feedback_service_pb2_grpc" % out],
                                   capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stderr)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def test_7_the_readme_indexes_every_rpc(self):
        """Every RPC of every service proto is in the README's RPC index, by name, under its service."""
        with open(os.path.join(ARGS.source_dir, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        index = readme[readme.index("## RPC index"):]
        # "**`perfflow.event.v1.EventService`** — ..." starts each service's table.
        sections = {}
        for chunk in index.split("**`perfflow.")[1:]:
            sections[chunk.split("`", 1)[0].rsplit(".", 1)[-1]] = chunk
        missing = []
        for path in sorted(glob.glob(os.path.join(ARGS.source_dir, "protos/perfflow/*/v1/*_service.proto"))):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for service in re.finditer(r"^service (\w+) \{(.*?)^\}", text, re.S | re.M):
                section = sections.get(service.group(1), "")
                for rpc in re.findall(r"^\s*rpc (\w+)\(", service.group(2), re.M):
                    if "`%s`" % rpc not in section:
                        missing.append(service.group(1) + "/" + rpc)
        self.assertEqual(missing, [], "add them to the README's RPC index")


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir")
