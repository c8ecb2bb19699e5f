#include "gateway/webhooks.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/timestamps.h"
#include "gateway/transcode.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace perfflow::gateway {
namespace {

namespace pb = google::protobuf;

absl::Status Rejected(absl::string_view why) { return absl::UnauthenticatedError(why); }

// RFC 6901 JSON pointer into `root`; nullptr when it resolves to nothing.
const pb::Value* Resolve(const pb::Value& root, absl::string_view pointer) {
  if (pointer.empty()) return &root;
  if (pointer[0] != '/') return nullptr;
  const pb::Value* v = &root;
  for (absl::string_view raw : absl::StrSplit(pointer.substr(1), '/')) {
    std::string token = absl::StrReplaceAll(raw, {{"~1", "/"}, {"~0", "~"}});
    if (v->has_struct_value()) {
      auto it = v->struct_value().fields().find(token);
      if (it == v->struct_value().fields().end()) return nullptr;
      v = &it->second;
    } else if (v->has_list_value()) {
      size_t index;
      if (!absl::SimpleAtoi(token, &index) || index >= static_cast<size_t>(v->list_value().values_size())) {
        return nullptr;
      }
      v = &v->list_value().values(static_cast<int>(index));
    } else {
      return nullptr;
    }
  }
  return v;
}

// Strings as they are, numbers without a trailing ".0"; nullopt otherwise.
std::optional<std::string> AsText(const pb::Value& v) {
  if (v.has_string_value()) return v.string_value();
  if (v.has_number_value()) {
    const double d = v.number_value();
    // Whole numbers a double holds exactly (|d| <= 2^53) print as integers;
    // anything else (1.5, 5e55) as a double: casting those to an integer
    // would be undefined (found by the webhook_mapping fuzzer).
    if (std::fabs(d) <= 9007199254740992.0 && std::trunc(d) == d) return std::to_string(static_cast<int64_t>(d));
    return absl::StrCat(d);
  }
  return std::nullopt;
}

absl::Status MissingAt(absl::string_view what, absl::string_view pointer) {
  return absl::InvalidArgumentError(
      absl::StrCat("payload: ", what, " at \"", pointer, "\" is missing or not a string/number"));
}

absl::StatusOr<std::string> TextAt(const pb::Value& root, absl::string_view what, absl::string_view pointer) {
  const pb::Value* v = Resolve(root, pointer);
  std::optional<std::string> text = v != nullptr ? AsText(*v) : std::nullopt;
  if (!text || text->empty()) return MissingAt(what, pointer);
  return *text;
}

}  // namespace

absl::StatusOr<WebhookSources> WebhookSources::Create(const std::vector<v1::WebhookSource>& configs,
                                                      const EnvLookup& env) {
  WebhookSources out;
  for (const v1::WebhookSource& c : configs) {
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("webhook source \"", c.name(), "\": ", why));
    };
    if (c.name().empty()) return bad("name is required");
    if (out.sources_.count(c.name())) return bad("listed twice");
    if (c.tenant().empty()) return bad("tenant is required");
    if (c.scheme() == v1::WEBHOOK_SCHEME_UNSPECIFIED) return bad("scheme must be standard or github");
    if (c.secret_envs().empty() || c.secret_envs_size() > 2) return bad("one or two secret_envs are required");
    if (c.mapping().event_type().empty() == c.mapping().fixed_event_type().empty()) {
      return bad("mapping needs exactly one of event_type and fixed_event_type");
    }
    if (c.mapping().subject_id().empty()) return bad("mapping.subject_id is required");
    WebhookSource source{c, {}};
    for (const std::string& name : c.secret_envs()) {
      std::optional<std::string> value = env(name);
      if (!value || value->empty()) return bad("environment variable " + name + " is not set");
      std::string secret = *value;
      if (c.scheme() == v1::WEBHOOK_SCHEME_STANDARD && absl::StartsWith(secret, "whsec_")) {
        std::optional<std::string> decoded = Base64Decode(secret.substr(6));
        if (!decoded) return bad("environment variable " + name + " holds a malformed whsec_ secret");
        secret = *decoded;
      }
      source.secrets.push_back(std::move(secret));
    }
    out.sources_.emplace(c.name(), std::move(source));
  }
  return out;
}

