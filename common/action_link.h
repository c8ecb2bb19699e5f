#pragma once

// Signed action links: the link in a task's notification that opens that
// task's page for its assignee without signing in. The token names the
// tenant, the task, the person and an expiry, with an HMAC-SHA256 over them
// under the link key. Keys rotate like webhook secrets: the first key signs,
// every configured key verifies (two while rotating). Thread-safe (immutable).

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace perfflow {

inline constexpr char kActionLinkKeysEnv[] = "PERFFLOW_ACTION_LINK_KEYS";

struct ActionLink {
  std::string tenant;
  // Empty: the person's inbox.
  std::string task_id;
  std::string person;
  absl::Time expires_at;
};

class ActionLinkKeys {
 public:
  // InvalidArgument unless there is at least one key and each has at least
  // 32 bytes.
  static absl::StatusOr<ActionLinkKeys> Create(std::vector<std::string> keys);
  // From PERFFLOW_ACTION_LINK_KEYS (comma-separated, signing key first); an
  // unset variable gives no keys (links are not issued).
  static absl::StatusOr<std::optional<ActionLinkKeys>> FromEnvironment();

  // "v1.<claims>.<signature>", URL-safe.
  std::string Sign(const ActionLink& link) const;
  // UNAUTHENTICATED "malformed" or "tampered" for a token that is not ours;
  // DEADLINE_EXCEEDED "expired" for one past its expiry.
  absl::StatusOr<ActionLink> Verify(absl::string_view token, absl::Time now) const;

 private:
  explicit ActionLinkKeys(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  std::vector<std::string> keys_;
};

}  // namespace perfflow
