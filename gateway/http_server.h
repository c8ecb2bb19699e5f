#pragma once

// The HTTP door: every annotated RPC as HTTP/JSON (server streams as
// newline-delimited JSON), signed webhooks at POST /v1/webhooks/{source},
// /healthz and /readyz, JSON errors, one JSON access-log line per request.
// cpp-httplib (Debian libcpp-httplib-dev) serves it: a thread pool of
// blocking handlers, keep-alive, a body limit and timeouts.

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/action_link.h"
#include "gateway/action_desk.h"
#include "gateway/backends.h"
#include "gateway/door.h"
#include "gateway/people_desk.h"
#include "gateway/routes.h"
#include "gateway/webhooks.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace perfflow::gateway {

class HttpFront;
class RequestProcessor;

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 8080;  // 0 = pick a free port
  size_t max_body_bytes = 1 << 20;
  int threads = 64;
  // One request, head and body, from its first byte (slow senders are cut off).
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // Deadline of a unary call to a service; streams get stream_timeout.
  absl::Duration call_timeout = absl::Seconds(30);
  absl::Duration stream_timeout = absl::Minutes(10);
  // Keys of signed action links (/act/{token}); unset: not served.
  std::optional<ActionLinkKeys> action_links;
  ActionDeskOptions action_desk;
  // The JWT issuers' sign-in links, shown on /people/sign-in.
  std::vector<SignInLink> sign_in_links;
};

struct HttpMetrics {
  explicit HttpMetrics(prometheus::Registry& registry);
  // route is the rule ("GET /v1/{name=events/*}"), "webhook", or "unmatched".
  prometheus::Family<prometheus::Counter>& requests;    // {route, code}
  prometheus::Family<prometheus::Histogram>& duration;  // {route}
  prometheus::Family<prometheus::Counter>& webhooks;    // {source, result}
};

class HttpGateway {
 public:
  HttpGateway(HttpOptions options, std::shared_ptr<Router> router, std::shared_ptr<Backends> backends,
              std::shared_ptr<Door> door, std::shared_ptr<WebhookSources> webhooks, HttpMetrics* metrics);
  ~HttpGateway();

  // Binds and starts serving on a thread.
  absl::Status Start();
  int port() const;
  // /readyz answers 200 while `ready` is set.
  void SetReady(bool ready) { ready_ = ready; }
  // Stops accepting; requests in flight finish.
  void Stop();

 private:
  struct Outcome;
  // `body` reads the request body (nullptr: httplib already read it into
  // req.body); the doors call it only after checking the caller.
  void Dispatch(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* body);
  void ServeRpc(const httplib::Request& req, httplib::Response& res, const RouteMatch& match, Outcome* out,
                const httplib::ContentReader* body);
  void StreamFile(httplib::Response& res, std::shared_ptr<StreamCall> call, grpc::ByteBuffer first);
  void ServeWebhook(const httplib::Request& req, httplib::Response& res, const std::string& source, Outcome* out,
                    const httplib::ContentReader* body);
  // The body, at most options_.max_body_bytes of it whatever its transfer
  // encoding (RESOURCE_EXHAUSTED beyond; INVALID_ARGUMENT when it breaks off).
  absl::StatusOr<std::string> ReadBody(const httplib::Request& req, const httplib::ContentReader* body);
  void ServePage(const httplib::Request& req, httplib::Response& res, const std::string& path, Outcome* out,
                 const httplib::ContentReader* body);
  // The desks' calls, as a person, with this request's ids; and their
  // outcome in the access log and metrics.
  CallsAs CallsFor(const Outcome& out);
  void Record(const ActionDesk::Outcome& served, Outcome* out);
  void ServeActionLink(const httplib::Request& req, httplib::Response& res, const std::string& rest, Outcome* out,
                       const httplib::ContentReader* body);
  class GatewayCalls;
  // A unary call to a service as `principal`, with this request's ids.
  grpc::Status CallUnary(const Principal& principal, const Outcome& out, const std::string& grpc_path,
                         const google::protobuf::Message& request, google::protobuf::Message* response);

  HttpOptions options_;
  std::shared_ptr<Router> router_;
  std::shared_ptr<Backends> backends_;
  std::shared_ptr<Door> door_;
  std::shared_ptr<WebhookSources> webhooks_;
  HttpMetrics* metrics_;
  std::unique_ptr<ActionDesk> actions_;  // when action links are configured
  std::unique_ptr<PeopleDesk> people_;
  std::unique_ptr<RequestProcessor> server_;
  std::unique_ptr<HttpFront> front_;
  std::atomic<bool> ready_{false};
};

}  // namespace perfflow::gateway
