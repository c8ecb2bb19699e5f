#include "common/files.h"

#include "absl/strings/ascii.h"

#include <fstream>
#include <sstream>

namespace perfflow {

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string SafeFileName(absl::string_view name) {
  std::string out;
  for (char c : name)
    out += (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return out;
}

}  // namespace perfflow
