#pragma once

// Notification channels and routing. A channel turns one outgoing message
// into one signed HTTP request (or a log line); the router picks a person's
// destinations from their department and the configuration.
//
// Send() results: OK delivered; UNAVAILABLE, DEADLINE_EXCEEDED or
// RESOURCE_EXHAUSTED are worth retrying; anything else will not get better.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "perfflow/event/v1/notify_config.pb.h"

namespace perfflow::event {

// What chat platforms show as a card with buttons (DingTalk ActionCard,
// Feishu interactive card, WeCom template card); `text` stays the fallback.
struct Card {
  std::string title;
  // Label and value: the event type, its headline attributes, the owner, the due time.
  std::vector<std::pair<std::string, std::string>> facts;
  // Label and URL: the verdicts for a review, "upload" / "confirm" for the others.
  std::vector<std::pair<std::string, std::string>> buttons;
  bool urgent = false;  // overdue
};

struct Outgoing {
  std::string tenant;
  std::string idempotency_key;
  std::string topic;
  std::string recipient_id;
  // The recipient's handle on this channel (contacts[<channel>]), may be empty.
  std::string handle;
  // The message's payload (with action_url when it has a link).
  google::protobuf::Struct payload;
  std::string text;
  // Set for messages a person acts on (when action links are configured).
  std::optional<Card> card;
  absl::Time now;
};

// Signs and posts (or logs) one message. Implementations are thread-safe.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual absl::Status Send(const Outgoing& message) = 0;
};

// POSTs JSON; the default is HttpPost (libcurl).
using HttpSender =
    std::function<absl::Status(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body, absl::Duration timeout, std::string* response_body)>;
HttpSender CurlSender();

// The text with every action link's token replaced: a token is a credential,
// and the log channel writes what it sends.
std::string RedactActionLinks(const std::string& text);

// "webhook", "dingtalk", "feishu", "wecom", "log".
std::string ChannelLabel(v1::ChannelType type);

// `secret` is the destination's secret (from its environment variable).
absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const v1::NotifyDestination& destination,
                                                     const std::string& secret, HttpSender http);

// Parses and checks a configuration file's text; errors name the line and
// field. Reads each destination's secret from the environment (`getenv`).
struct LoadedDestination {
  v1::NotifyDestination config;
  std::unique_ptr<Channel> channel;
};

struct NotifyRouting {
  v1::NotifyConfig config;
  std::map<std::string, LoadedDestination> destinations;

  // Destination names for a person of `department_id`.
  std::vector<std::string> Route(const std::string& department_id) const;
};

absl::StatusOr<NotifyRouting> LoadNotifyConfig(const std::string& yaml, HttpSender http,
                                               const std::function<const char*(const char*)>& getenv);

// With no configuration: everything goes to one log destination.
NotifyRouting LogOnlyRouting();

}  // namespace perfflow::event
