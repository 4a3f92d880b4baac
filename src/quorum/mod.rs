//! The cluster-metadata quorum: `MetadataRecord`s replicated by Raft (openraft 0.9) and applied
//! to a `MetadataImage` on every node.
//!
//! # What this room owns
//! - The replicated metadata log and its durable storage under one directory
//!   (`log_store`: `raft.log`, `vote.json`, `committed.json`, `purged.json`;
//!   `state_machine`: `snapshot`). Nothing else reads or writes those files.
//! - The state machine: committed batches applied with `MetadataImage::apply`, snapshots of the
//!   image, and the fan-out of each applied change to subscribers (`updates`).
//! - The node-to-node RPC (`wire` framing, `network` dialing side, `server` accepting side):
//!   raft's AppendEntries / Vote / InstallSnapshot, plus two requests for its users: an opaque
//!   `Forward` of controller bytes to the leader, and `AddLearner` for observers (`membership`).
//!   Plaintext, or mutual TLS with the rustls configs in `QuorumConfig::tls` (the server
//!   refuses a peer without a certificate chaining to the inter-broker truststore).
//! - The `Quorum` handle (`handle`): start, write, leadership, image, subscribe, forward, join,
//!   shutdown.
//!
//! # What it may not touch
//! It knows `MetadataRecord` and `MetadataImage` and nothing else of Troupe: no actors, no Kafka
//! requests, no partitions' data. Deciding *which* records to write (validation, leader
//! election for partitions, fencing) is the controller's job; the controller also defines what
//! the forwarded bytes mean. Single-node mode does not use this room at all.
//!
//! # Behaviour the integrator relies on
//! - Voters are fixed by configuration; each voter with an empty log initializes the cluster
//!   with the same voter set. Observers (`is_voter == false`) start as openraft learners outside
//!   the membership and receive the log only after `join_as_observer`.
//! - `write` returns once the entry is committed and applied on this node; only the leader
//!   accepts writes (`NotLeader { leader }` elsewhere, straight from openraft's ForwardToLeader).
//!   A write that is not committed within `WRITE_TIMEOUT` is `Unavailable` with an unknown
//!   outcome: reconcile against the image rather than assume it failed.
//! - A new leader appears within about one election timeout (randomized between the configured
//!   min and max) after the old one stops heartbeating, plus a vote round trip.
//! - Every node applies the same entries in the same order, so images on different nodes are
//!   equal at the same index (including `MetadataImage::version`). A restarted node has its image
//!   back (snapshot + committed entries) before `start` returns.
//! - Every voter must be given the same `voters` map (different initial sets would split the
//!   cluster). `start` refuses a config whose `is_voter` disagrees with `voters`.
//! - `forward` retries only while nothing was sent (no leader, leader unreachable, or the node
//!   asked no longer leads); once a request may have reached a handler, a failure is returned
//!   at once rather than risk running it twice.
//! - openraft logs a lot at `info` (every vote, every snapshot step); run with
//!   `openraft=warn` unless debugging the quorum. This room's own `info` lines cover leader
//!   changes, membership changes and snapshot build/install.
//!
//! # Deviations from the brief's API
//! None in shape. Additions: `QuorumConfig::new` (defaults), the `DEFAULT_*`, snapshot and
//! timeout constants, and `PartialEq` on `QuorumError`.

mod durable;
mod handle;
mod log_store;
mod membership;
mod network;
mod server;
mod shutdown;
mod state_machine;
mod types;
mod updates;
mod wire;

#[cfg(test)]
mod tests;

pub use handle::{Quorum, LOG_ENTRIES_KEPT_AFTER_SNAPSHOT, SNAPSHOT_EVERY_ENTRIES, WRITE_TIMEOUT};
pub use types::{
    ForwardHandler, MetadataUpdate, NodeId, QuorumConfig, QuorumError, QuorumTls,
    DEFAULT_ELECTION_TIMEOUT_MAX_MS, DEFAULT_ELECTION_TIMEOUT_MIN_MS,
    DEFAULT_HEARTBEAT_INTERVAL_MS,
};
