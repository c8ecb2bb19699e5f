#include "services/evidence/evidence_core.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/struct_json.h"
#include "common/timestamps.h"
#include "services/evidence/sniff.h"

namespace perfflow::evidence {
namespace {

namespace t = perfflow::type::v1;

std::string EventId(const std::string& name) { return name.substr(std::string("events/").size()); }

absl::Status CheckMetadata(const v1::UploadMetadata& m) {
  std::vector<FieldViolation> v;
  if (auto name = ParseResourceId(m.event(), "events", "metadata.event"); !name.ok()) {
    v.push_back({"metadata.event", "expected events/{id}"});
  }
  if (m.kind().empty()) v.push_back({"metadata.kind", "required"});
  if (m.file_name().empty() || m.file_name().size() > 255 || m.file_name().find('/') != std::string::npos ||
      m.file_name().find('\\') != std::string::npos || m.file_name() == "." || m.file_name() == "..") {
    v.push_back({"metadata.file_name", "required: a plain file name of at most 255 bytes"});
  }
  if (m.content_type().empty() || m.content_type().find('/') == std::string::npos) {
    v.push_back({"metadata.content_type", "required: a media type such as application/pdf"});
  }
  if (!m.sha256().empty() && !IsSha256Hex(m.sha256())) {
    v.push_back({"metadata.sha256", "64 lower-case hex characters"});
  }
  if (m.note().size() > 2000) v.push_back({"metadata.note", "at most 2000 bytes"});
  if (!v.empty()) return InvalidArgumentWithViolations("upload rejected", v);
  return absl::OkStatus();
}

}  // namespace

EvidenceCore::EvidenceCore(std::shared_ptr<EvidenceStore> store, std::shared_ptr<BlobStore> blobs,
                           std::shared_ptr<event::EventClient> events, std::shared_ptr<event::StepReports> reports,
                           std::shared_ptr<const Clock> clock, EvidenceOptions options, EvidenceMetrics* metrics)
    : store_(std::move(store)),
      blobs_(std::move(blobs)),
      events_(std::move(events)),
      reports_(std::move(reports)),
      clock_(std::move(clock)),
      options_(options),
      metrics_(metrics) {}

// ------------------------------------------------------------------ upload

absl::StatusOr<UploadResult> EvidenceCore::Upload(const RequestContext& rc,
                                                  const std::function<bool(v1::UploadEvidenceRequest*)>& next,
                                                  const std::function<bool()>& half_closed) {
  auto record = [&](const absl::Status& s, int64_t bytes) {
    if (metrics_ == nullptr) return;
    if (s.ok()) return metrics_->Upload("accepted", bytes);
    const bool denied = absl::IsPermissionDenied(s) || absl::IsUnauthenticated(s);
    const bool rejected = absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsNotFound(s) ||
                          absl::IsResourceExhausted(s);
    metrics_->Upload(denied ? "denied" : rejected ? "rejected" : absl::IsCancelled(s) ? "cancelled" : "error", 0);
  };
  v1::UploadEvidenceRequest first;
  if (!next(&first) || !first.has_metadata()) {
    absl::Status s =
        InvalidArgumentWithViolations("upload rejected", {{"metadata", "the first message must carry the metadata"}});
    record(s, 0);
    return s;
  }
  const v1::UploadMetadata meta = first.metadata();
  event::v1::Event event;
  absl::StatusOr<UploadResult> result = [&]() -> absl::StatusOr<UploadResult> {
    if (absl::Status s = CheckMetadata(meta); !s.ok()) return s;
    if (rc.principal.empty()) return absl::UnauthenticatedError("uploads need a principal (x-perfflow-principal)");
    auto fetched = events_->GetEvent(rc, meta.event());
    if (!fetched.ok()) return fetched.status();
    event = *std::move(fetched);
    if (event.subject_id() != rc.principal && !HasRole(rc, "admin")) {
      return absl::PermissionDeniedError("only the event's owner (" + event.subject_id() + ") or an admin may upload");
    }
    return StreamUpload(rc, meta, event, next, half_closed);
  }();
  record(result.status(), result.ok() ? result->row.size_bytes : 0);
  if (!result.ok()) return result;

  // Reports after the row is committed; a failed report is retried by the
  // next upload or validation, never lost with the evidence. A concurrent
  // upload may have reported first: the event service then refuses this one.
  if (event.flow().step() == t::FLOW_STEP_TRIGGERED) {
    event::v1::RecordFlowStepRequest step;
    step.set_event(meta.event());
    step.set_step(t::FLOW_STEP_OWNER_ACTION);
    step.set_step_id("evidence:" + result->row.evidence_id);
    step.set_actor_id(rc.principal);
    auto reported = events_->RecordFlowStep(rc, step);
    if (!reported.ok()) LogWarn("owner action not reported", {{"error", std::string(reported.status().message())}});
  }
  auto validation = ValidateEvent(rc, event);
  if (!validation.ok()) {
    LogWarn("validation after upload failed", {{"error", std::string(validation.status().message())}});
  }
  if (validation.ok()) ArchiveIfReady(rc, event, *validation);
  return result;
}

absl::StatusOr<UploadResult> EvidenceCore::StreamUpload(const RequestContext& rc, const v1::UploadMetadata& meta,
                                                        const event::v1::Event& event,
                                                        const std::function<bool(v1::UploadEvidenceRequest*)>& next,
                                                        const std::function<bool()>& half_closed) {
  if (event.flow().step() == t::FLOW_STEP_ARCHIVED) {
    return absl::FailedPreconditionError("the chain is archived and its evidence sealed");
  }
  auto rules = RulesFor(rc, event);
  if (!rules.ok()) return rules.status();
  const event::v1::EventType& type = (*rules)->type();
  const event::v1::EvidenceSpec* spec = nullptr;
  std::vector<std::string> kinds;
  for (const auto& s : type.evidence()) {
    kinds.push_back(s.kind());
    if (s.kind() == meta.kind()) spec = &s;
  }
  if (spec == nullptr) {
    return InvalidArgumentWithViolations(
        "upload rejected", {{"metadata.kind", "event type " + type.key() + " accepts " + absl::StrJoin(kinds, ", ")}});
  }
  if (std::find(spec->content_types().begin(), spec->content_types().end(), meta.content_type()) ==
      spec->content_types().end()) {
    return InvalidArgumentWithViolations(
        "upload rejected",
        {{"metadata.content_type", meta.kind() + " accepts " + absl::StrJoin(spec->content_types(), ", ")}});
  }
  const std::string expected_family = FamilyOf(meta.content_type());
  auto already = store_->EventBytes(rc.tenant, EventId(meta.event()));
  if (!already.ok()) return already.status();
  if (*already >= options_.max_event_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the event already holds its limit of ", options_.max_event_bytes, " bytes"));
  }

  auto writer = blobs_->BeginWrite();
  if (!writer.ok()) return writer.status();
  std::string head;
  std::string tail;  // the last kPdfTrailerBytes (or a little more)
  v1::UploadEvidenceRequest msg;
  while (next(&msg)) {
    if (!msg.has_chunk() && msg.has_metadata()) {
      return InvalidArgumentWithViolations("upload rejected", {{"metadata", "sent twice"}});
    }
    const std::string& chunk = msg.chunk();
    if ((*writer)->size() + static_cast<int64_t>(chunk.size()) > options_.max_file_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("upload rejected: the file exceeds the ", options_.max_file_bytes, "-byte limit"));
    }
    if (head.size() < kSniffBytes) head.append(chunk.substr(0, kSniffBytes - head.size()));
    tail.append(chunk.size() > kPdfTrailerBytes ? chunk.substr(chunk.size() - kPdfTrailerBytes) : chunk);
    if (tail.size() > 2 * kPdfTrailerBytes) tail.erase(0, tail.size() - kPdfTrailerBytes);
    if (absl::Status s = (*writer)->Append(chunk); !s.ok()) return s;
  }
  // A stream that ended without the client's half-close is a truncated file:
  // the temporary copy is dropped with the writer.
  if (!half_closed()) {
    return absl::CancelledError("the upload ended before the client finished it (cancelled or past its deadline)");
  }
  if ((*writer)->size() == 0) return InvalidArgumentWithViolations("upload rejected", {{"chunk", "the file is empty"}});
  const std::string family = SniffFamily(head);
  if (family != expected_family) {
    return InvalidArgumentWithViolations(
        "upload rejected",
        {{"metadata.content_type", "declared " + meta.content_type() + " but the content is " + family}});
  }
  if (family == "pdf" && !HasPdfTrailer(tail)) {
    return InvalidArgumentWithViolations(
        "upload rejected",
        {{"chunk", "the content starts like a PDF but has no %%EOF trailer in its last 1024 bytes"}});
  }
  const std::string digest = (*writer)->Sha256Hex();
  if (!meta.sha256().empty() && meta.sha256() != digest) {
    return InvalidArgumentWithViolations(
        "upload rejected", {{"metadata.sha256", "declared " + meta.sha256() + " but the content hashes to " + digest}});
  }
  auto deduplicated = store_->TenantHasBlob(rc.tenant, digest);
  if (!deduplicated.ok()) return deduplicated.status();
  bool created = false;
  auto committed = (*writer)->Commit(&created);
  if (!committed.ok()) return committed.status();

