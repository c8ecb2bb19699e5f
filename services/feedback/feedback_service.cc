#include "services/feedback/feedback_service.h"

#include "common/status.h"
#include "common/timestamps.h"

namespace perfflow::feedback {

void ToProto(const ReviewRow& row, v1::Review* out) {
  out->set_name("reviews/" + row.review_id);
  out->set_event("events/" + row.event_id);
  out->set_round(row.round);
  out->set_verdict(static_cast<perfflow::type::v1::Verdict>(row.verdict));
  out->set_reviewer_id(row.reviewer_id);
  out->set_comment(row.comment);
  for (const auto& b : row.behaviours) out->add_behaviours(b);
  for (const auto& e : row.cited_evidence) out->add_cited_evidence(e);
  out->set_specificity(row.specificity);
  out->set_effective(row.effective);
  ToTimestamp(row.created_at, out->mutable_created_at());
  out->set_response_seconds(absl::ToDoubleSeconds(row.response));
  out->set_subject_id(row.subject_id);
  out->set_department_id(row.department_id);
}

grpc::Status FeedbackServiceImpl::SubmitReview(grpc::ServerContext* ctx, const v1::SubmitReviewRequest* req,
                                               v1::SubmitReviewResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->SubmitReview(rc, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  if (result->first) ToProto(*result->first, resp->mutable_review());
  *resp->mutable_guidance() = std::move(result->second);
  return grpc::Status::OK;
}

grpc::Status FeedbackServiceImpl::ListReviews(grpc::ServerContext* ctx, const v1::ListReviewsRequest* req,
                                              v1::ListReviewsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto rows = core_->ListReviews(rc, req->event());
  if (!rows.ok()) return ToGrpcStatus(rows.status());
  for (const auto& r : *rows) ToProto(r, resp->add_reviews());
  return grpc::Status::OK;
}

grpc::Status FeedbackServiceImpl::ConfirmImpact(grpc::ServerContext* ctx, const v1::ConfirmImpactRequest* req,
                                                v1::ConfirmImpactResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto row = core_->ConfirmImpact(rc, *req);
  if (!row.ok()) return ToGrpcStatus(row.status());
  auto* c = resp->mutable_confirmation();
  c->set_event("events/" + row->event_id);
  for (int s : row->scopes) c->add_scopes(static_cast<v1::ImpactScope>(s));
  c->set_note(row->note);
  c->set_confirmer_id(row->confirmer_id);
  ToTimestamp(row->confirmed_at, c->mutable_confirmed_at());
  return grpc::Status::OK;
}

grpc::Status FeedbackServiceImpl::GetFeedbackStats(grpc::ServerContext* ctx, const v1::GetFeedbackStatsRequest* req,
                                                   v1::GetFeedbackStatsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto stats = core_->Stats(rc, *req);
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *resp = *std::move(stats);
  return grpc::Status::OK;
}

grpc::Status FeedbackServiceImpl::AnalyzeFeedback(grpc::ServerContext* ctx, const v1::AnalyzeFeedbackRequest* req,
                                                  v1::AnalyzeFeedbackResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto analysis = core_->Analyze(rc, *req);
  if (!analysis.ok()) return ToGrpcStatus(analysis.status());
  *resp = *std::move(analysis);
  return grpc::Status::OK;
}

grpc::Status FeedbackServiceImpl::ExportPersonData(grpc::ServerContext* ctx,
                                                   const type::v1::ExportPersonDataRequest* req,
                                                   grpc::ServerWriter<type::v1::PersonDataPart>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendExport(core_->ExportPerson(rc, *req), writer);
}

grpc::Status FeedbackServiceImpl::ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                                              type::v1::ErasePersonResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendErased(core_->ErasePerson(rc, *req), resp);
}

}  // namespace perfflow::feedback
