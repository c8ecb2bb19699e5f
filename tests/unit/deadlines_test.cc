// The clock of tasks as plain values: timer offsets, digest periods in a
// tenant's time zone, backoff, digest messages and settings validation.

#include "services/event/deadlines.h"
#include "services/event/delivery/messages.h"

#include "common/flow/registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace perfflow::event {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

v1::Registry ParseOne(const std::string& yaml) {
  v1::ConfigFile f;
  f.set_name("settings.yaml");
  f.set_content(yaml);
  auto r = ParseRegistryFiles({f});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : v1::Registry{};
}

TEST(TimerPolicyTest, EventTypeOverridesTenantOverridesBuiltIn) {
  v1::Registry registry;
  v1::EventType type;
  TimerPolicy builtin = EffectiveTimers(registry, type);
  EXPECT_EQ(builtin.reminder_before, absl::Hours(4));
  EXPECT_EQ(builtin.escalate_after, absl::Hours(24));
  EXPECT_EQ(builtin.escalate_to, v1::ESCALATION_TARGET_SKIP_LEVEL_MANAGER);

  registry.mutable_settings()->mutable_timers()->set_reminder_before_hours(8);
  registry.mutable_settings()->mutable_timers()->set_escalate_to(v1::ESCALATION_TARGET_HR);
  type.mutable_actions()->mutable_timers()->set_escalate_after_hours(6);
  TimerPolicy p = EffectiveTimers(registry, type);
  EXPECT_EQ(p.reminder_before, absl::Hours(8));  // tenant
  EXPECT_EQ(p.escalate_after, absl::Hours(6));   // event type
  EXPECT_EQ(p.escalate_to, v1::ESCALATION_TARGET_HR);

  // reminders_off wins over any inherited offset.
  type.mutable_actions()->mutable_timers()->set_reminders_off(true);
  EXPECT_EQ(EffectiveTimers(registry, type).reminder_before, absl::ZeroDuration());
}

TEST(TimerPolicyTest, TimersFollowEachOtherOnceEach) {
  const absl::Time created = At("2026-03-02T09:00:00Z");
  const absl::Time due = created + absl::Hours(24);
  TimerPolicy p;
  ScheduledTimer first = FirstTimer(created, due, p);
  EXPECT_EQ(first.level, TimerLevel::kReminder);
  EXPECT_EQ(first.at, due - absl::Hours(4));
  ScheduledTimer second = NextTimer(first.level, due, p.escalate_after);
  EXPECT_EQ(second.level, TimerLevel::kOverdue);
  EXPECT_EQ(second.at, due);
  ScheduledTimer third = NextTimer(second.level, due, p.escalate_after);
  EXPECT_EQ(third.level, TimerLevel::kEscalation);
  EXPECT_EQ(third.at, due + absl::Hours(24));
  EXPECT_EQ(NextTimer(third.level, due, p.escalate_after).level, TimerLevel::kNone);

  // A reminder that would come before the task exists is skipped.
  EXPECT_EQ(FirstTimer(created, created + absl::Hours(2), p).level, TimerLevel::kOverdue);
  p.reminder_before = absl::ZeroDuration();
  EXPECT_EQ(FirstTimer(created, due, p).level, TimerLevel::kOverdue);
}

TEST(DigestScheduleTest, DailyDigestAtTheTenantsLocalHour) {
  TenantSchedule shanghai;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &shanghai.zone));
  shanghai.digest_hour = 9;
  // 00:59 UTC is 08:59 in Shanghai: not yet; 01:00 UTC is 09:00: due.
  EXPECT_FALSE(DuePeriods(At("2026-11-27T00:59:59Z"), shanghai).daily.has_value());
  EXPECT_EQ(DuePeriods(At("2026-11-27T01:00:00Z"), shanghai).daily, "2026-11-27");
  // 17:00 UTC on the 27th is already 01:00 on the 28th in Shanghai: the
  // 28th's digest waits for 09:00 there, not for the UTC date.
  EXPECT_FALSE(DuePeriods(At("2026-11-27T17:00:00Z"), shanghai).daily.has_value());
  EXPECT_EQ(DuePeriods(At("2026-11-28T01:00:00Z"), shanghai).daily, "2026-11-28");

  TenantSchedule berlin;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin.zone));
  // Summer time (UTC+2) and winter time (UTC+1) both honour 09:00 local.
  EXPECT_EQ(DuePeriods(At("2026-07-01T07:00:00Z"), berlin).daily, "2026-07-01");
  EXPECT_FALSE(DuePeriods(At("2026-07-01T06:59:00Z"), berlin).daily.has_value());
  EXPECT_EQ(DuePeriods(At("2026-12-01T08:00:00Z"), berlin).daily, "2026-12-01");
  EXPECT_FALSE(DuePeriods(At("2026-12-01T07:59:00Z"), berlin).daily.has_value());
}

