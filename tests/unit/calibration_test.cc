// The calibration service's domain over SQLite, a fake event service and a
// manual clock: the golden cohort (numbers worked out by hand below), the
// small cohort, viewer rules, outcomes, KPI observations and rendering.

#include "services/calibration/calibration_core.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/timestamps.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/calibration/render.h"
#include "services/calibration/sql_calibration_store.h"
#include "tests/testing/fake_event_client.h"
#include "tests/testing/test_databases.h"

namespace perfflow::calibration {
namespace {

namespace t = perfflow::type::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time At(const std::string& rfc3339) {
  absl::Time out;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &out, &err)) << err;
  return out;
}

// A chain of `subject` triggered at `at`: owner action after `owner_h`,
// archived after `closure_h`, verdict MEETS, evidence complete.
ev1::FlowFact Fact(const std::string& subject, absl::Time at, double owner_h, double closure_h) {
  static int n = 0;
  ev1::FlowFact f;
  f.set_event("events/e" + std::to_string(++n));
  f.set_event_type("mes.first_article_passed");
  f.set_subject_id(subject);
  f.set_department_id("assembly");
  auto* times = f.mutable_flow()->mutable_times();
  ToTimestamp(at, times->mutable_triggered_at());
  ToTimestamp(at + absl::Minutes(owner_h * 60), times->mutable_owner_action_at());
  ToTimestamp(at + absl::Minutes(closure_h * 60), times->mutable_archived_at());
  ToTimestamp(at + absl::Minutes(owner_h * 60), times->mutable_evidence_complete_at());
  f.mutable_flow()->set_step(t::FLOW_STEP_ARCHIVED);
  f.mutable_flow()->set_verdict(t::VERDICT_MEETS);
  f.set_decided(true);
  f.set_within_sla(closure_h <= 48);
  return f;
}

RequestContext Hr() { return RequestContext{"acme", "hr-1", {"hr"}, ""}; }

class CalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = testing::MakeTestDatabase(testing::Backend::kSqlite);
    auto store = SqlCalibrationStore::Open(database_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    events_ = std::make_shared<testing::FakeEventClient>();
    events_->PutCatalogueAndOrg();
    clock_ = std::make_shared<ManualClock>(At("2026-06-15T00:00:00Z"));
    core_ = std::make_shared<CalibrationCore>(*std::move(store), events_, clock_);
  }

  // Zhang (p1) and seven peers in "assembly", managed by m1 (p1-p4) and m2.
  void PutCohort(int size) {
    for (int i = 1; i <= size; ++i) {
      ev1::Employee e;
      e.set_id("p" + std::to_string(i));
      e.set_display_name(i == 1 ? "Zhang Wei" : "Peer " + std::to_string(i));
      e.set_department_id("assembly");
      e.set_grade("P4");
      e.set_manager_id(i <= 4 ? "m1" : "m2");
      events_->PutEmployee(e);
    }
  }

  // Three chains per person in each of April, May and June.
  void PutFacts(int size, double zhang_closure_h) {
    for (int i = 1; i <= size; ++i) {
      for (const char* month : {"2026-04-0", "2026-05-0", "2026-06-0"}) {
        for (int d = 1; d <= 3; ++d) {
          events_->PutFact(Fact("p" + std::to_string(i), At(absl::StrCat(month, d, "T08:00:00Z")), 10,
                                i == 1 ? zhang_closure_h : 120));
        }
      }
    }
  }

  // Three monthly observations each (the minimum a KPI comparison needs).
  void PutSignoff(int size, double zhang) {
    v1::RecordKpiObservationsRequest req;
    for (int i = 1; i <= size; ++i) {
      for (const char* period : {"2026-04", "2026-05", "2026-06"}) {
        auto* o = req.add_observations();
        o->set_kpi("customer.signoff_rate");
        o->set_subject_id("p" + std::to_string(i));
        o->set_period(period);
        o->set_value(i == 1 ? zhang : 0.90);
      }
    }
    auto r = core_->RecordKpiObservations(Hr(), req);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // A session `id` over the cohort, and its brief.
  absl::StatusOr<v1::Brief> BriefFor(const std::string& id) {
    Session(id);
    v1::GenerateBriefRequest req;
    req.set_session("sessions/" + id);
    return core_->GenerateBrief(Hr(), req);
  }

  v1::Session Session(const std::string& id) {
    v1::CreateSessionRequest req;
    req.set_session_id(id);
    req.mutable_session()->set_title("Assembly P4, H1 2026");
    req.mutable_session()->mutable_cohort()->add_departments("assembly");
    ToTimestamp(At("2026-06-20T09:00:00Z"), req.mutable_session()->mutable_scheduled_time());
    req.mutable_session()->set_facilitator_id("hrbp-1");
    (*req.mutable_session()->mutable_proposed_ratings())["p1"] = "B";
    auto s = core_->CreateSession(Hr(), req);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : v1::Session{};
  }

  const v1::PersonBrief& Person(const v1::Brief& b, const std::string& id) {
    for (const auto& p : b.people()) {
      if (p.employee_id() == id) return p;
    }
    ADD_FAILURE() << "no " << id;
    return b.people(0);
  }

  const v1::Comparison* Find(const google::protobuf::RepeatedPtrField<v1::Comparison>& list, const std::string& m) {
    for (const auto& c : list) {
      if (c.measure() == m) return &c;
    }
    return nullptr;
  }

  testing::TestDatabase database_;
  std::shared_ptr<testing::FakeEventClient> events_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<CalibrationCore> core_;
};

