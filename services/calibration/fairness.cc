#include "services/calibration/fairness.h"

#include <functional>

#include "common/stats.h"

namespace perfflow::calibration {
namespace {

namespace ev1 = perfflow::event::v1;

// A dimension: its name and each member's group in it ("" = not in any).
struct Dimension {
  std::string name;
  std::function<std::string(const ev1::Employee&)> group_of;
};

std::vector<Dimension> Dimensions(const std::vector<std::string>& protected_attributes) {
  std::vector<Dimension> out = {
      {"manager", [](const ev1::Employee& e) { return e.manager_id(); }},
      {"department", [](const ev1::Employee& e) { return e.department_id(); }},
      {"grade", [](const ev1::Employee& e) { return e.grade(); }},
  };
  for (const std::string& attribute : protected_attributes) {
    out.push_back({"attribute:" + attribute, [attribute](const ev1::Employee& e) {
                     auto it = e.attributes().find(attribute);
                     return it == e.attributes().end() ? std::string() : it->second;
                   }});
  }
  return out;
}

// A manager's or department's display name; grades and attribute values are their own names.
std::string NameOf(const FairnessInput& in, const std::string& dimension, const std::string& group) {
  if (dimension != "manager" && dimension != "department") return group;
  const auto& names = dimension == "manager" ? in.people_names : in.department_names;
  auto it = names.find(group);
  return it != names.end() && !it->second.empty() ? it->second : group;
}

// Holm within the dimension's shown groups, then flags.
void Adjust(google::protobuf::RepeatedPtrField<v1::FairnessGroup>* groups, int from, double alpha) {
  std::vector<double> p;
  for (int i = from; i < groups->size(); ++i) p.push_back(groups->Get(i).p_value());
  const std::vector<double> adjusted = HolmAdjusted(p);
  for (int i = from; i < groups->size(); ++i) {
    v1::FairnessGroup* g = groups->Mutable(i);
    g->set_adjusted_p_value(adjusted[i - from]);
    g->set_flagged(g->adjusted_p_value() < alpha);
  }
}

}  // namespace

v1::Fairness CheckFairness(const FairnessInput& in, const FairnessOptions& o) {
  v1::Fairness out;
  out.set_min_group(o.min_group);
  out.set_alpha(o.alpha);
  std::map<std::string, const ev1::Employee*> member;
  for (const auto& e : in.members) member[e.id()] = &e;
  int withheld = 0;

  for (const Dimension& dim : Dimensions(in.protected_attributes)) {
    // Verdicts: the group's against the rest's — for a manager, the other
    // managers' verdicts on the event types this manager reviewed.
    // Counted once: (verdicts, meets) per group and event type, and per event type over all groups.
    using Counts = std::pair<int64_t, int64_t>;
    std::map<std::string, std::map<std::string, Counts>> by_group;  // group -> event type -> counts
    std::map<std::string, Counts> by_type;
    for (const VerdictCounts& v : in.verdicts) {
      auto m = member.find(v.subject_id);
      if (m == member.end()) continue;
      const std::string group = dim.group_of(*m->second);
      if (group.empty()) continue;
      for (Counts* c : {&by_group[group][v.event_type], &by_type[v.event_type]}) {
        c->first += v.verdicts;
        c->second += v.meets;
      }
    }
    const int first_verdict = out.verdicts_size();
    for (const auto& [group, types] : by_group) {
      Counts counts{0, 0};
      int64_t rest = 0, rest_meets = 0;
      for (const auto& [type, mine] : by_type) {
        auto own = types.find(type);
        const Counts here = own == types.end() ? Counts{0, 0} : own->second;
        counts.first += here.first;
        counts.second += here.second;
        // A manager's rest: the other managers' verdicts on the types this manager reviewed.
        if (dim.name == "manager" && own == types.end()) continue;
        rest += mine.first - here.first;
        rest_meets += mine.second - here.second;
      }
      if (counts.first < o.min_group || rest < o.min_group) {
        ++withheld;
        continue;
      }
      v1::FairnessGroup* g = out.add_verdicts();
      g->set_dimension(dim.name);
      g->set_group(group);
      g->set_group_name(NameOf(in, dim.name, group));
      g->set_verdicts(counts.first);
      g->set_meets(counts.second);
      g->set_rest_verdicts(rest);
      g->set_rest_meets(rest_meets);
      g->set_p_value(FisherExactTwoSided(counts.second, counts.first - counts.second, rest_meets, rest - rest_meets));
    }
    Adjust(out.mutable_verdicts(), first_verdict, o.alpha);

    // Ratings: the mix of ratings in the group against the rest.
    std::vector<std::string> labels, groups;
    for (const auto& [id, rating] : in.ratings) {
      auto m = member.find(id);
      if (m == member.end() || rating.empty()) continue;
      labels.push_back(rating);
      groups.push_back(dim.group_of(*m->second));
    }
    std::map<std::string, std::map<std::string, int64_t>> mix;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!groups[i].empty()) ++mix[groups[i]][labels[i]];
    }
    const int first_rating = out.ratings_size();
    for (const auto& [group, ratings] : mix) {
      int64_t rated = 0;
      for (const auto& [label, n] : ratings) rated += n;
      const int64_t rest = static_cast<int64_t>(labels.size()) - rated;
      if (rated < o.min_group || rest < o.min_group) {
        ++withheld;
        continue;
      }
      std::vector<bool> in_group;
      for (const std::string& g : groups) in_group.push_back(g == group);
      v1::FairnessGroup* g = out.add_ratings();
      g->set_dimension(dim.name);
      g->set_group(group);
      g->set_group_name(NameOf(in, dim.name, group));
      g->set_rated(rated);
      for (const auto& [label, n] : ratings) (*g->mutable_ratings())[label] = n;
      g->set_p_value(PermutationPValue(labels, in_group, o.permutations, /*seed=*/20261201));
    }
    Adjust(out.mutable_ratings(), first_rating, o.alpha);
  }
  out.set_withheld_groups(withheld);
  return out;
}

}  // namespace perfflow::calibration
