#pragma once

// The pages a person acts on (server-rendered HTML, usable on a phone, zh
// and en): the owner's evidence upload, the manager's verdict, the
// cross-department confirmation, the inbox, and the page after an action.
// Everything here renders; the ActionDesk fetches and acts.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"

namespace perfflow::gateway {

// The reader's language and the tenant's time zone.
class PageLocale {
 public:
  // The person's language from the directory ("zh" or "en") when set, else
  // zh unless the Accept-Language header prefers English; the tenant's IANA
  // zone (UTC when empty or unknown).
  PageLocale(absl::string_view accept_language, const std::string& time_zone, const std::string& language = "");

  bool zh() const { return zh_; }
  const char* T(const char* zh, const char* en) const { return zh_ ? zh : en; }
  // The text in the reader's language, else the other one.
  const std::string& Text(const event::v1::LocalizedText& text) const;
  // "2026-12-03 17:00 CST" in the tenant's zone.
  std::string Time(absl::Time t) const;

 private:
  bool zh_ = true;
  absl::TimeZone zone_;
};

// What a task page shows.
struct TaskView {
  event::v1::Task task;
  event::v1::Event event;
  event::v1::EventType type;  // empty when the type left the registry
  std::string owner_name;     // display names from the directory
  std::string person_name;
  std::vector<evidence::v1::Evidence> evidence;
  std::optional<evidence::v1::ChainValidation> validation;
  std::string self_url;   // /act/{token}: where the forms post
  std::string inbox_url;  // the person's inbox (signed), empty when unknown
};

// What the person entered, shown again with the outcome of the last post.
struct FormState {
  std::string notice;  // a success line
  std::string error;   // why the last post was refused
  type::v1::Verdict verdict = type::v1::VERDICT_UNSPECIFIED;
  std::string comment;
  std::set<std::string> behaviours;
  std::set<std::string> cited;   // evidence names
  std::set<std::string> scopes;  // supply_chain, quality, delivery, none
  std::string note;
  std::optional<feedback::v1::AnalyzeFeedbackResponse> guidance;
};

// The page of the task's kind: upload, verdict or confirmation.
std::string TaskPage(const TaskView& view, const FormState& form, const PageLocale& locale);

// What a page says when the door's rate limit refuses the request.
std::string TooManyRequests(const PageLocale& locale);

// The guidance panel of the verdict page (also served alone, for the page's
// live check as the manager types).
std::string GuidancePanel(const feedback::v1::AnalyzeFeedbackResponse& guidance, const PageLocale& locale);

// After an action that closed the task.
std::string DonePage(const TaskView& view, const std::string& message, const PageLocale& locale);

// The person's open tasks, due first, overdue marked, each with its own
// link; `type_names` maps type keys to display names.
std::string InboxPage(const event::v1::ListTasksResponse& tasks, const std::map<std::string, std::string>& type_names,
                      const std::function<std::string(const event::v1::Task&)>& link_of, const std::string& person_name,
                      const PageLocale& locale);

// A manager's team: each direct report's open chains and whom they wait on.
struct TeamView {
  struct Member {
    std::string name;
    int open_chains = 0;
    int late = 0;  // open tasks past due on their chains
  };
  struct Row {
    std::string owner_name;
    std::string event_type_name;
    std::string waiting_on_name;  // empty: waiting on nobody's task (e.g. the evidence chain)
    type::v1::TaskKind kind = type::v1::TASK_KIND_UNSPECIFIED;
    std::optional<absl::Time> due;
    bool overdue = false;
    std::string link;  // the manager's own task's action link, if any
  };
  std::string manager_name;
  std::vector<Member> members;
  std::vector<Row> rows;  // late first, then by due time
};
std::string TeamPage(const TeamView& team, const PageLocale& locale);

// One chain as a calibration meeting discusses it (the brief links here): the
// event, the time each step was reached and how long after the event, its
// tasks with who held them, and the verdict.
struct ChainView {
  event::v1::Event event;
  std::string type_name;
  std::string owner_name;
  std::map<std::string, std::string> names;  // assignee id -> display name
};
std::string ChainPage(const ChainView& chain, const PageLocale& locale);

// How to sign in: each issuer's sign-in link (label, URL) and a form that
// takes a token; `next` is where to go after.
std::string SignInPage(const std::vector<std::pair<std::string, std::string>>& links, const std::string& next,
                       const std::string& error, const PageLocale& locale);

// Event type keys to display names in the page's language.
std::map<std::string, std::string> TypeNames(const event::v1::Registry& registry, const PageLocale& locale);

// The impact scopes a confirmer chooses from (the type's, else all three).
std::vector<std::string> ImpactScopes(const event::v1::EventType& type);

}  // namespace perfflow::gateway
