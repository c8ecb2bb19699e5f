#include "gateway/pages.h"

#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/timestamps.h"

namespace perfflow::gateway {
namespace {

constexpr char kHead[] =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>"
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:right}th:first-child,td:first-child{text-align:left}"
    ".big{font-size:2.5em;font-weight:bold}.track{position:relative;display:inline-block;width:120px;height:.8em;"
    "background:#eee}.bar{position:absolute;left:0;top:0;height:100%%}.target{position:absolute;top:-.2em;"
    "height:1.2em;border-left:2px solid #222}.met{background:#4a8}.below{background:#dd6b20}.few{background:#bbb}"
    ".note{color:#666}</style></head><body>";

// The product's target for flow health (the case study's 31% -> 87%), as on the dashboards.
constexpr double kTarget = 0.87;
// Fewer decided chains than this: the share is shown, greyed, and not judged against the target.
constexpr int64_t kFewDecided = 5;

std::string Percent(const event::v1::HealthFigure& f) {
  return f.decided() ? absl::StrFormat("%.1f%%", f.ratio() * 100) : "–";
}

// A 0-100% bar with the target marked: green at or above it, orange below, grey on few chains.
std::string Bar(const event::v1::HealthFigure& f) {
  if (!f.decided()) return "";
  const int64_t decided = f.within_sla() + f.outside_sla();
  const char* cls = decided < kFewDecided ? "few" : f.ratio() >= kTarget ? "met" : "below";
  return absl::StrFormat(
      "<span class=\"track\" title=\"target %.0f%%\"><span class=\"bar %s\" style=\"width:%dpx\"></span>"
      "<span class=\"target\" style=\"left:%dpx\"></span></span>",
      kTarget * 100, cls, static_cast<int>(f.ratio() * 120), static_cast<int>(kTarget * 120));
}

// `key` by its name in `names`, else the key itself.
std::string NameOf(const std::map<std::string, std::string>& names, const std::string& key) {
  auto it = names.find(key);
  return it != names.end() && !it->second.empty() ? it->second : key;
}

// A row label: a name, or a week with "(partial)" when the window cuts it.
using Label = std::function<std::string(const std::string& key)>;

std::string Table(const std::string& title, const std::string& key_name,
                  const google::protobuf::RepeatedPtrField<event::v1::HealthFigure>& rows, const Label& label) {
  std::string out =
      absl::StrCat("<h2>", HtmlEscape(title), "</h2><table><tr><th>", HtmlEscape(key_name),
                   "</th><th>within 48 h</th><th>outside</th><th>pending</th><th>flow health</th><th></th></tr>");
  for (const auto& f : rows) {
    absl::StrAppend(&out, "<tr><td>", label(f.key()), "</td><td>", f.within_sla(), "</td><td>", f.outside_sla(),
                    "</td><td>", f.pending(), "</td><td>", Percent(f), "</td><td>", Bar(f), "</td></tr>");
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

std::string FlowHealthPage(const event::v1::GetFlowHealthResponse& health, const std::string& tenant,
                           const FlowHealthView& view) {
  const absl::TimeZone zone = ZoneOrUtc(view.time_zone);
  auto local = [&](absl::Time t, const char* format) { return absl::FormatTime(format, t, zone); };
  const event::v1::HealthFigure& all = health.overall();
  std::string out = absl::StrFormat(kHead, "Flow health");
  absl::StrAppend(&out, "<h1>Flow health — ", HtmlEscape(tenant), "</h1>",
                  "<p>The share of decided chains closed within 48 hours, of those opened ",
                  local(view.start, "%Y-%m-%d %H:%M"), " – ", local(view.end, "%Y-%m-%d %H:%M %Z"), "; the target is ",
                  absl::StrFormat("%.0f%%", kTarget * 100), ".</p><p class=\"big\">", Percent(all), "</p><p>",
                  all.within_sla(), " within 48 h, ", all.outside_sla(), " outside, ", all.pending(),
                  " still pending.</p><p class=\"note\">Groups with fewer than ", kFewDecided,
                  " decided chains are shown in grey and not judged against the target.</p>");
  auto named = [](const std::map<std::string, std::string>& names) {
    return [&names](const std::string& key) { return HtmlEscape(NameOf(names, key)); };
  };
  auto week = [&](const std::string& key) {
    absl::CivilDay day;
    std::string text = HtmlEscape(key);
    if (absl::ParseCivilTime(key, &day)) {
      const absl::Time begins = absl::FromCivil(day, zone);
      if (begins < view.start || begins + absl::Hours(24 * 7) > view.end) {
        text += " <span class=\"note\">(partial)</span>";
      }
    }
    return text;
  };
  absl::StrAppend(&out, Table("By department", "department", health.by_department(), named(view.department_names)),
                  Table("By event type", "event type", health.by_event_type(), named(view.type_names)),
                  Table("By week", "week starting", health.by_period(), week), "</body></html>");
  return out;
}

std::string ErrorPage(int http_status, const std::string& message) {
  return absl::StrCat(absl::StrFormat(kHead, "perfflow"), "<h1>", http_status, "</h1><p>", HtmlEscape(message),
                      "</p></body></html>");
}

}  // namespace perfflow::gateway
