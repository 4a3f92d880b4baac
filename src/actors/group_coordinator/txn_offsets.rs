//! One group's offsets committed inside transactions (TxnOffsetCommit), pending until their
//! producer's transaction marker decides them. Pure bookkeeping held in the group's
//! `GroupEntry`: the shard feeds it what it writes (live) or reads back (replay) and installs
//! what comes out.
//!
//! Kafka's rules, which clients rely on:
//! - a pending offset is invisible to OffsetFetch; RequireStable readers are told
//!   UNSTABLE_OFFSET_COMMIT for its partition until it is decided;
//! - a COMMIT marker makes the producer's pending offsets committed, each unless a commit
//!   written after it (a higher log offset) already replaced it; an ABORT marker drops them;
//! - a later pending commit of the same producer and partition replaces an earlier one;
//! - a deleted or unloaded group takes its pending offsets with it (they are in its entry).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::coordinator::CommittedOffset;

type TopicPartitionKey = (String, i32);

/// An offset waiting for its producer's marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTxnOffset {
    pub committed: CommittedOffset,
    /// First offset of the batch that holds it in `__consumer_offsets`.
    pub log_offset: i64,
}

/// One decided offset to install: partition, offset, where it was written.
pub type Decided = (TopicPartitionKey, CommittedOffset, i64);

/// Pending transactional offsets of one group, by producer id.
#[derive(Debug, Default)]
pub struct PendingTxnOffsets {
    by_producer: HashMap<i64, BTreeMap<TopicPartitionKey, PendingTxnOffset>>,
}

impl PendingTxnOffsets {
    /// A TxnOffsetCommit of `producer_id` written at `log_offset`.
    pub fn add(
        &mut self,
        producer_id: i64,
        key: TopicPartitionKey,
        committed: CommittedOffset,
        log_offset: i64,
    ) {
        self.by_producer.entry(producer_id).or_default().insert(
            key,
            PendingTxnOffset {
                committed,
                log_offset,
            },
        );
    }

    /// A transactional tombstone read back at replay: the pending offset is withdrawn.
    pub fn remove(&mut self, producer_id: i64, key: &TopicPartitionKey) {
        if let Some(offsets) = self.by_producer.get_mut(&producer_id) {
            offsets.remove(key);
            if offsets.is_empty() {
                self.by_producer.remove(&producer_id);
            }
        }
    }

    /// The group's metadata was tombstoned at replay: no transaction may bring offsets back
    /// into it (as Kafka drops them with the group).
    pub fn clear(&mut self) {
        self.by_producer.clear();
    }

    /// Whether any transaction holds an offset of this group.
    pub fn is_empty(&self) -> bool {
        self.by_producer.is_empty()
    }

    /// Whether `producer_id` holds an offset of this group.
    pub fn has_producer(&self, producer_id: i64) -> bool {
        self.by_producer.contains_key(&producer_id)
    }

    /// Partitions with an undecided offset.
    pub fn partitions(&self) -> HashSet<&TopicPartitionKey> {
        self.by_producer.values().flat_map(|o| o.keys()).collect()
    }

    /// A marker of `producer_id` landed in the group's partition: forgets its pending offsets
    /// and, for a COMMIT, returns them to install. `committed_at(partition)` says where the
    /// group's current committed offset was written, if it has one; a pending offset older
    /// than that is not installed.
    pub fn complete(
        &mut self,
        producer_id: i64,
        commit: bool,
        committed_at: impl Fn(&TopicPartitionKey) -> Option<i64>,
    ) -> Vec<Decided> {
        let Some(offsets) = self.by_producer.remove(&producer_id) else {
            return Vec::new();
        };
        if !commit {
            return Vec::new();
        }
        offsets
            .into_iter()
            .filter(|(key, pending)| committed_at(key).is_none_or(|at| at <= pending.log_offset))
            .map(|(key, pending)| (key, pending.committed, pending.log_offset))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
        }
    }

    fn key(p: i32) -> TopicPartitionKey {
        ("t".to_string(), p)
    }

    fn nothing_committed(_: &TopicPartitionKey) -> Option<i64> {
        None
    }

    #[test]
    fn commit_installs_and_abort_drops() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, key(0), at(10), 100);
        p.add(8, key(1), at(20), 101);
        assert!(!p.is_empty());
        assert!(p.has_producer(7) && p.has_producer(8));
        assert_eq!(p.partitions(), [&key(0), &key(1)].into());
        assert!(p.complete(8, false, nothing_committed).is_empty());
        assert_eq!(p.partitions(), [&key(0)].into(), "the abort dropped it");
        assert_eq!(
            p.complete(7, true, nothing_committed),
            vec![(key(0), at(10), 100)]
        );
        assert!(p.is_empty());
        assert!(
            p.complete(7, true, nothing_committed).is_empty(),
            "a repeated marker decides nothing"
        );
    }

    #[test]
    fn a_commit_written_after_the_transactional_one_wins() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, key(0), at(10), 100);
        p.add(7, key(1), at(11), 100);
        let committed_at = |k: &TopicPartitionKey| (k.1 == 0).then_some(150);
        assert_eq!(
            p.complete(7, true, committed_at),
            vec![(key(1), at(11), 100)],
            "partition 0 keeps the newer plain commit"
        );
    }

    #[test]
    fn replayed_tombstones_and_later_commits_replace_pending_ones() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, key(0), at(1), 10);
        p.add(7, key(0), at(2), 12);
        p.add(7, key(1), at(3), 12);
        p.remove(7, &key(1));
        assert_eq!(
            p.complete(7, true, nothing_committed),
            vec![(key(0), at(2), 12)]
        );
        p.add(9, key(2), at(4), 13);
        p.remove(9, &key(2));
        assert!(!p.has_producer(9), "nothing left of producer 9");
    }

    #[test]
    fn a_cleared_group_gets_nothing_from_a_later_commit_marker() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, key(0), at(5), 10);
        p.clear();
        assert!(p.is_empty());
        assert!(p.complete(7, true, nothing_committed).is_empty());
    }
}
