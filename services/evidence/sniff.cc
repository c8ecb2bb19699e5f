#include "services/evidence/sniff.h"

#include "absl/strings/match.h"

namespace perfflow::evidence {
namespace {

// Valid UTF-8 with no NUL; a multi-byte sequence cut at the end of `head` is fine.
bool LooksLikeText(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (extra < 0) return false;
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) return true;
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

std::string SniffFamily(absl::string_view head) {
  if (absl::StartsWith(head, "%PDF-")) return "pdf";
  if (absl::StartsWith(head, absl::string_view("\x89PNG\r\n\x1a\n", 8))) return "png";
  if (absl::StartsWith(head, absl::string_view("\xFF\xD8\xFF", 3))) return "jpeg";
  if (absl::StartsWith(head, "GIF87a") || absl::StartsWith(head, "GIF89a")) return "gif";
  if (absl::StartsWith(head, absl::string_view("PK\x03\x04", 4))) return "zip";
  if (!head.empty() && LooksLikeText(head)) return "text";
  return "binary";
}

std::string FamilyOf(const std::string& content_type) {
  const std::string t = content_type.substr(0, content_type.find(';'));
  if (t == "application/pdf") return "pdf";
  if (t == "image/png") return "png";
  if (t == "image/jpeg") return "jpeg";
  if (t == "image/gif") return "gif";
  if (t == "application/zip" || absl::StartsWith(t, "application/vnd.openxmlformats-officedocument.")) return "zip";
  if (absl::StartsWith(t, "text/") || t == "application/json" || t == "message/rfc822") return "text";
  if (t == "application/octet-stream") return "binary";
  return "";
}

bool HasPdfTrailer(absl::string_view tail) {
  if (tail.size() > kPdfTrailerBytes) tail = tail.substr(tail.size() - kPdfTrailerBytes);
  return tail.find("%%EOF") != absl::string_view::npos;
}

}  // namespace perfflow::evidence
