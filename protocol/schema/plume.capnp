# Plume wire protocol: every message between plume (CLI), plume-scheduler and plume-agent.
#
# One Envelope per ZeroMQ frame (plus the ROUTER's routing frame on the scheduler side). The
# envelope carries the protocol version, a request id that replies echo, the sender's ed25519
# public key (checked by the transport against the CURVE key of the connection) and exactly one
# body. docs/protocol.md describes each exchange; protocol/include/plume/protocol/limits.h holds
# every bound (message size, chunk size, list lengths).
#
# Conventions: hashes are 32-byte BLAKE2b-256 digests (Data); ids of principals are 32-byte
# ed25519 public keys (Data); durations and times carry their unit last (leaseMs, createdAtMs);
# money is an integer in micro-PLUME. Adding fields or union members at the end is compatible;
# changing or removing them needs a new protocol version (Envelope.version).

@0x9f21b4c732ac3f76;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("plume::wire");

# The ledger, data-owner and governance messages (ledger.capnp).
using import "ledger.capnp".LedgerQuery;
using import "ledger.capnp".LedgerReply;
using import "ledger.capnp".LedgerMint;
using import "ledger.capnp".LedgerSubmit;
using import "ledger.capnp".DataRequest;
using import "ledger.capnp".DataReply;
using import "ledger.capnp".GovRequest;
using import "ledger.capnp".GovReply;

# ---------------------------------------------------------------- shared types

enum Backend {
  cpu @0;
  cuda @1;
}

enum JobKind {
  train @0;
  infer @1;
}

enum JobState {
  queued @0;
  running @1;
  succeeded @2;
  failed @3;
  cancelled @4;
}

enum NodeState {
  active @0;
  draining @1;
  lost @2;       # lease expired; its tasks went back to the queue
  gone @3;       # deregistered
}

enum ErrorCode {
  unknown @0;
  badMessage @1;          # malformed, truncated, wrong field contents
  unsupportedVersion @2;  # Envelope.version not spoken by the receiver
  tooLarge @3;            # over a limit in limits.h
  unauthorized @4;        # identity mismatch, not on the allow-list, or no access to a blob
  notFound @5;            # unknown job, task, node or blob
  invalidSpec @6;         # job spec rejected by validation (message says what to fix)
  insufficientFunds @7;   # budget cannot be escrowed
  conflict @8;            # wrong state for the request (e.g. cancel a finished job)
  retryLater @9;          # busy or not ready; the same request may succeed later
  internal @10;           # a bug or a local failure (disk full) on the replier
  unexpected @11;         # a valid message the receiver does not accept in this role
}

struct BlobRef {
  hash @0 :Data;          # BLAKE2b-256, 32 bytes
  sizeBytes @1 :UInt64;
  name @2 :Text;          # optional: role of the blob ("data", "model.safetensors", ...)
}

struct Gpu {
  name @0 :Text;                 # e.g. "NVIDIA H100 80GB HBM3", or "cpu" for the CPU backend
  memoryBytes @1 :UInt64;
  count @2 :UInt32;              # identical devices pooled as one worker (NCCL inside the agent)
  backend @3 :Backend;
  selftestPassed @4 :Bool;       # agents must not offer devices that failed the selftest
  measuredFlopsPerSec @5 :Float64;  # from the selftest, for all `count` devices together
}

struct ModelConfig {             # GPT-2 architecture (docs/job-spec.md [model])
  nLayer @0 :UInt32;
  nHead @1 :UInt32;
  nEmbd @2 :UInt32;
  context @3 :UInt32;
  vocab @4 :UInt32;
}

struct TrainParams {             # one worker's share of one DiLoCo round
  round @0 :UInt32;
  localSteps @1 :UInt32;         # H: inner AdamW steps this task runs
  stepOffset @2 :UInt64;         # global step of the first local step (for the lr schedule)
  totalSteps @3 :UInt64;         # rounds * localSteps, for the lr schedule
  batch @4 :UInt32;
  seqLen @5 :UInt32;
  lr @6 :Float64;
  minLr @7 :Float64;
  warmupSteps @8 :UInt32;
  schedule @9 :Text;             # "cosine" or "constant"
  weightDecay @10 :Float64;
  gradClip @11 :Float64;
  seed @12 :UInt64;
  shardIndex @13 :UInt32;
  shardCount @14 :UInt32;
  roundParams @15 :BlobRef;      # parameters the round starts from (safetensors); empty hash
                                 # in round 0 means "initialise from seed"
  dataShard @16 :BlobRef;        # this worker's tokens
  evalTokens @17 :BlobRef;       # optional validation tokens (empty hash: none)
}

