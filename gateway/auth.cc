#include "gateway/auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/db/migrations.h"
#include "common/db/time_columns.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/request_context.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "common/utf8.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace perfflow::gateway {
namespace {

namespace pb = google::protobuf;

absl::Status Unauthenticated(absl::string_view why) { return absl::UnauthenticatedError(why); }

std::optional<pb::Struct> ParseJsonObject(absl::string_view json) {
  pb::Struct s;
  if (!pb::util::JsonStringToMessage(std::string(json), &s).ok()) return std::nullopt;
  return s;
}

const pb::Value* Claim(const pb::Struct& claims, const std::string& name) {
  auto it = claims.fields().find(name);
  return it == claims.fields().end() ? nullptr : &it->second;
}

// A claim that is a string or a list of strings (or a comma-separated string).
std::vector<std::string> StringList(const pb::Value* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (v->has_string_value()) {
    for (absl::string_view part : absl::StrSplit(v->string_value(), ',', absl::SkipWhitespace())) {
      out.emplace_back(absl::StripAsciiWhitespace(part));
    }
  } else if (v->has_list_value()) {
    for (const pb::Value& item : v->list_value().values()) {
      if (item.has_string_value()) out.push_back(item.string_value());
    }
  }
  return out;
}

struct EvpKeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

bool VerifyRs256(EVP_PKEY* key, absl::string_view data, absl::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) std::abort();
  return out;
}

constexpr char kKeyPrefix[] = "pfk_";

const std::vector<db::Migration>& GatewayMigrations() {
  static const std::vector<db::Migration> kMigrations = {
      {1,
       "api keys",
       {
           "CREATE TABLE IF NOT EXISTS api_keys (key_id VARCHAR(32) NOT NULL, tenant_id VARCHAR(64) NOT NULL, "
           "key_hash CHAR(64) NOT NULL, display_name VARCHAR(256) NOT NULL, principal VARCHAR(128) NOT NULL, "
           "roles VARCHAR(256) NOT NULL, sources TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT, "
           "PRIMARY KEY (key_id))",
           "CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant_id, key_id)",
       }},
  };
  return kMigrations;
}

v1::ApiKey KeyFromRow(const db::Row& r) {
  // key_id, display_name, principal, roles, sources, created_at, revoked_at
  v1::ApiKey k;
  k.set_name("apiKeys/" + r.Str(0));
  k.set_display_name(r.Str(1));
  k.set_principal(r.Str(2));
  for (absl::string_view role : absl::StrSplit(r.Str(3), ',', absl::SkipEmpty())) k.add_roles(std::string(role));
  for (absl::string_view s : absl::StrSplit(r.Str(4), ',', absl::SkipEmpty())) k.add_allowed_sources(std::string(s));
  ToTimestamp(db::FromMs(r.Int(5)), k.mutable_create_time());
  if (!r.IsNull(6)) ToTimestamp(db::FromMs(r.Int(6)), k.mutable_revoke_time());
  k.set_prefix(kKeyPrefix + r.Str(0));
  return k;
}

constexpr char kKeyColumns[] = "key_id, display_name, principal, roles, sources, created_at, revoked_at";

bool IsName(absl::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != ':') {
      return false;
    }
  }
  return true;
}

}  // namespace

