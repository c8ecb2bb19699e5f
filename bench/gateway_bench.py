#!/usr/bin/python3
"""Webhook ingestion through perfflow-gateway against direct gRPC IngestEvent,
side by side in one run on one MariaDB.

Both paths ingest the same kind of event (a signed CRM contract webhook vs
the IngestEvent request the gateway would make of it) with 16 closed-loop
clients (separate processes, so the Python client is not one GIL), rounds
interleaved direct / gateway / direct / gateway. Reports the throughput ratio
(goal >= 0.60) and the gateway's added median latency. The clients share
the machine's cores with the services; both paths pay that equally.

Run by ./scripts/bench.sh gateway (which starts the MariaDB).
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from perfflow_e2e import CATALOGUE_HEADS, Server, catalogue_request, org_request, generate_stubs, mysql_env, mysql_url  # noqa: E402

CLIENTS = 16
PER_CLIENT = 150
# Set once in the parent; the spawned client processes inherit them.
INTERNAL = os.environ.setdefault("PERFFLOW_BENCH_INTERNAL_TOKEN", "bench-" + secrets.token_hex(16))
SECRET = bytes.fromhex(os.environ.setdefault("PERFFLOW_BENCH_WEBHOOK_SECRET", secrets.token_hex(24)))
MD = [("x-perfflow-tenant", "bench"), ("x-perfflow-roles", "admin,system"), ("x-perfflow-internal-token", INTERNAL)]


def payload(deal_id):
    return json.dumps({"deal": {"id": deal_id, "owner": "s1", "amount": 100000, "tier": "key"}}).encode()


def direct_worker(args):
    address, stubs_dir, prefix, barrier_at = args
    sys.path.insert(0, stubs_dir)
    import grpc
    from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc as epb_grpc
    stub = epb_grpc.EventServiceStub(grpc.insecure_channel(address))
    requests = []
    for i in range(PER_CLIENT):
        req = epb.IngestEventRequest(source="crm", external_id="%s-%d" % (prefix, i),
                                     event_type="crm.contract_signed", subject_id="s1")
        req.attributes.update({"contract_value": 100000, "customer_tier": "key"})
        requests.append(req)
    stub.GetRegistry(epb.GetRegistryRequest(), metadata=MD)  # connect before the clock starts
    while time.time() < barrier_at:
        time.sleep(0.001)
    latencies, start = [], time.perf_counter()
    for req in requests:
        t = time.perf_counter()
        stub.IngestEvent(req, metadata=MD, timeout=30)
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - start, latencies


def gateway_worker(args):
    port, _, prefix, barrier_at = args
    bodies = []
    for i in range(PER_CLIENT):
        body = payload("%s-%d" % (prefix, i))
        msg_id, ts = "msg_%s_%d" % (prefix, i), str(int(barrier_at))
        sig = base64.b64encode(hmac.new(SECRET, (msg_id + "." + ts + ".").encode() + body, hashlib.sha256).digest())
        bodies.append((body, {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + sig.decode(),
                              "Content-Type": "application/json"}))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/healthz")
    conn.getresponse().read()
    while time.time() < barrier_at:
        time.sleep(0.001)
    latencies, start = [], time.perf_counter()
    for body, headers in bodies:
        t = time.perf_counter()
        conn.request("POST", "/v1/webhooks/crm", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 202:
            raise RuntimeError("webhook answered %d" % resp.status)
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - start, latencies


def reported(worker):
    """Runs worker, turning any failure into a picklable RuntimeError with its text."""
    def run(args):
        try:
            return worker(args)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            raise RuntimeError("%s: %r" % (worker.__name__, e)) from None
    return run


def direct_job(args):
    return reported(direct_worker)(args)


def gateway_job(args):
    return reported(gateway_worker)(args)


def run_round(pool, worker, target, stubs_dir, label, clients=CLIENTS):
    barrier_at = time.time() + 2
    results = pool.map(worker, [(target, stubs_dir, "%s-%d-%s" % (label, c, secrets.token_hex(3)), barrier_at)
                                for c in range(clients)])
    wall = max(r[0] for r in results)
    latencies = [x for r in results for x in r[1]]
    return clients * PER_CLIENT / wall, statistics.median(latencies)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--json")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="perfflow-gateway-bench-")
    stubs = os.path.join(work, "stubs")
    generate_stubs(args.source_dir, stubs)
    import grpc
    from perfflow.event.v1 import event_service_pb2 as epb, event_service_pb2_grpc as epb_grpc
    env = dict(mysql_env(), PERFFLOW_INTERNAL_TOKEN=INTERNAL, CRM_SECRET="whsec_" + base64.b64encode(SECRET).decode())
    event = Server(os.path.join(args.bin_dir, "perfflow-event"),
                   ["--db=%s/gwbench_%s" % (mysql_url(), secrets.token_hex(4))], env)
    config = os.path.join(work, "gateway.yaml")
    with open(config, "w") as f:
        f.write("""webhook_sources:
  - name: crm
    tenant: bench
    scheme: standard
    secret_envs: [CRM_SECRET]
    mapping:
      external_id: /deal/id
      fixed_event_type: crm.contract_signed
      subject_id: /deal/owner
      attributes: {contract_value: /deal/amount, customer_tier: /deal/tier}