struct InferParams {
  checkpoint @0 :BlobRef;        # safetensors weights
  firstPromptIndex @1 :UInt64;   # index of prompts[0] in the job's prompt list
  prompts @2 :List(Text);
  maxNewTokens @3 :UInt32;
  temperature @4 :Float64;
  topK @5 :UInt32;
  seed @6 :UInt64;
  # The job's tokenizer (kernels/tokenizer.h): "" or "bytes", or "gpt2-bpe" built from
  # tokenizerFiles in order ([tokenizer.json] or [vocab.json, merges.txt]); at most 2 files.
  tokenizer @7 :Text;
  tokenizerFiles @8 :List(BlobRef);
  topP @9 :Float64 = 1.0;        # nucleus sampling; 1 = no cut
  stop @10 :List(Text);          # stop sequences: at most 16, each 1..256 bytes (kernels/config.h)
  # A dispute's referee (docs/verification.md): the global index of each prompt, ascending, when
  # they are not firstPromptIndex, firstPromptIndex + 1, ... Empty, or one per prompt.
  promptIndices @11 :List(UInt64);
}

struct TaskRef {
  taskId @0 :UInt64;
  attempt @1 :UInt32;
}

struct ProgressInfo {
  taskId @0 :UInt64;
  attempt @1 :UInt32;
  step @2 :UInt64;               # local step within the task
  stepsTotal @3 :UInt64;
  loss @4 :Float64;              # NaN when not known yet
  tokensPerSec @5 :Float64;
}

struct TaskMetrics {
  finalLoss @0 :Float64;
  valLoss @1 :Float64;           # NaN when the task had no evaluation data
  tokens @2 :UInt64;             # tokens processed (train) or generated (infer)
  flops @3 :Float64;             # as reported by the agent; payment uses the scheduler's count
  durationMs @4 :UInt64;
}

# What an agent signs for each finished task. TaskResult.receipt holds this struct encoded as a
# single-segment canonical Cap'n Proto message; TaskResult.receiptSignature is the agent's
# ed25519 signature over those exact bytes.
struct Receipt {
  jobId @0 :Text;
  taskId @1 :UInt64;
  attempt @2 :UInt32;
  agent @3 :Data;                # ed25519 public key of the signer
  inputs @4 :List(Data);         # hashes of every input blob
  output @5 :Data;               # hash of the result blob
  tokens @6 :UInt64;
  flops @7 :Float64;
  finishedAtMs @8 :UInt64;       # agent's wall clock, unix ms
  # CommitmentRoot (receipt.h) of TaskResult.commitments: training, the chain of training-state
  # links (at most 32); inference, one hash per completion in prompt order. Empty: no
  # commitments (a receipt without them encodes to the same bytes as before this field).
  commitment @9 :Data;
}

struct JobInfo {                 # one row of `plume status` / `plume jobs`
  jobId @0 :Text;
  name @1 :Text;
  kind @2 :JobKind;
  state @3 :JobState;
  owner @4 :Data;                # ed25519 public key of the submitter
  round @5 :UInt32;
  roundsTotal @6 :UInt32;
  step @7 :UInt64;               # global step (train) or prompts done (infer)
  stepsTotal @8 :UInt64;
  loss @9 :Float64;              # NaN when not known yet
  tokensPerSec @10 :Float64;
  reasons @11 :List(Text);       # why it failed / was cancelled / retried, newest last
  createdAtMs @12 :UInt64;
  updatedAtMs @13 :UInt64;
  escrowMicroPlume @14 :Int64;
  spentMicroPlume @15 :Int64;
  tasksQueued @16 :UInt32;
  tasksRunning @17 :UInt32;
  tasksDone @18 :UInt32;
  tasksFailed @19 :UInt32;
  valLoss @20 :Float64;
}

