#pragma once

// Content-addressed blob storage: a blob's name is the SHA-256 of its bytes,
// so identical content is stored once. Writes stream through a temporary file
// and become visible only on Commit (an atomic rename); an aborted or
// destroyed writer leaves nothing behind. Thread-safe.

#include <cstdint>
#include <istream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace perfflow::evidence {

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual absl::Status Append(absl::string_view bytes) = 0;
  virtual int64_t size() const = 0;
  // Lower-case hex SHA-256 of everything appended so far.
  virtual std::string Sha256Hex() = 0;
  // Makes the blob visible under its digest. `created` is false when the
  // same content already existed (the temporary copy is dropped).
  virtual absl::StatusOr<std::string> Commit(bool* created) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> BeginWrite() = 0;
  virtual absl::StatusOr<std::unique_ptr<std::istream>> Open(const std::string& sha256) = 0;
  virtual absl::Status Remove(const std::string& sha256) = 0;
  // The on-disk path (tests tamper with it).
  virtual std::string PathOf(const std::string& sha256) const = 0;
};

// Blobs under root/ab/abcdef...; temporary files under root/tmp/.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root);

// Streaming SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(absl::string_view bytes);
  std::string HexDigest();

 private:
  void* ctx_;
};

}  // namespace perfflow::evidence
