// The gateway's pieces without a network: path templates and the route table
// built from the real service annotations, transcoding, webhook signatures
// and payload mapping, JWT checks, API keys on SQLite, and the token bucket.

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/db/database.h"
#include "common/token_bucket.h"
#include "gateway/action_pages.h"
#include "gateway/auth.h"
#include "gateway/door.h"
#include "gateway/routes.h"
#include "gateway/transcode.h"
#include "gateway/webhooks.h"
#include "httplib.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"
#include "perfflow/gateway/v1/gateway_service.pb.h"
#include "prometheus/registry.h"

namespace perfflow::gateway {
namespace {

namespace ev1 = perfflow::event::v1;

Router ServiceRouter() {
  auto router = Router::Build({
      ev1::GetEventRequest::descriptor()->file()->FindServiceByName("EventService"),
      evidence::v1::GetEvidenceRequest::descriptor()->file()->FindServiceByName("EvidenceService"),
      feedback::v1::SubmitReviewRequest::descriptor()->file()->FindServiceByName("FeedbackService"),
      calibration::v1::GetSessionRequest::descriptor()->file()->FindServiceByName("CalibrationService"),
      v1::ApiKey::descriptor()->file()->FindServiceByName("GatewayAdminService"),
  });
  EXPECT_TRUE(router.ok()) << router.status();
  return *std::move(router);
}

TEST(PathTemplateTest, ParsesAndMatchesVariablesAndVerbs) {
  auto t = PathTemplate::Parse("/v1/{name=events/*}:seal");
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<std::pair<std::string, std::string>> b;
  EXPECT_TRUE(t->Match({"v1", "events", "abc"}, "seal", &b));
  EXPECT_EQ(b, (std::vector<std::pair<std::string, std::string>>{{"name", "events/abc"}}));
  EXPECT_FALSE(t->Match({"v1", "events", "abc"}, "", &b));
  EXPECT_FALSE(t->Match({"v1", "other", "abc"}, "seal", &b));
  EXPECT_FALSE(t->Match({"v1", "events", ""}, "seal", &b));

  auto tail = PathTemplate::Parse("/v1/files/{path=**}");
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->Match({"v1", "files", "a", "b", "c"}, "", &b));
  EXPECT_EQ(b[0].second, "a/b/c");
}

TEST(PathTemplateTest, RejectsMalformedTemplates) {
  for (const char* bad : {"v1/x", "/v1/{name", "/v1/{=x}", "/v1//x", "/v1/**/x", "/v1/x:", "/v1/{a}b"}) {
    EXPECT_FALSE(PathTemplate::Parse(bad).ok()) << bad;
  }
}

TEST(RouterTest, EveryAnnotatedMethodHasARouteAndRoles) {
  Router router = ServiceRouter();
  EXPECT_GE(router.routes().size(), 40u);
  RouteMatch m = router.Find("GET", "/v1/events/0123");
  ASSERT_EQ(m.result, RouteMatch::kFound);
  EXPECT_EQ(m.route->grpc_path, "/perfflow.event.v1.EventService/GetEvent");
  // Verbs win over the plain resource route.
  m = router.Find("GET", "/v1/events/0123:verifySeal");
  ASSERT_EQ(m.result, RouteMatch::kFound);
  EXPECT_EQ(m.route->grpc_path, "/perfflow.evidence.v1.EvidenceService/VerifySeal");
  m = router.Find("POST", "/v1/eventTypes:apply");
  ASSERT_EQ(m.result, RouteMatch::kFound);
  EXPECT_EQ(m.route->allowed_roles, std::vector<std::string>{"admin"});
  // Percent-escapes are decoded within a segment.
  m = router.Find("GET", "/v1/employees/a%2Fb");
  ASSERT_EQ(m.result, RouteMatch::kFound);
  EXPECT_EQ(m.bindings[0].second, "a/b");
}

TEST(RouterTest, DistinguishesNotFoundFromMethodNotAllowed) {
  Router router = ServiceRouter();
  EXPECT_EQ(router.Find("GET", "/v1/nothing").result, RouteMatch::kNotFound);
  EXPECT_EQ(router.Find("GET", "/v1/employees/%zz").result, RouteMatch::kNotFound);
  RouteMatch m = router.Find("DELETE", "/v1/registry");
  EXPECT_EQ(m.result, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, std::vector<std::string>{"GET"});
}

TEST(TranscodeTest, BuildsRequestsFromPathQueryAndBody) {
  Router router = ServiceRouter();
  RouteMatch m = router.Find("GET", "/v1/events");
  ev1::ListEventsRequest list;
  std::multimap<std::string, std::string> query = {{"subject_id", "e1"},
                                                   {"pageSize", "5"},
                                                   {"step", "FLOW_STEP_OWNER_ACTION"},
                                                   {"start_time", "2026-01-01T00:00:00Z"}};
  ASSERT_TRUE(BuildRequest(m, query, "", &list).ok());
  EXPECT_EQ(list.subject_id(), "e1");
  EXPECT_EQ(list.page_size(), 5);
  EXPECT_EQ(list.step(), type::v1::FLOW_STEP_OWNER_ACTION);
  EXPECT_EQ(list.start_time().seconds(), 1767225600);

  for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
           {"page_size", "x"}, {"step", "NOPE"}, {"start_time", "yesterday"}, {"unknown", "1"}}) {
    ev1::ListEventsRequest bad;
    absl::Status s = BuildRequest(m, {{field, value}}, "", &bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s;
  }

  RouteMatch step = router.Find("POST", "/v1/events/abc:recordStep");
  ev1::RecordFlowStepRequest rec;
  ASSERT_TRUE(BuildRequest(step, {}, R"({"stepId":"s1","actor_id":"e1"})", &rec).ok());
  EXPECT_EQ(rec.event(), "events/abc");
  EXPECT_EQ(rec.step_id(), "s1");
  EXPECT_EQ(rec.actor_id(), "e1");
  EXPECT_FALSE(BuildRequest(step, {}, R"({"stepId":)", &rec).ok());
  EXPECT_FALSE(BuildRequest(step, {}, R"({"noSuchField":1})", &rec).ok());
  EXPECT_FALSE(BuildRequest(step, {{"step_id", "x"}}, "{}", &rec).ok());
}

