// Reactor: a job submit, from the signed spec to the core's JobSubmitted. The checks that cost
// little (signature, spec, size cap, escrow amount) run on the reactor thread; an infer job's BPE
// prompt count (CountThen) and a train job's initial parameters run on the offload worker
// (reactor_offload.h), and the submit is answered when they are done. Data flow: plume submit
// (cli) -> OnSubmitJob -> [offload: CountPromptTokens] -> AdmitSubmit -> [offload:
// StoreInitialParams] -> FinishSubmit -> core JobSubmitted -> SubmitAck.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "checkpoint_blob.h"
#include "peer_text.h"
#include "plume/scheduler/limits.h"
#include "plume/scheduler/work.h"
#include "reactor_impl.h"

namespace plume::scheduler {

void Reactor::Impl::OnSubmitJob(Incoming& in) {
  auto s = in.message.body().getSubmitJob();
  const uint64_t rid = in.message.request_id();
  const ClientId owner = ToHex(in.principal);
  const std::string toml = s.getSpecToml();
  const Hash256 spec_hash = Blake2b256(toml);
  auto sig = s.getSignature();
  const std::string signed_bytes = SpecSigningBytes(spec_hash);
  if (sig.size() != crypto_sign_BYTES ||
      crypto_sign_verify_detached(sig.begin(),
                                  reinterpret_cast<const unsigned char*>(signed_bytes.data()),
                                  signed_bytes.size(), in.principal.data()) != 0) {
    return ReplyError(in.peer, rid, wire::ErrorCode::UNAUTHORIZED,
                      "the spec signature does not verify with your key: sign the spec hash");
  }
  if (auto st = CheckPeerText("clientJobKey", TextOf(s.getClientJobKey()), kClientJobKeyBytesMax);
      !st) {
    return ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC, st.error().message);
  }
  const std::string key = owner + "/" + std::string(s.getClientJobKey().cStr());
  const JobId job_id = "job-" + ToHex(Blake2b256(key)).substr(0, 16);
  const Waiter me{in.peer, rid};
  if (auto it = core.state().jobs.find(job_id); it != core.state().jobs.end()) {
    if (it->second.owner != owner) {
      return ReplyError(in.peer, rid, wire::ErrorCode::CONFLICT, "job key already used");
    }
    return ReplySubmitAck(me, job_id, it->second.spec.escrow_micro_plume);  // a retried submit
  }
  // A retried submit while the first is prepared (prompts counted, model initialised): answered
  // with the first.
  if (auto w = submit_waiters.find(job_id); w != submit_waiters.end()) {
    if (w->second.size() >= kWaitersPerJobMax) {
      return ReplyError(in.peer, rid, wire::ErrorCode::RETRY_LATER,
                        "job " + job_id + " is being prepared: submit again shortly");
    }
    w->second.push_back(me);
    return;
  }
  auto prepared = PrepareSpec(owner, toml, s.getDataBlobs());
  if (!prepared) {
    return ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC, prepared.error().message);
  }
  prepared->second.spec_hash = spec_hash;
  auto sig_bytes = s.getEscrowHoldSignature();
  const HeldEscrow hold{s.getEscrowHoldMicroPlume(),
                        std::vector<uint8_t>(sig_bytes.begin(), sig_bytes.end())};
  // A BPE prompt count runs on the offload worker; a retried submit meanwhile waits with this
  // one. Registered first: a count made at once (byte tokenizer, train) answers it at once.
  submit_waiters[job_id].push_back(me);
  const bool queued = CountThen(
      std::move(prepared->first), std::move(prepared->second),
      [this, job_id, owner, hold](Result<std::pair<JobSpec, JobExtra>> counted) {
        std::vector<Waiter> waiters = std::move(submit_waiters[job_id]);
        submit_waiters.erase(job_id);
        if (!counted) {
          for (const Waiter& w : waiters) {
            ReplyError(w.peer, w.request_id, wire::ErrorCode::INVALID_SPEC,
                       counted.error().message);
          }
          return;
        }
        AdmitSubmit(job_id, owner, std::move(counted->first), std::move(counted->second), hold,
                    std::move(waiters));
      });
  if (!queued) {
    submit_waiters.erase(job_id);  // only this submit waited: it made the entry above
    ReplyError(in.peer, rid, wire::ErrorCode::RETRY_LATER,
               "the scheduler is counting other jobs' prompts: submit again shortly");
  }
}

