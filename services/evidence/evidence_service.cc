#include "services/evidence/evidence_service.h"

#include "common/status.h"
#include "common/timestamps.h"

namespace perfflow::evidence {
void ToProto(const EvidenceRow& row, v1::Evidence* out) {
  out->set_name("evidence/" + row.evidence_id);
  out->set_event("events/" + row.event_id);
  out->set_kind(row.kind);
  out->set_file_name(row.file_name);
  out->set_content_type(row.content_type);
  out->set_size_bytes(row.size_bytes);
  out->set_sha256(row.sha256);
  out->set_note(row.note);
  out->set_uploader_id(row.uploader_id);
  ToTimestamp(row.uploaded_at, out->mutable_uploaded_at());
  out->set_cosigned_by(row.cosigned_by);
  if (row.cosigned_at) ToTimestamp(*row.cosigned_at, out->mutable_cosigned_at());
  if (row.removed_at) ToTimestamp(*row.removed_at, out->mutable_removed_at());
  out->set_removed_reason(row.removed_reason);
}

void ToProto(const SealRow& seal, v1::Seal* out) {
  out->set_event("events/" + seal.event_id);
  out->set_digest(seal.digest);
  out->set_evidence_count(seal.evidence_count);
  ToTimestamp(seal.sealed_at, out->mutable_sealed_at());
}

grpc::Status EvidenceServiceImpl::UploadEvidence(grpc::ServerContext* ctx,
                                                 grpc::ServerReader<v1::UploadEvidenceRequest>* reader,
                                                 v1::UploadEvidenceResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  // On the sync API a cancelled call and an expired deadline end the reads
  // like a half-close does; IsCancelled() tells them apart.
  auto result = core_->Upload(
      rc, [reader](v1::UploadEvidenceRequest* msg) { return reader->Read(msg); },
      [ctx] { return !ctx->IsCancelled(); });
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToProto(result->row, resp->mutable_evidence());
  resp->set_deduplicated(result->deduplicated);
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::GetEvidence(grpc::ServerContext* ctx, const v1::GetEvidenceRequest* req,
                                              v1::GetEvidenceResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto row = core_->Get(rc, req->name());
  if (!row.ok()) return ToGrpcStatus(row.status());
  ToProto(*row, resp->mutable_evidence());
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::ListEvidence(grpc::ServerContext* ctx, const v1::ListEvidenceRequest* req,
                                               v1::ListEvidenceResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto rows = core_->List(rc, req->event());
  if (!rows.ok()) return ToGrpcStatus(rows.status());
  for (const auto& r : *rows) ToProto(r, resp->add_evidence());
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::DownloadEvidence(grpc::ServerContext* ctx, const v1::DownloadEvidenceRequest* req,
                                                   grpc::ServerWriter<v1::DownloadEvidenceResponse>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto row = core_->OpenForDownload(rc, req->name());
  if (!row.ok()) return ToGrpcStatus(row.status());
  v1::DownloadEvidenceResponse first;
  ToProto(*row, first.mutable_metadata());
  if (!writer->Write(first)) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  absl::Status s = core_->Download(rc, *row, [&](absl::string_view bytes) {
    v1::DownloadEvidenceResponse msg;
    msg.set_chunk(std::string(bytes));
    return !ctx->IsCancelled() && writer->Write(msg);
  });
  return ToGrpcStatus(s);
}

grpc::Status EvidenceServiceImpl::ListEvidenceAccess(grpc::ServerContext* ctx, const v1::ListEvidenceAccessRequest* req,
                                                     v1::ListEvidenceAccessResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto rows = core_->ListAccess(rc, *req);
  if (!rows.ok()) return ToGrpcStatus(rows.status());
  for (const AccessRow& a : *rows) {
    auto* out = resp->add_accesses();
    out->set_evidence("evidence/" + a.evidence_id);
    out->set_event("events/" + a.event_id);
    out->set_reader_id(a.reader_id);
    ToTimestamp(a.at, out->mutable_access_time());
  }
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::DeleteEvidence(grpc::ServerContext* ctx, const v1::DeleteEvidenceRequest* req,
                                                 v1::DeleteEvidenceResponse*) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return ToGrpcStatus(core_->Delete(rc, req->name()));
}

grpc::Status EvidenceServiceImpl::CosignEvidence(grpc::ServerContext* ctx, const v1::CosignEvidenceRequest* req,
                                                 v1::CosignEvidenceResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto row = core_->Cosign(rc, req->name());
  if (!row.ok()) return ToGrpcStatus(row.status());
  ToProto(*row, resp->mutable_evidence());
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::ValidateChain(grpc::ServerContext* ctx, const v1::ValidateChainRequest* req,
                                                v1::ValidateChainResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto validation = core_->Validate(rc, req->event());
  if (!validation.ok()) return ToGrpcStatus(validation.status());
  *resp->mutable_validation() = *std::move(validation);
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::SealEvidence(grpc::ServerContext* ctx, const v1::SealEvidenceRequest* req,
                                               v1::SealEvidenceResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto seal = core_->Seal(rc, req->event());
  if (!seal.ok()) return ToGrpcStatus(seal.status());
  ToProto(seal->seal, resp->mutable_seal());
  resp->set_already_sealed(seal->already_sealed);
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::VerifySeal(grpc::ServerContext* ctx, const v1::VerifySealRequest* req,
                                             v1::VerifySealResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto verified = core_->Verify(rc, req->event());
  if (!verified.ok()) return ToGrpcStatus(verified.status());
  resp->set_intact(verified->problems.empty());
  for (const auto& p : verified->problems) resp->add_problems(p);
  resp->set_removed(verified->removed);
  ToProto(verified->seal, resp->mutable_seal());
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::EvaluateGoal(grpc::ServerContext* ctx, const v1::EvaluateGoalRequest* req,
                                               v1::EvaluateGoalResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->EvaluateGoal(rc, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *resp = *std::move(result);
  return grpc::Status::OK;
}

// The rows' JSON, then each kept file's bytes under evidence/files/.
grpc::Status EvidenceServiceImpl::ExportPersonData(grpc::ServerContext* ctx,
                                                   const type::v1::ExportPersonDataRequest* req,
                                                   grpc::ServerWriter<type::v1::PersonDataPart>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (grpc::Status s = SendExport(core_->ExportPerson(rc, *req), writer); !s.ok()) return s;
  auto files = core_->PersonFiles(rc, *req);
  if (!files.ok()) return ToGrpcStatus(files.status());
  for (const EvidenceRow& row : *files) {
    const std::string path = EvidenceCore::ArchivePath(row);
    absl::Status s = core_->Download(
        rc, row, [&](absl::string_view bytes) { return !ctx->IsCancelled() && WritePart(path, bytes, writer); });
    if (!s.ok()) return ToGrpcStatus(s);
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  }
  return grpc::Status::OK;
}

grpc::Status EvidenceServiceImpl::ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                                              type::v1::ErasePersonResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendErased(core_->ErasePerson(rc, *req), resp);
}

}  // namespace perfflow::evidence
