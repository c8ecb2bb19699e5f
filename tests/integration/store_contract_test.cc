// One contract suite for EventStore, run against SQLite and the real MariaDB
// started by ./scripts/test.sh.

#include <functional>
#include <map>
#include <set>
#include <tuple>

#include <functional>

#include "common/timestamps.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/event/delivery/sql_delivery_store.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using testing::Backend;
using testing::kTenant;

class StoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMysql && !testing::MysqlConfigured()) {
      GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
    }
    w_ = testing::MakeEventWorld(GetParam());
  }

  EventRecord Ingest(const std::string& ext, const std::string& subject = "s1") {
    v1::IngestEventRequest req = testing::ContractSigned(ext);
    req.set_subject_id(subject);
    auto r = w_.core->Ingest(InProcessCall(kTenant), req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->event : EventRecord{};
  }

  absl::Status Step(const std::string& id, FlowStep step, Verdict verdict = t::VERDICT_UNSPECIFIED) {
    v1::RecordFlowStepRequest r;
    r.set_event("events/" + id);
    r.set_step(step);
    r.set_verdict(verdict);
    r.set_step_id("s-" + std::to_string(++steps_));
    return w_.core->RecordStep(InProcessCall(kTenant), r).status();
  }

  absl::Status Close(const std::string& id) {
    for (auto [step, verdict] :
         std::vector<std::pair<FlowStep, Verdict>>{{t::FLOW_STEP_OWNER_ACTION, t::VERDICT_UNSPECIFIED},
                                                   {t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS},
                                                   {t::FLOW_STEP_CROSS_CONFIRM, t::VERDICT_UNSPECIFIED},
                                                   {t::FLOW_STEP_ARCHIVED, t::VERDICT_UNSPECIFIED}}) {
      if (absl::Status s = Step(id, step, verdict); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  testing::EventWorld w_;
  int steps_ = 0;
};

TEST_P(StoreContractTest, RegistryVersionsAreKeptInOrder) {
  auto latest = w_.store->LatestRegistryVersion(kTenant);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, 1);
  v1::Registry next;
  next.add_libraries()->set_key("x");
  auto v2 = w_.store->AppendRegistry(kTenant, next, testing::FixedStart());
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(*v2, 2);
  auto one = w_.store->LoadRegistry(kTenant, 1);
  auto two = w_.store->LoadRegistry(kTenant, 2);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE(one->has_value());
  EXPECT_THAT(**two, ::testing::HasSubstr("\"version\":\"2\""));
  auto none = w_.store->LoadRegistry(kTenant, 3);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto other = w_.store->LatestRegistryVersion("other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 0);
}

TEST_P(StoreContractTest, DirectoryRoundTripsAndPages) {
  auto s1 = w_.store->GetEmployee(kTenant, "s1");
  ASSERT_TRUE(s1.ok());
  ASSERT_TRUE(s1->has_value());
  EXPECT_EQ((*s1)->manager_id(), "s-head");
  EXPECT_EQ((*s1)->department_id(), "sales");

  std::vector<std::string> ids;
  std::string cursor;
  do {
    auto page = w_.store->ListEmployees(kTenant, {}, 4, cursor);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->items.size(), 4u);
    for (const auto& e : page->items) ids.push_back(e.id());
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_EQ(ids.size(), static_cast<size_t>(testing::SmallOrg().employees_size()));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));

  auto sales = w_.store->ListEmployees(kTenant, {"sales", ""}, 100, "");
  ASSERT_TRUE(sales.ok());
  EXPECT_EQ(sales->items.size(), 4u);
  auto team = w_.store->ListEmployees(kTenant, {"", "s-head"}, 100, "");
  ASSERT_TRUE(team.ok());
  std::vector<std::string> reports;
  for (const auto& e : team->items) reports.push_back(e.id());
  EXPECT_EQ(reports, (std::vector<std::string>{"s1", "s2", "s3"}));
  auto heads = w_.store->ListEmployees(kTenant, {"sales", "ceo"}, 100, "");  // both filters
  ASSERT_TRUE(heads.ok());
  ASSERT_EQ(heads->items.size(), 1u);
  EXPECT_EQ(heads->items[0].id(), "s-head");
  auto depts = w_.store->ListDepartments(kTenant);
  ASSERT_TRUE(depts.ok());
  EXPECT_EQ(depts->size(), 5u);

  // Many at once: the known ones of this tenant, over more ids than one
  // statement's list holds; unknown ids and other tenants' people left out.
  std::vector<std::string> asked = {"s1", "nobody", "s-head"};
  for (int i = 0; i < 150; ++i) asked.push_back("ghost-" + std::to_string(i));
  asked.push_back("c-head");
  auto many = w_.store->GetEmployees(kTenant, asked);
  ASSERT_TRUE(many.ok()) << many.status();
  std::vector<std::string> found;
  for (const auto& e : *many) found.push_back(e.id());
  EXPECT_THAT(found, ::testing::UnorderedElementsAre("s1", "s-head", "c-head"));
  for (const auto& e : *many) {
    if (e.id() == "s1") {
      EXPECT_EQ(e.manager_id(), "s-head");
    }
  }
  auto elsewhere = w_.store->GetEmployees("other", {"s1", "s-head"});
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_TRUE(elsewhere->empty());
  auto none = w_.store->GetEmployees(kTenant, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // Upsert replaces.
  v1::UpsertDirectoryRequest move;
  *move.add_employees() = **s1;
  move.mutable_employees(0)->set_grade("P6");
  (*move.mutable_employees(0)->mutable_contacts())["dingtalk"] = "s1-ding";
  (*move.mutable_employees(0)->mutable_attributes())["gender"] = "f";
  ASSERT_TRUE(w_.core->UpsertDirectory(InProcessCall(kTenant), move).ok());
  auto moved = w_.store->GetEmployee(kTenant, "s1");
  ASSERT_TRUE(moved.ok() && moved->has_value());
  EXPECT_EQ((*moved)->grade(), "P6");
  EXPECT_EQ((*moved)->contacts().at("dingtalk"), "s1-ding");
  EXPECT_EQ((*moved)->attributes().at("gender"), "f");
  // A bad attribute name refuses the whole batch.
  (*move.mutable_employees(0)->mutable_attributes())["Gender Identity"] = "x";
  (*move.mutable_employees(0)->mutable_attributes())["gender"] = "m";
  EXPECT_EQ(w_.core->UpsertDirectory(InProcessCall(kTenant), move).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w_.store->GetEmployee(kTenant, "s1"))->attributes().at("gender"), "f");
}

TEST_P(StoreContractTest, IngestIsOneTransactionAndIdempotent) {
  EventRecord e = Ingest("c-1");
  auto stored = w_.store->GetEvent(kTenant, e.event_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->tasks.size(), 3u);
  EXPECT_EQ((*stored)->attributes_json, e.attributes_json);
  auto dup = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->event.event_id, e.event_id);
  v1::IngestEventRequest changed = testing::ContractSigned("c-1");
  changed.set_subject_id("s2");
  EXPECT_TRUE(absl::IsAlreadyExists(w_.core->Ingest(InProcessCall(kTenant), changed).status()));
  auto backlog = w_.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 3);  // no outbox rows from the duplicate or the conflict
}

