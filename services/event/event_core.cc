#include "services/event/event_core.h"

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/struct_json.h"
#include "common/timestamps.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "services/event/deadlines.h"
#include "services/event/what_if.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using google::protobuf::util::TimeUtil;

// Registries change rarely; replicas pick up another replica's apply within this.
constexpr absl::Duration kRegistryTtl = absl::Seconds(5);
constexpr size_t kMaxRegistries = 1000;
// Events of IngestEvent calls joined into one transaction at most: a COMMIT
// shared that widely already costs little per event, a larger one only makes
// its callers wait longer.
constexpr size_t kMaxCombinedIngest = 64;

// 1-64 of a-z0-9_.- starting with a letter; a scan, not std::regex (every
// ingested event passes through here).
bool IsSourceName(absl::string_view s) {
  if (s.empty() || s.size() > 64 || !absl::ascii_islower(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.' || c == '-';
  });
}

// Deterministic bytes of the request: maps sorted, so equal payloads hash equal.
std::string CanonicalBytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// Directory entries ingestion reads are kept this long, at most this many of
// each kind (then the cache starts over).
constexpr absl::Duration kDirectoryTtl = absl::Seconds(5);
constexpr size_t kMaxDirectoryEntries = 20000;

// ------------------------------------------------------------------ access

// HR, admins and business systems see the whole tenant (and so does an
// unverified call: development, in-process work).
bool SeesTenant(const RequestContext& rc) {
  return !rc.verified || HasRole(rc, "hr") || HasRole(rc, "admin") || HasRole(rc, "system");
}

// Who may record a step, for verified callers. People act through the
// services that own each step's record and rules (UploadEvidence,
// SubmitReview, ConfirmImpact, SealEvidence); those services report the step
// as the acting person, who is then the actor. Business systems (role
// system) may report steps for anyone. Everyone else is refused: a person
// naming any actor_id could otherwise close a colleague's chain.
absl::Status AuthorizeStep(const RequestContext& rc, v1::RecordFlowStepRequest* step) {
  if (!rc.verified) return absl::OkStatus();
  if (!rc.peer.empty()) {
    if (rc.principal.empty()) return absl::OkStatus();
    if (!step->actor_id().empty() && step->actor_id() != rc.principal) {
      return InvalidArgumentWithViolations("step rejected", {{"actor_id", "must be the acting principal"}});
    }
    step->set_actor_id(rc.principal);
    return absl::OkStatus();
  }
  if (!HasRole(rc, "system")) {
    return absl::PermissionDeniedError(
        "steps are recorded by the services that own them: UploadEvidence (owner), SubmitReview (manager), "
        "ConfirmImpact (confirmer), SealEvidence (archive); RecordFlowStep itself needs the role system");
  }
  if (step->actor_id().empty()) step->set_actor_id(rc.principal);
  return absl::OkStatus();
}

// A peer service's call (the evidence service's report, the calibration
// service's notice); from outside, only with the role system.
absl::Status AuthorizePeerCall(const RequestContext& rc, const char* method) {
  if (!rc.verified || !rc.peer.empty()) return absl::OkStatus();
  return RequireRole(rc, {"system"}, method);
}

// ------------------------------------------------------------------ listings

// Page tokens are opaque to callers and bound to the list they came from.
absl::StatusOr<std::string> DecodeToken(const std::string& token) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!DecodePageToken(token, &raw)) {
    return InvalidArgumentWithViolations("bad page token", {{"page_token", "not a token from this list"}});
  }
  return raw;
}

// The stored cursor the request's page starts at.
template <typename Request>
absl::StatusOr<std::string> PageStart(const Request& request) {
  if (request.page_size() < 0) {
    return InvalidArgumentWithViolations("bad page size", {{"page_size", "must not be negative"}});
  }
  return DecodeToken(request.page_token());
}

template <typename T>
ListPage<T> ToListPage(Page<T> page) {
  return {std::move(page.items), page.next_cursor.empty() ? "" : EncodePageToken(page.next_cursor)};
}

}  // namespace

EventCore::EventCore(std::shared_ptr<EventStore> store, std::shared_ptr<const Clock> clock, EventMetrics* metrics,
                     int ingest_transactions)
    : store_(std::move(store)),
      clock_(std::move(clock)),
      metrics_(metrics),
      registries_(clock_, kRegistryTtl, kMaxRegistries),
      employees_(clock_, kDirectoryTtl, kMaxDirectoryEntries),
      departments_(clock_, kDirectoryTtl, kMaxDirectoryEntries) {
  if (ingest_transactions > 0) {
    IngestCombiner::Observe observe;
    if (metrics_) observe = [m = metrics_](size_t events) { m->IngestTransaction(events); };
    combiner_ = std::make_unique<IngestCombiner>(
        [store = store_](const std::string& tenant, const std::vector<NewEvent>& batch) {
          return store->IngestBatch(tenant, batch);
        },
        ingest_transactions, kMaxCombinedIngest, std::move(observe));
  }
}

void EventCore::ForgetDirectory(const std::string& tenant) {
  auto of_tenant = [&](const std::pair<std::string, std::string>& key) { return key.first == tenant; };
  employees_.EraseIf(of_tenant);
  departments_.EraseIf(of_tenant);
}

// ------------------------------------------------------------------ registry

