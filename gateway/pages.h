#pragma once

// People's pages: small server-rendered HTML at stable URLs for people who
// are logged in (a bearer token in the Authorization header or in the
// perfflow_token cookie):
//   GET /people/sessions/{session}/brief   the rendered calibration brief
//   GET /people/flow-health                flow health by department and type

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/html.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::gateway {

inline constexpr char kHtml[] = "text/html; charset=utf-8";

// The value of cookie `name` in a Cookie header ("" when absent).
std::string CookieValue(absl::string_view cookie_header, absl::string_view name);

// What the flow-health page shows besides the figures: the window they were
// asked for, names for the keys, the tenant's zone.
struct FlowHealthView {
  absl::Time start, end;
  std::map<std::string, std::string> department_names;  // id -> name
  std::map<std::string, std::string> type_names;        // event type key -> display name
  std::string time_zone;                                // IANA; empty: UTC
};

// The share of chains closed within 48 h against the 87% target, by
// department, event type and week (partial weeks marked), each group by name
// with its counts. One self-contained page (no scripts, inline CSS).
std::string FlowHealthPage(const event::v1::GetFlowHealthResponse& health, const std::string& tenant,
                           const FlowHealthView& view);

// A page for an error status.
std::string ErrorPage(int http_status, const std::string& message);

}  // namespace perfflow::gateway
