#include "common/timestamps.h"

#include <string>
#include <vector>

#include "common/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace perfflow {
namespace {

namespace pb = google::protobuf;

void CollectBadTimestamps(const pb::Message& message, const std::string& prefix,
                          std::vector<FieldViolation>* violations) {
  const pb::Reflection* r = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string path = prefix + f->name();
    const int count = f->is_repeated() ? r->FieldSize(message, f) : 1;
    for (int i = 0; i < count; ++i) {
      const pb::Message& sub = f->is_repeated() ? r->GetRepeatedMessage(message, f, i) : r->GetMessage(message, f);
      const std::string at = f->is_repeated() ? path + "[" + std::to_string(i) + "]" : path;
      if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
        // Through reflection: `sub` may be a dynamic message.
        const pb::Descriptor* d = sub.GetDescriptor();
        pb::Timestamp ts;
        ts.set_seconds(sub.GetReflection()->GetInt64(sub, d->FindFieldByName("seconds")));
        ts.set_nanos(sub.GetReflection()->GetInt32(sub, d->FindFieldByName("nanos")));
        if (!ValidTimestamp(ts)) {
          violations->push_back({at, "not a valid timestamp: 0001-01-01 .. 9999-12-31 with nanos 0 .. 999999999"});
        }
      } else if (f->message_type()->file()->package() != "google.protobuf") {
        // Struct attributes hold no timestamps; our own messages may.
        CollectBadTimestamps(sub, at + ".", violations);
      }
    }
  }
}

}  // namespace

absl::Status RequireValidTimestamps(const pb::Message& request) {
  std::vector<FieldViolation> violations;
  CollectBadTimestamps(request, "", &violations);
  if (violations.empty()) return absl::OkStatus();
  return InvalidArgumentWithViolations("request rejected", violations);
}

}  // namespace perfflow