absl::StatusOr<std::shared_ptr<const RegistryView>> EventCore::Registry(const std::string& tenant, int64_t version) {
  if (version == 0) {
    if (auto cached = registries_.Get(tenant)) return *cached;
  }
  int64_t wanted = version;
  if (wanted == 0) {
    auto latest = store_->LatestRegistryVersion(tenant);
    if (!latest.ok()) return latest.status();
    wanted = *latest;
    if (wanted == 0) {
      return absl::FailedPreconditionError("no event types applied for this tenant yet (ApplyEventTypes first)");
    }
  }
  auto json = store_->LoadRegistry(tenant, wanted);
  if (!json.ok()) return json.status();
  if (!*json) return absl::NotFoundError(absl::StrCat("registry version ", wanted, " not found"));
  v1::Registry registry;
  if (!google::protobuf::util::JsonStringToMessage(**json, &registry).ok()) {
    return absl::InternalError(absl::StrCat("stored registry version ", wanted, " is unreadable"));
  }
  auto view = std::make_shared<const RegistryView>(std::move(registry));
  if (version == 0) registries_.Put(tenant, view);
  return view;
}

absl::StatusOr<ApplyResult> EventCore::ApplyEventTypes(const RequestContext& rc,
                                                       const v1::ApplyEventTypesRequest& request) {
  if (rc.verified) {
    if (absl::Status s = RequireRole(rc, {"admin"}, "applying event types"); !s.ok()) return s;
  }
  const std::string& tenant = rc.tenant;
  std::vector<v1::ConfigFile> files(request.files().begin(), request.files().end());
  std::map<std::string, std::string> origins;
  auto delta = ParseRegistryFiles(files, &origins);
  // Names the file and document of each violation where it came from YAML.
  auto locate = [&origins](std::vector<FieldViolation> violations) {
    for (FieldViolation& v : violations) {
      std::string item = v.field.substr(0, v.field.find(']') + 1);
      auto it = origins.find(item);
      if (it != origins.end()) v.description = it->second + ": " + v.description;
    }
    return violations;
  };
  if (!delta.ok()) {
    return InvalidArgumentWithViolations("event types rejected", {{"files", std::string(delta.status().message())}});
  }
  for (const auto& et : request.event_types()) *delta->add_event_types() = et;
  for (const auto& lib : request.libraries()) *delta->add_libraries() = lib;
  for (const auto& goal : request.goals()) *delta->add_goals() = goal;
  if (request.has_settings()) {
    if (delta->has_settings()) {
      return InvalidArgumentWithViolations("event types rejected", {{"settings", "Settings given twice in one apply"}});
    }
    *delta->mutable_settings() = request.settings();
  }
  if (delta->event_types().empty() && delta->libraries().empty() && delta->goals().empty() && !delta->has_settings()) {
    return InvalidArgumentWithViolations("nothing to apply",
                                         {{"files", "no event types, libraries, goals or settings given"}});
  }
  // Duplicates inside one apply are errors, not silent overrides.
  std::vector<FieldViolation> violations = DuplicateKeys(*delta);
  if (!violations.empty()) return InvalidArgumentWithViolations("event types rejected", locate(violations));

  v1::Registry base;
  auto current = Registry(tenant);
  if (current.ok()) {
    base = (*current)->registry();
  } else if (!absl::IsFailedPrecondition(current.status())) {
    return current.status();
  }
  v1::Registry merged = MergeRegistry(base, *delta);
  violations = ValidateRegistry(merged);
  if (!violations.empty()) return InvalidArgumentWithViolations("event types rejected", locate(violations));

  ApplyResult result;
  result.applied = *delta;
  // Re-applying what is already current (a restart, a ConfigMap re-read)
  // creates no new version.
  v1::Registry before = base, after = merged;
  before.clear_version();
  after.clear_version();
  if (base.version() > 0 && google::protobuf::util::MessageDifferencer::Equals(before, after)) {
    result.version = base.version();
    return result;
  }
  if (request.validate_only()) {
    result.version = base.version();
    return result;
  }
  auto version = store_->AppendRegistry(tenant, merged, clock_->Now());
  if (!version.ok()) return version.status();
  result.version = *version;
  merged.set_version(*version);
  registries_.Put(tenant, std::make_shared<const RegistryView>(std::move(merged)));
  LogInfo("registry applied", {{"tenant", tenant}, {"version", std::to_string(*version)}});
  return result;
}

// ------------------------------------------------------------------ directory

absl::StatusOr<std::shared_ptr<const RegistryView>> EventCore::GetRegistry(const RequestContext& rc, int64_t version) {
  if (version < 0) return InvalidArgumentWithViolations("bad version", {{"version", "must not be negative"}});
  return Registry(rc.tenant, version);
}

absl::Status EventCore::UpsertDirectory(const RequestContext& rc, const v1::UpsertDirectoryRequest& request) {
  if (rc.verified) {
    if (absl::Status s = RequireRole(rc, {"admin", "hr", "system"}, "changing the directory"); !s.ok()) return s;
  }
  const std::string& tenant = rc.tenant;
  if (request.departments().empty() && request.employees().empty()) {
    return InvalidArgumentWithViolations("empty directory batch", {{"employees", "give departments or employees"}});
  }
  constexpr int kMaxBatch = 10000;
  if (request.departments_size() + request.employees_size() > kMaxBatch) {
    return InvalidArgumentWithViolations("directory batch too large",
                                         {{"employees", absl::StrCat("at most ", kMaxBatch, " entries per call")}});
  }
  auto snapshot = store_->LoadDirectorySnapshot(tenant);
  if (!snapshot.ok()) return snapshot.status();
  std::vector<FieldViolation> violations = ValidateDirectoryBatch(request, *snapshot);
  if (!violations.empty()) return InvalidArgumentWithViolations("directory batch rejected", violations);
  absl::Status stored = store_->UpsertDirectory(tenant, request, clock_->Now());
  ForgetDirectory(tenant);
  return stored;
}