// Migration 7 moves the idempotency key from the inbox table onto the event
// row. A store written before it (rebuilt here from one ingested under the
// current schema: inbox table back, hash and unique index gone) keeps its
// events idempotent after the upgrade.
TEST_P(StoreContractTest, EventsIngestedBeforeMigration7StayIdempotent) {
  const EventRecord legacy = Ingest("c-legacy");
  db::Database& db = *w_.database.db;
  const bool mysql = db.dialect() == db::Dialect::kMysql;
  for (const std::string& sql : std::vector<std::string>{
           "CREATE TABLE inbox (tenant_id VARCHAR(64) NOT NULL, source VARCHAR(64) NOT NULL, external_id "
           "VARCHAR(255) NOT NULL, payload_hash CHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, received_at BIGINT "
           "NOT NULL, PRIMARY KEY (tenant_id, source, external_id))",
           "INSERT INTO inbox SELECT tenant_id, source, external_id, payload_hash, event_id, occurred_at FROM events",
           mysql ? "DROP INDEX events_idempotency ON events" : "DROP INDEX events_idempotency",
           "ALTER TABLE events DROP COLUMN payload_hash",
           "DELETE FROM schema_migrations WHERE service = 'event' AND version IN (7, 9)",
       }) {
    ASSERT_TRUE(db.ExecuteDdl(sql).ok()) << sql;
  }
  auto upgraded = SqlEventStore::Open(w_.database.db);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status();
  std::shared_ptr<SqlEventStore> store = *std::move(upgraded);
  EventCore core(store, w_.clock, nullptr);

  auto again = core.Ingest(InProcessCall(kTenant), testing::ContractSigned("c-legacy"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->event.event_id, legacy.event_id);
  v1::IngestEventRequest changed = testing::ContractSigned("c-legacy");
  changed.set_subject_id("s2");
  EXPECT_TRUE(absl::IsAlreadyExists(core.Ingest(InProcessCall(kTenant), changed).status()));
  EXPECT_FALSE(db.ExecuteDdl("SELECT COUNT(*) FROM inbox").ok()) << "the inbox table is dropped";
  auto page = store->ListEvents(kTenant, {}, 10, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 1u);
}

// Migration 8 moves each flow onto its event row. A store written before it
// (rebuilt here: a flows table from the event rows, their flow columns and
// indexes gone) keeps every chain's state after the upgrade.
TEST_P(StoreContractTest, FlowsStoredBeforeMigration8MoveOntoTheirEvents) {
  const EventRecord open = Ingest("c-open");
  const EventRecord closed = Ingest("c-closed", "s2");
  ASSERT_TRUE(Step(open.event_id, t::FLOW_STEP_OWNER_ACTION).ok());
  ASSERT_TRUE(Close(closed.event_id).ok());
  auto before = w_.store->ListEvents(kTenant, {}, 10, "");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->items.size(), 2u);

  db::Database& db = *w_.database.db;
  const bool mysql = db.dialect() == db::Dialect::kMysql;
  const std::vector<std::string> moved = {"step",
                                          "round",
                                          "verdict",
                                          "requires_cross_confirm",
                                          "triggered_at",
                                          "triggered_day",
                                          "owner_action_at",
                                          "manager_feedback_at",
                                          "cross_confirm_at",
                                          "archived_at",
                                          "evidence_complete_at"};
  std::vector<std::string> rebuild = {
      "CREATE TABLE flows AS SELECT tenant_id, event_id, event_type, subject_id, department_id, step, round, verdict, "
      "requires_cross_confirm, triggered_at, triggered_day, owner_action_at, manager_feedback_at, "
      "cross_confirm_at, archived_at, evidence_complete_at FROM events"};
  for (const char* index : {"events_by_time", "events_by_subject", "events_by_step", "events_health"}) {
    rebuild.push_back(mysql ? absl::StrCat("DROP INDEX ", index, " ON events") : absl::StrCat("DROP INDEX ", index));
  }
  for (const std::string& column : moved) rebuild.push_back("ALTER TABLE events DROP COLUMN " + column);
  rebuild.push_back("DELETE FROM schema_migrations WHERE service = 'event' AND version IN (8, 10)");
  // On MariaDB, as if an earlier start had been cut short after the first
  // column: the migration runs again from its first statement.
  if (mysql) rebuild.push_back("ALTER TABLE events ADD COLUMN step INT NOT NULL DEFAULT 0");
  for (const std::string& sql : rebuild) ASSERT_TRUE(db.ExecuteDdl(sql).ok()) << sql;

  auto upgraded = SqlEventStore::Open(w_.database.db);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status();
  std::shared_ptr<SqlEventStore> store = *std::move(upgraded);
  auto after = store->ListEvents(kTenant, {}, 10, "");
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->items.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const FlowState& want = before->items[i].flow;
    const FlowState& got = after->items[i].flow;
    EXPECT_EQ(after->items[i].event_id, before->items[i].event_id);
    EXPECT_EQ(got.triggered_at, want.triggered_at);
    EXPECT_EQ(got.owner_action_at, want.owner_action_at);
    EXPECT_EQ(got.manager_feedback_at, want.manager_feedback_at);
    EXPECT_EQ(got.cross_confirm_at, want.cross_confirm_at);
    EXPECT_EQ(got.archived_at, want.archived_at);
    EXPECT_EQ(got.verdict, want.verdict);
    EXPECT_EQ(got.round, want.round);
    EXPECT_EQ(got.requires_cross_confirm, want.requires_cross_confirm);
  }
  auto steps = store->OpenChainsByStep(kTenant);
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(*steps, (std::map<FlowStep, int64_t>{{t::FLOW_STEP_OWNER_ACTION, 1}}));
  const absl::Time now = w_.clock->Now();
  auto buckets = store->HealthBuckets(kTenant, now - absl::Hours(24), now + absl::Hours(1), now, {});
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  int64_t within = 0, pending = 0;
  for (const HealthBucket& b : *buckets) {
    within += b.counts.within;
    pending += b.counts.pending;
  }
  EXPECT_EQ(within, 1);
  EXPECT_EQ(pending, 1);
  EXPECT_FALSE(db.ExecuteDdl("SELECT COUNT(*) FROM flows").ok()) << "the flows table is dropped";
}

