#include "gateway/cli/commands.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "common/yaml_proto.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/type/v1/person_data.pb.h"
#include "services/event/catalogue_loader.h"
#include "common/flow/event_client.h"
#include "common/flow/registry.h"

namespace perfflow::cli {
namespace {

namespace ev1 = perfflow::event::v1;
namespace cv1 = perfflow::calibration::v1;
namespace pb = google::protobuf;

constexpr char kEvent[] = "/perfflow.event.v1.EventService/";
constexpr char kCalibration[] = "/perfflow.calibration.v1.CalibrationService/";
constexpr char kPersonData[] = "/perfflow.gateway.v1.PersonDataService/";

std::string Time(const pb::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M", FromTimestamp(ts), absl::UTCTimeZone());
}

std::string EnumName(const pb::EnumDescriptor* type, int value, absl::string_view prefix) {
  const pb::EnumValueDescriptor* v = type->FindValueByNumber(value);
  if (v == nullptr) return std::to_string(value);
  std::string name = v->name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

// Top-level fields that differ between two messages.
class FieldCollector : public pb::util::MessageDifferencer::Reporter {
 public:
  void ReportAdded(const pb::Message&, const pb::Message&,
                   const std::vector<pb::util::MessageDifferencer::SpecificField>& path) override {
    Add(path);
  }
  void ReportDeleted(const pb::Message&, const pb::Message&,
                     const std::vector<pb::util::MessageDifferencer::SpecificField>& path) override {
    Add(path);
  }
  void ReportModified(const pb::Message&, const pb::Message&,
                      const std::vector<pb::util::MessageDifferencer::SpecificField>& path) override {
    Add(path);
  }
  std::set<std::string> fields;

 private:
  void Add(const std::vector<pb::util::MessageDifferencer::SpecificField>& path) {
    if (!path.empty() && path[0].field != nullptr) fields.insert(path[0].field->name());
  }
};

// One line per item of `incoming`: added, changed (with the fields) or unchanged.
template <typename Item>
void DiffItems(const std::string& kind, const pb::RepeatedPtrField<Item>& current,
               const pb::RepeatedPtrField<Item>& incoming, std::vector<std::vector<std::string>>* rows, int* changes) {
  std::map<std::string, const Item*> by_key;
  for (const Item& item : current) by_key[item.key()] = &item;
  for (const Item& item : incoming) {
    auto it = by_key.find(item.key());
    if (it == by_key.end()) {
      rows->push_back({kind, item.key(), "added", ""});
      ++*changes;
      continue;
    }
    FieldCollector collector;
    pb::util::MessageDifferencer differ;
    differ.ReportDifferencesTo(&collector);
    if (differ.Compare(*it->second, item)) {
      rows->push_back({kind, item.key(), "unchanged", ""});
    } else {
      rows->push_back({kind, item.key(), "changed", absl::StrJoin(collector.fields, ", ")});
      ++*changes;
    }
  }
}

// Managers before their reports (within the file), so batches never name a
// manager that a later batch brings; rows in a cycle keep their place at the end.
std::vector<size_t> ManagersFirst(const std::vector<ev1::Employee>& employees) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < employees.size(); ++i) index.emplace(employees[i].id(), i);
  std::vector<size_t> order;
  std::vector<int> state(employees.size(), 0);  // 0 new, 1 visiting, 2 placed
  std::function<void(size_t)> place = [&](size_t i) {
    if (state[i] != 0) return;
    state[i] = 1;
    auto m = index.find(employees[i].manager_id());
    if (m != index.end() && m->second != i) place(m->second);
    state[i] = 2;
    order.push_back(i);
  };
  for (size_t i = 0; i < employees.size(); ++i) place(i);
  return order;
}

void Progress(size_t done, size_t total) {
  if (!isatty(STDERR_FILENO) || total == 0) return;
  const int width = 30;
  int filled = static_cast<int>(width * done / total);
  std::cerr << "\rimporting [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/"
            << total << std::flush;
  if (done == total) std::cerr << "\n";
}

pb::Value AttributeValue(const std::string& text) {
  pb::Value v;
  double number;
  if (text == "true" || text == "false") {
    v.set_bool_value(text == "true");
  } else if (absl::SimpleAtod(text, &number)) {
    v.set_number_value(number);
  } else {
    v.set_string_value(text);
  }
  return v;
}

void PrintFigures(const std::string& title, const std::string& key_name,
                  const pb::RepeatedPtrField<ev1::HealthFigure>& figures) {
  if (figures.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : figures) {
    rows.push_back({f.key(), std::to_string(f.within_sla()), std::to_string(f.outside_sla()),
                    std::to_string(f.pending()), f.decided() ? absl::StrFormat("%.1f%%", f.ratio() * 100) : "-"});
  }
  std::cout << "\n" << title << "\n";
  PrintTable(std::cout, {key_name, "within 48 h", "outside", "pending", "flow health"}, rows);
}

}  // namespace

