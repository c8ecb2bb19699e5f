#pragma once

// Command-line flags with environment fallbacks: each flag `--name` may also
// come from PERFFLOW_NAME (upper case); the command line wins. `--help`
// prints every flag with its default.

#include <functional>
#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

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
  // With `rest`, parsing stops at the first argument that is not a flag and
  // that argument and all after it go to `rest` (a command line such as
  // `prog --flag=x command args...`); without it, such an argument is an error.
  absl::Status Parse(int argc, const char* const* argv, bool* help_requested, std::vector<std::string>* rest = nullptr);

  // Parse, or print usage/errors and exit (0 for --help, 2 for bad flags).
  void ParseOrExit(int argc, const char* const* argv);
  // ParseOrExit for `prog [flags] command args...`: returns the command and its args.
  std::vector<std::string> ParseCommandOrExit(int argc, const char* const* argv);

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
  void ParseOrExitInto(int argc, const char* const* argv, std::vector<std::string>* rest);

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
};

}  // namespace perfflow
