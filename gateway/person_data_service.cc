#include "gateway/person_data_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/db/migrations.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/person_data.h"
#include "common/status.h"
#include "gateway/zip_writer.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::gateway {
namespace {

using db::Row;
using db::Transaction;

const std::vector<db::Migration>& ErasureMigrations() {
  static const std::vector<db::Migration> kMigrations = {
      {1,
       "erasures",
       {"CREATE TABLE IF NOT EXISTS erasures (tenant_id VARCHAR(64) NOT NULL, pseudonym CHAR(23) NOT NULL, "
        "person_key CHAR(64) NOT NULL, display_name VARCHAR(255) NOT NULL, requested_by VARCHAR(128) NOT NULL, "
        "requested_at BIGINT NOT NULL, finished_at BIGINT NULL, PRIMARY KEY (tenant_id, pseudonym))",
        "CREATE INDEX IF NOT EXISTS erasures_pending ON erasures (tenant_id, person_key)"}},
  };
  return kMigrations;
}

// Identifies an unfinished erasure's person without keeping their id.
std::string PersonKey(const std::string& tenant, const std::string& person) {
  return Sha256Hex(absl::StrCat("erasure\n", tenant, "\n", person));
}

// What a file of the archive holds, for its README.
const std::vector<std::pair<std::string, std::string>>& FileGuide() {
  static const std::vector<std::pair<std::string, std::string>> kGuide = {
      {"event/directory_entry.json", "your entry in the company directory perfflow was given"},
      {"event/direct_reports.json", "the people who report to you"},
      {"event/departments_headed.json", "departments you head"},
      {"event/events.json", "business events about you (contracts, first articles, complaints, ...)"},
      {"event/flows.json", "the performance flow of each of those events, with its step times"},
      {"event/flow_steps.json", "each step recorded on your chains, and steps you recorded"},
      {"event/tasks.json", "tasks given to you, and tasks on your chains"},
      {"event/notifications.json", "notifications sent to you"},
      {"evidence/evidence.json", "evidence you uploaded or co-signed, and evidence on your chains"},
      {"evidence/files/", "the files themselves (those not yet deleted)"},
      {"evidence/chains.json", "the latest validation of each of your evidence chains"},
      {"evidence/evidence_reads.json", "who read your evidence, and whose evidence you read"},
      {"feedback/reviews_received.json", "your manager's verdicts and comments on your actions"},
      {"feedback/reviews_written.json", "verdicts and comments you wrote"},
      {"feedback/confirmations.json", "cross-department confirmations you gave, and those of your chains"},
      {"calibration/outcomes.json", "calibration outcomes about you (rating before and after, reason)"},
      {"calibration/kpi_observations.json", "KPI values recorded for you"},
      {"calibration/rating_change_notices.json", "notices telling you a rating was changed"},
  };
  return kGuide;
}

}  // namespace

// ------------------------------------------------------------------ erasure log

absl::StatusOr<std::shared_ptr<ErasureLog>> ErasureLog::Open(std::shared_ptr<db::Database> database) {
  if (absl::Status s = db::ApplyMigrations(*database, "gateway_erasures", ErasureMigrations()); !s.ok()) return s;
  return std::shared_ptr<ErasureLog>(new ErasureLog(std::move(database)));
}

