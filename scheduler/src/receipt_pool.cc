// Receipt verification off the reactor thread; see receipt_pool.h.
#include "receipt_pool.h"

#include <span>

#include "plume/protocol/receipt.h"

namespace plume::scheduler {

namespace {
Result<ReceiptFields> Checked(const ResultToVerify& r) {
  auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r.receipt.data()),
                                        r.receipt.size());
  auto sig = std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(r.receipt_signature.data()), r.receipt_signature.size());
  auto fields = VerifyReceipt(bytes, sig);
  if (fields && fields->agent == r.agent && fields->task_id == r.task_wire_id &&
      fields->job_id == r.job_id &&
      fields->attempt == r.attempt && fields->output == r.output) {
    return fields;
  }
  return Fail("receipt does not match the result");
}
}  // namespace

bool ReceiptMatches(const ResultToVerify& r) { return Checked(r).has_value(); }

ReceiptPool::ReceiptPool(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

ReceiptPool::~ReceiptPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ReceiptPool::Submit(ResultToVerify r) {
  {
    std::lock_guard lock(mu_);
    todo_.push_back(std::move(r));
    ++outstanding_;
  }
  cv_.notify_one();
}

std::vector<ResultToVerify> ReceiptPool::TakeDone() {
  std::vector<ResultToVerify> out;
  std::lock_guard lock(mu_);
  out.swap(done_);
  outstanding_ -= out.size();
  return out;
}

size_t ReceiptPool::Outstanding() const {
  std::lock_guard lock(mu_);
  return outstanding_;
}

void ReceiptPool::Work() {
  for (;;) {
    ResultToVerify r;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !todo_.empty(); });
      if (stop_) return;
      r = std::move(todo_.front());
      todo_.pop_front();
    }
    auto fields = Checked(r);
    r.verified = fields.has_value();
    if (fields) {
      r.inputs = std::move(fields->inputs);
      // Hashing up to 65,536 links is heavy enough to keep here, off the reactor thread.
      const std::optional<Hash256> root =
          r.commitments.empty() ? std::nullopt : std::optional(CommitmentRoot(r.commitments));
      r.commitments_match = root == fields->commitment;
    }
    // Only a signed result is worth reading: junk from an unsigned one costs no disk reads.
    if (r.verified && r.screen) r.screened = r.screen();
    std::lock_guard lock(mu_);
    done_.push_back(std::move(r));
  }
}

}  // namespace plume::scheduler