absl::StatusOr<std::vector<CsvRecord>> ParseCsv(const std::string& text) {
  std::vector<CsvRecord> records;
  CsvRecord record{1, {}};
  std::string field;
  bool quoted = false, at_field_start = true;
  int line = 1;
  auto end_record = [&] {
    record.fields.push_back(field);
    field.clear();
    const bool blank = record.fields.size() == 1 && record.fields[0].empty();
    if (!blank) records.push_back(record);
    record = CsvRecord{line, {}};
    at_field_start = true;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '"' && at_field_start) {
      quoted = true;
      at_field_start = false;
    } else if (c == ',') {
      record.fields.push_back(field);
      field.clear();
      at_field_start = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_record();
    } else {
      field.push_back(c);
      at_field_start = false;
    }
  }
  if (quoted) return absl::InvalidArgumentError(absl::StrCat("line ", record.line, ": unterminated quoted field"));
  if (!field.empty() || !record.fields.empty()) end_record();
  return records;
}

int Apply(Client& client, const std::vector<std::string>& paths, const CommandFlags& flags) {
  ev1::ApplyEventTypesRequest req;
  for (const std::string& path : paths) {
    if (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml")) {
      auto content = ReadTextFile(path);
      if (!content.ok()) {
        std::cerr << "error: " << content.status().message() << "\n";
        return kUsage;
      }
      auto* f = req.add_files();
      f->set_name(path);
      f->set_content(*std::move(content));
      continue;
    }
    auto files = event::ReadCatalogue(path);
    if (!files.ok()) {
      std::cerr << "error: " << files.status().message() << "\n";
      return kUsage;
    }
    for (auto& f : *files) *req.add_files() = f;
  }
  if (req.files().empty()) {
    std::cerr << "error: apply needs YAML files or directories\n";
    return kUsage;
  }
  // The service validates (precise errors with file, document and field).
  req.set_validate_only(true);
  ev1::ApplyEventTypesResponse checked;
  if (grpc::Status s = client.Call(absl::StrCat(kEvent, "ApplyEventTypes"), req, &checked); !s.ok()) {
    return ReportError(s);
  }
  ev1::GetRegistryResponse current;
  if (grpc::Status s = client.Call(absl::StrCat(kEvent, "GetRegistry"), ev1::GetRegistryRequest(), &current);
      !s.ok() && s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {  // none applied yet
    return ReportError(s);
  }
  auto incoming = event::ParseRegistryFiles({req.files().begin(), req.files().end()});
  if (!incoming.ok()) {
    std::cerr << "error: " << incoming.status().message() << "\n";
    return kUsage;
  }
  std::vector<std::vector<std::string>> rows;
  int changes = 0;
  DiffItems("event type", current.registry().event_types(), incoming->event_types(), &rows, &changes);
  DiffItems("library", current.registry().libraries(), incoming->libraries(), &rows, &changes);
  DiffItems("goal", current.registry().goals(), incoming->goals(), &rows, &changes);

  int64_t version = current.registry().version();
  const bool apply = changes > 0 && !flags.dry_run;
  if (apply) {
    req.set_validate_only(false);
    ev1::ApplyEventTypesResponse applied;
    if (grpc::Status s = client.Call(absl::StrCat(kEvent, "ApplyEventTypes"), req, &applied); !s.ok()) {
      return ReportError(s);
    }
    version = applied.version();
  }
  if (client.options().json()) {
    std::cout << "{\"changes\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      std::cout << (i ? "," : "")
                << absl::StrFormat(R"({"kind":"%s","key":"%s","change":"%s","fields":"%s"})", rows[i][0], rows[i][1],
                                   rows[i][2], rows[i][3]);
    }
    std::cout << "],\"applied\":" << (apply ? "true" : "false") << ",\"version\":" << version << "}\n";
    return kOk;
  }
  PrintTable(std::cout, {"kind", "key", "change", "fields"}, rows);
  if (flags.dry_run) {
    std::cout << "\n"
              << changes << " change(s); --dry_run: nothing applied (registry stays at version " << version << ")\n";
  } else if (changes == 0) {
    std::cout << "\nnothing changes; registry stays at version " << version << "\n";
  } else {
    std::cout << "\n" << changes << " change(s) applied: registry version " << version << "\n";
  }
  return kOk;
}

