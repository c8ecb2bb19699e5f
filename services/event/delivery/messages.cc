#include "services/event/delivery/messages.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/struct_json.h"
#include "common/struct_values.h"
#include "common/timestamps.h"
#include "google/protobuf/struct.pb.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using google::protobuf::Struct;
using google::protobuf::Value;

// Counts, strings and times only: always representable.
std::string ToJson(const Struct& s) { return StructToJson(s).value(); }

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

std::string Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end()) return "";
  if (it->second.has_number_value()) return absl::StrCat(it->second.number_value());
  return it->second.string_value();
}

}  // namespace

TenantSchedule ScheduleOf(const v1::Registry& registry) {
  TenantSchedule schedule;
  const v1::Settings& st = registry.settings();
  schedule.zone = ZoneOrUtc(st.time_zone());
  if (st.digest_hour() > 0) schedule.digest_hour = st.digest_hour();
  if (st.weekly_hour() > 0) schedule.weekly_hour = st.weekly_hour();
  return schedule;
}

DigestPeriods DuePeriods(absl::Time now, const TenantSchedule& schedule) {
  DigestPeriods out;
  const absl::CivilSecond local = absl::ToCivilSecond(now, schedule.zone);
  const absl::CivilDay day(local);
  if (local.hour() >= schedule.digest_hour) out.daily = absl::FormatCivilTime(day);
  // ISO week: the Thursday of this week decides the year.
  const absl::Weekday wd = absl::GetWeekday(day);
  const int from_monday = (static_cast<int>(wd) - static_cast<int>(absl::Weekday::monday) + 7) % 7;
  const absl::CivilDay monday = day - from_monday;
  const absl::CivilDay thursday = monday + 3;
  const int week = static_cast<int>((absl::GetYearDay(thursday) - 1) / 7 + 1);
  if (from_monday > 0 || local.hour() >= schedule.weekly_hour) {
    out.weekly = absl::StrFormat("%04d-W%02d", thursday.year(), week);
  }
  return out;
}

absl::Duration Backoff(int attempt, absl::Duration initial, absl::Duration max, double jitter, double unit) {
  const int exponent = std::clamp(attempt - 1, 0, 30);
  absl::Duration base = std::min(max, initial * std::ldexp(1.0, exponent));
  const double factor = 1.0 + jitter * (2.0 * unit - 1.0);
  return std::min(max, base * factor);
}

std::vector<Notice> ManagerDigests(const std::vector<TeamTaskCount>& rows, const std::string& period) {
  std::map<std::string, std::vector<const TeamTaskCount*>> by_manager;
  for (const TeamTaskCount& r : rows) {
    if (!r.manager_id.empty() && r.open > 0) by_manager[r.manager_id].push_back(&r);
  }
  std::vector<Notice> out;
  for (const auto& [manager, items] : by_manager) {
    Struct payload;
    (*payload.mutable_fields())["period"] = StringValue(period);
    auto* list = (*payload.mutable_fields())["items"].mutable_list_value();
    int64_t open = 0, overdue = 0;
    for (const TeamTaskCount* r : items) {
      Struct item;
      (*item.mutable_fields())["event_type"] = StringValue(r->event_type);
      (*item.mutable_fields())["open"] = NumberValue(static_cast<double>(r->open));
      (*item.mutable_fields())["overdue"] = NumberValue(static_cast<double>(r->overdue));
      *list->add_values()->mutable_struct_value() = item;
      open += r->open;
      overdue += r->overdue;
    }
    (*payload.mutable_fields())["open"] = NumberValue(static_cast<double>(open));
    (*payload.mutable_fields())["overdue"] = NumberValue(static_cast<double>(overdue));
    out.push_back({manager, "daily_digest", absl::StrCat("daily_digest:", period, ":", manager), ToJson(payload)});
  }
  return out;
}

std::vector<Notice> WeeklyActions(const std::vector<PersonActions>& people,
                                  const std::function<std::vector<std::string>(const std::string&)>& goals_of,
                                  const std::string& period) {
  std::vector<Notice> out;
  for (const PersonActions& person : people) {
    Struct payload;
    (*payload.mutable_fields())["period"] = StringValue(period);
    auto* items = (*payload.mutable_fields())["actions"].mutable_list_value();
    for (const OpenTask& task : person.soonest) {
      Struct item;
      (*item.mutable_fields())["task"] = StringValue("tasks/" + task.task_id);
      (*item.mutable_fields())["event"] = StringValue("events/" + task.event_id);
      (*item.mutable_fields())["event_type"] = StringValue(task.event_type);
      (*item.mutable_fields())["kind"] = StringValue(TaskKindLabel(task.kind));
      (*item.mutable_fields())["due_at"] = StringValue(Rfc3339(task.due_at));
      auto* goals = (*item.mutable_fields())["goals"].mutable_list_value();
      for (const std::string& g : goals_of(task.event_type)) *goals->add_values() = StringValue(g);
      *items->add_values()->mutable_struct_value() = item;
    }
    (*payload.mutable_fields())["open"] = NumberValue(static_cast<double>(person.open));
    (*payload.mutable_fields())["overdue"] = NumberValue(static_cast<double>(person.overdue));
    (*payload.mutable_fields())["more"] = NumberValue(static_cast<double>(person.open - items->values_size()));
    out.push_back({person.assignee_id, "weekly_actions",
                   absl::StrCat("weekly_actions:", period, ":", person.assignee_id), ToJson(payload)});
  }
  return out;
}

