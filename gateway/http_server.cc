#include "gateway/http_server.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "gateway/action_desk.h"
#include "gateway/action_pages.h"
#include "gateway/http_front.h"
#include "gateway/pages.h"
#include "gateway/transcode.h"
#include "google/protobuf/dynamic_message.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/type/v1/person_data.pb.h"

namespace perfflow::gateway {
namespace {

namespace pb = google::protobuf;

constexpr char kJson[] = "application/json";

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                   0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

void WriteError(httplib::Response& res, const grpc::Status& status) {
  res.status = HttpStatusFor(status.error_code());
  res.set_content(ErrorJson(status), kJson);
}

// With the headers a refusal by the door carries (Retry-After, WWW-Authenticate).
void WriteError(httplib::Response& res, const absl::Status& status) {
  WriteError(res, ToGrpcStatus(status));
  RefuseHttp(status, res);
}

// An action link's token is a credential: the log names the route, never the token.
std::string PathForLog(const std::string& path) {
  if (!absl::StartsWith(path, "/act/")) return path;
  const size_t end = path.find('/', std::string("/act/").size());
  return "/act/<token>" + (end == std::string::npos ? std::string() : path.substr(end));
}

void WriteErrorPage(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(ErrorPage(status, message), kHtml);
}

// 413 for a body over the limit (RESOURCE_EXHAUSTED would read as 429), 400 else.
int BodyErrorStatus(const absl::Status& status) { return absl::IsResourceExhausted(status) ? 413 : 400; }

// 500 when the reply has no JSON form: never a 200 with an empty object.
void WriteJson(httplib::Response& res, const pb::Message& reply) {
  absl::StatusOr<std::string> json = MessageToJson(reply);
  if (!json.ok()) return WriteError(res, json.status());
  res.set_content(*std::move(json), kJson);
}

std::string RawPath(const httplib::Request& req) {
  const std::string& target = req.target.empty() ? req.path : req.target;
  return target.substr(0, target.find('?'));
}

}  // namespace

struct HttpGateway::Outcome {
  std::string route = "unmatched";
  std::string credential;
  std::string request_id;
  std::string trace_id;
  std::string detail;
};

HttpMetrics::HttpMetrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("perfflow_gateway_http_requests_total")
                   .Help("HTTP requests by route rule and status code")
                   .Register(registry)),
      duration(prometheus::BuildHistogram()
                   .Name("perfflow_gateway_http_request_duration_seconds")
                   .Help("HTTP request latency by route rule, including the service call")
                   .Register(registry)),
      webhooks(prometheus::BuildCounter()
                   .Name("perfflow_gateway_webhooks_total")
                   .Help("Webhook deliveries by source and result (accepted, duplicate, rejected)")
                   .Register(registry)) {}

HttpGateway::HttpGateway(HttpOptions options, std::shared_ptr<Router> router, std::shared_ptr<Backends> backends,
                         std::shared_ptr<Door> door, std::shared_ptr<WebhookSources> webhooks, HttpMetrics* metrics)
    : options_(std::move(options)),
      router_(std::move(router)),
      backends_(std::move(backends)),
      door_(std::move(door)),
      webhooks_(std::move(webhooks)),
      metrics_(metrics),
      server_(std::make_unique<RequestProcessor>()) {
  if (options_.action_links) {
    actions_ = std::make_unique<ActionDesk>(*options_.action_links, options_.action_desk, door_);
  }
  people_ = std::make_unique<PeopleDesk>(options_.action_links, options_.sign_in_links, door_);
}

HttpGateway::~HttpGateway() { Stop(); }

int HttpGateway::port() const { return front_ ? front_->port() : 0; }