// Migration 11 makes each task row its own task.assigned notice. Tasks
// stored before it (rebuilt here: an outbox row per task, the notice
// columns gone), and tasks a replica of the previous version writes during
// a rolling update (no notice columns in its INSERT, an outbox row beside),
// are announced once, through their outbox rows.
TEST_P(StoreContractTest, TasksStoredBeforeMigration11AreAnnouncedOnce) {
  const EventRecord legacy = Ingest("c-legacy");
  ASSERT_EQ(legacy.tasks.size(), 3u);
  db::Database& db = *w_.database.db;
  const bool mysql = db.dialect() == db::Dialect::kMysql;
  auto announce = [&](EventStore& store, const TaskRecord& task) {
    auto queued = store.EnqueueNotice(kTenant, task.assignee_id, "task.assigned", "task.assigned:" + task.task_id,
                                      "{\"task\":\"tasks/" + task.task_id + "\"}", w_.clock->Now());
    ASSERT_TRUE(queued.ok() && *queued) << queued.status();
  };
  for (const TaskRecord& task : legacy.tasks) announce(*w_.store, task);
  std::vector<std::string> rebuild = {mysql ? "DROP INDEX tasks_notice_due ON tasks" : "DROP INDEX tasks_notice_due"};
  for (const char* column : {"state", "attempts", "next_attempt_at", "lease_owner", "lease_until", "fence",
                             "last_error", "delivered_to", "delivered_at"}) {
    rebuild.push_back(absl::StrCat("ALTER TABLE tasks DROP COLUMN notice_", column));
  }
  rebuild.push_back("DELETE FROM schema_migrations WHERE service = 'event' AND version = 11");
  // On MariaDB, as if an earlier start had been cut short after a column
  // (not notice_state: its default, added by the migration, is under test).
  if (mysql) rebuild.push_back("ALTER TABLE tasks ADD COLUMN notice_attempts INT NOT NULL DEFAULT 0");
  for (const std::string& sql : rebuild) ASSERT_TRUE(db.ExecuteDdl(sql).ok()) << sql;

  auto upgraded = SqlEventStore::Open(w_.database.db);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status();
  std::shared_ptr<SqlEventStore> store = *std::move(upgraded);
  // A replica of the previous version stores a task the old way.
  TaskRecord old_writer = legacy.tasks.front();
  old_writer.task_id = std::string(32, 'f');
  ASSERT_TRUE(db.ExecuteDdl(absl::StrCat("INSERT INTO tasks (tenant_id, task_id, event_id, event_type, kind, "
                                         "assignee_id, state, due_at, created_at, completed_at, timer_level, timer_at, "
                                         "escalate_after_ms, escalate_to) SELECT tenant_id, '",
                                         old_writer.task_id,
                                         "', event_id, event_type, kind, assignee_id, state, due_at, created_at, "
                                         "completed_at, timer_level, timer_at, escalate_after_ms, escalate_to "
                                         "FROM tasks WHERE task_id = '",
                                         legacy.tasks.front().task_id, "'"))
                  .ok());
  announce(*store, old_writer);

  SqlDeliveryStore deliveries(w_.database.db);
  auto claimed = deliveries.ClaimOutbox("relay", w_.clock->Now() + absl::Minutes(1), absl::Minutes(5), 100);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  std::multiset<std::string> keys;
  for (const ClaimedMessage& m : *claimed) {
    EXPECT_FALSE(m.task_notice) << m.message.idempotency_key << ": announced from its task row as well";
    keys.insert(m.message.idempotency_key);
  }
  std::multiset<std::string> want;
  for (const TaskRecord& task : legacy.tasks) want.insert("task.assigned:" + task.task_id);
  want.insert("task.assigned:" + old_writer.task_id);
  EXPECT_EQ(keys, want);

  // Events ingested after the upgrade are announced from their task rows.
  EventCore core(store, w_.clock, nullptr);
  ASSERT_TRUE(core.Ingest(InProcessCall(kTenant), testing::ContractSigned("c-new")).ok());
  auto fresh = deliveries.ClaimOutbox("relay", w_.clock->Now() + absl::Minutes(1), absl::Minutes(5), 100);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_EQ(fresh->size(), 3u);
  for (const ClaimedMessage& m : *fresh) EXPECT_TRUE(m.task_notice);
}

