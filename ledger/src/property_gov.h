// The governance part of the ledger property test (property_test.cc): a generator of proposal,
// vote, outcome and execution entries, right and wrong, sized from the model state and the
// governance book that the test feeds with every applied entry.
#pragma once

#include <random>
#include <string>

#include "plume/gov/book.h"
#include "plume/ledger/state.h"
#include "test_util.h"

namespace plume::ledger::test {

struct GovPlanned {
  Entry entry;
  Code forced = Code::kOk;  // kOk: the model decides; else the code the entry must get
};

class GovGenerator {
 public:
  GovGenerator(std::mt19937_64& rng, const Cast& cast) : rng_(rng), cast_(cast) {}
  // One governance entry at time now_ms.
  GovPlanned Next(const std::string& id, const State& model, const gov::Book& book,
                  uint64_t now_ms);

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  GovPlanned Propose(const std::string& id, uint64_t now_ms);
  GovPlanned Vote(const std::string& id, const State& model, uint64_t now_ms);
  GovPlanned Outcome(const State& model, const gov::Book& book, uint64_t now_ms);
  GovPlanned Execute(const State& model, const gov::Book& book, uint64_t now_ms);
  // A proposal with an outcome of `passed` (true) or any other (false), if one exists.
  std::string Pick(const State& model, bool open);

  std::mt19937_64& rng_;
  const Cast& cast_;
  int proposals_ = 0;
};

}  // namespace plume::ledger::test
