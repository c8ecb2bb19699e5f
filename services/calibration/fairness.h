#pragma once

// The fairness check of a calibration brief: do verdicts (share of MEETS)
// and ratings differ between groups of the cohort — by manager, department,
// grade and the tenant's protected attributes — more than chance explains?
// Each group is tested against the rest with a test that holds for small
// groups (Fisher's exact for verdicts, a permutation test for the rating
// mix), Holm-adjusted within each dimension; groups under a minimum size are
// withheld, never shown.

#include <map>
#include <string>
#include <vector>

#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::calibration {

// The verdicts on one cohort member's chains of one event type: counted as
// the facts stream by, so a brief holds one entry per person and type, not
// one per chain.
struct VerdictCounts {
  std::string subject_id;
  std::string event_type;
  int64_t verdicts = 0;
  int64_t meets = 0;
};

struct FairnessInput {
  std::vector<event::v1::Employee> members;
  std::vector<VerdictCounts> verdicts;
  // Employee id -> rating (the latest recorded, else the proposed one).
  std::map<std::string, std::string> ratings;
  // Employee.attributes keys the tenant declared protected.
  std::vector<std::string> protected_attributes;
  // Display names for groups: department id -> name, employee id -> name.
  std::map<std::string, std::string> department_names;
  std::map<std::string, std::string> people_names;
};

struct FairnessOptions {
  int min_group = 5;
  double alpha = 0.05;
  int permutations = 4999;
};

calibration::v1::Fairness CheckFairness(const FairnessInput& input, const FairnessOptions& options = {});

}  // namespace perfflow::calibration