rate_limit: {requests_per_second: 1000000, burst: 1000000}
""")
    gateway = Server(os.path.join(args.bin_dir, "perfflow-gateway"),
                     ["--http_port=0", "--config=" + config, "--event_addr=" + event.address(), "--evidence_addr=",
                      "--feedback_addr=", "--calibration_addr=",
                      "--db=%s/gwbench_gw_%s" % (mysql_url(), secrets.token_hex(4))], env)
    http_port = next(int(json.loads(line)["http_port"]) for line in gateway.log if '"http listening"' in line)
    stub = epb_grpc.EventServiceStub(grpc.insecure_channel(event.address()))
    stub.ApplyEventTypes(catalogue_request(epb, args.source_dir), metadata=MD)
    stub.UpsertDirectory(org_request(epb, CATALOGUE_HEADS, [("s1", "sales", "s-head")]), metadata=MD)

    direct, through = [], []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(CLIENTS) as pool:
        for r in range(2):
            direct.append(run_round(pool, direct_job, event.address(), stubs, "d%d" % r))
            through.append(run_round(pool, gateway_job, http_port, stubs, "g%d" % r))
        # One client alone: the latency the gateway adds without queueing.
        single_direct = run_round(pool, direct_job, event.address(), stubs, "sd", clients=1)
        single_gateway = run_round(pool, gateway_job, http_port, stubs, "sg", clients=1)
    gateway_rss = gateway.peak_rss_kib()
    gateway.stop()
    event.stop()

    d_rate = statistics.median(x[0] for x in direct)
    g_rate = statistics.median(x[0] for x in through)
    d_med = statistics.median(x[1] for x in direct)
    g_med = statistics.median(x[1] for x in through)
    ratio = g_rate / d_rate
    print("%-52s %12s %14s" % ("path (16 closed-loop clients, MariaDB)", "events/s", "median ms"))
    print("%-52s %12.0f %14.2f" % ("direct gRPC IngestEvent (the floor)", d_rate, d_med * 1000))
    print("%-52s %12.0f %14.2f" % ("signed webhook through perfflow-gateway", g_rate, g_med * 1000))
    print("%-52s %12.0f %14.2f" % ("one client: direct gRPC IngestEvent", single_direct[0], single_direct[1] * 1000))
    print("%-52s %12.0f %14.2f" % ("one client: signed webhook through the gateway", single_gateway[0],
                                   single_gateway[1] * 1000))
    print("ratio %.2f of direct (goal >= 0.60: %s); the gateway adds %.2f ms to the median with 16 clients, "
          "%.2f ms with one; gateway peak RSS %.1f MiB"
          % (ratio, "meets" if ratio >= 0.6 else "MISSES", (g_med - d_med) * 1000,
             (single_gateway[1] - single_direct[1]) * 1000, gateway_rss / 1024))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"direct_events_per_s": d_rate, "gateway_events_per_s": g_rate, "ratio": ratio, "goal": 0.6,
                       "direct_median_ms": d_med * 1000, "gateway_median_ms": g_med * 1000,
                       "added_median_ms": (g_med - d_med) * 1000, "gateway_peak_rss_kib": gateway_rss,
                       "single_client": {"direct": single_direct, "gateway": single_gateway,
                                         "added_median_ms": (single_gateway[1] - single_direct[1]) * 1000},
                       "rounds": {"direct": direct, "gateway": through}}, f, indent=2)


if __name__ == "__main__":
    main()