// ------------------------------------------------------------------ ingestion

absl::StatusOr<NewEvent> EventCore::BuildEvent(const std::string& tenant, const v1::IngestEventRequest& request,
                                               const RegistryView& registry) {
  std::vector<FieldViolation> violations;
  if (!IsSourceName(request.source())) {
    violations.push_back({"source", "required: 1-64 of a-z0-9_.- starting with a letter"});
  }
  if (request.external_id().empty() || request.external_id().size() > 255) {
    violations.push_back({"external_id", "required, at most 255 bytes"});
  }
  if (request.event_type().empty()) violations.push_back({"event_type", "required"});
  if (request.subject_id().empty()) violations.push_back({"subject_id", "required"});
  std::string attributes_json = "{}";
  if (request.has_attributes()) {
    auto json = StructToJson(request.attributes());
    if (!json.ok()) {
      violations.push_back({"attributes", absl::StrCat("not representable as JSON: ", json.status().message())});
    } else if (json->size() > kMaxAttributesBytes) {
      violations.push_back({"attributes", absl::StrCat(json->size(), " bytes of JSON exceeds the ", kMaxAttributesBytes,
                                                       "-byte limit")});
    } else {
      attributes_json = std::move(*json);
    }
  }
  const absl::Time now = clock_->Now();
  absl::Time occurred = now;
  if (request.has_occurred_at()) {
    const auto& ts = request.occurred_at();
    if (ts.seconds() < TimeUtil::kTimestampMinSeconds || ts.seconds() > TimeUtil::kTimestampMaxSeconds ||
        ts.nanos() < 0 || ts.nanos() > 999999999) {
      violations.push_back({"occurred_at", "not a valid timestamp"});
    } else {
      occurred = FromTimestamp(request.occurred_at());
      if (occurred > now + absl::Hours(24)) violations.push_back({"occurred_at", "more than 24 hours in the future"});
    }
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("event rejected", violations);

  const v1::EventType* type = registry.FindEventType(request.event_type());
  if (type == nullptr) {
    return InvalidArgumentWithViolations(
        "event rejected", {{"event_type", "unknown event type '" + request.event_type() + "' in registry version " +
                                              std::to_string(registry.version())}});
  }
  if (type->disabled()) {
    return absl::FailedPreconditionError(absl::StrCat("event type ", type->key(), " is disabled"));
  }
  if (type->source() != request.source()) {
    return InvalidArgumentWithViolations(
        "event rejected", {{"source", "event type " + type->key() + " comes from source '" + type->source() + "'"}});
  }
  violations = ValidateAttributes(*type, request.attributes(), registry);
  if (!violations.empty()) return InvalidArgumentWithViolations("event rejected", violations);

  auto subject = employees_.GetOrLoad({tenant, request.subject_id()},
                                      [&] { return store_->GetEmployee(tenant, request.subject_id()); });
  if (!subject.ok()) return subject.status();
  if (!*subject) {
    return InvalidArgumentWithViolations("event rejected",
                                         {{"subject_id", "'" + request.subject_id() + "' is not in the directory"}});
  }
  if (!EnabledForDepartment(*type, (*subject)->department_id())) {
    return absl::FailedPreconditionError(absl::StrCat("event type ", type->key(), " is not enabled for department ",
                                                      (*subject)->department_id(), " (pilot scope)"));
  }
  if ((*subject)->manager_id().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "subject ", request.subject_id(), " has no manager in the directory; the review cannot be assigned"));
  }

  NewEvent n;
  EventRecord& e = n.event;
  e.event_id = RandomId();
  e.event_type = type->key();
  e.source = request.source();
  e.external_id = request.external_id();
  e.subject_id = request.subject_id();
  e.department_id = (*subject)->department_id();
  e.occurred_at = occurred;
  e.attributes_json = attributes_json;
  e.registry_version = registry.version();
  e.flow.triggered_at = now;
  e.flow.requires_cross_confirm = type->actions().has_cross_confirm();

  const TimerPolicy timers = EffectiveTimers(registry.registry(), *type);
  auto add_task = [&](TaskKind kind, const std::string& assignee, int due_hours) {
    TaskRecord task;
    task.task_id = RandomId();
    task.event_id = e.event_id;
    task.event_type = e.event_type;
    task.kind = kind;
    task.assignee_id = assignee;
    task.state = t::TASK_STATE_OPEN;
    task.created_at = now;
    task.due_at = now + absl::Hours(due_hours);
    const ScheduledTimer first = FirstTimer(now, task.due_at, timers);
    task.timer_level = first.level;
    task.timer_at = first.at;
    task.escalate_after = timers.escalate_after;
    task.escalate_to = timers.escalate_to;
    e.tasks.push_back(task);
  };
  add_task(t::TASK_KIND_OWNER_UPLOAD, e.subject_id, type->actions().owner_upload().due_hours());
  add_task(t::TASK_KIND_MANAGER_REVIEW, (*subject)->manager_id(), type->actions().manager_review().due_hours());
  if (type->actions().has_cross_confirm()) {
    const auto& cc = type->actions().cross_confirm();
    std::string confirmer;
    if (cc.confirmer() == v1::CONFIRMER_SELECTION_NAMED) {
      confirmer = cc.confirmer_employee_id();
    } else {
      for (const std::string& dept_id : cc.departments()) {
        if (dept_id == e.department_id) continue;  // the confirmer comes from another department
        auto dept = departments_.GetOrLoad({tenant, dept_id}, [&] { return store_->GetDepartment(tenant, dept_id); });
        if (!dept.ok()) return dept.status();
        // Nobody confirms the impact of their own work.
        if (*dept && !(*dept)->head_id().empty() && (*dept)->head_id() != e.subject_id) {
          confirmer = (*dept)->head_id();
          break;
        }
      }
    }
    if (confirmer.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "event type ", type->key(), " needs a cross-department confirmer but none of its departments has a head"));
    }
    add_task(t::TASK_KIND_CROSS_CONFIRM, confirmer, cc.due_hours());
  }
  // The idempotency hash covers what the caller sent, not what we derived.
  n.payload_hash = Sha256Hex(CanonicalBytes(request));
  return n;
}

