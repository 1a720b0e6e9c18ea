// The peer-text check of peer_text.h.
#include "peer_text.h"

#include <kj/encoding.h>

namespace plume::scheduler {

Status CheckPeerText(std::string_view field, std::string_view text, size_t bytes_max,
                     TextShape shape) {
  const std::string name(field);
  if (text.size() > bytes_max) {
    return Fail(name + " is " + std::to_string(text.size()) + " bytes; at most " +
                std::to_string(bytes_max) + " are accepted");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool allowed_control = shape == TextShape::kText && (c == '\t' || c == '\n' || c == '\r');
    if ((c < 0x20 || c == 0x7f) && !allowed_control) {
      return Fail(name + " has a control character (byte " + std::to_string(c) + " at offset " +
                  std::to_string(i) + ")");
    }
  }
  // kj's decoder flags exactly what nlohmann::json refuses to write (a unit test pins that).
  if (kj::encodeUtf32(kj::ArrayPtr<const char>(text.data(), text.size())).hadErrors) {
    return Fail(name + " is not valid UTF-8 text");
  }
  return {};
}

}  // namespace plume::scheduler