// A CSV file with a header row: its columns by (trimmed) name and the rows
// as wide as the header (the others go to `rejected` with the reason).
// nullopt, after saying why on stderr, when the file is unusable or the
// header lacks a `required` column.
struct CsvTable {
  std::map<std::string, size_t> columns;
  std::vector<CsvRecord> rows;
};

std::optional<CsvTable> ReadCsvTable(const std::string& text, const std::string& path,
                                     std::initializer_list<const char*> required,
                                     std::vector<std::pair<int, std::string>>* rejected) {
  auto records = ParseCsv(text);
  if (!records.ok() || records->empty()) {
    std::cerr << "error: " << path << ": "
              << (records.ok() ? absl::StrCat("empty (expected a header: ", absl::StrJoin(required, ","), ",...)")
                               : std::string(records.status().message()))
              << "\n";
    return std::nullopt;
  }
  CsvTable table;
  const std::vector<std::string>& header = records->front().fields;
  for (size_t i = 0; i < header.size(); ++i) table.columns[std::string(absl::StripAsciiWhitespace(header[i]))] = i;
  for (const char* column : required) {
    if (!table.columns.count(column)) {
      std::cerr << "error: " << path << ": the header lacks the column '" << column << "'\n";
      return std::nullopt;
    }
  }
  for (size_t r = 1; r < records->size(); ++r) {
    CsvRecord& rec = (*records)[r];
    if (rec.fields.size() != header.size()) {
      rejected->push_back({rec.line, absl::StrCat(rec.fields.size(), " fields, the header has ", header.size())});
    } else {
      table.rows.push_back(std::move(rec));
    }
  }
  return table;
}

// The end of an import: what went in and every rejected line with its reason
// (a table or JSON); kPartial when any row was rejected.
int ReportImport(Client& client, size_t imported, const char* noun, const std::string& note,
                 std::vector<std::pair<int, std::string>> rejected) {
  std::sort(rejected.begin(), rejected.end());
  if (client.options().json()) {
    std::cout << "{\"imported\":" << imported << ",\"rejected\":[";
    for (size_t i = 0; i < rejected.size(); ++i) {
      pb::Value reason;
      reason.set_string_value(rejected[i].second);
      std::cout << (i ? "," : "") << "{\"line\":" << rejected[i].first << ",\"reason\":" << ToJson(reason, false)
                << "}";
    }
    std::cout << "]}\n";
  } else {
    std::cout << "imported " << imported << " " << noun << note;
    if (rejected.empty()) {
      std::cout << "\n";
    } else {
      std::cout << "; rejected " << rejected.size() << " row(s):\n";
      for (const auto& [line, reason] : rejected) std::cout << "  line " << line << ": " << reason << "\n";
    }
  }
  return rejected.empty() ? kOk : kPartial;
}