std::vector<absl::StatusOr<IngestResult>> EventCore::BuildAndStore(
    const std::string& tenant, size_t n,
    const std::function<absl::StatusOr<NewEvent>(size_t, const RegistryView&)>& build) {
  std::vector<absl::StatusOr<IngestResult>> results(n, absl::UnknownError("not stored"));
  auto registry = Registry(tenant);
  if (!registry.ok()) {
    for (auto& r : results) r = registry.status();
    return results;
  }
  std::vector<NewEvent> built;
  std::vector<size_t> built_index;  // item index of each built event
  for (size_t i = 0; i < n; ++i) {
    auto event = build(i, **registry);
    if (!event.ok()) {
      results[i] = event.status();
      continue;
    }
    built.push_back(*std::move(event));
    built_index.push_back(i);
  }
  if (built.empty()) return results;
  if (combiner_ && built.size() == 1) {
    results[built_index[0]] = combiner_->Store(tenant, std::move(built[0]));
    return results;
  }
  auto stored = store_->IngestBatch(tenant, built);
  for (size_t k = 0; k < built.size(); ++k) {
    results[built_index[k]] = stored.ok() ? std::move((*stored)[k]) : absl::StatusOr<IngestResult>(stored.status());
  }
  return results;
}

absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> EventCore::BatchIngest(
    const RequestContext& rc, const v1::BatchIngestEventsRequest& request) {
  if (request.requests().empty() || request.requests_size() > kMaxBatchIngest) {
    return InvalidArgumentWithViolations("bad batch",
                                         {{"requests", absl::StrCat("give 1 to ", kMaxBatchIngest, " events")}});
  }
  std::vector<const v1::IngestEventRequest*> items;
  for (const auto& item : request.requests()) items.push_back(&item);
  return IngestBatch(rc, items);
}

std::vector<absl::StatusOr<IngestResult>> EventCore::IngestBatch(
    const RequestContext& rc, const std::vector<const v1::IngestEventRequest*>& requests) {
  const std::string& tenant = rc.tenant;
  // Metric labels come from the registry only, never from unchecked input.
  std::vector<std::pair<std::string, std::string>> labels(requests.size(), {"unknown", "unknown"});
  auto results = BuildAndStore(tenant, requests.size(), [&](size_t i, const RegistryView& registry) {
    if (const v1::EventType* type = registry.FindEventType(requests[i]->event_type())) {
      labels[i] = {type->source(), type->key()};
    }
    return BuildEvent(tenant, *requests[i], registry);
  });
  if (metrics_) {
    for (size_t i = 0; i < results.size(); ++i) {
      const absl::Status& s = results[i].status();
      const char* result = results[i].ok() ? (results[i]->duplicate ? "duplicate" : "accepted")
                           : absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ? "rejected"
                           : absl::IsAlreadyExists(s)                                    ? "conflict"
                                                                                         : "error";
      metrics_->EventIngested(labels[i].first, labels[i].second, result);
    }
  }
  return results;
}

absl::StatusOr<IngestResult> EventCore::Ingest(const RequestContext& rc, const v1::IngestEventRequest& request) {
  return std::move(IngestBatch(rc, {&request}).front());
}

