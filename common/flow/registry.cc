#include "common/flow/registry.h"

#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/condition.h"
#include "common/yaml_proto.h"

namespace perfflow::event {
namespace {

const std::regex& KeyPattern() {
  static const std::regex kKey(R"(^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$)");
  return kKey;
}

// Parses `text` and checks that every path names a declared attribute or
// evidence kind of `type`.
void CheckCondition(const std::string& path, const std::string& text, const v1::EventType& type,
                    std::vector<FieldViolation>& out) {
  auto condition = Condition::Parse(text);
  if (!condition.ok()) {
    out.push_back({path, std::string(condition.status().message())});
    return;
  }
  for (const std::string& p : condition->paths()) {
    std::vector<std::string> parts = absl::StrSplit(p, '.');
    bool known = false;
    if (parts.size() == 2 && parts[0] == "attributes") {
      for (const auto& a : type.attributes()) known |= a.name() == parts[1];
    } else if (parts.size() == 3 && parts[0] == "evidence" && (parts[2] == "count" || parts[2] == "cosigned")) {
      for (const auto& e : type.evidence()) known |= e.kind() == parts[1];
    }
    if (!known) {
      out.push_back({path, "'" + p + "' is not a declared attributes.<name> or evidence.<kind>.count|cosigned"});
    }
  }
}

bool IsKey(const std::string& key) { return key.size() <= 128 && std::regex_match(key, KeyPattern()); }

void CheckKey(const std::string& path, const std::string& key, std::vector<FieldViolation>& out) {
  if (key.empty()) {
    out.push_back({path + ".key", "required"});
  } else if (!IsKey(key)) {
    out.push_back({path + ".key", "'" + key + "' is not a key (lower case, digits, _ and . separators, at most 128)"});
  }
}

void CheckDueHours(const std::string& path, int hours, std::vector<FieldViolation>& out) {
  if (hours <= 0 || hours > 24 * 90) out.push_back({path + ".due_hours", "must be between 1 and 2160 hours"});
}

// Depth-first search for a cycle in goal depends_on; returns one goal on it.
bool HasCycle(const std::string& goal, const std::map<std::string, std::vector<std::string>>& deps,
              std::map<std::string, int>& color) {
  color[goal] = 1;
  auto it = deps.find(goal);
  if (it != deps.end()) {
    for (const std::string& next : it->second) {
      if (color[next] == 1) return true;
      if (color[next] == 0 && HasCycle(next, deps, color)) return true;
    }
  }
  color[goal] = 2;
  return false;
}

void CheckTimers(const std::string& path, const v1::TimerSpec& timers, std::vector<FieldViolation>& out) {
  constexpr int kMaxHours = 24 * 90;
  if (timers.reminder_before_hours() < 0 || timers.reminder_before_hours() > kMaxHours) {
    out.push_back({path + ".reminder_before_hours", "must be 1..2160 (reminders_off: true sends none)"});
  }
  if (timers.escalate_after_hours() < 0 || timers.escalate_after_hours() > kMaxHours) {
    out.push_back({path + ".escalate_after_hours", "must be 1..2160"});
  }
}

}  // namespace

absl::StatusOr<v1::Registry> ParseRegistryFiles(const std::vector<v1::ConfigFile>& files,
                                                std::map<std::string, std::string>* origins) {
  v1::Registry out;
  for (const v1::ConfigFile& file : files) {
    const std::string where = absl::StrCat("file ", file.name().empty() ? "(unnamed)" : file.name());
    auto docs = LoadYamlDocuments(file.content());
    if (!docs.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", docs.status().message()));
    for (size_t i = 0; i < docs->size(); ++i) {
      const YAML::Node& doc = (*docs)[i];
      const std::string doc_where = absl::StrCat(where, ", document ", i + 1);
      if (!doc.IsMap() || !doc["kind"] || !doc["kind"].IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat(doc_where, ": kind: required (EventType, Library, Goal or Settings)"));
      }
      const std::string kind = doc["kind"].Scalar();
      google::protobuf::Message* target = nullptr;
      std::string collection;
      if (kind == "EventType") {
        target = out.add_event_types();
        collection = "event_types";
      } else if (kind == "Library") {
        target = out.add_libraries();
        collection = "libraries";
      } else if (kind == "Goal") {
        target = out.add_goals();
        collection = "goals";
      } else if (kind == "Settings") {
        if (out.has_settings()) {
          return absl::InvalidArgumentError(absl::StrCat(doc_where, ": kind: Settings given twice in one apply"));
        }
        target = out.mutable_settings();
        collection = "settings";
      } else {
        return absl::InvalidArgumentError(absl::StrCat(doc_where, ": kind: unknown kind '", kind,
                                                       "' (expected EventType, Library, Goal or Settings)"));
      }
      if (absl::Status s = YamlToMessage(doc, target, {"kind"}); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(doc_where, ": ", s.message()));
      }
      if (origins != nullptr) {
        const auto* key_field = target->GetDescriptor()->FindFieldByName("key");
        const std::string key = key_field == nullptr ? "" : target->GetReflection()->GetString(*target, key_field);
        (*origins)[key_field == nullptr ? collection : absl::StrCat(collection, "[", key, "]")] = doc_where;
      }
    }
  }
  return out;
}