  UploadResult result;
  EvidenceRow& row = result.row;
  row.evidence_id = RandomId();
  row.event_id = EventId(meta.event());
  row.kind = meta.kind();
  row.file_name = meta.file_name();
  row.content_type = meta.content_type();
  row.size_bytes = (*writer)->size();
  row.sha256 = digest;
  row.note = meta.note();
  row.uploader_id = rc.principal;
  row.uploaded_at = clock_->Now();
  result.deduplicated = *deduplicated;
  absl::Status inserted = store_->InsertEvidence(rc.tenant, row, options_.max_event_bytes);
  if (!inserted.ok()) {
    // No row, so no blob either, unless other rows share the content.
    if (created) (void)DropUnsharedBlob(digest);
    return inserted;
  }
  return result;
}

// ------------------------------------------------------------------ reads

absl::StatusOr<EvidenceRow> EvidenceCore::Get(const RequestContext& rc, const std::string& name) {
  auto id = ParseResourceId(name, "evidence", "name");
  if (!id.ok()) return id.status();
  auto row = store_->GetEvidence(rc.tenant, *id);
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(name + " not found");
  if (absl::Status s = CheckViewer(rc, "events/" + (*row)->event_id); !s.ok()) return s;
  return **row;
}

absl::Status EvidenceCore::CheckViewer(const RequestContext& rc, const std::string& event) {
  if (!rc.verified) return absl::OkStatus();
  return events_->GetEvent(rc, event).status();
}

