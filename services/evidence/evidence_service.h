#pragma once

// gRPC surface of perfflow.evidence.v1.EvidenceService: reads the caller's
// context, calls EvidenceCore, converts rows to protos, maps the status once.

#include <memory>

#include "common/request_context.h"
#include "perfflow/evidence/v1/evidence_service.grpc.pb.h"
#include "services/evidence/evidence_core.h"

namespace perfflow::evidence {

class EvidenceServiceImpl final : public v1::EvidenceService::Service {
 public:
  EvidenceServiceImpl(std::shared_ptr<EvidenceCore> core, IdentityOptions identity)
      : core_(std::move(core)), identity_(identity) {}

  grpc::Status UploadEvidence(grpc::ServerContext* ctx, grpc::ServerReader<v1::UploadEvidenceRequest>* reader,
                              v1::UploadEvidenceResponse* resp) override;
  grpc::Status GetEvidence(grpc::ServerContext* ctx, const v1::GetEvidenceRequest* req,
                           v1::GetEvidenceResponse* resp) override;
  grpc::Status ListEvidence(grpc::ServerContext* ctx, const v1::ListEvidenceRequest* req,
                            v1::ListEvidenceResponse* resp) override;
  grpc::Status DownloadEvidence(grpc::ServerContext* ctx, const v1::DownloadEvidenceRequest* req,
                                grpc::ServerWriter<v1::DownloadEvidenceResponse>* writer) override;
  grpc::Status ListEvidenceAccess(grpc::ServerContext* ctx, const v1::ListEvidenceAccessRequest* req,
                                  v1::ListEvidenceAccessResponse* resp) override;
  grpc::Status DeleteEvidence(grpc::ServerContext* ctx, const v1::DeleteEvidenceRequest* req,
                              v1::DeleteEvidenceResponse* resp) override;
  grpc::Status CosignEvidence(grpc::ServerContext* ctx, const v1::CosignEvidenceRequest* req,
                              v1::CosignEvidenceResponse* resp) override;
  grpc::Status ValidateChain(grpc::ServerContext* ctx, const v1::ValidateChainRequest* req,
                             v1::ValidateChainResponse* resp) override;
  grpc::Status SealEvidence(grpc::ServerContext* ctx, const v1::SealEvidenceRequest* req,
                            v1::SealEvidenceResponse* resp) override;
  grpc::Status VerifySeal(grpc::ServerContext* ctx, const v1::VerifySealRequest* req,
                          v1::VerifySealResponse* resp) override;
  grpc::Status EvaluateGoal(grpc::ServerContext* ctx, const v1::EvaluateGoalRequest* req,
                            v1::EvaluateGoalResponse* resp) override;

  grpc::Status ExportPersonData(grpc::ServerContext* ctx, const type::v1::ExportPersonDataRequest* req,
                                grpc::ServerWriter<type::v1::PersonDataPart>* writer) override;
  grpc::Status ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                           type::v1::ErasePersonResponse* resp) override;

 private:
  std::shared_ptr<EvidenceCore> core_;
  IdentityOptions identity_;
};

void ToProto(const EvidenceRow& row, v1::Evidence* out);
void ToProto(const SealRow& seal, v1::Seal* out);

}  // namespace perfflow::evidence
