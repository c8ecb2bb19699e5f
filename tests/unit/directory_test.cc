#include "services/event/directory.h"

#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

bool Names(const std::vector<FieldViolation>& vs, const std::string& field, const std::string& text) {
  for (const auto& v : vs) {
    if (v.field == field && v.description.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(DirectoryTest, SmallOrgIsValid) {
  auto vs = ValidateDirectoryBatch(testing::SmallOrg(), {});
  for (const auto& v : vs) ADD_FAILURE() << v.field << ": " << v.description;
}

TEST(DirectoryTest, UnknownManagerIsNamed) {
  v1::UpsertDirectoryRequest batch = testing::SmallOrg();
  batch.mutable_employees(7)->set_manager_id("ghost");
  EXPECT_TRUE(Names(ValidateDirectoryBatch(batch, {}), "employees[7].manager_id", "unknown manager 'ghost'"));
}

TEST(DirectoryTest, LanguageIsZhEnOrEmpty) {
  v1::UpsertDirectoryRequest batch = testing::SmallOrg();
  batch.mutable_employees(7)->set_language("en");
  batch.mutable_employees(8)->set_language("zh");
  EXPECT_TRUE(ValidateDirectoryBatch(batch, {}).empty());
  batch.mutable_employees(7)->set_language("fr");
  EXPECT_TRUE(Names(ValidateDirectoryBatch(batch, {}), "employees[7].language", "zh, en or empty"));
}

TEST(DirectoryTest, ManagerKnownFromStoreIsAccepted) {
  v1::UpsertDirectoryRequest batch;
  auto* e = batch.add_employees();
  e->set_id("new1");
  e->set_display_name("New");
  e->set_department_id("sales");
  e->set_manager_id("s-head");
  DirectorySnapshot existing{{{"s-head", "ceo"}, {"ceo", ""}}, {"sales"}};
  EXPECT_TRUE(ValidateDirectoryBatch(batch, existing).empty());
}

TEST(DirectoryTest, DuplicateIdsInBatchAreNamed) {
  v1::UpsertDirectoryRequest batch = testing::SmallOrg();
  *batch.add_employees() = batch.employees(6);
  auto vs = ValidateDirectoryBatch(batch, {});
  EXPECT_TRUE(Names(vs, "employees[" + std::to_string(batch.employees_size() - 1) + "].id", "duplicate id"));
}

TEST(DirectoryTest, ManagerCycleIsDetected) {
  v1::UpsertDirectoryRequest batch = testing::SmallOrg();
  // ceo -> s1 -> s-head -> ceo
  batch.mutable_employees(0)->set_manager_id("s1");
  auto vs = ValidateDirectoryBatch(batch, {});
  bool cycle = false;
  for (const auto& v : vs) cycle |= v.description.find("manager cycle") != std::string::npos;
  EXPECT_TRUE(cycle);
}

TEST(DirectoryTest, CycleThroughStoredEmployeesIsDetected) {
  v1::UpsertDirectoryRequest batch;
  auto* e = batch.add_employees();
  e->set_id("a");
  e->set_display_name("A");
  e->set_department_id("sales");
  e->set_manager_id("b");
  DirectorySnapshot existing{{{"b", "a"}}, {"sales"}};  // b is managed by a
  auto vs = ValidateDirectoryBatch(batch, existing);
  EXPECT_TRUE(Names(vs, "employees[0].manager_id", "manager cycle"));
}

TEST(DirectoryTest, UnknownDepartmentAndBadIdsAreNamed) {
  v1::UpsertDirectoryRequest batch;
  auto* e = batch.add_employees();
  e->set_id("bad id!");
  e->set_display_name("X");
  e->set_department_id("nowhere");
  auto vs = ValidateDirectoryBatch(batch, {});
  EXPECT_TRUE(Names(vs, "employees[0].id", "is not an employee id"));
  EXPECT_TRUE(Names(vs, "employees[0].department_id", "unknown department 'nowhere'"));
}

TEST(DirectoryTest, EmployeeIdsMayBeInAnyScriptButNotControlCharacters) {
  v1::UpsertDirectoryRequest batch;
  batch.add_departments()->set_id("sales");
  batch.mutable_departments(0)->set_name("Sales");
  for (const char* id : {"张伟", "li.lei", "e\x01", "a/b", ""}) {
    auto* e = batch.add_employees();
    e->set_id(id);
    e->set_display_name("X");
    e->set_department_id("sales");
  }
  auto vs = ValidateDirectoryBatch(batch, {});
  EXPECT_FALSE(Names(vs, "employees[0].id", "is not an employee id"));
  EXPECT_FALSE(Names(vs, "employees[1].id", "is not an employee id"));
  EXPECT_TRUE(Names(vs, "employees[2].id", "is not an employee id"));
  EXPECT_TRUE(Names(vs, "employees[3].id", "is not an employee id"));
  EXPECT_TRUE(Names(vs, "employees[4].id", "is not an employee id"));
}

}  // namespace
}  // namespace perfflow::event
