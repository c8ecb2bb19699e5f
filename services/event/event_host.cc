#include "services/event/event_host.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "services/event/catalogue_loader.h"
#include "services/event/delivery/deadline_worker.h"
#include "services/event/delivery/sql_delivery_store.h"
#include "services/event/demo_seed.h"
#include "services/event/event_service.h"
#include "services/event/sql_event_store.h"

namespace perfflow::event {
namespace {

// The relay's routing: the configuration file, or the log channel alone.
absl::StatusOr<NotifyRouting> LoadRouting(const std::string& path) {
  if (path.empty()) return LogOnlyRouting();
  auto text = ReadTextFile(path);
  if (!text.ok()) return absl::NotFoundError("--notify_config: " + std::string(text.status().message()));
  auto routing = LoadNotifyConfig(*text, CurlSender(), [](const char* name) { return std::getenv(name); });
  if (!routing.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --notify_config ", path, ": ", routing.status().message()));
  }
  return routing;
}

void Report(const char* what, const absl::Status& s) {
  if (!s.ok()) LogWarn(what, {{"error", std::string(s.message())}});
}

class EventHost : public ServiceHost {
 public:
  EventHost(EventHostOptions o, std::shared_ptr<db::Database> database, std::shared_ptr<EventStore> store,
            std::unique_ptr<EventMetrics> metrics, std::shared_ptr<EventCore> core,
            std::unique_ptr<DeliveryMetrics> delivery_metrics, NotifyRouting routing, ActionLinkOptions links)
      : o_(std::move(o)),
        database_(std::move(database)),
        store_(std::move(store)),
        metrics_(std::move(metrics)),
        core_(std::move(core)),
        service_(core_, IdentityOptions{o_.dev_mode}),
        delivery_metrics_(std::move(delivery_metrics)),
        routing_(std::move(routing)),
        links_(std::move(links)) {}

  std::vector<Registered> Services() override { return {{&service_, "perfflow.event.v1.EventService"}}; }
  absl::Status Ready() override { return database_->Ping(); }

  void Start() override {
    if (!o_.catalogue_tenants.empty()) {
      auto loader = std::make_shared<CatalogueLoader>(core_, o_.catalogue_dir,
                                                      absl::StrSplit(o_.catalogue_tenants, ',', absl::SkipEmpty()));
      tasks_.push_back(std::make_unique<PeriodicTask>(
          RealClock(), absl::Seconds(std::max(1, o_.catalogue_poll_seconds)), [loader] { (void)loader->Poll(); }));
    }
    // Background work, judged by the database clock.
    if (o_.workers) {
      auto deliveries = std::make_shared<SqlDeliveryStore>(database_);
      const auto db_time = DatabaseTime(deliveries);
      const auto events = EventSourceOf(core_, store_);
      WorkerOptions wo;
      wo.owner = o_.worker_id.empty() ? DefaultOwner() : o_.worker_id;
      wo.batch = std::max(1, o_.timer_batch);
      wo.lease = absl::Seconds(std::max(1, o_.timer_lease_seconds));
      wo.fault_delay_before_fire = absl::Milliseconds(std::max(0, o_.fault_delay_before_fire_ms));
      wo.duty_percent = std::clamp(o_.background_duty_percent, 1, 100);
      // At most what one run of the timer worker fires; past that, warnings
      // are written for every replica's relay to claim.
      wo.hand_off = std::make_shared<HandOff>(RealClock(), wo.lease / 2, wo.max_batches * wo.batch);
      auto timers = std::make_shared<TimerWorker>(deliveries, db_time, wo, delivery_metrics_.get());
      auto digests = std::make_shared<DigestScheduler>(events, deliveries, db_time, delivery_metrics_.get());
      relay_ = std::make_shared<OutboxRelay>(deliveries, events, std::move(routing_), db_time,
                                             RelayOptions{wo, 0, links_}, delivery_metrics_.get());
      auto relay = relay_;
      tasks_.push_back(
          std::make_unique<PeriodicTask>(RealClock(), absl::Milliseconds(std::max(10, o_.timer_poll_ms)),
                                         [timers] { Report("timer worker run failed", timers->RunOnce().status()); }));
      tasks_.push_back(
          std::make_unique<PeriodicTask>(RealClock(), absl::Milliseconds(std::max(10, o_.relay_poll_ms)),
                                         [relay] { Report("outbox relay run failed", relay->RunOnce().status()); }));
      tasks_.push_back(
          std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(std::max(1, o_.digest_poll_seconds)),
                                         [digests] { Report("digest run failed", digests->RunOnce().status()); }));
      auto retention = std::make_shared<NotificationRetention>(events, deliveries, db_time);
      tasks_.push_back(std::make_unique<PeriodicTask>(
          RealClock(), absl::Seconds(std::max(1, o_.retention_interval_seconds)),
          [retention] { Report("notification retention run failed", retention->RunOnce().status()); }));
    }
    tasks_.push_back(
        std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(std::max(1, o_.metrics_refresh_seconds)), [this] {
          absl::Status s = core_->RefreshGauges(absl::Hours(24 * o_.health_window_days));
          if (s.ok() && relay_) s = relay_->RefreshGauges();
          Report("flow gauges not refreshed", s);
        }));
  }