TEST(TranscodeTest, ErrorsCarryCodeNameAndDetails) {
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::ALREADY_EXISTS), 409);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  std::string json = ErrorJson(grpc::Status(grpc::StatusCode::NOT_FOUND, "events/x not found"));
  EXPECT_NE(json.find(R"("status":"NOT_FOUND")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("code":5)"), std::string::npos) << json;
}

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

v1::WebhookSource StandardSource() {
  v1::WebhookSource s;
  s.set_name("crm");
  s.set_tenant("t1");
  s.set_scheme(v1::WEBHOOK_SCHEME_STANDARD);
  s.add_secret_envs("OLD");
  s.add_secret_envs("NEW");
  s.mutable_mapping()->set_external_id("/deal/id");
  s.mutable_mapping()->set_fixed_event_type("crm.contract_signed");
  s.mutable_mapping()->set_subject_id("/deal/owner");
  (*s.mutable_mapping()->mutable_attributes())["value"] = "/deal/amount";
  return s;
}

std::string StandardSignature(const std::string& secret, const std::string& id, int64_t ts, const std::string& body) {
  return "v1," + Base64Encode(HmacSha256(secret, absl::StrCat(id, ".", ts, ".", body)));
}

TEST(WebhookTest, StandardSchemeWithRotationWindowAndTampering) {
  auto sources = WebhookSources::Create({StandardSource()},
                                        FakeEnv({{"OLD", "old-secret"}, {"NEW", "whsec_" + Base64Encode("new")}}));
  ASSERT_TRUE(sources.ok()) << sources.status();
  const WebhookSource& crm = *sources->Find("crm");
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  const std::string body = R"({"deal":{"id":"D1","owner":"e1","amount":5}})";
  std::map<std::string, std::string> headers = {{"webhook-id", "m1"}, {"webhook-timestamp", "1800000000"}};
  auto header = [&headers](const std::string& n) { return headers.count(n) ? headers[n] : ""; };
  for (const std::string secret : {"old-secret", "new"}) {
    headers["webhook-signature"] = "v1,bogus " + StandardSignature(secret, "m1", 1800000000, body);
    auto id = VerifyWebhook(crm, header, body, now);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, "m1");
  }
  EXPECT_EQ(VerifyWebhook(crm, header, body + " ", now).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(VerifyWebhook(crm, header, body, now + absl::Seconds(300)).ok());
  auto stale = VerifyWebhook(crm, header, body, now + absl::Seconds(301));
  EXPECT_NE(stale.status().message().find("stale"), std::string::npos);
  headers["webhook-signature"] = StandardSignature("other", "m1", 1800000000, body);
  EXPECT_FALSE(VerifyWebhook(crm, header, body, now).ok());
}

