// Job spec parsing: an adapter around toml++ (which throws) that turns every problem into an
// error value naming the field. The format is docs/job-spec.md.
#include "plume/kernels/job_spec.h"

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include <toml++/toml.h>

#include "plume/kernels/bpe.h"
#include "status_macros.h"

namespace plume::kernels {
namespace {

const char* TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    default: return "date/time";
  }
}

// Typed, field-named access to one table of the spec.
class Section {
 public:
  Section(const toml::table* table, std::string name) : table_(table), name_(std::move(name)) {}
  bool present() const { return table_ != nullptr; }

  Status OnlyKeys(std::initializer_list<std::string_view> allowed) const {
    if (!table_) return {};
    for (const auto& [key, node] : *table_) {
      bool known = false;
      for (auto a : allowed) known = known || key.str() == a;
      if (!known) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Fail(Field(key.str()) + ": unknown key (allowed: " + list + ")");
      }
    }
    return {};
  }

  Result<std::optional<int64_t>> Int(std::string_view key, int64_t lo = INT64_MIN,
                                     int64_t hi = INT64_MAX) const {
    const toml::node* node = Node(key);
    if (!node) return std::optional<int64_t>();
    if (!node->is_integer()) return Fail(Field(key) + ": expected an integer, got " + TypeName(*node));
    const int64_t v = node->as_integer()->get();
    if (v < lo || v > hi) {
      return Fail(Field(key) + ": " + std::to_string(v) + " is out of range [" + std::to_string(lo) +
                  ", " + std::to_string(hi) + "]");
    }
    return std::optional<int64_t>(v);
  }
  Result<std::optional<double>> Number(std::string_view key) const {
    const toml::node* node = Node(key);
    if (!node) return std::optional<double>();
    if (node->is_integer()) return std::optional<double>(double(node->as_integer()->get()));
    if (!node->is_floating_point()) return Fail(Field(key) + ": expected a number, got " + TypeName(*node));
    return std::optional<double>(node->as_floating_point()->get());
  }
  Result<std::optional<std::string>> String(std::string_view key) const {
    const toml::node* node = Node(key);
    if (!node) return std::optional<std::string>();
    if (!node->is_string()) return Fail(Field(key) + ": expected a string, got " + TypeName(*node));
    return std::optional<std::string>(node->as_string()->get());
  }
  Result<std::optional<std::vector<std::string>>> Strings(std::string_view key) const {
    const toml::node* node = Node(key);
    if (!node) return std::optional<std::vector<std::string>>();
    if (!node->is_array()) return Fail(Field(key) + ": expected an array of strings, got " + TypeName(*node));
    std::vector<std::string> out;
    for (const toml::node& item : *node->as_array()) {
      if (!item.is_string()) {
        return Fail(Field(key) + "[" + std::to_string(out.size()) + "]: expected a string, got " +
                    TypeName(item));
      }
      out.push_back(item.as_string()->get());
    }
    return std::optional<std::vector<std::string>>(std::move(out));
  }
  template <class T>
  static Result<T> Required(Result<std::optional<T>> value, const std::string& field) {
    if (!value) return tl::unexpected(value.error());
    if (!*value) return Fail(field + ": missing (required)");
    return **value;
  }
  std::string Field(std::string_view key) const { return name_ + "." + std::string(key); }

 private:
  const toml::node* Node(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }
  const toml::table* table_;
  std::string name_;
};

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

#define PLUME_SET(target, expr)                 \
  do {                                          \
    auto plume_v_ = (expr);                     \
    if (!plume_v_) return tl::unexpected(plume_v_.error()); \
    if (*plume_v_) target = **plume_v_;         \
  } while (0)
#define PLUME_REQUIRE(target, sec, key, expr)   \
  do {                                          \
    auto plume_v_ = Section::Required(expr, sec.Field(key)); \
    if (!plume_v_) return tl::unexpected(plume_v_.error()); \
    target = *plume_v_;                         \
  } while (0)

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