  void Stop() override {
    for (auto& t : tasks_) t->Stop();
  }

 private:
  EventHostOptions o_;
  std::shared_ptr<db::Database> database_;
  std::shared_ptr<EventStore> store_;
  std::unique_ptr<EventMetrics> metrics_;
  std::shared_ptr<EventCore> core_;
  EventServiceImpl service_;
  std::unique_ptr<DeliveryMetrics> delivery_metrics_;
  NotifyRouting routing_;
  ActionLinkOptions links_;
  std::shared_ptr<OutboxRelay> relay_;
  std::vector<std::unique_ptr<PeriodicTask>> tasks_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeEventHost(const EventHostOptions& o, prometheus::Registry& registry) {
  if (o.ingest_transactions < 0 || o.ingest_transactions > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --ingest_transactions ", o.ingest_transactions, ": must be 0 (off) to 64"));
  }
  if (o.health_scan_threads < 1 || o.health_scan_threads > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --health_scan_threads ", o.health_scan_threads, ": must be 1 to 8"));
  }
  auto database = OpenServiceDatabase(o.db);
  if (!database.ok()) return database.status();
  auto opened = SqlEventStore::Open(*database);
  if (!opened.ok()) return opened.status();
  if ((*database)->dialect() == db::Dialect::kMysql) (*opened)->set_health_scan_threads(o.health_scan_threads);
  std::shared_ptr<EventStore> store = *std::move(opened);
  auto clock = RealClock();
  if (o.demo) {
    if (absl::Status s = SeedDemoTenant(store, kDemoTenant, o.catalogue_dir, clock->Now(), o.demo_events); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("cannot seed the demo tenant: ", s.message()));
    }
  }
  auto routing = LoadRouting(o.workers ? o.notify_config : "");
  if (!routing.ok()) return routing.status();
  ActionLinkOptions links;
  links.base_url = o.action_base_url;
  links.ttl = absl::Hours(std::max(1, o.action_link_hours));
  auto keys = ActionLinkKeys::FromEnvironment();
  if (!keys.ok()) return keys.status();
  links.keys = *std::move(keys);
  if (!links.base_url.empty() && !links.keys) {
    return absl::FailedPreconditionError(
        absl::StrCat("--action_base_url needs signing keys in ", kActionLinkKeysEnv, " (openssl rand -hex 32)"));
  }
  auto metrics = std::make_unique<EventMetrics>(registry);
  auto core = std::make_shared<EventCore>(store, clock, metrics.get(), o.ingest_transactions);
  std::unique_ptr<DeliveryMetrics> delivery_metrics;
  if (o.workers) delivery_metrics = std::make_unique<DeliveryMetrics>(registry);
  return std::unique_ptr<ServiceHost>(new EventHost(o, *std::move(database), store, std::move(metrics), core,
                                                    std::move(delivery_metrics), *std::move(routing),
                                                    std::move(links)));
}

}  // namespace perfflow::event
