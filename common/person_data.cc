#include "common/person_data.h"

#include <algorithm>

#include "common/status.h"

namespace perfflow {
namespace {

constexpr size_t kPartBytes = 1 << 20;

absl::Status CheckCaller(const RequestContext& rc, const std::string& person_id) {
  if (rc.peer != kGatewayPeer) {
    return absl::PermissionDeniedError(
        "a person's data is exported or erased through perfflow.gateway.v1.PersonDataService only");
  }
  std::vector<FieldViolation> v;
  if (person_id.empty()) v.push_back({"person_id", "required"});
  if (person_id.size() > 64) v.push_back({"person_id", "at most 64 bytes"});
  if (!v.empty()) return InvalidArgumentWithViolations("bad person data request", v);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<db::PersonFile>> ExportPersonWith(
    const RequestContext& rc, const type::v1::ExportPersonDataRequest& req,
    const std::function<absl::StatusOr<std::vector<db::PersonFile>>(const std::string& person)>& read) {
  if (absl::Status s = CheckCaller(rc, req.person_id()); !s.ok()) return s;
  return read(req.person_id());
}

absl::StatusOr<type::v1::ErasePersonResponse> ErasePersonWith(
    const std::string& service, const RequestContext& rc, const type::v1::ErasePersonRequest& req, absl::Time now,
    const std::function<absl::StatusOr<std::vector<db::ErasedCount>>(const db::Erasure&)>& erase) {
  if (absl::Status s = CheckCaller(rc, req.person_id()); !s.ok()) return s;
  if (!db::IsPseudonym(req.pseudonym())) {
    return InvalidArgumentWithViolations("bad erasure", {{"pseudonym", "erased-<16 lower-case hex digits>"}});
  }
  if (req.display_name().size() > 255) {
    return InvalidArgumentWithViolations("bad erasure", {{"display_name", "at most 255 bytes"}});
  }
  const db::Erasure erasure{req.person_id(), req.pseudonym(), req.display_name(), now};
  auto counts = erase(erasure);
  if (!counts.ok()) return counts.status();
  type::v1::ErasePersonResponse out;
  out.set_pseudonym(erasure.pseudonym);
  for (const db::ErasedCount& c : *counts) {
    auto* t = out.add_tables();
    t->set_table(service + "." + c.table);
    t->set_rows(c.rows);
  }
  return out;
}

bool WritePart(const std::string& path, absl::string_view data,
               grpc::ServerWriterInterface<type::v1::PersonDataPart>* writer) {
  size_t at = 0;
  do {
    type::v1::PersonDataPart part;
    part.set_path(path);
    const size_t n = std::min(kPartBytes, data.size() - at);
    part.set_data(std::string(data.substr(at, n)));
    if (!writer->Write(part)) return false;
    at += n;
  } while (at < data.size());
  return true;
}

bool WritePersonFiles(const std::vector<db::PersonFile>& files,
                      grpc::ServerWriterInterface<type::v1::PersonDataPart>* writer) {
  for (const db::PersonFile& f : files) {
    if (!WritePart(f.path, f.content, writer)) return false;
  }
  return true;
}

grpc::Status SendExport(const absl::StatusOr<std::vector<db::PersonFile>>& files,
                        grpc::ServerWriterInterface<type::v1::PersonDataPart>* writer) {
  if (!files.ok()) return ToGrpcStatus(files.status());
  if (!WritePersonFiles(*files, writer)) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  return grpc::Status::OK;
}

grpc::Status SendErased(absl::StatusOr<type::v1::ErasePersonResponse> erased, type::v1::ErasePersonResponse* resp) {
  if (!erased.ok()) return ToGrpcStatus(erased.status());
  *resp = *std::move(erased);
  return grpc::Status::OK;
}

}  // namespace perfflow
