#include "services/evidence/blob_store.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"

namespace perfflow::evidence {
namespace {

namespace fs = std::filesystem;

class FileBlobWriter : public BlobWriter {
 public:
  FileBlobWriter(fs::path tmp, fs::path root)
      : tmp_(std::move(tmp)), root_(std::move(root)), out_(tmp_, std::ios::binary) {}
  ~FileBlobWriter() override {
    if (!committed_) {
      out_.close();
      std::error_code ec;
      fs::remove(tmp_, ec);
    }
  }

  bool ok() const { return out_.good(); }

  absl::Status Append(absl::string_view bytes) override {
    out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out_) return absl::UnavailableError("blob store write failed (disk full?)");
    hash_.Update(bytes);
    size_ += static_cast<int64_t>(bytes.size());
    return absl::OkStatus();
  }

  int64_t size() const override { return size_; }

  std::string Sha256Hex() override {
    if (digest_.empty()) digest_ = hash_.HexDigest();
    return digest_;
  }

  absl::StatusOr<std::string> Commit(bool* created) override {
    out_.flush();
    out_.close();
    if (!out_) return absl::UnavailableError("blob store write failed");
    const std::string digest = Sha256Hex();
    const fs::path dir = root_ / digest.substr(0, 2);
    const fs::path final_path = dir / digest;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::UnavailableError("blob store: cannot create directory: " + ec.message());
    *created = !fs::exists(final_path, ec);
    if (*created) {
      fs::rename(tmp_, final_path, ec);
      if (ec) return absl::UnavailableError("blob store: cannot move blob into place: " + ec.message());
    } else {
      fs::remove(tmp_, ec);
    }
    committed_ = true;
    return digest;
  }

 private:
  fs::path tmp_;
  fs::path root_;
  std::ofstream out_;
  Sha256 hash_;
  std::string digest_;
  int64_t size_ = 0;
  bool committed_ = false;
};

class FileBlobStore : public BlobStore {
 public:
  explicit FileBlobStore(fs::path root) : root_(std::move(root)) {}

  absl::StatusOr<std::unique_ptr<BlobWriter>> BeginWrite() override {
    auto writer = std::make_unique<FileBlobWriter>(root_ / "tmp" / (RandomId() + ".part"), root_);
    if (!writer->ok()) return absl::UnavailableError("blob store: cannot create a temporary file");
    return std::unique_ptr<BlobWriter>(std::move(writer));
  }

  absl::StatusOr<std::unique_ptr<std::istream>> Open(const std::string& sha256) override {
    if (!IsSha256Hex(sha256)) return absl::InvalidArgumentError("not a blob digest");
    auto in = std::make_unique<std::ifstream>(PathOf(sha256), std::ios::binary);
    if (!*in) return absl::NotFoundError("blob " + sha256 + " is missing from the store");
    return std::unique_ptr<std::istream>(std::move(in));
  }

  absl::Status Remove(const std::string& sha256) override {
    if (!IsSha256Hex(sha256)) return absl::InvalidArgumentError("not a blob digest");
    std::error_code ec;
    fs::remove(PathOf(sha256), ec);
    return ec ? absl::UnavailableError("blob store: cannot remove blob") : absl::OkStatus();
  }

  std::string PathOf(const std::string& sha256) const override {
    return (root_ / sha256.substr(0, 2) / sha256).string();
  }

 private:
  fs::path root_;
};

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr); }

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(absl::string_view bytes) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size());
}

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), len));
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root) {
  std::error_code ec;
  fs::create_directories(fs::path(root) / "tmp", ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create blob directory ", root, ": ", ec.message()));
  return std::unique_ptr<BlobStore>(new FileBlobStore(root));
}

}  // namespace perfflow::evidence
