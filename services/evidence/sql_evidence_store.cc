#include "services/evidence/sql_evidence_store.h"

#include "absl/strings/str_cat.h"
#include "common/db/time_columns.h"
#include "common/ids.h"
#include "services/evidence/blob_store.h"

namespace perfflow::evidence {
namespace {

using db::Params;
using db::Row;
using db::Transaction;

using db::FromMs;
using db::Ms;

const char kColumns[] =
    "evidence_id, event_id, kind, file_name, content_type, size_bytes, sha256, note, uploader_id, uploaded_at, "
    "cosigned_by, cosigned_at, removed_at, removed_reason";

EvidenceRow ReadRow(const Row& r) {
  EvidenceRow e;
  e.evidence_id = r.Str(0);
  e.event_id = r.Str(1);
  e.kind = r.Str(2);
  e.file_name = r.Str(3);
  e.content_type = r.Str(4);
  e.size_bytes = r.Int(5);
  e.sha256 = r.Str(6);
  e.note = r.Str(7);
  e.uploader_id = r.Str(8);
  e.uploaded_at = FromMs(r.Int(9));
  e.cosigned_by = r.Str(10);
  if (!r.IsNull(11)) e.cosigned_at = FromMs(r.Int(11));
  if (!r.IsNull(12)) e.removed_at = FromMs(r.Int(12));
  e.removed_reason = r.Str(13);
  return e;
}

absl::StatusOr<std::vector<EvidenceRow>> List(Transaction& txn, const std::string& tenant,
                                              const std::string& event_id) {
  auto rows =
      txn.Query(absl::StrCat("SELECT ", kColumns,
                             " FROM evidence WHERE tenant_id = ? AND event_id = ? ORDER BY uploaded_at, evidence_id"),
                {tenant, event_id});
  if (!rows.ok()) return rows.status();
  std::vector<EvidenceRow> out;
  for (const Row& r : *rows) out.push_back(ReadRow(r));
  return out;
}

// Evidence rows on their own: "SELECT <columns> FROM evidence " + `where`.
absl::StatusOr<std::vector<EvidenceRow>> Evidence(db::Database& db, const std::string& where,
                                                  const db::Params& params) {
  auto rows = db::QueryOnce(db, absl::StrCat("SELECT ", kColumns, " FROM evidence ", where), params);
  if (!rows.ok()) return rows.status();
  std::vector<EvidenceRow> out;
  for (const Row& r : *rows) out.push_back(ReadRow(r));
  return out;
}

absl::StatusOr<bool> Sealed(Transaction& txn, const std::string& tenant, const std::string& event_id) {
  auto rows = txn.Query("SELECT 1 FROM seals WHERE tenant_id = ? AND event_id = ?", {tenant, event_id});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

// Locks the chain's seal key so uploads, deletes and sealing of one event
// serialise (MySQL); SQLite transactions are already exclusive.
absl::Status LockChain(Transaction& txn, const std::string& tenant, const std::string& event_id) {
  if (txn.dialect() != db::Dialect::kMysql) return absl::OkStatus();
  auto ins = txn.Execute("INSERT IGNORE INTO evidence_locks (tenant_id, event_id) VALUES (?, ?)", {tenant, event_id});
  if (!ins.ok()) return ins.status();
  return txn
      .Query("SELECT event_id FROM evidence_locks WHERE tenant_id = ? AND event_id = ? FOR UPDATE", {tenant, event_id})
      .status();
}

ChainStatusRow ReadStatus(const Row& r) {
  ChainStatusRow s;
  s.event_id = r.Str(0);
  s.event_type = r.Str(1);
  s.department_id = r.Str(2);
  s.subject_id = r.Str(3);
  s.attributes_json = r.Str(4);
  s.complete = r.Int(5) != 0;
  s.kinds = r.Str(6);
  s.validated_at = FromMs(r.Int(7));
  return s;
}

}  // namespace

std::string SealDigest(const std::vector<EvidenceRow>& rows) {
  Sha256 hash;
  for (const EvidenceRow& r : rows) hash.Update(absl::StrCat(r.evidence_id, ":", r.sha256, "\n"));
  return hash.HexDigest();
}

const std::vector<db::Migration>& EvidenceMigrations() {
  static const std::vector<db::Migration> kMigrations = {
      {1,
       "evidence, seals, chain status",
       {
           "CREATE TABLE IF NOT EXISTS evidence (tenant_id VARCHAR(64) NOT NULL, evidence_id CHAR(32) NOT NULL, "
           "event_id CHAR(32) NOT NULL, kind VARCHAR(64) NOT NULL, file_name VARCHAR(255) NOT NULL, "
           "content_type VARCHAR(255) NOT NULL, size_bytes BIGINT NOT NULL, sha256 CHAR(64) NOT NULL, "
           "note TEXT NOT NULL, uploader_id VARCHAR(64) NOT NULL, uploaded_at BIGINT NOT NULL, "
           "cosigned_by VARCHAR(64) NOT NULL, cosigned_at BIGINT NULL, PRIMARY KEY (tenant_id, evidence_id))",
           "CREATE INDEX IF NOT EXISTS evidence_by_event ON evidence (tenant_id, event_id, uploaded_at)",
           "CREATE INDEX IF NOT EXISTS evidence_by_blob ON evidence (sha256)",
           "CREATE TABLE IF NOT EXISTS evidence_locks (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "PRIMARY KEY (tenant_id, event_id))",
           "CREATE TABLE IF NOT EXISTS seals (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "digest CHAR(64) NOT NULL, evidence_count INT NOT NULL, sealed_at BIGINT NOT NULL, "
           "PRIMARY KEY (tenant_id, event_id))",
           "CREATE TABLE IF NOT EXISTS chain_status (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "event_type VARCHAR(128) NOT NULL, department_id VARCHAR(64) NOT NULL, subject_id VARCHAR(64) NOT NULL, "
           "attributes MEDIUMTEXT NOT NULL, complete INT NOT NULL, kinds TEXT NOT NULL, validated_at BIGINT NOT NULL, "
           "complete_reported INT NOT NULL, PRIMARY KEY (tenant_id, event_id))",
           "CREATE INDEX IF NOT EXISTS chain_status_by_type ON chain_status (tenant_id, event_type, complete, "
           "validated_at)",
       }},
      event::StepReportsMigration(2),
      {3,
       "who read whose evidence",
       {
           "CREATE TABLE IF NOT EXISTS evidence_access (tenant_id VARCHAR(64) NOT NULL, access_id CHAR(32) NOT NULL, "
           "evidence_id CHAR(32) NOT NULL, event_id CHAR(32) NOT NULL, owner_id VARCHAR(64) NOT NULL, "
           "reader_id VARCHAR(64) NOT NULL, accessed_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, access_id))",
           "CREATE INDEX IF NOT EXISTS evidence_access_by_owner ON evidence_access (tenant_id, owner_id, accessed_at)",
       }},
      // Retention and erasure delete a file's bytes; its row stays, marked.
      {4,
       "removed evidence bytes",
       {
           "ALTER TABLE evidence ADD COLUMN removed_at BIGINT NULL",
           "ALTER TABLE evidence ADD COLUMN removed_reason VARCHAR(32) NOT NULL DEFAULT ''",
           "CREATE INDEX IF NOT EXISTS evidence_by_upload ON evidence (tenant_id, removed_at, uploaded_at)",
       }},
  };
  return kMigrations;
}

absl::StatusOr<std::unique_ptr<SqlEvidenceStore>> SqlEvidenceStore::Open(std::shared_ptr<db::Database> db) {
  if (absl::Status s = db::ApplyMigrations(*db, "evidence", EvidenceMigrations()); !s.ok()) return s;
  return std::unique_ptr<SqlEvidenceStore>(new SqlEvidenceStore(std::move(db)));
}

absl::Status SqlEvidenceStore::InsertEvidence(const std::string& tenant, const EvidenceRow& e,
                                              int64_t max_event_bytes) {
  return db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    if (absl::Status s = LockChain(txn, tenant, e.event_id); !s.ok()) return s;
    auto sealed = Sealed(txn, tenant, e.event_id);
    if (!sealed.ok()) return sealed.status();
    if (*sealed) return absl::FailedPreconditionError("the evidence chain is sealed; no further uploads");
    auto total = txn.Query("SELECT COALESCE(SUM(size_bytes), 0) FROM evidence WHERE tenant_id = ? AND event_id = ?",
                           {tenant, e.event_id});
    if (!total.ok()) return total.status();
    const int64_t stored = total->empty() ? 0 : total->front().Int(0);
    if (stored + e.size_bytes > max_event_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("the event already holds ", stored, " bytes; ", e.size_bytes,
                                                       " more would exceed its ", max_event_bytes, "-byte limit"));
    }
    auto ins = txn.Execute(absl::StrCat("INSERT INTO evidence (tenant_id, ", kColumns,
                                        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, '')"),
                           {tenant, e.evidence_id, e.event_id, e.kind, e.file_name, e.content_type, e.size_bytes,
                            e.sha256, e.note, e.uploader_id, Ms(e.uploaded_at), e.cosigned_by});
    return ins.status();
  });
}

