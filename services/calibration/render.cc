#include "services/calibration/render.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/html.h"
#include "common/timestamps.h"
#include "google/protobuf/util/json_util.h"

namespace perfflow::calibration {
namespace {

// A measure's name for people ("on-time rate"), never its key.
std::string Label(const v1::Comparison& c) {
  if (!c.name().en().empty()) return absl::StrCat("KPI: ", c.name().en());
  const std::string& measure = c.measure();
  static const std::map<std::string, std::string> kLabels = {
      {"chains", "chains"},
      {"on_time_rate", "on-time rate"},
      {"evidence_completeness", "evidence completeness"},
      {"verdict_meets", "'meets' verdicts"},
      {"verdict_needs_improvement", "'needs improvement' verdicts"},
      {"verdict_redo", "redo verdicts"},
      {"median_response_hours", "median response time"},
      {"median_closure_hours", "median closure time"}};
  auto it = kLabels.find(measure);
  if (it != kLabels.end()) return it->second;
  return measure;
}

// The brief's window as dates in the tenant's zone, not nanosecond timestamps.
std::string Window(const v1::Brief& brief) {
  const std::string zone_name = brief.time_zone().empty() ? "UTC" : brief.time_zone();
  const absl::TimeZone zone = ZoneOrUtc(zone_name);
  auto date = [&](const google::protobuf::Timestamp& t) {
    return absl::FormatTime("%Y-%m-%d", FromTimestamp(t), zone);
  };
  return absl::StrCat(date(brief.window_start()), " – ", date(brief.window_end()), " (", zone_name, ")");
}

// The department's name, else its id.
std::string DepartmentOf(const v1::PersonBrief& p) {
  return p.department_name().empty() ? p.department_id() : p.department_name();
}

// Goal figures as people read them: ratios as percentages, the rest to 3
// significant digits with the goal's unit ("10.7 days"; a score stays bare).
std::string GoalFigure(const v1::GoalLink& g, double v) {
  if (g.unit() == "ratio" || (g.unit().empty() && v > 0 && v <= 1 && g.target() <= 1)) {
    return absl::StrFormat("%.1f%%", v * 100);
  }
  const bool words = !g.unit().empty() && g.unit() != "score";
  return absl::StrCat(absl::StrFormat("%.3g", v), words ? " " : "", words ? g.unit() : "");
}

// The heading's name: the display name, and the id beside it (names repeat).
std::string NameOf(const v1::PersonBrief& p) {
  return p.display_name().empty() ? p.employee_id() : absl::StrCat(p.display_name(), " (", p.employee_id(), ")");
}

// Rates are shown as percentages, hour medians in hours, chains as counts,
// KPIs in their goal's unit.
std::string Value(const v1::Comparison& c, double v) {
  const std::string& measure = c.measure();
  if (measure.rfind("median_", 0) == 0) return absl::StrFormat("%.1f h", v);
  if (measure == "chains") return absl::StrFormat("%.0f", v);
  if (measure.rfind("kpi:", 0) == 0) {
    if (c.unit() == "ratio") return absl::StrFormat("%.1f%%", v * 100);
    const bool words = !c.unit().empty() && c.unit() != "score";
    return absl::StrCat(absl::StrFormat("%.3g", v), words ? " " : "", words ? c.unit() : "");
  }
  return absl::StrFormat("%.0f%%", v * 100);
}

// A month's figure, or "–" when the month has nothing to measure it on (never a false 0%).
std::string MonthCell(const v1::Measures& m, const std::string& measure, double v) {
  if (std::find(m.defined().begin(), m.defined().end(), measure) == m.defined().end()) return "–";
  v1::Comparison c;
  c.set_measure(measure);
  return Value(c, v);
}

// The difference from the peers in the measure's own terms: percentage
// points for rates, hours for durations, percent for KPIs; with n.
std::string Signed(const v1::Comparison& c) {
  if (c.too_few()) return absl::StrFormat("too few (n = %d, needs %d)", c.n(), c.min_n());
  std::string diff = c.is_rate()                            ? absl::StrFormat("%+.0f points", c.difference() * 100)
                     : c.measure().rfind("median_", 0) == 0 ? absl::StrFormat("%+.1f h vs the median", c.difference())
                                                            : absl::StrFormat("%+.0f%%", c.relative_difference() * 100);
  return absl::StrCat(diff, absl::StrFormat(", n = %d", c.n()),
                      c.robust_z_defined() ? absl::StrFormat(", robust z %+.1f", c.robust_z()) : "");
}

// How the brief flags, in words.
std::string FlagRule(const v1::Brief& brief) {
  return absl::StrFormat(
      "flagged at ±%.0f points (rates), ±%.0f%% (durations, KPIs) or robust |z| ≥ %.1f, on at least %d "
      "observations (%d for KPIs)",
      brief.points_threshold() * 100, brief.relative_threshold() * 100, brief.z_threshold(), brief.min_n(),
      brief.min_kpi_observations());
}

// Flagged comparisons first, then the rest in their order.
std::vector<const v1::Comparison*> FlaggedFirst(const v1::PersonBrief& p) {
  std::vector<const v1::Comparison*> out;
  for (const auto* list : {&p.comparisons(), &p.business()}) {
    for (const auto& c : *list) out.push_back(&c);
  }
  std::stable_partition(out.begin(), out.end(), [](const v1::Comparison* c) { return c->flagged(); });
  return out;
}

std::string Markdown(const v1::Brief& brief, const std::string& title) {
  std::string md = absl::StrCat("# ", title, " — calibration brief v", brief.version(), "\n\n");
  absl::StrAppend(&md, "Window ", Window(brief), "; cohort of ", brief.cohort_size(), "; ", FlagRule(brief), ".\n\n");
  if (brief.peers_withheld()) md += "> Peer figures withheld: the cohort has fewer than 4 people.\n\n";
  for (const std::string& d : brief.degraded()) absl::StrAppend(&md, "> Missing source: ", d, "\n\n");
  for (const v1::PersonBrief& p : brief.people()) {
    absl::StrAppend(&md, "## ", NameOf(p), " (", DepartmentOf(p), ", ", p.grade(), ")",
                    p.flagged_count() > 0 ? absl::StrCat(" — ", p.flagged_count(), " flagged") : "", "\n\n");
    for (const auto& prompt : p.prompts()) absl::StrAppend(&md, "- **", prompt.en(), "**\n  ", prompt.zh(), "\n");
    if (p.prompts_size() > 0) md += "\n";
    md += "| month | chains | on time | evidence | median response | median closure |\n|---|---|---|---|---|---|\n";
    for (const auto& m : p.months()) {
      const auto& v = m.measures();
      absl::StrAppend(&md, "| ", m.month(), " | ", v.chains(), " | ", MonthCell(v, "on_time_rate", v.on_time_rate()),
                      " | ", MonthCell(v, "evidence_completeness", v.evidence_completeness()), " | ",
                      MonthCell(v, "median_response_hours", v.median_response_hours()), " | ",
                      MonthCell(v, "median_closure_hours", v.median_closure_hours()), " |\n");
    }
    md += "\n";
    auto rows = FlaggedFirst(p);
    if (!rows.empty()) {
      md += "| measure | value | cohort mean | cohort median | vs peers | flag |\n|---|---|---|---|---|---|\n";
      for (const v1::Comparison* c : rows) {
        absl::StrAppend(&md, "| ", Label(*c), " | ", Value(*c, c->value()), " | ", Value(*c, c->cohort_mean()), " | ",
                        Value(*c, c->cohort_median()), " | ", Signed(*c), " | ",
                        c->flagged() ? (c->favourable() ? "▲ better" : "▼ worse") : "", " |\n");
      }
      for (const v1::Comparison* c : rows) {
        if (c->events_size() > 0) {
          absl::StrAppend(&md, "\n", Label(*c), ", chains behind it: ", absl::StrJoin(c->events(), ", "), "\n");
        }
      }
      md += "\n";
    }
    for (const auto& g : p.goals()) {
      absl::StrAppend(
          &md, "- goal ", g.name().en().empty() ? g.goal() : g.name().en(), ": target ", GoalFigure(g, g.target()),
          g.has_actual() ? absl::StrCat(", actual ", GoalFigure(g, g.actual()), g.met() ? " (met)" : " (behind)")
                         : ", no data",
          "\n");
    }
    md += "\n";
  }
  return md;
}

// A polyline of the monthly on-time rate (0..100%).
// The monthly on-time rate: a y-axis from 0 to 100%, a dot for each month
// with decided chains (joined to the previous month's dot when that month had
// some too), and nothing for a month without any — never a false 0%.
std::string TrendSvg(const v1::PersonBrief& p) {
  const int w = 260, h = 96, left = 34, right = 30, top = 8, bottom = 18;
  const int n = p.months_size();
  auto x_of = [&](int i) { return left + (n == 1 ? (w - left - right) / 2.0 : (w - left - right) * i / (n - 1.0)); };
  auto y_of = [&](double rate) { return top + (h - top - bottom) * (1 - rate); };
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
      "aria-label=\"monthly on-time rate\"><rect width=\"%d\" height=\"%d\" fill=\"#f7f7f7\"/>",
      w, h, w, h);
  for (double tick : {0.0, 0.5, 1.0}) {
    absl::StrAppend(&svg,
                    absl::StrFormat("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#cbd5e0\"/>"
                                    "<text x=\"%d\" y=\"%.1f\" font-size=\"8\" text-anchor=\"end\">%.0f%%</text>",
                                    left, w - right, y_of(tick), y_of(tick), left - 3, y_of(tick) + 3, tick * 100));
  }
  std::optional<std::pair<double, double>> previous;
  for (int i = 0; i < n; ++i) {
    const v1::Measures& m = p.months(i).measures();
    const bool decided = std::find(m.defined().begin(), m.defined().end(), "on_time_rate") != m.defined().end();
    const double x = x_of(i);
    absl::StrAppend(&svg, absl::StrFormat("<text x=\"%.1f\" y=\"%d\" font-size=\"8\" text-anchor=\"middle\">%s</text>",
                                          x, h - 5, HtmlEscape(p.months(i).month())));
    if (!decided) {
      absl::StrAppend(&svg, absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"7\" fill=\"#718096\" "
                                            "text-anchor=\"middle\">none decided</text>",
                                            x, y_of(0.5)));
      previous.reset();
      continue;
    }
    const double y = y_of(m.on_time_rate());
    if (previous) {
      absl::StrAppend(&svg, absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2b6cb0\" "
                                            "stroke-width=\"2\"/>",
                                            previous->first, previous->second, x, y));
    }
    absl::StrAppend(&svg, absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#2b6cb0\"><title>%s: %.0f%% "
                                          "of %d decided</title></circle>",
                                          x, y, HtmlEscape(p.months(i).month()), m.on_time_rate() * 100, m.decided()));
    previous = std::make_pair(x, y);
  }
  return svg + "</svg>";
}

