// The ledger inbox (see ledger_inbox.h).
#include "plume/scheduler/ledger_inbox.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "plume/ledger/state.h"
#include "plume/protocol/hash.h"

namespace plume::scheduler {
namespace fs = std::filesystem;
namespace {

fs::path InboxDir(const fs::path& ledger_dir) { return ledger_dir / "inbox"; }

std::string FileStem(const std::string& id) {
  return ToHex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(id.data()), id.size()));
}

Status WriteFile(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Fail("cannot write " + tmp.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return Fail("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Fail("cannot rename " + tmp.string() + ": " + ec.message());
  return {};
}

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

Status WriteInboxEntry(const fs::path& ledger_dir, const ledger::Entry& entry) {
  std::error_code ec;
  if (!fs::is_directory(ledger_dir, ec)) {
    return Fail("no ledger directory " + ledger_dir.string() +
                ": give the scheduler's <data dir>/ledger (--ledger-dir or $PLUME_LEDGER_DIR)");
  }
  fs::create_directories(InboxDir(ledger_dir), ec);
  if (ec) return Fail("cannot create " + InboxDir(ledger_dir).string() + ": " + ec.message());
  const std::vector<uint8_t> bytes = ledger::Encode(entry);
  const fs::path stem = InboxDir(ledger_dir) / FileStem(entry.id);
  fs::remove(stem.string() + ".refused", ec);  // a retry is judged afresh
  return WriteFile(stem.string() + ".entry", std::string(bytes.begin(), bytes.end()));
}

std::optional<std::string> ReadInboxRefusal(const fs::path& ledger_dir, const std::string& id) {
  return ReadFile((InboxDir(ledger_dir) / FileStem(id)).string() + ".refused");
}

std::string StakeAgentOf(std::string_view account) {
  for (std::string_view prefix : {std::string_view("stake:"), std::string_view("unbond:")}) {
    if (account.starts_with(prefix) && PublicKeyFromHex(account.substr(prefix.size()))) {
      return std::string(account.substr(prefix.size()));
    }
  }
  return "";
}

std::string OpenAccountId(const std::string& account) {
  return "open:" + ToHex(Blake2b256(account)).substr(0, 48);
}

Result<DrainResult> DrainInbox(const fs::path& ledger_dir, ledger::Ledger& ledger,
                               const Identity& opener) {
  DrainResult result;
  const fs::path inbox = InboxDir(ledger_dir);
  std::error_code ec;
  if (!fs::is_directory(inbox, ec)) return result;
  std::vector<fs::path> files;
  for (const auto& de : fs::directory_iterator(inbox, ec)) {
    if (de.path().extension() == ".entry") files.push_back(de.path());
  }
  if (ec) return Fail("cannot list " + inbox.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.size() > kInboxFilesPerDrainMax) files.resize(kInboxFilesPerDrainMax);
  std::vector<ledger::Entry> entries;
  std::vector<fs::path> sources;
  for (const fs::path& f : files) {
    auto bytes = ReadFile(f);
    auto entry = bytes ? ledger::Decode(std::span<const uint8_t>(
                             reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()))
                       : Result<ledger::Entry>(Fail("unreadable"));
    if (!entry) {
      const fs::path stem = fs::path(f).replace_extension("");
      (void)WriteFile(stem.string() + ".refused", "not a ledger entry: " + entry.error().message);
      fs::remove(f, ec);
      ++result.refused;
      continue;
    }
    entries.push_back(std::move(*entry));
    sources.push_back(f);
  }
  if (entries.empty()) return result;
  // Open what the entries credit, in a batch of its own before them.
  std::vector<ledger::Entry> opens;
  for (const ledger::Entry& e : entries) {
    const bool ownable = e.to.starts_with("team:") || e.to.starts_with("provider:");
    if (!ownable || ledger.Balance(e.to) || ledger::AccountNameProblem(e.to) != "") continue;
    if (std::any_of(opens.begin(), opens.end(), [&](const auto& o) { return o.to == e.to; })) {
      continue;
    }
    opens.push_back(ledger::MakeOpenAccount(OpenAccountId(e.to), e.to));
    opens.back().signatures.push_back(
        ledger::SignEntry(opens.back(), ledger.keys().ledger_id, opener));
  }
  if (!opens.empty()) {
    if (auto opened = ledger.Append(opens); !opened) return tl::unexpected(opened.error());
  }
  auto answers = ledger.Append(entries);
  if (!answers) return tl::unexpected(answers.error());
  for (size_t i = 0; i < entries.size(); ++i) {
    const ledger::Code code = (*answers)[i].code;
    if (code == ledger::Code::kOk || code == ledger::Code::kIdExists) {
      ++result.applied;
      for (const std::string* a : {&entries[i].from, &entries[i].to}) {
        if (std::string agent = StakeAgentOf(*a); code == ledger::Code::kOk && !agent.empty()) {
          result.stake_agents.push_back(std::move(agent));
        }
      }
    } else {
      const fs::path stem = fs::path(sources[i]).replace_extension("");
      (void)WriteFile(stem.string() + ".refused", std::string(ledger::CodeName(code)));
      ++result.refused;
    }
    fs::remove(sources[i], ec);
  }
  return result;
}

}  // namespace plume::scheduler
