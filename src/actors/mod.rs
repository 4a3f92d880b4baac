//! One module per actor kind. Each actor owns its state and is reached only by messages;
//! see `docs/architecture.md` for who talks to whom.
//!
//! A module may hold, beside its actor, the plain code only that actor kind uses (its messages,
//! its pure state machine, the `ReplicaManager` of the partition replicas with their delayed
//! produce and fetch). The one module that is not an actor kind is `coordinator_partitions`:
//! what the group and transaction coordinator shards share (the load state of their internal
//! partitions, loading them, their writes and how a failed write is answered). Shared code that
//! is not about one actor kind lives outside this room (`runtime`, `events`, `client`, ...).

pub mod controller;
pub mod coordinator_partitions;
pub mod group_coordinator;
pub mod log_cleaner;
pub mod partition_replica;
pub mod replica_fetcher;
pub mod system_timer;
pub mod txn_coordinator;
