#pragma once

// Command-line flags with environment fallbacks: each flag `--name` may also
// come from PERFFLOW_NAME (upper case); the command line wins. `--help`
// prints every flag with its default.

#include "absl/strings/string_view.h"
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace perfflow {

class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void AddString(std::string name, std::string* target, std::string help);
  void AddInt(std::string name, int* target, std::string help);
  void AddBool(std::string name, bool* target, std::string help);

  // Parses env then argv. Unknown flags and bad values are errors;
  // `help_requested` is set for --help (the caller prints Usage()).
  absl::Status Parse(int argc, const char* const* argv, bool* help_requested);

  // Parse, or print usage/errors and exit (0 for --help, 2 for bad flags).
  void ParseOrExit(int argc, const char* const* argv);

  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_value;
    bool is_bool = false;
    std::function<absl::Status(absl::string_view)> set;
  };
  Flag* Find(absl::string_view name);

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
};

}  // namespace perfflow
