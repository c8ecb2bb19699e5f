#include "gateway/admin_service.h"

#include "common/status.h"

namespace perfflow::gateway {
namespace {

absl::Status RequireAdmin(const RequestContext& rc) {
  if (HasRole(rc, "admin")) return absl::OkStatus();
  return absl::PermissionDeniedError("API keys are managed by the tenant's admins");
}

}  // namespace

grpc::Status GatewayAdminServiceImpl::CreateApiKey(grpc::ServerContext* ctx, const v1::CreateApiKeyRequest* req,
                                                   v1::CreateApiKeyResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireAdmin(rc); !s.ok()) return ToGrpcStatus(s);
  auto created = keys_->Create(rc.tenant, *req, clock_->Now());
  if (!created.ok()) return ToGrpcStatus(created.status());
  *resp->mutable_api_key() = created->api_key;
  resp->set_key(created->key);
  return grpc::Status::OK;
}

grpc::Status GatewayAdminServiceImpl::ListApiKeys(grpc::ServerContext* ctx, const v1::ListApiKeysRequest* req,
                                                  v1::ListApiKeysResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireAdmin(rc); !s.ok()) return ToGrpcStatus(s);
  auto listed = keys_->List(rc.tenant, req->page_size(), req->page_token());
  if (!listed.ok()) return ToGrpcStatus(listed.status());
  *resp = *std::move(listed);
  return grpc::Status::OK;
}

grpc::Status GatewayAdminServiceImpl::RevokeApiKey(grpc::ServerContext* ctx, const v1::RevokeApiKeyRequest* req,
                                                   v1::ApiKey* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireAdmin(rc); !s.ok()) return ToGrpcStatus(s);
  auto revoked = keys_->Revoke(rc.tenant, req->name(), clock_->Now());
  if (!revoked.ok()) return ToGrpcStatus(revoked.status());
  *resp = *std::move(revoked);
  return grpc::Status::OK;
}

}  // namespace perfflow::gateway
