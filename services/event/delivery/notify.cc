#include "services/event/delivery/notify.h"

#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/struct_json.h"
#include "common/struct_values.h"
#include "common/url_encoding.h"
#include "common/yaml_proto.h"
#include "google/protobuf/struct.pb.h"

namespace perfflow::event {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);

absl::Duration TimeoutOf(const v1::NotifyDestination& d) {
  return d.timeout_ms() > 0 ? absl::Milliseconds(d.timeout_ms()) : kDefaultTimeout;
}

// Chat robots answer 200 with an error code in the body.
absl::Status CheckRobotReply(const std::string& body, const std::string& code_field,
                             const std::set<int64_t>& retryable) {
  Struct reply;
  if (!JsonToStruct(body, &reply).ok()) return absl::OkStatus();
  auto it = reply.fields().find(code_field);
  if (it == reply.fields().end() || !it->second.has_number_value()) return absl::OkStatus();
  const auto code = static_cast<int64_t>(it->second.number_value());
  if (code == 0) return absl::OkStatus();
  const std::string what = absl::StrCat("robot answered ", code_field, " ", code);
  if (retryable.count(code)) return absl::ResourceExhaustedError(what);
  return absl::FailedPreconditionError(what);
}

class HttpChannel : public Channel {
 public:
  HttpChannel(v1::NotifyDestination destination, std::string secret, HttpSender http)
      : destination_(std::move(destination)), secret_(std::move(secret)), http_(std::move(http)) {}

 protected:
  absl::Status Post(const std::string& url, const Headers& headers, const std::string& body, std::string* reply) {
    Headers all = headers;
    all.emplace_back("Content-Type", "application/json");
    return http_(url, all, body, TimeoutOf(destination_), reply);
  }
  absl::Status Post(const std::string& url, const Struct& body, std::string* reply) {
    auto json = StructToJson(body);
    if (!json.ok()) return json.status();
    return Post(url, {}, *json, reply);
  }
  const std::string& url() const { return destination_.url(); }
  const std::string& secret() const { return secret_; }

 private:
  v1::NotifyDestination destination_;
  std::string secret_;
  HttpSender http_;
};

// Standard Webhooks: signature over "<id>.<timestamp>.<body>" with the
// Base64-decoded part of a "whsec_" secret.
class WebhookChannel : public HttpChannel {
 public:
  using HttpChannel::HttpChannel;
  absl::Status Send(const Outgoing& m) override {
    Struct body;
    auto& f = *body.mutable_fields();
    f["type"] = StringValue(m.topic);
    f["idempotency_key"] = StringValue(m.idempotency_key);
    f["tenant"] = StringValue(m.tenant);
    f["recipient"] = StringValue(m.recipient_id);
    f["text"] = StringValue(m.text);
    *f["data"].mutable_struct_value() = m.payload;
    auto body_json = StructToJson(body);
    if (!body_json.ok()) return body_json.status();
    const std::string& json = *body_json;
    const std::string ts = absl::StrCat(absl::ToUnixSeconds(m.now));
    const std::string key = Base64Decode(absl::StripPrefix(secret(), "whsec_")).value_or(secret());
    const std::string signature = Base64Encode(HmacSha256(key, absl::StrCat(m.idempotency_key, ".", ts, ".", json)));
    std::string reply;
    return Post(url(),
                {{"webhook-id", m.idempotency_key},
                 {"webhook-timestamp", ts},
                 {"webhook-signature", "v1," + signature},
                 {"Idempotency-Key", m.idempotency_key}},
                json, &reply);
  }
};

// ---- cards, as each platform documents them

// The facts as Markdown lines (DingTalk and Feishu render it).
std::string FactsMarkdown(const Card& card) {
  std::string out;
  for (const auto& [label, value] : card.facts) absl::StrAppend(&out, "**", label, "**: ", value, "  \n");
  return out;
}

Struct DingTalkText(const Outgoing& m) {
  Struct body;
  auto& f = *body.mutable_fields();
  f["msgtype"] = StringValue("text");
  (*f["text"].mutable_struct_value()->mutable_fields())["content"] = StringValue(m.text);
  if (!m.handle.empty()) {
    auto& at = *f["at"].mutable_struct_value()->mutable_fields();
    *at["atUserIds"].mutable_list_value()->add_values() = StringValue(m.handle);
  }
  return body;
}

