// Full canonical encoding of a TaskReceipt inside an entry (private to the ledger library).
#pragma once

#include <vector>

#include "plume/ledger/receipt.h"
#include "plume/protocol/codec.h"

namespace plume::ledger {
void PutReceipt(const TaskReceipt& receipt, std::vector<uint8_t>& out);
// Reads one receipt; on malformed input reader.ok() turns false.
TaskReceipt ReadReceipt(protocol::codec::Reader& reader);
}  // namespace plume::ledger