Principal SystemPrincipal(const std::string& tenant, const std::string& subject, const std::string& credential) {
  Principal p;
  p.tenant = tenant;
  p.subject = subject;
  p.roles = {"system"};
  p.credential = credential;
  return p;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

bool IsKnownRole(absl::string_view role) {
  return role == "employee" || role == "manager" || role == "hr" || role == "admin" || role == "system";
}

// ------------------------------------------------------------------- JWT

struct JwtVerifier::Issuer {
  v1::JwtIssuer config;
  std::string secret;                                   // HS256
  std::unique_ptr<EVP_PKEY, EvpKeyDeleter> public_key;  // RS256
};

JwtVerifier::JwtVerifier(std::map<std::string, std::unique_ptr<Issuer>> issuers) : issuers_(std::move(issuers)) {}
JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(const std::vector<v1::JwtIssuer>& configs,
                                                                 const EnvLookup& env) {
  std::map<std::string, std::unique_ptr<Issuer>> issuers;
  for (const v1::JwtIssuer& c : configs) {
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("jwt issuer \"", c.issuer(), "\": ", why));
    };
    if (c.issuer().empty()) return bad("issuer is required");
    if (c.audiences().empty()) return bad("at least one audience is required");
    if (issuers.count(c.issuer())) return bad("listed twice");
    auto issuer = std::make_unique<Issuer>();
    issuer->config = c;
    if (c.algorithm() == v1::JWT_ALGORITHM_HS256) {
      if (c.secret_env().empty()) return bad("HS256 needs secret_env");
      std::optional<std::string> secret = env(c.secret_env());
      if (!secret || secret->size() < 32) {
        return bad("environment variable " + c.secret_env() + " must hold a secret of at least 32 bytes");
      }
      issuer->secret = *secret;
    } else if (c.algorithm() == v1::JWT_ALGORITHM_RS256) {
      auto pem = ReadTextFile(c.public_key_file());
      if (!pem.ok()) return bad("public_key_file: " + std::string(pem.status().message()));
      const std::string& text = *pem;
      BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
      issuer->public_key.reset(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
      BIO_free(bio);
      if (!issuer->public_key || EVP_PKEY_base_id(issuer->public_key.get()) != EVP_PKEY_RSA) {
        return bad("public_key_file is not a PEM RSA public key");
      }
    } else {
      return bad("algorithm must be HS256 or RS256");
    }
    issuers.emplace(c.issuer(), std::move(issuer));
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(issuers)));
}

absl::StatusOr<Principal> JwtVerifier::Verify(absl::string_view token, absl::Time now) const {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Unauthenticated("malformed bearer token");
  std::optional<std::string> header_json = Base64UrlDecode(parts[0]);
  std::optional<std::string> claims_json = Base64UrlDecode(parts[1]);
  std::optional<std::string> signature = Base64UrlDecode(parts[2]);
  if (!header_json || !claims_json || !signature) return Unauthenticated("malformed bearer token");
  std::optional<pb::Struct> header = ParseJsonObject(*header_json);
  std::optional<pb::Struct> claims = ParseJsonObject(*claims_json);
  if (!header || !claims) return Unauthenticated("malformed bearer token");

  const pb::Value* iss = Claim(*claims, "iss");
  auto it = iss != nullptr ? issuers_.find(iss->string_value()) : issuers_.end();
  if (it == issuers_.end()) return Unauthenticated("token from an unknown issuer");
  const Issuer& issuer = *it->second;
  const pb::Value* alg = Claim(*header, "alg");
  const std::string expected = issuer.config.algorithm() == v1::JWT_ALGORITHM_HS256 ? "HS256" : "RS256";
  if (alg == nullptr || alg->string_value() != expected) return Unauthenticated("token algorithm is not " + expected);

  const std::string signed_part = absl::StrCat(parts[0], ".", parts[1]);
  bool valid = issuer.config.algorithm() == v1::JWT_ALGORITHM_HS256
                   ? ConstantTimeEquals(HmacSha256(issuer.secret, signed_part), *signature)
                   : VerifyRs256(issuer.public_key.get(), signed_part, *signature);
  if (!valid) return Unauthenticated("bad token signature");

  const absl::Duration leeway = absl::Seconds(issuer.config.leeway_seconds() > 0 ? issuer.config.leeway_seconds() : 30);
  const pb::Value* exp = Claim(*claims, "exp");
  if (exp == nullptr || !exp->has_number_value()) return Unauthenticated("token without exp");
  if (now >= absl::FromUnixSeconds(static_cast<int64_t>(exp->number_value())) + leeway) {
    return Unauthenticated("token expired");
  }
  const pb::Value* nbf = Claim(*claims, "nbf");
  if (nbf != nullptr && now + leeway < absl::FromUnixSeconds(static_cast<int64_t>(nbf->number_value()))) {
    return Unauthenticated("token not valid yet (nbf)");
  }
  bool audience_ok = false;
  for (const std::string& aud : StringList(Claim(*claims, "aud"))) {
    for (const std::string& accepted : issuer.config.audiences()) audience_ok = audience_ok || aud == accepted;
  }
  if (!audience_ok) return Unauthenticated("token audience is not accepted here");

  auto claim_name = [](const std::string& configured, const char* fallback) {
    return configured.empty() ? std::string(fallback) : configured;
  };
  Principal p;
  const pb::Value* tenant = Claim(*claims, claim_name(issuer.config.tenant_claim(), "tenant"));
  const pb::Value* subject = Claim(*claims, claim_name(issuer.config.principal_claim(), "sub"));
  p.tenant = tenant != nullptr ? tenant->string_value() : "";
  p.subject = subject != nullptr ? subject->string_value() : "";
  if (!IsValidTenant(p.tenant)) return Unauthenticated("token without a valid tenant claim");
  if (p.subject.empty()) return Unauthenticated("token without a subject");
  // Any language's user ids are welcome (张伟); control characters and
  // broken UTF-8 name nobody.
  if (p.subject.size() > 256 || !IsPrintableUtf8(p.subject)) {
    return Unauthenticated("token subject must be at most 256 bytes of printable UTF-8");
  }
  for (const std::string& role : StringList(Claim(*claims, claim_name(issuer.config.roles_claim(), "roles")))) {
    if (IsKnownRole(role)) p.roles.push_back(role);
  }
  if (p.roles.empty()) p.roles.push_back("employee");
  p.credential = absl::StrCat("jwt:", issuer.config.issuer(), ":", p.tenant, ":", p.subject);
  p.expires_at = absl::FromUnixSeconds(static_cast<int64_t>(exp->number_value()));
  return p;
}