TEST_P(StoreContractTest, BatchIngestIsOneTransactionWithPerItemResults) {
  const EventRecord stored = Ingest("b-stored");
  // 150 new events (multi-row INSERTs in runs of 64, 64, 16, 4, 2), then the
  // cases each item can meet.
  std::vector<v1::IngestEventRequest> requests;
  for (int i = 0; i < 150; ++i) requests.push_back(testing::ContractSigned("b-" + std::to_string(i)));
  v1::IngestEventRequest conflict_stored = testing::ContractSigned("b-stored");
  conflict_stored.set_subject_id("s2");
  v1::IngestEventRequest conflict_in_batch = testing::ContractSigned("b-0");
  conflict_in_batch.set_subject_id("s2");
  v1::IngestEventRequest unknown_subject = testing::ContractSigned("b-nobody");
  unknown_subject.set_subject_id("nobody");
  requests.push_back(testing::ContractSigned("b-stored"));  // 150: duplicate of a stored event
  requests.push_back(conflict_stored);                      // 151: conflict with a stored event
  requests.push_back(testing::ContractSigned("b-1"));       // 152: duplicate of item 1
  requests.push_back(conflict_in_batch);                    // 153: conflict with item 0
  requests.push_back(unknown_subject);                      // 154: invalid
  std::vector<const v1::IngestEventRequest*> items;
  for (const auto& r : requests) items.push_back(&r);

  auto results = w_.core->IngestBatch(InProcessCall(kTenant), items);
  ASSERT_EQ(results.size(), requests.size());
  std::set<std::string> ids;
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_FALSE(results[i]->duplicate);
    ids.insert(results[i]->event.event_id);
  }
  EXPECT_EQ(ids.size(), 150u);
  ASSERT_TRUE(results[150].ok());
  EXPECT_TRUE(results[150]->duplicate);
  EXPECT_EQ(results[150]->event.event_id, stored.event_id);
  EXPECT_EQ(results[150]->event.tasks.size(), 3u);
  EXPECT_TRUE(absl::IsAlreadyExists(results[151].status())) << results[151].status();
  ASSERT_TRUE(results[152].ok());
  EXPECT_TRUE(results[152]->duplicate);
  EXPECT_EQ(results[152]->event.event_id, results[1]->event.event_id);
  EXPECT_TRUE(absl::IsAlreadyExists(results[153].status())) << results[153].status();
  EXPECT_TRUE(absl::IsInvalidArgument(results[154].status())) << results[154].status();

  // Every new event whole, exactly once; nothing from the others.
  for (int i : {0, 63, 64, 127, 128, 143, 144, 147, 148, 149}) {
    auto event = w_.store->GetEvent(kTenant, results[i]->event.event_id);
    ASSERT_TRUE(event.ok() && event->has_value()) << i;
    EXPECT_EQ((*event)->external_id, "b-" + std::to_string(i));
    EXPECT_EQ((*event)->tasks.size(), 3u) << i;
  }
  auto backlog = w_.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 3 * 151);
  auto page = w_.store->ListEvents(kTenant, {}, 500, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 151u);

  // The same batch again: every new event is now a duplicate, nothing is added.
  auto again = w_.core->IngestBatch(InProcessCall(kTenant), items);
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(again[i].ok()) << again[i].status();
    EXPECT_TRUE(again[i]->duplicate);
    EXPECT_EQ(again[i]->event.event_id, results[i]->event.event_id);
  }
  backlog = w_.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 3 * 151);
}

