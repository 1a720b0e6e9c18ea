// plume: the command line for ML teams and operators. Thin: builds the app, registers the
// command groups (cli/src/cmd_*.cc), parses, and maps failures to exit codes
// (0 ok, 1 runtime failure, 2 usage or bad input).
#include <exception>
#include <iostream>

#include "commands.h"
#include "plume/kernels/omp_env.h"

int main(int argc, char** argv) {
  plume::kernels::ReexecWithPassiveOmpWait(argv);  // before any thread starts
  CLI::App app{"plume: train and run GPT models on the Plume compute network"};
  app.require_subcommand(1);
  plume::cli::RegisterLocalCommands(app);
  plume::cli::RegisterNetCommands(app);
  plume::cli::RegisterLedgerCommands(app);
  plume::cli::RegisterStakeCommands(app);
  plume::cli::RegisterGovCommands(app);
  plume::cli::RegisterDataCommands(app);
  plume::cli::RegisterOwnerCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a command failed; it has printed why
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {  // --help (exit 0) or a usage error
    return app.exit(e) == 0 ? plume::cli::kExitOk : plume::cli::kExitBadInput;
  } catch (const std::exception& e) {  // last resort: a bug, reported rather than a crash
    std::cerr << "plume: internal error: " << e.what() << "\n";
    return plume::cli::kExitFailure;
  }
  return plume::cli::kExitOk;
}