absl::StatusOr<std::vector<EvidenceRow>> EvidenceCore::List(const RequestContext& rc, const std::string& event) {
  auto id = ParseResourceId(event, "events", "event");
  if (!id.ok()) return id.status();
  if (absl::Status s = CheckViewer(rc, event); !s.ok()) return s;
  return store_->ListEvidence(rc.tenant, *id);
}

absl::Status EvidenceCore::RecordAccess(const RequestContext& rc, const EvidenceRow& row) {
  if (rc.principal == row.uploader_id || !rc.peer.empty() || HasRole(rc, "system")) return absl::OkStatus();
  absl::Status s =
      store_->RecordAccess(rc.tenant, {row.evidence_id, row.event_id, row.uploader_id, rc.principal, clock_->Now()});
  if (!s.ok()) return absl::UnavailableError("the access cannot be recorded, so the evidence is not served: try again");
  return absl::OkStatus();
}

absl::StatusOr<EvidenceRow> EvidenceCore::OpenForDownload(const RequestContext& rc, const std::string& name) {
  auto row = Get(rc, name);
  if (!row.ok()) return row.status();
  if (row->removed_at) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the bytes of ", name, " were deleted on ", absl::FormatTime("%Y-%m-%d", *row->removed_at, absl::UTCTimeZone()),
        row->removed_reason == "erasure" ? " (the person's data was erased)" : " (the tenant's retention period)",
        "; its metadata is kept"));
  }
  if (absl::Status s = RecordAccess(rc, *row); !s.ok()) return s;
  return row;
}

