#include "gateway/forms.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/url_encoding.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "httplib.h"

namespace perfflow::gateway {

std::string First(const Form& form, const std::string& name) {
  auto it = form.find(name);
  return it == form.end() ? "" : it->second;
}

std::set<std::string> All(const Form& form, const std::string& name) {
  std::set<std::string> out;
  for (auto [it, end] = form.equal_range(name); it != end; ++it) out.insert(it->second);
  return out;
}

absl::StatusOr<Form> ParseForm(absl::string_view body) {
  Form form;
  for (absl::string_view pair : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    std::replace(kv.first.begin(), kv.first.end(), '+', ' ');
    std::replace(kv.second.begin(), kv.second.end(), '+', ' ');
    auto name = PercentDecode(kv.first);
    auto value = PercentDecode(kv.second);
    if (!name.ok() || !value.ok()) return absl::InvalidArgumentError("the form is not properly encoded");
    form.emplace(*std::move(name), *std::move(value));
  }
  return form;
}

absl::StatusOr<Form> ReadForm(const httplib::Request& req, const httplib::ContentReader* body, size_t limit) {
  if (req.is_multipart_form_data()) return absl::InvalidArgumentError("this form is not a file upload");
  std::string text;
  bool too_large = false;
  const bool complete = body != nullptr && (*body)([&](const char* data, size_t size) {
                          too_large = text.size() + size > limit;
                          if (!too_large) text.append(data, size);
                          return !too_large;
                        });
  if (too_large) return absl::ResourceExhaustedError(absl::StrCat("the form is too large (at most ", limit, " bytes)"));
  if (!complete) return absl::InvalidArgumentError("the form broke off or timed out");
  return ParseForm(text);
}

absl::StatusOr<Multipart> ReadMultipart(const httplib::Request& req, const httplib::ContentReader* body, size_t limit) {
  if (!req.is_multipart_form_data()) return absl::InvalidArgumentError("an upload is sent as multipart/form-data");
  Multipart out;
  size_t total = 0;
  bool too_large = false;
  std::string* target = nullptr;
  std::string field_value;
  std::string field_name;
  auto flush_field = [&] {
    if (!field_name.empty()) out.fields.emplace(field_name, field_value);
    field_name.clear();
    field_value.clear();
  };
  const bool complete =
      body != nullptr && (*body)(
                             [&](const httplib::MultipartFormData& part) {
                               flush_field();
                               if (part.filename.empty()) {
                                 field_name = part.name;
                                 target = &field_value;
                               } else {
                                 out.files.push_back({part.name, part.filename, part.content_type, ""});
                                 target = &out.files.back().data;
                               }
                               return true;
                             },
                             [&](const char* data, size_t size) {
                               total += size;
                               too_large = total > limit;
                               if (!too_large && target != nullptr) target->append(data, size);
                               return !too_large;
                             });
  flush_field();
  if (too_large) {
    return absl::ResourceExhaustedError(absl::StrCat("the file is too large (at most ", limit / (1 << 20), " MiB)"));
  }
  if (!complete) return absl::InvalidArgumentError("the upload broke off or timed out");
  return out;
}

std::string Explain(const grpc::Status& s) {
  std::string out = s.error_message();
  google::rpc::Status details;
  if (s.error_details().empty() || !details.ParseFromString(s.error_details())) return out;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad_request;
    if (!any.UnpackTo(&bad_request)) continue;
    for (const auto& v : bad_request.field_violations()) absl::StrAppend(&out, " — ", v.description());
  }
  return out;
}

}  // namespace perfflow::gateway
