// The data-key request and in-memory decryption of an encrypted dataset (data_key.h).
#include "data_key.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "plume/data/crypt.h"
#include "plume/data/grant.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"

namespace plume::agent {

Result<std::optional<DataKeyAccess>> DataKeyOf(wire::TaskAssign::Reader a) {
  if (!a.hasDataKey()) return std::optional<DataKeyAccess>();
  auto k = a.getDataKey();
  auto grant_bytes = k.getGrant();
  auto grant = data::DecodeGrant(std::span(grant_bytes.begin(), grant_bytes.size()));
  if (!grant) return Fail("the data-key grant is malformed: " + grant.error().message);
  auto owner = PublicKeyFromData(k.getOwner());
  if (!owner) return Fail("the data owner's key is malformed: " + owner.error().message);
  if (k.getKeyService().size() == 0) return Fail("the data-key grant names no key service");
  DataKeyAccess x;
  x.grant.assign(grant_bytes.begin(), grant_bytes.end());
  x.key_service = k.getKeyService().cStr();
  x.owner = *owner;
  x.dataset = grant->dataset;
  x.job = a.getJobId().cStr();
  x.task = std::to_string(a.getTaskId());
  return std::optional<DataKeyAccess>(std::move(x));
}

Status AttachDataKey(wire::TaskAssign::Reader assign, const Identity& agent, TrainTask& t) {
  auto access = DataKeyOf(assign);
  if (!access) return tl::unexpected(access.error());
  if (!*access) return {};
  t.unseal = [x = std::move(**access), agent](std::vector<uint8_t>& bytes,
                                              const std::atomic<bool>& stop) {
    return UnsealData(x, agent, bytes, stop);
  };
  return {};
}

namespace {

// One call to the key service: the sealed key, or why not and whether trying again may help.
struct Answer {
  std::vector<uint8_t> sealed;
  std::string why;
  bool retry = true;
};

Answer AskOnce(const DataKeyAccess& access, const Identity& agent) {
  auto client = TransportClient::Connect(access.key_service, access.owner, agent);
  if (!client) return {{}, client.error().message, false};
  auto req = (*client)->NewRequest();
  auto q = req.body().initDataRequest();
  q.setDataset(access.dataset);
  q.setJob(access.job);
  q.setTask(access.task);
  q.setGrant(AsData(access.grant));
  auto reply = (*client)->Call(req, kKeyCallTimeout);
  if (!reply) return {{}, "no answer from the key service " + access.key_service, true};
  if (reply->kind() == MessageKind::ERROR) {
    auto e = reply->body().getError();
    const bool retry = e.getCode() == wire::ErrorCode::RETRY_LATER ||
                       e.getCode() == wire::ErrorCode::INTERNAL;
    return {{}, std::string("the key service refused: ") + e.getMessage().cStr(), retry};
  }
  if (reply->kind() != MessageKind::DATA_REPLY) {
    return {{}, "the key service sent a " + std::string(KindName(reply->kind())), false};
  }
  auto sealed = reply->body().getDataReply().getSealedKey();
  return {{sealed.begin(), sealed.end()}, "", false};
}

}  // namespace

Status UnsealData(const DataKeyAccess& access, const Identity& agent, std::vector<uint8_t>& data,
                  const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  Answer last;
  for (int i = 0; i < kKeyTries && !stop.load(); ++i) {
    if (i > 0) std::this_thread::sleep_for(kKeyRetryPause * i);
    last = AskOnce(access, agent);
    if (!last.sealed.empty() || !last.retry) break;
    spdlog::warn("job={} task={}: data key not received ({}); try {} of {}", access.job,
                 access.task, last.why, i + 1, kKeyTries);
  }
  if (last.sealed.empty()) {
    return Fail("no data key for dataset " + access.dataset + ": " +
                (last.why.empty() ? std::string("stopped") : last.why));
  }
  const auto t1 = Clock::now();
  auto key = data::OpenDataKey(last.sealed, agent);
  if (!key) return Fail("the data key does not open with this agent's key: " + key.error().message);
  auto plain = data::Decrypt(data, *key);
  data::Wipe(*key);
  if (!plain) return Fail("the dataset does not decrypt with its key: " + plain.error().message);
  data.swap(*plain);  // the ciphertext goes; the plaintext stays in memory only
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  // bench/data/key_release_bench.cc reads these two figures.
  spdlog::info("job={} task={}: data key received, dataset {} decrypted in memory (key {:.3f} "
               "ms, decrypt {:.3f} ms)", access.job, access.task, access.dataset, ms(t1 - t0),
               ms(Clock::now() - t1));
  return {};
}

}  // namespace plume::agent
