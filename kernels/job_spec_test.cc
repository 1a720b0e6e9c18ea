// Job spec tests: the documented example parses into the expected structs; every kind of bad
// spec (missing field, wrong type, unknown key, impossible config) fails with an error that
// names the field.
#include "plume/kernels/job_spec.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace plume::kernels {
namespace {

const char* kTrainSpec = R"(
[job]
name = "shakespeare-tiny"
kind = "train"
seed = 1337

[model]
n_layer = 4
n_head = 4
n_embd = 128
context = 64
vocab = 256

[data]
path = "data/tinyshakespeare.txt"
val_fraction = 0.1

[train]
steps = 300
batch = 16
seq_len = 64
lr = 3e-3
min_lr = 3e-4
warmup_steps = 20
schedule = "cosine"
weight_decay = 0.1
grad_clip = 1.0
eval_every = 100

[output]
dir = "out"

[network]
workers = 2
rounds = 5
local_steps = 50
outer_lr = 0.7
outer_momentum = 0.9
round_timeout_s = 120

[payment]
max_price_micro_plume_per_pflop = 1000000
budget_micro_plume = 50000000
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

void ExpectError(const std::string& toml, const std::string& needle) {
  const auto spec = ParseJobSpec(toml, "");
  ASSERT_FALSE(spec) << "accepted a spec that should fail with '" << needle << "'";
  EXPECT_NE(spec.error().message.find(needle), std::string::npos) << spec.error().message;
}

TEST(JobSpecTest, ParsesTheDocumentedTrainExample) {
  const auto spec = ParseJobSpec(kTrainSpec, "/jobs");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->name, "shakespeare-tiny");
  EXPECT_EQ(spec->kind, JobKind::kTrain);
  EXPECT_EQ(spec->seed, 1337u);
  EXPECT_EQ(*spec->model, (ModelConfig{4, 4, 128, 64, 256}));
  EXPECT_EQ(spec->data.path, "/jobs/data/tinyshakespeare.txt");
  EXPECT_DOUBLE_EQ(spec->data.val_fraction, 0.1);
  EXPECT_EQ(spec->train.steps, 300);
  EXPECT_EQ(spec->train.batch, 16);
  EXPECT_FLOAT_EQ(spec->train.lr, 3e-3f);
  EXPECT_FLOAT_EQ(spec->train.min_lr, 3e-4f);
  EXPECT_EQ(spec->train.schedule, LrSchedule::kCosine);
  EXPECT_EQ(spec->train.seed, 1337u);
  EXPECT_EQ(spec->output_dir, "/jobs/out");
  ASSERT_TRUE(spec->network && spec->payment);
  EXPECT_EQ(spec->network->local_steps, 50);
  EXPECT_EQ(spec->payment->budget_micro_plume, 50000000);
  EXPECT_TRUE(ValidateNetwork(*spec));
  EXPECT_TRUE(ValidatePayment(*spec));
}

TEST(JobSpecTest, ParsesAnInferSpecAndPromptsFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("plume_spec_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "prompts.txt") << "ROMEO:\r\n\nJULIET:\n";
  std::ofstream(dir / "job.toml") << "[job]\nkind = \"infer\"\n[infer]\ncheckpoint = \"m.safetensors\"\n"
                                     "prompts_file = \"prompts.txt\"\ntemperature = 0\ntop_k = 5\n";
  const auto spec = LoadJobSpec((dir / "job.toml").string());
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->name, "job");
  EXPECT_EQ(spec->infer.checkpoint, (dir / "m.safetensors").string());
  EXPECT_EQ(spec->infer.generate.temperature, 0.0f);
  EXPECT_EQ(spec->infer.generate.top_k, 5);
  EXPECT_EQ(spec->infer.generate.max_new_tokens, 200);
  const auto prompts = LoadPrompts(*spec);
  ASSERT_TRUE(prompts);
  EXPECT_EQ(*prompts, (std::vector<std::string>{"ROMEO:", "JULIET:"}));
  EXPECT_FALSE(ValidateNetwork(*spec));  // no [network]: fine for run-local, not for submit
  std::filesystem::remove_all(dir);
}

TEST(JobSpecTest, MissingFieldsAreNamed) {
  ExpectError(Replace(kTrainSpec, "batch = 16\n", ""), "train.batch: missing");
  ExpectError(Replace(kTrainSpec, "n_head = 4\n", ""), "model.n_head: missing");
  ExpectError(Replace(kTrainSpec, "kind = \"train\"\n", ""), "job.kind: missing");
  ExpectError(Replace(kTrainSpec, "[train]", "[ignored_train]"), "ignored_train: unknown table");
  ExpectError("[job]\nkind = \"infer\"\n[infer]\nprompts = [\"a\"]\n", "infer.checkpoint: missing");
  ExpectError("[job]\nkind = \"infer\"\n[infer]\ncheckpoint = \"x\"\n", "infer.prompts");
}

