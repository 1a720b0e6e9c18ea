// A published dataset as the ledger proves it (cmd_data.cc), for `plume data show` and for
// `plume submit --dataset`, which names the dataset's blob in the job.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "net_client.h"
#include "plume/data/terms.h"

namespace plume::cli {

struct PublishedDataset {
  data::Terms terms;
  bool revoked = false;
};
// The terms of `dataset` with their inclusion proven against a head signed by `trusted`, and
// whether a revoke is in the ledger; fails the command (exit 1) when it is not published.
PublishedDataset PublishedOrFail(NetClient& client, const PublicKey& trusted,
                                 const std::string& dataset);

// `plume data serve` (cmd_data_serve.cc), registered under `plume data`.
void RegisterDataServe(CLI::App* data);

}  // namespace plume::cli