absl::StatusOr<std::vector<AccessRow>> EvidenceCore::ListAccess(const RequestContext& rc,
                                                                const v1::ListEvidenceAccessRequest& req) {
  const std::string& person = req.person_id().empty() ? rc.principal : req.person_id();
  if (person != rc.principal && !HasRole(rc, "hr") && !HasRole(rc, "admin")) {
    return absl::PermissionDeniedError("only the person, HR or an admin may see who read a person's evidence");
  }
  if (req.page_size() < 0 || req.page_size() > 500) {
    return InvalidArgumentWithViolations("bad page size", {{"page_size", "0 (default 100) .. 500"}});
  }
  return store_->ListAccess(rc.tenant, person, req.page_size() > 0 ? req.page_size() : 100);
}

absl::Status EvidenceCore::Download(const RequestContext&, const EvidenceRow& row,
                                    const std::function<bool(absl::string_view)>& chunk) {
  auto in = blobs_->Open(row.sha256);
  if (!in.ok()) return absl::DataLossError("the stored bytes of evidence/" + row.evidence_id + " are missing");
  std::string buf(64 * 1024, '\0');
  while (**in) {
    (*in)->read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = (*in)->gcount();
    if (n <= 0) break;
    if (!chunk(absl::string_view(buf.data(), static_cast<size_t>(n)))) break;
  }
  return absl::OkStatus();
}

absl::Status EvidenceCore::Delete(const RequestContext& rc, const std::string& name) {
  auto row = Get(rc, name);
  if (!row.ok()) return row.status();
  if (row->uploader_id != rc.principal && !HasRole(rc, "admin")) {
    return absl::PermissionDeniedError("only the uploader or an admin may delete evidence");
  }
  auto deleted = store_->DeleteEvidence(rc.tenant, row->evidence_id);
  if (!deleted.ok()) return deleted.status();
  (void)DropUnsharedBlob(deleted->sha256);
  return absl::OkStatus();
}

absl::StatusOr<EvidenceRow> EvidenceCore::Cosign(const RequestContext& rc, const std::string& name) {
  auto row = Get(rc, name);
  if (!row.ok()) return row.status();
  if (rc.principal.empty()) return absl::UnauthenticatedError("co-signing needs a principal (x-perfflow-principal)");
  auto event = events_->GetEvent(rc, "events/" + row->event_id);
  if (!event.ok()) return event.status();
  auto signer = events_->GetEmployee(rc, rc.principal);
  if (!signer.ok()) {
    return absl::IsNotFound(signer.status()) ? absl::PermissionDeniedError("the co-signer is not in the directory")
                                             : signer.status();
  }
  if (signer->department_id() == event->department_id() || rc.principal == row->uploader_id) {
    return absl::PermissionDeniedError("a co-signature must come from another department than the event's (" +
                                       event->department_id() + ")");
  }
  auto signed_row = store_->Cosign(rc.tenant, row->evidence_id, rc.principal, clock_->Now());
  if (!signed_row.ok()) return signed_row;
  auto validation = ValidateEvent(rc, *event);
  if (!validation.ok()) {
    LogWarn("validation after co-sign failed", {{"error", std::string(validation.status().message())}});
  }
  if (validation.ok()) ArchiveIfReady(rc, *event, *validation);
  return signed_row;
}

// ------------------------------------------------------------------ validation

absl::StatusOr<std::shared_ptr<const CompiledChainRules>> EvidenceCore::RulesFor(const RequestContext& rc,
                                                                                 const event::v1::Event& event) {
  const std::string key = absl::StrCat(rc.tenant, "/", event.registry_version(), "/", event.event_type());
  {
    absl::MutexLock lock(&mu_);
    auto it = rules_.find(key);
    if (it != rules_.end()) return it->second;
  }
  auto registry = events_->GetRegistry(rc, event.registry_version());
  if (!registry.ok()) return registry.status();
  event::RegistryView view(*std::move(registry));
  const event::v1::EventType* type = view.FindEventType(event.event_type());
  if (type == nullptr) {
    return absl::FailedPreconditionError("event type " + event.event_type() + " is not in registry version " +
                                         std::to_string(event.registry_version()));
  }
  auto compiled = CompiledChainRules::Compile(*type, view);
  if (!compiled.ok()) return absl::InternalError(compiled.status().message());
  auto shared = std::make_shared<const CompiledChainRules>(*std::move(compiled));
  absl::MutexLock lock(&mu_);
  rules_[key] = shared;
  return shared;
}