// https://open.dingtalk.com/document/robots/custom-robot-access (msgtype actionCard, independent buttons).
Struct DingTalkActionCard(const Card& card) {
  std::vector<Value> buttons;
  for (const auto& [label, target] : card.buttons) {
    buttons.push_back(ObjectValue({{"title", StringValue(label)}, {"actionURL", StringValue(target)}}));
  }
  Struct body;
  (*body.mutable_fields())["msgtype"] = StringValue("actionCard");
  (*body.mutable_fields())["actionCard"] =
      ObjectValue({{"title", StringValue(card.title)},
                   {"text", StringValue(absl::StrCat("### ", card.title, "\n\n", FactsMarkdown(card)))},
                   {"btnOrientation", StringValue(card.buttons.size() > 1 ? "1" : "0")},
                   {"btns", ListValue(std::move(buttons))}});
  return body;
}

// https://open.feishu.cn/document/ukTMukTMukTM/uEjNwUjLxYDM14SM2ATN (msg_type interactive).
Struct FeishuCard(const Card& card, const std::string& handle) {
  std::vector<Value> buttons;
  for (size_t i = 0; i < card.buttons.size(); ++i) {
    buttons.push_back(ObjectValue(
        {{"tag", StringValue("button")},
         {"text", ObjectValue({{"tag", StringValue("plain_text")}, {"content", StringValue(card.buttons[i].first)}})},
         {"type", StringValue(i == 0 ? "primary" : "default")},
         {"url", StringValue(card.buttons[i].second)}}));
  }
  std::string facts = FactsMarkdown(card);
  if (!handle.empty()) facts = absl::StrCat("<at id=", handle, "></at>\n", facts);
  Struct out;
  auto& f = *out.mutable_fields();
  f["config"] = ObjectValue({{"wide_screen_mode", BoolValue(true)}});
  f["header"] =
      ObjectValue({{"title", ObjectValue({{"tag", StringValue("plain_text")}, {"content", StringValue(card.title)}})},
                   {"template", StringValue(card.urgent ? "red" : "blue")}});
  f["elements"] = ListValue(
      {ObjectValue({{"tag", StringValue("div")},
                    {"text", ObjectValue({{"tag", StringValue("lark_md")}, {"content", StringValue(facts)}})}}),
       ObjectValue({{"tag", StringValue("action")}, {"actions", ListValue(std::move(buttons))}})});
  return out;
}

// https://developer.work.weixin.qq.com/document/path/91770 (msgtype template_card, card_type text_notice):
// at most 6 horizontal contents and 3 jumps; the whole card opens the first button's page.
Struct WeComTemplateCard(const Card& card) {
  std::vector<Value> contents, jumps;
  for (size_t i = 0; i < card.facts.size() && i < 6; ++i) {
    contents.push_back(
        ObjectValue({{"keyname", StringValue(card.facts[i].first)}, {"value", StringValue(card.facts[i].second)}}));
  }
  for (size_t i = 0; i < card.buttons.size() && i < 3; ++i) {
    jumps.push_back(ObjectValue({{"type", NumberValue(1)},
                                 {"title", StringValue(card.buttons[i].first)},
                                 {"url", StringValue(card.buttons[i].second)}}));
  }
  Value action =
      ObjectValue({{"type", NumberValue(1)}, {"url", StringValue(card.buttons.empty() ? "" : card.buttons[0].second)}});
  Struct out;
  auto& f = *out.mutable_fields();
  f["card_type"] = StringValue("text_notice");
  f["source"] = ObjectValue({{"desc", StringValue("perfflow")}});
  f["main_title"] = ObjectValue({{"title", StringValue(card.title)}});
  f["horizontal_content_list"] = ListValue(std::move(contents));
  f["jump_list"] = ListValue(std::move(jumps));
  f["card_action"] = std::move(action);
  return out;
}

// DingTalk: sign = Base64(HMAC-SHA256(secret, "<ms>\n<secret>")), URL-encoded.
class DingTalkChannel : public HttpChannel {
 public:
  using HttpChannel::HttpChannel;
  absl::Status Send(const Outgoing& m) override {
    Struct body = m.card ? DingTalkActionCard(*m.card) : DingTalkText(m);
    std::string target = url();
    if (!secret().empty()) {
      const std::string ts = absl::StrCat(absl::ToUnixMillis(m.now));
      const std::string sign = Base64Encode(HmacSha256(secret(), absl::StrCat(ts, "\n", secret())));
      absl::StrAppend(&target, absl::StrContains(target, "?") ? "&" : "?", "timestamp=", ts, "&sign=", UrlEncode(sign));
    }
    std::string reply;
    if (absl::Status s = Post(target, body, &reply); !s.ok()) return s;
    return CheckRobotReply(reply, "errcode", {130101});  // 130101: sending too fast
  }
};