struct NodeInfo {                # one row of `plume nodes`
  nodeId @0 :Text;
  agent @1 :Data;                # ed25519 public key
  name @2 :Text;
  state @3 :NodeState;
  gpus @4 :List(Gpu);
  priceMicroPlumePerPflop @5 :Int64;
  runningTasks @6 :UInt32;
  lastHeartbeatAtMs @7 :UInt64;
  kernelBuild @8 :Text;
  # The provider's record: attempts that succeeded, failed (reported, deadline), were lost with
  # the node's lease, and results the scheduler's screens refused (never paid).
  tasksSucceeded @9 :UInt64;
  tasksFailed @10 :UInt64;
  tasksLost @11 :UInt64;
  tasksRefused @12 :UInt64;
  # Replay audits (docs/verification.md): its results committed and not proven wrong, how many
  # another provider re-ran, how many a referee proved wrong, and its current audit rate.
  resultsValid @13 :UInt64;
  resultsAudited @14 :UInt64;
  provenFaulty @15 :UInt64;
  auditRatePpm @16 :UInt32;
  # Stake (docs/payments.md), as the ledger last reported it: free stake (what placement counts),
  # stake unbonding (still slashable), and the proven faults a slash was decided for.
  stakeMicroPlume @17 :Int64;
  unbondingMicroPlume @18 :Int64;
  slashes @19 :UInt64;
  # Who operates the node (Register.ownerAttestation, docs/providers.md): hex ed25519 key; the
  # node's own id when it declared no owner.
  owner @20 :Text;
}

# ---------------------------------------------------------------- agent <-> scheduler

struct Register {                # agent -> scheduler; reply RegisterAck or Error
  name @0 :Text;
  gpus @1 :List(Gpu);
  priceMicroPlumePerPflop @2 :Int64;
  kernelBuild @3 :Text;          # kernel class, <backend>/<device>/<build> (kernel_class.h)
  agentVersion @4 :Text;
  maxConcurrentTasks @5 :UInt32;
  heldResults @6 :List(TaskRef); # finished results not yet acknowledged (after a reconnect)
  ownerAttestation @7 :OwnerAttestation;  # optional; absent: the agent is its own owner
}

# "Agent key `agent` is operated by owner `owner`" on the network of `scheduler`, signed by the
# owner (protocol/owner.h; docs/protocol.md "Owners"). Every field has an exact length; a
# Register whose attestation is malformed, for another agent or scheduler, or badly signed is
# refused whole (ErrorCode badMessage or unauthorized).
struct OwnerAttestation {
  owner @0 :Data;                # 32 bytes: the owner's ed25519 public key
  agent @1 :Data;                # 32 bytes: the registering agent's key
  scheduler @2 :Data;            # 32 bytes: this scheduler's id
  signature @3 :Data;            # 64 bytes: the owner's, over the domain tag and the three keys
}

struct RegisterAck {
  nodeId @0 :Text;
  leaseMs @1 :UInt64;            # a node silent for this long is lost
  heartbeatIntervalMs @2 :UInt64;
  ledgerId @3 :Data;             # 32 bytes: the id of the scheduler's ledger (ledger/log.h
                                 # LedgerIdOf), which the agent's ledger receipts sign; empty
                                 # when the scheduler keeps no ledger
}

struct Heartbeat {               # agent -> scheduler; reply HeartbeatAck
  running @0 :List(TaskRef);
  progress @1 :List(ProgressInfo);
}

struct HeartbeatAck {
  leaseMs @0 :UInt64;
  cancel @1 :List(TaskRef);      # tasks the agent should stop (the scheduler dropped them)
  reRegister @2 :Bool;           # the scheduler does not know this node (restarted): register again
}

struct Drain {                   # agent -> scheduler: take no new tasks (SIGTERM)
  reason @0 :Text;
}

struct Deregister {              # agent -> scheduler: leaving now; running tasks go back
  reason @0 :Text;
}