std::vector<FieldViolation> DuplicateKeys(const v1::Registry& registry) {
  std::vector<FieldViolation> out;
  auto check = [&out](const auto& items, const std::string& collection, const std::string& what) {
    std::set<std::string> seen;
    for (const auto& item : items) {
      if (!seen.insert(item.key()).second) {
        out.push_back({collection + "[" + item.key() + "].key", "duplicate " + what + " key"});
      }
    }
  };
  check(registry.libraries(), "libraries", "library");
  check(registry.event_types(), "event_types", "event type");
  check(registry.goals(), "goals", "goal");
  return out;
}

std::vector<FieldViolation> ValidateRegistry(const v1::Registry& registry) {
  std::vector<FieldViolation> out = DuplicateKeys(registry);
  std::set<std::string> types, libraries, goals;
  for (int i = 0; i < registry.libraries_size(); ++i) {
    const auto& lib = registry.libraries(i);
    const std::string path = absl::StrCat("libraries[", lib.key().empty() ? std::to_string(i) : lib.key(), "]");
    CheckKey(path, lib.key(), out);
    libraries.insert(lib.key());
    if (lib.values().empty()) out.push_back({path + ".values", "a library needs at least one value"});
    std::set<std::string> values(lib.values().begin(), lib.values().end());
    if (values.size() != static_cast<size_t>(lib.values_size())) out.push_back({path + ".values", "duplicate value"});
  }
  for (const auto& goal : registry.goals()) goals.insert(goal.key());
  for (const auto& type : registry.event_types()) types.insert(type.key());

  for (int i = 0; i < registry.event_types_size(); ++i) {
    const auto& t = registry.event_types(i);
    const std::string path = absl::StrCat("event_types[", t.key().empty() ? std::to_string(i) : t.key(), "]");
    CheckKey(path, t.key(), out);
    if (t.display_name().en().empty() && t.display_name().zh().empty()) {
      out.push_back({path + ".display_name", "needs zh or en"});
    }
    if (t.source().empty()) out.push_back({path + ".source", "required (the source system, e.g. crm)"});
    std::set<std::string> attrs;
    for (int a = 0; a < t.attributes_size(); ++a) {
      const auto& attr = t.attributes(a);
      const std::string ap =
          absl::StrCat(path, ".attributes[", attr.name().empty() ? std::to_string(a) : attr.name(), "]");
      if (attr.name().empty()) out.push_back({ap + ".name", "required"});
      if (!attrs.insert(attr.name()).second) out.push_back({ap + ".name", "duplicate attribute"});
      if (attr.type() == v1::ATTRIBUTE_TYPE_UNSPECIFIED) out.push_back({ap + ".type", "required"});
      if (!attr.library().empty() && !libraries.count(attr.library())) {
        out.push_back({ap + ".library", "unknown library '" + attr.library() + "'"});
      }
      if (!attr.library().empty() && attr.type() != v1::ATTRIBUTE_TYPE_STRING) {
        out.push_back({ap + ".library", "library values apply to string attributes only"});
      }
    }
    std::set<std::string> kinds;
    for (int e = 0; e < t.evidence_size(); ++e) {
      const auto& ev = t.evidence(e);
      const std::string ep = absl::StrCat(path, ".evidence[", ev.kind().empty() ? std::to_string(e) : ev.kind(), "]");
      if (ev.kind().empty()) out.push_back({ep + ".kind", "required"});
      if (!kinds.insert(ev.kind()).second) out.push_back({ep + ".kind", "duplicate evidence kind"});
      if (ev.content_types().empty()) out.push_back({ep + ".content_types", "list at least one content type"});
      if (!ev.required_when().empty()) CheckCondition(ep + ".required_when", ev.required_when(), t, out);
      for (const auto& ct : ev.content_types()) {
        if (ct.find('/') == std::string::npos) {
          out.push_back({ep + ".content_types", "'" + ct + "' is not a media type"});
        }
      }
    }
    if (!t.has_actions()) {
      out.push_back({path + ".actions", "required (owner_upload and manager_review deadlines)"});
    } else {
      const auto& act = t.actions();
      if (!act.has_owner_upload()) {
        out.push_back({path + ".actions.owner_upload", "required"});
      } else {
        CheckDueHours(path + ".actions.owner_upload", act.owner_upload().due_hours(), out);
      }
      if (!act.has_manager_review()) {
        out.push_back({path + ".actions.manager_review", "required"});
      } else {
        CheckDueHours(path + ".actions.manager_review", act.manager_review().due_hours(), out);
      }
      if (act.has_timers()) CheckTimers(path + ".actions.timers", act.timers(), out);
      if (act.has_cross_confirm()) {
        const auto& cc = act.cross_confirm();
        const std::string cp = path + ".actions.cross_confirm";
        CheckDueHours(cp, cc.due_hours(), out);
        if (cc.confirmer() == v1::CONFIRMER_SELECTION_UNSPECIFIED) {
          out.push_back({cp + ".confirmer", "required (department_head or named)"});
        }
        if (cc.confirmer() == v1::CONFIRMER_SELECTION_DEPARTMENT_HEAD && cc.departments().empty()) {
          out.push_back({cp + ".departments", "department_head needs at least one department"});
        }
        if (cc.confirmer() == v1::CONFIRMER_SELECTION_NAMED && cc.confirmer_employee_id().empty()) {
          out.push_back({cp + ".confirmer_employee_id", "required when confirmer is named"});
        }
        for (const auto& scope : cc.impact_scopes()) {
          if (scope != "supply_chain" && scope != "quality" && scope != "delivery") {
            out.push_back({cp + ".impact_scopes", "'" + scope + "' is not supply_chain, quality or delivery"});
          }
        }
      }
    }
    for (int s = 0; s < t.sop_links_size(); ++s) {
      const auto& link = t.sop_links(s);
      if (link.url().rfind("https://", 0) != 0 && link.url().rfind("http://", 0) != 0) {
        out.push_back({absl::StrCat(path, ".sop_links[", s, "].url"), "must be an http(s) URL"});
      }
    }
    std::set<std::string> behaviour_ids;
    for (int b = 0; b < t.behaviours_size(); ++b) {
      const auto& beh = t.behaviours(b);
      const std::string bp = absl::StrCat(path, ".behaviours[", b, "]");
      if (beh.id().empty()) out.push_back({bp + ".id", "required"});
      if (!behaviour_ids.insert(beh.id()).second) out.push_back({bp + ".id", "duplicate behaviour id"});
      if (beh.text().zh().empty() && beh.text().en().empty()) out.push_back({bp + ".text", "needs zh or en"});
    }
    std::set<std::string> rule_ids;
    for (int r = 0; r < t.rules_size(); ++r) {
      const auto& rule = t.rules(r);
      const std::string rp = absl::StrCat(path, ".rules[", rule.id().empty() ? std::to_string(r) : rule.id(), "]");
      if (rule.id().empty()) out.push_back({rp + ".id", "required"});
      if (!rule_ids.insert(rule.id()).second) out.push_back({rp + ".id", "duplicate rule id"});
      if (rule.require().empty()) {
        out.push_back({rp + ".require", "required"});
      } else {
        CheckCondition(rp + ".require", rule.require(), t, out);
      }
      if (!rule.when().empty()) CheckCondition(rp + ".when", rule.when(), t, out);
    }
    for (const auto& g : t.goals()) {
      if (!goals.count(g)) out.push_back({path + ".goals", "unknown goal '" + g + "'"});
    }
    if (!t.root_cause_library().empty() && !libraries.count(t.root_cause_library())) {
      out.push_back({path + ".root_cause_library", "unknown library '" + t.root_cause_library() + "'"});
    }
  }

  if (registry.has_settings()) {
    const v1::Settings& st = registry.settings();
    if (st.has_timers()) CheckTimers("settings.timers", st.timers(), out);
    absl::TimeZone zone;
    if (!st.time_zone().empty() && !absl::LoadTimeZone(st.time_zone(), &zone)) {
      out.push_back(
          {"settings.time_zone", "unknown time zone '" + st.time_zone() + "' (an IANA name like Asia/Shanghai)"});
    }
    if (st.digest_hour() < 0 || st.digest_hour() > 23) out.push_back({"settings.digest_hour", "must be 1..23"});
    if (st.weekly_hour() < 0 || st.weekly_hour() > 23) out.push_back({"settings.weekly_hour", "must be 1..23"});
    for (const std::string& attribute : st.protected_attributes()) {
      static const std::regex kAttribute("^[a-z0-9_]{1,32}$");
      if (!std::regex_match(attribute, kAttribute)) {
        out.push_back(
            {"settings.protected_attributes", "'" + attribute + "' is not an attribute name ([a-z0-9_]{1,32})"});
      }
    }
    if (st.calibration_review_days() < 0 || st.calibration_review_days() > 90) {
      out.push_back({"settings.calibration_review_days", "must be 1..90 (unset: 14)"});
    }
    const int retention = st.evidence_retention_days();
    if (retention != 0 && (retention < 30 || retention > 36500)) {
      out.push_back({"settings.evidence_retention_days", "must be 30..36500 days (unset: kept)"});
    }
    const int notices = st.notification_retention_days();
    if (notices != 0 && (notices < 7 || notices > 3650)) {
      out.push_back({"settings.notification_retention_days", "must be 7..3650 days (unset: kept)"});
    }
  }

  std::map<std::string, std::vector<std::string>> deps;
  for (int i = 0; i < registry.goals_size(); ++i) {
    const auto& g = registry.goals(i);
    const std::string path = absl::StrCat("goals[", g.key().empty() ? std::to_string(i) : g.key(), "]");
    CheckKey(path, g.key(), out);
    if (g.name().en().empty() && g.name().zh().empty()) out.push_back({path + ".name", "needs zh or en"});
    for (const auto& d : g.depends_on()) {
      if (!goals.count(d)) out.push_back({path + ".depends_on", "unknown goal '" + d + "'"});
      if (d == g.key()) out.push_back({path + ".depends_on", "a goal cannot depend on itself"});
      deps[g.key()].push_back(d);
    }
    for (const auto& t : g.event_types()) {
      if (!types.count(t)) out.push_back({path + ".event_types", "unknown event type '" + t + "'"});
    }
  }
  std::map<std::string, int> color;
  for (const auto& [goal, unused] : deps) {
    if (color[goal] == 0 && HasCycle(goal, deps, color)) {
      out.push_back({"goals[" + goal + "].depends_on", "goal dependencies form a cycle"});
      break;
    }
  }
  return out;
}