int ImportEmployees(Client& client, const std::string& csv_path, const CommandFlags& flags) {
  auto text = ReadTextFile(csv_path);
  if (!text.ok()) {
    std::cerr << "error: " << text.status().message() << "\n";
    return kUsage;
  }
  std::vector<std::pair<int, std::string>> rejected;  // (line, reason)
  auto table = ReadCsvTable(*text, csv_path, {"id", "display_name", "department_id"}, &rejected);
  if (!table) return kUsage;
  const std::map<std::string, size_t>& col = table->columns;
  std::vector<ev1::Employee> employees;
  std::vector<int> lines;
  for (const CsvRecord& rec : table->rows) {
    ev1::Employee e;
    auto get = [&](const char* name) { return col.count(name) ? rec.fields[col.at(name)] : std::string(); };
    e.set_id(get("id"));
    e.set_display_name(get("display_name"));
    e.set_department_id(get("department_id"));
    e.set_manager_id(get("manager_id"));
    e.set_grade(get("grade"));
    e.set_role(get("role"));
    for (const auto& [name, index] : col) {
      if (absl::StartsWith(name, "contact:") && !rec.fields[index].empty()) {
        (*e.mutable_contacts())[name.substr(8)] = rec.fields[index];
      }
    }
    employees.push_back(std::move(e));
    lines.push_back(rec.line);
  }

  // Batches in managers-first order; a batch the service refuses loses the
  // rows its field violations name and is sent again without them.
  std::vector<size_t> order = ManagersFirst(employees);
  const size_t batch = static_cast<size_t>(std::max(1, flags.batch));
  size_t imported = 0, done = 0;
  for (size_t start = 0; start < order.size(); start += batch) {
    std::vector<size_t> pending(order.begin() + start, order.begin() + std::min(order.size(), start + batch));
    while (!pending.empty()) {
      ev1::UpsertDirectoryRequest req;
      for (size_t i : pending) *req.add_employees() = employees[i];
      ev1::UpsertDirectoryResponse resp;
      grpc::Status s = client.Call(absl::StrCat(kEvent, "UpsertDirectory"), req, &resp);
      if (s.ok()) {
        imported += pending.size();
        break;
      }
      std::map<size_t, std::string> bad;  // position in pending -> reason
      if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        for (const FieldViolation& v : FieldViolationsOf(FromGrpcStatus(s))) {
          size_t pos;
          std::vector<std::string> parts = absl::StrSplit(v.field, absl::ByAnyChar("[]"));
          if (parts.size() >= 3 && parts[0] == "employees" && absl::SimpleAtoi(parts[1], &pos) &&
              pos < pending.size()) {
            std::string& reason = bad[pos];
            absl::StrAppend(&reason, reason.empty() ? "" : "; ", absl::StripPrefix(parts[2], "."), ": ", v.description);
          }
        }
      }
      if (bad.empty()) {
        if (s.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
          Progress(done, order.size());
          return ReportError(s);
        }
        for (size_t i : pending) rejected.push_back({lines[i], s.error_message()});
        break;
      }
      std::vector<size_t> kept;
      for (size_t p = 0; p < pending.size(); ++p) {
        if (bad.count(p)) {
          rejected.push_back({lines[pending[p]], bad[p]});
        } else {
          kept.push_back(pending[p]);
        }
      }
      pending = std::move(kept);
    }
    done = std::min(order.size(), start + batch);
    Progress(done, order.size());
  }
  return ReportImport(client, imported, "employee(s)", "", std::move(rejected));
}

int Ingest(Client& client, const std::vector<std::string>& args, const CommandFlags& flags) {
  if (args.size() < 2) {
    std::cerr << "usage: perfflowctl [--source S] [--external_id X] ingest <event_type> <subject> [key=value...]\n";
    return kUsage;
  }
  ev1::IngestEventRequest req;
  req.set_event_type(args[0]);
  req.set_subject_id(args[1]);
  req.set_external_id(flags.external_id.empty() ? "cli-" + RandomId() : flags.external_id);
  for (size_t i = 2; i < args.size(); ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(args[i], absl::MaxSplits('=', 1));
    if (kv.first.empty() || args[i].find('=') == std::string::npos) {
      std::cerr << "error: attribute '" << args[i] << "' is not key=value\n";
      return kUsage;
    }
    (*req.mutable_attributes()->mutable_fields())[kv.first] = AttributeValue(kv.second);
  }
  // The event type names its source system unless --source says otherwise.
  req.set_source(flags.source);
  if (flags.source == "cli") {
    ev1::GetRegistryResponse registry;
    if (grpc::Status s = client.Call(absl::StrCat(kEvent, "GetRegistry"), ev1::GetRegistryRequest(), &registry);
        !s.ok()) {
      return ReportError(s);
    }
    for (const auto& t : registry.registry().event_types()) {
      if (t.key() == req.event_type()) req.set_source(t.source());
    }
  }
  ev1::IngestEventResponse resp;
  if (grpc::Status s = client.Call(absl::StrCat(kEvent, "IngestEvent"), req, &resp); !s.ok()) return ReportError(s);
  if (client.options().json()) {
    std::cout << ToJson(resp, false) << "\n";
    return kOk;
  }
  std::cout << (resp.duplicate() ? "duplicate of " : "ingested ") << resp.event().name() << " ("
            << resp.event().event_type() << ", external id " << resp.event().external_id() << ")\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : resp.event().tasks()) {
    rows.push_back(
        {EnumName(type::v1::TaskKind_descriptor(), t.kind(), "TASK_KIND_"), t.assignee_id(), Time(t.due_at())});
  }
  PrintTable(std::cout, {"task", "assignee", "due (UTC)"}, rows);
  return kOk;
}

