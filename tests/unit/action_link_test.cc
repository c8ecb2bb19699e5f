#include "common/action_link.h"

#include "gtest/gtest.h"

namespace perfflow {
namespace {

const std::string kOld(32, 'o');
const std::string kNew(32, 'n');
const absl::Time kNow = absl::FromUnixSeconds(1780000000);

ActionLink Link() { return {"acme", "0123456789abcdef0123456789abcdef", "张伟", kNow + absl::Hours(72)}; }

TEST(ActionLinkTest, RoundTripsAndIsUrlSafe) {
  auto keys = ActionLinkKeys::Create({kNew});
  ASSERT_TRUE(keys.ok());
  const std::string token = keys->Sign(Link());
  EXPECT_EQ(token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."),
            std::string::npos);
  auto link = keys->Verify(token, kNow);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->tenant, "acme");
  EXPECT_EQ(link->task_id, Link().task_id);
  EXPECT_EQ(link->person, "张伟");
  EXPECT_EQ(link->expires_at, kNow + absl::Hours(72));
}

TEST(ActionLinkTest, ExpiredTamperedAndForeignLinksAreRefused) {
  auto keys = ActionLinkKeys::Create({kNew});
  const std::string token = keys->Sign(Link());
  EXPECT_EQ(keys->Verify(token, kNow + absl::Hours(72)).status().code(), absl::StatusCode::kDeadlineExceeded);
  // Another person's task: change the claims, keep the signature.
  ActionLink other = Link();
  other.person = "e2";
  const std::string forged = keys->Sign(other).substr(0, keys->Sign(other).rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_EQ(keys->Verify(forged, kNow).status().code(), absl::StatusCode::kUnauthenticated);
  auto stranger = ActionLinkKeys::Create({std::string(32, 's')});
  EXPECT_EQ(stranger->Verify(token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
  for (const char* bad : {"", "v1", "v2.a.b", "v1..", "v1.!!.??", "v1.a.b.c"}) {
    EXPECT_EQ(keys->Verify(bad, kNow).status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST(ActionLinkTest, BothKeysVerifyWhileRotating) {
  const std::string old_token = ActionLinkKeys::Create({kOld})->Sign(Link());
  auto rotating = ActionLinkKeys::Create({kNew, kOld});
  ASSERT_TRUE(rotating->Verify(old_token, kNow).ok());
  ASSERT_TRUE(rotating->Verify(rotating->Sign(Link()), kNow).ok());
  // After the rotation the old key's links stop working.
  EXPECT_FALSE(ActionLinkKeys::Create({kNew})->Verify(old_token, kNow).ok());
}

TEST(ActionLinkTest, ShortKeysAreRefused) {
  EXPECT_EQ(ActionLinkKeys::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ActionLinkKeys::Create({kNew, "short"}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace perfflow
