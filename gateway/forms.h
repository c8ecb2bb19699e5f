#pragma once

// What people post from the pages: urlencoded forms and multipart uploads,
// each read with a size limit, and a service's refusal put in words.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace httplib {
class ContentReader;
struct Request;
}  // namespace httplib

namespace perfflow::gateway {

// Form fields by name; a name may repeat (check boxes).
using Form = std::multimap<std::string, std::string>;

// The first value of `name` ("" when absent), and all of them.
std::string First(const Form& form, const std::string& name);
std::set<std::string> All(const Form& form, const std::string& name);

// application/x-www-form-urlencoded; InvalidArgument on a bad escape.
absl::StatusOr<Form> ParseForm(absl::string_view body);

// A urlencoded form of at most `limit` bytes (RESOURCE_EXHAUSTED beyond;
// INVALID_ARGUMENT when it is multipart or breaks off).
absl::StatusOr<Form> ReadForm(const httplib::Request& req, const httplib::ContentReader* body, size_t limit);

struct UploadedFile {
  std::string field;
  std::string file_name;
  std::string content_type;
  std::string data;
};

// What a multipart form carried: its text fields and its files.
struct Multipart {
  Form fields;
  std::vector<UploadedFile> files;
};

// A multipart/form-data body of at most `limit` bytes in all.
absl::StatusOr<Multipart> ReadMultipart(const httplib::Request& req, const httplib::ContentReader* body, size_t limit);

// A service's refusal with the field violations it attached: what to fix.
std::string Explain(const grpc::Status& status);

}  // namespace perfflow::gateway