TEST(WebhookTest, GithubScheme) {
  v1::WebhookSource config = StandardSource();
  config.set_scheme(v1::WEBHOOK_SCHEME_GITHUB);
  config.mutable_secret_envs()->RemoveLast();
  auto sources = WebhookSources::Create({config}, FakeEnv({{"OLD", "gh"}}));
  ASSERT_TRUE(sources.ok()) << sources.status();
  const std::string body = "{}";
  std::map<std::string, std::string> headers = {
      {"X-GitHub-Delivery", "d-1"},
      {"X-Hub-Signature-256", "sha256=" + absl::BytesToHexString(HmacSha256("gh", body))}};
  auto header = [&headers](const std::string& n) { return headers.count(n) ? headers[n] : ""; };
  auto id = VerifyWebhook(*sources->Find("crm"), header, body, absl::Now());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "d-1");
  headers.erase("X-GitHub-Delivery");
  EXPECT_FALSE(VerifyWebhook(*sources->Find("crm"), header, body, absl::Now()).ok());
}

TEST(WebhookTest, ConfigurationErrorsNameTheSource) {
  v1::WebhookSource no_mapping = StandardSource();
  no_mapping.mutable_mapping()->clear_subject_id();
  auto s = WebhookSources::Create({no_mapping}, FakeEnv({{"OLD", "a"}, {"NEW", "b"}}));
  EXPECT_NE(s.status().message().find("crm"), std::string::npos);
  EXPECT_FALSE(WebhookSources::Create({StandardSource()}, FakeEnv({{"OLD", "a"}})).ok());
}

TEST(WebhookTest, MapsPayloadsWithJsonPointers) {
  auto sources = WebhookSources::Create({StandardSource()}, FakeEnv({{"OLD", "a"}, {"NEW", "b"}}));
  ASSERT_TRUE(sources.ok());
  auto req = MapWebhookPayload(*sources->Find("crm"), R"({"deal":{"id":42,"owner":"e1","amount":7.5}})", "m1");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->source(), "crm");
  EXPECT_EQ(req->external_id(), "42");
  EXPECT_EQ(req->event_type(), "crm.contract_signed");
  EXPECT_EQ(req->subject_id(), "e1");
  EXPECT_FALSE(req->has_occurred_at());
  EXPECT_EQ(req->attributes().fields().at("value").number_value(), 7.5);
  auto missing = MapWebhookPayload(*sources->Find("crm"), R"({"deal":{"id":42}})", "m1");
  EXPECT_NE(missing.status().message().find("/deal/owner"), std::string::npos);
  EXPECT_FALSE(MapWebhookPayload(*sources->Find("crm"), "[1]", "m1").ok());
  EXPECT_FALSE(MapWebhookPayload(*sources->Find("crm"), "{", "m1").ok());
  // Numbers beyond an integer's range stay numbers (the webhook_mapping
  // fuzzer found the cast that was undefined for them).
  auto huge = MapWebhookPayload(*sources->Find("crm"), R"({"deal":{"id":5e55,"owner":"e1"}})", "m1");
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(huge->external_id(), "5e+55");
  auto whole = MapWebhookPayload(*sources->Find("crm"), R"({"deal":{"id":9007199254740992,"owner":"e1"}})", "m1");
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->external_id(), "9007199254740992");
}

