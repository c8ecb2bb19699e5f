#include "gateway/zip_writer.h"

#include <archive.h>
#include <archive_entry.h>

#include "absl/strings/str_cat.h"

namespace perfflow::gateway {
namespace {

la_ssize_t WriteToSink(struct archive*, void* self, const void* buffer, size_t length) {
  auto* sink = static_cast<std::function<bool(absl::string_view)>*>(self);
  if (!(*sink)(absl::string_view(static_cast<const char*>(buffer), length))) return -1;
  return static_cast<la_ssize_t>(length);
}

}  // namespace

ZipWriter::ZipWriter(std::function<bool(absl::string_view)> sink)
    : sink_(std::move(sink)), archive_(archive_write_new()) {
  archive_write_set_format_zip(archive_);
  (void)archive_write_set_options(archive_, "hdrcharset=UTF-8");
  // Unblocked, unpadded: the bytes go to the sink as written.
  archive_write_set_bytes_per_block(archive_, 0);
  archive_write_set_bytes_in_last_block(archive_, 1);
  open_ = archive_write_open(archive_, &sink_, nullptr, WriteToSink, nullptr) == ARCHIVE_OK;
}

ZipWriter::~ZipWriter() { archive_write_free(archive_); }

absl::Status ZipWriter::Error(absl::string_view what) {
  const char* detail = archive_error_string(archive_);
  return absl::UnavailableError(absl::StrCat("archive: ", what, detail != nullptr ? absl::StrCat(": ", detail) : ""));
}

absl::Status ZipWriter::Add(const std::string& path, absl::string_view content, absl::Time modified) {
  if (!open_) return Error("not open");
  struct archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname_utf8(entry, path.c_str());
  archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_perm(entry, 0644);
  archive_entry_set_mtime(entry, absl::ToUnixSeconds(modified), 0);
  const int header = archive_write_header(archive_, entry);
  archive_entry_free(entry);
  if (header != ARCHIVE_OK) return Error("cannot add " + path);
  size_t at = 0;
  while (at < content.size()) {
    const la_ssize_t n = archive_write_data(archive_, content.data() + at, content.size() - at);
    if (n <= 0) return Error("cannot write " + path);
    at += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ZipWriter::Close() {
  if (!open_) return Error("not open");
  open_ = false;
  if (archive_write_close(archive_) != ARCHIVE_OK) return Error("cannot finish");
  return absl::OkStatus();
}

}  // namespace perfflow::gateway