void EvidenceCore::AddGuidance(const RequestContext& rc, const event::v1::Event& event, const CompiledChainRules& rules,
                               v1::ChainValidation& validation) {
  if (validation.gaps().empty()) return;
  auto candidates = store_->CompleteSealedChains(rc.tenant, event.event_type(), EventId(event.name()), 200);
  if (!candidates.ok()) {
    LogWarn("similar cases unavailable", {{"error", std::string(candidates.status().message())}});
    candidates = std::vector<ChainStatusRow>{};
  }
  struct Scored {
    double similarity;
    const ChainStatusRow* row;
    std::vector<std::string> kinds;
  };
  std::vector<Scored> scored;
  for (const ChainStatusRow& c : *candidates) {
    google::protobuf::Struct attrs;
    (void)JsonToStruct(c.attributes_json, &attrs);
    scored.push_back(
        {AttributeSimilarity(event.attributes(), attrs), &c, absl::StrSplit(c.kinds, ',', absl::SkipEmpty())});
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const Scored& a, const Scored& b) { return a.similarity > b.similarity; });
  for (auto& gap : *validation.mutable_gaps()) {
    auto* guidance = gap.mutable_guidance();
    for (const auto& link : rules.type().sop_links()) *guidance->add_sop_links() = link;
    for (const Scored& s : scored) {
      if (guidance->similar_cases_size() >= options_.similar_cases) break;
      // For missing evidence, only cases that had that evidence help.
      if (!gap.evidence_kind().empty() &&
          std::find(s.kinds.begin(), s.kinds.end(), gap.evidence_kind()) == s.kinds.end()) {
        continue;
      }
      auto* sc = guidance->add_similar_cases();
      sc->set_event("events/" + s.row->event_id);
      sc->set_similarity(s.similarity);
      for (const auto& k : s.kinds) sc->add_evidence_kinds(k);
    }
  }
}

absl::StatusOr<v1::ChainValidation> EvidenceCore::ValidateEvent(const RequestContext& rc,
                                                                const event::v1::Event& event) {
  auto rules = RulesFor(rc, event);
  if (!rules.ok()) return rules.status();
  auto rows = store_->ListEvidence(rc.tenant, EventId(event.name()));
  if (!rows.ok()) return rows.status();
  std::vector<EvidenceFact> facts;
  std::set<std::string> kinds;
  for (const EvidenceRow& r : *rows) {
    facts.push_back({r.kind, !r.cosigned_by.empty()});
    kinds.insert(r.kind);
  }
  v1::ChainValidation validation = (*rules)->Validate(event.attributes(), facts);
  validation.set_event(event.name());
  validation.set_registry_version(event.registry_version());
  AddGuidance(rc, event, **rules, validation);
  const bool complete = validation.outcome() == v1::CHAIN_OUTCOME_COMPLETE;
  if (metrics_) metrics_->Validation(complete ? "complete" : "incomplete");

  ChainStatusRow status;
  status.event_id = EventId(event.name());
  status.event_type = event.event_type();
  status.department_id = event.department_id();
  status.subject_id = event.subject_id();
  status.attributes_json = StructToJson(event.attributes()).value_or("{}");
  status.complete = complete;
  status.kinds = absl::StrJoin(kinds, ",");
  status.validated_at = clock_->Now();
  auto report = store_->RecordValidation(rc.tenant, status);
  if (!report.ok()) return report.status();
  if (*report) {
    absl::Status s = events_->MarkEvidenceComplete(rc, event.name());
    if (s.ok()) {
      (void)store_->MarkCompleteReported(rc.tenant, status.event_id);
    } else {
      LogWarn("evidence completeness not reported", {{"error", std::string(s.message())}});
    }
  }
  return validation;
}

