//! Consumer groups (issue #3). `group` is the classic rebalance protocol as a plain state
//! machine: no I/O, no clock, no actor; operations return `Effect`s (replies, parked requests,
//! timers, persistence) for the `GroupCoordinator` actor (`coordinator`) to carry out.
//! Group metadata and offsets are written to `__consumer_offsets` (`records`); offsets of
//! open transactions wait in `txn_offsets` for their producer's marker. `view` is the
//! read-only picture the shards publish for the HTTP surface.

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
