//! Offsets committed inside transactions (TxnOffsetCommit), pending until their producer's
//! transaction marker decides them. Pure bookkeeping: the `GroupCoordinator` feeds it what it
//! writes (live) or reads back (replay) and applies what comes out.
//!
//! Kafka's rules, which clients rely on:
//! - a pending offset is invisible to OffsetFetch; RequireStable readers are told
//!   UNSTABLE_OFFSET_COMMIT for its partition until it is decided;
//! - a COMMIT marker makes a producer's pending offsets of the groups in the marker's
//!   `__consumer_offsets` partition committed, each unless a commit written after it (a higher
//!   log offset) already replaced it; an ABORT marker drops them;
//! - a later pending commit of the same producer and partition replaces an earlier one.

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

/// One decided offset to install: group, partition, offset, where it was written.
pub type Decided = (String, TopicPartitionKey, CommittedOffset, i64);

/// Pending transactional offsets of one coordinator shard, by producer id, then group.
#[derive(Debug, Default)]
pub struct PendingTxnOffsets {
    by_producer: HashMap<i64, HashMap<String, BTreeMap<TopicPartitionKey, PendingTxnOffset>>>,
}

impl PendingTxnOffsets {
    /// A TxnOffsetCommit of `producer_id` written at `log_offset`.
    pub fn add(
        &mut self,
        producer_id: i64,
        group_id: &str,
        key: TopicPartitionKey,
        committed: CommittedOffset,
        log_offset: i64,
    ) {
        self.by_producer
            .entry(producer_id)
            .or_default()
            .entry(group_id.to_string())
            .or_default()
            .insert(
                key,
                PendingTxnOffset {
                    committed,
                    log_offset,
                },
            );
    }

    /// A transactional tombstone read back at replay: the pending offset is withdrawn.
    pub fn remove(&mut self, producer_id: i64, group_id: &str, key: &TopicPartitionKey) {
        if let Some(groups) = self.by_producer.get_mut(&producer_id) {
            if let Some(offsets) = groups.get_mut(group_id) {
                offsets.remove(key);
            }
        }
    }

    /// The group was deleted: no transaction may bring offsets back into it, so its pending
    /// offsets are dropped (as Kafka drops them with the group).
    pub fn drop_group(&mut self, group_id: &str) {
        self.by_producer.retain(|_, groups| {
            groups.remove(group_id);
            !groups.is_empty()
        });
    }

    /// The groups' partition moved to another coordinator: their pending offsets go with it
    /// (the new coordinator reads them back from the log).
    pub fn drop_groups(&mut self, unloaded: impl Fn(&str) -> bool) {
        self.by_producer.retain(|_, groups| {
            groups.retain(|g, _| !unloaded(g));
            !groups.is_empty()
        });
    }

    /// Whether any transaction holds an offset of this group.
    pub fn has_group(&self, group_id: &str) -> bool {
        self.by_producer.values().any(|g| g.contains_key(group_id))
    }

    /// Partitions of this group with an undecided offset.
    pub fn partitions_of(&self, group_id: &str) -> HashSet<&TopicPartitionKey> {
        self.by_producer
            .values()
            .filter_map(|groups| groups.get(group_id))
            .flat_map(|offsets| offsets.keys())
            .collect()
    }

