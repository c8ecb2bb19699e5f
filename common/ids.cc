#include "common/ids.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

#include "absl/strings/escaping.h"
#include "common/status.h"

namespace perfflow {
namespace {
constexpr char kTokenPrefix[] = "pf1:";
}

std::string RandomId() {
  // RAND_bytes costs far more per call than per byte (4% of the event
  // service's CPU at one call per id), so each thread draws 64 ids at a time.
  constexpr size_t kIdBytes = 16;
  thread_local unsigned char pool[64 * kIdBytes];
  thread_local size_t used = sizeof pool;
  if (used == sizeof pool) {
    if (RAND_bytes(pool, sizeof pool) != 1) throw std::runtime_error("RAND_bytes failed");
    used = 0;
  }
  std::string id = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(pool + used), kIdBytes));
  OPENSSL_cleanse(pool + used, kIdBytes);  // some ids are key material (dev mode's link keys)
  used += kIdBytes;
  return id;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

absl::StatusOr<std::string> ParseResourceId(const std::string& name, const std::string& collection,
                                            const std::string& field) {
  const std::string prefix = collection + "/";
  bool ok = name.size() == prefix.size() + 32 && name.compare(0, prefix.size(), prefix) == 0;
  for (size_t i = prefix.size(); ok && i < name.size(); ++i) {
    const char c = name[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (!ok) {
    return InvalidArgumentWithViolations(
        "malformed " + collection + " name",
        {{field, "expected " + collection + "/{id} with a 32-character hex id, got '" + Utf8Prefix(name, 80) + "'"}});
  }
  return name.substr(prefix.size());
}

bool IsSha256Hex(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string EncodePageToken(absl::string_view raw) {
  return absl::WebSafeBase64Escape(std::string(kTokenPrefix) + std::string(raw));
}

bool DecodePageToken(absl::string_view token, std::string* raw) {
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(token, &decoded)) return false;
  if (decoded.rfind(kTokenPrefix, 0) != 0) return false;
  *raw = decoded.substr(sizeof(kTokenPrefix) - 1);
  return true;
}

}  // namespace perfflow
