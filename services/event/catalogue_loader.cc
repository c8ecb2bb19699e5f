#include "services/event/catalogue_loader.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/log.h"

namespace perfflow::event {

absl::StatusOr<std::vector<v1::ConfigFile>> ReadCatalogue(const std::string& dir) {
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml") paths.push_back(entry.path());
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read catalogue directory ", dir, ": ", ec.message()));
  std::sort(paths.begin(), paths.end());
  std::vector<v1::ConfigFile> files;
  for (const auto& p : paths) {
    auto content = ReadTextFile(p.string());
    if (!content.ok()) return content.status();
    v1::ConfigFile f;
    f.set_name(p.filename().string());
    f.set_content(*std::move(content));
    files.push_back(std::move(f));
  }
  if (files.empty()) return absl::NotFoundError(absl::StrCat("no *.yaml files in ", dir));
  return files;
}

CatalogueLoader::CatalogueLoader(std::shared_ptr<EventCore> core, std::string dir, std::vector<std::string> tenants)
    : core_(std::move(core)), dir_(std::move(dir)), tenants_(std::move(tenants)) {}

absl::Status CatalogueLoader::Poll() {
  auto files = ReadCatalogue(dir_);
  if (!files.ok()) return files.status();
  std::string all;
  for (const auto& f : *files) absl::StrAppend(&all, f.name(), "\n", f.content(), "\n");
  const std::string digest = Sha256Hex(all);
  if (digest == applied_digest_) return absl::OkStatus();
  v1::ApplyEventTypesRequest request;
  for (const auto& f : *files) *request.add_files() = f;
  absl::Status first_error;
  for (const std::string& tenant : tenants_) {
    auto applied = core_->ApplyEventTypes(InProcessCall(tenant), request);
    if (applied.ok()) {
      LogInfo("catalogue applied", {{"tenant", tenant}, {"dir", dir_}, {"version", std::to_string(applied->version)}});
    } else {
      LogError("catalogue rejected; the current registry stays in force",
               {{"tenant", tenant}, {"dir", dir_}, {"error", std::string(applied.status().message())}});
      if (first_error.ok()) first_error = applied.status();
    }
  }
  if (first_error.ok()) applied_digest_ = digest;
  return first_error;
}

}  // namespace perfflow::event