const WebhookSource* WebhookSources::Find(const std::string& name) const {
  auto it = sources_.find(name);
  return it == sources_.end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> VerifyWebhook(const WebhookSource& source, const HeaderLookup& header,
                                          absl::string_view body, absl::Time now) {
  if (source.config.scheme() == v1::WEBHOOK_SCHEME_GITHUB) {
    const std::string header_name =
        source.config.delivery_id_header().empty() ? "X-GitHub-Delivery" : source.config.delivery_id_header();
    const std::string delivery = header(header_name);
    if (delivery.empty() || delivery.size() > 128) return Rejected("missing or oversized " + header_name + " header");
    const std::string signature = header("X-Hub-Signature-256");
    if (!absl::StartsWith(signature, "sha256=")) return Rejected("missing X-Hub-Signature-256 header");
    const std::string given = absl::AsciiStrToLower(signature.substr(7));
    bool valid = false;
    for (const std::string& secret : source.secrets) {
      valid |= ConstantTimeEquals(absl::BytesToHexString(HmacSha256(secret, body)), given);
    }
    if (!valid) return Rejected("bad signature");
    return delivery;
  }
  const std::string id = header("webhook-id");
  const std::string timestamp = header("webhook-timestamp");
  const std::string signatures = header("webhook-signature");
  if (id.empty() || id.size() > 128 || timestamp.empty() || signatures.empty()) {
    return Rejected("missing webhook-id, webhook-timestamp or webhook-signature header");
  }
  int64_t seconds;
  if (!absl::SimpleAtoi(timestamp, &seconds)) return Rejected("malformed webhook-timestamp");
  const absl::Duration tolerance =
      absl::Seconds(source.config.tolerance_seconds() > 0 ? source.config.tolerance_seconds() : 300);
  if (absl::AbsDuration(now - absl::FromUnixSeconds(seconds)) > tolerance) {
    return Rejected("stale webhook-timestamp (outside the tolerance window)");
  }
  const std::string content = absl::StrCat(id, ".", timestamp, ".", body);
  bool valid = false;
  for (const std::string& secret : source.secrets) {
    const std::string expected = Base64Encode(HmacSha256(secret, content));
    for (absl::string_view candidate : absl::StrSplit(signatures, ' ', absl::SkipEmpty())) {
      if (absl::StartsWith(candidate, "v1,")) valid |= ConstantTimeEquals(candidate.substr(3), expected);
    }
  }
  if (!valid) return Rejected("bad signature");
  return id;
}

absl::StatusOr<event::v1::IngestEventRequest> MapWebhookPayload(const WebhookSource& source, absl::string_view body,
                                                                const std::string& delivery_id) {
  if (absl::Status s = CheckJsonDepth(body); !s.ok()) {
    return absl::InvalidArgumentError("payload: " + std::string(s.message()));
  }
  pb::Value root;
  if (!pb::util::JsonStringToMessage(std::string(body), &root).ok() || !root.has_struct_value()) {
    return absl::InvalidArgumentError("payload is not a JSON object");
  }
  const v1::WebhookMapping& m = source.config.mapping();
  event::v1::IngestEventRequest req;
  req.set_source(m.source().empty() ? source.config.name() : m.source());
  if (m.external_id().empty()) {
    req.set_external_id(delivery_id);
  } else {
    auto id = TextAt(root, "external_id", m.external_id());
    if (!id.ok()) return id.status();
    req.set_external_id(*id);
  }
  if (!m.fixed_event_type().empty()) {
    req.set_event_type(m.fixed_event_type());
  } else {
    auto type = TextAt(root, "event_type", m.event_type());
    if (!type.ok()) return type.status();
    req.set_event_type(*type);
  }
  auto subject = TextAt(root, "subject_id", m.subject_id());
  if (!subject.ok()) return subject.status();
  req.set_subject_id(*subject);
  // Without a mapped time the event service stamps its receive time; the
  // request stays the same on redelivery, so the duplicate is recognised.
  if (!m.occurred_at().empty()) {
    const pb::Value* v = Resolve(root, m.occurred_at());
    absl::Time occurred;
    std::string error;
    if (v != nullptr && v->has_number_value()) {
      // google.protobuf.Timestamp's range, 0001-01-01 .. 9999-12-31; checked
      // before the cast, which is undefined for a double out of int64's range.
      constexpr double kMinUnixSeconds = -62135596800.0, kMaxUnixSeconds = 253402300799.0;
      const double seconds = v->number_value();
      if (!(seconds >= kMinUnixSeconds && seconds <= kMaxUnixSeconds)) {
        return absl::InvalidArgumentError(absl::StrCat("payload: occurred_at at \"", m.occurred_at(),
                                                       "\" is outside 0001-01-01 .. 9999-12-31 in Unix seconds"));
      }
      occurred = absl::FromUnixSeconds(static_cast<int64_t>(seconds));
    } else if (v == nullptr || !v->has_string_value() ||
               !absl::ParseTime(absl::RFC3339_full, v->string_value(), &occurred, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("payload: occurred_at at \"", m.occurred_at(), "\" is not an RFC 3339 time or Unix seconds"));
    }
    ToTimestamp(occurred, req.mutable_occurred_at());
  }
  for (const auto& [name, pointer] : m.attributes()) {
    if (const pb::Value* v = Resolve(root, pointer)) (*req.mutable_attributes()->mutable_fields())[name] = *v;
  }
  return req;
}

}  // namespace perfflow::gateway
