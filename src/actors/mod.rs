//! One module per actor kind. Each actor owns its state and is reached only by messages;
//! see `docs/architecture.md` for who talks to whom.

pub mod connection;
pub mod controller;
pub mod coordinator_partitions;
pub mod group_coordinator;
pub mod listener;
pub mod log_cleaner;
pub mod mailbox;
pub mod metadata_cache;
pub mod metadata_publisher;
pub mod partition_replica;
pub mod purgatory;
pub mod replica_fetcher;
pub mod supervisor;
pub mod timer_wheel;
pub mod txn_coordinator;
