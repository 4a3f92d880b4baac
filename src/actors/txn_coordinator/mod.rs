//! Transactions, coordinator side (issue #4). `txn` is one transactional id as a pure state
//! machine (Kafka's states and transitions, producer id and epoch, the partitions of the open
//! transaction, timeouts); `records` is its `__transaction_state` record format;
//! `coordinator` is the `TxnCoordinator` actor that runs the machines, persists every change
//! and drives markers, `messages` what it accepts; `markers` writes a transaction's markers wherever its partitions are
//! led (locally, or with WriteTxnMarkers through `marker_channel` to other brokers).

pub mod coordinator;
pub mod marker_channel;
pub mod markers;
pub mod messages;
pub mod records;
pub mod txn;

use crate::config::BrokerConfig;

/// The internal topic holding every transactional id's metadata.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The `__transaction_state` partition of a transactional id: Kafka's
/// `abs(String.hashCode) % transaction.state.log.num.partitions`, the same function that
/// places groups.
pub fn txn_partition_for(transactional_id: &str, partitions: i32) -> i32 {
    crate::actors::group_coordinator::offsets_partition_for(transactional_id, partitions)
}

/// The coordinator's limits from the broker's config table.
pub fn txn_config(config: &BrokerConfig) -> txn::TxnConfig {
    txn::TxnConfig {
        max_timeout_ms: config.get_i64("transaction.max.timeout.ms") as i32,
        id_expiration_ms: config.get_i64("transactional.id.expiration.ms"),
    }
}
