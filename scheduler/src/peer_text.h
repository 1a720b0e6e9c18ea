// Private: the check every text field a peer sends goes through before the reactor keeps it,
// logs it or hands it to the core. What the scheduler keeps is saved as JSON (store_json.cc) and
// shown by `plume nodes/status --json`, and nlohmann::json refuses to write text that is not
// UTF-8: one such string would stop the scheduler at its next save, or break the listing for
// everyone. Length bounds come from limits.h.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <capnp/blob.h>

#include "plume/protocol/error.h"

namespace plume::scheduler {

enum class TextShape {
  kLine,  // a name: no control characters at all (a terminal escape in `plume nodes` is refused)
  kText,  // a message or a document: tab, newline and carriage return allowed
};

// Ok when `text` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), at
// most `bytes_max` bytes and of `shape`. Otherwise an error naming `field` and what is wrong,
// written for the peer that sent it. Never echoes the bytes themselves.
Status CheckPeerText(std::string_view field, std::string_view text, size_t bytes_max,
                     TextShape shape = TextShape::kLine);

// A Cap'n Proto Text field as the bytes it holds (NULs included, which the check refuses).
inline std::string_view TextOf(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

}  // namespace plume::scheduler