std::string NoticeText(const std::string& topic, const Struct& p) {
  const std::string what =
      absl::StrCat(Field(p, "kind"), " for ", Field(p, "event_type"), " (", Field(p, "event"), ")");
  if (topic == "task.assigned") {
    return absl::StrCat("[perfflow] 新任务 New task: ", what, ", due ", Field(p, "due_at"));
  }
  if (topic == "task.reminder") {
    return absl::StrCat("[perfflow] 即将到期 Due soon: ", what, ", due ", Field(p, "due_at"));
  }
  if (topic == "task.overdue") {
    return absl::StrCat("[perfflow] 已逾期 Overdue: ", what, ", was due ", Field(p, "due_at"));
  }
  if (topic == "task.escalated") {
    return absl::StrCat("[perfflow] 升级提醒 Escalation: ", what, " assigned to ", Field(p, "assignee"),
                        " is overdue since ", Field(p, "due_at"));
  }
  if (topic == "daily_digest") {
    return absl::StrCat("[perfflow] 团队日报 Team digest ", Field(p, "period"), ": ", Field(p, "open"), " open items, ",
                        Field(p, "overdue"), " overdue — please check");
  }
  if (topic == "calibration.changed") {
    return absl::StrCat("[perfflow] 校准结果变更 Your rating changed in ", Field(p, "session_title"), ": ",
                        Field(p, "previous_rating"), " → ", Field(p, "final_rating"),
                        ". 原因 Reason: ", Field(p, "rationale"));
  }
  if (topic == "weekly_actions") {
    return absl::StrCat("[perfflow] 本周关键动作 This week's key actions (", Field(p, "period"),
                        "): ", Field(p, "open"), " open, ", Field(p, "overdue"), " overdue");
  }
  return absl::StrCat("[perfflow] ", topic);
}

namespace {

const char* KindTitle(const std::string& kind) {
  if (kind == "owner_upload") return "上传证据 Upload the evidence";
  if (kind == "manager_review") return "评价行动 Review the action";
  if (kind == "cross_confirm") return "确认影响范围 Confirm the impact";
  return "处理任务 Act on the task";
}

std::string Bilingual(const v1::LocalizedText& text) {
  if (text.zh().empty() || text.en().empty()) return text.zh().empty() ? text.en() : text.zh();
  return absl::StrCat(text.zh(), " ", text.en());
}

std::string ValueText(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kBoolValue:
      return v.bool_value() ? "是 yes" : "否 no";
    case google::protobuf::Value::kNumberValue: {
      const double d = v.number_value();
      return d == std::floor(d) && std::abs(d) < 1e15 ? absl::StrCat(static_cast<int64_t>(d)) : absl::StrCat(d);
    }
    default:
      return "";
  }
}

}  // namespace

std::optional<Card> NoticeCard(const std::string& topic, const google::protobuf::Struct& payload,
                               const std::string& action_url, const CardContext& context) {
  Card card;
  if (topic == "daily_digest" || topic == "weekly_actions") {
    card.title = topic == "daily_digest" ? "团队日报 Team digest" : "本周关键动作 This week's key actions";
    card.facts = {{"待办 Open", Field(payload, "open")}, {"逾期 Overdue", Field(payload, "overdue")}};
    card.urgent = Field(payload, "overdue") != "0" && !Field(payload, "overdue").empty();
    card.buttons = {{"打开我的任务 Open my tasks", action_url}};
    return card;
  }
  const char* prefix = topic == "task.assigned"   ? "新任务"
                       : topic == "task.reminder" ? "即将到期"
                       : topic == "task.overdue"  ? "已逾期"
                                                  : nullptr;
  if (prefix == nullptr) return std::nullopt;
  const std::string kind = Field(payload, "kind");
  card.title = absl::StrCat(prefix, " · ", KindTitle(kind));
  card.urgent = topic == "task.overdue";
  card.facts.push_back(
      {"事件 Event", context.type ? Bilingual(context.type->display_name()) : Field(payload, "event_type")});
  if (context.type) {
    for (const auto& spec : context.type->attributes()) {
      auto value = context.attributes.fields().find(spec.name());
      if (!spec.headline() || value == context.attributes.fields().end()) continue;
      const std::string label = Bilingual(spec.description());
      card.facts.push_back({label.empty() ? spec.name() : label, ValueText(value->second)});
    }
  }
  if (!context.owner_name.empty()) card.facts.push_back({"负责人 Owner", context.owner_name});
  absl::Time due;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, Field(payload, "due_at"), &due, &error)) {
    card.facts.push_back({"截止 Due", absl::FormatTime("%Y-%m-%d %H:%M %Z", due, context.zone)});
  }
  if (kind == "manager_review") {
    // Each verdict opens the page with it chosen; the manager still writes the comment.
    card.buttons = {{"达标 Meets", action_url + "?verdict=VERDICT_MEETS"},
                    {"待优化 Needs improvement", action_url + "?verdict=VERDICT_NEEDS_IMPROVEMENT"},
                    {"需重做 Redo", action_url + "?verdict=VERDICT_REDO"}};
  } else if (kind == "cross_confirm") {
    card.buttons = {{"确认影响 Confirm", action_url}};
  } else {
    card.buttons = {{"上传证据 Upload", action_url}};
  }
  return card;
}

}  // namespace perfflow::event