absl::Status HttpGateway::Start() {
  RequestProcessor& s = *server_;
  // Each route reads at most its own limit; uploads on action pages are the largest.
  s.set_payload_max_length(std::max(options_.max_body_bytes, options_.action_desk.max_upload_bytes));
  // Methods with a body get it through a reader, read after the door.
  auto with_body = [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& body) {
    Dispatch(req, res, &body);
  };
  auto without_body = [this](const httplib::Request& req, httplib::Response& res) { Dispatch(req, res, nullptr); };
  s.Get(".*", without_body);
  s.Options(".*", without_body);
  s.Post(".*", with_body);
  s.Put(".*", with_body);
  s.Patch(".*", with_body);
  s.Delete(".*", with_body);
  // Errors httplib answers itself (400 unparsable request, 413).
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    grpc::StatusCode code =
        res.status == 413 ? grpc::StatusCode::RESOURCE_EXHAUSTED : grpc::StatusCode::INVALID_ARGUMENT;
    std::string message = res.status == 413 ? "request body too large" : "malformed HTTP request";
    int status = res.status;
    res.set_content(ErrorJson(grpc::Status(code, message)), kJson);
    res.status = status;
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(ErrorJson(grpc::Status(grpc::StatusCode::INTERNAL, "internal error")), kJson);
  });
  HttpFrontOptions front;
  front.host = options_.host;
  front.port = options_.port;
  front.threads = options_.threads;
  front.max_body_bytes = options_.max_body_bytes;
  if (actions_) {
    front.upload_prefix = "/act/";
    front.max_upload_bytes = options_.action_desk.max_upload_bytes;
  }
  front.read_timeout = options_.read_timeout;
  front.keep_alive_timeout = options_.keep_alive_timeout;
  front.write_timeout = options_.write_timeout;
  front_ = std::make_unique<HttpFront>(
      front, server_.get(), [this](int status, const std::string& reason, const std::string& remote) {
        metrics_->requests.Add({{"route", "unmatched"}, {"code", std::to_string(status)}}).Increment();
        LogInfo("http", {{"kind", "access"},
                         {"route", "unmatched"},
                         {"status", std::to_string(status)},
                         {"detail", reason},
                         {"remote", remote}});
      });
  return front_->Start();
}

void HttpGateway::Stop() {
  if (front_) front_->Stop();
}

absl::StatusOr<std::string> HttpGateway::ReadBody(const httplib::Request& req, const httplib::ContentReader* body) {
  if (body == nullptr) return req.body;
  // (httplib reads multipart bodies only part by part.)
  if (req.is_multipart_form_data()) return absl::InvalidArgumentError("multipart/form-data is not accepted here");
  std::string out;
  bool too_large = false;
  const bool complete = (*body)([&](const char* data, size_t size) {
    if (out.size() + size > options_.max_body_bytes) {
      too_large = true;
      return false;
    }
    out.append(data, size);
    return true;
  });
  if (too_large) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request body too large (at most ", options_.max_body_bytes, " bytes)"));
  }
  if (!complete) return absl::InvalidArgumentError("the request body broke off or timed out");
  return out;
}

void HttpGateway::Dispatch(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* body) {
  const absl::Time start = absl::Now();
  Outcome out;
  out.request_id = RequestIdFrom(req.get_header_value("x-request-id"));
  out.trace_id = TraceIdFrom(req.get_header_value("traceparent"));
  res.set_header("x-request-id", out.request_id);
  const std::string path = RawPath(req);

  if (path == "/healthz" && req.method == "GET") {
    out.route = "GET /healthz";
    res.set_content("{\"status\":\"SERVING\"}", kJson);
  } else if (path == "/readyz" && req.method == "GET") {
    out.route = "GET /readyz";
    if (ready_) {
      res.set_content("{\"status\":\"SERVING\"}", kJson);
    } else {
      WriteError(res, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "not ready: a service is unreachable or the gateway is stopping"));
    }
  } else if (absl::StartsWith(path, "/people/")) {
    ServePage(req, res, path, &out, body);
  } else if (absl::StartsWith(path, "/act/")) {
    ServeActionLink(req, res, path.substr(std::string("/act/").size()), &out, body);
  } else if (absl::StartsWith(path, "/v1/webhooks/")) {
    out.route = "POST /v1/webhooks/{source}";
    if (req.method != "POST") {
      res.set_header("Allow", "POST");
      WriteError(res, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "webhooks take POST"));
      res.status = 405;
    } else {
      ServeWebhook(req, res, path.substr(std::string("/v1/webhooks/").size()), &out, body);
    }
  } else {
    RouteMatch match = router_->Find(req.method, path);
    if (match.result == RouteMatch::kFound) {
      out.route = match.route->label;
      ServeRpc(req, res, match, &out, body);
    } else if (match.result == RouteMatch::kMethodNotAllowed) {
      res.set_header("Allow", absl::StrJoin(match.allowed_methods, ", "));
      WriteError(res, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, req.method + " is not allowed here; allowed: " +
                                                                        absl::StrJoin(match.allowed_methods, ", ")));
      res.status = 405;
    } else {
      WriteError(res, grpc::Status(grpc::StatusCode::NOT_FOUND, "no route for " + req.method + " " + path));
    }
  }

  if (res.status == -1) res.status = 200;  // httplib's "not set yet"
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  metrics_->requests.Add({{"route", out.route}, {"code", std::to_string(res.status)}}).Increment();
  metrics_->duration.Add({{"route", out.route}}, LatencyBuckets()).Observe(seconds);
  LogFields fields = {{"kind", "access"},
                      {"method", req.method},
                      {"path", PathForLog(path)},
                      {"route", out.route},
                      {"status", std::to_string(res.status)},
                      {"duration_ms", absl::StrCat(static_cast<int64_t>(seconds * 1000))},
                      {"request_id", out.request_id},
                      {"trace_id", out.trace_id},
                      {"remote", req.remote_addr}};
  if (!out.credential.empty()) fields.emplace_back("credential", out.credential);
  if (!out.detail.empty()) fields.emplace_back("detail", out.detail);
  LogInfo("http", fields);
}