absl::StatusOr<std::optional<ErasureLog::Pending>> ErasureLog::Find(const std::string& tenant,
                                                                    const std::string& person) {
  std::optional<Pending> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    auto rows = txn.Query(
        "SELECT pseudonym, display_name FROM erasures WHERE tenant_id = ? AND person_key = ? "
        "AND finished_at IS NULL",
        {tenant, PersonKey(tenant, person)});
    if (!rows.ok()) return rows.status();
    out.reset();
    if (!rows->empty()) out = Pending{rows->front().Str(0), rows->front().Str(1)};
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status ErasureLog::Begin(const std::string& tenant, const std::string& person, const Pending& pending,
                               const std::string& requested_by, absl::Time at) {
  return db_->RunInTransaction([&](Transaction& txn) {
    return txn
        .Execute(
            "INSERT INTO erasures (tenant_id, pseudonym, person_key, display_name, requested_by, requested_at, "
            "finished_at) VALUES (?, ?, ?, ?, ?, ?, NULL)",
            {tenant, pending.pseudonym, PersonKey(tenant, person), pending.display_name, requested_by,
             absl::ToUnixMillis(at)})
        .status();
  });
}

absl::Status ErasureLog::Finish(const std::string& tenant, const std::string& person, absl::Time at) {
  return db_->RunInTransaction([&](Transaction& txn) {
    return txn
        .Execute(
            "UPDATE erasures SET finished_at = ?, person_key = '', display_name = '' "
            "WHERE tenant_id = ? AND person_key = ? AND finished_at IS NULL",
            {absl::ToUnixMillis(at), tenant, PersonKey(tenant, person)})
        .status();
  });
}

// ------------------------------------------------------------------ service

std::unique_ptr<grpc::ClientContext> PersonDataServiceImpl::CallFor(const RequestContext& rc,
                                                                    const grpc::ServerContext& ctx) const {
  auto call = std::make_unique<grpc::ClientContext>();
  call->set_deadline(ctx.deadline());
  AttachIdentity(rc, call.get(), kGatewayPeer);
  return call;
}

absl::StatusOr<std::string> PersonDataServiceImpl::DisplayName(const RequestContext& rc, const grpc::ServerContext& ctx,
                                                               const std::string& person) const {
  event::v1::GetEmployeeRequest req;
  req.set_id(person);
  grpc::ByteBuffer reply;
  auto call = CallFor(rc, ctx);
  grpc::Status s = backends_->Unary("/perfflow.event.v1.EventService/GetEmployee", call.get(), Serialize(req), &reply);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::NotFoundError("there is no person " + person + " in the tenant's directory");
  }
  if (!s.ok()) return FromGrpcStatus(s);
  event::v1::GetEmployeeResponse resp;
  if (!Parse(reply, &resp)) return absl::InternalError("unreadable GetEmployee reply");
  return resp.employee().display_name();
}

grpc::Status PersonDataServiceImpl::ExportPersonData(grpc::ServerContext* ctx,
                                                     const type::v1::ExportPersonDataRequest* req,
                                                     grpc::ServerWriter<type::v1::FileChunk>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  const std::string& person = req->person_id();
  if (person.empty() || person.size() > 64) {
    return ToGrpcStatus(InvalidArgumentWithViolations("bad export", {{"person_id", "required, at most 64 bytes"}}));
  }
  if (person != rc.principal && !HasRole(rc, "hr") && !HasRole(rc, "admin")) {
    return ToGrpcStatus(absl::PermissionDeniedError("a person's data is exported for the person, HR or an admin"));
  }
  auto name = DisplayName(rc, *ctx, person);
  if (!name.ok()) return ToGrpcStatus(name.status());

  const absl::Time now = clock_->Now();
  // libarchive hands over its output in small pieces: they go out in chunks
  // of 256 KiB, the first naming the file.
  constexpr size_t kChunkBytes = 256 << 10;
  type::v1::FileChunk chunk;
  chunk.set_file_name(absl::StrCat("perfflow-", SafeFileName(rc.tenant), "-", SafeFileName(person), "-",
                                   absl::FormatTime("%Y%m%d", now, absl::UTCTimeZone()), ".zip"));
  chunk.set_content_type("application/zip");
  auto send_chunk = [&] {
    const bool sent = !ctx->IsCancelled() && writer->Write(chunk);
    chunk.Clear();
    return sent;
  };
  ZipWriter zip([&](absl::string_view bytes) {
    chunk.mutable_data()->append(bytes.data(), bytes.size());
    return chunk.data().size() < kChunkBytes || send_chunk();
  });
  int files = 0;
  for (const std::string& service : services_) {
    auto call = CallFor(rc, *ctx);
    std::unique_ptr<StreamCall> stream =
        backends_->Stream(absl::StrCat("/", service, "/ExportPersonData"), std::move(call), {Serialize(*req)});
    if (stream == nullptr) continue;
    // Parts of one file come one after another: a file is added when the next begins.
    std::string path;
    std::string content;
    auto flush = [&]() -> absl::Status {
      if (path.empty()) return absl::OkStatus();
      ++files;
      absl::Status s = zip.Add(path, content, now);
      path.clear();
      content.clear();
      return s;
    };
    grpc::ByteBuffer message;
    while (stream->Next(&message)) {
      type::v1::PersonDataPart part;
      if (!Parse(message, &part)) return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable part from " + service);
      if (part.path() != path) {
        if (absl::Status s = flush(); !s.ok()) return ToGrpcStatus(s);
        path = part.path();
      }
      content += part.data();
    }
    grpc::Status status = stream->Finish();
    if (!status.ok()) {
      return grpc::Status(status.error_code(), absl::StrCat(service, ": ", status.error_message()));
    }
    if (absl::Status s = flush(); !s.ok()) return ToGrpcStatus(s);
  }

  std::string readme =
      absl::StrCat("Everything perfflow holds about ", *name, " (", person, ") in tenant ", rc.tenant, ",\n",
                   "exported ", absl::FormatTime("%Y-%m-%d %H:%M UTC", now, absl::UTCTimeZone()), " at the request of ",
                   rc.principal.empty() ? "an unnamed caller" : rc.principal, ".\n\n",
                   "Times are UTC (RFC 3339). Each .json file is a list of records as stored.\n\n");
  for (const auto& [file, what] : FileGuide()) absl::StrAppend(&readme, file, "\n    ", what, "\n");
  if (absl::Status s = zip.Add("README.txt", readme, now); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = zip.Close(); !s.ok()) return ToGrpcStatus(s);
  if (!chunk.data().empty() && !send_chunk())
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  LogInfo("person data exported", {{"tenant", rc.tenant}, {"by", rc.principal}, {"files", std::to_string(files)}});
  return grpc::Status::OK;
}

