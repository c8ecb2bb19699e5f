#pragma once

// gRPC surface of perfflow.feedback.v1.FeedbackService.

#include <memory>

#include "common/request_context.h"
#include "perfflow/feedback/v1/feedback_service.grpc.pb.h"
#include "services/feedback/feedback_core.h"

namespace perfflow::feedback {

class FeedbackServiceImpl final : public v1::FeedbackService::Service {
 public:
  FeedbackServiceImpl(std::shared_ptr<FeedbackCore> core, IdentityOptions identity)
      : core_(std::move(core)), identity_(identity) {}

  grpc::Status SubmitReview(grpc::ServerContext* ctx, const v1::SubmitReviewRequest* req,
                            v1::SubmitReviewResponse* resp) override;
  grpc::Status ListReviews(grpc::ServerContext* ctx, const v1::ListReviewsRequest* req,
                           v1::ListReviewsResponse* resp) override;
  grpc::Status ConfirmImpact(grpc::ServerContext* ctx, const v1::ConfirmImpactRequest* req,
                             v1::ConfirmImpactResponse* resp) override;
  grpc::Status GetFeedbackStats(grpc::ServerContext* ctx, const v1::GetFeedbackStatsRequest* req,
                                v1::GetFeedbackStatsResponse* resp) override;
  grpc::Status AnalyzeFeedback(grpc::ServerContext* ctx, const v1::AnalyzeFeedbackRequest* req,
                               v1::AnalyzeFeedbackResponse* resp) override;

  grpc::Status ExportPersonData(grpc::ServerContext* ctx, const type::v1::ExportPersonDataRequest* req,
                                grpc::ServerWriter<type::v1::PersonDataPart>* writer) override;
  grpc::Status ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                           type::v1::ErasePersonResponse* resp) override;

 private:
  std::shared_ptr<FeedbackCore> core_;
  IdentityOptions identity_;
};

void ToProto(const ReviewRow& row, v1::Review* out);

}  // namespace perfflow::feedback
