// Shared pieces of the network commands (cmd_net.cc, cmd_net_submit.cc): the connection flags
// every network command takes, failure reporting, and the JSON shape of jobs and nodes that
// `--json` prints (field names are snake_case versions of the schema's; NaN becomes null).
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "net_client.h"

namespace plume::cli {

// Adds --scheduler, --scheduler-id, --key and --json to a network command.
void AddNetFlags(CLI::App* cmd, NetFlags& flags);
// Prints the error to stderr and throws CommandFailed with its exit code.
[[noreturn]] void FailWith(const CliError& error);
// Resolves the flags and connects, or fails the command with a message naming the flag to fix.
std::unique_ptr<NetClient> ConnectOrFail(const NetFlags& flags);

// `plume status --network` (cmd_gov.cc): the network parameters in force, their bounds and the
// proposal that set each (the same as `plume gov params`).
void RunNetworkParams(const NetFlags& flags);

std::string JobStateName(wire::JobState s);
std::string JobKindName(wire::JobKind k);
std::string NodeStateName(wire::NodeState s);
nlohmann::json JobToJson(wire::JobInfo::Reader job);
nlohmann::json NodeToJson(wire::NodeInfo::Reader node);
bool JobFinished(wire::JobState s);
// One human line: "round 2/4 | step 60/100 | loss 2.1345 | 1234 tok/s".
std::string ProgressText(wire::JobInfo::Reader job);

// submit, fetch (cmd_net_submit.cc).
void RegisterNetSubmitCommands(CLI::App& app);

}  // namespace plume::cli
