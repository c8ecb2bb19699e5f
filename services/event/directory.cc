#include "services/event/directory.h"

#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace perfflow::event {
namespace {

bool IsId(const std::string& id) {
  static const std::regex kId(R"(^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$)");
  return std::regex_match(id, kId);
}

// Employee ids come from the company's identity provider and may be in any
// script (张伟): 1-64 bytes of printable UTF-8 without spaces, '/' or ','.
bool IsEmployeeId(const std::string& id) {
  if (id.empty() || id.size() > 64 || !IsPrintableUtf8(id)) return false;
  return id.find_first_of(" /,") == std::string::npos;
}

}  // namespace

std::vector<FieldViolation> ValidateDirectoryBatch(const perfflow::event::v1::UpsertDirectoryRequest& batch,
                                                   const DirectorySnapshot& existing) {
  std::vector<FieldViolation> out;
  std::set<std::string> departments(existing.departments.begin(), existing.departments.end());
  std::set<std::string> batch_departments;
  for (int i = 0; i < batch.departments_size(); ++i) {
    const auto& d = batch.departments(i);
    const std::string path = absl::StrCat("departments[", i, "]");
    if (!IsId(d.id())) out.push_back({path + ".id", "'" + d.id() + "' is not an id (1-64 of A-Za-z0-9_.-)"});
    if (!batch_departments.insert(d.id()).second) {
      out.push_back({path + ".id", "duplicate id '" + d.id() + "' in batch"});
    }
    if (d.name().empty()) out.push_back({path + ".name", "required"});
    departments.insert(d.id());
  }
  for (int i = 0; i < batch.departments_size(); ++i) {
    const auto& d = batch.departments(i);
    if (!d.parent_id().empty() && !departments.count(d.parent_id())) {
      out.push_back({absl::StrCat("departments[", i, "].parent_id"), "unknown department '" + d.parent_id() + "'"});
    }
  }

  std::map<std::string, std::string> managers = existing.managers;
  std::set<std::string> batch_ids;
  for (int i = 0; i < batch.employees_size(); ++i) {
    const auto& e = batch.employees(i);
    const std::string path = absl::StrCat("employees[", i, "]");
    if (!IsEmployeeId(e.id())) {
      out.push_back(
          {path + ".id", "'" + ToValidUtf8(e.id()) +
                             "' is not an employee id (1-64 bytes of printable UTF-8 without spaces, / or ,)"});
    }
    if (!batch_ids.insert(e.id()).second) out.push_back({path + ".id", "duplicate id '" + e.id() + "' in batch"});
    if (e.display_name().empty()) out.push_back({path + ".display_name", "required"});
    if (!e.language().empty() && e.language() != "zh" && e.language() != "en") {
      out.push_back({path + ".language", "zh, en or empty (the browser's language)"});
    }
    if (e.attributes_size() > 16) out.push_back({path + ".attributes", "at most 16"});
    for (const auto& [key, value] : e.attributes()) {
      static const std::regex kKey("^[a-z0-9_]{1,32}$");
      if (!std::regex_match(key, kKey)) {
        out.push_back({path + ".attributes", "'" + ToValidUtf8(key) + "' is not an attribute name ([a-z0-9_]{1,32})"});
      }
      if (value.size() > 64) out.push_back({path + ".attributes[" + key + "]", "at most 64 bytes"});
    }
    if (e.department_id().empty()) {
      out.push_back({path + ".department_id", "required"});
    } else if (!departments.count(e.department_id())) {
      out.push_back({path + ".department_id", "unknown department '" + e.department_id() + "'"});
    }
    if (e.manager_id() == e.id() && !e.id().empty()) {
      out.push_back({path + ".manager_id", "an employee cannot manage themself"});
    }
    managers[e.id()] = e.manager_id();
  }
  for (int i = 0; i < batch.employees_size(); ++i) {
    const auto& e = batch.employees(i);
    if (!e.manager_id().empty() && !managers.count(e.manager_id())) {
      out.push_back({absl::StrCat("employees[", i, "].manager_id"), "unknown manager '" + e.manager_id() + "'"});
    }
  }
  for (int i = 0; i < batch.departments_size(); ++i) {
    const auto& d = batch.departments(i);
    if (!d.head_id().empty() && !managers.count(d.head_id())) {
      out.push_back({absl::StrCat("departments[", i, "].head_id"), "unknown employee '" + d.head_id() + "'"});
    }
  }
  // Cycles: follow each batch employee's manager chain in the merged graph.
  for (int i = 0; i < batch.employees_size(); ++i) {
    const auto& e = batch.employees(i);
    std::set<std::string> seen = {e.id()};
    std::string current = e.manager_id();
    while (!current.empty()) {
      if (seen.count(current)) {
        if (current == e.id()) {
          out.push_back({absl::StrCat("employees[", i, "].manager_id"), "manager cycle through '" + e.id() + "'"});
        }
        break;
      }
      seen.insert(current);
      auto it = managers.find(current);
      if (it == managers.end()) break;
      current = it->second;
    }
  }
  return out;
}

}  // namespace perfflow::event