TEST(JobSpecTest, WrongTypesAreNamed) {
  ExpectError(Replace(kTrainSpec, "batch = 16", "batch = \"16\""),
              "train.batch: expected an integer, got string");
  ExpectError(Replace(kTrainSpec, "lr = 3e-3", "lr = \"fast\""), "train.lr: expected a number, got string");
  ExpectError(Replace(kTrainSpec, "n_layer = 4", "n_layer = 4.5"),
              "model.n_layer: expected an integer, got float");
  ExpectError(Replace(kTrainSpec, "kind = \"train\"", "kind = \"finetune\""), "job.kind");
  ExpectError(Replace(kTrainSpec, "schedule = \"cosine\"", "schedule = \"linear\""), "train.schedule");
  ExpectError(Replace(kTrainSpec, "workers = 2", "workers = true"),
              "network.workers: expected an integer, got boolean");
}

TEST(JobSpecTest, ImpossibleConfigsAreNamed) {
  ExpectError(Replace(kTrainSpec, "n_embd = 128", "n_embd = 130"), "model.n_embd: 130 is not divisible by model.n_head");
  ExpectError(Replace(kTrainSpec, "seq_len = 64", "seq_len = 65"), "train.seq_len: 65 exceeds model.context");
  ExpectError(Replace(kTrainSpec, "batch = 16", "batch = 0"), "train.batch");
  ExpectError(Replace(kTrainSpec, "min_lr = 3e-4", "min_lr = 1.0"), "train.min_lr");
  ExpectError(Replace(kTrainSpec, "val_fraction = 0.1", "val_fraction = 1.5"), "data.val_fraction");
  ExpectError(Replace(kTrainSpec, "n_layer = 4", "n_layer = 0"), "model.n_layer");
}

TEST(JobSpecTest, RoundTimeoutIsBounded) {
  // Milliseconds and deadlines are derived from it in int64: an absurd value is refused, not
  // left to overflow.
  for (const char* bad : {"round_timeout_s = 0", "round_timeout_s = 604801",
                          "round_timeout_s = 9223372036854775807"}) {
    const auto spec = ParseJobSpec(Replace(kTrainSpec, "round_timeout_s = 120", bad), "");
    ASSERT_TRUE(spec) << bad << ": " << spec.error().message;
    const auto network = ValidateNetwork(*spec);
    ASSERT_FALSE(network) << bad;
    EXPECT_NE(network.error().message.find("network.round_timeout_s"), std::string::npos);
  }
  const auto week = ParseJobSpec(Replace(kTrainSpec, "round_timeout_s = 120",
                                         "round_timeout_s = 604800"), "");
  ASSERT_TRUE(week);
  EXPECT_TRUE(ValidateNetwork(*week));
}

TEST(JobSpecTest, UnknownKeysAndSyntaxErrorsAreReported) {
  ExpectError(Replace(kTrainSpec, "batch = 16", "batch = 16\nbatchsize = 4"), "train.batchsize: unknown key");
  ExpectError(Replace(kTrainSpec, "[model]", "[model"), "not valid TOML (line");
}

TEST(JobSpecTest, NetworkAndPaymentAreCheckedOnlyWhenAsked) {
  std::string text = Replace(kTrainSpec, "workers = 2", "workers = 0");
  text = Replace(text, "budget_micro_plume = 50000000", "budget_micro_plume = -1");
  const auto spec = ParseJobSpec(text, "");
  ASSERT_TRUE(spec) << spec.error().message;
  const auto network = ValidateNetwork(*spec);
  ASSERT_FALSE(network);
  EXPECT_NE(network.error().message.find("network.workers"), std::string::npos);
  const auto payment = ValidatePayment(*spec);
  ASSERT_FALSE(payment);
  EXPECT_NE(payment.error().message.find("payment.budget_micro_plume"), std::string::npos);
}

