#include "services/calibration/calibration_host.h"

#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "services/calibration/calibration_service.h"
#include "services/calibration/sql_calibration_store.h"

namespace perfflow::calibration {
namespace {

class CalibrationHost : public ServiceHost {
 public:
  CalibrationHost(CalibrationHostOptions o, std::shared_ptr<db::Database> database,
                  std::shared_ptr<CalibrationCore> core)
      : o_(std::move(o)),
        database_(std::move(database)),
        core_(std::move(core)),
        service_(core_, IdentityOptions{o_.dev_mode}) {}

  std::vector<Registered> Services() override { return {{&service_, "perfflow.calibration.v1.CalibrationService"}}; }
  absl::Status Ready() override { return database_->Ping(); }
  // The brief scheduler: sessions due within 24 h get their brief.
  void Start() override {
    scheduler_ =
        std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(std::max(1, o_.scheduler_poll_seconds)), [this] {
          auto written = core_->RunScheduler();
          if (!written.ok())
            LogWarn("brief scheduler run failed", {{"error", std::string(written.status().message())}});
        });
  }
  void Stop() override {
    if (scheduler_) scheduler_->Stop();
  }

 private:
  CalibrationHostOptions o_;
  std::shared_ptr<db::Database> database_;
  std::shared_ptr<CalibrationCore> core_;
  CalibrationServiceImpl service_;
  std::unique_ptr<PeriodicTask> scheduler_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeCalibrationHost(const CalibrationHostOptions& o,
                                                                 prometheus::Registry&) {
  auto database = OpenServiceDatabase(o.db);
  if (!database.ok()) return database.status();
  auto store = SqlCalibrationStore::Open(*database);
  if (!store.ok()) return store.status();
  auto core = std::make_shared<CalibrationCore>(
      *std::move(store), event::NewGrpcEventClient(o.event_addr, absl::Seconds(o.call_timeout_seconds), "calibration"),
      RealClock());
  return std::unique_ptr<ServiceHost>(new CalibrationHost(o, *std::move(database), core));
}

}  // namespace perfflow::calibration