// Person (dark) vs the peers' centre (light: the figure `difference` is taken
// from), scaled to the larger of the two.
std::string BarSvg(const v1::Comparison& c) {
  const double centre = c.value() - c.difference();
  const double top = std::max({std::fabs(c.value()), std::fabs(centre), 1e-9});
  const int w = 160;
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"24\" role=\"img\" aria-label=\"person vs "
      "peers\"><rect y=\"2\" height=\"9\" width=\"%.1f\" fill=\"%s\"/><rect y=\"13\" height=\"9\" width=\"%.1f\" "
      "fill=\"#a0aec0\"/></svg>",
      w, w * std::fabs(c.value()) / top, c.flagged() ? (c.favourable() ? "#2f855a" : "#c53030") : "#4a5568",
      w * std::fabs(centre) / top);
}

// "78% of 9" — a share of MEETS with what it rests on.
std::string Share(int64_t meets, int64_t of) {
  return of == 0 ? "–" : absl::StrFormat("%.0f%% of %d", 100.0 * static_cast<double>(meets) / of, of);
}

std::string Dimension(const std::string& d) {
  return d.rfind("attribute:", 0) == 0 ? d.substr(std::string("attribute:").size()) : d;
}

std::string RatingMix(const v1::FairnessGroup& g) {
  std::vector<std::string> parts;
  for (const auto& [rating, n] : g.ratings()) parts.push_back(absl::StrCat(rating, " × ", n));
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, ", ");
}

