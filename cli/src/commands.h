// The command groups of `plume`. Each cmd_*.cc registers its subcommands on the app; main.cc
// calls every Register function. A command reports failure by throwing CommandFailed (a
// CLI11 RuntimeError carrying the exit code), after printing its own message to stderr.
#pragma once

#include <CLI/CLI.hpp>

namespace plume::cli {

// Exit codes of every plume command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the work failed at runtime
inline constexpr int kExitBadInput = 2;  // usage error or invalid input (spec, file)

// Thrown from a command callback to end the process with `code`; main() catches it.
struct CommandFailed : CLI::RuntimeError {
  explicit CommandFailed(int code) : CLI::RuntimeError(code) {}
};

// run-local, selftest (cmd_local.cc).
void RegisterLocalCommands(CLI::App& app);

// keygen, submit, status, jobs, cancel, fetch, nodes (cmd_net.cc, cmd_net_submit.cc).
void RegisterNetCommands(CLI::App& app);

// balance, ledger verify/history/prove/mint, audit (cmd_ledger.cc, cmd_audit.cc).
void RegisterLedgerCommands(CLI::App& app);

// stake, unstake, transfer (cmd_stake.cc).
void RegisterStakeCommands(CLI::App& app);
// `plume gov`: governance by stake (cmd_gov.cc).
void RegisterGovCommands(CLI::App& app);

// data publish/revoke/show/terms/list/access/earnings (cmd_data.cc).
void RegisterDataCommands(CLI::App& app);

// owner attest (cmd_owner.cc).
void RegisterOwnerCommands(CLI::App& app);

}  // namespace plume::cli