// top_p and stop sequences travel to the network's agents (TaskAssign), so a network
// submission may set them; bad values are refused at parse time.
TEST(JobSpecTest, TopPAndStopSequencesParseAndAreAcceptedForTheNetwork) {
  const std::string infer =
      "[job]\nkind = \"infer\"\n[infer]\ncheckpoint = \"m.safetensors\"\nprompts = [\"a\"]\n"
      "top_p = 0.9\nstop = [\"\\n\\n\", \"END\"]\n[network]\nworkers = 1\n";
  const auto spec = ParseJobSpec(infer, "");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_FLOAT_EQ(spec->infer.generate.top_p, 0.9f);
  EXPECT_EQ(spec->infer.generate.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(ValidateNetwork(*spec));
  ExpectError(Replace(infer, "top_p = 0.9", "top_p = 0"), "infer.top_p");
  ExpectError(Replace(infer, "\"END\"", "\"\""), "infer.stop");
  ExpectError(Replace(infer, "\"END\"", "3"), "infer.stop");
}

TEST(JobSpecTest, LearningRateScheduleWarmsUpThenDecays) {
  TrainConfig t;
  t.steps = 110;
  t.lr = 1.0f;
  t.min_lr = 0.1f;
  t.warmup_steps = 10;
  EXPECT_FLOAT_EQ(t.LearningRate(0), 0.1f);
  EXPECT_FLOAT_EQ(t.LearningRate(9), 1.0f);
  EXPECT_FLOAT_EQ(t.LearningRate(10), 1.0f);
  EXPECT_NEAR(t.LearningRate(60), 0.55f, 1e-6);
  EXPECT_NEAR(t.LearningRate(110), 0.1f, 1e-6);
  t.schedule = LrSchedule::kConstant;
  EXPECT_FLOAT_EQ(t.LearningRate(60), 1.0f);
}

TEST(JobSpecTest, TheExamplesParse) {
  const std::string examples = std::string(PLUME_DATA_DIR) + "/../examples/";
  for (const char* name : {"train-local.toml", "infer-local.toml", "train-network.toml",
                           "net-infer-gpt2.toml"}) {
    const auto spec = LoadJobSpec(examples + name);
    EXPECT_TRUE(spec) << name << ": " << (spec ? "" : spec.error().message);
  }
  const auto network = LoadJobSpec(examples + "train-network.toml");
  ASSERT_TRUE(network);
  EXPECT_TRUE(ValidateNetwork(*network));
  EXPECT_TRUE(ValidatePayment(*network));
  const auto gpt2 = LoadJobSpec(examples + "net-infer-gpt2.toml");
  ASSERT_TRUE(gpt2);
  EXPECT_EQ(gpt2->infer.tokenizer, "gpt2-bpe");
  EXPECT_TRUE(ValidateNetwork(*gpt2));
}

}  // namespace
}  // namespace plume::kernels

namespace plume::kernels {
namespace {

// infer.tokenizer names the tokenizer (default "bytes"); "gpt2-bpe" takes one tokenizer.json or
// vocab.json and merges.txt, resolved against the spec's directory. Unknown names, wrong file
// counts and unreadable or malformed files are refused with the field named.
TEST(JobSpecTest, TheTokenizerIsNamedWithItsFiles) {
  const std::string base =
      "[job]\nkind = \"infer\"\n[infer]\ncheckpoint = \"m.safetensors\"\nprompts = [\"a\"]\n";
  const auto bytes = ParseJobSpec(base, "/specs");
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(bytes->infer.tokenizer, "bytes");
  EXPECT_TRUE(bytes->infer.tokenizer_files.empty());
  auto byte_tokenizer = LoadSpecTokenizer(*bytes);
  ASSERT_TRUE(byte_tokenizer) << byte_tokenizer.error().message;
  EXPECT_EQ((*byte_tokenizer)->name(), "bytes");

  const auto bpe = ParseJobSpec(
      base + "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [\"tok/vocab.json\", \"tok/merges.txt\"]\n",
      "/specs");
  ASSERT_TRUE(bpe) << bpe.error().message;
  EXPECT_EQ(bpe->infer.tokenizer, "gpt2-bpe");
  EXPECT_EQ(bpe->infer.tokenizer_files,
            (std::vector<std::string>{"/specs/tok/vocab.json", "/specs/tok/merges.txt"}));
  const auto missing = LoadSpecTokenizer(*bpe);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/specs/tok/vocab.json"), std::string::npos);

  ExpectError(base + "tokenizer = \"sentencepiece\"\n", "unknown tokenizer");
  ExpectError(base + "tokenizer = \"gpt2-bpe\"\n", "infer.tokenizer_files");
  ExpectError(base + "tokenizer_files = [\"v.json\"]\n", "takes no files");
  ExpectError(base + "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [\"a\", \"b\", \"c\"]\n",
              "infer.tokenizer_files");
  ExpectError(base + "tokenizer = 3\n", "infer.tokenizer");

  // A file that is there but is no tokenizer: refused, naming the file.
  const auto dir = std::filesystem::temp_directory_path() / "plume_spec_tokenizer_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"type\": \"Unigram\"}}";
  const auto bad = ParseJobSpec(base + "tokenizer = \"gpt2-bpe\"\ntokenizer_files = "
                                       "[\"tokenizer.json\"]\n",
                                dir.string());
  ASSERT_TRUE(bad) << bad.error().message;
  const auto refused = LoadSpecTokenizer(*bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("BPE"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("tokenizer.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::kernels