absl::StatusOr<v1::ChainValidation> EvidenceCore::Validate(const RequestContext& rc, const std::string& event) {
  if (auto id = ParseResourceId(event, "events", "event"); !id.ok()) return id.status();
  auto e = events_->GetEvent(rc, event);
  if (!e.ok()) return e.status();
  return ValidateEvent(rc, *e);
}

// ------------------------------------------------------------------ sealing

void EvidenceCore::ArchiveIfReady(const RequestContext& rc, const event::v1::Event& event,
                                  const v1::ChainValidation& validation) {
  const auto& flow = event.flow();
  const bool ready = validation.outcome() == v1::CHAIN_OUTCOME_COMPLETE && flow.times().has_manager_feedback_at() &&
                     (!flow.requires_cross_confirm() || flow.times().has_cross_confirm_at()) &&
                     flow.step() != t::FLOW_STEP_ARCHIVED;
  if (!ready) return;
  auto sealed = Seal(rc, event.name());
  if (sealed.ok()) {
    LogInfo("chain archived", {{"event", event.name()}});
  } else if (!absl::IsFailedPrecondition(sealed.status())) {
    // The upload or co-signature stands; the next action (or SealEvidence) archives.
    LogWarn("archiving a ready chain failed",
            {{"event", event.name()}, {"error", std::string(sealed.status().message())}});
  }
}

absl::StatusOr<SealOutcome> EvidenceCore::Seal(const RequestContext& rc, const std::string& event_name) {
  if (auto id = ParseResourceId(event_name, "events", "event"); !id.ok()) return id.status();
  auto event = events_->GetEvent(rc, event_name);
  if (!event.ok()) return event.status();
  const std::string event_id = EventId(event_name);
  auto existing = store_->GetSeal(rc.tenant, event_id);
  if (!existing.ok()) return existing.status();
  if (!*existing) {
    const auto& times = event->flow().times();
    if (!times.has_manager_feedback_at()) {
      return absl::FailedPreconditionError("sealing needs the manager's verdict first");
    }
    if (event->flow().requires_cross_confirm() && !times.has_cross_confirm_at()) {
      return absl::FailedPreconditionError("sealing needs the cross-department confirmation first");
    }
    auto validation = ValidateEvent(rc, *event);
    if (!validation.ok()) return validation.status();
    if (validation->outcome() != v1::CHAIN_OUTCOME_COMPLETE) {
      std::vector<std::string> gaps;
      for (const auto& g : validation->gaps()) gaps.push_back(g.rule());
      return absl::FailedPreconditionError("the evidence chain is incomplete: " + absl::StrJoin(gaps, ", "));
    }
  }
  const event::PendingStep step{
      rc.tenant,    SealStepId(event_id), event_name, t::FLOW_STEP_ARCHIVED, t::VERDICT_UNSPECIFIED,
      rc.principal, clock_->Now()};
  auto seal = store_->CreateSeal(rc.tenant, event_id, step.created_at, step);
  if (!seal.ok()) return seal.status();
  if (event->flow().step() != t::FLOW_STEP_ARCHIVED) {
    // Reported, or kept and retried until the event service has it: the seal
    // stands. Only a definite refusal means there is no archive, and then no
    // seal either (uploads stay possible).
    event::StepReports::Result archived = reports_->Report(rc, step);
    if (archived.outcome == event::StepReports::Outcome::kRefused) {
      if (!seal->already_sealed) {
        if (absl::Status undone = store_->DeleteSeal(rc.tenant, event_id); !undone.ok()) {
          LogError("removing a refused seal failed; the retry pass will",
                   {{"event", event_name}, {"error", std::string(undone.message())}});
        }
      }
      return archived.status;
    }
  }
  return seal;
}

