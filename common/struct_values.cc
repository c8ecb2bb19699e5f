#include "common/struct_values.h"

namespace perfflow {

google::protobuf::Value StringValue(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}

google::protobuf::Value NumberValue(double d) {
  google::protobuf::Value v;
  v.set_number_value(d);
  return v;
}

google::protobuf::Value BoolValue(bool b) {
  google::protobuf::Value v;
  v.set_bool_value(b);
  return v;
}

google::protobuf::Value ListValue(std::vector<google::protobuf::Value> items) {
  google::protobuf::Value v;
  auto& list = *v.mutable_list_value();  // an empty list too, not an unset value (null)
  for (auto& item : items) *list.add_values() = std::move(item);
  return v;
}

google::protobuf::Value ObjectValue(std::vector<std::pair<std::string, google::protobuf::Value>> fields) {
  google::protobuf::Value v;
  auto& f = *v.mutable_struct_value()->mutable_fields();
  for (auto& [name, value] : fields) f[name] = std::move(value);
  return v;
}

}  // namespace perfflow
