//! Troupe: a Kafka-compatible streaming broker built as an actor system.
//!
//! Rooms: `protocol` (wire), `actors` (one module per actor kind), `storage` (segmented log),
//! `metadata` (cluster metadata records and image), `quorum` (the Raft-replicated metadata log),
//! `config` (the config table), `security` (SASL's pure core), `extension` (user actors and broker events), `http` (health and metrics), `bench` (the benchmark client), `server` (startup and shutdown
//! wiring).

pub mod actors;
pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod broker;
pub mod client;
pub mod config;
pub mod error;
pub mod events;
pub mod extension;
pub mod http;
pub mod metadata;
pub mod network;
pub mod protocol;
pub mod quorum;
pub mod quota;
pub mod runtime;
pub mod security;
pub mod server;
pub mod storage;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
#[cfg(test)]
pub(crate) mod test_support;
pub mod timing_wheel;
