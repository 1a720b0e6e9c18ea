// Dataset terms: the encoding round-trips and is refused when damaged or out of shape, ids follow
// the terms, and the team/kind check allows exactly what the terms say.
#include "plume/data/terms.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "plume/data/limits.h"

namespace plume::data {
namespace {

Terms Sample() {
  Terms t;
  t.owner = Identity::Generate().public_key();
  t.name = "shakespeare";
  t.blob_hash = Blake2b256(std::string_view("ciphertext"));
  t.bytes = 1000;
  t.tokens = 1000;
  t.encrypted = true;
  t.key_service = "tcp://127.0.0.1:7700";
  t.kinds = static_cast<uint8_t>(JobKind::kTrain);
  t.teams = {Identity::Generate().public_key(), Identity::Generate().public_key()};
  std::sort(t.teams.begin(), t.teams.end());
  t.royalty_micro_plume_per_mtoken = 2500;
  return t;
}

TEST(Terms, RoundTripsAndIdFollowsEveryField) {
  const Terms t = Sample();
  auto back = DecodeTerms(EncodeTerms(t));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, t);
  const std::string id = DatasetId(t);
  EXPECT_TRUE(IsDatasetId(id));
  EXPECT_EQ(DatasetId(*back), id);
  Terms other = t;
  other.royalty_micro_plume_per_mtoken += 1;
  EXPECT_NE(DatasetId(other), id);
  EXPECT_FALSE(IsDatasetId(id.substr(1)));
  EXPECT_FALSE(IsDatasetId(std::string(32, 'G')));
}

TEST(Terms, DecodeRefusesEveryTruncationAndTrailingBytes) {
  const std::vector<uint8_t> bytes = EncodeTerms(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeTerms(std::span(bytes.data(), n)).has_value()) << n;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(DecodeTerms(longer).has_value());
}

TEST(Terms, ShapeProblemsAreNamed) {
  const auto problem = [](auto change) {
    Terms t = Sample();
    change(t);
    return TermsProblem(t);
  };
  EXPECT_EQ(problem([](Terms&) {}), "");
  EXPECT_NE(problem([](Terms& t) { t.name = ""; }), "");
  EXPECT_NE(problem([](Terms& t) { t.name = "tab\there"; }), "");
  EXPECT_NE(problem([](Terms& t) { t.tokens = 0; }), "");
  EXPECT_NE(problem([](Terms& t) { t.key_service.clear(); }), "");  // encrypted needs one
  EXPECT_NE(problem([](Terms& t) { t.encrypted = false; }), "");    // clear must not name one
  EXPECT_NE(problem([](Terms& t) { t.kinds = 0; }), "");
  EXPECT_NE(problem([](Terms& t) { t.kinds = 4; }), "");
  EXPECT_NE(problem([](Terms& t) { t.any_team = true; }), "");  // any team and a list
  EXPECT_NE(problem([](Terms& t) { t.teams.clear(); }), "");    // neither
  EXPECT_NE(problem([](Terms& t) { std::swap(t.teams[0], t.teams[1]); }), "");
  EXPECT_NE(problem([](Terms& t) { t.teams[1] = t.teams[0]; }), "");
  EXPECT_NE(problem([](Terms& t) { t.royalty_micro_plume_per_mtoken = 1ULL << 62; }), "");
  // Too many teams does not even decode.
  Terms many = Sample();
  many.teams.resize(kTermsTeamsMax + 1);
  for (size_t i = 0; i < many.teams.size(); ++i) {
    many.teams[i][0] = static_cast<uint8_t>(i >> 8);
    many.teams[i][1] = static_cast<uint8_t>(i);
  }
  EXPECT_NE(TermsProblem(many), "");
  EXPECT_FALSE(DecodeTerms(EncodeTerms(many)).has_value());
}

TEST(Terms, AllowsListedTeamsAndKindsOnly) {
  Terms t = Sample();
  const PublicKey outsider = Identity::Generate().public_key();
  EXPECT_EQ(Allows(t, t.teams[0], JobKind::kTrain), Refusal::kNone);
  EXPECT_EQ(Allows(t, t.teams[1], JobKind::kTrain), Refusal::kNone);
  EXPECT_EQ(Allows(t, outsider, JobKind::kTrain), Refusal::kTeamNotAllowed);
  EXPECT_EQ(Allows(t, t.teams[0], JobKind::kEvaluate), Refusal::kKindNotAllowed);
  t.any_team = true;
  t.teams.clear();
  t.kinds = kAllJobKinds;
  EXPECT_EQ(Allows(t, outsider, JobKind::kTrain), Refusal::kNone);
  EXPECT_EQ(Allows(t, outsider, JobKind::kEvaluate), Refusal::kNone);
}

}  // namespace
}  // namespace plume::data