TEST(DigestScheduleTest, WeeklyListFromMondayLocalHourThroughTheWeek) {
  TenantSchedule s;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &s.zone));
  s.weekly_hour = 9;
  // Monday 2026-11-23 08:00 Shanghai: not yet; 09:00: week 48.
  EXPECT_FALSE(DuePeriods(At("2026-11-23T00:00:00Z"), s).weekly.has_value());
  EXPECT_EQ(DuePeriods(At("2026-11-23T01:00:00Z"), s).weekly, "2026-W48");
  // Later in the week (a replica that was down on Monday still sends it).
  EXPECT_EQ(DuePeriods(At("2026-11-27T03:00:00Z"), s).weekly, "2026-W48");
  // Sunday 23:30 UTC is already Monday 07:30 in Shanghai: next week, not yet due.
  EXPECT_FALSE(DuePeriods(At("2026-11-29T23:30:00Z"), s).weekly.has_value());
  // ISO week across the year end: 2026-12-31 is a Thursday in week 53.
  EXPECT_EQ(DuePeriods(At("2026-12-31T12:00:00Z"), s).weekly, "2026-W53");
  EXPECT_EQ(DuePeriods(At("2027-01-04T12:00:00Z"), s).weekly, "2027-W01");
}

TEST(BackoffTest, DoublesUpToTheCapWithBoundedJitter) {
  const absl::Duration initial = absl::Seconds(30), max = absl::Hours(1);
  EXPECT_EQ(Backoff(1, initial, max, 0, 0.5), absl::Seconds(30));
  EXPECT_EQ(Backoff(2, initial, max, 0, 0.5), absl::Seconds(60));
  EXPECT_EQ(Backoff(5, initial, max, 0, 0.5), absl::Seconds(480));
  EXPECT_EQ(Backoff(30, initial, max, 0, 0.5), max);
  // Jitter 0.2 spreads +/-20%.
  EXPECT_EQ(Backoff(2, initial, max, 0.2, 0.0), absl::Seconds(48));
  EXPECT_EQ(Backoff(2, initial, max, 0.2, 0.5), absl::Seconds(60));
  EXPECT_LT(Backoff(2, initial, max, 0.2, 0.999999), absl::Seconds(72));
  EXPECT_GT(Backoff(2, initial, max, 0.2, 0.999999), absl::Seconds(71));
  // Never beyond the cap, even with jitter.
  EXPECT_EQ(Backoff(30, initial, max, 0.2, 0.999), max);
}

google::protobuf::Struct Json(const std::string& s) {
  google::protobuf::Struct out;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(s, &out).ok()) << s;
  return out;
}

TEST(DigestMessagesTest, ManagerDigestAggregatesTheTeamByEventType) {
  std::vector<TeamTaskCount> rows = {{"m1", "crm.contract_signed", 3, 1},
                                     {"m1", "qms.complaint_closed", 2, 2},
                                     {"m2", "crm.contract_signed", 1, 0},
                                     {"", "orphan", 5, 5}};
  std::vector<Notice> notices = ManagerDigests(rows, "2026-11-27");
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0].recipient_id, "m1");
  EXPECT_EQ(notices[0].topic, "daily_digest");
  EXPECT_EQ(notices[0].idempotency_key, "daily_digest:2026-11-27:m1");
  auto p = Json(notices[0].payload_json);
  EXPECT_EQ(p.fields().at("open").number_value(), 5);
  EXPECT_EQ(p.fields().at("overdue").number_value(), 3);
  EXPECT_EQ(p.fields().at("items").list_value().values_size(), 2);
  EXPECT_THAT(NoticeText("daily_digest", p), HasSubstr("5 open items, 3 overdue"));
}