TEST_F(CalibrationTest, GoldenCohortOfEightFlagsTheOppositePairAndSaysSo) {
  // Peers close every chain in 120 h; Zhang in 69.6 h. Against the peers:
  //   difference 69.6 - 120 = -50.4 h = -2.1 days, relative -50.4/120 = -42%.
  //   cohort mean (7 x 120 + 69.6) / 8 = 113.7 h, cohort median 120 h.
  // Customer sign-off: peers 0.90, Zhang 0.738 -> -0.162, relative -18%.
  // Peers do not vary: no z-score; both pass the 15% relative threshold.
  PutCohort(8);
  PutFacts(8, 69.6);
  PutSignoff(8, 0.738);
  auto brief = BriefFor("h1");
  ASSERT_TRUE(brief.ok()) << brief.status();
  EXPECT_EQ(brief->name(), "sessions/h1/briefs/1");
  EXPECT_EQ(brief->cohort_size(), 8);
  EXPECT_FALSE(brief->peers_withheld());
  EXPECT_EQ(brief->window_start().seconds(), absl::ToUnixSeconds(At("2026-04-01T00:00:00Z")));
  ASSERT_EQ(brief->people_size(), 8);
  // The flagged person comes first.
  const v1::PersonBrief& zhang = brief->people(0);
  EXPECT_EQ(zhang.employee_id(), "p1");
  EXPECT_EQ(zhang.flagged_count(), 2);
  ASSERT_EQ(zhang.months_size(), 3);
  EXPECT_EQ(zhang.months(0).month(), "2026-04");
  EXPECT_EQ(zhang.months(2).measures().chains(), 3);
  EXPECT_DOUBLE_EQ(zhang.months(1).measures().median_closure_hours(), 69.6);

  const v1::Comparison* closure = Find(zhang.comparisons(), "median_closure_hours");
  ASSERT_NE(closure, nullptr);
  EXPECT_NEAR(closure->difference(), -50.4, 1e-9);
  EXPECT_NEAR(closure->relative_difference(), -0.42, 1e-9);
  EXPECT_NEAR(closure->cohort_mean(), 113.7, 1e-9);
  EXPECT_DOUBLE_EQ(closure->cohort_median(), 120);
  EXPECT_FALSE(closure->z_defined());
  EXPECT_TRUE(closure->flagged());
  EXPECT_TRUE(closure->favourable());

  const v1::Comparison* signoff = Find(zhang.business(), "kpi:customer.signoff_rate");
  ASSERT_NE(signoff, nullptr);
  EXPECT_NEAR(signoff->relative_difference(), -0.18, 1e-9);
  EXPECT_TRUE(signoff->flagged());
  EXPECT_FALSE(signoff->favourable());

  // Measures with no difference are not flagged.
  EXPECT_FALSE(Find(zhang.comparisons(), "median_response_hours")->flagged());
  EXPECT_FALSE(Find(zhang.comparisons(), "on_time_rate")->flagged());

  ASSERT_EQ(zhang.prompts_size(), 1);
  EXPECT_EQ(
      zhang.prompts(0).en(),
      "Zhang Wei closes chains 2.1 days faster than their peers' median but has customer signoff rate 18% below their "
      "peers' average: do the process figures explain the business result?");
  EXPECT_EQ(zhang.prompts(0).zh(),
            "Zhang Wei闭环比同级中位数快 2.1 天，但customer signoff rate比同级平均低 18%：过程指标能解释业务结果吗？");
  EXPECT_EQ(signoff->name().en(), "customer signoff rate");  // a KPI that is no goal: its key in words
  // The slowest of Zhang's chains first: all nine closed in 69.6 h.
  EXPECT_EQ(closure->events_size(), 9);
  auto html = RenderBrief(*brief, "T", v1::RENDER_FORMAT_HTML);
  ASSERT_TRUE(html.ok());
  const std::string first_chain = closure->events(0).substr(std::string("events/").size());
  EXPECT_THAT(html->content, HasSubstr(absl::StrCat("<a href=\"/people/chains/", first_chain, "\"")));
  EXPECT_THAT(html->content, HasSubstr("KPI: customer signoff rate"));
  // The fairness check ran on the cohort's verdicts: every chain met expectations, nothing differs.
  ASSERT_TRUE(brief->has_fairness());
  bool saw_manager = false;
  for (const auto& g : brief->fairness().verdicts()) {
    EXPECT_FALSE(g.flagged()) << g.ShortDebugString();
    saw_manager |= g.dimension() == "manager" && g.group() == "m1" && g.verdicts() == 36;
  }
  EXPECT_TRUE(saw_manager);
  // A peer sits at the peers' median (120 h; Zhang alone pulls their mean to 112.8 h).
  const v1::PersonBrief& peer = Person(*brief, "p5");
  EXPECT_EQ(peer.flagged_count(), 0);
  EXPECT_DOUBLE_EQ(Find(peer.comparisons(), "median_closure_hours")->difference(), 0);
  EXPECT_NEAR(Find(peer.comparisons(), "median_closure_hours")->peer_mean(), 112.8, 1e-9);
  EXPECT_TRUE(peer.prompts().empty());
}

