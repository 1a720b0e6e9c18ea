// The ledger commands' connection to a scheduler (cmd_ledger_net.cc): connect with the ledger
// flags, one ledger request with a reply of the kind asked for, the ledger's id (what every
// signature covers) and submitting a signed entry (LedgerSubmit). Each failure prints its
// message and ends the command with an exit code (commands.h): 1 for no answer or a refusal,
// 2 where the scheduler says the input was bad.
#pragma once

#include <memory>
#include <string>

#include "ledger_cli.h"
#include "net_client.h"
#include "plume/ledger/entry.h"

namespace plume::cli {

struct Connection {
  std::unique_ptr<NetClient> client;
  PublicKey scheduler_id{};  // as pinned by the connection
};
Connection ConnectLedger(const LedgerFlags& flags);
// The key heads must be signed by: `ledger_id` (--ledger-id), else the pinned scheduler id.
PublicKey TrustedKey(const Connection& c, const std::string& ledger_id);
// One request; its LedgerReply of the expected kind, or the command fails.
Message LedgerCall(NetClient& client, const MessageBuilder& request,
                   wire::LedgerReply::Which want);
// The id of the scheduler's ledger (LedgerHead.ledgerId), which signatures must cover.
ledger::LedgerId AskLedgerId(NetClient& client);

struct Applied {
  std::string id;
  uint64_t index = 0;
  bool repeated = false;  // the id was applied before: this retry changed nothing
};
// Sends `entry` (signed already) as LedgerSubmit; the ledger's answer, or the command fails
// with the scheduler's refusal (which names the ledger's code, e.g. insufficient_balance).
Applied SubmitSigned(NetClient& client, const ledger::Entry& entry);

}  // namespace plume::cli
