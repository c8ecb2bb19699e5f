#include "gateway/pages.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/timestamps.h"

namespace perfflow::gateway {
namespace {

constexpr char kHead[] =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>"
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:right}th:first-child,td:first-child{text-align:left}"
    ".big{font-size:2.5em;font-weight:bold}.bar{background:#4a8;height:.8em;display:inline-block}"
    "</style></head><body>";

std::string Percent(const event::v1::HealthFigure& f) {
  return f.decided() ? absl::StrFormat("%.1f%%", f.ratio() * 100) : "–";
}

std::string Table(const std::string& title, const std::string& key_name,
                  const google::protobuf::RepeatedPtrField<event::v1::HealthFigure>& rows) {
  std::string out = absl::StrCat("<h2>", HtmlEscape(title), "</h2><table><tr><th>", HtmlEscape(key_name),
                                 "</th><th>within 48 h</th><th>outside</th><th>pending</th><th>flow health</th><th></th></tr>");
  for (const auto& f : rows) {
    absl::StrAppend(&out, "<tr><td>", HtmlEscape(f.key()), "</td><td>", f.within_sla(), "</td><td>", f.outside_sla(),
                    "</td><td>", f.pending(), "</td><td>", Percent(f), "</td><td><span class=\"bar\" style=\"width:",
                    static_cast<int>(f.ratio() * 120), "px\"></span></td></tr>");
  }
  return out + "</table>";
}

}  // namespace

std::string CookieValue(absl::string_view cookie_header, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.first == name) return std::string(kv.second);
  }
  return "";
}

std::string FlowHealthPage(const event::v1::GetFlowHealthResponse& health, const std::string& tenant) {
  const event::v1::HealthFigure& all = health.overall();
  std::string out = absl::StrFormat(kHead, "Flow health");
  absl::StrAppend(&out, "<h1>Flow health — ", HtmlEscape(tenant), "</h1>",
                  "<p>The share of chains closed within 48 hours, over the last 30 days (evaluated ",
                  absl::FormatTime("%Y-%m-%d %H:%M UTC", FromTimestamp(health.evaluated_at()), absl::UTCTimeZone()),
                  ").</p><p class=\"big\">", Percent(all), "</p><p>", all.within_sla(), " within 48 h, ",
                  all.outside_sla(), " outside, ", all.pending(), " still pending.</p>");
  absl::StrAppend(&out, Table("By department", "department", health.by_department()),
                  Table("By event type", "event type", health.by_event_type()),
                  Table("By week", "week starting", health.by_period()), "</body></html>");
  return out;
}

std::string ErrorPage(int http_status, const std::string& message) {
  return absl::StrCat(absl::StrFormat(kHead, "perfflow"), "<h1>", http_status, "</h1><p>", HtmlEscape(message),
                      "</p></body></html>");
}

}  // namespace perfflow::gateway
