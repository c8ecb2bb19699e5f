#pragma once

// People's pages: small server-rendered HTML at stable URLs for people who
// are logged in (a bearer token in the Authorization header or in the
// perfflow_token cookie):
//   GET /people/sessions/{session}/brief   the rendered calibration brief
//   GET /people/flow-health                flow health by department and type

#include <string>

#include "absl/strings/string_view.h"
#include "common/html.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::gateway {

inline constexpr char kHtml[] = "text/html; charset=utf-8";

// The value of cookie `name` in a Cookie header ("" when absent).
std::string CookieValue(absl::string_view cookie_header, absl::string_view name);

// One self-contained page (no scripts, inline CSS).
std::string FlowHealthPage(const event::v1::GetFlowHealthResponse& health, const std::string& tenant);

// A page for an error status.
std::string ErrorPage(int http_status, const std::string& message);

}  // namespace perfflow::gateway
