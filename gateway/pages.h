#pragma once

// People's pages: small server-rendered HTML at stable URLs for people who
// are logged in (a bearer token in the Authorization header or in the
// perfflow_token cookie):
//   GET /people/sessions/{session}/brief   the rendered calibration brief
//   GET /people/flow-health                flow health by department and type

#include <functional>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "common/html.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::gateway {

// The value of cookie `name` in a Cookie header ("" when absent).
std::string CookieValue(absl::string_view cookie_header, absl::string_view name);

// One self-contained page (no scripts, inline CSS).
std::string FlowHealthPage(const event::v1::GetFlowHealthResponse& health, const std::string& tenant);

// The page a signed action link opens: what the task asks of `person`, for
// which event, and when it is due. `event_type_name` is the type's display
// name in the page's language.
std::string ActionPage(const event::v1::Task& task, const std::string& event_type_name, const std::string& person);

// The inbox a digest's link opens: the person's open tasks, due first,
// overdue marked, each with its own action link. `type_names` maps event
// type keys to display names; `link_of` gives a task's action URL.
std::string InboxPage(const event::v1::ListTasksResponse& tasks, const std::map<std::string, std::string>& type_names,
                      const std::function<std::string(const event::v1::Task&)>& link_of, const std::string& person);

// A page for an error status.
std::string ErrorPage(int http_status, const std::string& message);

}  // namespace perfflow::gateway
