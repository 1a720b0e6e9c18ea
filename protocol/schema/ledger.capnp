# Plume wire protocol, part two: the messages about money and what it governs (the ledger,
# data owners' key release, governance). plume.capnp imports this file and carries these
# structs in its Envelope; the conventions at the top of plume.capnp hold here too. Kept apart
# only so that each schema file stays readable on its own; the C++ names are the same
# (plume::wire), and moving a struct between files changes nothing on the wire.

@0xea4a0ffd23587ff6;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("plume::wire");

# ---------------------------------------------------------------- ledger (CLI <-> scheduler)

# docs/protocol.md "Ledger". Entries travel in the ledger's own canonical encoding
# (ledger/entry.h Encode, signatures included) so that a client hashes them itself
# (ledger.h EntryLeafHash) and checks every proof against a signed head and the ledger key it
# trusts; the scheduler's word is needed only for balances, which no proof covers.

struct LedgerHead {              # a signed tree head (ledger/head.h)
  treeSize @0 :UInt64;
  timestampUnixMs @1 :UInt64;
  root @2 :Data;                 # 32 bytes: RFC 9162 Merkle root (BLAKE2b-256) of treeSize entries
  signature @3 :Data;            # 64 bytes: the ledger key over head.h HeadSigningBytes
  ledgerId @4 :Data;             # 32 bytes: the ledger's id (ledger/log.h LedgerIdOf), which an
                                 # operator's mint signs
}

struct LedgerEntry {             # one entry as logged
  index @0 :UInt64;
  prevHash @1 :Data;             # 32 bytes: leaf hash of the entry before (zeros for entry 0)
  entry @2 :Data;                # canonical entry bytes (ledger/entry.h Encode)
}

struct LedgerHold {              # the escrow of one job (ledger/state.h HoldInfo)
  team @0 :Text;
  heldMicroPlume @1 :Int64;
  paidMicroPlume @2 :Int64;
  feesMicroPlume @3 :Int64;
  releasedMicroPlume @4 :Int64;
  closed @5 :Bool;
}

struct LedgerQuery {             # reply LedgerReply or Error; any authenticated principal
  union {
    balance @0 :Text;            # account; "" = the sender's team:<key>
    history :group {             # entries touching an account, oldest first, the newest `limit`
      account @1 :Text;          # "" = the sender's team:<key>; "*" = every entry (operator only)
      limit @2 :UInt32;          # 0 or over limits.h kLedgerHistoryRowsMax: that bound
    }
    inclusion :group {           # inclusion proof of one entry against the latest head
      index @3 :UInt64;
      entryId @4 :Text;          # when not empty, the entry with this id (index is ignored)
    }
    head @5 :Void;               # the latest signed tree head alone
    consistency :group {         # RFC 9162 consistency proof between two tree sizes
      oldSize @6 :UInt64;
      newSize @7 :UInt64;        # 0 = the latest head's size
    }
    stakeTerms @8 :Void;         # the scheduler's stake settings and clock (`plume unstake`)
  }
}

# Entries a client signs and the scheduler appends (docs/protocol.md "Ledger", "Submit"). Reply
# LedgerReply (applied) or Error; a refusal changes nothing.
struct LedgerSubmit {
  entry @0 :Data;                # canonical entry (ledger/entry.h Encode) with its signatures, at
                                 # most ledger/limits.h kRecordBytesMax bytes: a mint (operator
                                 # key), transfer (the from account's owner), stake (the agent) or
                                 # unstake (the agent; atMs = release time, which must lie in
                                 # [now + unbondingMs, now + unbondingMs + unstakeSkewMs] of the
                                 # scheduler's clock: stakeTerms; the scheduler adds the ledger
                                 # key's signature)
}

struct UnbondTranche {           # one unstake waiting for its release (ledger/state.h Tranche)
  entryId @0 :Text;              # the unstake entry
  amountMicroPlume @1 :Int64;    # what is left of it (slashes take the latest tranches first)
  releaseAtMs @2 :UInt64;        # unix ms; after it the scheduler withdraws it to provider:<key>
}

struct LedgerMint {              # reply LedgerReply (applied) or Error; as a LedgerSubmit of a mint
  entry @0 :Data;                # canonical mint entry (ledger/entry.h MakeMint) signed by the
                                 # operator key; the ledger refuses any other signer
}

