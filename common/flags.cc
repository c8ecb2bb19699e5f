#include "common/flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace perfflow {

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::AddString(std::string name, std::string* target, std::string help) {
  flags_.push_back({std::move(name), std::move(help), *target, false, [target](absl::string_view v) {
                      *target = std::string(v);
                      return absl::OkStatus();
                    }});
}

void FlagSet::AddInt(std::string name, int* target, std::string help) {
  std::string flag_name = name;
  flags_.push_back(
      {std::move(name), std::move(help), std::to_string(*target), false, [target, flag_name](absl::string_view v) {
         if (!absl::SimpleAtoi(v, target)) {
           return absl::InvalidArgumentError(absl::StrCat("--", flag_name, ": not an integer: '", v, "'"));
         }
         return absl::OkStatus();
       }});
}

void FlagSet::AddBool(std::string name, bool* target, std::string help) {
  std::string flag_name = name;
  flags_.push_back(
      {std::move(name), std::move(help), *target ? "true" : "false", true, [target, flag_name](absl::string_view v) {
         if (!absl::SimpleAtob(v, target)) {
           return absl::InvalidArgumentError(absl::StrCat("--", flag_name, ": not a boolean: '", v, "'"));
         }
         return absl::OkStatus();
       }});
}

FlagSet::Flag* FlagSet::Find(absl::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(int argc, const char* const* argv, bool* help_requested, std::vector<std::string>* rest) {
  *help_requested = false;
  for (Flag& f : flags_) {
    std::string env = "PERFFLOW_" + absl::AsciiStrToUpper(f.name);
    if (const char* value = std::getenv(env.c_str())) {
      absl::Status s = f.set(value);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(env, ": ", s.message()));
    }
  }
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help_requested = true;
      return absl::OkStatus();
    }
    if (arg.substr(0, 2) != "--") {
      if (rest == nullptr) return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
      rest->assign(argv + i, argv + argc);
      return absl::OkStatus();
    }
    arg.remove_prefix(2);
    absl::string_view name = arg;
    std::optional<absl::string_view> value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    if (absl::Status s = flag->set(*value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void FlagSet::ParseOrExit(int argc, const char* const* argv) { ParseOrExitInto(argc, argv, nullptr); }

std::vector<std::string> FlagSet::ParseCommandOrExit(int argc, const char* const* argv) {
  std::vector<std::string> rest;
  ParseOrExitInto(argc, argv, &rest);
  return rest;
}

void FlagSet::ParseOrExitInto(int argc, const char* const* argv, std::vector<std::string>* rest) {
  bool help = false;
  absl::Status s = Parse(argc, argv, &help, rest);
  if (help) {
    std::fputs(Usage().c_str(), stdout);
    std::exit(0);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for the flags.\n", program_.c_str(), std::string(s.message()).c_str(),
                 program_.c_str());
    std::exit(2);
  }
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("Usage: ", program_, " [flags]\n\n", summary_, "\n\nFlags:\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, " (env PERFFLOW_", absl::AsciiStrToUpper(f.name), ", default: \"",
                    f.default_value, "\")\n      ", f.help, "\n");
  }
  return out;
}

}  // namespace perfflow