// The fairness check: groups shown with their figures and tests, flagged ones marked.
std::string FairnessHtml(const v1::Fairness& f) {
  std::string html = absl::StrFormat(
      "<section id=\"fairness\"><h2>Fairness check</h2><p>Each group against the rest of the cohort: the share "
      "of 'meets' verdicts (Fisher's exact test; a manager against the other managers on the same event types) "
      "and the mix of ratings (permutation test), Holm-adjusted within each dimension, flagged below p = %.2f. "
      "Groups under %d verdicts or rated people are not shown (%d withheld).</p>\n",
      f.alpha(), f.min_group(), f.withheld_groups());
  if (f.verdicts_size() > 0) {
    html +=
        "<table id=\"fairness-verdicts\"><tr><th>by</th><th>group</th><th>'meets' in the group</th>"
        "<th>'meets' in the rest</th><th>p</th><th>adjusted p</th></tr>\n";
    for (const auto& g : f.verdicts()) {
      absl::StrAppend(&html, "<tr", g.flagged() ? " class=\"flag\"" : "", "><td>", HtmlEscape(Dimension(g.dimension())),
                      "</td><td>", HtmlEscape(g.group_name()), "</td><td>", Share(g.meets(), g.verdicts()), "</td><td>",
                      Share(g.rest_meets(), g.rest_verdicts()), "</td><td>", absl::StrFormat("%.3f", g.p_value()),
                      "</td><td>", absl::StrFormat("%.3f", g.adjusted_p_value()), g.flagged() ? " ▲" : "",
                      "</td></tr>\n");
    }
    html += "</table>\n";
  }
  if (f.ratings_size() > 0) {
    html +=
        "<table id=\"fairness-ratings\"><tr><th>by</th><th>group</th><th>ratings in the group</th><th>p</th>"
        "<th>adjusted p</th></tr>\n";
    for (const auto& g : f.ratings()) {
      absl::StrAppend(&html, "<tr", g.flagged() ? " class=\"flag\"" : "", "><td>", HtmlEscape(Dimension(g.dimension())),
                      "</td><td>", HtmlEscape(g.group_name()), "</td><td>", HtmlEscape(RatingMix(g)), "</td><td>",
                      absl::StrFormat("%.3f", g.p_value()), "</td><td>", absl::StrFormat("%.3f", g.adjusted_p_value()),
                      g.flagged() ? " ▲" : "", "</td></tr>\n");
    }
    html += "</table>\n";
  }
  if (f.verdicts_size() == 0 && f.ratings_size() == 0) html += "<p>No group is large enough to test.</p>\n";
  return html + "</section>\n";
}