struct TaskAssign {              # scheduler -> agent; the agent answers with progress/result/failed
  jobId @0 :Text;
  taskId @1 :UInt64;
  attempt @2 :UInt32;
  kind @3 :JobKind;
  model @4 :ModelConfig;
  params :union {
    train @5 :TrainParams;
    infer @6 :InferParams;
    exportState @10 :ExportState;  # a dispute: send back a state this agent kept
  }
  deadlineMs @7 :UInt64;         # relative: give up and report failure after this long
  specHash @8 :Data;             # hash of the job spec, for the receipt and logs
  flops @9 :UInt64;              # the FLOPs the scheduler bills this task for (work.h TaskFlops);
                                 # the agent computes its own by the same rule (kernels/flops.h),
                                 # signs that, and logs a difference (docs/payments.md)
  segment @11 :SegmentReplay;    # with train: replay one segment of it (a dispute's referee)
  dataKey @12 :DataKeyGrant;     # with train on an encrypted dataset: how this agent, and only
                                 # it, gets the data key (docs/data-owners.md "Key release")
}

# The scheduler's grant for one assigned task on an encrypted dataset, sent to that agent only.
struct DataKeyGrant {
  grant @0 :Data;                # data/grant.h EncodeGrant: signed by the scheduler for its ledger
  keyService @1 :Text;           # the owner's key service (the terms' key_service), tcp://HOST:PORT
  owner @2 :Data;                # the owner's ed25519 key: the key service's CURVE server identity
}

# A dispute on commitment chains (docs/verification.md, "Commitments and disputes"): the agent
# that ran task sourceTaskId (attempt sourceAttempt) sends back, as the result blob, the training
# state it kept behind commitment link `link` (verify/state_codec.h). Not billed (flops 0).
struct ExportState {
  sourceTaskId @0 :UInt64;
  sourceAttempt @1 :UInt32;
  link @2 :UInt32;
}

# A dispute's referee: replay only the steps of link `link` of the train task in `params`, from
# startState (the state behind link - 1, checked against chainA before anything runs; an empty
# hash for link 0: the round's parameters with zero moments), and return the recomputed link as
# TaskResult.commitments[0] (the result blob: its 32 bytes). chainA and chainB are the two
# disputed chains, 32 bytes a link, at most 32 links each.
struct SegmentReplay {
  link @0 :UInt32;
  startState @1 :BlobRef;
  chainA @2 :List(Data);
  chainB @3 :List(Data);
}

struct TaskProgress {            # agent -> scheduler, while a task runs (also via Heartbeat)
  info @0 :ProgressInfo;
}

struct TaskResult {              # agent -> scheduler after the output blob is uploaded
  taskId @0 :UInt64;
  attempt @1 :UInt32;
  output @2 :BlobRef;            # train: parameter delta (safetensors); infer: outputs JSONL
  metrics @3 :TaskMetrics;
  receipt @4 :Data;              # encoded Receipt
  receiptSignature @5 :Data;     # 64-byte ed25519 signature over `receipt`
  # The ledger receipt (ledger/receipt.h): the fields the scheduler cannot know, and the agent's
  # signature over AgentSigningBytes of the whole receipt (docs/payments.md).
  ledgerDevice @6 :Text;
  ledgerKernelBuild @7 :Text;
  ledgerStartUnixMs @8 :UInt64;
  ledgerEndUnixMs @9 :UInt64;
  ledgerSignature @10 :Data;     # 64 bytes; empty from an agent that does not sign one (unpaid)
  # What Receipt.commitment is the root of (docs/verification.md, "Commitments and disputes").
  commitments @11 :List(Data);   # 32 bytes each, at most limits::kResultCommitmentsMax
}

struct TaskResultAck {           # scheduler -> agent: result recorded durably; agent may forget it
  taskId @0 :UInt64;
  attempt @1 :UInt32;
  accepted @2 :Bool;             # false: stale attempt or rejected; message says why
  message @3 :Text;
  paidMicroPlume @4 :Int64;      # what this result earns the agent (price x FLOPs, before the
                                 # fee and before the ledger settles it); 0 when not accepted
                                 # or when the same result was acknowledged before
}

struct TaskFailed {              # agent -> scheduler
  taskId @0 :UInt64;
  attempt @1 :UInt32;
  reason @2 :Text;
  retryable @3 :Bool;            # false: the same input fails everywhere (bad data, bad config)
}

