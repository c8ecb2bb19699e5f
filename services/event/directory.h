#pragma once

// Validation of a directory batch against what is already stored: duplicate
// ids in the batch, unknown departments and managers, manager cycles. All
// offending entries are named; the caller writes nothing unless it is empty.

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::event {

struct DirectorySnapshot {
  // employee id -> manager id ("" at the top)
  std::map<std::string, std::string> managers;
  std::vector<std::string> departments;
};

std::vector<FieldViolation> ValidateDirectoryBatch(const perfflow::event::v1::UpsertDirectoryRequest& batch,
                                                   const DirectorySnapshot& existing);

}  // namespace perfflow::event
