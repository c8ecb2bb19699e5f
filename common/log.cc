#include "common/log.h"

#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace perfflow {
namespace {

std::mutex& LogMutex() {
  static std::mutex mu;
  return mu;
}

std::string& Service() {
  static std::string service = "perfflow";
  return service;
}

void AppendJsonString(std::string& out, absl::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void Write(absl::string_view level, absl::string_view msg, const LogFields& fields) {
  std::string line = "{\"ts\":";
  AppendJsonString(line, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  line += ",\"level\":";
  AppendJsonString(line, level);
  line += ",\"service\":";
  AppendJsonString(line, Service());
  line += ",\"msg\":";
  AppendJsonString(line, msg);
  for (const auto& [key, value] : fields) {
    line += ',';
    AppendJsonString(line, key);
    line += ':';
    AppendJsonString(line, value);
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(LogMutex());
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void SetLogService(std::string service) { Service() = std::move(service); }
void LogInfo(absl::string_view msg, const LogFields& fields) { Write("info", msg, fields); }
void LogWarn(absl::string_view msg, const LogFields& fields) { Write("warn", msg, fields); }
void LogError(absl::string_view msg, const LogFields& fields) { Write("error", msg, fields); }

}  // namespace perfflow
