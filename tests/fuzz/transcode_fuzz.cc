// libFuzzer harness: the gateway's HTTP/JSON transcoding (gateway/routes and
// gateway/transcode) over every RPC of the four services. The input's first
// line is "METHOD /path?query", the rest is the body. Routing, building the
// request, NDJSON client streams and printing the result back as JSON must
// never crash; errors are INVALID_ARGUMENT.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "gateway/routes.h"
#include "gateway/transcode.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"

namespace gw = perfflow::gateway;

namespace {

const gw::Router& TheRouter() {
  static const gw::Router* router = [] {
    auto built = gw::Router::Build({
        perfflow::event::v1::GetEventRequest::descriptor()->file()->FindServiceByName("EventService"),
        perfflow::evidence::v1::GetEvidenceRequest::descriptor()->file()->FindServiceByName("EvidenceService"),
        perfflow::feedback::v1::SubmitReviewRequest::descriptor()->file()->FindServiceByName("FeedbackService"),
        perfflow::calibration::v1::GetSessionRequest::descriptor()->file()->FindServiceByName("CalibrationService"),
    });
    if (!built.ok()) __builtin_trap();
    return new gw::Router(std::move(*built));
  }();
  return *router;
}

void ExpectInvalidArgument(const absl::Status& status) {
  if (!status.ok() && status.code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t line_end = input.find('\n');
  const std::string first_line = input.substr(0, line_end);
  const std::string body = line_end == std::string::npos ? "" : input.substr(line_end + 1);
  std::pair<std::string, std::string> method_target = absl::StrSplit(first_line, absl::MaxSplits(' ', 1));
  std::pair<std::string, std::string> path_query = absl::StrSplit(method_target.second, absl::MaxSplits('?', 1));

  std::multimap<std::string, std::string> query;
  for (absl::string_view pair : absl::StrSplit(path_query.second, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    query.emplace(kv.first, kv.second);
  }

  const gw::RouteMatch match = TheRouter().Find(method_target.first, path_query.first);
  if (match.result != gw::RouteMatch::kFound) return 0;
  const google::protobuf::Descriptor* type = match.route->method->input_type();
  google::protobuf::DynamicMessageFactory factory;
  if (match.route->method->client_streaming()) {
    auto messages = gw::ParseJsonLines(match, query, body, type);
    ExpectInvalidArgument(messages.status());
    if (messages.ok()) {
      for (const auto& m : *messages) (void)gw::MessageToJson(*m);
    }
    return 0;
  }
  std::unique_ptr<google::protobuf::Message> request(factory.GetPrototype(type)->New());
  const absl::Status built = gw::BuildRequest(match, query, body, request.get());
  ExpectInvalidArgument(built);
  if (built.ok()) (void)gw::MessageToJson(*request);
  return 0;
}