grpc::Status PersonDataServiceImpl::ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                                                type::v1::ErasePersonResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireRole(rc, {"admin"}, "erasing a person"); !s.ok()) return ToGrpcStatus(s);
  std::vector<FieldViolation> v;
  if (req->person_id().empty() || req->person_id().size() > 64) {
    v.push_back({"person_id", "required, at most 64 bytes"});
  }
  if (!req->pseudonym().empty()) v.push_back({"pseudonym", "chosen by perfflow; leave it out"});
  if (!req->display_name().empty()) v.push_back({"display_name", "taken from the directory; leave it out"});
  if (!v.empty()) return ToGrpcStatus(InvalidArgumentWithViolations("bad erasure", v));
  const std::string& person = req->person_id();

  auto pending = erasures_->Find(rc.tenant, person);
  if (!pending.ok()) return ToGrpcStatus(pending.status());
  if (!*pending) {
    auto name = DisplayName(rc, *ctx, person);
    if (!name.ok()) return ToGrpcStatus(name.status());
    pending->emplace(ErasureLog::Pending{"erased-" + RandomId().substr(0, 16), *name});
    if (absl::Status s = erasures_->Begin(rc.tenant, person, **pending, rc.principal, clock_->Now()); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  type::v1::ErasePersonRequest part = *req;
  part.set_pseudonym((*pending)->pseudonym);
  part.set_display_name((*pending)->display_name);
  resp->set_pseudonym(part.pseudonym());
  for (const std::string& service : services_) {
    const std::string method = absl::StrCat("/", service, "/ErasePerson");
    if (backends_->StubFor(method) == nullptr) continue;  // not deployed here
    auto call = CallFor(rc, *ctx);
    grpc::ByteBuffer reply;
    grpc::Status s = backends_->Unary(method, call.get(), Serialize(part), &reply);
    if (!s.ok()) {
      return grpc::Status(s.error_code(), absl::StrCat("the erasure is unfinished (", service, ": ", s.error_message(),
                                                       "); ask again to finish it with the same pseudonym"));
    }
    type::v1::ErasePersonResponse done;
    if (!Parse(reply, &done)) return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable reply from " + service);
    for (const auto& t : done.tables()) *resp->add_tables() = t;
    resp->set_files_deleted(resp->files_deleted() + done.files_deleted());
  }
  if (absl::Status s = erasures_->Finish(rc.tenant, person, clock_->Now()); !s.ok()) return ToGrpcStatus(s);
  LogInfo("person erased", {{"tenant", rc.tenant}, {"pseudonym", resp->pseudonym()}, {"by", rc.principal}});
  return grpc::Status::OK;
}

}  // namespace perfflow::gateway