    /// A marker of `producer_id` landed in the partition that holds the groups for which
    /// `in_partition` is true: forgets their pending offsets and, for a COMMIT, returns them
    /// to install. `committed_at(group, partition)` says where the group's current committed
    /// offset was written, if it has one; a pending offset older than that is not installed.
    pub fn complete(
        &mut self,
        producer_id: i64,
        commit: bool,
        in_partition: impl Fn(&str) -> bool,
        committed_at: impl Fn(&str, &TopicPartitionKey) -> Option<i64>,
    ) -> Vec<Decided> {
        let Some(groups) = self.by_producer.get_mut(&producer_id) else {
            return Vec::new();
        };
        let ids: Vec<String> = groups.keys().filter(|g| in_partition(g)).cloned().collect();
        let decided: Vec<(String, BTreeMap<TopicPartitionKey, PendingTxnOffset>)> = ids
            .into_iter()
            .filter_map(|g| groups.remove_entry(&g))
            .collect();
        if groups.is_empty() {
            self.by_producer.remove(&producer_id);
        }
        if !commit {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (group_id, offsets) in decided {
            for (key, pending) in offsets {
                let newer_committed =
                    committed_at(&group_id, &key).is_some_and(|at| at > pending.log_offset);
                if !newer_committed {
                    out.push((group_id.clone(), key, pending.committed, pending.log_offset));
                }
            }
        }
        out
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

    fn everywhere(_: &str) -> bool {
        true
    }

    fn nothing_committed(_: &str, _: &TopicPartitionKey) -> Option<i64> {
        None
    }

    #[test]
    fn commit_installs_and_abort_drops() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, "g", key(0), at(10), 100);
        p.add(8, "g", key(1), at(20), 101);
        assert!(p.has_group("g"));
        assert_eq!(p.partitions_of("g"), [&key(0), &key(1)].into());
        assert!(p
            .complete(8, false, everywhere, nothing_committed)
            .is_empty());
        assert_eq!(
            p.partitions_of("g"),
            [&key(0)].into(),
            "the abort dropped it"
        );
        assert_eq!(
            p.complete(7, true, everywhere, nothing_committed),
            vec![("g".to_string(), key(0), at(10), 100)]
        );
        assert!(!p.has_group("g"));
        assert!(
            p.complete(7, true, everywhere, nothing_committed)
                .is_empty(),
            "a repeated marker decides nothing"
        );
    }

    #[test]
    fn unloading_drops_only_the_unloaded_groups_pending_offsets() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, "moved", key(0), at(10), 100);
        p.add(7, "stays", key(0), at(11), 101);
        p.add(8, "moved", key(1), at(12), 102);
        p.drop_groups(|g| g == "moved");
        assert!(!p.has_group("moved"));
        assert_eq!(p.partitions_of("stays"), [&key(0)].into());
        assert!(p
            .complete(8, true, everywhere, nothing_committed)
            .is_empty());
        assert_eq!(
            p.complete(7, true, everywhere, nothing_committed),
            vec![("stays".to_string(), key(0), at(11), 101)]
        );
    }

    #[test]
    fn a_commit_written_after_the_transactional_one_wins() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, "g", key(0), at(10), 100);
        p.add(7, "g", key(1), at(11), 100);
        let committed_at = |_: &str, k: &TopicPartitionKey| (k.1 == 0).then_some(150);
        assert_eq!(
            p.complete(7, true, everywhere, committed_at),
            vec![("g".to_string(), key(1), at(11), 100)],
            "partition 0 keeps the newer plain commit"
        );
    }

    #[test]
    fn a_marker_decides_only_the_groups_of_its_partition() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, "here", key(0), at(1), 10);
        p.add(7, "elsewhere", key(0), at(2), 11);
        let decided = p.complete(7, true, |g| g == "here", nothing_committed);
        assert_eq!(decided.len(), 1);
        assert!(
            p.has_group("elsewhere"),
            "waits for its own partition's marker"
        );
        assert!(!p.has_group("here"));
    }

    #[test]
    fn replayed_tombstones_and_later_commits_replace_pending_ones() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, "g", key(0), at(1), 10);
        p.add(7, "g", key(0), at(2), 12);
        p.add(7, "g", key(1), at(3), 12);
        p.remove(7, "g", &key(1));
        assert_eq!(
            p.complete(7, true, everywhere, nothing_committed),
            vec![("g".to_string(), key(0), at(2), 12)]
        );
    }

    #[test]
    fn a_deleted_group_gets_nothing_from_a_later_commit_marker() {
        let mut p = PendingTxnOffsets::default();
        p.add(7, "gone", key(0), at(5), 10);
        p.add(7, "kept", key(0), at(6), 11);
        p.drop_group("gone");
        assert!(!p.has_group("gone"));
        let decided = p.complete(7, true, everywhere, |_, _| None);
        let groups: Vec<&str> = decided.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(groups, vec!["kept"]);
    }
}