Result<ModelConfig> ParseModel(const Section& s) {
  PLUME_RETURN_IF_ERROR(s.OnlyKeys({"n_layer", "n_head", "n_embd", "context", "vocab"}));
  ModelConfig m;
  PLUME_REQUIRE(m.n_layer, s, "n_layer", s.Int("n_layer", 1, kMaxLayers));
  PLUME_REQUIRE(m.n_head, s, "n_head", s.Int("n_head", 1, kMaxEmbd));
  PLUME_REQUIRE(m.n_embd, s, "n_embd", s.Int("n_embd", 1, kMaxEmbd));
  PLUME_REQUIRE(m.context, s, "context", s.Int("context", 1, kMaxContext));
  PLUME_SET(m.vocab, s.Int("vocab", 1, kMaxVocab));
  PLUME_RETURN_IF_ERROR(m.Validate());
  return m;
}

Result<TrainConfig> ParseTrain(const Section& s) {
  PLUME_RETURN_IF_ERROR(s.OnlyKeys({"steps", "batch", "seq_len", "lr", "min_lr", "warmup_steps",
                                    "schedule", "weight_decay", "grad_clip", "eval_every",
                                    "eval_batches", "beta1", "beta2"}));
  TrainConfig t;
  PLUME_REQUIRE(t.steps, s, "steps", s.Int("steps", 1));
  PLUME_REQUIRE(t.batch, s, "batch", s.Int("batch", 1, 1 << 20));
  PLUME_REQUIRE(t.seq_len, s, "seq_len", s.Int("seq_len", 1, kMaxContext));
  PLUME_REQUIRE(t.lr, s, "lr", s.Number("lr"));
  t.min_lr = t.lr * 0.1f;
  PLUME_SET(t.min_lr, s.Number("min_lr"));
  PLUME_SET(t.warmup_steps, s.Int("warmup_steps", 0));
  std::string schedule = "cosine";
  PLUME_SET(schedule, s.String("schedule"));
  if (schedule != "cosine" && schedule != "constant") {
    return Fail("train.schedule: expected \"cosine\" or \"constant\", got \"" + schedule + "\"");
  }
  t.schedule = schedule == "cosine" ? LrSchedule::kCosine : LrSchedule::kConstant;
  PLUME_SET(t.weight_decay, s.Number("weight_decay"));
  PLUME_SET(t.grad_clip, s.Number("grad_clip"));
  PLUME_SET(t.eval_every, s.Int("eval_every", 0));
  PLUME_SET(t.eval_batches, s.Int("eval_batches", 1, 1 << 20));
  PLUME_SET(t.beta1, s.Number("beta1"));
  PLUME_SET(t.beta2, s.Number("beta2"));
  return t;
}

Result<InferSpec> ParseInfer(const Section& s, const std::string& base_dir) {
  PLUME_RETURN_IF_ERROR(s.OnlyKeys({"checkpoint", "prompts", "prompts_file", "max_new_tokens",
                                    "temperature", "top_k", "top_p", "stop", "tokenizer",
                                    "tokenizer_files"}));
  InferSpec in;
  PLUME_REQUIRE(in.checkpoint, s, "checkpoint", s.String("checkpoint"));
  in.checkpoint = Resolve(base_dir, in.checkpoint);
  PLUME_ASSIGN_OR_RETURN(const auto list, s.Strings("prompts"));
  const bool has_list = list.has_value();
  if (has_list) in.prompts = *list;
  PLUME_SET(in.prompts_file, s.String("prompts_file"));
  if (has_list == !in.prompts_file.empty()) {
    return Fail("infer.prompts: give exactly one of infer.prompts and infer.prompts_file");
  }
  in.prompts_file = Resolve(base_dir, in.prompts_file);
  PLUME_SET(in.generate.max_new_tokens, s.Int("max_new_tokens", 0, 1 << 20));
  PLUME_SET(in.generate.temperature, s.Number("temperature"));
  PLUME_SET(in.generate.top_k, s.Int("top_k", 0, kIntMax));
  PLUME_SET(in.generate.top_p, s.Number("top_p"));
  PLUME_SET(in.generate.stop, s.Strings("stop"));
  PLUME_RETURN_IF_ERROR(in.generate.Validate());
  PLUME_SET(in.tokenizer, s.String("tokenizer"));
  PLUME_SET(in.tokenizer_files, s.Strings("tokenizer_files"));
  PLUME_RETURN_IF_ERROR(CheckTokenizerFiles(in.tokenizer, in.tokenizer_files.size()));
  for (std::string& f : in.tokenizer_files) {
    if (f.empty()) return Fail("infer.tokenizer_files: an empty path");
    f = Resolve(base_dir, f);
  }
  return in;
}