TEST(DigestMessagesTest, WeeklyActionsListTasksWithTheirGoals) {
  const absl::Time now = At("2026-11-23T01:00:00Z");
  std::vector<PersonActions> people = {
      {"p1",
       12,
       1,
       {{"t1", "e1", "qms.complaint_closed", perfflow::type::v1::TASK_KIND_OWNER_UPLOAD, now - absl::Hours(1)},
        {"t2", "e2", "crm.contract_signed", perfflow::type::v1::TASK_KIND_OWNER_UPLOAD, now + absl::Hours(5)}}},
      {"p2",
       1,
       0,
       {{"t3", "e3", "crm.contract_signed", perfflow::type::v1::TASK_KIND_MANAGER_REVIEW, now + absl::Hours(9)}}}};
  auto goals = [](const std::string& type) {
    return type == "crm.contract_signed" ? std::vector<std::string>{"sales.renewal_rate"} : std::vector<std::string>{};
  };
  std::vector<Notice> notices = WeeklyActions(people, goals, "2026-W48");
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0].recipient_id, "p1");
  EXPECT_EQ(notices[0].idempotency_key, "weekly_actions:2026-W48:p1");
  auto p = Json(notices[0].payload_json);
  const auto& actions = p.fields().at("actions").list_value();
  ASSERT_EQ(actions.values_size(), 2);
  // In the order given (soonest due first); goals of the event type attached.
  EXPECT_EQ(actions.values(0).struct_value().fields().at("task").string_value(), "tasks/t1");
  EXPECT_EQ(actions.values(1).struct_value().fields().at("goals").list_value().values(0).string_value(),
            "sales.renewal_rate");
  // The counts are of all the person's open tasks; "more" is what is not listed.
  EXPECT_EQ(p.fields().at("open").number_value(), 12);
  EXPECT_EQ(p.fields().at("overdue").number_value(), 1);
  EXPECT_EQ(p.fields().at("more").number_value(), 10);
  EXPECT_THAT(NoticeText("weekly_actions", p), HasSubstr("12 open, 1 overdue"));
  EXPECT_EQ(Json(notices[1].payload_json).fields().at("more").number_value(), 0);
}

TEST(SettingsTest, ParsedValidatedAndMerged) {
  v1::Registry r = ParseOne(
      "kind: Settings\ntime_zone: Asia/Shanghai\ndigest_hour: 8\n"
      "timers: {reminder_before_hours: 6, escalate_to: hr}\n");
  EXPECT_TRUE(ValidateRegistry(r).empty());
  TenantSchedule s = ScheduleOf(r);
  EXPECT_EQ(s.digest_hour, 8);
  EXPECT_EQ(s.weekly_hour, 9);
  EXPECT_EQ(s.zone.name(), "Asia/Shanghai");
  v1::Registry merged = MergeRegistry(v1::Registry{}, r);
  EXPECT_EQ(merged.settings().timers().reminder_before_hours(), 6);

  v1::Registry bad = ParseOne(
      "kind: Settings\ntime_zone: Mars/Olympus\ndigest_hour: 24\nevidence_retention_days: 7\n"
      "notification_retention_days: 1\n"
      "timers: {reminder_before_hours: -1, escalate_after_hours: 9999}\n");
  std::vector<std::string> fields;
  for (const auto& v : ValidateRegistry(bad)) fields.push_back(v.field);
  EXPECT_THAT(fields, ElementsAre("settings.timers.reminder_before_hours", "settings.timers.escalate_after_hours",
                                  "settings.time_zone", "settings.digest_hour", "settings.evidence_retention_days",
                                  "settings.notification_retention_days"));
  EXPECT_TRUE(ValidateRegistry(ParseOne("kind: Settings\nevidence_retention_days: 1825\n")).empty());

  v1::ConfigFile twice;
  twice.set_name("s.yaml");
  twice.set_content("kind: Settings\n---\nkind: Settings\n");
  auto parsed = ParseRegistryFiles({twice});
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("document 2: kind: Settings given twice"));
}

}  // namespace
}  // namespace perfflow::event
