//! Consumer groups (issue #3), shaped as Kafka's group coordinator (issue #14).
//!
//! - `coordinator`: the `GroupCoordinator` actor, one per shard of `__consumer_offsets`
//!   partitions. Thin: every handler hands its message to the one request path.
//! - `requests`: that path (`route`): check the group's partition, wait behind the group's
//!   write in flight, run the state machine, carry out its effects, reply.
//! - `entry`: `GroupEntry`, everything the shard holds for one group (Kafka's `GroupMetadata`);
//!   removing a group is removing its entry. The group's state machine is a `GroupKind`: only
//!   the classic protocol today, with room for the KIP-848 consumer and share groups beside it.
//! - `group` (with `group/`): the classic rebalance protocol as a plain state machine: no I/O,
//!   no clock, no actor; operations return `Effect`s (replies, parked requests, timers,
//!   persistence).
//! - `metadata_manager`: persistence in `__consumer_offsets` (Kafka's `GroupMetadataManager`):
//!   writes, replay on election, unload on resignation, transaction markers, offset expiry
//!   (whose rules are the pure `expiry`). `records` is the record format; `txn_offsets` a
//!   group's offsets pending in open transactions.
//! - `messages`: what the shard accepts; `view`: the read-only picture the shards publish for
//!   the HTTP surface.
//!
//! The room owns the groups and their offsets; it reaches logs only through their
//! `PartitionReplica` actors (`delayed_produce`, `replay_partition`) and the wheel only by
//! message, and never another shard's groups.

pub mod coordinator;
pub mod entry;
pub mod expiry;
pub mod group;
pub mod messages;
pub mod metadata_manager;
pub mod records;
pub mod requests;
#[cfg(test)]
mod shard_tests;
pub mod txn_offsets;
pub mod view;

/// The internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

use crate::config::BrokerConfig;

/// Kafka's `String.hashCode`, so a group maps to the same `__consumer_offsets` partition as
/// on Apache Kafka (`abs(hash) % offsets.topic.num.partitions`).
pub fn offsets_partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// `offsets.retention.minutes` and `offsets.retention.check.interval.ms`.
pub fn offsets_retention(config: &BrokerConfig) -> coordinator::OffsetsRetention {
    coordinator::OffsetsRetention {
        retention_ms: config
            .get_i64("offsets.retention.minutes")
            .saturating_mul(60_000),
        check_interval: std::time::Duration::from_millis(
            config.get_i64("offsets.retention.check.interval.ms").max(1) as u64,
        ),
    }
}

/// Group settings from the broker's config table.
pub fn group_config(config: &BrokerConfig) -> group::GroupConfig {
    group::GroupConfig {
        initial_rebalance_delay_ms: config.get_i64("group.initial.rebalance.delay.ms").max(0)
            as u64,
        min_session_timeout_ms: config.get_i64("group.min.session.timeout.ms") as i32,
        max_session_timeout_ms: config.get_i64("group.max.session.timeout.ms") as i32,
        max_size: match config.get_i64("group.max.size") {
            n if n <= 0 || n >= i32::MAX as i64 => None,
            n => Some(n as usize),
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_partition_matches_kafka_string_hash() {
        // Java: "my-group".hashCode() == 1_612_152_542 ... computed by the same rule here.
        assert_eq!(super::offsets_partition_for("", 50), 0);
        let h = "abc"
            .chars()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
        assert_eq!(h, 96354); // Java's "abc".hashCode()
        assert_eq!(super::offsets_partition_for("abc", 50), 96354 % 50);
    }
}