Result<NetworkSpec> ParseNetwork(const Section& s) {
  PLUME_RETURN_IF_ERROR(s.OnlyKeys({"workers", "rounds", "local_steps", "outer_lr",
                                    "outer_momentum", "round_timeout_s"}));
  NetworkSpec n;
  PLUME_SET(n.workers, s.Int("workers", INT32_MIN, kIntMax));
  PLUME_SET(n.rounds, s.Int("rounds", INT32_MIN, kIntMax));
  PLUME_SET(n.local_steps, s.Int("local_steps"));
  PLUME_SET(n.outer_lr, s.Number("outer_lr"));
  PLUME_SET(n.outer_momentum, s.Number("outer_momentum"));
  PLUME_SET(n.round_timeout_s, s.Int("round_timeout_s"));
  return n;
}

Result<PaymentSpec> ParsePayment(const Section& s) {
  PLUME_RETURN_IF_ERROR(s.OnlyKeys({"max_price_micro_plume_per_pflop", "budget_micro_plume"}));
  PaymentSpec p;
  PLUME_SET(p.max_price_micro_plume_per_pflop, s.Int("max_price_micro_plume_per_pflop"));
  PLUME_SET(p.budget_micro_plume, s.Int("budget_micro_plume"));
  return p;
}

Result<JobSpec> ParseTables(const toml::table& root, const std::string& base_dir) {
  for (const auto& [key, node] : root) {
    static constexpr std::string_view kTables[] = {"job", "model", "data", "train", "infer",
                                                  "output", "network", "payment"};
    if (std::find(std::begin(kTables), std::end(kTables), key.str()) == std::end(kTables)) {
      return Fail(std::string(key.str()) + ": unknown table (allowed: job, model, data, train, "
                  "infer, output, network, payment)");
    }
    if (!node.is_table()) return Fail(std::string(key.str()) + ": expected a table, got " + TypeName(node));
  }
  const auto section = [&root](const char* name) { return Section(root[name].as_table(), name); };
  JobSpec spec;
  const Section job = section("job");
  if (!job.present()) return Fail("job: missing table [job] (required)");
  PLUME_RETURN_IF_ERROR(job.OnlyKeys({"name", "kind", "seed"}));
  std::string kind;
  PLUME_REQUIRE(kind, job, "kind", job.String("kind"));
  if (kind != "train" && kind != "infer") {
    return Fail("job.kind: expected \"train\" or \"infer\", got \"" + kind + "\"");
  }
  spec.kind = kind == "train" ? JobKind::kTrain : JobKind::kInfer;
  PLUME_SET(spec.name, job.String("name"));
  PLUME_SET(spec.seed, job.Int("seed", 0));

  if (section("model").present()) {
    PLUME_ASSIGN_OR_RETURN(spec.model, ParseModel(section("model")));
  }
  const Section data = section("data");
  PLUME_RETURN_IF_ERROR(data.OnlyKeys({"path", "val_fraction"}));
  PLUME_SET(spec.data.path, data.String("path"));
  spec.data.path = Resolve(base_dir, spec.data.path);
  PLUME_SET(spec.data.val_fraction, data.Number("val_fraction"));
  if (!(spec.data.val_fraction >= 0.0 && spec.data.val_fraction < 1.0)) {
    return Fail("data.val_fraction: must be in [0, 1)");
  }
  const Section output = section("output");
  PLUME_RETURN_IF_ERROR(output.OnlyKeys({"dir"}));
  PLUME_SET(spec.output_dir, output.String("dir"));
  spec.output_dir = Resolve(base_dir, spec.output_dir);
  if (section("network").present()) {
    PLUME_ASSIGN_OR_RETURN(spec.network, ParseNetwork(section("network")));
  }
  if (section("payment").present()) {
    PLUME_ASSIGN_OR_RETURN(spec.payment, ParsePayment(section("payment")));
  }

  if (spec.kind == JobKind::kTrain) {
    if (!spec.model) return Fail("model: missing table [model] (required for a train job)");
    if (spec.data.path.empty()) return Fail("data.path: missing (required for a train job)");
    if (!section("train").present()) return Fail("train: missing table [train] (required for a train job)");
    PLUME_ASSIGN_OR_RETURN(spec.train, ParseTrain(section("train")));
    spec.train.seed = spec.seed;
    PLUME_RETURN_IF_ERROR(spec.train.Validate(*spec.model));
  } else {
    if (!section("infer").present()) return Fail("infer: missing table [infer] (required for an infer job)");
    PLUME_ASSIGN_OR_RETURN(spec.infer, ParseInfer(section("infer"), base_dir));
    spec.infer.generate.seed = spec.seed;
  }
  return spec;
}

}  // namespace

