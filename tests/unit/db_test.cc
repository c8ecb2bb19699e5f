// The SQL layer's helpers that need no database.

#include <utility>
#include <vector>

#include "common/db/database.h"
#include "gtest/gtest.h"

namespace perfflow::db {
namespace {

using Runs = std::vector<std::pair<size_t, size_t>>;

TEST(PlaceholdersTest, OneMarkPerParameterCommaSeparated) {
  EXPECT_EQ(Placeholders(0), "");
  EXPECT_EQ(Placeholders(1), "?");
  EXPECT_EQ(Placeholders(3), "?,?,?");
}

TEST(ChunksTest, LargestRunsFirstCoveringEveryItemOnce) {
  EXPECT_EQ(Chunks(0), Runs{});
  EXPECT_EQ(Chunks(1), (Runs{{0, 1}}));
  EXPECT_EQ(Chunks(3), (Runs{{0, 3}}));
  EXPECT_EQ(Chunks(7), (Runs{{0, 7}}));
  EXPECT_EQ(Chunks(64), (Runs{{0, 64}}));
  EXPECT_EQ(Chunks(150), (Runs{{0, 64}, {64, 64}, {128, 16}, {144, 6}}));
  // At most eleven statement shapes whatever the size.
  for (size_t n = 0; n <= 500; ++n) {
    size_t next = 0;
    for (const auto& [begin, count] : Chunks(n)) {
      EXPECT_EQ(begin, next);
      EXPECT_TRUE(count == 64 || count == 32 || count == 16 || count == 8 || (count >= 1 && count <= 7));
      next += count;
    }
    EXPECT_EQ(next, n);
  }
}

}  // namespace
}  // namespace perfflow::db