struct LedgerReply {
  head @0 :LedgerHead;           # the latest signed head; proofs in this reply are against it
  union {
    balance :group {
      account @1 :Text;
      open @2 :Bool;             # false: never opened or credited (balance 0)
      balanceMicroPlume @3 :Int64;
      hold @4 :LedgerHold;       # escrow:<job> accounts only (hasHold)
      hasHold @5 :Bool;
      # provider:<key>: the pay of its succeeded results whose settle is not applied yet (held
      # for verification: audit or challenge window); team:<key>: the same over its jobs' tasks.
      # The scheduler's word (its task records), not the ledger's; 0 for other accounts.
      pendingMicroPlume @20 :Int64;
      tranches @21 :List(UnbondTranche);  # unbond:<key> accounts: by release time
    }
    history :group {
      account @6 :Text;          # as resolved ("*" for every entry)
      entries @7 :List(LedgerEntry);
      truncated @8 :Bool;        # older entries were left out to keep the reply under its bound
    }
    inclusion :group {
      entry @9 :LedgerEntry;
      path @10 :List(Data);      # 32-byte hashes, RFC 9162 2.1.3 (leaf to root)
    }
    headOnly @11 :Void;
    consistency :group {
      oldSize @12 :UInt64;
      newSize @13 :UInt64;
      proof @14 :List(Data);     # 32-byte hashes, RFC 9162 2.1.4
      oldRoot @15 :Data;         # the roots at both sizes, for display: a client checks the
      newRoot @16 :Data;         # proof with the old root it kept, not with this one
    }
    applied :group {             # the answer to LedgerSubmit and LedgerMint
      entryId @17 :Text;
      index @18 :UInt64;
      repeated @19 :Bool;        # this id was applied before (a retried submit is applied once)
    }
    stakeTerms :group {
      nowUnixMs @22 :UInt64;     # the scheduler's clock when it answered
      unbondingMs @23 :UInt64;   # an unstake's release time is at least now + this
      unstakeSkewMs @24 :UInt64; # ... and at most this later
      minStakePerDeviceMicroPlume @25 :Int64;  # free stake a provider needs per device to be
                                               # placed (0: none)
      challengeWindowMs @26 :UInt64;  # an unaudited result is paid this long after it finished
    }
  }
}

# Data owners' key release (docs/data-owners.md "Key release"): an agent -> the owner's key
# service (`plume data serve`, its own CURVE socket; never the scheduler). The asking agent is
# the key its CURVE handshake proved, never anything in these bytes. Reply DataReply, or Error
# (unauthorized: the grant does not hold for this peer, named in the text; retryLater: the
# ledger did not record the release yet, or this peer asks too often).
struct DataRequest {
  reserved @0 :Void;
  dataset @1 :Text;              # the dataset id the grant names
  job @2 :Text;
  task @3 :Text;                 # the task's wire id in decimal, as in the ledger receipt
  grant @4 :Data;                # DataKeyGrant.grant, as received
}
struct DataReply {
  reserved @0 :Void;
  sealedKey @1 :Data;            # crypto_box_seal of the 32-byte data key to the asking agent
  accessEntry @2 :Text;          # the ledger entry recording the release ("access:<grant key>")
  accessIndex @3 :UInt64;        # its index in the ledger
}

# Governance (docs/governance.md): proposals, stake-weighted votes, tallies and the network
# parameters they change. Reads are open to every key; a proposal or vote is a ledger entry the
# client signed (ledger/gov.h), which the scheduler checks, co-signs with the ledger key and
# appends. Errors come back as Error bodies (BAD_REQUEST: refused, with the reason).
struct GovRequest {
  union {
    params @0 :Void;             # reply params
    list @1 :Void;               # reply proposals: every proposal (at most govListMax, newest)
    show @2 :Text;               # reply proposals: the one with this id
    propose @3 :Data;            # a gov_proposal entry signed by the proposer; reply applied
    vote @4 :Data;               # a gov_vote entry signed by the staker (its agent key); reply applied
  }
}

struct GovParam {
  name @0 :Text;
  value @1 :Int64;
  min @2 :Int64;                 # bounds no proposal may leave (gov/params.h)
  max @3 :Int64;
  unit @4 :Text;
  setBy @5 :Text;                # the proposal whose execution set it; "" = the operator's flag
}

struct GovProposal {
  id @0 :Text;
  kind @1 :Text;                 # "param" or "grant"
  title @2 :Text;
  param @3 :Text;
  value @4 :Int64;
  grantTo @5 :Text;
  grantMicroPlume @6 :Int64;
  purpose @7 :Text;
  proposer @8 :Text;             # account
  depositMicroPlume @9 :Int64;
  index @10 :UInt64;             # ledger entry: the voting-power snapshot
  openedAtMs @11 :UInt64;
  votingEndMs @12 :UInt64;
  executableAtMs @13 :UInt64;    # voting end + timelock
  yesMicroPlume @14 :Int64;      # stake-weighted, so far (or final)
  noMicroPlume @15 :Int64;
  abstainMicroPlume @16 :Int64;
  vetoMicroPlume @17 :Int64;
  stakedMicroPlume @18 :Int64;   # all staked power at the snapshot
  voters @19 :UInt32;
  quorumPpm @20 :UInt32;
  thresholdPpm @21 :UInt32;
  vetoPpm @22 :UInt32;
  outcome @23 :Text;             # "" while open; passed, no_quorum, rejected or vetoed
  executed @24 :Bool;
  executedAtMs @25 :UInt64;
}

struct GovReply {
  union {
    params :group {
      values @0 :List(GovParam);
      nowUnixMs @1 :UInt64;      # the scheduler's clock: a proposal's openedAtMs and a vote's
                                 # atMs must lie within clockSkewMs of it
      clockSkewMs @2 :UInt64;
      unbondingMs @3 :UInt64;    # a timelock is never shorter
      openProposals @4 :UInt32;
      treasuryMicroPlume @5 :Int64;
    }
    proposals @6 :List(GovProposal);
    applied :group {
      entryId @7 :Text;
      index @8 :UInt64;
      repeated @9 :Bool;         # this id was applied before (a retry is applied once)
    }
  }
}
