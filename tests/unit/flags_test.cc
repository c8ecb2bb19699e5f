#include "common/flags.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace perfflow {
namespace {

struct Parsed {
  int port = 50051;
  std::string db = "sqlite:x.db";
  bool dev = false;
};

absl::Status Parse(std::vector<const char*> args, Parsed& p, bool* help = nullptr) {
  FlagSet flags("prog", "test");
  flags.AddInt("grpc_port", &p.port, "port");
  flags.AddString("db", &p.db, "db");
  flags.AddBool("dev_mode", &p.dev, "dev");
  args.insert(args.begin(), "prog");
  bool h = false;
  absl::Status s = flags.Parse(static_cast<int>(args.size()), args.data(), &h);
  if (help) *help = h;
  return s;
}

TEST(FlagsTest, ParsesBothForms) {
  Parsed p;
  ASSERT_TRUE(Parse({"--grpc_port=0", "--db", "mysql://u@h:1/s", "--dev_mode"}, p).ok());
  EXPECT_EQ(p.port, 0);
  EXPECT_EQ(p.db, "mysql://u@h:1/s");
  EXPECT_TRUE(p.dev);
}

TEST(FlagsTest, RejectsUnknownAndMalformed) {
  Parsed p;
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"--nope=1"}, p)));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"--grpc_port=abc"}, p)));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"--dev_mode=maybe"}, p)));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"--db"}, p)));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"positional"}, p)));
}

TEST(FlagsTest, EnvironmentIsFallbackAndCommandLineWins) {
  setenv("PERFFLOW_GRPC_PORT", "7000", 1);
  Parsed p;
  ASSERT_TRUE(Parse({}, p).ok());
  EXPECT_EQ(p.port, 7000);
  ASSERT_TRUE(Parse({"--grpc_port=8000"}, p).ok());
  EXPECT_EQ(p.port, 8000);
  unsetenv("PERFFLOW_GRPC_PORT");
}

TEST(FlagsTest, CommandLinesStopAtTheFirstNonFlag) {
  Parsed p;
  FlagSet flags("prog", "test");
  flags.AddString("db", &p.db, "db");
  flags.AddBool("dev_mode", &p.dev, "dev");
  std::vector<const char*> args = {"prog", "--dev_mode", "--db", "x.db", "apply", "--not-a-flag", "dir"};
  std::vector<std::string> rest;
  bool help = false;
  ASSERT_TRUE(flags.Parse(static_cast<int>(args.size()), args.data(), &help, &rest).ok());
  EXPECT_TRUE(p.dev);
  EXPECT_EQ(p.db, "x.db");
  EXPECT_EQ(rest, (std::vector<std::string>{"apply", "--not-a-flag", "dir"}));
}

TEST(FlagsTest, HelpIsReportedAndUsageListsFlags) {
  Parsed p;
  bool help = false;
  ASSERT_TRUE(Parse({"--help"}, p, &help).ok());
  EXPECT_TRUE(help);
  FlagSet flags("prog", "summary");
  flags.AddInt("grpc_port", &p.port, "the port");
  EXPECT_NE(flags.Usage().find("--grpc_port (env PERFFLOW_GRPC_PORT, default: \"50051\")"), std::string::npos);
}

}  // namespace
}  // namespace perfflow
