// The DiLoCo outer step (plume/scheduler/outer_step.h) on numbers worked by hand: a weighted
// average of two deltas, the Nesterov step from zero momentum, then a second step that reads
// the first one's momentum; and the inputs it refuses.
#include "plume/scheduler/outer_step.h"

#include <gtest/gtest.h>

#include <vector>

namespace plume::scheduler {
namespace {

TEST(OuterStep, WeightedAverageThenNesterovFromZeroMomentum) {
  OuterStep step(2);
  // avg = (1 * [0.5, -1] + 3 * [1.5, 1]) / 4 = [1.25, 0.5]; g = -avg; m = g (round 0).
  ASSERT_TRUE(step.AddDelta(std::vector<float>{0.5f, -1.0f}, 1));
  ASSERT_TRUE(step.AddDelta(std::vector<float>{1.5f, 1.0f}, 3));
  EXPECT_EQ(step.deltas(), 2u);
  auto r = step.Finish(std::vector<float>{1.0f, 2.0f}, {}, 0.7, 0.9);
  ASSERT_TRUE(r) << r.error().message;
  // theta - lr * (g + mu * m) = theta + 0.7 * 1.9 * avg
  EXPECT_FLOAT_EQ(r->params[0], 1.0f + 0.7f * 1.9f * 1.25f);
  EXPECT_FLOAT_EQ(r->params[1], 2.0f + 0.7f * 1.9f * 0.5f);
  EXPECT_FLOAT_EQ(r->momentum[0], -1.25f);
  EXPECT_FLOAT_EQ(r->momentum[1], -0.5f);

  // Round 1 with the same delta: m = 0.9 * m_0 + g.
  OuterStep next(2);
  ASSERT_TRUE(next.AddDelta(std::vector<float>{1.0f, 0.0f}, 5));
  auto r1 = next.Finish(r->params, r->momentum, 0.7, 0.9);
  ASSERT_TRUE(r1);
  const double m0 = 0.9 * -1.25 - 1.0;
  EXPECT_FLOAT_EQ(r1->momentum[0], static_cast<float>(m0));
  EXPECT_FLOAT_EQ(r1->params[0], static_cast<float>(r->params[0] - 0.7 * (-1.0 + 0.9 * m0)));
  EXPECT_FLOAT_EQ(r1->params[1], r->params[1] - 0.7f * (0.9f * 0.9f * -0.5f));
}

TEST(OuterStep, SameInputsSameBits) {
  auto run = [] {
    OuterStep s(3);
    EXPECT_TRUE(s.AddDelta(std::vector<float>{0.1f, 0.2f, 0.3f}, 7));
    EXPECT_TRUE(s.AddDelta(std::vector<float>{-0.3f, 0.25f, 1e-7f}, 11));
    return s.Finish(std::vector<float>{1e-3f, -2.5f, 3.25f}, std::vector<float>{0.5f, 0, -1}, 0.7,
                    0.9);
  };
  auto a = run(), b = run();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->params, b->params);
  EXPECT_EQ(a->momentum, b->momentum);
}

TEST(OuterStep, RefusesWhatItCannotCombine) {
  OuterStep step(2);
  EXPECT_FALSE(step.Finish(std::vector<float>{1, 2}, {}, 0.7, 0.9));  // no deltas
  EXPECT_FALSE(step.AddDelta(std::vector<float>{1, 2, 3}, 1));        // wrong size
  ASSERT_TRUE(step.AddDelta(std::vector<float>{1, 2}, 0));
  EXPECT_FALSE(step.Finish(std::vector<float>{1, 2}, {}, 0.7, 0.9));  // zero total weight
  ASSERT_TRUE(step.AddDelta(std::vector<float>{1, 2}, 1));
  EXPECT_FALSE(step.Finish(std::vector<float>{1}, {}, 0.7, 0.9));  // theta size
  EXPECT_FALSE(step.Finish(std::vector<float>{1, 2}, std::vector<float>{1}, 0.7, 0.9));
  EXPECT_TRUE(step.Finish(std::vector<float>{1, 2}, {}, 0.7, 0.9));
}

}  // namespace
}  // namespace plume::scheduler