TEST_F(CalibrationTest, DurationsDifferFromThePeersMedianNotAMeanOneLaggardSkews) {
  // p1 closes in 33 h, three peers in 27 h, one laggard in 600 h. Against the
  // peers' mean (170.25 h) p1 would look 137 h "faster"; against their median
  // (27 h) p1 is 6 h (22%) slower, which is what the brief must say.
  PutCohort(5);
  const double closure[] = {33, 27, 27, 27, 600};
  for (int i = 1; i <= 5; ++i) {
    for (int d = 1; d <= 6; ++d) {
      events_->PutFact(
          Fact("p" + std::to_string(i), At(absl::StrCat("2026-05-0", d, "T08:00:00Z")), 10, closure[i - 1]));
    }
  }
  auto brief = BriefFor("skew");
  ASSERT_TRUE(brief.ok()) << brief.status();
  const v1::Comparison* c = Find(Person(*brief, "p1").comparisons(), "median_closure_hours");
  ASSERT_NE(c, nullptr);
  EXPECT_DOUBLE_EQ(c->peer_median(), 27);
  EXPECT_DOUBLE_EQ(c->peer_mean(), 170.25);
  EXPECT_DOUBLE_EQ(c->difference(), 6);
  EXPECT_NEAR(c->relative_difference(), 6.0 / 27, 1e-12);
  EXPECT_TRUE(c->flagged());
  EXPECT_FALSE(c->favourable());
}

