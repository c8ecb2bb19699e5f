#pragma once

// The calibration service's domain: sessions, briefs built by streaming the
// event service's flow facts (never its tables) with KPI observations, the
// viewer rules, outcomes, and business insight. Thread-safe.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/flow/event_client.h"
#include "common/person_data.h"
#include "common/request_context.h"
#include "services/calibration/brief.h"
#include "services/calibration/calibration_store.h"

namespace perfflow::calibration {

class CalibrationCore {
 public:
  CalibrationCore(std::shared_ptr<CalibrationStore> store, std::shared_ptr<event::EventClient> events,
                  std::shared_ptr<const Clock> clock, BriefOptions defaults = {});

  absl::StatusOr<v1::Session> CreateSession(const RequestContext& rc, const v1::CreateSessionRequest& req);
  absl::StatusOr<v1::Session> GetSession(const RequestContext& rc, const std::string& name);
  absl::StatusOr<v1::ListSessionsResponse> ListSessions(const RequestContext& rc, const v1::ListSessionsRequest& req);

  absl::StatusOr<v1::Brief> GenerateBrief(const RequestContext& rc, const v1::GenerateBriefRequest& req);
  // Filtered to what the caller may see: HR and the facilitator everyone, a
  // manager their direct reports.
  absl::StatusOr<v1::Brief> GetBrief(const RequestContext& rc, const v1::GetBriefRequest& req);
  absl::StatusOr<v1::RenderBriefResponse> RenderBrief(const RequestContext& rc, const v1::RenderBriefRequest& req);
  absl::StatusOr<v1::Outcome> RecordOutcome(const RequestContext& rc, const v1::RecordOutcomeRequest& req);
  absl::StatusOr<v1::ListOutcomesResponse> ListOutcomes(const RequestContext& rc, const v1::ListOutcomesRequest& req);
  // HR and admins: the tenant's calibration log, checked end to end.
  absl::StatusOr<v1::VerifyCalibrationLogResponse> VerifyCalibrationLog(const RequestContext& rc,
                                                                        const v1::VerifyCalibrationLogRequest& req);

  absl::StatusOr<v1::Heatmap> GetHeatmap(const RequestContext& rc, const v1::GetHeatmapRequest& req);
  absl::StatusOr<v1::GetInsightsResponse> GetInsights(const RequestContext& rc, const v1::GetInsightsRequest& req);
  absl::StatusOr<v1::FlowBrief> GetFlowBrief(const RequestContext& rc, const v1::GetFlowBriefRequest& req);
  absl::StatusOr<v1::RecordKpiObservationsResponse> RecordKpiObservations(const RequestContext& rc,
                                                                          const v1::RecordKpiObservationsRequest& req);
  absl::StatusOr<v1::GoalStatus> GetGoalStatus(const RequestContext& rc, const v1::GetGoalStatusRequest& req);

  // Generates the scheduled brief of every session due within 24 hours that
  // has none (once per session, whichever replica gets there first);
  // returns how many this call wrote. Hands due change notices over first.
  absl::StatusOr<int> RunScheduler();
  // Hands due change notices (of `tenant`, or of all when empty) to the event
  // service, idempotently; returns how many.
  int DeliverNotices(const std::string& tenant = "");

  const Clock& clock() const { return *clock_; }

  // Data-subject rights: this service's part, for the gateway only.
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const RequestContext& rc,
                                                           const type::v1::ExportPersonDataRequest& req);
  absl::StatusOr<type::v1::ErasePersonResponse> ErasePerson(const RequestContext& rc,
                                                            const type::v1::ErasePersonRequest& req);

 private:
  absl::StatusOr<std::vector<ev1::Employee>> ResolveCohort(const RequestContext& rc, const v1::Cohort& cohort);
  absl::StatusOr<std::optional<v1::Brief>> Generate(const RequestContext& rc, const std::string& session_id,
                                                    BriefOptions options, bool scheduled);
  absl::StatusOr<std::pair<absl::Time, absl::Time>> PeriodOf(const v1::Period& period);

  std::shared_ptr<CalibrationStore> store_;
  std::shared_ptr<event::EventClient> events_;
  std::shared_ptr<const Clock> clock_;
  BriefOptions defaults_;
};

}  // namespace perfflow::calibration