int Tasks(Client& client, const std::vector<std::string>& args) {
  ev1::ListTasksRequest req;
  req.set_assignee_id(!args.empty() ? args[0] : client.options().principal);
  if (req.assignee_id().empty()) {
    std::cerr << "usage: perfflowctl [--principal ME] tasks [assignee]\n";
    return kUsage;
  }
  req.set_page_size(500);
  ev1::ListTasksResponse resp;
  if (grpc::Status s = client.Call(absl::StrCat(kEvent, "ListTasks"), req, &resp); !s.ok()) return ReportError(s);
  if (client.options().json()) {
    std::cout << ToJson(resp, false) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : resp.tasks()) {
    rows.push_back({Time(t.due_at()), t.overdue() ? "OVERDUE" : "",
                    EnumName(type::v1::TaskKind_descriptor(), t.kind(), "TASK_KIND_"),
                    EnumName(type::v1::TaskState_descriptor(), t.state(), "TASK_STATE_"), t.event_type(), t.event(),
                    absl::StrJoin(t.goals(), ",")});
  }
  PrintTable(std::cout, {"due (UTC)", "", "task", "state", "event type", "event", "goals"}, rows);
  std::cout << resp.tasks_size() << " task(s) for " << req.assignee_id() << "\n";
  return kOk;
}

int Health(Client& client, const std::vector<std::string>& args) {
  ev1::GetFlowHealthRequest req;
  const std::string period = args.empty() ? "week" : args[0];
  if (period == "day") {
    req.set_period(ev1::PERIOD_DAY);
  } else if (period == "week") {
    req.set_period(ev1::PERIOD_WEEK);
  } else if (period == "month") {
    req.set_period(ev1::PERIOD_MONTH);
  } else {
    std::cerr << "usage: perfflowctl health [day|week|month]\n";
    return kUsage;
  }
  ev1::GetFlowHealthResponse resp;
  if (grpc::Status s = client.Call(absl::StrCat(kEvent, "GetFlowHealth"), req, &resp); !s.ok()) return ReportError(s);
  if (client.options().json()) {
    std::cout << ToJson(resp, false) << "\n";
    return kOk;
  }
  const auto& all = resp.overall();
  std::cout << "flow health " << (all.decided() ? absl::StrFormat("%.1f%%", all.ratio() * 100) : "-") << ": "
            << all.within_sla() << " within 48 h, " << all.outside_sla() << " outside, " << all.pending()
            << " pending (chains of the last 30 days)\n";
  PrintFigures("by department", "department", resp.by_department());
  PrintFigures("by event type", "event type", resp.by_event_type());
  PrintFigures("by " + period, "period", resp.by_period());
  return kOk;
}

int Heatmap(Client& client) {
  cv1::Heatmap resp;
  if (grpc::Status s = client.Call(absl::StrCat(kCalibration, "GetHeatmap"), cv1::GetHeatmapRequest(), &resp);
      !s.ok()) {
    return ReportError(s);
  }
  if (client.options().json()) {
    std::cout << ToJson(resp, false) << "\n";
    return kOk;
  }
  // One row per department, one column per event type: median hours to the
  // owner's action / to the manager's feedback, with the chain count.
  std::map<std::pair<std::string, std::string>, const cv1::HeatmapCell*> cells;
  for (const auto& c : resp.cells()) cells[{c.department_id(), c.event_type()}] = &c;
  std::vector<std::string> header = {"department"};
  for (const auto& t : resp.event_types()) header.push_back(t);
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : resp.departments()) {
    std::vector<std::string> row = {d};
    for (const auto& t : resp.event_types()) {
      auto it = cells.find({d, t});
      row.push_back(it == cells.end() ? ""
                                      : absl::StrFormat("%.0f/%.0f h (%d)", it->second->median_owner_hours(),
                                                        it->second->median_feedback_hours(), it->second->chains()));
    }
    rows.push_back(std::move(row));
  }
  PrintTable(std::cout, header, rows);
  std::cout << "cells: median hours to the owner's action / to the manager's feedback (chains)\n";
  return kOk;
}

