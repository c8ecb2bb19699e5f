#include "common/action_link.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"

namespace perfflow {
namespace {

constexpr char kVersion[] = "v1";
constexpr char kSeparator = '\x1f';  // cannot occur in tenants, task ids or person ids

}  // namespace

absl::StatusOr<ActionLinkKeys> ActionLinkKeys::Create(std::vector<std::string> keys) {
  if (keys.empty()) return absl::InvalidArgumentError("action links need at least one key");
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() < 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("action link key ", i + 1, " has ", keys[i].size(), " bytes; use at least 32 random bytes"));
    }
  }
  return ActionLinkKeys(std::move(keys));
}

absl::StatusOr<std::optional<ActionLinkKeys>> ActionLinkKeys::FromEnvironment() {
  const char* value = std::getenv(kActionLinkKeysEnv);
  if (value == nullptr || *value == '\0') return std::optional<ActionLinkKeys>();
  auto keys = Create(absl::StrSplit(value, ',', absl::SkipEmpty()));
  if (!keys.ok()) return absl::InvalidArgumentError(absl::StrCat(kActionLinkKeysEnv, ": ", keys.status().message()));
  return std::optional<ActionLinkKeys>(*std::move(keys));
}

std::string ActionLinkKeys::Sign(const ActionLink& link) const {
  const std::string claims = Base64UrlEncode(
      absl::StrJoin({link.tenant, link.task_id, link.person, std::to_string(absl::ToUnixSeconds(link.expires_at))},
                    std::string(1, kSeparator)));
  const std::string signed_part = absl::StrCat(kVersion, ".", claims);
  return absl::StrCat(signed_part, ".", Base64UrlEncode(HmacSha256(keys_.front(), signed_part)));
}

absl::StatusOr<ActionLink> ActionLinkKeys::Verify(absl::string_view token, absl::Time now) const {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (token.size() > 1024 || parts.size() != 3 || parts[0] != kVersion) {
    return absl::UnauthenticatedError("malformed link");
  }
  const std::string signed_part = absl::StrCat(parts[0], ".", parts[1]);
  std::optional<std::string> signature = Base64UrlDecode(parts[2]);
  bool valid = false;
  for (const std::string& key : keys_) {
    valid |= signature.has_value() && ConstantTimeEquals(*signature, HmacSha256(key, signed_part));
  }
  if (!valid) return absl::UnauthenticatedError("tampered link: its signature does not match");
  std::optional<std::string> claims = Base64UrlDecode(parts[1]);
  std::vector<std::string> fields;
  if (claims) fields = absl::StrSplit(*claims, kSeparator);
  int64_t expires = 0;
  if (fields.size() != 4 || !absl::SimpleAtoi(fields[3], &expires)) {
    return absl::UnauthenticatedError("malformed link");
  }
  ActionLink link{fields[0], fields[1], fields[2], absl::FromUnixSeconds(expires)};
  if (now >= link.expires_at) return absl::DeadlineExceededError("expired link");
  return link;
}

}  // namespace perfflow