absl::StatusOr<NewEvent> EventCore::BuildHistorical(const std::string& tenant, const v1::HistoricalEvent& h,
                                                    const RegistryView& registry) {
  if (absl::Status s = RequireValidTimestamps(h); !s.ok()) return s;
  const absl::Time now = clock_->Now();
  std::vector<FieldViolation> violations;
  if (!h.event().has_occurred_at()) violations.push_back({"event.occurred_at", "required: when the chain opened"});
  // Each step given at or after the one before it, none in the future.
  struct Step {
    const char* field;
    bool given;
    const google::protobuf::Timestamp& at;
  };
  const Step steps[] = {{"event.occurred_at", h.event().has_occurred_at(), h.event().occurred_at()},
                        {"owner_action_at", h.has_owner_action_at(), h.owner_action_at()},
                        {"manager_feedback_at", h.has_manager_feedback_at(), h.manager_feedback_at()},
                        {"cross_confirm_at", h.has_cross_confirm_at(), h.cross_confirm_at()},
                        {"archived_at", h.has_archived_at(), h.archived_at()}};
  std::optional<absl::Time> previous;
  for (const Step& step : steps) {
    if (!step.given) continue;
    const absl::Time at = FromTimestamp(step.at);
    if (at > now) violations.push_back({step.field, "in the future: history is what already happened"});
    if (previous && at < *previous) violations.push_back({step.field, "before the step that comes first"});
    previous = at;
  }
  // Only closed chains are history; open ones are ingested and run.
  const char* kClosedOnly = "required: only closed chains are imported (ingest open ones)";
  if (!h.has_owner_action_at()) violations.push_back({"owner_action_at", kClosedOnly});
  if (!h.has_manager_feedback_at()) violations.push_back({"manager_feedback_at", kClosedOnly});
  if (!h.has_archived_at()) violations.push_back({"archived_at", kClosedOnly});
  if (h.verdict() != t::VERDICT_MEETS && h.verdict() != t::VERDICT_NEEDS_IMPROVEMENT) {
    violations.push_back({"verdict", "MEETS or NEEDS_IMPROVEMENT (the verdict the chain closed with)"});
  }
  if (h.has_evidence_complete_at() && h.has_archived_at() &&
      FromTimestamp(h.evidence_complete_at()) > FromTimestamp(h.archived_at())) {
    violations.push_back({"evidence_complete_at", "after archived_at"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("history rejected", violations);
  auto built = BuildEvent(tenant, h.event(), registry);
  if (!built.ok()) return built.status();
  EventRecord& e = built->event;
  if (e.flow.requires_cross_confirm != h.has_cross_confirm_at()) {
    return InvalidArgumentWithViolations(
        "history rejected",
        {{"cross_confirm_at", e.flow.requires_cross_confirm
                                  ? "required: the event type asks for a cross-department confirmation"
                                  : "the event type has no cross-department confirmation"}});
  }
  auto opt = [](bool has, const google::protobuf::Timestamp& ts) {
    return has ? std::optional<absl::Time>(FromTimestamp(ts)) : std::nullopt;
  };
  e.imported = true;
  e.flow.triggered_at = e.occurred_at;
  e.flow.owner_action_at = FromTimestamp(h.owner_action_at());
  e.flow.manager_feedback_at = FromTimestamp(h.manager_feedback_at());
  e.flow.cross_confirm_at = opt(h.has_cross_confirm_at(), h.cross_confirm_at());
  e.flow.archived_at = FromTimestamp(h.archived_at());
  e.flow.evidence_complete_at = opt(h.has_evidence_complete_at(), h.evidence_complete_at());
  e.flow.verdict = h.verdict();
  for (TaskRecord& task : e.tasks) {
    const absl::Duration due_in = task.due_at - task.created_at;
    task.created_at = e.flow.triggered_at;
    task.due_at = e.flow.triggered_at + due_in;
    task.state = t::TASK_STATE_DONE;
    task.completed_at = task.kind == t::TASK_KIND_OWNER_UPLOAD     ? e.flow.owner_action_at
                        : task.kind == t::TASK_KIND_MANAGER_REVIEW ? e.flow.manager_feedback_at
                                                                   : e.flow.cross_confirm_at;
    task.timer_level = TimerLevel::kNone;  // history is never reminded, warned or escalated
    task.timer_at = absl::InfiniteFuture();
  }
  // nor announced: the store writes imported tasks without a notice
  built->payload_hash = Sha256Hex(CanonicalBytes(h));
  return built;
}

absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> EventCore::ImportHistory(
    const RequestContext& rc, const v1::ImportHistoryRequest& request) {
  if (absl::Status s = RequireRole(rc, {"admin", "system"}, "importing history"); !s.ok()) return s;
  if (request.events().empty() || request.events_size() > kMaxBatchIngest) {
    return InvalidArgumentWithViolations("bad batch",
                                         {{"events", absl::StrCat("give 1 to ", kMaxBatchIngest, " chains")}});
  }
  const std::string& tenant = rc.tenant;
  return BuildAndStore(tenant, request.events_size(), [&](size_t i, const RegistryView& registry) {
    return BuildHistorical(tenant, request.events(static_cast<int>(i)), registry);
  });
}

// ------------------------------------------------------------------ steps

absl::StatusOr<bool> EventCore::SendNotice(const RequestContext& rc, const v1::SendNoticeRequest& request) {
  if (absl::Status s = AuthorizePeerCall(rc, "SendNotice"); !s.ok()) return s;
  const std::string& tenant = rc.tenant;
  static const std::regex kTopic(R"(^[a-z][a-z0-9_]{0,23}\.[a-z0-9_.]{1,39}$)");
  std::vector<FieldViolation> violations;
  if (request.recipient_id().empty() || request.recipient_id().size() > 64) {
    violations.push_back({"recipient_id", "required, at most 64 bytes"});
  }
  const std::string& topic = request.topic();
  if (!std::regex_match(topic, kTopic)) {
    violations.push_back({"topic", "\"<service>.<what>\" in lower case, e.g. calibration.changed"});
  } else if (topic.rfind("task.", 0) == 0 || topic == "daily_digest" || topic == "weekly_actions") {
    violations.push_back({"topic", "task notices and digests are the event service's own"});
  }
  if (request.idempotency_key().empty() || request.idempotency_key().size() > 200) {
    violations.push_back({"idempotency_key", "required, at most 200 bytes"});
  }
  auto payload = StructToJson(request.payload());
  if (!payload.ok()) {
    violations.push_back({"payload", absl::StrCat("not representable as JSON: ", payload.status().message())});
  } else if (payload->size() > 16384) {
    violations.push_back({"payload", "at most 16 KiB as JSON"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("notice rejected", violations);
  auto recipient = store_->GetEmployee(tenant, request.recipient_id());
  if (!recipient.ok()) return recipient.status();
  if (!*recipient) {
    return absl::NotFoundError(absl::StrCat("no employee ", request.recipient_id(), " in the directory"));
  }
  return store_->EnqueueNotice(tenant, request.recipient_id(), topic, request.idempotency_key(), *payload,
                               clock_->Now());
}

absl::StatusOr<v1::SimulateSettingsResponse> EventCore::SimulateSettings(const RequestContext& rc,
                                                                         const v1::SimulateSettingsRequest& request) {
  if (absl::Status s = RequireRole(rc, {"hr", "admin"}, "SimulateSettings"); !s.ok()) return s;
  const std::string& tenant = rc.tenant;
  if (absl::Status s = RequireValidTimestamps(request); !s.ok()) return s;
  const absl::Time now = clock_->Now();
  const absl::Time to = request.has_end_time() ? FromTimestamp(request.end_time()) : now;
  const absl::Time from = request.has_start_time() ? FromTimestamp(request.start_time()) : to - absl::Hours(24 * 30);
  std::vector<FieldViolation> violations;
  if (from >= to) violations.push_back({"start_time", "must be before end_time"});
  if (to - from > absl::Hours(24 * 366)) violations.push_back({"start_time", "at most 366 days before end_time"});
  const v1::WhatIf& w = request.what_if();
  auto hours = [&](const std::string& field, int32_t value) {
    if (value < 0 || value > 720) violations.push_back({field, "0 (as today) .. 720 hours"});
  };
  hours("what_if.closure_hours", w.closure_hours());
  hours("what_if.timers.reminder_before_hours", w.timers().reminder_before_hours());
  hours("what_if.timers.escalate_after_hours", w.timers().escalate_after_hours());
  auto deadlines = [&](const std::string& path, const v1::TaskDeadlines& d) {
    hours(path + ".owner_upload", d.owner_upload());
    hours(path + ".manager_review", d.manager_review());
    hours(path + ".cross_confirm", d.cross_confirm());
  };
  deadlines("what_if.due_hours", w.due_hours());
  auto registry = Registry(tenant);
  if (!registry.ok()) return registry.status();
  for (const auto& entry : w.event_types()) {
    const std::string& key = entry.first;  // not a structured binding: lambdas cannot capture those in C++17
    const bool known =
        std::any_of((*registry)->registry().event_types().begin(), (*registry)->registry().event_types().end(),
                    [&](const v1::EventType& t) { return t.key() == key; });
    if (!known) violations.push_back({"what_if.event_types", absl::StrCat("unknown event type '", key, "'")});
    deadlines(absl::StrCat("what_if.event_types[", key, "]"), entry.second);
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("what-if rejected", violations);
  auto rows = store_->ReplayRowsOf(tenant, from, to);
  if (!rows.ok()) return rows.status();
  v1::SimulateSettingsResponse out;
  out.set_chains(static_cast<int64_t>(rows->chains.size()));
  out.set_tasks(static_cast<int64_t>(rows->tasks.size()));
  *out.mutable_current() = Replay(*rows, (*registry)->registry(), nullptr, now);
  *out.mutable_what_if() = Replay(*rows, (*registry)->registry(), &w, now);
  ToTimestamp(from, out.mutable_start_time());
  ToTimestamp(to, out.mutable_end_time());
  return out;
}

absl::StatusOr<StepResult> EventCore::RecordStep(const RequestContext& rc, const v1::RecordFlowStepRequest& given) {
  v1::RecordFlowStepRequest request = given;
  if (absl::Status s = AuthorizeStep(rc, &request); !s.ok()) return s;
  const std::string& tenant = rc.tenant;
  auto event_id = ParseResourceId(request.event(), "events", "event");
  if (!event_id.ok()) return event_id.status();
  std::vector<FieldViolation> violations;
  if (request.step_id().empty() || request.step_id().size() > 128) {
    violations.push_back({"step_id", "required, at most 128 bytes"});
  }
  if (request.step() == t::FLOW_STEP_UNSPECIFIED || !t::FlowStep_IsValid(request.step())) {
    violations.push_back({"step", "required (OWNER_ACTION, MANAGER_FEEDBACK, CROSS_CONFIRM or ARCHIVED)"});
  }
  if (request.step() == t::FLOW_STEP_MANAGER_FEEDBACK &&
      (request.verdict() == t::VERDICT_UNSPECIFIED || !t::Verdict_IsValid(request.verdict()))) {
    violations.push_back({"verdict", "required for MANAGER_FEEDBACK (MEETS, NEEDS_IMPROVEMENT or REDO)"});
  }
  if (request.step() != t::FLOW_STEP_MANAGER_FEEDBACK && request.verdict() != t::VERDICT_UNSPECIFIED) {
    violations.push_back({"verdict", "only MANAGER_FEEDBACK carries a verdict"});
  }
  if (request.note().size() > 4096) violations.push_back({"note", "at most 4096 bytes"});
  if (!violations.empty()) return InvalidArgumentWithViolations("step rejected", violations);

  StepRecord step;
  step.step_id = request.step_id();
  step.event_id = *event_id;
  step.step = request.step();
  step.verdict = request.verdict();
  step.actor_id = request.actor_id();
  step.note = request.note();
  step.payload_hash = Sha256Hex(CanonicalBytes(request));
  step.recorded_at = clock_->Now();
  StepReport report{request.step(), request.verdict(), step.recorded_at};
  auto result = store_->RecordStep(tenant, step, [&](const FlowState& state) { return ApplyStep(state, report); });
  if (!result.ok() || !result->transition || metrics_ == nullptr) return result;
  const EventRecord& e = result->event;
  metrics_->StepRecorded(e.department_id, e.event_type, request.step(), step.recorded_at - e.flow.triggered_at);
  if (result->transition->archived) {
    bool within = ClassifyChain(e.flow.triggered_at, e.flow.archived_at, step.recorded_at) == ChainOutcome::kWithin;
    metrics_->ChainClosed(tenant, e.department_id, e.event_type, within);
  }
  return result;
}

// ------------------------------------------------------------------ health

absl::StatusOr<HealthReport> EventCore::FlowHealth(const RequestContext& rc, const v1::GetFlowHealthRequest& request) {
  if (absl::Status s = RequireValidTimestamps(request); !s.ok()) return s;
  HealthQuery query;
  if (request.has_start_time()) query.from = FromTimestamp(request.start_time());
  if (request.has_end_time()) query.to = FromTimestamp(request.end_time());
  switch (request.period()) {
    case v1::PERIOD_DAY:
      query.period = HealthPeriod::kDay;
      break;
    case v1::PERIOD_WEEK:
      query.period = HealthPeriod::kWeek;
      break;
    case v1::PERIOD_MONTH:
      query.period = HealthPeriod::kMonth;
      break;
    default:
      query.period = HealthPeriod::kNone;
      break;
  }
  query.department_id = request.department_id();
  query.event_type = request.event_type();
  return FlowHealth(rc, query);
}

absl::StatusOr<HealthReport> EventCore::FlowHealth(const RequestContext& rc, const HealthQuery& query) {
  const std::string& tenant = rc.tenant;
  const absl::Time now = clock_->Now();
  const absl::Time to = query.to.value_or(now);
  const absl::Time from = query.from.value_or(to - absl::Hours(24 * 30));
  if (from >= to) {
    return InvalidArgumentWithViolations("bad time range", {{"start_time", "must be before end_time"}});
  }
  if (to - from > absl::Hours(24 * 800)) {
    return InvalidArgumentWithViolations("bad time range", {{"start_time", "the range is at most 800 days"}});
  }
  EventFilter filter;
  filter.department_id = query.department_id;
  filter.event_type = query.event_type;
  auto buckets = store_->HealthBuckets(tenant, from, to, now, filter);
  if (!buckets.ok()) return buckets.status();
  return AggregateHealth(*buckets, query.period);
}

absl::Status EventCore::RefreshGauges(absl::Duration window) {
  if (metrics_ == nullptr) return absl::OkStatus();
  auto tenants = store_->Tenants();
  if (!tenants.ok()) return tenants.status();
  const absl::Time now = clock_->Now();
  for (const std::string& tenant : *tenants) {
    auto buckets = store_->HealthBuckets(tenant, now - window, now + absl::Seconds(1), now, {});
    if (!buckets.ok()) return buckets.status();
    std::map<std::pair<std::string, std::string>, HealthCounts> by_pair;
    for (const HealthBucket& b : *buckets) by_pair[{b.department_id, b.event_type}].Add(b.counts);
    metrics_->SetHealth(tenant, AggregateHealth(*buckets, HealthPeriod::kNone), by_pair);
    if (auto registry = Registry(tenant); registry.ok()) {
      for (const auto& type : (*registry)->registry().event_types()) metrics_->KnowEventType(type.source(), type.key());
    }
    auto open = store_->OpenChainsByStep(tenant);
    if (!open.ok()) return open.status();
    for (FlowStep step : {t::FLOW_STEP_TRIGGERED, t::FLOW_STEP_OWNER_ACTION, t::FLOW_STEP_MANAGER_FEEDBACK,
                          t::FLOW_STEP_CROSS_CONFIRM}) {
      auto it = open->find(step);
      metrics_->SetOpenChains(tenant, step, it == open->end() ? 0 : it->second);
    }
    auto overdue = store_->OverdueTasks(tenant, now);
    if (!overdue.ok()) return overdue.status();
    metrics_->SetOverdueTasks(tenant, *overdue);
    auto backlog = store_->OutboxBacklog(tenant);
    if (!backlog.ok()) return backlog.status();
    metrics_->SetOutboxBacklog(tenant, *backlog);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ reads

absl::Status EventCore::CheckCanSee(const RequestContext& rc, const std::string& employee_id) {
  if (SeesTenant(rc) || employee_id == rc.principal) return absl::OkStatus();
  if (HasRole(rc, "manager")) {
    auto employee = store_->GetEmployee(rc.tenant, employee_id);
    if (!employee.ok()) return employee.status();
    if (*employee && (*employee)->manager_id() == rc.principal) return absl::OkStatus();
  }
  return absl::PermissionDeniedError("you may see your own items and your direct reports' only");
}

absl::Status EventCore::CheckCanSeeEvent(const RequestContext& rc, const EventRecord& event) {
  for (const TaskRecord& task : event.tasks) {
    if (rc.verified && !rc.principal.empty() && task.assignee_id == rc.principal) return absl::OkStatus();
  }
  return CheckCanSee(rc, event.subject_id);
}

absl::StatusOr<ListPage<v1::Employee>> EventCore::ListEmployees(const RequestContext& rc,
                                                                const v1::ListEmployeesRequest& request) {
  auto start = PageStart(request);
  if (!start.ok()) return start.status();
  auto page =
      store_->ListEmployees(rc.tenant, {request.department_id(), request.manager_id()}, request.page_size(), *start);
  if (!page.ok()) return page.status();
  return ToListPage(*std::move(page));
}

absl::StatusOr<v1::Employee> EventCore::GetEmployee(const RequestContext& rc, const std::string& id) {
  if (id.empty()) return InvalidArgumentWithViolations("missing id", {{"id", "required"}});
  auto employee = store_->GetEmployee(rc.tenant, id);
  if (!employee.ok()) return employee.status();
  if (!*employee) return absl::NotFoundError("employee " + id + " not found");
  return **std::move(employee);
}

absl::StatusOr<std::vector<v1::Department>> EventCore::ListDepartments(const RequestContext& rc) {
  return store_->ListDepartments(rc.tenant);
}

absl::StatusOr<EventRecord> EventCore::GetEvent(const RequestContext& rc, const std::string& name) {
  auto id = ParseResourceId(name, "events", "name");
  if (!id.ok()) return id.status();
  auto event = store_->GetEvent(rc.tenant, *id);
  if (!event.ok()) return event.status();
  if (!*event) return absl::NotFoundError(name + " not found");
  if (absl::Status s = CheckCanSeeEvent(rc, **event); !s.ok()) return s;
  return **std::move(event);
}

absl::StatusOr<ListPage<EventRecord>> EventCore::ListEvents(const RequestContext& rc,
                                                            const v1::ListEventsRequest& request) {
  if (absl::Status s = RequireValidTimestamps(request); !s.ok()) return s;
  auto start = PageStart(request);
  if (!start.ok()) return start.status();
  EventFilter filter;
  filter.subject_id = request.subject_id();
  // Without a tenant-wide role, a listing is of one person's events: the
  // caller's own unless they name one of their reports.
  if (!SeesTenant(rc) && filter.subject_id.empty()) filter.subject_id = rc.principal;
  if (absl::Status s = CheckCanSee(rc, filter.subject_id); !s.ok()) return s;
  filter.department_id = request.department_id();
  filter.event_type = request.event_type();
  if (request.step() != t::FLOW_STEP_UNSPECIFIED) filter.step = request.step();
  if (request.has_start_time()) filter.from = FromTimestamp(request.start_time());
  if (request.has_end_time()) filter.to = FromTimestamp(request.end_time());
  auto page = store_->ListEvents(rc.tenant, filter, request.page_size(), *start);
  if (!page.ok()) return page.status();
  return ToListPage(*std::move(page));
}

absl::StatusOr<ListPage<TaskRecord>> EventCore::ListTasks(const RequestContext& rc,
                                                          const v1::ListTasksRequest& request) {
  if (request.assignee_id().empty()) {
    return InvalidArgumentWithViolations("missing assignee", {{"assignee_id", "required"}});
  }
  if (absl::Status s = CheckCanSee(rc, request.assignee_id()); !s.ok()) return s;
  auto start = PageStart(request);
  if (!start.ok()) return start.status();
  auto page = store_->ListTasks(rc.tenant, request.assignee_id(), request.state(), request.page_size(), *start);
  if (!page.ok()) return page.status();
  return ToListPage(*std::move(page));
}

absl::StatusOr<TaskRecord> EventCore::GetTask(const RequestContext& rc, const std::string& name) {
  auto id = ParseResourceId(name, "tasks", "name");
  if (!id.ok()) return id.status();
  auto task = store_->GetTask(rc.tenant, *id);
  if (!task.ok()) return task.status();
  // Someone who may not see the assignee learns nothing, not even that the task exists.
  if (!*task || !CheckCanSee(rc, (*task)->assignee_id).ok()) return absl::NotFoundError(name + " not found");
  return **std::move(task);
}

absl::StatusOr<std::pair<EventRecord, bool>> EventCore::MarkEvidenceComplete(const RequestContext& rc,
                                                                             const std::string& event) {
  if (absl::Status s = AuthorizePeerCall(rc, "MarkEvidenceComplete"); !s.ok()) return s;
  auto id = ParseResourceId(event, "events", "event");
  if (!id.ok()) return id.status();
  return store_->MarkEvidenceComplete(rc.tenant, *id, clock_->Now());
}

absl::Status EventCore::ForEachFlow(const RequestContext& rc, const v1::StreamFlowFactsRequest& request,
                                    const std::function<bool(const EventRecord&)>& emit) {
  if (absl::Status s = RequireValidTimestamps(request); !s.ok()) return s;
  EventFilter filter;
  if (request.has_start_time()) filter.from = FromTimestamp(request.start_time());
  if (request.has_end_time()) filter.to = FromTimestamp(request.end_time());
  filter.department_id = request.department_id();
  filter.event_type = request.event_type();
  return store_->ForEachFlow(rc.tenant, filter, emit);
}

// ------------------------------------------------------------------ person data

absl::StatusOr<std::vector<db::PersonFile>> EventCore::ExportPerson(const RequestContext& rc,
                                                                    const type::v1::ExportPersonDataRequest& req) {
  return ExportPersonWith(rc, req, [&](const std::string& person) { return store_->ExportPerson(rc.tenant, person); });
}

absl::StatusOr<type::v1::ErasePersonResponse> EventCore::ErasePerson(const RequestContext& rc,
                                                                     const type::v1::ErasePersonRequest& req) {
  auto erased = ErasePersonWith("event", rc, req, clock_->Now(),
                                [&](const db::Erasure& erasure) { return store_->ErasePerson(rc.tenant, erasure); });
  // The directory changed under the caches: nothing cached may still name the person.
  ForgetDirectory(rc.tenant);
  return erased;
}

}  // namespace perfflow::event