int Brief(Client& client, const std::vector<std::string>& args, const CommandFlags& flags) {
  if (args.empty()) {
    std::cerr << "usage: perfflowctl [--open] brief <session> [out.html]\n";
    return kUsage;
  }
  const std::string session = absl::StartsWith(args[0], "sessions/") ? args[0] : "sessions/" + args[0];
  cv1::GenerateBriefRequest gen;
  gen.set_session(session);
  cv1::Brief brief;
  if (grpc::Status s = client.Call(absl::StrCat(kCalibration, "GenerateBrief"), gen, &brief); !s.ok()) {
    return ReportError(s);
  }
  cv1::RenderBriefRequest render;
  render.set_session(session);
  render.set_version(brief.version());
  render.set_format(cv1::RENDER_FORMAT_HTML);
  cv1::RenderBriefResponse page;
  if (grpc::Status s = client.Call(absl::StrCat(kCalibration, "RenderBrief"), render, &page); !s.ok()) {
    return ReportError(s);
  }
  const std::string out =
      args.size() > 1 ? args[1] : absl::StrCat(session.substr(9), "-brief-v", brief.version(), ".html");
  std::ofstream file(out);
  file << page.content();
  if (!file) {
    std::cerr << "error: cannot write " << out << "\n";
    return kUsage;
  }
  if (client.options().json()) {
    std::cout << absl::StrFormat(R"({"brief":"%s","version":%d,"people":%d,"file":"%s"})", brief.name(),
                                 brief.version(), brief.people_size(), out)
              << "\n";
  } else {
    std::cout << "brief " << brief.name() << " (" << brief.people_size() << " people) written to " << out << "\n";
  }
  if (flags.open) {
    const std::string command = "xdg-open '" + out + "' >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) std::cerr << "could not open it (no xdg-open); the file is " << out << "\n";
  }
  return kOk;
}

int ExportPerson(Client& client, const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) {
    std::cerr << "usage: perfflowctl export-person <person_id> [out.zip]\n";
    return kUsage;
  }
  type::v1::ExportPersonDataRequest req;
  req.set_person_id(args[0]);
  std::string out_path = args.size() == 2 ? args[1] : "";
  std::ofstream out;
  int64_t bytes = 0;
  bool failed_to_write = false;
  grpc::Status s = client.Stream(absl::StrCat(kPersonData, "ExportPersonData"), req, type::v1::FileChunk::descriptor(),
                                 [&](const google::protobuf::Message& m) {
                                   const auto& chunk = static_cast<const type::v1::FileChunk&>(m);
                                   if (!out.is_open() && !failed_to_write) {
                                     if (out_path.empty()) out_path = chunk.file_name();
                                     out.open(out_path, std::ios::binary | std::ios::trunc);
                                     failed_to_write = !out;
                                   }
                                   if (failed_to_write) return;
                                   out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
                                   bytes += static_cast<int64_t>(chunk.data().size());
                                 });
  if (!s.ok()) {
    if (out.is_open()) {
      out.close();
      std::remove(out_path.c_str());
    }
    return ReportError(s);
  }
  out.close();
  if (failed_to_write || !out) {
    std::cerr << "error: cannot write " << out_path << "\n";
    return kUsage;
  }
  std::cout << bytes << " bytes written to " << out_path << "\n";
  return kOk;
}

int ErasePerson(Client& client, const std::vector<std::string>& args, const CommandFlags& flags) {
  if (args.size() != 1) {
    std::cerr << "usage: perfflowctl [--yes] erase-person <person_id>\n";
    return kUsage;
  }
  if (!flags.yes) {
    std::cerr << "This replaces " << args[0] << " by a pseudonym in every service, blanks what was written about them "
              << "and deletes their evidence files. It cannot be undone.\nType the person's id to go on: ";
    std::string typed;
    std::getline(std::cin, typed);
    if (typed != args[0]) {
      std::cerr << "not erased (the id typed differs)\n";
      return kUsage;
    }
  }
  type::v1::ErasePersonRequest req;
  req.set_person_id(args[0]);
  type::v1::ErasePersonResponse resp;
  if (grpc::Status s = client.Call(absl::StrCat(kPersonData, "ErasePerson"), req, &resp); !s.ok()) {
    return ReportError(s);
  }
  if (client.options().json()) {
    std::cout << ToJson(resp, false) << "\n";
    return kOk;
  }
  std::cout << args[0] << " is now " << resp.pseudonym() << "; evidence files deleted: " << resp.files_deleted()
            << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : resp.tables()) rows.push_back({t.table(), absl::StrCat(t.rows())});
  PrintTable(std::cout, {"table", "rows changed"}, rows);
  return kOk;
}

