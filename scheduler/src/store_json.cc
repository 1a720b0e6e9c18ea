// JSON encodings of job specs and GPU lists for the store; see store_json.h.
#include "store_json.h"

#include "plume/scheduler/limits.h"
#include "plume/scheduler/work.h"

namespace plume::scheduler {

using nlohmann::json;

json SpecToJson(const JobSpec& s) {
  const ModelConfig& m = s.model;
  return json{
      {"kind", static_cast<int>(s.kind)}, {"name", s.name}, {"seed", s.seed},
      {"model", {m.n_layer, m.n_head, m.n_embd, m.context, m.vocab}},
      {"train", {{"workers", s.train.workers}, {"rounds", s.train.rounds},
                 {"local_steps", s.train.local_steps}, {"batch", s.train.batch},
                 {"seq_len", s.train.seq_len}, {"outer_lr", s.train.outer_lr},
                 {"outer_momentum", s.train.outer_momentum},
                 {"round_timeout_ms", s.train.round_timeout_ms}}},
      {"infer", {{"prompt_count", s.infer.prompt_count}, {"shards", s.infer.shards},
                 {"max_new_tokens", s.infer.max_new_tokens},
                 {"prompt_tokens_max", s.infer.prompt_tokens_max},
                 {"checkpoint_blob", s.infer.checkpoint_blob},
                 {"prompt_tokens", s.infer.prompt_tokens},
                 {"token_bytes_max", s.infer.token_bytes_max}}},
      {"data_blobs", s.data_blobs}, {"initial_params_blob", s.initial_params_blob},
      {"backend", s.backend ? static_cast<int>(*s.backend) : -1},
      {"budget", s.budget_micro_plume}, {"max_price", s.max_price_micro_plume_per_pflop},
      {"fee_bps", s.fee_bps}, {"escrow", s.escrow_micro_plume},
      {"runner_config", s.runner_config}, {"dataset", s.dataset},
      {"royalty", s.royalty_micro_plume_per_mtoken}};
}

JobSpec SpecFromJson(const json& j) {
  JobSpec s;
  s.kind = static_cast<JobKind>(j.at("kind").get<int>());
  s.name = j.at("name");
  s.seed = j.at("seed");
  const json& m = j.at("model");
  s.model = ModelConfig{m[0], m[1], m[2], m[3], m[4]};
  const json& t = j.at("train");
  s.train = TrainParams{t.at("workers"), t.at("rounds"), t.at("local_steps"), t.at("batch"),
                        t.at("seq_len"), t.at("outer_lr"), t.at("outer_momentum"),
                        t.at("round_timeout_ms")};
  const json& i = j.at("infer");
  s.infer = InferParams{i.at("prompt_count"), i.at("shards"), i.at("max_new_tokens"),
                        i.at("prompt_tokens_max"), i.at("checkpoint_blob"),
                        i.value("prompt_tokens", std::vector<uint32_t>{}),
                        i.value("token_bytes_max", uint64_t{0})};
  s.data_blobs = j.at("data_blobs").get<std::vector<BlobHash>>();
  s.initial_params_blob = j.at("initial_params_blob");
  if (const int b = j.at("backend"); b >= 0) s.backend = static_cast<Backend>(b);
  s.budget_micro_plume = j.at("budget");
  s.max_price_micro_plume_per_pflop = j.at("max_price");
  // Jobs stored before the fee was stamped were held under the scheduler's default.
  s.fee_bps = j.value("fee_bps", kFeeBpsDefault);
  s.escrow_micro_plume = j.contains("escrow") ? j.at("escrow").get<MicroPlume>()
                                              : MaxJobCostMicroPlume(s);
  s.runner_config = j.at("runner_config");
  s.dataset = j.value("dataset", "");
  s.royalty_micro_plume_per_mtoken = j.value("royalty", uint64_t{0});
  return s;
}

json GpusToJson(const std::vector<GpuInfo>& gpus) {
  json a = json::array();
  for (const GpuInfo& g : gpus) a.push_back({g.name, g.memory_bytes, g.count});
  return a;
}

std::vector<GpuInfo> GpusFromJson(const json& a) {
  std::vector<GpuInfo> gpus;
  for (const json& g : a) gpus.push_back(GpuInfo{g[0], g[1], g[2]});
  return gpus;
}

}  // namespace plume::scheduler