// Feishu / Lark: sign = Base64(HMAC-SHA256(key = "<s>\n<secret>", message = "")).
class FeishuChannel : public HttpChannel {
 public:
  using HttpChannel::HttpChannel;
  absl::Status Send(const Outgoing& m) override {
    Struct body;
    auto& f = *body.mutable_fields();
    if (!secret().empty()) {
      const std::string ts = absl::StrCat(absl::ToUnixSeconds(m.now));
      f["timestamp"] = StringValue(ts);
      f["sign"] = StringValue(Base64Encode(HmacSha256(absl::StrCat(ts, "\n", secret()), "")));
    }
    if (m.card) {
      f["msg_type"] = StringValue("interactive");
      *f["card"].mutable_struct_value() = FeishuCard(*m.card, m.handle);
    } else {
      f["msg_type"] = StringValue("text");
      const std::string mention = m.handle.empty() ? "" : absl::StrCat("<at user_id=\"", m.handle, "\"></at> ");
      (*f["content"].mutable_struct_value()->mutable_fields())["text"] = StringValue(mention + m.text);
    }
    std::string reply;
    if (absl::Status s = Post(url(), body, &reply); !s.ok()) return s;
    return CheckRobotReply(reply, "code", {9499, 11232});  // request frequency limits
  }
};

// WeCom group robot: the key is in the URL; no signature.
class WeComChannel : public HttpChannel {
 public:
  using HttpChannel::HttpChannel;
  absl::Status Send(const Outgoing& m) override {
    Struct body;
    auto& f = *body.mutable_fields();
    if (m.card) {
      f["msgtype"] = StringValue("template_card");
      *f["template_card"].mutable_struct_value() = WeComTemplateCard(*m.card);
    } else {
      f["msgtype"] = StringValue("text");
      auto& text = *f["text"].mutable_struct_value()->mutable_fields();
      text["content"] = StringValue(m.text);
      if (!m.handle.empty()) *text["mentioned_list"].mutable_list_value()->add_values() = StringValue(m.handle);
    }
    std::string reply;
    if (absl::Status s = Post(url(), body, &reply); !s.ok()) return s;
    return CheckRobotReply(reply, "errcode", {45009});  // API frequency limit
  }
};

}  // namespace

// A scan, not std::regex: every logged notification passes through here.
std::string RedactActionLinks(const std::string& text) {
  const std::string kPath = "/act/";
  auto token_char = [](char c) { return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-'; };
  std::string out;
  size_t copied = 0;
  for (size_t at = text.find(kPath); at != std::string::npos; at = text.find(kPath, at + kPath.size())) {
    size_t end = at + kPath.size();
    while (end < text.size() && token_char(text[end])) ++end;
    if (end == at + kPath.size()) continue;  // "/act/" with no token after it
    out.append(text, copied, at - copied).append("/act/<token>");
    copied = end;
  }
  return out.append(text, copied);
}

namespace {

class LogChannel : public Channel {
 public:
  absl::Status Send(const Outgoing& m) override {
    LogInfo("notification", {{"tenant", m.tenant},
                             {"topic", m.topic},
                             {"recipient", m.recipient_id},
                             {"idempotency_key", m.idempotency_key},
                             {"text", RedactActionLinks(m.text)}});
    return absl::OkStatus();
  }
};

bool IsLoopbackHttp(const std::string& url) {
  static const std::regex kLoopback(R"(^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/.*)?$)");
  return std::regex_match(url, kLoopback);
}

}  // namespace

HttpSender CurlSender() {
  return [](const std::string& url, const Headers& headers, const std::string& body, absl::Duration timeout,
            std::string* reply) -> absl::Status {
    auto response = HttpPost(url, headers, body, timeout);
    if (!response.ok()) return response.status();
    *reply = response->body;
    if (response->status >= 200 && response->status < 300) return absl::OkStatus();
    const std::string what = absl::StrCat("destination answered HTTP ", response->status);
    if (response->status == 429) return absl::ResourceExhaustedError(what);
    if (response->status == 408 || response->status >= 500) return absl::UnavailableError(what);
    return absl::FailedPreconditionError(what);
  };
}

std::string ChannelLabel(v1::ChannelType type) {
  std::string name = v1::ChannelType_Name(type);
  return absl::AsciiStrToLower(std::string(absl::StripPrefix(name, "CHANNEL_TYPE_")));
}

absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const v1::NotifyDestination& d, const std::string& secret,
                                                     HttpSender http) {
  switch (d.type()) {
    case v1::CHANNEL_TYPE_WEBHOOK:
      return std::make_unique<WebhookChannel>(d, secret, std::move(http));
    case v1::CHANNEL_TYPE_DINGTALK:
      return std::make_unique<DingTalkChannel>(d, secret, std::move(http));
    case v1::CHANNEL_TYPE_FEISHU:
      return std::make_unique<FeishuChannel>(d, secret, std::move(http));
    case v1::CHANNEL_TYPE_WECOM:
      return std::make_unique<WeComChannel>(d, secret, std::move(http));
    case v1::CHANNEL_TYPE_LOG:
      return std::make_unique<LogChannel>();
    default:
      return absl::InvalidArgumentError("type: required (webhook, dingtalk, feishu, wecom or log)");
  }
}