void Reactor::Impl::AdmitSubmit(const JobId& job_id, const ClientId& owner, JobSpec spec,
                                JobExtra x, const HeldEscrow& hold, std::vector<Waiter> waiters) {
  auto bad = [&](wire::ErrorCode code, const std::string& why) {
    for (const Waiter& w : waiters) ReplyError(w.peer, w.request_id, code, why);
  };
  const auto invalid = wire::ErrorCode::INVALID_SPEC;
  // Before any work is done for it (the model initialisation below allocates and stores the
  // whole model): a spec that cannot run, or a model larger than the scheduler initialises, is
  // refused for nothing.
  if (auto st = ValidateSpec(spec); !st) return bad(invalid, "bad job spec: " + st.error().message);
  if (spec.kind == JobKind::kTrain && x.spec.model->NumParams() > kSchedulerInitParamsMax) {
    return bad(invalid, "the model has " + std::to_string(x.spec.model->NumParams()) +
                            " parameters; this scheduler trains models of at most " +
                            std::to_string(kSchedulerInitParamsMax));
  }
  // With a ledger every job holds its maximum cost in escrow, and the ledger refuses a hold of
  // 0: say so now rather than accept a job whose hold must fail.
  if (opt.ledger && JobHoldMicroPlume(spec) <= 0) {
    return bad(invalid, "this job's maximum cost rounds to 0 micro-PLUME (" +
                            std::to_string(JobFlops(spec)) + " FLOPs at " +
                            std::to_string(spec.max_price_micro_plume_per_pflop) +
                            " micro-PLUME per PFLOP), and the ledger cannot hold 0: raise "
                            "payment.max_price_micro_plume_per_pflop or grow the job");
  }
  if (opt.escrow_signature) {  // the ledger bridge keeps it for the hold (ledger_bridge.h)
    // The team signed a hold of a definite amount; it must be what this job holds, or the
    // ledger would refuse the hold later (or the team would have signed for something else).
    const MicroPlume amount = JobHoldMicroPlume(spec);
    if (hold.micro_plume != amount) {
      return bad(invalid, "the escrow hold you signed is " + std::to_string(hold.micro_plume) +
                              " micro-PLUME but this job holds " + std::to_string(amount) + " (" +
                              std::to_string(JobFlops(spec)) +
                              " FLOPs at the maximum price plus the " +
                              std::to_string(spec.fee_bps) +
                              " bps fee, and the verification reserve of " +
                              std::to_string(VerificationReserveMicroPlume(spec)) +
                              "): quote it first (`plume quote`); "
                              "`plume submit` does so itself");
    }
    // The submit is acked after this turn's save; the signature must be kept by then.
    if (auto st = opt.escrow_signature(job_id, std::span<const uint8_t>(hold.signature)); !st) {
      spdlog::error("job={}: escrow signature not kept: {}", job_id, st.error().message);
      return bad(wire::ErrorCode::RETRY_LATER,
                 "the scheduler could not keep the escrow hold signature (" +
                     st.error().message + "); submit again later");
    }
  }
  if (spec.kind != JobKind::kTrain) return FinishSubmit(job_id, owner, spec, std::move(x), waiters);
  // The initialisation allocates and stores the whole model (seconds for large ones): on the
  // offload worker, and the submit is answered when it is done.
  BlobStore* store = blobs.get();
  const kernels::ModelConfig model = *x.spec.model;
  const uint64_t seed = x.spec.seed;
  const bool queued = offload->Submit(
      [this, store, model, seed, job_id, owner, spec, x]() -> Offload::Continuation {
        auto init = StoreInitialParams(*store, model, seed);
        return [this, job_id, owner, spec, x, init = std::move(init)] {
          const std::vector<Waiter> waiters = std::move(submit_waiters[job_id]);
          submit_waiters.erase(job_id);
          if (!init) {
            for (const Waiter& w : waiters) {
              ReplyError(w.peer, w.request_id, wire::ErrorCode::INVALID_SPEC,
                         "cannot initialise the model: " + init.error().message);
            }
            return;
          }
          JobSpec with_init = spec;
          with_init.initial_params_blob = *init;
          FinishSubmit(job_id, owner, with_init, x, waiters);
        };
      },
      /*from_client=*/true);
  if (!queued) {
    return bad(wire::ErrorCode::RETRY_LATER,
               "the scheduler is initialising other jobs' models: submit again shortly");
  }
  submit_waiters[job_id] = std::move(waiters);
}

void Reactor::Impl::FinishSubmit(const JobId& id, const ClientId& owner, const JobSpec& spec,
                                 JobExtra x, const std::vector<Waiter>& waiters) {
  if (!core.state().jobs.contains(id)) {
    extras[id] = std::move(x);
    for (const Action& a : Feed(JobSubmitted{id, owner, spec})) {
      if (const auto* r = std::get_if<Rejected>(&a)) {
        extras.erase(id);
        for (const Waiter& w : waiters) {
          ReplyError(w.peer, w.request_id, wire::ErrorCode::INVALID_SPEC, r->reason);
        }
        return;
      }
    }
  }
  const MicroPlume escrow = core.state().jobs.at(id).spec.escrow_micro_plume;
  for (const Waiter& w : waiters) ReplySubmitAck(w, id, escrow);
}

void Reactor::Impl::ReplySubmitAck(const Waiter& w, const JobId& id, MicroPlume escrow) {
  auto m = NewMessage(w.request_id);
  auto ack = m.body().initSubmitAck();
  ack.setJobId(id);
  ack.setEscrowMicroPlume(escrow);
  Reply(w.peer, m);
}

}  // namespace plume::scheduler
