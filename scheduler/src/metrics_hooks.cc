// The scheduler metrics that the reactor, the transport and the ledger report as they happen
// (transport and blob totals, result screens, ledger calls and commits) and the /metrics server;
// the families and the series derived from the core's state are in metrics.cc. See metrics.h.
#include <prometheus/text_serializer.h>

#include <chrono>

#include "metrics_impl.h"
#include "plume/scheduler/metrics.h"

namespace plume::scheduler {

void SchedulerMetrics::ObserveTransport(const TransportStats& t, uint64_t blob_in,
                                        uint64_t blob_out) {
  auto& m = *impl_;
  auto advance = [](Counter& c, uint64_t now, uint64_t& last) {
    if (now > last) c.Increment(static_cast<double>(now - last));
    last = now;
  };
  auto& p = m.last_transport;
  advance(m.rejected.Add({{"reason", "not_allowed"}}), t.refused_unlisted_agent,
          p.refused_unlisted_agent);
  advance(m.rejected.Add({{"reason", "bad_key"}}), t.handshakes_failed, p.handshakes_failed);
  advance(m.rejected.Add({{"reason", "connections_max"}}), t.refused_connections_total,
          p.refused_connections_total);
  advance(m.rejected.Add({{"reason", "per_address_max"}}), t.refused_connections_address,
          p.refused_connections_address);
  advance(m.replies_dropped, t.replies_dropped, p.replies_dropped);
  m.connections.Set(static_cast<double>(t.connections_live));
  m.send_queue.Set(static_cast<double>(t.send_queue_bytes));
  // The transport counts wrong-version frames among the undecodable ones (transport.h).
  advance(m.malformed.Add({{"reason", "decode"}}), t.messages_malformed, p.messages_malformed);
  advance(m.malformed.Add({{"reason", "bad_signature"}}), t.refused_sender_mismatch,
          p.refused_sender_mismatch);
  advance(m.blob_bytes.Add({{"direction", "in"}}), blob_in, m.last_blob_in);
  advance(m.blob_bytes.Add({{"direction", "out"}}), blob_out, m.last_blob_out);
}

void SchedulerMetrics::ObserveScreens(uint64_t screened,
                                      const std::map<std::string, uint64_t>& refused) {
  auto& m = *impl_;
  if (screened > m.last_screened) m.screened.Increment(double(screened - m.last_screened));
  m.last_screened = screened;
  for (const auto& [reason, n] : refused) {
    uint64_t& last = m.last_refused[reason];
    if (n > last) m.refused.Add({{"reason", reason}}).Increment(double(n - last));
    last = n;
  }
}

LedgerHook SchedulerMetrics::Instrument(LedgerHook inner) {
  if (!inner) return [](const LedgerOp&, std::string&) -> Result<bool> { return true; };
  Impl* m = impl_.get();
  return [m, inner = std::move(inner)](const LedgerOp& op, std::string& refusal) -> Result<bool> {
    const uint64_t before = m->ledger.size ? m->ledger.size() : 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto applied = inner(op, refusal);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // One call, one group commit: the ledger writes a call's entries with one fdatasync and
    // answers only after it, so the call's duration bounds the fsync latency from above.
    if (m->ledger.size) {
      if (const uint64_t after = m->ledger.size(); after > before) {
        m->group_commit.Observe(static_cast<double>(after - before));
        m->fsync.Observe(seconds);
      }
    } else if (applied && *applied) {
      m->ledger_entries.Add({{"type", Name(op.kind)}}).Increment();
      m->group_commit.Observe(1);
      m->fsync.Observe(seconds);
    }
    return applied;
  };
}

void SchedulerMetrics::ObserveCommit(std::chrono::duration<double> latency) {
  impl_->sqlite_commit.Observe(latency.count());
}

void SchedulerMetrics::AttachLedger(LedgerView view) {
  impl_->ledger = std::move(view);
  // Entries already in the ledger at start are history, not this process's appends.
  impl_->ledger_scanned = impl_->ledger.size ? impl_->ledger.size() : 0;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, int port, std::shared_ptr<prometheus::Registry> reg) {
  if (port < 0 || port > 65535) {
    return Fail("metrics port " + std::to_string(port) + " is out of range (0..65535)");
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->registry_ = std::move(reg);
  std::shared_ptr<prometheus::Registry> r = s->registry_;
  auto http = MetricsHttpServer::Start(
      address, port, [r] { return prometheus::TextSerializer().Serialize(r->Collect()); });
  if (!http) return tl::unexpected(http.error());
  s->http_ = std::move(*http);
  s->port_ = s->http_->port();
  return s;
}

MetricsServer::~MetricsServer() = default;

}  // namespace plume::scheduler