absl::StatusOr<SealCheck> EvidenceCore::Verify(const RequestContext& rc, const std::string& event_name) {
  auto id = ParseResourceId(event_name, "events", "event");
  if (!id.ok()) return id.status();
  if (absl::Status s = CheckViewer(rc, event_name); !s.ok()) return s;
  auto seal = store_->GetSeal(rc.tenant, *id);
  if (!seal.ok()) return seal.status();
  if (!*seal) return absl::FailedPreconditionError(event_name + " is not sealed");
  auto rows = store_->ListEvidence(rc.tenant, *id);
  if (!rows.ok()) return rows.status();
  SealCheck check{**seal, {}};
  for (const EvidenceRow& r : *rows) {
    if (r.removed_at) {
      ++check.removed;
      continue;
    }
    Sha256 hash;
    int64_t size = 0;
    absl::Status read = Download(rc, r, [&](absl::string_view bytes) {
      hash.Update(bytes);
      size += static_cast<int64_t>(bytes.size());
      return true;
    });
    if (!read.ok()) {
      check.problems.push_back("evidence/" + r.evidence_id + ": stored bytes are missing");
    } else if (hash.HexDigest() != r.sha256 || size != r.size_bytes) {
      check.problems.push_back("evidence/" + r.evidence_id + ": stored bytes do not match their SHA-256 (tampered)");
    }
  }
  if (static_cast<int>(rows->size()) != check.seal.evidence_count) {
    check.problems.push_back(
        absl::StrCat("the seal covers ", check.seal.evidence_count, " items but ", rows->size(), " are stored"));
  }
  if (SealDigest(*rows) != check.seal.digest) {
    check.problems.push_back("the evidence list no longer matches the seal digest");
  }
  return check;
}

// ------------------------------------------------------------------ goals

absl::StatusOr<v1::EvaluateGoalResponse> EvidenceCore::EvaluateGoal(const RequestContext& rc,
                                                                    const v1::EvaluateGoalRequest& req) {
  std::vector<FieldViolation> v;
  if (req.employee_id().empty()) v.push_back({"employee_id", "required"});
  if (req.goal().empty()) v.push_back({"goal", "required"});
  if (!v.empty()) return InvalidArgumentWithViolations("bad goal request", v);
  if (absl::Status s = RequireValidTimestamps(req); !s.ok()) return s;
  auto registry = events_->GetRegistry(rc, 0);
  if (!registry.ok()) return registry.status();
  std::set<std::string> types;
  bool found = false;
  for (const auto& g : registry->goals()) {
    if (g.key() != req.goal()) continue;
    found = true;
    types.insert(g.event_types().begin(), g.event_types().end());
  }
  if (!found) return absl::NotFoundError("goal " + req.goal() + " not found");
  for (const auto& t : registry->event_types()) {
    if (std::find(t.goals().begin(), t.goals().end(), req.goal()) != t.goals().end()) types.insert(t.key());
  }
  v1::EvaluateGoalResponse resp;
  bool all_complete = true;
  for (const std::string& type : types) {
    event::v1::ListEventsRequest list;
    list.set_subject_id(req.employee_id());
    list.set_event_type(type);
    if (req.has_start_time()) *list.mutable_start_time() = req.start_time();
    if (req.has_end_time()) *list.mutable_end_time() = req.end_time();
    auto events = events_->ListAllEvents(rc, list);
    if (!events.ok()) return events.status();
    for (const auto& e : *events) {
      auto validation = ValidateEvent(rc, e);
      if (!validation.ok()) return validation.status();
      all_complete &= validation->outcome() == v1::CHAIN_OUTCOME_COMPLETE;
      *resp.add_chains() = *std::move(validation);
    }
  }
  resp.set_outcome(resp.chains().empty() ? v1::GOAL_OUTCOME_NO_EVIDENCE
                   : all_complete        ? v1::GOAL_OUTCOME_ACHIEVED
                                         : v1::GOAL_OUTCOME_NOT_ACHIEVED);
  return resp;
}

absl::StatusOr<int> EvidenceCore::ReconcileSteps() {
  return reports_->Reconcile([this](const event::PendingStep& step) {
    return store_->DeleteSeal(step.tenant, step.step_id.substr(step.step_id.find(':') + 1));
  });
}

absl::Status EvidenceCore::DropUnsharedBlob(const std::string& sha256) {
  auto refs = store_->BlobReferences(sha256);
  if (!refs.ok()) return refs.status();
  return *refs == 0 ? blobs_->Remove(sha256) : absl::OkStatus();
}