TEST_F(CalibrationTest, AFlaggedComparisonNamesTenChainsFirstInItsDirection) {
  // Zhang (p1): 24 chains, all late, owner action after 1-5 h, closed after 60-67 h (repeating, so hours
  // tie). p3-p8: 7 chains each, owner action after 10 h, closed after 24 h.
  PutCohort(8);
  auto day = [](int d) { return At(absl::StrFormat("2026-05-%02dT08:00:00Z", d)); };
  std::vector<std::string> zhang;
  for (int i = 0; i < 24; ++i) {
    const ev1::FlowFact f = Fact("p1", day(1 + i), 1 + i % 5, 60 + i % 8);
    zhang.push_back(f.event());
    events_->PutFact(f);
  }
  for (int i = 3; i <= 8; ++i) {
    for (int d = 1; d <= 7; ++d) events_->PutFact(Fact("p" + std::to_string(i), day(d), 10, 24));
  }
  auto brief = BriefFor("ten");
  ASSERT_TRUE(brief.ok()) << brief.status();
  const v1::PersonBrief& p1 = Person(*brief, "p1");
  auto named = [&](const std::string& measure) {
    const v1::Comparison* c = Find(p1.comparisons(), measure);
    EXPECT_TRUE(c != nullptr && c->flagged()) << measure;
    return c == nullptr ? std::vector<std::string>{} : std::vector<std::string>(c->events().begin(), c->events().end());
  };
  auto chains = [&](std::vector<int> at) {
    std::vector<std::string> out;
    for (int i : at) out.push_back(zhang[i]);
    return out;
  };
  // Late: the first ten in the order they happened.
  EXPECT_EQ(named("on_time_rate"), chains({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // Faster than the peers: the ten fastest (1 h, then 2 h), equal hours in the order they happened.
  EXPECT_EQ(named("median_response_hours"), chains({0, 5, 10, 15, 20, 1, 6, 11, 16, 21}));
  // Slower: the ten slowest (67 h, 66 h, 65 h, then the first 64 h).
  EXPECT_EQ(named("median_closure_hours"), chains({7, 15, 23, 6, 14, 22, 5, 13, 21, 4}));
}

TEST_F(CalibrationTest, RatesDifferInPointsAndSmallSamplesAreNotFlagged) {
  // Zhang (p1): 6 chains, none within 48 h, owner action after 2 h. p2: 2 chains, both on time (too few).
  // p3-p8: 7 chains each, one on time (1/7), owner action after 10 h.
  // Zhang's on-time rate 0 vs the peers' mean (1 + 6/7) / 7 = 0.2653: 27 points lower, not "100% lower".
  PutCohort(8);
  auto day = [](int d) { return At(absl::StrFormat("2026-05-%02dT08:00:00Z", d)); };
  // Zhang's owner actions after 1, 1, 2, 2, 3, 3 h (median 2 h).
  std::vector<std::string> zhang_chains;
  for (int d = 1; d <= 6; ++d) {
    const ev1::FlowFact f = Fact("p1", day(d), (d + 1) / 2, 120);
    zhang_chains.push_back(f.event());
    events_->PutFact(f);
  }
  for (int d = 1; d <= 2; ++d) events_->PutFact(Fact("p2", day(d), 10, 24));
  for (int i = 3; i <= 8; ++i) {
    for (int d = 1; d <= 7; ++d) events_->PutFact(Fact("p" + std::to_string(i), day(d), 10, d == 1 ? 24 : 120));
  }
  auto brief = BriefFor("points");
  ASSERT_TRUE(brief.ok()) << brief.status();
  const v1::PersonBrief& zhang = Person(*brief, "p1");
  const v1::Comparison* on_time = Find(zhang.comparisons(), "on_time_rate");
  ASSERT_NE(on_time, nullptr);
  EXPECT_TRUE(on_time->is_rate());
  EXPECT_EQ(on_time->n(), 6);
  EXPECT_NEAR(on_time->difference(), -(1 + 6.0 / 7) / 7, 1e-9);
  EXPECT_TRUE(on_time->flagged());
  // The facts behind it: Zhang's six late chains.
  EXPECT_EQ(on_time->events_size(), 6);
  const v1::Comparison* response = Find(zhang.comparisons(), "median_response_hours");
  ASSERT_TRUE(response != nullptr && response->flagged() && response->favourable());
  ASSERT_EQ(response->events_size(), 6);  // the fastest first
  EXPECT_EQ((std::set<std::string>{response->events(0), response->events(1)}),
            (std::set<std::string>{zhang_chains[0], zhang_chains[1]}));
  EXPECT_EQ((std::set<std::string>{response->events(4), response->events(5)}),
            (std::set<std::string>{zhang_chains[4], zhang_chains[5]}));
  EXPECT_EQ(Find(Person(*brief, "p2").comparisons(), "on_time_rate")->events_size(), 0);  // not flagged
  ASSERT_EQ(zhang.prompts_size(), 1);
  EXPECT_EQ(zhang.prompts(0).en(),
            "Zhang Wei responds 8 h faster than their peers' median but has an on-time rate 27 points lower than their "
            "peers': what explains the difference?");
  EXPECT_EQ(zhang.prompts(0).zh(),
            "Zhang Wei响应比同级中位数快 8 小时，但准时闭环率比同级平均低 27 个百分点：差异的原因是什么？");
  // p2 is 85 points above everyone on two chains: too few to flag.
  const v1::Comparison* small = Find(Person(*brief, "p2").comparisons(), "on_time_rate");
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small->n(), 2);
  EXPECT_EQ(small->min_n(), 5);
  EXPECT_TRUE(small->too_few());
  EXPECT_FALSE(small->flagged());
  EXPECT_EQ(Person(*brief, "p2").flagged_count(), 0);
}

TEST_F(CalibrationTest, CohortOfThreeWithholdsPeerFigures) {
  PutCohort(3);
  PutFacts(3, 69.6);
  PutSignoff(3, 0.738);
  auto brief = BriefFor("small");
  ASSERT_TRUE(brief.ok()) << brief.status();
  EXPECT_TRUE(brief->peers_withheld());
  for (const auto& p : brief->people()) {
    EXPECT_TRUE(p.comparisons().empty()) << p.employee_id();
    EXPECT_TRUE(p.business().empty()) << p.employee_id();
    EXPECT_TRUE(p.prompts().empty()) << p.employee_id();
    EXPECT_EQ(p.months_size(), 3) << "the personal trend stays";
  }
  auto html = core_->RenderBrief(Hr(), [] {
    v1::RenderBriefRequest r;
    r.set_session("sessions/small");
    r.set_format(v1::RENDER_FORMAT_HTML);
    return r;
  }());
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(html->content(), HasSubstr("Peer figures withheld"));
  EXPECT_THAT(html->content(), ::testing::Not(HasSubstr("cohort mean</th>")));
}

TEST_F(CalibrationTest, TheBriefCountsTheTenantsMonthsAndNamesDepartmentsAndChains) {
  // The tenant works in Shanghai (UTC+8): its April starts at 2026-03-31T16:00Z.
  auto registry = events_->GetRegistry(Hr(), 0);
  ASSERT_TRUE(registry.ok());
  registry->set_version(2);
  registry->mutable_settings()->set_time_zone("Asia/Shanghai");
  events_->PutRegistry(*registry);
  ev1::Department assembly;
  assembly.set_id("assembly");
  assembly.set_name("总装车间");
  events_->PutDepartment(assembly);
  PutCohort(4);
  events_->PutFact(Fact("p1", At("2026-03-31T15:00:00Z"), 10, 20));  // 23:00 on 31 March there: outside
  events_->PutFact(Fact("p1", At("2026-03-31T17:00:00Z"), 10, 20));  // 01:00 on 1 April there
  events_->PutFact(Fact("p1", At("2026-04-30T20:00:00Z"), 10, 20));  // 04:00 on 1 May there
  auto brief = BriefFor("sh");
  ASSERT_TRUE(brief.ok()) << brief.status();
  EXPECT_EQ(brief->time_zone(), "Asia/Shanghai");
  EXPECT_EQ(brief->window_start().seconds(), absl::ToUnixSeconds(At("2026-03-31T16:00:00Z")));
  const v1::PersonBrief& p1 = Person(*brief, "p1");
  EXPECT_EQ(p1.department_name(), "总装车间");
  EXPECT_EQ(p1.totals().chains(), 2);
  ASSERT_EQ(p1.months_size(), 2);
  EXPECT_EQ(p1.months(0).month(), "2026-04");
  EXPECT_EQ(p1.months(0).measures().chains(), 1);
  EXPECT_EQ(p1.months(1).month(), "2026-05");
  auto html = core_->RenderBrief(Hr(), [] {
    v1::RenderBriefRequest r;
    r.set_session("sessions/sh");
    r.set_format(v1::RENDER_FORMAT_HTML);
    return r;
  }());
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(html->content(), HasSubstr("2026-04-01 – 2026-06-15 (Asia/Shanghai)"));
  EXPECT_THAT(html->content(), HasSubstr("总装车间"));
  EXPECT_THAT(html->content(), ::testing::Not(HasSubstr(">assembly<")));
}

TEST_F(CalibrationTest, ViewersSeeWhatTheirRoleAllows) {
  PutCohort(8);
  PutFacts(8, 69.6);
  Session("h1");
  v1::GenerateBriefRequest gen;
  gen.set_session("sessions/h1");
  ASSERT_TRUE(core_->GenerateBrief(Hr(), gen).ok());
  v1::GetBriefRequest get;
  get.set_session("sessions/h1");
  // HR and the facilitator: everyone.
  EXPECT_EQ(core_->GetBrief(Hr(), get)->people_size(), 8);
  EXPECT_EQ(core_->GetBrief(RequestContext{"acme", "hrbp-1", {}, ""}, get)->people_size(), 8);
  // m2 manages p5..p8 only.
  auto m2 = core_->GetBrief(RequestContext{"acme", "m2", {}, ""}, get);
  ASSERT_TRUE(m2.ok());
  std::vector<std::string> ids;
  for (const auto& p : m2->people()) ids.push_back(p.employee_id());
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre("p5", "p6", "p7", "p8"));
  // Anyone else: denied; another tenant: not found.
  EXPECT_EQ(core_->GetBrief(RequestContext{"acme", "p3", {}, ""}, get).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(core_->GetBrief(RequestContext{"other", "hr-9", {"hr"}, ""}, get).status().code(),
            absl::StatusCode::kNotFound);
  // Only HR / the facilitator generate.
  EXPECT_EQ(core_->GenerateBrief(RequestContext{"acme", "m2", {}, ""}, gen).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(CalibrationTest, BriefsAreImmutableVersionsAndTheSchedulerWritesOneAhead) {
  PutCohort(8);
  PutFacts(8, 69.6);
  Session("h1");
  // Scheduled 2026-06-20 09:00: not due at 06-15, due from 06-19 09:00.
  auto early = core_->RunScheduler();
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(*early, 0);
  clock_->Set(At("2026-06-19T09:00:00Z"));
  EXPECT_EQ(*core_->RunScheduler(), 1);
  EXPECT_EQ(*core_->RunScheduler(), 0) << "one scheduled brief per session";
  v1::GenerateBriefRequest gen;
  gen.set_session("sessions/h1");
  auto second = core_->GenerateBrief(Hr(), gen);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->version(), 2);
  v1::GetBriefRequest get;
  get.set_session("sessions/h1");
  get.set_version(1);
  auto first = core_->GetBrief(Hr(), get);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->trigger(), "scheduled");
  EXPECT_EQ(core_->GetSession(Hr(), "sessions/h1")->latest_brief_version(), 2);
}

TEST_F(CalibrationTest, ChangedRatingNeedsARationaleAndHistoryIsKept) {
  PutCohort(8);
  Session("h1");
  v1::RecordOutcomeRequest req;
  req.set_session("sessions/h1");
  req.set_employee_id("p1");
  req.set_final_rating("A");
  auto missing = core_->RecordOutcome(Hr(), req);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("outcome rejected"));
  req.set_rationale("Led the line-3 changeover; evidence in events/e12");
  auto changed = core_->RecordOutcome(Hr(), req);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->proposed_rating(), "B");
  EXPECT_EQ(changed->previous_rating(), "B");
  // Back to the proposed rating is a change too: from the last recorded one, with a reason.
  req.set_final_rating("B");
  req.set_rationale("  ");
  auto silent = core_->RecordOutcome(Hr(), req);
  EXPECT_EQ(silent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(silent.status().message()), HasSubstr("outcome rejected"));
  req.set_rationale("The changeover slipped a week after all (events/e19)");
  auto back = core_->RecordOutcome(Hr(), req);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->previous_rating(), "A");
  req.clear_rationale();
  auto confirmed = core_->RecordOutcome(Hr(), req);
  ASSERT_TRUE(confirmed.ok()) << "confirming the rating before needs no reason: " << confirmed.status();
  EXPECT_EQ(confirmed->previous_rating(), "B");
  auto log = core_->VerifyCalibrationLog(Hr(), {});
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->intact());
  EXPECT_EQ(log->entries(), 3);
  EXPECT_EQ(core_->VerifyCalibrationLog(RequestContext{"acme", "hrbp-1", {"manager"}, ""}, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  req.set_employee_id("stranger");
  EXPECT_EQ(core_->RecordOutcome(Hr(), req).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::ListOutcomesRequest list;
  list.set_session("sessions/h1");
  auto history = core_->ListOutcomes(Hr(), list);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->outcomes_size(), 3);
  EXPECT_EQ(history->outcomes(0).final_rating(), "A");
  EXPECT_EQ(history->outcomes(1).sequence(), 2);
  EXPECT_EQ(history->outcomes(2).log_sequence(), 3);
}

TEST_F(CalibrationTest, TheEmployeeIsToldOfAChangeWithTheReasonNowOrByTheReviewDeadline) {
  PutCohort(8);
  Session("h1");
  auto record = [&](const std::string& who, const std::string& rating, const std::string& reason) {
    v1::RecordOutcomeRequest req;
    req.set_session("sessions/h1");
    req.set_employee_id(who);
    req.set_final_rating(rating);
    req.set_rationale(reason);
    return core_->RecordOutcome(Hr(), req);
  };
  // The default: at once, through the event service, with the reason.
  auto lowered = record("p1", "C", "The Q2 launch slipped twice");
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  EXPECT_EQ(lowered->notice_time().seconds(), absl::ToUnixSeconds(clock_->Now()));
  auto notices = events_->notices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].recipient_id(), "p1");
  EXPECT_EQ(notices[0].topic(), "calibration.changed");
  EXPECT_EQ(notices[0].idempotency_key(), "calibration.changed:1");
  const auto& f = notices[0].payload().fields();
  EXPECT_EQ(f.at("previous_rating").string_value(), "B");
  EXPECT_EQ(f.at("final_rating").string_value(), "C");
  EXPECT_EQ(f.at("rationale").string_value(), "The Q2 launch slipped twice");
  EXPECT_EQ(f.at("session_title").string_value(), "Assembly P4, H1 2026");
  // Nothing proposed, nothing before: nothing to tell.
  ASSERT_TRUE(record("p2", "B", "").ok());
  EXPECT_EQ(events_->notices().size(), 1u);
  // The notice cannot be handed over: the outcome stands, the notice waits for the scheduler.
  events_->set_notice_refusal(absl::UnavailableError("event service restarting"));
  auto raised = record("p1", "B", "The launch slip was the supplier's, see events/e7");
  ASSERT_TRUE(core_->RunScheduler().ok());
  events_->set_notice_refusal(absl::OkStatus());
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_EQ(events_->notices().size(), 1u);
  ASSERT_TRUE(core_->RunScheduler().ok());
  ASSERT_EQ(events_->notices().size(), 2u);
  EXPECT_EQ(events_->notices()[1].payload().fields().at("previous_rating").string_value(), "C");
  ASSERT_TRUE(core_->RunScheduler().ok());
  EXPECT_EQ(events_->notices().size(), 2u) << "sent once";

  // A tenant that tells in the review conversation: at the latest 10 days later.
  auto registry = events_->GetRegistry(Hr(), 0);
  ASSERT_TRUE(registry.ok());
  registry->set_version(2);
  registry->mutable_settings()->set_calibration_notice(ev1::CALIBRATION_NOTICE_AT_REVIEW);
  registry->mutable_settings()->set_calibration_review_days(10);
  events_->PutRegistry(*registry);
  auto deferred = record("p1", "C", "Missed two audits after all");
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  EXPECT_EQ(deferred->notice_time().seconds(), absl::ToUnixSeconds(clock_->Now() + absl::Hours(240)));
  ASSERT_TRUE(core_->RunScheduler().ok());
  EXPECT_EQ(events_->notices().size(), 2u);
  clock_->Advance(absl::Hours(240));
  ASSERT_TRUE(core_->RunScheduler().ok());
  ASSERT_EQ(events_->notices().size(), 3u);
  EXPECT_EQ(events_->notices()[2].payload().fields().at("rationale").string_value(), "Missed two audits after all");
}