std::string Html(const v1::Brief& brief, const std::string& title) {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", HtmlEscape(title),
      " — calibration brief</title><style>body{font-family:sans-serif;margin:2em;color:#1a202c}"
      "section{page-break-inside:avoid;border-top:1px solid #cbd5e0;padding-top:1em}"
      "table{border-collapse:collapse}td,th{border:1px solid #e2e8f0;padding:2px 6px;text-align:left}"
      ".flag{color:#c53030;font-weight:bold}.good{color:#2f855a;font-weight:bold}.prompt{background:#fff5f5;"
      "padding:.5em;border-left:4px solid #c53030}@media print{body{margin:0}}</style></head><body>\n");
  absl::StrAppend(&html, "<h1>", HtmlEscape(title), "</h1><p>Brief v", brief.version(), ", window ",
                  HtmlEscape(Window(brief)), ", cohort of ", brief.cohort_size(), "; ", HtmlEscape(FlagRule(brief)),
                  ".</p>\n");
  if (brief.peers_withheld()) {
    html += "<p class=\"flag\" id=\"peers-withheld\">Peer figures withheld: the cohort has fewer than 4 people.</p>\n";
  }
  for (const std::string& d : brief.degraded()) {
    absl::StrAppend(&html, "<p class=\"flag\">Missing source: ", HtmlEscape(d), "</p>\n");
  }
  for (const v1::PersonBrief& p : brief.people()) {
    absl::StrAppend(&html, "<section data-employee=\"", HtmlEscape(p.employee_id()), "\"><h2>", HtmlEscape(NameOf(p)),
                    " <small>", HtmlEscape(DepartmentOf(p)), " · ", HtmlEscape(p.grade()), "</small></h2>\n");
    for (const auto& prompt : p.prompts()) {
      absl::StrAppend(&html, "<p class=\"prompt\">", HtmlEscape(prompt.en()), "<br>", HtmlEscape(prompt.zh()),
                      "</p>\n");
    }
    absl::StrAppend(&html, TrendSvg(p), "\n");
    auto rows = FlaggedFirst(p);
    if (!rows.empty()) {
      html +=
          "<table><tr><th>measure</th><th>value</th><th>cohort mean</th><th>cohort median</th><th>vs peers</th>"
          "<th>person vs peers</th></tr>\n";
      for (const v1::Comparison* c : rows) {
        const char* cls = !c->flagged() ? "" : c->favourable() ? " class=\"good\"" : " class=\"flag\"";
        absl::StrAppend(&html, "<tr", cls, "><td>", HtmlEscape(Label(*c)), "</td><td>",
                        HtmlEscape(Value(*c, c->value())), "</td><td>", HtmlEscape(Value(*c, c->cohort_mean())),
                        "</td><td>", HtmlEscape(Value(*c, c->cohort_median())), "</td><td>", HtmlEscape(Signed(*c)),
                        "</td><td>", BarSvg(*c), "</td></tr>\n");
        if (c->events_size() > 0) {
          // The facts behind the flag, to discuss in the meeting.
          std::vector<std::string> ids;
          // events/{id} -> the chain's page in the gateway (/people/chains/{id}).
          for (const auto& e : c->events()) {
            const std::string id = e.substr(e.find('/') + 1);
            // Shown short, as commits are; the link carries the whole id.
            ids.push_back(absl::StrCat("<a href=\"/people/chains/", HtmlEscape(id), "\" title=\"", HtmlEscape(e),
                                       "\"><code>", HtmlEscape(id.substr(0, 8)), "</code></a>"));
          }
          absl::StrAppend(&html, "<tr class=\"chains\"><td colspan=\"6\">chains behind it: ", absl::StrJoin(ids, " "),
                          "</td></tr>\n");
        }
      }
      html += "</table>\n";
    }
    if (p.goals_size() > 0) {
      html += "<ul>";
      for (const auto& g : p.goals()) {
        absl::StrAppend(&html, "<li>", HtmlEscape(g.name().en().empty() ? g.goal() : g.name().en()), ": target ",
                        GoalFigure(g, g.target()),
                        g.has_actual()
                            ? absl::StrCat(", actual ", GoalFigure(g, g.actual()), g.met() ? " (met)" : " (behind)")
                            : ", no data",
                        "</li>");
      }
      html += "</ul>\n";
    }
    html += "</section>\n";
  }
  if (brief.has_fairness()) html += FairnessHtml(brief.fairness());
  return html + "</body></html>\n";
}

}  // namespace

absl::StatusOr<Rendered> RenderBrief(const v1::Brief& brief, const std::string& title, v1::RenderFormat format) {
  switch (format) {
    case v1::RENDER_FORMAT_JSON: {
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      if (!google::protobuf::util::MessageToJsonString(brief, &json, options).ok()) {
        return absl::InternalError("cannot serialise the brief");
      }
      return Rendered{"application/json", json};
    }
    case v1::RENDER_FORMAT_MARKDOWN:
      return Rendered{"text/markdown; charset=utf-8", Markdown(brief, title)};
    case v1::RENDER_FORMAT_HTML:
      return Rendered{"text/html; charset=utf-8", Html(brief, title)};
    default:
      return absl::InvalidArgumentError("format: required (JSON, MARKDOWN or HTML)");
  }
}

}  // namespace perfflow::calibration
