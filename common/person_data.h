#pragma once

// The services' side of data-subject rights: their internal
// ExportPersonData / ErasePerson, which only the gateway's
// PersonDataService calls (it decides who may ask and builds the archive).

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/db/person_rows.h"
#include "common/request_context.h"
#include "grpcpp/support/sync_stream.h"
#include "perfflow/type/v1/person_data.pb.h"

namespace perfflow {

// The peer name (x-perfflow-peer) of the gateway's own calls.
inline constexpr char kGatewayPeer[] = "gateway";

// A service's part of an export: PERMISSION_DENIED unless the gateway made
// the call, INVALID_ARGUMENT for a missing or malformed person id, else
// what `read` finds for the person.
absl::StatusOr<std::vector<db::PersonFile>> ExportPersonWith(
    const RequestContext& rc, const type::v1::ExportPersonDataRequest& req,
    const std::function<absl::StatusOr<std::vector<db::PersonFile>>(const std::string& person)>& read);

// A service's part of an erasure: the same checks, and the pseudonym must
// be erased-<16 hex>; `erase` does it (at `now`), the counts are reported
// as "<service>.<table>".
absl::StatusOr<type::v1::ErasePersonResponse> ErasePersonWith(
    const std::string& service, const RequestContext& rc, const type::v1::ErasePersonRequest& req, absl::Time now,
    const std::function<absl::StatusOr<std::vector<db::ErasedCount>>(const db::Erasure&)>& erase);

// Sends `data` as parts of `path` of at most 1 MiB each (one, empty, for an
// empty file). False once the caller went away.
bool WritePart(const std::string& path, absl::string_view data,
               grpc::ServerWriterInterface<type::v1::PersonDataPart>* writer);
bool WritePersonFiles(const std::vector<db::PersonFile>& files,
                      grpc::ServerWriterInterface<type::v1::PersonDataPart>* writer);

// The RPC side: the export streamed (CANCELLED when the caller went away),
// the erasure's reply; errors as gRPC statuses.
grpc::Status SendExport(const absl::StatusOr<std::vector<db::PersonFile>>& files,
                        grpc::ServerWriterInterface<type::v1::PersonDataPart>* writer);
grpc::Status SendErased(absl::StatusOr<type::v1::ErasePersonResponse> erased, type::v1::ErasePersonResponse* resp);

}  // namespace perfflow
