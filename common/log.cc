#include "common/log.h"

#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/utf8.h"
#include "google/protobuf/stubs/logging.h"

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

// A JSON string; bytes that are not valid UTF-8 (a caller's input, a cut
// message) become U+FFFD so every line stays valid JSON.
void AppendJsonString(std::string& out, absl::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (size_t len = Utf8SequenceLength(s, i)) {
          out.append(s.data() + i, len);
          i += len - 1;
        } else {
          out += "\\ufffd";
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

void SetLogService(std::string service) {
  Service() = std::move(service);
  // libprotobuf's own messages (e.g. a request with invalid UTF-8) become
  // JSON lines too instead of free text on stderr.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        const LogFields fields = {{"source", "libprotobuf"}, {"at", std::string(file) + ":" + std::to_string(line)}};
        if (level >= google::protobuf::LOGLEVEL_ERROR) {
          Write("error", message, fields);
        } else if (level == google::protobuf::LOGLEVEL_WARNING) {
          Write("warn", message, fields);
        } else {
          Write("info", message, fields);
        }
      });
}
void LogInfo(absl::string_view msg, const LogFields& fields) { Write("info", msg, fields); }
void LogWarn(absl::string_view msg, const LogFields& fields) { Write("warn", msg, fields); }
void LogError(absl::string_view msg, const LogFields& fields) { Write("error", msg, fields); }

}  // namespace perfflow
