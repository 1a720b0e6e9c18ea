// Private: the JSON text the store keeps for a job's spec and a node's GPU list (read whole,
// never queried). Throws nlohmann::json::exception on malformed input; Store::Load converts.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "plume/scheduler/types.h"

namespace plume::scheduler {

nlohmann::json SpecToJson(const JobSpec& s);
JobSpec SpecFromJson(const nlohmann::json& j);
nlohmann::json GpusToJson(const std::vector<GpuInfo>& gpus);
std::vector<GpuInfo> GpusFromJson(const nlohmann::json& a);

}  // namespace plume::scheduler
