// Known answers for the brief's fairness check (p-values computed exactly
// with rational arithmetic outside this code).

#include "services/calibration/fairness.h"

#include "gtest/gtest.h"

namespace perfflow::calibration {
namespace {

namespace ev1 = perfflow::event::v1;

ev1::Employee Person(const std::string& id, const std::string& department, const std::string& manager,
                     const std::string& grade, const std::string& gender) {
  ev1::Employee e;
  e.set_id(id);
  e.set_display_name("Name of " + id);
  e.set_department_id(department);
  e.set_manager_id(manager);
  e.set_grade(grade);
  (*e.mutable_attributes())["gender"] = gender;
  return e;
}

// a1..a3 in assembly under m1 (P3, f); b1..b3 in bench under m2 (P4, m).
FairnessInput Cohort() {
  FairnessInput in;
  for (int i = 1; i <= 3; ++i) {
    in.members.push_back(Person("a" + std::to_string(i), "assembly", "m1", "P3", "f"));
    in.members.push_back(Person("b" + std::to_string(i), "bench", "m2", "P4", "m"));
  }
  in.department_names = {{"assembly", "Assembly"}, {"bench", "Bench"}};
  in.people_names = {{"m1", "Ma Li"}, {"m2", "Mo Wu"}};
  return in;
}

void Verdicts(FairnessInput& in, const std::string& subject, const std::string& type, int n, int meets) {
  in.verdicts.push_back({subject, type, n, meets});
}

const v1::FairnessGroup* Find(const google::protobuf::RepeatedPtrField<v1::FairnessGroup>& groups,
                              const std::string& dimension, const std::string& group) {
  for (const auto& g : groups) {
    if (g.dimension() == dimension && g.group() == group) return &g;
  }
  return nullptr;
}

TEST(FairnessTest, DepartmentsThatDifferAreFlaggedWithExactPValues) {
  FairnessInput in = Cohort();
  Verdicts(in, "a1", "t1", 10, 9);  // assembly: 9 of 10 meet
  Verdicts(in, "b1", "t1", 10, 2);  // bench: 2 of 10
  const v1::Fairness f = CheckFairness(in);
  const v1::FairnessGroup* assembly = Find(f.verdicts(), "department", "assembly");
  ASSERT_NE(assembly, nullptr);
  EXPECT_EQ(assembly->group_name(), "Assembly");
  EXPECT_EQ(assembly->verdicts(), 10);
  EXPECT_EQ(assembly->meets(), 9);
  EXPECT_EQ(assembly->rest_verdicts(), 10);
  EXPECT_EQ(assembly->rest_meets(), 2);
  EXPECT_NEAR(assembly->p_value(), 0.0054774946, 1e-9);               // Fisher [[9, 1], [2, 8]]
  EXPECT_NEAR(assembly->adjusted_p_value(), 2 * 0.0054774946, 1e-9);  // Holm over the two departments
  EXPECT_TRUE(assembly->flagged());
  // The protected attribute splits the cohort the same way here.
  const v1::FairnessGroup* women = Find(f.verdicts(), "attribute:gender", "f");
  EXPECT_EQ(women, nullptr) << "gender is not declared protected";
  in.protected_attributes = {"gender"};
  const v1::Fairness with_gender = CheckFairness(in);
  women = Find(with_gender.verdicts(), "attribute:gender", "f");
  ASSERT_NE(women, nullptr);
  EXPECT_NEAR(women->p_value(), 0.0054774946, 1e-9);
  EXPECT_TRUE(women->flagged());
}

TEST(FairnessTest, AManagerIsComparedWithPeersReviewingTheSameEventTypes) {
  FairnessInput in = Cohort();
  // m1 reviews only t1: 1 of 6 meet. m2 reviews t1 (6 of 6 meet) and many t2 (0 of 20).
  Verdicts(in, "a1", "t1", 6, 1);
  Verdicts(in, "b1", "t1", 6, 6);
  Verdicts(in, "b2", "t2", 20, 0);
  const v1::Fairness f = CheckFairness(in);
  const v1::FairnessGroup* m1 = Find(f.verdicts(), "manager", "m1");
  ASSERT_NE(m1, nullptr);
  EXPECT_EQ(m1->group_name(), "Ma Li");
  EXPECT_EQ(m1->rest_verdicts(), 6) << "only m2's t1 verdicts";
  EXPECT_EQ(m1->rest_meets(), 6);
  EXPECT_NEAR(m1->p_value(), 0.0151515152, 1e-9);  // Fisher [[1, 5], [6, 0]]
  EXPECT_NEAR(m1->adjusted_p_value(), 0.0303030303, 1e-9);
  EXPECT_TRUE(m1->flagged());
  const v1::FairnessGroup* m2 = Find(f.verdicts(), "manager", "m2");
  ASSERT_NE(m2, nullptr);
  EXPECT_NEAR(m2->p_value(), 1.0, 1e-9);  // [[6, 20], [1, 5]]
  EXPECT_FALSE(m2->flagged());
  // The same people by department, without matching event types: 1/6 against 6/26 tells nothing.
  const v1::FairnessGroup* assembly = Find(f.verdicts(), "department", "assembly");
  ASSERT_NE(assembly, nullptr);
  EXPECT_NEAR(assembly->p_value(), 1.0, 1e-9);
  EXPECT_FALSE(assembly->flagged());
}

TEST(FairnessTest, SmallGroupsAreWithheldNotShown) {
  FairnessInput in = Cohort();
  Verdicts(in, "a1", "t1", 4, 0);  // four verdicts: under the minimum of 5
  Verdicts(in, "b1", "t1", 10, 10);
  const v1::Fairness f = CheckFairness(in);
  EXPECT_EQ(f.min_group(), 5);
  EXPECT_EQ(Find(f.verdicts(), "department", "assembly"), nullptr);
  EXPECT_EQ(Find(f.verdicts(), "department", "bench"), nullptr) << "its rest is the small group";
  EXPECT_EQ(f.verdicts_size(), 0);
  EXPECT_GT(f.withheld_groups(), 0);
}

TEST(FairnessTest, RatingMixesThatDifferAreFlagged) {
  FairnessInput in;
  for (int i = 0; i < 15; ++i) {
    const bool assembly = i < 5;
    in.members.push_back(Person("p" + std::to_string(i), assembly ? "assembly" : "bench", "m" + std::to_string(i % 3),
                                "P4", i % 2 ? "f" : "m"));
    in.ratings["p" + std::to_string(i)] = assembly ? "A" : "C";
  }
  const v1::Fairness f = CheckFairness(in);
  const v1::FairnessGroup* assembly = Find(f.ratings(), "department", "assembly");
  ASSERT_NE(assembly, nullptr);
  EXPECT_EQ(assembly->rated(), 5);
  EXPECT_EQ(assembly->ratings().at("A"), 5);
  EXPECT_LT(assembly->p_value(), 0.002);  // 1 labelling in C(15, 5) = 3003 is as extreme
  EXPECT_TRUE(assembly->flagged());
  // Every grade is P4: one group with no rest, nothing to test.
  EXPECT_EQ(Find(f.ratings(), "grade", "P4"), nullptr);
}

}  // namespace
}  // namespace perfflow::calibration