int WhatIf(Client& client, const std::vector<std::string>& args) {
  int days = 30;
  if (args.empty() || args.size() > 2 || (args.size() == 2 && (!absl::SimpleAtoi(args[1], &days) || days < 1))) {
    std::cerr << "usage: perfflowctl what-if <settings.yaml> [days]\n";
    return kUsage;
  }
  auto text = ReadTextFile(args[0]);
  if (!text.ok()) {
    std::cerr << "error: " << text.status().message() << "\n";
    return kUsage;
  }
  ev1::SimulateSettingsRequest req;
  auto docs = LoadYamlDocuments(*text);
  if (!docs.ok() || docs->size() != 1) {
    std::cerr << "error: " << args[0] << ": "
              << (docs.ok() ? "one YAML document expected" : std::string(docs.status().message())) << "\n";
    return kUsage;
  }
  if (absl::Status s = YamlToMessage(docs->front(), req.mutable_what_if()); !s.ok()) {
    std::cerr << "error: " << args[0] << ": " << s.message() << "\n";
    return kUsage;
  }
  const absl::Time now = absl::Now();
  ToTimestamp(now - absl::Hours(24 * days), req.mutable_start_time());
  ToTimestamp(now, req.mutable_end_time());
  ev1::SimulateSettingsResponse resp;
  if (grpc::Status s = client.Call(absl::StrCat(kEvent, "SimulateSettings"), req, &resp); !s.ok()) {
    return ReportError(s);
  }
  if (client.options().json()) {
    std::cout << ToJson(resp, false) << "\n";
    return kOk;
  }
  std::cout << resp.chains() << " chains and " << resp.tasks() << " tasks of the last " << days
            << " days, replayed with their recorded times (people's behaviour is not modelled anew)\n";
  auto percent = [](const ev1::SimulationFigures& f) {
    return f.within() + f.outside() == 0 ? std::string("-") : absl::StrFormat("%.1f%%", f.flow_health() * 100);
  };
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& what, auto get) {
    rows.push_back({what, get(resp.current()), get(resp.what_if())});
  };
  row("flow health", percent);
  row("within / outside / pending",
      [](const ev1::SimulationFigures& f) { return absl::StrCat(f.within(), " / ", f.outside(), " / ", f.pending()); });
  row("late tasks", [](const ev1::SimulationFigures& f) { return absl::StrCat(f.late_tasks()); });
  row("reminders", [](const ev1::SimulationFigures& f) { return absl::StrCat(f.reminders()); });
  row("overdue warnings", [](const ev1::SimulationFigures& f) { return absl::StrCat(f.overdue_warnings()); });
  row("escalations", [](const ev1::SimulationFigures& f) { return absl::StrCat(f.escalations()); });
  PrintTable(std::cout, {"", "today's settings", "what-if"}, rows);
  return kOk;
}

namespace {

// "2026-03-01T09:00:00Z" (RFC 3339) into `out`; empty leaves it unset.
bool ParseTimestampField(const std::string& text, google::protobuf::Timestamp* out) {
  absl::Time t;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, nullptr)) return false;
  ToTimestamp(t, out);
  return true;
}

// One CSV row of history (columns by header name) into `h`; the reason when it cannot be.
std::string HistoricalFromCsv(const std::map<std::string, size_t>& col, const CsvRecord& rec, ev1::HistoricalEvent* h) {
  auto get = [&](const char* name) { return col.count(name) ? rec.fields[col.at(name)] : std::string(); };
  ev1::IngestEventRequest& e = *h->mutable_event();
  e.set_source(get("source"));
  e.set_external_id(get("external_id"));
  e.set_event_type(get("event_type"));
  e.set_subject_id(get("subject_id"));
  // An empty cell leaves its time unset (never a 1970 default).
  const std::pair<const char*, std::function<google::protobuf::Timestamp*()>> times[] = {
      {"occurred_at", [&] { return e.mutable_occurred_at(); }},
      {"owner_action_at", [&] { return h->mutable_owner_action_at(); }},
      {"manager_feedback_at", [&] { return h->mutable_manager_feedback_at(); }},
      {"cross_confirm_at", [&] { return h->mutable_cross_confirm_at(); }},
      {"archived_at", [&] { return h->mutable_archived_at(); }},
      {"evidence_complete_at", [&] { return h->mutable_evidence_complete_at(); }}};
  for (const auto& [name, field] : times) {
    const std::string text = get(name);
    if (!text.empty() && !ParseTimestampField(text, field())) {
      return absl::StrCat(name, ": '", text, "' is not an RFC 3339 time");
    }
  }
  const std::string verdict = absl::AsciiStrToUpper(get("verdict"));
  type::v1::Verdict v;
  if (!type::v1::Verdict_Parse(absl::StartsWith(verdict, "VERDICT_") ? verdict : "VERDICT_" + verdict, &v)) {
    return absl::StrCat("verdict: '", get("verdict"), "' (MEETS or NEEDS_IMPROVEMENT)");
  }
  h->set_verdict(v);
  for (const auto& [name, index] : col) {
    if (!absl::StartsWith(name, "attr:") || rec.fields[index].empty()) continue;
    const std::string& text = rec.fields[index];
    pb::Value& value = (*e.mutable_attributes()->mutable_fields())[name.substr(5)];
    double number;
    bool flag;
    if (absl::SimpleAtod(text, &number)) {
      value.set_number_value(number);
    } else if (text == "true" || text == "false") {
      (void)absl::SimpleAtob(text, &flag);
      value.set_bool_value(flag);
    } else {
      value.set_string_value(text);
    }
  }
  return "";
}