void HttpGateway::ServeRpc(const httplib::Request& req, httplib::Response& res, const RouteMatch& match, Outcome* out,
                           const httplib::ContentReader* body) {
  auto principal = door_->Authenticate(req.get_header_value("Authorization"), req.get_header_value("X-Api-Key"));
  if (!principal.ok()) return WriteError(res, principal.status());
  out->credential = principal->credential;
  if (absl::Status s = door_->Admit(principal->credential, "http"); !s.ok()) return WriteError(res, s);
  const pb::MethodDescriptor& method = *match.route->method;
  if (absl::Status s = Door::Authorize(*principal, method); !s.ok()) return WriteError(res, s);
  absl::StatusOr<std::string> text = ReadBody(req, body);
  if (!text.ok()) {
    WriteError(res, text.status());
    res.status = BodyErrorStatus(text.status());
    return;
  }
  // Client streams take one request message per body line (NDJSON).
  std::vector<std::unique_ptr<pb::Message>> requests;
  if (method.client_streaming()) {
    auto lines = ParseJsonLines(match, req.params, *text, method.input_type());
    if (!lines.ok()) return WriteError(res, lines.status());
    requests = *std::move(lines);
  } else {
    requests.push_back(NewMessage(method.input_type()));
    if (absl::Status s = BuildRequest(match, req.params, *text, requests[0].get()); !s.ok()) {
      return WriteError(res, s);
    }
  }
  for (const auto& request : requests) {
    if (absl::Status s = Door::CheckSources(*principal, *request); !s.ok()) return WriteError(res, s);
  }

  const std::string& grpc_path = match.route->grpc_path;
  if (!method.server_streaming() && !method.client_streaming()) {
    std::unique_ptr<pb::Message> response = NewMessage(method.output_type());
    grpc::Status status = CallUnary(*principal, *out, grpc_path, *requests[0], response.get());
    if (!status.ok()) return WriteError(res, status);
    return WriteJson(res, *response);
  }
  std::vector<grpc::ByteBuffer> serialized;
  for (const auto& request : requests) serialized.push_back(Serialize(*request));
  std::shared_ptr<StreamCall> call = backends_->Stream(
      grpc_path, Door::Forward(*principal, out->trace_id, out->request_id, absl::Now() + options_.stream_timeout),
      std::move(serialized));
  if (call == nullptr) {
    return WriteError(res, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no backend for " + grpc_path));
  }
  if (!method.server_streaming()) {
    // A client stream's single reply.
    grpc::ByteBuffer reply;
    const bool got = call->Next(&reply);
    grpc::Status status = call->Finish();
    if (!status.ok()) return WriteError(res, status);
    std::unique_ptr<pb::Message> response = NewMessage(method.output_type());
    if (!got || !Parse(reply, response.get())) {
      return WriteError(res, grpc::Status(grpc::StatusCode::INTERNAL, "no reply from " + grpc_path));
    }
    return WriteJson(res, *response);
  }
  // Server streams: wait for the first message so that an error before any
  // data still gets its proper HTTP status, then stream NDJSON.
  struct Pending {
    grpc::ByteBuffer first;
    bool first_taken = false;
  };
  auto pending = std::make_shared<Pending>();
  if (!call->Next(&pending->first)) {
    grpc::Status status = call->Finish();
    if (!status.ok()) return WriteError(res, status);
    res.set_content("", "application/x-ndjson");
    return;
  }
  const pb::Descriptor* type = method.output_type();
  if (type == type::v1::FileChunk::descriptor()) return StreamFile(res, call, std::move(pending->first));
  res.set_chunked_content_provider(
      "application/x-ndjson",
      [call, pending, type](size_t, httplib::DataSink& sink) {
        // Headers are gone: an error becomes the last line.
        auto end_with = [&sink](const grpc::Status& status) {
          if (!status.ok()) {
            std::string line = "{\"error\":" + ErrorJson(status) + "}\n";
            sink.write(line.data(), line.size());
          }
          sink.done();
          return true;
        };
        grpc::ByteBuffer next;
        bool have;
        if (!pending->first_taken) {
          next = std::move(pending->first);
          pending->first_taken = true;
          have = true;
        } else {
          have = call->Next(&next);
        }
        if (!have) return end_with(call->Finish());
        std::unique_ptr<pb::Message> message = NewMessage(type);
        if (!Parse(next, message.get())) return false;
        absl::StatusOr<std::string> json = MessageToJson(*message);
        if (!json.ok()) {
          call->Cancel();
          return end_with(ToGrpcStatus(json.status()));
        }
        *json += "\n";
        return sink.write(json->data(), json->size());
      },
      [call](bool) { call->Cancel(); });
}

// A download (FileChunk stream): the bytes themselves, typed and named by the
// first message. An error after the headers cuts the transfer short (the
// chunked body never ends), which clients report as an incomplete download.
void HttpGateway::StreamFile(httplib::Response& res, std::shared_ptr<StreamCall> call, grpc::ByteBuffer first) {
  auto head = std::make_unique<type::v1::FileChunk>();
  if (!Parse(first, head.get())) {
    call->Cancel();
    return WriteError(res, grpc::Status(grpc::StatusCode::INTERNAL, "unreadable download"));
  }
  const std::string name = SafeFileName(head->file_name());
  if (!name.empty()) res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
  const std::string content_type = head->content_type().empty() ? "application/octet-stream" : head->content_type();
  auto first_data = std::make_shared<std::optional<std::string>>(std::move(*head->mutable_data()));
  res.set_chunked_content_provider(
      content_type,
      [call, first_data](size_t, httplib::DataSink& sink) {
        // The first message's bytes, then each next message's.
        if (first_data->has_value()) {
          std::string data = std::move(**first_data);
          first_data->reset();
          return data.empty() || sink.write(data.data(), data.size());
        }
        grpc::ByteBuffer next;
        if (!call->Next(&next)) {
          if (!call->Finish().ok()) return false;
          sink.done();
          return true;
        }
        type::v1::FileChunk chunk;
        if (!Parse(next, &chunk)) {
          call->Cancel();
          return false;
        }
        return chunk.data().empty() || sink.write(chunk.data().data(), chunk.data().size());
      },
      [call](bool) { call->Cancel(); });
}

void HttpGateway::ServeWebhook(const httplib::Request& req, httplib::Response& res, const std::string& source_name,
                               Outcome* out, const httplib::ContentReader* body_reader) {
  auto reply = [&](const char* result, const std::string& reason, const std::string& event, int status) {
    metrics_->webhooks.Add({{"source", webhooks_->Find(source_name) ? source_name : "unknown"}, {"result", result}})
        .Increment();
    std::string body = absl::StrCat("{\"result\":\"", result, "\"");
    if (!event.empty()) absl::StrAppend(&body, ",\"event\":\"", event, "\"");
    if (!reason.empty()) {
      // The reason goes through the JSON printer for escaping.
      pb::Value v;
      v.set_string_value(reason);
      absl::StrAppend(&body, ",\"reason\":", MessageToJson(v).value_or("\"\""));
    }
    body += "}";
    res.status = status;
    res.set_content(body, kJson);
    out->detail = reason;
  };
  const WebhookSource* source = webhooks_->Find(source_name);
  if (source == nullptr) return reply("rejected", "unknown webhook source", "", 404);
  out->credential = "webhook:" + source_name;
  // The signature covers the body, so it is read first (bounded by the limit).
  absl::StatusOr<std::string> body = ReadBody(req, body_reader);
  if (!body.ok()) {
    return reply("rejected", std::string(body.status().message()), "", BodyErrorStatus(body.status()));
  }
  auto delivery = VerifyWebhook(
      *source, [&req](const std::string& name) { return req.get_header_value(name); }, *body, door_->clock().Now());
  if (!delivery.ok()) return reply("rejected", std::string(delivery.status().message()), "", 401);
  if (absl::Status s = door_->Admit(out->credential, "webhook"); !s.ok()) {
    return reply("rejected", std::string(s.message()), "", RefuseHttp(s, res));
  }
  auto ingest = MapWebhookPayload(*source, *body, *delivery);
  if (!ingest.ok()) return reply("rejected", std::string(ingest.status().message()), "", 400);

  const Principal system = SystemPrincipal(source->config.tenant(), "webhook:" + source_name);
  event::v1::IngestEventResponse ingested;
  grpc::Status status = CallUnary(system, *out, "/perfflow.event.v1.EventService/IngestEvent", *ingest, &ingested);
  // A retryable failure (503, 504) tells the sender to redeliver.
  if (!status.ok()) return reply("rejected", status.error_message(), "", HttpStatusFor(status.error_code()));
  reply(ingested.duplicate() ? "duplicate" : "accepted", "", ingested.event().name(), ingested.duplicate() ? 200 : 202);
}

grpc::Status HttpGateway::CallUnary(const Principal& principal, const Outcome& out, const std::string& grpc_path,
                                    const pb::Message& request, pb::Message* response) {
  auto ctx = Door::Forward(principal, out.trace_id, out.request_id, absl::Now() + options_.call_timeout);
  grpc::ByteBuffer reply;
  grpc::Status status = backends_->Unary(grpc_path, ctx.get(), Serialize(request), &reply);
  if (status.ok() && !Parse(reply, response)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unparsable reply from " + grpc_path);
  }
  return status;
}

// The services as one person, with this request's ids.
class HttpGateway::GatewayCalls : public PersonCalls {
 public:
  GatewayCalls(HttpGateway* gateway, Principal principal, const Outcome& out)
      : gateway_(gateway), principal_(std::move(principal)), out_(out) {}

  grpc::Status Unary(const std::string& method, const pb::Message& request, pb::Message* response) override {
    return gateway_->CallUnary(principal_, out_, method, request, response);
  }

  grpc::Status ClientStream(const std::string& method, const std::vector<const pb::Message*>& requests,
                            pb::Message* response) override {
    std::vector<grpc::ByteBuffer> buffers;
    for (const pb::Message* r : requests) buffers.push_back(Serialize(*r));
    auto ctx = Door::Forward(principal_, out_.trace_id, out_.request_id, absl::Now() + gateway_->options_.call_timeout);
    std::unique_ptr<StreamCall> call = gateway_->backends_->Stream(method, std::move(ctx), std::move(buffers));
    if (call == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no backend serves " + method);
    grpc::ByteBuffer reply;
    bool replied = false;
    while (call->Next(&reply)) replied = true;
    grpc::Status status = call->Finish();
    if (status.ok() && (!replied || !Parse(reply, response))) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "unparsable reply from " + method);
    }
    return status;
  }

 private:
  HttpGateway* gateway_;
  Principal principal_;
  const Outcome& out_;
};

