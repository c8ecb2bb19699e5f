#pragma once

// Who is calling the gateway: API keys for systems (stored hashed, scoped to
// a tenant, roles and webhook sources) and bearer JWTs for people (HS256 and
// RS256, algorithm pinned per issuer; iss, aud, exp and nbf checked).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/db/database.h"
#include "perfflow/gateway/v1/gateway_config.pb.h"
#include "perfflow/gateway/v1/gateway_service.pb.h"

namespace perfflow::gateway {

struct Principal {
  std::string tenant;
  // Employee id (JWT subject) or the API key's principal.
  std::string subject;
  std::vector<std::string> roles;
  // API keys only: webhook sources / event sources the key may ingest for.
  std::vector<std::string> allowed_sources;
  // "jwt:<issuer>", "api_key:<id>" or "webhook:<source>": the rate-limit key.
  std::string credential;
  // A token's exp; infinite for API keys.
  absl::Time expires_at = absl::InfiniteFuture();
};

// The gateway acting for itself in `tenant` (webhooks, display names on
// pages): role system, named `subject`, rate-limited as `credential`.
Principal SystemPrincipal(const std::string& tenant, const std::string& subject, const std::string& credential = "");

// Reads environment variables; tests substitute a map.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();

class JwtVerifier {
 public:
  // InvalidArgument naming the issuer when its configuration is incomplete
  // (no audience, missing secret variable, unreadable public key, ...).
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(const std::vector<v1::JwtIssuer>& issuers,
                                                             const EnvLookup& env);
  ~JwtVerifier();

  // Unauthenticated with the reason (never the token) on any failure.
  absl::StatusOr<Principal> Verify(absl::string_view token, absl::Time now) const;

 private:
  struct Issuer;
  explicit JwtVerifier(std::map<std::string, std::unique_ptr<Issuer>> issuers);
  std::map<std::string, std::unique_ptr<Issuer>> issuers_;
};

// API keys in the gateway's own table. A key reads "pfk_<id>_<secret>"; only
// SHA-256(key) is stored, compared in constant time.
class ApiKeyStore {
 public:
  static absl::StatusOr<std::shared_ptr<ApiKeyStore>> Open(std::shared_ptr<db::Database> database);

  struct Created {
    v1::ApiKey api_key;
    std::string key;
  };
  // InvalidArgument with field violations for unknown roles or bad names.
  absl::StatusOr<Created> Create(const std::string& tenant, const v1::CreateApiKeyRequest& request, absl::Time now);
  absl::StatusOr<v1::ListApiKeysResponse> List(const std::string& tenant, int page_size, const std::string& page_token);
  // NotFound for another tenant's key.
  absl::StatusOr<v1::ApiKey> Revoke(const std::string& tenant, const std::string& name, absl::Time now);

  // Unauthenticated for unknown, malformed or revoked keys. Successful
  // lookups are cached for `cache_ttl` (revocation reaches other gateway
  // replicas within that time; this replica forgets at once).
  absl::StatusOr<Principal> Authenticate(absl::string_view key, absl::Time now);

  void set_cache_ttl(absl::Duration ttl) { cache_ttl_ = ttl; }

 private:
  explicit ApiKeyStore(std::shared_ptr<db::Database> database) : db_(std::move(database)) {}

  std::shared_ptr<db::Database> db_;
  absl::Duration cache_ttl_ = absl::Seconds(10);
  absl::Mutex mu_;
  std::map<std::string, std::pair<Principal, absl::Time>> cache_ ABSL_GUARDED_BY(mu_);  // by key hash
};

// The roles the gateway knows: employee, manager, hr, admin, system.
bool IsKnownRole(absl::string_view role);

}  // namespace perfflow::gateway
