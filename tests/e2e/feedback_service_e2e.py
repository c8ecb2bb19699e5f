#!/usr/bin/python3
"""End-to-end: a chain driven from ingest through evidence and verdicts to the
event service's flow state, with perfflow-event, perfflow-evidence and
perfflow-feedback on the real MariaDB (started by ./scripts/test.sh), driven
by Debian's grpcio."""

import os
import secrets
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import run_tests, catalogue_request, org_request, assert_metrics, scrape_metrics, Server, field_violations, generate_stubs, mysql_env, mysql_url  # noqa: E402

ARGS = None
SERVERS = []
WORK = None
TENANT = "fb"


def md(principal=None):
    out = [("x-perfflow-tenant", TENANT)]
    if principal:
        out.append(("x-perfflow-principal", principal))
    return out


def setUpModule():
    global WORK, grpc, epb, vpb, fpb, tpb, events, evidence, feedback, EVENT_NAME, FEEDBACK
    import grpc as grpc_module
    grpc = grpc_module
    WORK = tempfile.mkdtemp(prefix="perfflow-feedback-e2e-")
    generate_stubs(ARGS.source_dir, os.path.join(WORK, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    from perfflow.evidence.v1 import evidence_service_pb2, evidence_service_pb2_grpc
    from perfflow.feedback.v1 import feedback_service_pb2, feedback_service_pb2_grpc
    from perfflow.type.v1 import flow_pb2
    epb, vpb, fpb, tpb = event_service_pb2, evidence_service_pb2, feedback_service_pb2, flow_pb2
    suffix = secrets.token_hex(5)
    event = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), ["--db=%s/fb_event_%s" % (mysql_url(), suffix)],
                   mysql_env())
    SERVERS.append(event)
    ev = Server(os.path.join(ARGS.bin_dir, "perfflow-evidence"), [
        "--db=%s/fb_evidence_%s" % (mysql_url(), suffix), "--event_addr=" + event.address(),
        "--blob_dir=" + os.path.join(WORK, "blobs")], mysql_env())
    SERVERS.append(ev)
    FEEDBACK = Server(os.path.join(ARGS.bin_dir, "perfflow-feedback"), [
        "--db=%s/fb_feedback_%s" % (mysql_url(), suffix), "--event_addr=" + event.address(),
        "--evidence_addr=" + ev.address(),
        "--lexicon=" + os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml")], mysql_env())
    SERVERS.append(FEEDBACK)
    events = event_service_pb2_grpc.EventServiceStub(grpc.insecure_channel(event.address()))
    evidence = evidence_service_pb2_grpc.EvidenceServiceStub(grpc.insecure_channel(ev.address()))
    feedback = feedback_service_pb2_grpc.FeedbackServiceStub(grpc.insecure_channel(FEEDBACK.address()))

    events.ApplyEventTypes(catalogue_request(epb, ARGS.source_dir), metadata=md())
    heads = [("sales", "s-head"), ("supply_chain", "c-head"), ("production", "p-head")]
    events.UpsertDirectory(org_request(epb, heads, [("s1", "sales", "s-head"), ("s2", "sales", "s-head")]),
                           metadata=md())
    req = epb.IngestEventRequest(source="crm", external_id="c-77", event_type="crm.contract_signed", subject_id="s1")
    req.attributes.update({"contract_value": 480000, "customer_tier": "strategic"})
    EVENT_NAME = events.IngestEvent(req, metadata=md()).event.name


def tearDownModule():
    for server in reversed(SERVERS):
        server.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def upload(fill):
    content = b"%PDF-1.7\n" + fill * 500 + b"\n%%EOF\n"
    return evidence.UploadEvidence(iter([
        vpb.UploadEvidenceRequest(metadata=vpb.UploadMetadata(event=EVENT_NAME, kind="contract_scan",
                                                              file_name="contract.pdf", content_type="application/pdf")),
        vpb.UploadEvidenceRequest(chunk=content)]), metadata=md("s1")).evidence


def flow():
    return events.GetEvent(epb.GetEventRequest(name=EVENT_NAME), metadata=md()).event.flow


class FeedbackE2E(unittest.TestCase):
    def expect_error(self, code, fn, text=None):
        with self.assertRaises(grpc.RpcError) as ctx:
            fn()
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        if text:
            self.assertIn(text, ctx.exception.details() + str(field_violations(ctx.exception)))

    def test_1_guidance_flags_vague_words(self):
        resp = feedback.AnalyzeFeedback(fpb.AnalyzeFeedbackRequest(text="表现良好，继续努力", event=EVENT_NAME),
                                        metadata=md("s-head"))
        classes = sorted(fpb.VagueClass.Name(getattr(s, "class")) for s in resp.spans)
        self.assertIn("VAGUE_CLASS_EMPTY_PRAISE", classes)
        self.assertIn("VAGUE_CLASS_EMPTY_ENCOURAGEMENT", classes)
        self.assertFalse(resp.effective)
        self.assertEqual(resp.language, "zh")
        self.assertEqual(len(resp.suggestions), 3)
        self.assertIn("合同签订", resp.composed_sentence)

    def test_2_nothing_to_review_before_the_owner_acts(self):
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, lambda: feedback.SubmitReview(
            fpb.SubmitReviewRequest(event=EVENT_NAME, verdict=tpb.VERDICT_MEETS, comment="ok"), metadata=md("s-head")),
            "nothing to review")

    def test_3_redo_reopens_the_owner_task(self):
        upload(b"a")
        self.assertEqual(flow().step, tpb.FLOW_STEP_OWNER_ACTION)
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, lambda: feedback.SubmitReview(
            fpb.SubmitReviewRequest(event=EVENT_NAME, verdict=tpb.VERDICT_MEETS, comment="good job"),
            metadata=md("s2")), "direct manager")
        self.expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: feedback.SubmitReview(
            fpb.SubmitReviewRequest(event=EVENT_NAME, verdict=tpb.VERDICT_MEETS, comment="x" * 4001),
            metadata=md("s-head")), "4000")
        resp = feedback.SubmitReview(fpb.SubmitReviewRequest(
            event=EVENT_NAME, verdict=tpb.VERDICT_REDO, comment="扫描件缺少客户签字页，请补充"), metadata=md("s-head"))
        self.assertEqual(resp.review.round, 1)
        f = flow()
        self.assertEqual(f.round, 2)
        self.assertEqual(f.step, tpb.FLOW_STEP_TRIGGERED)
        tasks = events.ListTasks(epb.ListTasksRequest(assignee_id="s1"), metadata=md()).tasks
        self.assertEqual([t.kind for t in tasks], [tpb.TASK_KIND_OWNER_UPLOAD])

    def test_4_specific_verdict_with_cited_evidence(self):
        signed = upload(b"b")
        self.assertEqual(flow().step, tpb.FLOW_STEP_OWNER_ACTION)
        resp = feedback.SubmitReview(fpb.SubmitReviewRequest(
            event=EVENT_NAME, verdict=tpb.VERDICT_MEETS, comment="签约前与交付团队确认了交期，补充了签字页",
            chosen_behaviours=["clarified_delivery_terms"], cited_evidence=[signed.name]), metadata=md("s-head"))
        self.assertTrue(resp.review.effective)
        self.assertEqual(resp.review.round, 2)
        self.assertIn("合同扫描件", resp.guidance.composed_sentence)
        self.assertEqual(flow().step, tpb.FLOW_STEP_MANAGER_FEEDBACK)
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, lambda: feedback.SubmitReview(
            fpb.SubmitReviewRequest(event=EVENT_NAME, verdict=tpb.VERDICT_REDO, comment="again"), metadata=md("s-head")))

    def test_5_the_last_confirmation_archives_the_chain_by_itself(self):
        confirm = fpb.ConfirmImpactRequest(event=EVENT_NAME, scopes=[fpb.IMPACT_SCOPE_DELIVERY], note="capacity ok")
        self.expect_error(grpc.StatusCode.PERMISSION_DENIED, lambda: feedback.ConfirmImpact(confirm, metadata=md("p-head")))
        self.assertEqual(flow().step, tpb.FLOW_STEP_MANAGER_FEEDBACK)
        # Verdict and evidence were in: the confirmation was the last piece, and
        # the chain is sealed and archived without anyone calling SealEvidence.
        feedback.ConfirmImpact(confirm, metadata=md("c-head"))
        f = flow()
        self.assertEqual(f.step, tpb.FLOW_STEP_ARCHIVED)
        self.assertEqual(f.verdict, tpb.VERDICT_MEETS)
        verified = evidence.VerifySeal(vpb.VerifySealRequest(event=EVENT_NAME), metadata=md("s1"))
        self.assertTrue(verified.intact)
        # SealEvidence stays for explicit use: it finds the seal.
        self.assertTrue(evidence.SealEvidence(vpb.SealEvidenceRequest(event=EVENT_NAME), metadata=md("s1")).already_sealed)
        self.expect_error(grpc.StatusCode.FAILED_PRECONDITION, lambda: feedback.SubmitReview(
            fpb.SubmitReviewRequest(event=EVENT_NAME, verdict=tpb.VERDICT_MEETS, comment="late"), metadata=md("s-head")),
            "archived")

    def test_6_audit_trail_and_stats(self):
        reviews = feedback.ListReviews(fpb.ListReviewsRequest(event=EVENT_NAME), metadata=md("s-head")).reviews
        self.assertEqual([(r.round, r.verdict) for r in reviews], [(1, tpb.VERDICT_REDO), (2, tpb.VERDICT_MEETS)])
        stats = feedback.GetFeedbackStats(fpb.GetFeedbackStatsRequest(), metadata=md("s-head"))
        self.assertEqual(stats.overall.reviews, 2)
        self.assertAlmostEqual(stats.overall.effective_rate, 0.5)
        self.assertAlmostEqual(stats.overall.redo_rate, 0.5)
        self.assertEqual([f.key for f in stats.by_reviewer], ["s-head"])

    def test_7_metrics(self):
        assert_metrics(self, scrape_metrics(FEEDBACK), [
            'perfflow_feedback_reviews_total{quality="effective",verdict="meets"} 1',
            'perfflow_feedback_reviews_total{quality="vague",verdict="redo"} 1',
            'perfflow_feedback_response_seconds_count 2',
            'perfflow_feedback_effective_ratio 0.5'])


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir")