void HttpGateway::ServeActionLink(const httplib::Request& req, httplib::Response& res, const std::string& rest,
                                  Outcome* out, const httplib::ContentReader* body) {
  out->route = "GET /act/{token}";
  if (!actions_) return WriteErrorPage(res, 404, "action links are not configured on this gateway");
  Record(actions_->Serve(req, res, body, rest, CallsFor(*out)), out);
}

CallsAs HttpGateway::CallsFor(const Outcome& out) {
  return [this, &out](const Principal& p) -> std::unique_ptr<PersonCalls> {
    return std::make_unique<GatewayCalls>(this, p, out);
  };
}

void HttpGateway::Record(const ActionDesk::Outcome& served, Outcome* out) {
  out->route = served.route;
  out->credential = served.credential;
}

void HttpGateway::ServePage(const httplib::Request& req, httplib::Response& res, const std::string& path, Outcome* out,
                            const httplib::ContentReader* body) {
  auto fail = [&](int status, const std::string& message) { WriteErrorPage(res, status, message); };
  const std::string page = path.substr(std::string("/people/").size());
  if (PeopleDesk::Serves(page)) return Record(people_->Serve(req, res, body, page, CallsFor(*out)), out);
  std::vector<std::string> parts = absl::StrSplit(page, '/');
  const bool health = parts.size() == 1 && parts[0] == "flow-health";
  const bool brief = parts.size() == 3 && parts[0] == "sessions" && !parts[1].empty() && parts[2] == "brief";
  out->route = health ? "GET /people/flow-health" : brief ? "GET /people/sessions/{session}/brief" : "unmatched";
  if (!health && !brief) return fail(404, "no such page");
  if (req.method != "GET") {
    res.set_header("Allow", "GET");
    return fail(405, "pages take GET");
  }
  // People log in with a bearer token: the header, or the perfflow_token cookie.
  std::string authorization = req.get_header_value("Authorization");
  const std::string cookie = CookieValue(req.get_header_value("Cookie"), "perfflow_token");
  if (authorization.empty() && !cookie.empty()) authorization = "Bearer " + cookie;
  auto principal = door_->Authenticate(authorization, "");
  if (!principal.ok()) return fail(RefuseHttp(principal.status(), res), std::string(principal.status().message()));
  out->credential = principal->credential;
  if (absl::Status s = door_->Admit(principal->credential, "http"); !s.ok()) {
    return fail(RefuseHttp(s, res), std::string(s.message()));
  }
  const std::string method_name = health ? "perfflow.event.v1.EventService.GetFlowHealth"
                                         : "perfflow.calibration.v1.CalibrationService.RenderBrief";
  const pb::MethodDescriptor* method = pb::DescriptorPool::generated_pool()->FindMethodByName(method_name);
  if (method == nullptr) return fail(501, "this gateway does not serve that page");
  if (absl::Status s = Door::Authorize(*principal, *method); !s.ok()) return fail(403, std::string(s.message()));
  if (health) {
    FlowHealthView view;
    view.end = door_->clock().Now();
    view.start = view.end - absl::Hours(24 * 30);
    event::v1::GetFlowHealthRequest request;
    request.set_period(event::v1::PERIOD_WEEK);
    ToTimestamp(view.start, request.mutable_start_time());
    ToTimestamp(view.end, request.mutable_end_time());
    event::v1::GetFlowHealthResponse response;
    grpc::Status s = CallUnary(*principal, *out, "/perfflow.event.v1.EventService/GetFlowHealth", request, &response);
    if (!s.ok()) return fail(HttpStatusFor(s.error_code()), s.error_message());
    // Names for the keys; without them the page still shows the figures, by key.
    event::v1::GetRegistryResponse registry;
    if (CallUnary(*principal, *out, "/perfflow.event.v1.EventService/GetRegistry", event::v1::GetRegistryRequest(),
                  &registry)
            .ok()) {
      view.time_zone = registry.registry().settings().time_zone();
      view.type_names = TypeNames(registry.registry(), PageLocale("en", view.time_zone, "en"));
    }
    event::v1::ListDepartmentsResponse departments;
    if (CallUnary(*principal, *out, "/perfflow.event.v1.EventService/ListDepartments",
                  event::v1::ListDepartmentsRequest(), &departments)
            .ok()) {
      for (const auto& d : departments.departments()) view.department_names[d.id()] = d.name();
    }
    res.set_content(FlowHealthPage(response, principal->tenant, view), kHtml);
    return;
  }
  calibration::v1::RenderBriefRequest request;
  request.set_session("sessions/" + parts[1]);
  request.set_format(calibration::v1::RENDER_FORMAT_HTML);
  calibration::v1::RenderBriefResponse response;
  grpc::Status s =
      CallUnary(*principal, *out, "/perfflow.calibration.v1.CalibrationService/RenderBrief", request, &response);
  if (!s.ok()) return fail(HttpStatusFor(s.error_code()), s.error_message());
  res.set_content(response.content(), kHtml);
}

}  // namespace perfflow::gateway