struct TaskCancel {              # scheduler -> agent
  taskId @0 :UInt64;
  attempt @1 :UInt32;
  reason @2 :Text;
}

# ---------------------------------------------------------------- CLI <-> scheduler

struct SubmitJob {               # reply SubmitAck or Error
  specToml @0 :Text;             # the job spec file as written (docs/job-spec.md)
  specHash @1 :Data;             # BLAKE2b-256 of specToml's bytes
  signature @2 :Data;            # submitter's ed25519 signature over SpecSigningBytes(specHash)
  dataBlobs @3 :List(BlobRef);   # uploaded before submit (BlobPut); named "data", "checkpoint", ...
  clientJobKey @4 :Text;         # client-chosen idempotency key: a retried submit gets the same job
  escrowHoldSignature @5 :Data;  # submitter's signature of the job's escrow hold ledger entry
                                 # (scheduler/ledger_bridge.h EscrowHoldEntry; docs/payments.md)
  escrowHoldMicroPlume @6 :Int64;  # the amount that signature is for: QuoteReply.maxCostMicroPlume
}

struct QuoteJob {                # reply QuoteReply or Error: what a submit of this spec would hold
  specToml @0 :Text;
  dataBlobs @1 :List(BlobRef);   # as SubmitJob's (a prompts blob counts towards the FLOPs)
}

struct QuoteReply {
  flops @0 :UInt64;              # billed FLOPs of all tasks (kernels/flops.h)
  maxCostMicroPlume @1 :Int64;   # what a submit holds: flops x the spec's max price, plus the
                                 # fee, summed per task, plus verificationReserveMicroPlume
  feeBps @2 :UInt32;             # the network fee in basis points of each settle
  ledgerId @3 :Data;             # 32 bytes: the ledger the escrow hold signature is for (as
                                 # RegisterAck.ledgerId); empty when the scheduler keeps no ledger
  verificationReserveMicroPlume @4 :Int64;  # the part of maxCostMicroPlume held for the job's
                                 # audit and referee runs (docs/payments.md); the rest is the
                                 # job's own tasks at the max price plus the fee (and royalties)
}

struct SubmitAck {
  jobId @0 :Text;
  escrowMicroPlume @1 :Int64;
}

struct JobStatus {               # reply JobStatusReply
  jobId @0 :Text;
}

struct JobStatusReply {
  job @0 :JobInfo;
}

struct ListJobs {                # reply ListJobsReply; only the sender's jobs unless operator
  includeFinished @0 :Bool;
  limit @1 :UInt32;              # 0: the limit in limits.h
}

struct ListJobsReply {
  jobs @0 :List(JobInfo);
}

struct CancelJob {               # reply CancelJobReply or Error
  jobId @0 :Text;
  reason @1 :Text;
}

struct CancelJobReply {
  jobId @0 :Text;
  state @1 :JobState;
}

struct ListNodes {}              # reply ListNodesReply

struct ListNodesReply {
  nodes @0 :List(NodeInfo);
}

struct FetchJob {                # reply FetchJobReply; then BlobGet for each output
  jobId @0 :Text;
}

struct FetchJobReply {
  jobId @0 :Text;
  kind @1 :JobKind;
  state @2 :JobState;
  outputs @3 :List(BlobRef);     # train: "model.safetensors"; infer: "outputs.jsonl"
  # Provenance, for `plume audit` (docs/payments.md): what the receipts' hashes must chain to.
  specHash @4 :Data;             # BLAKE2b-256 of the spec TOML as submitted
  dataBlobs @5 :List(BlobRef);   # the job's data blobs ("data", "val", "checkpoint", "prompts")
  rounds @6 :List(RoundRecord);  # train: each finished round, in order
  outputShards @7 :List(Data);   # each task's output blob hash (infer: shard order; train: the
                                 # final parameters)
}

