#pragma once

// A brief as JSON (the protobuf JSON mapping), Markdown, or one printable,
// self-contained HTML page with inline SVG charts (monthly trend lines and
// person vs cohort bars), flagged items first. Pure functions.

#include <string>

#include "absl/status/statusor.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"

namespace perfflow::calibration {

struct Rendered {
  std::string content_type;
  std::string content;
};

absl::StatusOr<Rendered> RenderBrief(const v1::Brief& brief, const std::string& title, v1::RenderFormat format);

}  // namespace perfflow::calibration