Result<JobSpec> ParseJobSpec(std::string_view toml_text, const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "job spec is not valid TOML (line " << e.source().begin.line << ", column "
        << e.source().begin.column << "): " << e.description();
    return Fail(msg.str());
  } catch (const std::exception& e) {
    return Fail(std::string("job spec could not be parsed: ") + e.what());
  }
  return ParseTables(root, base_dir);
}

Result<JobSpec> LoadJobSpec(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("cannot open job spec '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  auto spec = ParseJobSpec(text.str(), std::filesystem::path(path).parent_path().string());
  if (!spec) return Fail(path + ": " + spec.error().message);
  if (spec->name.empty()) spec->name = std::filesystem::path(path).stem().string();
  return spec;
}

Result<std::vector<std::string>> LoadPrompts(const JobSpec& spec) {
  if (spec.infer.prompts_file.empty()) return spec.infer.prompts;
  std::ifstream in(spec.infer.prompts_file, std::ios::binary);
  if (!in) return Fail("infer.prompts_file: cannot open '" + spec.infer.prompts_file + "'");
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) prompts.push_back(line);
  }
  return prompts;
}

Result<std::unique_ptr<Tokenizer>> LoadSpecTokenizer(const JobSpec& spec) {
  std::vector<std::string> contents;
  for (const std::string& path : spec.infer.tokenizer_files) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return Fail("infer.tokenizer_files: cannot read '" + path + "': " + ec.message());
    if (size > kBpeFileBytesMax) {
      return Fail("infer.tokenizer_files: '" + path + "' is over " +
                  std::to_string(kBpeFileBytesMax) + " bytes");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return Fail("infer.tokenizer_files: cannot read '" + path + "'");
    contents.push_back(text.str());
  }
  const std::vector<std::string_view> views(contents.begin(), contents.end());
  auto t = MakeTokenizer(spec.infer.tokenizer, views);
  if (!t) {
    std::string files;
    for (const auto& f : spec.infer.tokenizer_files) files += (files.empty() ? "" : ", ") + f;
    return Fail(t.error().message + " (infer.tokenizer_files: " + files + ")");
  }
  return t;
}

Status ValidateNetwork(const JobSpec& spec) {
  if (!spec.network) return Fail("network: missing table [network] (required by plume submit)");
  const NetworkSpec& n = *spec.network;
  if (n.workers < 1) return Fail("network.workers: must be at least 1");
  if (n.rounds < 1) return Fail("network.rounds: must be at least 1");
  if (spec.kind == JobKind::kTrain && n.local_steps < 1) return Fail("network.local_steps: must be at least 1");
  if (!(n.outer_lr > 0.0)) return Fail("network.outer_lr: must be positive");
  if (!(n.outer_momentum >= 0.0 && n.outer_momentum < 1.0)) return Fail("network.outer_momentum: must be in [0, 1)");
  // Bounded so that milliseconds, deadlines and a task's 4x deadline stay far inside int64.
  if (n.round_timeout_s < 1 || n.round_timeout_s > 7 * 24 * 3600) {
    return Fail("network.round_timeout_s: must be between 1 and 604800 (7 days)");
  }
  return {};
}

Status ValidatePayment(const JobSpec& spec) {
  if (!spec.payment) return Fail("payment: missing table [payment] (required by plume submit)");
  if (spec.payment->max_price_micro_plume_per_pflop < 0) {
    return Fail("payment.max_price_micro_plume_per_pflop: must not be negative");
  }
  if (spec.payment->budget_micro_plume < 1) return Fail("payment.budget_micro_plume: must be positive");
  return {};
}

}  // namespace plume::kernels
