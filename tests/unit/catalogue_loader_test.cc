#include "services/event/catalogue_loader.h"

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

namespace fs = std::filesystem;

TEST(CatalogueLoaderTest, AppliesOnChangeOnlyAndKeepsVersionOnBadFiles) {
  testing::EventWorld w = testing::MakeEventWorld(testing::Backend::kSqlite);
  const fs::path dir = fs::temp_directory_path() / ("perfflow-catalogue-" + RandomId());
  fs::create_directories(dir);
  const auto catalogue = testing::CatalogueRequest();
  for (const auto& f : catalogue.files()) std::ofstream(dir / f.name()) << f.content();
  CatalogueLoader loader(w.core, dir.string(), {testing::kTenant, "fresh"});

  ASSERT_TRUE(loader.Poll().ok());
  EXPECT_EQ(*w.store->LatestRegistryVersion(testing::kTenant), 1);  // same content as the fixture's apply
  EXPECT_EQ(*w.store->LatestRegistryVersion("fresh"), 1);
  ASSERT_TRUE(loader.Poll().ok());
  EXPECT_EQ(*w.store->LatestRegistryVersion("fresh"), 1);

  std::ofstream(dir / "99-extra.yaml") << "kind: Library\nkey: regions\nvalues: [north, south]\n";
  ASSERT_TRUE(loader.Poll().ok());
  EXPECT_EQ(*w.store->LatestRegistryVersion("fresh"), 2);

  std::ofstream(dir / "99-extra.yaml") << "kind: Library\nkey: regions\nvalues: [north, north]\n";
  absl::Status bad = loader.Poll();
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_EQ(*w.store->LatestRegistryVersion("fresh"), 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace perfflow::event
