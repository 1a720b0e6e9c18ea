// The evidence blob of a dispute/1 verdict (verify/evidence.h), built from the scheduler's state
// alone, so the core names its hash in the verdict (core_verdict.cc RecordVerdict) and the
// reactor writes the very same bytes to the blob store after the turn that decided it is saved,
// and again after a restart if they were not written (reactor.cc). Pure: no I/O.
#pragma once

#include <optional>
#include <vector>

#include "plume/scheduler/types.h"
#include "plume/verify/evidence.h"

namespace plume::scheduler {

// The evidence of the verdict of original task `orig`: nullopt unless that verdict is a
// dispute/1 one whose original and audit runs succeeded and kept their commitments. The runs are
// the original, its audit and, when it succeeded, its referee, each with its kept commitments
// and signed receipt (empty where the scheduler has none: the check then says so).
std::optional<verify::DisputeEvidence> DisputeEvidenceOf(const State& s, const TaskId& orig);

}  // namespace plume::scheduler
