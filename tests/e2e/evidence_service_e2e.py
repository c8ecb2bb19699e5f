#!/usr/bin/python3
"""End-to-end test of perfflow-evidence with the real perfflow-event, both on
the real MariaDB started by ./scripts/test.sh, driven by Debian's grpcio.

An NPI milestone delivered late: the validator's gaps and guidance shrink as
evidence arrives, the chain's flow advances, the chain is sealed and archived,
and tampering with a stored blob is caught. Also: a 20 MiB upload is streamed
(the server's peak RSS grows by less than 8 MiB) and each bad upload is
rejected with nothing stored."""

import glob
import hashlib
import os
import secrets
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import run_tests, catalogue_request, org_request, assert_metrics, scrape_metrics, Server, field_violations, generate_stubs, mysql_env, mysql_url  # noqa: E402

ARGS = None
BASELINE_RSS_KIB = 0
EVENT = None
EVIDENCE = None
WORK = None
TENANT = "e2e"
MIB = 1024 * 1024


def md(principal=None, roles=None):
    out = [("x-perfflow-tenant", TENANT)]
    if principal:
        out.append(("x-perfflow-principal", principal))
    if roles:
        out.append(("x-perfflow-roles", roles))
    return out


def setUpModule():
    global EVENT, EVIDENCE, WORK, grpc, epb, vpb, tpb, events, evidence, NPI
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-evidence-e2e-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    from perfflow.evidence.v1 import evidence_service_pb2, evidence_service_pb2_grpc
    from perfflow.type.v1 import flow_pb2
    epb, vpb, tpb = event_service_pb2, evidence_service_pb2, flow_pb2
    suffix = secrets.token_hex(5)
    EVENT = Server(ARGS.event_binary, ["--db=%s/ev_event_%s" % (mysql_url(), suffix)], mysql_env())
    EVIDENCE = Server(ARGS.evidence_binary, [
        "--db=%s/ev_evidence_%s" % (mysql_url(), suffix), "--event_addr=" + EVENT.address(),
        "--blob_dir=" + os.path.join(WORK, "blobs"), "--metrics_refresh_seconds=1"], mysql_env())
    events = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(EVENT.address()))
    evidence = evidence_service_pb2_grpc.EvidenceServiceStub(grpc.insecure_channel(EVIDENCE.address()))

    events.ApplyEventTypes(catalogue_request(epb, ARGS.source_dir), metadata=md())
    heads = [("rnd", "r-head"), ("production", "p-head"), ("supply_chain", "c-head"), ("sales", "s-head")]
    events.UpsertDirectory(org_request(epb, heads, [("r1", "rnd", "r-head")]), metadata=md())
    req = epb.IngestEventRequest(source="plm", external_id="npi-42", event_type="plm.npi_milestone_delivered",
                                 subject_id="r1")
    req.attributes.update({"project": "X1", "milestone": "bom_freeze", "delay_days": 3,
                           "delay_reason": "supplier_delay"})
    NPI = events.IngestEvent(req, metadata=md()).event.name
    global BASELINE_RSS_KIB
    BASELINE_RSS_KIB = EVIDENCE.peak_rss_kib()


def tearDownModule():
    for server in (EVIDENCE, EVENT):
        if server is not None:
            server.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def upload(kind, content_type, content, principal="r1", sha=None, event=None, chunk=64 * 1024):
    def messages():
        meta = vpb.UploadMetadata(event=event or NPI, kind=kind, file_name=kind + ".dat", content_type=content_type,
                                  sha256=sha or "")
        yield vpb.UploadEvidenceRequest(metadata=meta)
        for i in range(0, len(content), chunk):
            yield vpb.UploadEvidenceRequest(chunk=content[i:i + chunk])
    return evidence.UploadEvidence(messages(), metadata=md(principal))


def pdf(size, fill=b"x"):
    head, trailer = b"%PDF-1.7\n", b"\n%%EOF\n"
    return head + fill * (size - len(head) - len(trailer)) + trailer


def validate():
    return evidence.ValidateChain(vpb.ValidateChainRequest(event=NPI), metadata=md("r1")).validation


def stored():
    return list(evidence.ListEvidence(vpb.ListEvidenceRequest(event=NPI), metadata=md("r1")).evidence)


def blob_files():
    return [p for p in glob.glob(os.path.join(WORK, "blobs", "*", "*")) if not p.endswith(".part")
            and os.path.basename(os.path.dirname(p)) != "tmp"]


