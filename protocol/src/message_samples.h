// Valid frames of several message kinds (lists of structs, texts, enums, unions), for the framing
// tests and as the seed corpus of the decoder fuzz target (tests/fuzz). Test code only.
#pragma once

#include <string>
#include <vector>

#include "plume/protocol/hash.h"
#include "plume/protocol/message.h"

namespace plume::testing_samples {

inline PublicKey TestKey() {
  PublicKey pk;
  for (size_t i = 0; i < pk.size(); ++i) pk[i] = static_cast<uint8_t>(i + 1);
  return pk;
}

inline std::string SampleTaskAssign() {
  MessageBuilder b(42, TestKey());
  auto task = b.body().initTaskAssign();
  task.setJobId("job-1");
  task.setTaskId(7);
  task.setAttempt(2);
  task.setKind(wire::JobKind::TRAIN);
  auto model = task.initModel();
  model.setNLayer(4);
  model.setNHead(4);
  model.setNEmbd(128);
  model.setContext(64);
  model.setVocab(256);
  auto train = task.initParams().initTrain();
  train.setLocalSteps(50);
  train.setLr(3e-3);
  train.setSeed(1337);
  train.setSchedule("cosine");
  Hash256 h = Blake2b256(std::string_view("shard"));
  train.initDataShard().setHash(AsData(h));
  auto bytes = b.Encode();
  return bytes ? *bytes : std::string();
}

// Messages with lists of structs, texts and enums, for the mutation tests.
inline std::vector<std::string> SampleFrames() {
  std::vector<std::string> out{SampleTaskAssign()};
  {
    MessageBuilder b(3, TestKey());
    auto reg = b.body().initRegister();
    reg.setName("box");
    auto gpus = reg.initGpus(2);
    gpus[0].setName("H100");
    gpus[0].setBackend(wire::Backend::CUDA);
    gpus[0].setMemoryBytes(80ull << 30);
    gpus[1].setName("cpu");
    reg.initHeldResults(1)[0].setTaskId(9);
    out.push_back(*b.Encode());
  }
  {
    MessageBuilder b(4, TestKey());
    auto jobs = b.body().initListJobsReply().initJobs(2);
    jobs[0].setJobId("a");
    jobs[0].setState(wire::JobState::FAILED);
    auto reasons = jobs[0].initReasons(2);
    reasons.set(0, "agent lost");
    reasons.set(1, "budget");
    jobs[1].setJobId("b");
    out.push_back(*b.Encode());
  }
  {
    MessageBuilder b(5, TestKey());
    auto task = b.body().initTaskAssign();
    task.setKind(wire::JobKind::INFER);
    auto infer = task.initParams().initInfer();
    auto prompts = infer.initPrompts(3);
    prompts.set(0, "ROMEO:");
    prompts.set(1, "JULIET:");
    prompts.set(2, "");
    infer.setTokenizer("gpt2-bpe");
    auto files = infer.initTokenizerFiles(2);
    files[0].setName("vocab.json");
    files[1].setName("merges.txt");
    infer.setTopP(0.9);
    infer.initStop(1).set(0, "\n\n");
    out.push_back(*b.Encode());
  }
  return out;
}

}  // namespace plume::testing_samples
