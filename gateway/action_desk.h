#pragma once

// Signed action links, served under /act/ by the gateway: a person opens the
// link from a notification and acts on that one task without signing in.
//   GET  /act/{token}            the task's page (or the inbox, for a digest's link)
//   POST /act/{token}            the action: an upload (multipart), a verdict, a confirmation
//   POST /act/{token}/guidance   the verdict page's live wording check (an HTML fragment)
// The link names its tenant, task and person and expires; opening it sets a
// short session cookie scoped to the link's path, which every POST needs
// (a cross-site form cannot post on the person's behalf). Review and
// confirmation links refuse once their task is done; an owner's link keeps
// taking evidence until the chain is archived.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/action_link.h"
#include "gateway/auth.h"
#include "gateway/door.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace perfflow::gateway {

// The services, called as one principal, for one HTTP request.
class PersonCalls {
 public:
  virtual ~PersonCalls() = default;
  // `method` is the gRPC path "/package.Service/Method".
  virtual grpc::Status Unary(const std::string& method, const google::protobuf::Message& request,
                             google::protobuf::Message* response) = 0;
  // A client stream: the requests in order, then the half-close.
  virtual grpc::Status ClientStream(const std::string& method,
                                    const std::vector<const google::protobuf::Message*>& requests,
                                    google::protobuf::Message* response) = 0;
};
using CallsAs = std::function<std::unique_ptr<PersonCalls>(const Principal&)>;

struct ActionDeskOptions {
  // Form posts (a verdict, a confirmation) and uploads (one file).
  size_t max_form_bytes = 64 << 10;
  size_t max_upload_bytes = 20 << 20;
  // How long an opened link may post without being opened again.
  absl::Duration session = absl::Minutes(30);
};

class ActionDesk {
 public:
  ActionDesk(ActionLinkKeys keys, ActionDeskOptions options, std::shared_ptr<Door> door);

  // For the access log and metrics.
  struct Outcome {
    std::string route;
    std::string credential;
  };
  // `rest` is the path after "/act/"; `body` reads a POST's body.
  Outcome Serve(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* body,
                absl::string_view rest, const CallsAs& calls_as);

  const ActionLinkKeys& keys() const { return keys_; }

 private:
  struct Visit;
  void ServeInbox(Visit& visit);
  // Fetches the task, its event and what its page shows; false when it
  // answered the request with an error page.
  bool Load(Visit& visit);
  void ServeTask(Visit& visit);
  void PostUpload(Visit& visit);
  void PostReview(Visit& visit);
  void PostConfirm(Visit& visit);
  void PostGuidance(Visit& visit);

  ActionLinkKeys keys_;
  ActionDeskOptions options_;
  std::shared_ptr<Door> door_;
};

}  // namespace perfflow::gateway
