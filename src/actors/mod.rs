//! One module per actor kind. Each actor owns its state and is reached only by messages;
//! see `docs/architecture.md` for who talks to whom.

pub mod controller;
pub mod coordinator_partitions;
pub mod group_coordinator;
pub mod log_cleaner;
pub mod partition_replica;
pub mod replica_fetcher;
pub mod system_timer;
pub mod txn_coordinator;
