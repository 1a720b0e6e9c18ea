// `plume owner attest`: a GPU owner's signed word that it operates an agent key, for
// `plume-agent --owner-attestation FILE` (protocol/owner.h, docs/providers.md "Owners"). Offline:
// the owner key signs on the owner's machine, and only the file travels to the agent's host.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "net_client.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/owner.h"

namespace plume::cli {
namespace {

struct AttestFlags {
  std::string agent;         // hex
  std::string key;           // the owner's key file
  std::string scheduler_id;  // hex
  std::string out;           // empty: stdout
};

[[noreturn]] void Refuse(int code, const std::string& why) {
  std::cerr << "plume owner attest: " << why << "\n";
  throw CommandFailed(code);
}

void RunAttest(AttestFlags f) {
  auto agent = PublicKeyFromHex(f.agent);
  if (!agent) Refuse(kExitBadInput, "AGENT_ID: " + agent.error().message +
                                        " (the agent's id: `plume nodes` or its log's first line)");
  if (f.scheduler_id.empty()) {
    const char* env = std::getenv("PLUME_SCHEDULER_ID");
    f.scheduler_id = env ? env : "";
  }
  if (f.scheduler_id.empty()) {
    Refuse(kExitBadInput, "no scheduler id: pass --scheduler-id HEX or set PLUME_SCHEDULER_ID "
                          "(the attestation holds on that network only)");
  }
  auto scheduler = PublicKeyFromHex(f.scheduler_id);
  if (!scheduler) Refuse(kExitBadInput, "--scheduler-id: " + scheduler.error().message);
  if (f.key.empty()) {
    const char* env = std::getenv("PLUME_KEY");
    f.key = env ? env : DefaultKeyPath();
  }
  auto owner = Identity::Load(f.key);
  if (!owner) {
    Refuse(kExitBadInput, "--key is the owner's key: " + owner.error().message);
  }
  const std::string text = FormatOwnerAttestation(AttestOwner(*owner, *agent, *scheduler));
  if (f.out.empty()) {
    std::cout << text;
    return;
  }
  // Written whole or not at all: an agent must never read half an attestation.
  const std::filesystem::path tmp = f.out + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    file << text;
    file.flush();
    if (!file) Refuse(kExitFailure, "cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, f.out, ec);
  if (ec) Refuse(kExitFailure, "cannot write " + f.out + ": " + ec.message());
  std::cerr << "owner " << owner->Id() << " attests agent " << f.agent << " on scheduler "
            << f.scheduler_id.substr(0, 16) << "...: " << f.out << "\n";
}

}  // namespace

void RegisterOwnerCommands(CLI::App& app) {
  auto* owner = app.add_subcommand("owner", "declare the machines you operate (GPU owners)");
  owner->require_subcommand(1);
  auto flags = std::make_shared<AttestFlags>();
  auto* attest = owner->add_subcommand(
      "attest", "sign that you operate an agent key (for plume-agent --owner-attestation)");
  attest->add_option("agent", flags->agent, "the agent's id (hex public key)")->required();
  attest->add_option("--key", flags->key,
                     "the owner's key file (default: $PLUME_KEY or ~/.config/plume/key)");
  attest->add_option("--scheduler-id", flags->scheduler_id,
                     "the network's scheduler id (default: $PLUME_SCHEDULER_ID)");
  attest->add_option("-o,--out", flags->out, "write the attestation here (default: stdout)");
  attest->callback([flags] { RunAttest(*flags); });
}

}  // namespace plume::cli