// ---------------------------------------------------------------- API keys

absl::StatusOr<std::shared_ptr<ApiKeyStore>> ApiKeyStore::Open(std::shared_ptr<db::Database> database) {
  if (absl::Status s = db::ApplyMigrations(*database, "gateway", GatewayMigrations()); !s.ok()) return s;
  return std::shared_ptr<ApiKeyStore>(new ApiKeyStore(std::move(database)));
}

absl::StatusOr<ApiKeyStore::Created> ApiKeyStore::Create(const std::string& tenant, const v1::CreateApiKeyRequest& req,
                                                         absl::Time now) {
  std::vector<FieldViolation> violations;
  if (req.display_name().empty() || req.display_name().size() > 256) {
    violations.push_back({"display_name", "1-256 characters required"});
  }
  if (!IsName(req.principal(), 128)) {
    violations.push_back({"principal", "1-128 characters of [A-Za-z0-9_.:-] required"});
  }
  if (req.roles().empty()) violations.push_back({"roles", "at least one role"});
  for (int i = 0; i < req.roles_size(); ++i) {
    if (!IsKnownRole(req.roles(i))) {
      violations.push_back({absl::StrCat("roles[", i, "]"), "one of employee, manager, hr, admin, system"});
    }
  }
  for (int i = 0; i < req.allowed_sources_size(); ++i) {
    if (!IsName(req.allowed_sources(i), 64)) {
      violations.push_back({absl::StrCat("allowed_sources[", i, "]"), "malformed source name"});
    }
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid API key request", violations);

  Created created;
  const std::string id = RandomId().substr(0, 16);
  created.key = absl::StrCat(kKeyPrefix, id, "_", Base64UrlEncode(RandomBytes(32)));
  const std::string roles = absl::StrJoin(req.roles(), ",");
  const std::string sources = absl::StrJoin(req.allowed_sources(), ",");
  absl::Status s = db_->RunInTransaction([&](db::Transaction& tx) -> absl::Status {
    return tx
        .Execute(
            "INSERT INTO api_keys (key_id, tenant_id, key_hash, display_name, principal, roles, sources, "
            "created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            {id, tenant, Sha256Hex(created.key), req.display_name(), req.principal(), roles, sources, db::Ms(now)})
        .status();
  });
  if (!s.ok()) return s;
  created.api_key = KeyFromRow(
      db::Row({id, req.display_name(), req.principal(), roles, sources, std::to_string(db::Ms(now)), std::nullopt}));
  return created;
}

absl::StatusOr<v1::ListApiKeysResponse> ApiKeyStore::List(const std::string& tenant, int page_size,
                                                          const std::string& page_token) {
  if (page_size < 0 || page_size > 1000) {
    return InvalidArgumentWithViolations("invalid page size", {{"page_size", "0-1000"}});
  }
  if (!page_token.empty() && !IsName(page_token, 32)) {
    return InvalidArgumentWithViolations("invalid page token", {{"page_token", "malformed"}});
  }
  const int limit = page_size == 0 ? 100 : page_size;
  v1::ListApiKeysResponse resp;
  absl::Status s = db_->RunInTransaction([&](db::Transaction& tx) -> absl::Status {
    resp.Clear();
    auto rows = tx.Query(absl::StrCat("SELECT ", kKeyColumns,
                                      " FROM api_keys WHERE tenant_id = ? AND key_id > ? ORDER BY key_id LIMIT ?"),
                         {tenant, page_token, int64_t{limit + 1}});
    if (!rows.ok()) return rows.status();
    for (size_t i = 0; i < rows->size() && static_cast<int>(i) < limit; ++i) {
      *resp.add_api_keys() = KeyFromRow((*rows)[i]);
    }
    if (static_cast<int>(rows->size()) > limit) resp.set_next_page_token((*rows)[limit - 1].Str(0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ApiKey> ApiKeyStore::Revoke(const std::string& tenant, const std::string& name, absl::Time now) {
  if (!absl::StartsWith(name, "apiKeys/") || !IsName(name.substr(8), 32)) {
    return InvalidArgumentWithViolations("invalid key name", {{"name", "expected apiKeys/{id}"}});
  }
  const std::string id = name.substr(8);
  v1::ApiKey key;
  absl::Status s = db_->RunInTransaction([&](db::Transaction& tx) -> absl::Status {
    auto updated =
        tx.Execute("UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND key_id = ? AND revoked_at IS NULL",
                   {db::Ms(now), tenant, id});
    if (!updated.ok()) return updated.status();
    auto rows = tx.Query(absl::StrCat("SELECT ", kKeyColumns, " FROM api_keys WHERE tenant_id = ? AND key_id = ?"),
                         {tenant, id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::NotFoundError(name + " not found");
    key = KeyFromRow(rows->front());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  cache_.clear();
  return key;
}

absl::StatusOr<Principal> ApiKeyStore::Authenticate(absl::string_view key, absl::Time now) {
  if (!absl::StartsWith(key, kKeyPrefix) || key.size() > 128) return Unauthenticated("malformed API key");
  std::vector<std::string> parts = absl::StrSplit(key.substr(sizeof(kKeyPrefix) - 1), absl::MaxSplits('_', 1));
  if (parts.size() != 2 || !IsName(parts[0], 32)) return Unauthenticated("malformed API key");
  const std::string hash = Sha256Hex(key);
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now < it->second.second) return it->second.first;
  }
  Principal p;
  absl::Status s = db_->RunInTransaction([&](db::Transaction& tx) -> absl::Status {
    auto rows = tx.Query(
        "SELECT tenant_id, key_hash, principal, roles, sources, revoked_at FROM api_keys WHERE key_id = ?", {parts[0]});
    if (!rows.ok()) return rows.status();
    if (rows->empty() || !ConstantTimeEquals(rows->front().Str(1), hash)) return Unauthenticated("unknown API key");
    const db::Row& r = rows->front();
    if (!r.IsNull(5)) return Unauthenticated("API key revoked");
    p.tenant = r.Str(0);
    p.subject = r.Str(2);
    p.roles = absl::StrSplit(r.Str(3), ',', absl::SkipEmpty());
    p.allowed_sources = absl::StrSplit(r.Str(4), ',', absl::SkipEmpty());
    p.credential = "api_key:" + parts[0];
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (cache_.size() > 10000) cache_.clear();
  cache_[hash] = {p, now + cache_ttl_};
  return p;
}

}  // namespace perfflow::gateway