TEST(WebhookTest, OccurredAtInUnixSecondsMustBeATimestamp) {
  v1::WebhookSource source = StandardSource();
  source.mutable_mapping()->set_occurred_at("/at");
  auto sources = WebhookSources::Create({source}, FakeEnv({{"OLD", "a"}, {"NEW", "b"}}));
  ASSERT_TRUE(sources.ok()) << sources.status();
  auto map = [&](const std::string& at) {
    return MapWebhookPayload(*sources->Find("crm"), R"({"deal":{"id":1,"owner":"e1"},"at":)" + at + "}", "m1");
  };
  auto seconds = map("1795796000");
  ASSERT_TRUE(seconds.ok()) << seconds.status();
  EXPECT_EQ(seconds->occurred_at().seconds(), 1795796000);
  auto text = map(R"("2026-11-27T16:00:00Z")");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->occurred_at().seconds(), 1795795200);
  // Found by the webhook_mapping fuzzer: a number beyond int64 was cast
  // (undefined); beyond the Timestamp range it is a clear error now.
  for (const char* at : {"3.6e45", "-3.6e45", "253402300800", "-62135596801"}) {
    auto out = map(at);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << at;
    EXPECT_NE(out.status().message().find("/at"), std::string::npos) << at;
  }
}

std::string Hs256(const std::string& claims_json, const std::string& secret, const std::string& alg = "HS256") {
  std::string signing = Base64UrlEncode(R"({"alg":")" + alg + R"("})") + "." + Base64UrlEncode(claims_json);
  return signing + "." + Base64UrlEncode(HmacSha256(secret, signing));
}

TEST(JwtTest, ChecksSignatureIssuerAudienceAndTimes) {
  v1::JwtIssuer issuer;
  issuer.set_issuer("idp");
  issuer.add_audiences("perfflow");
  issuer.set_algorithm(v1::JWT_ALGORITHM_HS256);
  issuer.set_secret_env("S");
  const std::string secret(32, 'k');
  auto verifier = JwtVerifier::Create({issuer}, FakeEnv({{"S", secret}}));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  auto token = [](const std::string& extra) {
    return R"({"iss":"idp","aud":["x","perfflow"],"sub":"e1","tenant":"t1","roles":"manager, hr, root","exp":1800000600)" +
           extra + "}";
  };
  auto p = (*verifier)->Verify(Hs256(token(""), secret), now);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "t1");
  EXPECT_EQ(p->subject, "e1");
  EXPECT_EQ(p->roles, (std::vector<std::string>{"manager", "hr"}));  // unknown roles dropped
  EXPECT_FALSE((*verifier)->Verify(Hs256(token(""), std::string(32, 'x')), now).ok());
  EXPECT_FALSE((*verifier)->Verify(Hs256(token(""), secret, "none"), now).ok());
  EXPECT_FALSE((*verifier)->Verify(Hs256(token(""), secret), now + absl::Seconds(631)).ok());
  EXPECT_TRUE((*verifier)->Verify(Hs256(token(""), secret), now + absl::Seconds(629)).ok());  // 30 s leeway
  EXPECT_FALSE((*verifier)->Verify(Hs256(token(R"(,"nbf":1800000100)"), secret), now).ok());
  EXPECT_FALSE((*verifier)->Verify("a.b", now).ok());
  // A short secret is a configuration error.
  EXPECT_FALSE(JwtVerifier::Create({issuer}, FakeEnv({{"S", "short"}})).ok());
}