TEST_P(StoreContractTest, ListEventsFiltersAndPagesWithoutGapsOrRepeats) {
  std::set<std::string> all;
  for (int i = 0; i < 7; ++i) {
    all.insert(Ingest("l-" + std::to_string(i), i % 2 ? "s2" : "s1").event_id);
    w_.clock->Advance(absl::Minutes(i % 3));  // some equal timestamps
  }
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = w_.store->ListEvents(kTenant, {}, 3, cursor);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& e : page->items) EXPECT_TRUE(seen.insert(e.event_id).second) << "repeated " << e.event_id;
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(seen, all);
  EXPECT_EQ(pages, 3);

  EventFilter by_subject;
  by_subject.subject_id = "s2";
  auto s2 = w_.store->ListEvents(kTenant, by_subject, 50, "");
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->items.size(), 3u);
  for (const auto& e : s2->items) EXPECT_EQ(e.subject_id, "s2");

  ASSERT_TRUE(Step(*all.begin(), t::FLOW_STEP_OWNER_ACTION).ok());
  EventFilter by_step;
  by_step.step = t::FLOW_STEP_OWNER_ACTION;
  auto stepped = w_.store->ListEvents(kTenant, by_step, 50, "");
  ASSERT_TRUE(stepped.ok());
  ASSERT_EQ(stepped->items.size(), 1u);
  EXPECT_EQ(stepped->items[0].event_id, *all.begin());

  EventFilter range;
  range.from = testing::FixedStart() + absl::Hours(1);
  auto none = w_.store->ListEvents(kTenant, range, 50, "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->items.empty());
  EXPECT_TRUE(absl::IsInvalidArgument(w_.store->ListEvents(kTenant, {}, 3, "garbage").status()));
}

TEST_P(StoreContractTest, InboxIsDueSortedAndPaged) {
  Ingest("i-1");
  w_.clock->Advance(absl::Hours(1));
  Ingest("i-2");
  // s-head reviews both (due +48 h each) and nothing else.
  std::vector<absl::Time> dues;
  std::string cursor;
  do {
    auto page = w_.store->ListTasks(kTenant, "s-head", t::TASK_STATE_UNSPECIFIED, 1, cursor);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& task : page->items) {
      EXPECT_EQ(task.kind, t::TASK_KIND_MANAGER_REVIEW);
      dues.push_back(task.due_at);
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  ASSERT_EQ(dues.size(), 2u);
  EXPECT_LT(dues[0], dues[1]);
  auto done = w_.store->ListTasks(kTenant, "s-head", t::TASK_STATE_DONE, 10, "");
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->items.empty());

  auto first = w_.store->ListTasks(kTenant, "s-head", t::TASK_STATE_OPEN, 1, "");
  ASSERT_TRUE(first.ok() && !first->items.empty());
  auto one = w_.store->GetTask(kTenant, first->items[0].task_id);
  ASSERT_TRUE(one.ok() && one->has_value()) << one.status();
  EXPECT_EQ((*one)->event_id, first->items[0].event_id);
  EXPECT_EQ((*one)->due_at, dues[0]);
  auto other_tenant = w_.store->GetTask("someone-else", first->items[0].task_id);
  ASSERT_TRUE(other_tenant.ok());
  EXPECT_FALSE(other_tenant->has_value());
}

TEST_P(StoreContractTest, StepsPersistAndReloadExactly) {
  EventRecord e = Ingest("st-1");
  w_.clock->Advance(absl::Hours(2));
  ASSERT_TRUE(Close(e.event_id).ok());
  auto stored = w_.store->GetEvent(kTenant, e.event_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  const FlowState& f = (*stored)->flow;
  EXPECT_EQ(CurrentStep(f), t::FLOW_STEP_ARCHIVED);
  EXPECT_EQ(f.verdict, t::VERDICT_MEETS);
  EXPECT_EQ(*f.archived_at, testing::FixedStart() + absl::Hours(2));
  for (const auto& task : (*stored)->tasks) {
    EXPECT_EQ(task.state, t::TASK_STATE_DONE);
    EXPECT_EQ(*task.completed_at, testing::FixedStart() + absl::Hours(2));
  }
  auto open = w_.store->OpenChainsByStep(kTenant);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->empty());
}