class EvidenceE2E(unittest.TestCase):
    def expect_error(self, code, fn, text=None):
        with self.assertRaises(grpc.RpcError) as ctx:
            fn()
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        if text:
            self.assertIn(text, ctx.exception.details() + str(field_violations(ctx.exception)))
        return ctx.exception

    def test_01_a_new_chain_has_gaps_with_guidance(self):
        v = validate()
        self.assertEqual(v.outcome, vpb.CHAIN_OUTCOME_INCOMPLETE)
        self.assertEqual(sorted(g.evidence_kind for g in v.gaps),
                         ["bom_freeze_confirmation", "change_note", "stage_timestamps"])
        self.assertEqual(v.gaps[0].guidance.sop_links[0].url, "https://sop.example.com/rnd/stage-gate")

    def test_02_bad_uploads_store_nothing(self):
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, lambda: upload("change_note", "application/pdf", pdf(100),
                                                                            principal="p-head"), "owner")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: upload("change_note", "image/png", pdf(100)),
                          "change_note accepts application/pdf")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: upload("change_note", "application/pdf", b"\x89PNG\r\n\x1a\nrest"), "content is png")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: upload("change_note", "application/pdf", pdf(100), sha="0" * 64), "hashes to")
        self.expect_error(grpc.StatusCode.NOT_FOUND,
                          lambda: upload("change_note", "application/pdf", pdf(100), event="events/" + "a" * 32))
        self.expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          lambda: upload("change_note", "application/pdf", pdf(20 * MIB + 1)), "limit")
        self.assertEqual(stored(), [])
        self.assertEqual(blob_files(), [])
        flow = events.GetEvent(epb.GetEventRequest(name=NPI), metadata=md()).event.flow
        self.assertEqual(flow.step, tpb.FLOW_STEP_TRIGGERED)

    def test_03_first_upload_reports_owner_action(self):
        content = b"stage,at\nconcept,2026-01-02\ndesign_freeze,2026-02-01\nbom_freeze,2026-03-04\n"
        resp = upload("stage_timestamps", "text/csv", content, sha=hashlib.sha256(content).hexdigest())
        self.assertEqual(resp.evidence.sha256, hashlib.sha256(content).hexdigest())
        flow = events.GetEvent(epb.GetEventRequest(name=NPI), metadata=md()).event.flow
        self.assertEqual(flow.step, tpb.FLOW_STEP_OWNER_ACTION)
        self.assertEqual(len(validate().gaps), 2)

    def test_04_twenty_mib_is_streamed(self):
        content = pdf(20 * MIB, b"b")
        resp = upload("bom_freeze_confirmation", "application/pdf", content)
        # Since start-up, including the rejected 20 MiB + 1 upload of test_02.
        growth_mib = (EVIDENCE.peak_rss_kib() - BASELINE_RSS_KIB) / 1024.0
        print("20 MiB upload: peak RSS growth %.2f MiB" % growth_mib, file=sys.stderr)
        self.assertLess(growth_mib, 8.0)
        self.assertEqual(resp.evidence.size_bytes, 20 * MIB)
        digest = hashlib.sha256()
        parts = list(evidence.DownloadEvidence(vpb.DownloadEvidenceRequest(name=resp.evidence.name),
                                               metadata=md("r1")))
        self.assertEqual(parts[0].metadata.name, resp.evidence.name)
        for p in parts[1:]:
            digest.update(p.chunk)
        self.assertEqual(digest.hexdigest(), hashlib.sha256(content).hexdigest())

    def test_04b_reads_of_someone_elses_evidence_are_recorded(self):
        item = evidence.ListEvidence(vpb.ListEvidenceRequest(event=NPI), metadata=md("r1")).evidence[0]
        list(evidence.DownloadEvidence(vpb.DownloadEvidenceRequest(name=item.name), metadata=md("r-head", "manager")))
        own = evidence.ListEvidenceAccess(vpb.ListEvidenceAccessRequest(), metadata=md("r1")).accesses
        self.assertIn(("r-head", item.name, NPI), [(a.reader_id, a.evidence, a.event) for a in own])
        self.assertNotIn("r1", [a.reader_id for a in own])  # the owner's own downloads are not "access"
        hr = evidence.ListEvidenceAccess(vpb.ListEvidenceAccessRequest(person_id="r1"), metadata=md("hr-1", "hr"))
        self.assertEqual(len(hr.accesses), len(own))
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, lambda: evidence.ListEvidenceAccess(
            vpb.ListEvidenceAccessRequest(person_id="r1"), metadata=md("p-head", "manager")))
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: evidence.ListEvidenceAccess(
            vpb.ListEvidenceAccessRequest(page_size=501), metadata=md("r1")))

    def test_05_cosigned_change_note_completes_the_chain(self):
        note = upload("change_note", "application/pdf", pdf(3000, b"n")).evidence
        self.assertEqual([g.rule for g in validate().gaps], ["cosign:change_note"])
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, lambda: evidence.CosignEvidence(
            vpb.CosignEvidenceRequest(name=note.name), metadata=md("r-head")), "another department")
        evidence.CosignEvidence(vpb.CosignEvidenceRequest(name=note.name), metadata=md("p-head"))
        self.assertEqual(validate().outcome, vpb.CHAIN_OUTCOME_COMPLETE)
        times = events.GetEvent(epb.GetEventRequest(name=NPI), metadata=md()).event.flow.times
        self.assertTrue(times.HasField("evidence_complete_at"))

    def test_06_seal_archives_and_freezes(self):
        seal = lambda: evidence.SealEvidence(vpb.SealEvidenceRequest(event=NPI), metadata=md("r1"))
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, seal, "manager's verdict")
        for step_id, step, verdict in [("rev-1", tpb.FLOW_STEP_MANAGER_FEEDBACK, tpb.VERDICT_MEETS),
                                       ("conf-1", tpb.FLOW_STEP_CROSS_CONFIRM, 0)]:
            events.RecordFlowStep(epb.RecordFlowStepRequest(event=NPI, step=step, step_id=step_id, verdict=verdict),
                                  metadata=md())
        resp = seal()
        self.assertEqual(resp.seal.evidence_count, 3)
        self.assertFalse(resp.already_sealed)
        self.assertTrue(seal().already_sealed)
        flow = events.GetEvent(epb.GetEventRequest(name=NPI), metadata=md()).event.flow
        self.assertEqual(flow.step, tpb.FLOW_STEP_ARCHIVED)
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION,
                          lambda: upload("change_note", "application/pdf", pdf(10, b"z")))
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, lambda: evidence.DeleteEvidence(
            vpb.DeleteEvidenceRequest(name=stored()[0].name), metadata=md("r1")))

    def test_07_goal_is_achieved(self):
        resp = evidence.EvaluateGoal(vpb.EvaluateGoalRequest(employee_id="r1", goal="rnd.npi_on_time"),
                                     metadata=md("r1"))
        self.assertEqual(resp.outcome, vpb.GOAL_OUTCOME_ACHIEVED)
        self.assertEqual(len(resp.chains), 1)

    def test_08_tampering_is_caught(self):
        verify = lambda: evidence.VerifySeal(vpb.VerifySealRequest(event=NPI), metadata=md("r1"))
        self.assertTrue(verify().intact)
        note = next(e for e in stored() if e.kind == "change_note")
        path = os.path.join(WORK, "blobs", note.sha256[:2], note.sha256)
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"TAMPERED")
        resp = verify()
        self.assertFalse(resp.intact)
        self.assertEqual(len(resp.problems), 1)
        self.assertIn(note.name, resp.problems[0])

    def test_09_metrics(self):
        # The gauge is refreshed every second: poll (bounded) for the value after the seal.
        text = scrape_metrics(EVIDENCE, wait_for='perfflow_evidence_completeness_ratio{department="rnd",'
                                                 'event_type="plm.npi_milestone_delivered",tenant="e2e"} 1')
        assert_metrics(self, text, [
            'perfflow_evidence_uploads_total{result="accepted"} 3',
            'perfflow_evidence_uploads_total{result="denied"} 1',
            'perfflow_evidence_uploads_total{result="rejected"} 6',
            'perfflow_evidence_validations_total{outcome="complete"}',
            'perfflow_evidence_completeness_ratio{department="rnd",event_type="plm.npi_milestone_delivered",tenant="e2e"} 1',
            'grpc_server_handled_total{grpc_code="OK",grpc_method="UploadEvidence",'
            'grpc_service="perfflow.evidence.v1.EvidenceService",grpc_type="client_stream"}'])


if __name__ == "__main__":
    run_tests(globals(), "--event-binary", "--evidence-binary", "--source-dir")