TEST(ApiKeyTest, CreateAuthenticateRevokeOnSqlite) {
  db::DatabaseOptions options;
  options.url = "sqlite::memory:";
  auto database = db::OpenDatabase(options);
  ASSERT_TRUE(database.ok()) << database.status();
  auto keys = ApiKeyStore::Open(std::shared_ptr<db::Database>(*std::move(database)));
  ASSERT_TRUE(keys.ok()) << keys.status();
  v1::CreateApiKeyRequest req;
  req.set_display_name("ERP");
  req.set_principal("erp");
  req.add_roles("system");
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  auto created = (*keys)->Create("t1", req, now);
  ASSERT_TRUE(created.ok()) << created.status();
  auto p = (*keys)->Authenticate(created->key, now);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "t1");
  EXPECT_EQ(p->roles, std::vector<std::string>{"system"});
  std::string wrong = created->key;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ((*keys)->Authenticate(wrong, now).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*keys)->Revoke("t2", created->api_key.name(), now).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*keys)->Revoke("t1", created->api_key.name(), now).ok());
  EXPECT_EQ((*keys)->Authenticate(created->key, now).status().message(), "API key revoked");
  auto listed = (*keys)->List("t1", 10, "");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->api_keys_size(), 1);
  EXPECT_TRUE(listed->api_keys(0).has_revoke_time());
  EXPECT_EQ((*keys)->List("t2", 10, "")->api_keys_size(), 0);
  req.add_roles("root");
  EXPECT_EQ((*keys)->Create("t1", req, now).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DoorTest, SourcesOfApiKeysAndRoles) {
  Principal p;
  p.roles = {"employee"};
  const auto* apply = ev1::GetEventRequest::descriptor()
                          ->file()
                          ->FindServiceByName("EventService")
                          ->FindMethodByName("ApplyEventTypes");
  EXPECT_EQ(Door::Authorize(p, *apply).code(), absl::StatusCode::kPermissionDenied);
  p.roles.push_back("admin");
  EXPECT_TRUE(Door::Authorize(p, *apply).ok());
  p.allowed_sources = {"crm"};
  ev1::BatchIngestEventsRequest batch;
  batch.add_requests()->set_source("crm");
  EXPECT_TRUE(Door::CheckSources(p, batch).ok());
  batch.add_requests()->set_source("erp");
  EXPECT_EQ(Door::CheckSources(p, batch).code(), absl::StatusCode::kPermissionDenied);
}

double RateLimited(prometheus::Registry& registry, const std::string& door) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "perfflow_gateway_rate_limited_total") continue;
    for (const auto& metric : family.metric) {
      if (metric.label.size() == 1 && metric.label[0].value == door) return metric.counter.value;
    }
  }
  return -1;
}

TEST(DoorTest, OneRefusalForEveryDoorCountedWithRetryAfter) {
  prometheus::Registry registry;
  auto clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1000));
  v1::RateLimit limit;
  limit.set_requests_per_second(0.5);
  limit.set_burst(1);
  Door door(nullptr, nullptr, limit, clock, registry);
  EXPECT_EQ(RateLimited(registry, "grpc"), 0);  // present before any refusal
  EXPECT_TRUE(door.Admit("key:a", "http").ok());
  EXPECT_TRUE(door.Admit("key:b", "webhook").ok());  // each credential has its own bucket
  absl::Status refused = door.Admit("key:a", "webhook");
  EXPECT_TRUE(absl::IsResourceExhausted(refused));
  EXPECT_EQ(RateLimited(registry, "webhook"), 1);
  EXPECT_EQ(RateLimited(registry, "http"), 0);

  httplib::Response res;
  EXPECT_EQ(RefuseHttp(refused, res), 429);
  EXPECT_EQ(res.get_header_value("Retry-After"), "2");  // one token at 0.5 per second
  EXPECT_FALSE(res.has_header("WWW-Authenticate"));
  httplib::Response unauthenticated;
  EXPECT_EQ(RefuseHttp(absl::UnauthenticatedError("missing credentials"), unauthenticated), 401);
  EXPECT_EQ(unauthenticated.get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_FALSE(unauthenticated.has_header("Retry-After"));

  clock->Advance(absl::Seconds(2));
  EXPECT_TRUE(door.Admit("key:a", "grpc").ok());
}

TEST(TokenBucketTest, RefillsAtTheRateUpToTheBurst) {
  KeyedTokenBuckets buckets;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(buckets.Take("k", 1, 2, t0));
  EXPECT_FALSE(buckets.Take("k", 1, 2, t0));
  std::optional<absl::Duration> wait = buckets.Take("k", 1, 2, t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, absl::Seconds(1));
  EXPECT_FALSE(buckets.Take("other", 1, 2, t0));
  EXPECT_FALSE(buckets.Take("k", 1, 2, t0 + absl::Seconds(1)));
}

