#pragma once

// perfflow.gateway.v1.PersonDataService: data-subject rights across the
// services. Hosted in-process behind the same door as every service; it
// asks each backend for its part (their internal ExportPersonData /
// ErasePerson, as peer "gateway") and decides who may ask.

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/database.h"
#include "common/request_context.h"
#include "gateway/backends.h"
#include "perfflow/gateway/v1/gateway_service.grpc.pb.h"

namespace perfflow::gateway {

// Erasures begun and finished, in the gateway's database. While an erasure
// is unfinished its row keeps a hash of the person's id and their name, so
// that a retry finishes it with the same pseudonym; once finished only the
// pseudonym, who asked and when remain.
class ErasureLog {
 public:
  static absl::StatusOr<std::shared_ptr<ErasureLog>> Open(std::shared_ptr<db::Database> database);

  struct Pending {
    std::string pseudonym;
    std::string display_name;
  };
  // The unfinished erasure of `person`, if any.
  absl::StatusOr<std::optional<Pending>> Find(const std::string& tenant, const std::string& person);
  // Records a new erasure (unfinished).
  absl::Status Begin(const std::string& tenant, const std::string& person, const Pending& pending,
                     const std::string& requested_by, absl::Time at);
  absl::Status Finish(const std::string& tenant, const std::string& person, absl::Time at);

 private:
  explicit ErasureLog(std::shared_ptr<db::Database> database) : db_(std::move(database)) {}
  std::shared_ptr<db::Database> db_;
};

class PersonDataServiceImpl final : public v1::PersonDataService::Service {
 public:
  // `services`: the backends asked, by full service name, in erasure order
  // (the event service, which holds the directory, last).
  PersonDataServiceImpl(std::shared_ptr<Backends> backends, std::vector<std::string> services,
                        std::shared_ptr<ErasureLog> erasures, std::shared_ptr<const Clock> clock,
                        IdentityOptions identity)
      : backends_(std::move(backends)),
        services_(std::move(services)),
        erasures_(std::move(erasures)),
        clock_(std::move(clock)),
        identity_(identity) {}

  grpc::Status ExportPersonData(grpc::ServerContext* ctx, const type::v1::ExportPersonDataRequest* req,
                                grpc::ServerWriter<type::v1::FileChunk>* writer) override;
  grpc::Status ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                           type::v1::ErasePersonResponse* resp) override;

 private:
  std::unique_ptr<grpc::ClientContext> CallFor(const RequestContext& rc, const grpc::ServerContext& ctx) const;
  // The person's directory name; NotFound when the directory has no such person.
  absl::StatusOr<std::string> DisplayName(const RequestContext& rc, const grpc::ServerContext& ctx,
                                          const std::string& person) const;

  std::shared_ptr<Backends> backends_;
  std::vector<std::string> services_;
  std::shared_ptr<ErasureLog> erasures_;
  std::shared_ptr<const Clock> clock_;
  IdentityOptions identity_;
};

}  // namespace perfflow::gateway