std::vector<std::string> NotifyRouting::Route(const std::string& department_id) const {
  for (const v1::NotifyRoute& route : config.routes()) {
    for (const std::string& d : route.departments()) {
      if (d == department_id) return {route.destinations().begin(), route.destinations().end()};
    }
  }
  return {config.default_destinations().begin(), config.default_destinations().end()};
}

absl::StatusOr<NotifyRouting> LoadNotifyConfig(const std::string& yaml, HttpSender http,
                                               const std::function<const char*(const char*)>& getenv) {
  auto docs = LoadYamlDocuments(yaml);
  if (!docs.ok()) return docs.status();
  if (docs->size() != 1) return absl::InvalidArgumentError("expected exactly one YAML document");
  NotifyRouting routing;
  if (absl::Status s = YamlToMessage(docs->front(), &routing.config); !s.ok()) return s;
  const v1::NotifyConfig& c = routing.config;
  static const std::regex kName("^[a-z0-9_-]{1,64}$");
  for (int i = 0; i < c.destinations_size(); ++i) {
    const v1::NotifyDestination& d = c.destinations(i);
    const std::string where = absl::StrCat("destinations[", i, "]");
    if (!std::regex_match(d.name(), kName)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".name: required, [a-z0-9_-]{1,64}"));
    }
    if (routing.destinations.count(d.name())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".name: duplicate destination '", d.name(), "'"));
    }
    if (d.type() != v1::CHANNEL_TYPE_LOG && !absl::StartsWith(d.url(), "https://") && !IsLoopbackHttp(d.url())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".url: must be https:// (http:// only on loopback)"));
    }
    const bool signs = d.type() == v1::CHANNEL_TYPE_WEBHOOK || d.type() == v1::CHANNEL_TYPE_DINGTALK ||
                       d.type() == v1::CHANNEL_TYPE_FEISHU;
    std::string secret;
    if (!d.secret_env().empty()) {
      const char* value = getenv(d.secret_env().c_str());
      if (value == nullptr || *value == '\0') {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".secret_env: environment variable ", d.secret_env(), " is not set"));
      }
      secret = value;
    } else if (d.type() == v1::CHANNEL_TYPE_WEBHOOK) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".secret_env: required for webhook destinations"));
    }
    if (!signs && !secret.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".secret_env: ", ChannelLabel(d.type()), " destinations are not signed"));
    }
    if (d.rate_per_minute() < 0 || d.timeout_ms() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": rate_per_minute and timeout_ms must not be negative"));
    }
    auto channel = MakeChannel(d, secret, http);
    if (!channel.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", channel.status().message()));
    routing.destinations[d.name()] = {d, *std::move(channel)};
  }
  auto check_names = [&](const auto& names, const std::string& where) -> absl::Status {
    for (const std::string& n : names) {
      if (!routing.destinations.count(n)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": unknown destination '", n, "'"));
      }
    }
    return absl::OkStatus();
  };
  for (int i = 0; i < c.routes_size(); ++i) {
    const std::string where = absl::StrCat("routes[", i, "].destinations");
    if (absl::Status s = check_names(c.routes(i).destinations(), where); !s.ok()) return s;
    if (c.routes(i).departments().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("routes[", i, "].departments: list at least one department"));
    }
  }
  if (absl::Status s = check_names(c.default_destinations(), "default_destinations"); !s.ok()) return s;
  if (c.max_attempts() < 0 || c.backoff_initial_ms() < 0 || c.backoff_max_ms() < 0 || c.backoff_jitter() < 0 ||
      c.backoff_jitter() > 1) {
    return absl::InvalidArgumentError("max_attempts and backoff_* must not be negative; backoff_jitter is 0..1");
  }
  // A message nobody routes would otherwise count as delivered.
  if (c.default_destinations().empty()) {
    return absl::InvalidArgumentError(
        "default_destinations: required (where people of departments without a route are notified; e.g. [log])");
  }
  return routing;
}

NotifyRouting LogOnlyRouting() {
  NotifyRouting routing;
  v1::NotifyDestination log;
  log.set_name("log");
  log.set_type(v1::CHANNEL_TYPE_LOG);
  log.set_rate_per_minute(600000);
  *routing.config.add_destinations() = log;
  routing.config.add_default_destinations("log");
  routing.destinations["log"] = {log, std::make_unique<LogChannel>()};
  return routing;
}

}  // namespace perfflow::event