// "history rejected: archived_at: required ..." from a per-item google.rpc.Status.
std::string ReasonOf(const google::rpc::Status& status) {
  std::string out = status.message();
  for (const auto& any : status.details()) {
    google::rpc::BadRequest bad;
    if (!any.UnpackTo(&bad)) continue;
    for (const auto& v : bad.field_violations()) absl::StrAppend(&out, "; ", v.field(), ": ", v.description());
  }
  return out;
}

}  // namespace

int ImportHistory(Client& client, const std::string& path, const CommandFlags& flags) {
  auto text = ReadTextFile(path);
  if (!text.ok()) {
    std::cerr << "error: " << text.status().message() << "\n";
    return kUsage;
  }
  std::vector<std::pair<int, std::string>> rejected;
  std::vector<ev1::HistoricalEvent> rows;
  std::vector<int> lines;
  if (absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".ndjson")) {
    int line = 0;
    for (absl::string_view l : absl::StrSplit(*text, '\n')) {
      ++line;
      if (absl::StripAsciiWhitespace(l).empty()) continue;
      ev1::HistoricalEvent h;
      if (auto s = google::protobuf::util::JsonStringToMessage(std::string(l), &h); !s.ok()) {
        rejected.push_back({line, std::string(s.message())});
        continue;
      }
      rows.push_back(std::move(h));
      lines.push_back(line);
    }
  } else {
    auto table = ReadCsvTable(*text, path,
                              {"source", "external_id", "event_type", "subject_id", "occurred_at", "owner_action_at",
                               "manager_feedback_at", "verdict", "archived_at"},
                              &rejected);
    if (!table) return kUsage;
    for (const CsvRecord& rec : table->rows) {
      ev1::HistoricalEvent h;
      if (std::string reason = HistoricalFromCsv(table->columns, rec, &h); !reason.empty()) {
        rejected.push_back({rec.line, reason});
        continue;
      }
      rows.push_back(std::move(h));
      lines.push_back(rec.line);
    }
  }
  const size_t batch = static_cast<size_t>(std::clamp(flags.batch, 1, 500));
  size_t imported = 0, duplicates = 0;
  for (size_t start = 0; start < rows.size(); start += batch) {
    const size_t end = std::min(rows.size(), start + batch);
    ev1::ImportHistoryRequest req;
    for (size_t i = start; i < end; ++i) *req.add_events() = rows[i];
    ev1::ImportHistoryResponse resp;
    if (grpc::Status s = client.Call(absl::StrCat(kEvent, "ImportHistory"), req, &resp); !s.ok()) {
      Progress(start, rows.size());
      return ReportError(s);
    }
    for (int k = 0; k < resp.results_size(); ++k) {
      const auto& result = resp.results(k);
      if (result.status().code() != 0) {
        rejected.push_back({lines[start + k], ReasonOf(result.status())});
      } else {
        ++(result.duplicate() ? duplicates : imported);
      }
    }
    Progress(end, rows.size());
  }
  return ReportImport(client, imported, "chain(s) of history",
                      duplicates > 0 ? absl::StrCat(" (", duplicates, " already there)") : "", std::move(rejected));
}

}  // namespace perfflow::cli
