// The baseline for the dispatch benchmark: round trips of one bare ZeroMQ DEALER -> ROUTER ->
// DEALER message with CURVE on loopback (libzmq directly: no ZAP handler, no Cap'n Proto, no
// signatures), so the scheduler's per-task latency can be read as a multiple of what the
// transport alone costs on the same machine at the same time.
#pragma once

#include <cstddef>
#include <vector>

#include "plume/protocol/error.h"

namespace plume::bench {

// `count` sequential round trips of a `bytes`-byte message after `warmup` untimed ones; the
// result is each round trip in microseconds.
Result<std::vector<double>> BareCurveRoundTripsUs(int count, int warmup, size_t bytes);

}  // namespace plume::bench