TEST_F(CalibrationTest, KpiObservationsAreIdempotentAndValidatedAllOrNothing) {
  v1::RecordKpiObservationsRequest req;
  auto* o = req.add_observations();
  o->set_kpi("sales.renewal_rate");
  o->set_period("2026-05");
  o->set_value(0.82);
  auto first = core_->RecordKpiObservations(Hr(), req);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->recorded(), 1);
  EXPECT_EQ(core_->RecordKpiObservations(Hr(), req)->unchanged(), 1);
  o->set_value(0.86);
  EXPECT_EQ(core_->RecordKpiObservations(Hr(), req)->updated(), 1);
  // One bad row rejects the batch.
  auto* bad = req.add_observations();
  bad->set_kpi("Bad Key");
  bad->set_period("2026-13");
  bad->set_value(std::nan(""));
  req.mutable_observations(0)->set_value(0.5);
  auto rejected = core_->RecordKpiObservations(Hr(), req);
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  v1::GetGoalStatusRequest goal;
  goal.set_goal("sales.renewal_rate");
  auto status = core_->GetGoalStatus(Hr(), goal);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_DOUBLE_EQ(status->goal().actual(), 0.86) << "the rejected batch changed nothing";
  EXPECT_DOUBLE_EQ(status->goal().target(), 0.85);
  EXPECT_TRUE(status->goal().met());
  // Upstream goals are listed with their own status.
  ASSERT_EQ(status->goal().upstream_size(), 2);
  EXPECT_EQ(status->goal().upstream(0).goal(), "delivery.on_time_rate");
  EXPECT_FALSE(status->goal().upstream(0).has_actual());
  EXPECT_EQ(core_->RecordKpiObservations(RequestContext{"acme", "p1", {}, ""}, req).status().code(),
            absl::StatusCode::kPermissionDenied);
  goal.set_goal("no.such_goal");
  EXPECT_EQ(core_->GetGoalStatus(Hr(), goal).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CalibrationTest, HeatmapInsightsAndFlowBrief) {
  // Procurement answers in 50 h, R&D in 9 h, 3 chains each.
  ev1::Department procurement, rnd;
  procurement.set_id("procurement");
  procurement.set_name("Procurement");
  rnd.set_id("rnd");
  rnd.set_name("R&D");
  events_->PutDepartment(procurement);
  events_->PutDepartment(rnd);
  for (int i = 0; i < 3; ++i) {
    auto slow = Fact("c1", At("2026-05-10T08:00:00Z") + absl::Hours(i), 50, 60);
    slow.set_department_id("procurement");
    slow.set_event_type("qms.supplier_quality_issue");
    events_->PutFact(slow);
    auto fast = Fact("r1", At("2026-05-10T08:00:00Z") + absl::Hours(i), 9, 30);
    fast.set_department_id("rnd");
    fast.set_event_type("qms.supplier_quality_issue");
    events_->PutFact(fast);
  }
  auto heatmap = core_->GetHeatmap(Hr(), {});
  ASSERT_TRUE(heatmap.ok()) << heatmap.status();
  ASSERT_EQ(heatmap->cells_size(), 2);
  EXPECT_EQ(heatmap->cells(0).department_id(), "procurement");
  EXPECT_DOUBLE_EQ(heatmap->cells(0).median_owner_hours(), 50);
  EXPECT_EQ(heatmap->cells(0).owner_count(), 3);
  auto insights = core_->GetInsights(Hr(), {});
  ASSERT_TRUE(insights.ok()) << insights.status();
  ASSERT_GE(insights->insights_size(), 1);
  EXPECT_EQ(insights->insights(0).kind(), "department_gap");
  EXPECT_THAT(insights->insights(0).text().en(), HasSubstr("Procurement answers"));
  EXPECT_THAT(insights->insights(0).text().en(), HasSubstr("41 h slower than R&D"));
  auto flow = core_->GetFlowBrief(Hr(), {});
  ASSERT_TRUE(flow.ok());
  EXPECT_EQ(flow->total().events(), 6);
  EXPECT_DOUBLE_EQ(flow->total().average_closure_hours(), 45);
  EXPECT_DOUBLE_EQ(flow->total().flow_health(), 0.5);
  v1::GetHeatmapRequest bad;
  ToTimestamp(At("2026-06-01T00:00:00Z"), bad.mutable_period()->mutable_start_time());
  ToTimestamp(At("2026-05-01T00:00:00Z"), bad.mutable_period()->mutable_end_time());
  EXPECT_EQ(core_->GetHeatmap(Hr(), bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RenderTest, HtmlIsSelfContainedEscapedAndFlaggedFirst) {
  v1::Brief brief;
  brief.set_version(3);
  auto* p = brief.add_people();
  p->set_employee_id("p1");
  p->set_display_name("<script>alert(1)</script>");
  auto* ok = p->add_comparisons();
  ok->set_measure("on_time_rate");
  auto* flagged = p->add_comparisons();
  flagged->set_measure("median_closure_hours");
  flagged->set_flagged(true);
  p->add_prompts()->set_en("A & B");
  p->add_months()->set_month("2026-05");
  auto* renewal = p->add_business();  // a goal's KPI in its unit
  renewal->set_measure("kpi:sales.renewal_rate");
  renewal->mutable_name()->set_en("Customer renewal rate");
  renewal->set_unit("ratio");
  renewal->set_value(0.621);
  auto html = RenderBrief(brief, "T", v1::RENDER_FORMAT_HTML);
  ASSERT_TRUE(html.ok());
  EXPECT_EQ(html->content_type, "text/html; charset=utf-8");
  EXPECT_THAT(html->content, ::testing::Not(HasSubstr("<script>")));
  EXPECT_THAT(html->content, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(html->content, HasSubstr("A &amp; B"));
  EXPECT_THAT(html->content, HasSubstr("<svg"));
  EXPECT_THAT(html->content, ::testing::Not(HasSubstr("http-equiv")));
  // Flagged first, by their names for people.
  EXPECT_LT(html->content.find("<td>median closure time"), html->content.find("<td>on-time rate"));
  EXPECT_THAT(html->content, ::testing::Not(HasSubstr("median_closure_hours")));
  EXPECT_THAT(html->content, HasSubstr("1970-01-01 – 1970-01-01 (UTC)"));  // dates, not nanosecond timestamps
  EXPECT_THAT(html->content, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt; (p1)"));  // the id beside the name
  EXPECT_THAT(html->content, HasSubstr("<td>KPI: Customer renewal rate</td><td>62.1%</td>"));
  auto md = RenderBrief(brief, "T", v1::RENDER_FORMAT_MARKDOWN);
  ASSERT_TRUE(md.ok());
  EXPECT_THAT(md->content, HasSubstr("# T — calibration brief v3"));
  EXPECT_THAT(md->content, HasSubstr("| 2026-05 | 0 | – | – | – | – |"));  // a month with nothing: no false 0%
  EXPECT_EQ(RenderBrief(brief, "T", v1::RENDER_FORMAT_UNSPECIFIED).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RenderTest, TheTrendShowsNoFalseZerosAndHasAnAxis) {
  v1::Brief brief;
  auto* p = brief.add_people();
  p->set_employee_id("p1");
  auto month = [&](const std::string& name, std::optional<double> rate) {
    auto* m = p->add_months();
    m->set_month(name);
    if (rate) {
      m->mutable_measures()->set_on_time_rate(*rate);
      m->mutable_measures()->add_defined("on_time_rate");
      m->mutable_measures()->set_decided(4);
    }
  };
  month("2026-04", 1.0);
  month("2026-05", 0.75);
  month("2026-06", std::nullopt);  // a new month: nothing decided yet
  auto html = RenderBrief(brief, "T", v1::RENDER_FORMAT_HTML);
  ASSERT_TRUE(html.ok());
  const std::string& page = html->content;
  auto count = [&](const std::string& what) {
    int n = 0;
    for (size_t at = page.find(what); at != std::string::npos; at = page.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<circle"), 2);  // one dot per month with decided chains, none at 0% for June
  EXPECT_EQ(count("none decided"), 1);
  EXPECT_THAT(page, HasSubstr(">100%</text>"));  // the y-axis
  EXPECT_THAT(page, HasSubstr(">0%</text>"));
  EXPECT_THAT(page, HasSubstr("2026-06</text>"));
  EXPECT_THAT(page, HasSubstr("text-anchor=\"middle\">2026-06"));  // centred: the last label is not cut off
  // A person with one month gets a dot, not an empty chart.
  v1::Brief one;
  auto* q = one.add_people();
  q->set_employee_id("p2");
  auto* m = q->add_months();
  m->set_month("2026-06");
  m->mutable_measures()->set_on_time_rate(0.5);
  m->mutable_measures()->add_defined("on_time_rate");
  auto single = RenderBrief(one, "T", v1::RENDER_FORMAT_HTML);
  ASSERT_TRUE(single.ok());
  EXPECT_THAT(single->content, HasSubstr("<circle"));
}

}  // namespace
}  // namespace perfflow::calibration

namespace perfflow::calibration {
namespace {

TEST(HourHistogramTest, MedianIsExactToATenthOfAnHourWithBoundedMemory) {
  HourHistogram h;
  EXPECT_EQ(h.Median(), 0);
  for (double v : {5.0, 1.0, 3.0}) h.Add(v);
  EXPECT_DOUBLE_EQ(h.Median(), 3.0);  // odd: the middle value
  h.Add(10.0);
  EXPECT_DOUBLE_EQ(h.Median(), 4.0);  // even: mean of 3 and 5
  // A million chains of the same few durations stay a few buckets.
  HourHistogram many;
  for (int i = 0; i < 1000000; ++i) many.Add(i % 3 == 0 ? 69.6 : 120.04);
  EXPECT_EQ(many.count(), 1000000);
  EXPECT_DOUBLE_EQ(many.Median(), 120.0);  // rounded to 0.1 h
}

}  // namespace
}  // namespace perfflow::calibration