struct RoundRecord {
  round @0 :UInt32;
  paramsIn @1 :Data;             # the parameters the round's workers started from
  paramsOut @2 :Data;            # the aggregated checkpoint the round produced
  # What the outer step (scheduler/include/plume/scheduler/outer_step.h) combined, so that
  # `plume audit` can replay it: paramsOut = OuterStep(paramsIn, deltas, weights, lr, momentum).
  deltas @3 :List(Data);         # the workers' output blobs it averaged, in worker order
  weights @4 :List(UInt64);      # the tokens each delta was trained on
  outerLr @5 :Float64;
  outerMomentum @6 :Float64;
}

# ---------------------------------------------------------------- blobs (any peer)

# Upload (push): the sender sends BlobPut chunks with at most limits.h kBlobWindowChunks
# unacknowledged; the receiver answers each with BlobAck carrying the contiguous bytes it holds.
# A first BlobPut with no bytes at offset 0 is a probe: the ack says where to resume.
struct BlobPut {
  hash @0 :Data;
  offset @1 :UInt64;
  bytes @2 :Data;                # at most kBlobChunkBytes
  totalSizeBytes @3 :UInt64;
}

struct BlobAck {
  hash @0 :Data;
  nextOffset @1 :UInt64;         # the receiver holds [0, nextOffset); send from here
  complete @2 :Bool;             # verified against the hash and stored
}

# Download (pull): the receiver keeps up to kBlobWindowChunks BlobGet requests in flight, each
# for one chunk; the owner answers each with one BlobChunk, or Error (notFound, unauthorized).
struct BlobGet {
  hash @0 :Data;
  offset @1 :UInt64;
  maxBytes @2 :UInt32;           # 0 or more than kBlobChunkBytes means kBlobChunkBytes
}

struct BlobChunk {
  hash @0 :Data;
  offset @1 :UInt64;
  bytes @2 :Data;
  totalSizeBytes @3 :UInt64;
}

# ---------------------------------------------------------------- generic

struct Error {
  code @0 :ErrorCode;
  message @1 :Text;              # what was wrong and what to do
}

struct Ack {}                    # reply to Drain, Deregister and TaskProgress where one is wanted

struct Envelope {
  version @0 :UInt16;            # kProtocolVersion in limits.h
  requestId @1 :UInt64;          # chosen by the requester; replies echo it; 0 for unsolicited
  sender @2 :Data;               # ed25519 public key (32 bytes) of the sending principal
  body :union {
    error @3 :Error;
    ack @4 :Ack;
    ping @5 :Void;
    pong @6 :Void;

    register @7 :Register;
    registerAck @8 :RegisterAck;
    heartbeat @9 :Heartbeat;
    heartbeatAck @10 :HeartbeatAck;
    drain @11 :Drain;
    deregister @12 :Deregister;
    taskAssign @13 :TaskAssign;
    taskProgress @14 :TaskProgress;
    taskResult @15 :TaskResult;
    taskResultAck @16 :TaskResultAck;
    taskFailed @17 :TaskFailed;
    taskCancel @18 :TaskCancel;

    submitJob @19 :SubmitJob;
    submitAck @20 :SubmitAck;
    jobStatus @21 :JobStatus;
    jobStatusReply @22 :JobStatusReply;
    listJobs @23 :ListJobs;
    listJobsReply @24 :ListJobsReply;
    cancelJob @25 :CancelJob;
    cancelJobReply @26 :CancelJobReply;
    listNodes @27 :ListNodes;
    listNodesReply @28 :ListNodesReply;
    fetchJob @29 :FetchJob;
    fetchJobReply @30 :FetchJobReply;

    blobPut @31 :BlobPut;
    blobAck @32 :BlobAck;
    blobGet @33 :BlobGet;
    blobChunk @34 :BlobChunk;

    quoteJob @35 :QuoteJob;
    quoteReply @36 :QuoteReply;

    ledgerQuery @37 :LedgerQuery;
    ledgerReply @38 :LedgerReply;
    ledgerMint @39 :LedgerMint;      # kept for older clients; ledgerSubmit carries mints too
    ledgerSubmit @40 :LedgerSubmit;

    dataRequest @41 :DataRequest;    # data owners: datasets, terms, grants, key release
    dataReply @42 :DataReply;
    govRequest @43 :GovRequest;      # governance: proposals, votes, tallies, parameters
    govReply @44 :GovReply;
  }
}