TEST_P(StoreContractTest, HealthBucketsAgreeWithPerChainClassification) {
  // 12 chains over 3 days; a third archived in time, a third late, a third open.
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    w_.clock->Set(testing::FixedStart() + absl::Hours(6 * i));
    ids.push_back(Ingest("hb-" + std::to_string(i), i % 2 ? "s1" : "q1").event_id);
  }
  for (int i = 0; i < 12; ++i) {
    if (i % 3 == 2) continue;
    w_.clock->Set(testing::FixedStart() + absl::Hours(6 * i) + absl::Hours(i % 3 == 0 ? 20 : 60));
    ASSERT_TRUE(Close(ids[i]).ok());
  }
  const absl::Time now = testing::FixedStart() + absl::Hours(100);
  auto buckets = w_.store->HealthBuckets(kTenant, testing::FixedStart() - absl::Hours(1),
                                         testing::FixedStart() + absl::Hours(200), now, {});
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  HealthReport sql = AggregateHealth(*buckets, HealthPeriod::kDay);

  HealthCounts expected;
  ASSERT_TRUE(w_.store
                  ->ForEachFlow(kTenant, {},
                                [&](const EventRecord& e) {
                                  switch (ClassifyChain(e.flow.triggered_at, e.flow.archived_at, now)) {
                                    case ChainOutcome::kWithin:
                                      ++expected.within;
                                      break;
                                    case ChainOutcome::kOutside:
                                      ++expected.outside;
                                      break;
                                    case ChainOutcome::kPending:
                                      ++expected.pending;
                                      break;
                                  }
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(sql.overall.within, expected.within);
  EXPECT_EQ(sql.overall.outside, expected.outside);
  EXPECT_EQ(sql.overall.pending, expected.pending);
  EXPECT_EQ(expected.within, 4);
  EXPECT_GT(expected.pending, 0);           // chains whose window had not ended at +100 h
  EXPECT_EQ(sql.by_department.size(), 2u);  // q1 is in quality
  EXPECT_GE(sql.by_period.size(), 3u);
}

TEST_P(StoreContractTest, HealthBucketsScannedInParallelRunsOfDaysAreTheSame) {
  // 40 chains over 10 days in two departments, some archived in time, some
  // late, some open; then the same questions asked of one scan and of runs of
  // days on three connections (SQLite's one connection takes them in turn).
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    w_.clock->Set(testing::FixedStart() + absl::Hours(6 * i));
    ids.push_back(Ingest("pr-" + std::to_string(i), i % 3 ? "s1" : "q1").event_id);
  }
  for (int i = 0; i < 40; i += 2) {
    w_.clock->Set(testing::FixedStart() + absl::Hours(6 * i) + absl::Hours(i % 4 ? 20 : 60));
    ASSERT_TRUE(Close(ids[i]).ok());
  }
  const absl::Time now = testing::FixedStart() + absl::Hours(230);
  using Key = std::tuple<int64_t, std::string, std::string>;
  auto buckets = [&](int threads, absl::Time from, absl::Time to, const EventFilter& filter) {
    w_.store->set_health_scan_threads(threads);
    auto got = w_.store->HealthBuckets(kTenant, from, to, now, filter);
    EXPECT_TRUE(got.ok()) << got.status();
    std::map<Key, std::tuple<int64_t, int64_t, int64_t>> out;
    for (const HealthBucket& b : got.ok() ? *got : std::vector<HealthBucket>{}) {
      auto& [within, outside, pending] = out[{b.day, b.department_id, b.event_type}];
      within += b.counts.within;
      outside += b.counts.outside;
      pending += b.counts.pending;
    }
    return out;
  };
  EventFilter quality;
  quality.department_id = "quality";
  struct Question {
    absl::Time from, to;
    EventFilter filter;
    size_t min_buckets;
  };
  const absl::Time start = testing::FixedStart();
  for (const Question& q : std::vector<Question>{
           {start - absl::Hours(24 * 30), start + absl::Hours(24 * 30), {}, 10},    // wider than the chains
           {start + absl::Hours(51), start + absl::Hours(24 * 7 + 5), {}, 5},       // starts and ends mid-day
           {start - absl::Hours(1), start + absl::Hours(24 * 11), quality, 5},      // one department
           {start + absl::Hours(24 * 40), start + absl::Hours(24 * 50), {}, 0}}) {  // no chains at all
    auto one = buckets(1, q.from, q.to, q.filter);
    auto runs = buckets(3, q.from, q.to, q.filter);
    EXPECT_EQ(one, runs);
    EXPECT_GE(one.size(), q.min_buckets);
    if (q.min_buckets == 0) {
      EXPECT_TRUE(one.empty());
    }
  }
}

TEST_P(StoreContractTest, ForEachFlowStreamsInOrderAcrossPages) {
  // Pages of 100 rows, read ahead on another thread: 620 chains are seven
  // pages, the last one short.
  w_.store->set_flow_page_rows(100);
  for (int i = 0; i < 620; ++i) {
    if (i % 100 == 0) w_.clock->Advance(absl::Seconds(1));
    Ingest("ff-" + std::to_string(i), i % 2 ? "s1" : "s2");
  }
  int count = 0;
  absl::Time last = absl::InfinitePast();
  std::set<std::string> seen;
  ASSERT_TRUE(w_.store
                  ->ForEachFlow(kTenant, {},
                                [&](const EventRecord& e) {
                                  EXPECT_GE(e.flow.triggered_at, last);
                                  last = e.flow.triggered_at;
                                  EXPECT_TRUE(seen.insert(e.event_id).second);
                                  ++count;
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(count, 620);
  // Stopping inside a page, at a page's end and on the last row ends the
  // read-ahead cleanly and emits nothing more.
  for (int stop_at : {10, 200, 620}) {
    int emitted = 0;
    ASSERT_TRUE(w_.store->ForEachFlow(kTenant, {}, [&](const EventRecord&) { return ++emitted < stop_at; }).ok());
    EXPECT_EQ(emitted, stop_at);
  }
  // A filter applies on every page, not only the first.
  EventFilter filter;
  filter.subject_id = "s1";
  int s1 = 0;
  ASSERT_TRUE(w_.store
                  ->ForEachFlow(kTenant, filter,
                                [&](const EventRecord& e) {
                                  EXPECT_EQ(e.subject_id, "s1");
                                  ++s1;
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(s1, 310);
}

TEST_P(StoreContractTest, ForEachFlowReportsAPageThatFailsAfterOthersArrived) {
  w_.store->set_flow_page_rows(100);
  for (int i = 0; i < 620; ++i) Ingest("fe-" + std::to_string(i));
  // While the first page is consumed the table goes away: a later page's
  // query fails, and the caller gets that error after the rows already read.
  int emitted = 0;
  absl::Status s = w_.store->ForEachFlow(kTenant, {}, [&](const EventRecord&) {
    if (++emitted == 1) {
      EXPECT_TRUE(w_.database.db->ExecuteDdl("ALTER TABLE events RENAME TO events_gone").ok());
    }
    return true;
  });
  EXPECT_FALSE(s.ok());
  EXPECT_GE(emitted, 100);
  EXPECT_LT(emitted, 620);
  ASSERT_TRUE(w_.database.db->ExecuteDdl("ALTER TABLE events_gone RENAME TO events").ok());
}

TEST_P(StoreContractTest, EvidenceCompleteIsMarkedOnce) {
  EventRecord e = Ingest("ec-1");
  w_.clock->Advance(absl::Hours(1));
  auto first = w_.store->MarkEvidenceComplete(kTenant, e.event_id, w_.clock->Now());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->second);
  EXPECT_EQ(*first->first.flow.evidence_complete_at, testing::FixedStart() + absl::Hours(1));
  w_.clock->Advance(absl::Hours(1));
  auto second = w_.store->MarkEvidenceComplete(kTenant, e.event_id, w_.clock->Now());
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->second);
  EXPECT_EQ(*second->first.flow.evidence_complete_at, testing::FixedStart() + absl::Hours(1));
  EXPECT_TRUE(absl::IsNotFound(w_.store->MarkEvidenceComplete("other", e.event_id, w_.clock->Now()).status()));
}

TEST_P(StoreContractTest, GaugesAndTenants) {
  Ingest("g-1");
  w_.clock->Advance(absl::Hours(30));
  auto overdue = w_.store->OverdueTasks(kTenant, w_.clock->Now());
  ASSERT_TRUE(overdue.ok());
  EXPECT_EQ(*overdue, 1);  // the owner upload (24 h); reviews are due at 48 h
  auto open = w_.store->OpenChainsByStep(kTenant);
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->at(t::FLOW_STEP_TRIGGERED), 1);
  auto tenants = w_.store->Tenants();
  ASSERT_TRUE(tenants.ok());
  EXPECT_THAT(*tenants, ::testing::ElementsAre(kTenant));
}

TEST_P(StoreContractTest, ImportedHistoryCountsButIsNeverTimedOrAnnounced) {
  const absl::Time opened = w_.clock->Now() - absl::Hours(24 * 40);
  auto historical = [&](const std::string& ext, double closed_after_hours) {
    v1::HistoricalEvent h;
    *h.mutable_event() = testing::ContractSigned(ext);
    ToTimestamp(opened, h.mutable_event()->mutable_occurred_at());
    ToTimestamp(opened + absl::Hours(5), h.mutable_owner_action_at());
    ToTimestamp(opened + absl::Hours(20), h.mutable_manager_feedback_at());
    h.set_verdict(t::VERDICT_MEETS);
    ToTimestamp(opened + absl::Hours(30), h.mutable_cross_confirm_at());
    ToTimestamp(opened + absl::Minutes(closed_after_hours * 60), h.mutable_archived_at());
    return h;
  };
  const int64_t outbox = testing::CountRows(*w_.database.db, "outbox");
  v1::ImportHistoryRequest req;
  *req.add_events() = historical("h-1", 40);   // within 48 h
  *req.add_events() = historical("h-2", 100);  // outside
  v1::HistoricalEvent open = historical("h-3", 40);
  open.clear_archived_at();
  *req.add_events() = open;
  v1::HistoricalEvent backwards = historical("h-4", 40);
  ToTimestamp(opened - absl::Hours(1), backwards.mutable_owner_action_at());
  *req.add_events() = backwards;
  auto imported = w_.core->ImportHistory(InProcessCall(kTenant), req);
  ASSERT_TRUE(imported.ok()) << imported.status();
  const auto& results = *imported;
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kInvalidArgument);  // only closed chains
  EXPECT_EQ(results[3].status().code(), absl::StatusCode::kInvalidArgument);  // a step before the event
  EXPECT_EQ(testing::CountRows(*w_.database.db, "events"), 2);
  EXPECT_EQ(testing::CountRows(*w_.database.db, "outbox"), outbox) << "history is not announced";

  auto stored = w_.store->GetEvent(kTenant, results[0]->event.event_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  const EventRecord& e = **stored;
  EXPECT_TRUE(e.imported);
  EXPECT_EQ(e.flow.triggered_at, opened);
  EXPECT_EQ(e.flow.archived_at, opened + absl::Hours(40));
  EXPECT_EQ(CurrentStep(e.flow), t::FLOW_STEP_ARCHIVED);
  for (const TaskRecord& task : e.tasks) {
    EXPECT_EQ(task.state, t::TASK_STATE_DONE);
    EXPECT_EQ(task.timer_level, TimerLevel::kNone) << "history is never reminded or escalated";
  }
  // Counted in flow health like any chain.
  HealthQuery q;
  q.from = opened - absl::Hours(1);
  q.to = opened + absl::Hours(1);
  auto health = w_.core->FlowHealth(InProcessCall(kTenant), q);
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->overall.within, 1);
  EXPECT_EQ(health->overall.outside, 1);
  // Idempotent: the same rows again are duplicates; the same id with other times is refused.
  v1::ImportHistoryRequest again;
  *again.add_events() = historical("h-1", 40);
  *again.add_events() = historical("h-2", 90);
  auto reimported = w_.core->ImportHistory(InProcessCall(kTenant), again);
  ASSERT_TRUE(reimported.ok()) << reimported.status();
  const auto& second = *reimported;
  ASSERT_TRUE(second[0].ok());
  EXPECT_TRUE(second[0]->duplicate);
  EXPECT_EQ(second[1].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(testing::CountRows(*w_.database.db, "events"), 2);
}

TEST_P(StoreContractTest, SettingsReplayReadsTheChainsAndTasksOfThePeriod) {
  EventRecord e = Ingest("w-1");
  ASSERT_TRUE(Step(e.event_id, t::FLOW_STEP_OWNER_ACTION).ok());
  w_.clock->Advance(absl::Hours(100));  // every timer of the open tasks has come
  v1::SimulateSettingsRequest req;
  req.mutable_what_if()->mutable_timers()->set_reminders_off(true);
  RequestContext hr{kTenant, "hr-1", {"hr"}, ""};  // what-ifs are HR's and admins'
  EXPECT_TRUE(absl::IsPermissionDenied(w_.core->SimulateSettings(InProcessCall(kTenant), req).status()));
  auto result = w_.core->SimulateSettings(hr, req);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->chains(), 1);
  EXPECT_EQ(result->tasks(), static_cast<int64_t>(e.tasks.size()));
  EXPECT_EQ(result->current().outside(), 1);  // not archived within 48 h
  EXPECT_GT(result->current().reminders(), 0);
  EXPECT_EQ(result->what_if().reminders(), 0);
  EXPECT_EQ(result->what_if().overdue_warnings(), result->current().overdue_warnings());
  // Outside the period: nothing.
  v1::SimulateSettingsRequest old;
  ToTimestamp(w_.clock->Now() - absl::Hours(24 * 300), old.mutable_start_time());
  ToTimestamp(w_.clock->Now() - absl::Hours(24 * 200), old.mutable_end_time());
  auto none = w_.core->SimulateSettings(hr, old);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->chains(), 0);
  old.mutable_what_if()->set_closure_hours(-1);
  EXPECT_EQ(w_.core->SimulateSettings(hr, old).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, PeerNoticesAreQueuedOnceAndBadOnesWriteNothing) {
  auto outbox = [&] { return testing::CountRows(*w_.database.db, "outbox"); };
  const int64_t before = outbox();
  v1::SendNoticeRequest req;
  req.set_recipient_id("s1");
  req.set_topic("calibration.changed");
  req.set_idempotency_key("calibration.changed:1");
  (*req.mutable_payload()->mutable_fields())["final_rating"].set_string_value("C");
  auto first = w_.core->SendNotice(InProcessCall(kTenant), req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto again = w_.core->SendNotice(InProcessCall(kTenant), req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again) << "the same key is not queued twice";
  EXPECT_EQ(outbox(), before + 1);
  // Refused, with nothing written: a stranger, a topic not of this form or the event service's own, no key, a big
  // payload.
  auto refused = [&](const std::function<void(v1::SendNoticeRequest&)>& spoil, absl::StatusCode code) {
    v1::SendNoticeRequest bad = req;
    bad.set_idempotency_key("calibration.changed:2");
    spoil(bad);
    EXPECT_EQ(w_.core->SendNotice(InProcessCall(kTenant), bad).status().code(), code)
        << bad.ShortDebugString().substr(0, 200);
  };
  refused([](v1::SendNoticeRequest& r) { r.set_recipient_id("nobody"); }, absl::StatusCode::kNotFound);
  refused([](v1::SendNoticeRequest& r) { r.set_topic("Changed"); }, absl::StatusCode::kInvalidArgument);
  refused([](v1::SendNoticeRequest& r) { r.set_topic("task.assigned"); }, absl::StatusCode::kInvalidArgument);
  refused([](v1::SendNoticeRequest& r) { r.clear_idempotency_key(); }, absl::StatusCode::kInvalidArgument);
  refused(
      [](v1::SendNoticeRequest& r) {
        (*r.mutable_payload()->mutable_fields())["blob"].set_string_value(std::string(17000, 'x'));
      },
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(outbox(), before + 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest, ::testing::Values(Backend::kSqlite, Backend::kMysql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

}  // namespace
}  // namespace perfflow::event
