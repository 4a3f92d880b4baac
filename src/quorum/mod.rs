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
//! - The `Quorum` handle (`handle`): start, write, leadership, image, subscribe, forward, join,
//!   shutdown.
//!
//! # What it may not touch
//! It knows `MetadataRecord` and `MetadataImage` and nothing else of Troupe: no actors, no Kafka
//! requests, no partitions' data. Deciding *which* records to write (validation, leader
//! election for partitions, fencing) is the controller's job; the controller also defines what
//! the forwarded bytes mean. Single-node mode does not use this room at all.
//!
//!
//! Work in progress: storage and the node-to-node RPC; the `Quorum` handle follows.

#![allow(dead_code)] // used by the network and handle that follow

mod durable;
mod log_store;
mod membership;
mod network;
mod server;
mod shutdown;
mod state_machine;
mod types;
mod updates;
mod wire;

pub use types::{
    ForwardHandler, MetadataUpdate, NodeId, QuorumConfig, QuorumError,
    DEFAULT_ELECTION_TIMEOUT_MAX_MS, DEFAULT_ELECTION_TIMEOUT_MIN_MS, DEFAULT_HEARTBEAT_INTERVAL_MS,
};
