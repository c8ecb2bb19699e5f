#pragma once

// Building google.protobuf.Struct values (JSON bodies of notifications and
// cards) without repeating the setters.

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/struct.pb.h"

namespace perfflow {

google::protobuf::Value StringValue(const std::string& s);
google::protobuf::Value NumberValue(double d);
google::protobuf::Value BoolValue(bool b);
google::protobuf::Value ListValue(std::vector<google::protobuf::Value> items);
google::protobuf::Value ObjectValue(std::vector<std::pair<std::string, google::protobuf::Value>> fields);

}  // namespace perfflow