v1::Registry MergeRegistry(const v1::Registry& base, const v1::Registry& delta) {
  v1::Registry out = base;
  auto merge = [](auto* items, const auto& updates) {
    for (const auto& u : updates) {
      bool replaced = false;
      for (auto& existing : *items) {
        if (existing.key() == u.key()) {
          existing = u;
          replaced = true;
          break;
        }
      }
      if (!replaced) *items->Add() = u;
    }
  };
  merge(out.mutable_event_types(), delta.event_types());
  merge(out.mutable_libraries(), delta.libraries());
  merge(out.mutable_goals(), delta.goals());
  if (delta.has_settings()) *out.mutable_settings() = delta.settings();
  return out;
}

RegistryView::RegistryView(v1::Registry registry) : registry_(std::move(registry)) {
  for (int i = 0; i < registry_.event_types_size(); ++i) {
    const auto& t = registry_.event_types(i);
    event_types_[t.key()] = i;
    for (const auto& g : t.goals()) goals_by_type_[t.key()].push_back(g);
  }
  for (int i = 0; i < registry_.libraries_size(); ++i) libraries_[registry_.libraries(i).key()] = i;
  for (const auto& g : registry_.goals()) {
    for (const auto& t : g.event_types()) {
      auto& list = goals_by_type_[t];
      if (std::find(list.begin(), list.end(), g.key()) == list.end()) list.push_back(g.key());
    }
  }
}

