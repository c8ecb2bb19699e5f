#pragma once

// A ZIP archive written as it is built (libarchive), its bytes handed to a
// sink as they come: nothing is held but the entry being added.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct archive;

namespace perfflow::gateway {

class ZipWriter {
 public:
  // `sink` receives the archive's bytes in order; returning false aborts
  // the archive (the next Add or Close fails).
  explicit ZipWriter(std::function<bool(absl::string_view)> sink);
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // One file (deflated), `path` in UTF-8 with '/' separators.
  absl::Status Add(const std::string& path, absl::string_view content, absl::Time modified);
  // Writes the central directory. Call once, after the last Add.
  absl::Status Close();

 private:
  absl::Status Error(absl::string_view what);

  std::function<bool(absl::string_view)> sink_;
  struct archive* archive_;
  bool open_ = false;
};

}  // namespace perfflow::gateway
