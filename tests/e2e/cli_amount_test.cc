// Amounts typed on the command line (cli/src/plume_amount.h): PLUME with up to six decimals into
// exact micro-PLUME, never through floating point; everything else refused with a message.
#include "plume_amount.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace plume::cli {
namespace {

TEST(CliAmount, ExactMicroPlume) {
  EXPECT_EQ(*ParsePlumeAmount("1"), 1'000'000);
  EXPECT_EQ(*ParsePlumeAmount("0.5"), 500'000);
  EXPECT_EQ(*ParsePlumeAmount("0.000001"), 1);
  EXPECT_EQ(*ParsePlumeAmount("12.345678"), 12'345'678);
  EXPECT_EQ(*ParsePlumeAmount("0.1"), 100'000);  // as a double, 0.1 * 1e6 is 99999.99..
  EXPECT_EQ(*ParsePlumeAmount("0.29"), 290'000);  // as a double, 0.29 * 1e6 truncates to 289999
  EXPECT_EQ(*ParsePlumeAmount("007"), 7'000'000);
  EXPECT_EQ(*ParsePlumeAmount("9223372036854.775807"), std::numeric_limits<int64_t>::max());
}

TEST(CliAmount, RefusesWhatIsNotAPositiveDecimal) {
  for (const char* bad : {"", "0", "0.0", "0.000000", "-1", "+1", "1e6", "1.", ".5", " 1", "1 ",
                          "1.0000001", "0x10", "1,5", "one", "1.2.3", "nan", "inf",
                          "9223372036854.775808", "99999999999999999999"}) {
    auto r = ParsePlumeAmount(bad);
    EXPECT_FALSE(r) << "'" << bad << "' parsed as " << (r ? *r : 0);
    if (!r) {
      EXPECT_NE(r.error().message.find("PLUME"), std::string::npos) << r.error().message;
    }
  }
}

TEST(CliAmount, TextIsExact) {
  EXPECT_EQ(PlumeText(1'500'000), "1.5 PLUME");
  EXPECT_EQ(PlumeText(1), "0.000001 PLUME");
  EXPECT_EQ(PlumeText(7'000'000), "7 PLUME");
  EXPECT_EQ(PlumeText(-250'000), "-0.25 PLUME");
  EXPECT_EQ(PlumeText(0), "0 PLUME");
  EXPECT_EQ(PlumeText(std::numeric_limits<int64_t>::min()), "-9223372036854.775808 PLUME");
}

}  // namespace
}  // namespace plume::cli