const v1::EventType* RegistryView::FindEventType(const std::string& key) const {
  auto it = event_types_.find(key);
  return it == event_types_.end() ? nullptr : &registry_.event_types(it->second);
}

const v1::Library* RegistryView::FindLibrary(const std::string& key) const {
  auto it = libraries_.find(key);
  return it == libraries_.end() ? nullptr : &registry_.libraries(it->second);
}

std::vector<std::string> RegistryView::GoalsFor(const std::string& event_type) const {
  auto it = goals_by_type_.find(event_type);
  return it == goals_by_type_.end() ? std::vector<std::string>{} : it->second;
}

std::vector<FieldViolation> ValidateAttributes(const v1::EventType& type, const google::protobuf::Struct& attributes,
                                               const RegistryView& registry) {
  using google::protobuf::Value;
  std::vector<FieldViolation> out;
  for (const auto& spec : type.attributes()) {
    const std::string path = "attributes." + spec.name();
    auto it = attributes.fields().find(spec.name());
    if (it == attributes.fields().end() || it->second.kind_case() == Value::kNullValue) {
      if (spec.required()) out.push_back({path, "required by event type " + type.key()});
      continue;
    }
    const Value& v = it->second;
    switch (spec.type()) {
      case v1::ATTRIBUTE_TYPE_STRING:
        if (v.kind_case() != Value::kStringValue) out.push_back({path, "must be a string"});
        break;
      case v1::ATTRIBUTE_TYPE_NUMBER:
        if (v.kind_case() != Value::kNumberValue) out.push_back({path, "must be a number"});
        break;
      case v1::ATTRIBUTE_TYPE_INTEGER:
        if (v.kind_case() != Value::kNumberValue ||
            v.number_value() != static_cast<double>(static_cast<int64_t>(v.number_value()))) {
          out.push_back({path, "must be an integer"});
        }
        break;
      case v1::ATTRIBUTE_TYPE_BOOL:
        if (v.kind_case() != Value::kBoolValue) out.push_back({path, "must be true or false"});
        break;
      case v1::ATTRIBUTE_TYPE_TIMESTAMP: {
        absl::Time t;
        std::string err;
        if (v.kind_case() != Value::kStringValue || !absl::ParseTime(absl::RFC3339_full, v.string_value(), &t, &err)) {
          out.push_back({path, "must be an RFC 3339 timestamp string"});
        }
        break;
      }
      default:
        break;
    }
    if (v.kind_case() == Value::kStringValue) {
      const std::string& s = v.string_value();
      if (!spec.allowed_values().empty() &&
          std::find(spec.allowed_values().begin(), spec.allowed_values().end(), s) == spec.allowed_values().end()) {
        out.push_back({path, "'" + s + "' is not an allowed value"});
      }
      if (!spec.library().empty()) {
        const v1::Library* lib = registry.FindLibrary(spec.library());
        if (lib == nullptr || std::find(lib->values().begin(), lib->values().end(), s) == lib->values().end()) {
          out.push_back({path, "'" + s + "' is not in library " + spec.library()});
        }
      }
    }
  }
  return out;
}

bool EnabledForDepartment(const v1::EventType& type, const std::string& department_id) {
  if (type.pilot().departments().empty()) return true;
  const auto& d = type.pilot().departments();
  return std::find(d.begin(), d.end(), department_id) != d.end();
}

}  // namespace perfflow::event