absl::StatusOr<std::optional<EvidenceRow>> SqlEvidenceStore::GetEvidence(const std::string& tenant,
                                                                         const std::string& id) {
  auto rows = Evidence(*db_, "WHERE tenant_id = ? AND evidence_id = ?", {tenant, id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return rows->front();
}

absl::StatusOr<std::vector<EvidenceRow>> SqlEvidenceStore::ListEvidence(const std::string& tenant,
                                                                        const std::string& event_id) {
  return Evidence(*db_, "WHERE tenant_id = ? AND event_id = ? ORDER BY uploaded_at, evidence_id", {tenant, event_id});
}

absl::StatusOr<int64_t> SqlEvidenceStore::EventBytes(const std::string& tenant, const std::string& event_id) {
  return db::QueryInt(*db_, "SELECT COALESCE(SUM(size_bytes), 0) FROM evidence WHERE tenant_id = ? AND event_id = ?",
                      {tenant, event_id});
}

absl::StatusOr<bool> SqlEvidenceStore::TenantHasBlob(const std::string& tenant, const std::string& sha256) {
  auto found =
      db::QueryInt(*db_, "SELECT 1 FROM evidence WHERE tenant_id = ? AND sha256 = ? AND removed_at IS NULL LIMIT 1",
                   {tenant, sha256});
  if (!found.ok()) return found.status();
  return *found == 1;
}

absl::StatusOr<int64_t> SqlEvidenceStore::BlobReferences(const std::string& sha256) {
  return db::QueryInt(*db_, "SELECT COUNT(*) FROM evidence WHERE sha256 = ? AND removed_at IS NULL", {sha256});
}

absl::StatusOr<EvidenceRow> SqlEvidenceStore::DeleteEvidence(const std::string& tenant, const std::string& id) {
  EvidenceRow out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query(absl::StrCat("SELECT ", kColumns, " FROM evidence WHERE tenant_id = ? AND evidence_id = ?"),
                          {tenant, id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::NotFoundError("evidence/" + id + " not found");
    out = ReadRow(rows->front());
    if (absl::Status l = LockChain(txn, tenant, out.event_id); !l.ok()) return l;
    auto sealed = Sealed(txn, tenant, out.event_id);
    if (!sealed.ok()) return sealed.status();
    if (*sealed) return absl::FailedPreconditionError("the evidence chain is sealed; evidence cannot be deleted");
    return txn.Execute("DELETE FROM evidence WHERE tenant_id = ? AND evidence_id = ?", {tenant, id}).status();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<EvidenceRow> SqlEvidenceStore::Cosign(const std::string& tenant, const std::string& id,
                                                     const std::string& by, absl::Time at) {
  EvidenceRow out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query(
        absl::StrCat("SELECT ", kColumns, " FROM evidence WHERE tenant_id = ? AND evidence_id = ?", txn.ForUpdate()),
        {tenant, id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::NotFoundError("evidence/" + id + " not found");
    out = ReadRow(rows->front());
    auto sealed = Sealed(txn, tenant, out.event_id);
    if (!sealed.ok()) return sealed.status();
    if (*sealed) return absl::FailedPreconditionError("the evidence chain is sealed");
    if (!out.cosigned_by.empty()) {
      if (out.cosigned_by == by) return absl::OkStatus();  // the same co-signature again
      return absl::FailedPreconditionError("already co-signed by " + out.cosigned_by);
    }
    out.cosigned_by = by;
    out.cosigned_at = at;
    return txn
        .Execute("UPDATE evidence SET cosigned_by = ?, cosigned_at = ? WHERE tenant_id = ? AND evidence_id = ?",
                 {by, Ms(at), tenant, id})
        .status();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<SealRow>> SqlEvidenceStore::GetSeal(const std::string& tenant,
                                                                 const std::string& event_id) {
  auto rows = db::QueryOnce(
      *db_, "SELECT event_id, digest, evidence_count, sealed_at FROM seals WHERE tenant_id = ? AND event_id = ?",
      {tenant, event_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  const Row& r = rows->front();
  return SealRow{r.Str(0), r.Str(1), static_cast<int>(r.Int(2)), FromMs(r.Int(3))};
}

absl::StatusOr<SealOutcome> SqlEvidenceStore::CreateSeal(const std::string& tenant, const std::string& event_id,
                                                         absl::Time at, const event::PendingStep& report) {
  SealOutcome out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    if (absl::Status l = LockChain(txn, tenant, event_id); !l.ok()) return l;
    auto existing =
        txn.Query("SELECT event_id, digest, evidence_count, sealed_at FROM seals WHERE tenant_id = ? AND event_id = ?",
                  {tenant, event_id});
    if (!existing.ok()) return existing.status();
    if (!existing->empty()) {
      const Row& r = existing->front();
      out = {SealRow{r.Str(0), r.Str(1), static_cast<int>(r.Int(2)), FromMs(r.Int(3))}, true};
      return absl::OkStatus();
    }
    auto rows = List(txn, tenant, event_id);
    if (!rows.ok()) return rows.status();
    SealRow seal{event_id, SealDigest(*rows), static_cast<int>(rows->size()), at};
    auto ins =
        txn.Execute("INSERT INTO seals (tenant_id, event_id, digest, evidence_count, sealed_at) VALUES (?, ?, ?, ?, ?)",
                    {tenant, event_id, seal.digest, int64_t{seal.evidence_count}, Ms(at)});
    if (!ins.ok()) return ins.status();
    out = {seal, false};
    return event::StepReports::Add(txn, report);
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status SqlEvidenceStore::DeleteSeal(const std::string& tenant, const std::string& event_id) {
  return db_->RunInTransaction([&](Transaction& txn) {
    auto deleted = txn.Execute("DELETE FROM seals WHERE tenant_id = ? AND event_id = ?", {tenant, event_id});
    if (!deleted.ok()) return deleted.status();
    return event::StepReports::Remove(txn, tenant, SealStepId(event_id));
  });
}

absl::StatusOr<bool> SqlEvidenceStore::RecordValidation(const std::string& tenant, const ChainStatusRow& row) {
  bool report = false;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto existing =
        txn.Query(absl::StrCat("SELECT complete_reported FROM chain_status WHERE tenant_id = ? AND event_id = ?",
                               txn.ForUpdate()),
                  {tenant, row.event_id});
    if (!existing.ok()) return existing.status();
    const bool reported = !existing->empty() && existing->front().Int(0) != 0;
    report = row.complete && !reported;
    if (existing->empty()) {
      auto ins = txn.Execute(
          "INSERT INTO chain_status (tenant_id, event_id, event_type, department_id, subject_id, attributes, complete, "
          "kinds, validated_at, complete_reported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
          {tenant, row.event_id, row.event_type, row.department_id, row.subject_id, row.attributes_json,
           int64_t{row.complete ? 1 : 0}, row.kinds, Ms(row.validated_at)});
      if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent first validation");
      return ins.status();
    }
    return txn
        .Execute(
            "UPDATE chain_status SET complete = ?, kinds = ?, attributes = ?, validated_at = ? "
            "WHERE tenant_id = ? AND event_id = ?",
            {int64_t{row.complete ? 1 : 0}, row.kinds, row.attributes_json, Ms(row.validated_at), tenant, row.event_id})
        .status();
  });
  if (!s.ok()) return s;
  return report;
}

absl::Status SqlEvidenceStore::MarkCompleteReported(const std::string& tenant, const std::string& event_id) {
  return db_->RunInTransaction([&](Transaction& txn) {
    return txn
        .Execute("UPDATE chain_status SET complete_reported = 1 WHERE tenant_id = ? AND event_id = ?",
                 {tenant, event_id})
        .status();
  });
}

absl::StatusOr<std::vector<ChainStatusRow>> SqlEvidenceStore::CompleteSealedChains(const std::string& tenant,
                                                                                   const std::string& event_type,
                                                                                   const std::string& exclude_event_id,
                                                                                   int limit) {
  auto rows = db::QueryOnce(
      *db_,
      "SELECT c.event_id, c.event_type, c.department_id, c.subject_id, c.attributes, c.complete, c.kinds, "
      "c.validated_at FROM chain_status c JOIN seals s ON s.tenant_id = c.tenant_id AND s.event_id = c.event_id "
      "WHERE c.tenant_id = ? AND c.event_type = ? AND c.complete = 1 AND c.event_id <> ? "
      "ORDER BY c.validated_at DESC LIMIT ?",
      {tenant, event_type, exclude_event_id, int64_t{limit}});
  if (!rows.ok()) return rows.status();
  std::vector<ChainStatusRow> out;
  for (const Row& r : *rows) out.push_back(ReadStatus(r));
  return out;
}

absl::StatusOr<std::vector<std::string>> SqlEvidenceStore::Tenants() {
  auto rows = db::QueryOnce(*db_, "SELECT DISTINCT tenant_id FROM chain_status", {});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (const Row& r : *rows) out.push_back(r.Str(0));
  return out;
}

absl::StatusOr<std::vector<CompletenessRow>> SqlEvidenceStore::Completeness(const std::string& tenant) {
  auto rows = db::QueryOnce(*db_,
                            "SELECT department_id, event_type, SUM(complete), COUNT(*) FROM chain_status "
                            "WHERE tenant_id = ? GROUP BY department_id, event_type",
                            {tenant});
  if (!rows.ok()) return rows.status();
  std::vector<CompletenessRow> out;
  for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Int(2), r.Int(3)});
  return out;
}

absl::Status SqlEvidenceStore::RecordAccess(const std::string& tenant, const AccessRow& row) {
  return db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    return txn
        .Execute(
            "INSERT INTO evidence_access (tenant_id, access_id, evidence_id, event_id, owner_id, reader_id, "
            "accessed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {tenant, RandomId(), row.evidence_id, row.event_id, row.owner_id, row.reader_id, Ms(row.at)})
        .status();
  });
}

absl::StatusOr<std::vector<AccessRow>> SqlEvidenceStore::ListAccess(const std::string& tenant,
                                                                    const std::string& owner_id, int limit) {
  auto rows = db::QueryOnce(*db_,
                            "SELECT evidence_id, event_id, owner_id, reader_id, accessed_at FROM evidence_access "
                            "WHERE tenant_id = ? AND owner_id = ? ORDER BY accessed_at DESC LIMIT ?",
                            {tenant, owner_id, int64_t{limit}});
  if (!rows.ok()) return rows.status();
  std::vector<AccessRow> out;
  for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Str(2), r.Str(3), FromMs(r.Int(4))});
  return out;
}

absl::StatusOr<std::vector<EvidenceRow>> SqlEvidenceStore::ExpiredEvidence(const std::string& tenant,
                                                                           absl::Time uploaded_before, int limit) {
  return Evidence(*db_,
                  "WHERE tenant_id = ? AND removed_at IS NULL AND uploaded_at < ? ORDER BY uploaded_at, evidence_id "
                  "LIMIT ?",
                  {tenant, Ms(uploaded_before), int64_t{limit}});
}

absl::StatusOr<int64_t> SqlEvidenceStore::MarkRemoved(const std::string& tenant, const std::vector<std::string>& ids,
                                                      const std::string& reason, absl::Time at) {
  int64_t out = 0;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out = 0;
    for (const std::string& id : ids) {
      auto n = txn.Execute(
          "UPDATE evidence SET removed_at = ?, removed_reason = ? "
          "WHERE tenant_id = ? AND evidence_id = ? AND removed_at IS NULL",
          {Ms(at), reason, tenant, id});
      if (!n.ok()) return n.status();
      out += *n;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ------------------------------------------------------------------ person data

namespace {

const char kTheirChains[] = "event_id IN (SELECT event_id FROM chain_status WHERE tenant_id = ? AND subject_id = ?)";

const std::vector<db::PersonTable>& PersonTables() {
  using db::ColumnKind;
  constexpr auto kTime = ColumnKind::kTime;
  constexpr auto kNumber = ColumnKind::kNumber;
  static const std::vector<db::PersonTable> kTables = {
      {"evidence",
       "evidence/evidence.json",
       {{"evidence_id"},
        {"event_id"},
        {"kind"},
        {"file_name"},
        {"content_type"},
        {"size_bytes", kNumber},
        {"sha256"},
        {"note"},
        {"uploader_id"},
        {"uploaded_at", kTime},
        {"cosigned_by"},
        {"cosigned_at", kTime},
        {"removed_at", kTime},
        {"removed_reason"}},
       {"uploader_id", "cosigned_by"},
       "uploader_id",
       kTheirChains,
       {{"note", ""}, {"file_name", "erased"}},
       {}},
      {"chain_status",
       "evidence/chains.json",
       {{"event_id"},
        {"event_type"},
        {"department_id"},
        {"subject_id"},
        {"attributes", ColumnKind::kJson},
        {"complete", kNumber},
        {"kinds"},
        {"validated_at", kTime}},
       {"subject_id"},
       "",
       "",
       {},
       {}},
      {"evidence_access",
       "evidence/evidence_reads.json",
       {{"evidence_id"}, {"event_id"}, {"owner_id"}, {"reader_id"}, {"accessed_at", kTime}},
       {"owner_id", "reader_id"},
       "",
       "",
       {},
       {}},
      // Steps not yet delivered to the event service: not exported.
      {"step_reports", "", {}, {"actor_id"}, "", "", {}, {}},
  };
  return kTables;
}

}  // namespace

absl::StatusOr<std::vector<db::PersonFile>> SqlEvidenceStore::ExportPerson(const std::string& tenant,
                                                                           const std::string& person) {
  return db::ExportPersonRows(*db_, tenant, person, PersonTables());
}

absl::StatusOr<std::vector<EvidenceRow>> SqlEvidenceStore::PersonEvidence(const std::string& tenant,
                                                                          const std::string& person) {
  return Evidence(*db_,
                  absl::StrCat("WHERE tenant_id = ? AND removed_at IS NULL AND (uploader_id = ? OR ", kTheirChains,
                               ") ORDER BY uploaded_at, evidence_id"),
                  {tenant, person, tenant, person});
}

absl::StatusOr<std::vector<db::ErasedCount>> SqlEvidenceStore::ErasePerson(const std::string& tenant,
                                                                           const db::Erasure& erasure) {
  // Their files are marked removed in the same transaction; the caller
  // deletes the bytes no kept row shares.
  auto mark = [&](Transaction& txn) {
    return txn
        .Execute(absl::StrCat("UPDATE evidence SET removed_at = ?, removed_reason = 'erasure' WHERE tenant_id = ? AND "
                              "removed_at IS NULL AND (uploader_id = ? OR ",
                              kTheirChains, ")"),
                 {Ms(erasure.at), tenant, erasure.person_id, tenant, erasure.person_id})
        .status();
  };
  return db::ErasePersonRows(*db_, tenant, erasure, PersonTables(), mark);
}

}  // namespace perfflow::evidence