TEST(JsonDepthTest, RefusesDeeperThanTheLimitInOnePass) {
  auto nested = [](int depth, const std::string& open, const std::string& close) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += open;
    s += "1";
    for (int i = 0; i < depth; ++i) s += close;
    return s;
  };
  EXPECT_TRUE(CheckJsonDepth(nested(kMaxJsonDepth, "[", "]")).ok());
  EXPECT_EQ(CheckJsonDepth(nested(kMaxJsonDepth + 1, "[", "]")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckJsonDepth(nested(200000, "{\"a\":", "}")).code(), absl::StatusCode::kInvalidArgument);
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_TRUE(CheckJsonDepth("{\"a\":\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\"}").ok());
  EXPECT_NE(CheckJsonDepth(nested(kMaxJsonDepth + 1, "[", "]")).message().find("32"), std::string::npos);
}

TEST(JsonDepthTest, WebhookPayloadsAreCheckedBeforeParsing) {
  v1::WebhookSource config;
  config.set_name("crm");
  config.mutable_mapping()->set_fixed_event_type("crm.contract_signed");
  config.mutable_mapping()->set_subject_id("/owner");
  WebhookSource source{config, {}};
  std::string deep = "{\"owner\":\"e1\",\"x\":" + std::string(40, '[') + std::string(40, ']') + "}";
  auto mapped = MapWebhookPayload(source, deep, "d1");
  ASSERT_EQ(mapped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(mapped.status().message().find("nested deeper"), std::string::npos);
}

TEST(JwtTest, SubjectsInAnyScriptPassControlCharactersDoNot) {
  v1::JwtIssuer issuer;
  issuer.set_issuer("idp");
  issuer.add_audiences("perfflow");
  issuer.set_algorithm(v1::JWT_ALGORITHM_HS256);
  issuer.set_secret_env("S");
  const std::string key(32, 'k');
  auto verifier = JwtVerifier::Create({issuer}, FakeEnv({{"S", key}}));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto sign = [&](const std::string& sub) {
    return Hs256(R"({"iss":"idp","aud":"perfflow","tenant":"t","exp":4102444800,"sub":)" + sub + "}", key);
  };
  auto now = absl::FromUnixSeconds(1700000000);
  auto zh = (*verifier)->Verify(sign("\"张伟\""), now);
  ASSERT_TRUE(zh.ok()) << zh.status();
  EXPECT_EQ(zh->subject, "张伟");
  for (const char* bad : {"\"e1\\u0001\"", "\"e1\\r\\nx\"", "\"\\u007f\""}) {
    auto refused = (*verifier)->Verify(sign(bad), now);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

}  // namespace
// ---- the pages' language and time zone

TEST(PageLocaleTest, TheDirectoryLanguageElseTheBrowsers) {
  EXPECT_TRUE(PageLocale("", "").zh());  // the default
  EXPECT_TRUE(PageLocale("zh-CN,zh;q=0.9,en;q=0.8", "").zh());
  EXPECT_FALSE(PageLocale("en-US,en;q=0.9,zh;q=0.8", "").zh());
  EXPECT_TRUE(PageLocale("en;q=0.5,zh-TW;q=0.7", "").zh());  // weights, not order
  EXPECT_TRUE(PageLocale("fr-FR", "").zh());                 // neither: the default
  EXPECT_TRUE(PageLocale("en-US", "", "zh").zh());           // the directory wins
  EXPECT_FALSE(PageLocale("zh-CN", "", "en").zh());
}

TEST(PageLocaleTest, TimesInTheTenantsZone) {
  const absl::Time t = absl::FromUnixSeconds(1764576000);  // 2025-12-01 08:00 UTC
  EXPECT_EQ(PageLocale("", "Asia/Shanghai").Time(t), "2025-12-01 16:00 CST");
  EXPECT_EQ(PageLocale("", "").Time(t), "2025-12-01 08:00 UTC");
  EXPECT_EQ(PageLocale("", "Not/AZone").Time(t), "2025-12-01 08:00 UTC");
}

}  // namespace perfflow::gateway