absl::StatusOr<int64_t> EvidenceCore::RemoveBytes(const std::string& tenant, const std::vector<EvidenceRow>& rows,
                                                  const std::string& reason) {
  std::vector<std::string> ids;
  for (const EvidenceRow& r : rows) ids.push_back(r.evidence_id);
  auto marked = store_->MarkRemoved(tenant, ids, reason, clock_->Now());
  if (!marked.ok()) return marked.status();
  for (const EvidenceRow& r : rows) {
    if (absl::Status s = DropUnsharedBlob(r.sha256); !s.ok()) return s;
  }
  if (metrics_ != nullptr) metrics_->Removed(reason, *marked);
  return *marked;
}

absl::StatusOr<int64_t> EvidenceCore::EnforceRetention(int batch) {
  auto tenants = store_->Tenants();
  if (!tenants.ok()) return tenants.status();
  int64_t removed = 0;
  for (const std::string& tenant : *tenants) {
    auto registry = events_->GetRegistry(WorkerContext(tenant, "perfflow-evidence-retention"), 0);
    if (!registry.ok()) return registry.status();
    const int days = registry->settings().evidence_retention_days();
    if (days <= 0) continue;
    auto expired = store_->ExpiredEvidence(tenant, clock_->Now() - absl::Hours(24) * days, batch);
    if (!expired.ok()) return expired.status();
    if (expired->empty()) continue;
    auto n = RemoveBytes(tenant, *expired, "retention");
    if (!n.ok()) return n.status();
    removed += *n;
    LogInfo("evidence past its retention period removed",
            {{"tenant", tenant}, {"items", std::to_string(*n)}, {"retention_days", std::to_string(days)}});
  }
  return removed;
}

absl::Status EvidenceCore::RefreshGauges() {
  if (metrics_ == nullptr) return absl::OkStatus();
  auto tenants = store_->Tenants();
  if (!tenants.ok()) return tenants.status();
  for (const std::string& tenant : *tenants) {
    auto rows = store_->Completeness(tenant);
    if (!rows.ok()) return rows.status();
    for (const CompletenessRow& r : *rows) {
      if (r.total > 0) {
        metrics_->SetCompleteness(tenant, r.department_id, r.event_type,
                                  static_cast<double>(r.complete) / static_cast<double>(r.total));
      }
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ person data

absl::StatusOr<std::vector<db::PersonFile>> EvidenceCore::ExportPerson(const RequestContext& rc,
                                                                       const type::v1::ExportPersonDataRequest& req) {
  return ExportPersonWith(rc, req, [&](const std::string& person) { return store_->ExportPerson(rc.tenant, person); });
}

absl::StatusOr<std::vector<EvidenceRow>> EvidenceCore::PersonFiles(const RequestContext& rc,
                                                                   const type::v1::ExportPersonDataRequest& req) {
  return store_->PersonEvidence(rc.tenant, req.person_id());
}

std::string EvidenceCore::ArchivePath(const EvidenceRow& row) {
  std::string name = row.file_name;
  for (char& c : name) {
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  }
  return "evidence/files/" + row.evidence_id + "-" + name;
}

absl::StatusOr<type::v1::ErasePersonResponse> EvidenceCore::ErasePerson(const RequestContext& rc,
                                                                        const type::v1::ErasePersonRequest& req) {
  // Their files' rows, found before the erasure pseudonymises them.
  std::vector<EvidenceRow> files;
  auto erased = ErasePersonWith("evidence", rc, req, clock_->Now(), [&](const db::Erasure& erasure) {
    auto rows = store_->PersonEvidence(rc.tenant, erasure.person_id);
    if (!rows.ok()) return absl::StatusOr<std::vector<db::ErasedCount>>(rows.status());
    files = *std::move(rows);
    return store_->ErasePerson(rc.tenant, erasure);
  });
  if (!erased.ok()) return erased.status();
  // The rows are marked removed; the bytes go unless another kept row shares them.
  for (const EvidenceRow& r : files) {
    if (absl::Status s = DropUnsharedBlob(r.sha256); !s.ok()) return s;
  }
  if (metrics_ != nullptr) metrics_->Removed("erasure", static_cast<int64_t>(files.size()));
  erased->set_files_deleted(static_cast<int64_t>(files.size()));
  return erased;
}

}  // namespace perfflow::evidence
