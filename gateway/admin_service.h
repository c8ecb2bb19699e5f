#pragma once

// perfflow.gateway.v1.GatewayAdminService: API keys of the caller's tenant.
// Hosted in-process behind the same door as every service (the gateway
// authenticates, checks the admin role and forwards the identity).

#include <memory>

#include "common/clock.h"
#include "common/request_context.h"
#include "gateway/auth.h"
#include "perfflow/gateway/v1/gateway_service.grpc.pb.h"

namespace perfflow::gateway {

class GatewayAdminServiceImpl final : public v1::GatewayAdminService::Service {
 public:
  GatewayAdminServiceImpl(std::shared_ptr<ApiKeyStore> keys, std::shared_ptr<const Clock> clock,
                          IdentityOptions identity)
      : keys_(std::move(keys)), clock_(std::move(clock)), identity_(identity) {}

  grpc::Status CreateApiKey(grpc::ServerContext* ctx, const v1::CreateApiKeyRequest* req,
                            v1::CreateApiKeyResponse* resp) override;
  grpc::Status ListApiKeys(grpc::ServerContext* ctx, const v1::ListApiKeysRequest* req,
                           v1::ListApiKeysResponse* resp) override;
  grpc::Status RevokeApiKey(grpc::ServerContext* ctx, const v1::RevokeApiKeyRequest* req, v1::ApiKey* resp) override;

 private:
  std::shared_ptr<ApiKeyStore> keys_;
  std::shared_ptr<const Clock> clock_;
  IdentityOptions identity_;
};

}  // namespace perfflow::gateway
