#include "services/evidence/sniff.h"

#include "gtest/gtest.h"

namespace perfflow::evidence {
namespace {

TEST(SniffTest, RecognisesMagicBytes) {
  EXPECT_EQ(SniffFamily("%PDF-1.7\n..."), "pdf");
  EXPECT_EQ(SniffFamily(std::string("\x89PNG\r\n\x1a\n\0\0", 10)), "png");
  EXPECT_EQ(SniffFamily(std::string("\xFF\xD8\xFF\xE0\0\x10JFIF", 10)), "jpeg");
  EXPECT_EQ(SniffFamily("GIF89a..."), "gif");
  EXPECT_EQ(SniffFamily(std::string("PK\x03\x04\x14\0", 6)), "zip");
  EXPECT_EQ(SniffFamily("stage,started\nconcept,2026-01-02\n"), "text");
  EXPECT_EQ(SniffFamily("{\"a\": \"中文\"}"), "text");
  EXPECT_EQ(SniffFamily(std::string("\x00\x01\x02\x03", 4)), "binary");
  EXPECT_EQ(SniffFamily("\xC3\x28 invalid utf-8"), "binary");
  EXPECT_EQ(SniffFamily(""), "binary");
}

TEST(SniffTest, TextCutInsideAMultiByteCharacterIsStillText) {
  std::string s = "负责人";
  EXPECT_EQ(SniffFamily(s.substr(0, s.size() - 1)), "text");
}

TEST(SniffTest, PdfsEndWithTheirTrailer) {
  EXPECT_TRUE(HasPdfTrailer("%PDF-1.7\n...\n%%EOF\n"));
  EXPECT_TRUE(HasPdfTrailer(std::string(5000, 'x') + "%%EOF" + std::string(1000, '\n')));
  // "%PDF-" glued to an executable: no trailer where a reader looks for it.
  EXPECT_FALSE(HasPdfTrailer(std::string("%PDF-1.7\n\x7f"
                                         "ELF\x02\x01\x01",
                                         16) +
                             std::string(4000, '\0')));
  EXPECT_FALSE(HasPdfTrailer("%%EOF" + std::string(1100, 'x')));
}

TEST(SniffTest, DeclaredTypesMapToFamilies) {
  EXPECT_EQ(FamilyOf("application/pdf"), "pdf");
  EXPECT_EQ(FamilyOf("image/jpeg"), "jpeg");
  EXPECT_EQ(FamilyOf("text/csv; charset=utf-8"), "text");
  EXPECT_EQ(FamilyOf("application/json"), "text");
  EXPECT_EQ(FamilyOf("message/rfc822"), "text");
  EXPECT_EQ(FamilyOf("application/vnd.openxmlformats-officedocument.wordprocessingml.document"), "zip");
  EXPECT_EQ(FamilyOf("application/x-unknown"), "");
}

}  // namespace
}  // namespace perfflow::evidence
