//! Offset expiry (`offsets.retention.minutes`, KIP-211): which of a group's committed offsets
//! it no longer needs. Pure decisions over one group; the `GroupCoordinator` runs them every
//! `offsets.retention.check.interval.ms` and writes the tombstones.
//!
//! Kafka's rules, which clients and operators rely on:
//! - A group with no members (Empty, or a group that only ever committed offsets) keeps its
//!   offsets for the retention period counted from when it became empty; when that moment is
//!   unknown, from each offset's commit.
//! - A consumer-protocol group with members keeps the offsets of topics its members subscribe
//!   to; offsets of other topics expire by their commit time.
//! - Any other group with members keeps everything.

use std::collections::HashSet;

use super::coordinator::CommittedOffset;

/// What the group is doing, as far as offset expiry cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupActivity {
    /// No members. `since_ms`: wall-clock time it became empty, when known.
    Empty { since_ms: Option<i64> },
    /// Members consume these topics under the `consumer` protocol.
    Subscribed(HashSet<String>),
    /// Members exist, but what they consume is unknown (another protocol, or mid-rebalance).
    Active,
}

/// The partitions whose offsets have expired at `now_ms`.
pub fn expired_offsets<'a>(
    offsets: impl IntoIterator<Item = (&'a (String, i32), &'a CommittedOffset)>,
    activity: &GroupActivity,
    retention_ms: i64,
    now_ms: i64,
) -> Vec<(String, i32)> {
    let is_old = |since: i64| now_ms.saturating_sub(since) >= retention_ms;
    offsets
        .into_iter()
        .filter(|((topic, _), committed)| match activity {
            GroupActivity::Empty { since_ms } => {
                is_old(since_ms.unwrap_or(committed.commit_timestamp_ms))
            }
            GroupActivity::Subscribed(topics) => {
                !topics.contains(topic) && is_old(committed.commit_timestamp_ms)
            }
            GroupActivity::Active => false,
        })
        .map(|(key, _)| key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const MINUTE: i64 = 60_000;

    fn committed_at(ts: i64) -> CommittedOffset {
        CommittedOffset {
            offset: 7,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: ts,
        }
    }

    fn offsets(entries: &[(&str, i32, i64)]) -> BTreeMap<(String, i32), CommittedOffset> {
        entries
            .iter()
            .map(|(t, p, ts)| ((t.to_string(), *p), committed_at(*ts)))
            .collect()
    }

    fn keys(v: &[(&str, i32)]) -> Vec<(String, i32)> {
        v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn empty_group_expires_everything_counted_from_when_it_emptied() {
        let o = offsets(&[("a", 0, 0), ("a", 1, 50 * MINUTE)]);
        let since = GroupActivity::Empty {
            since_ms: Some(60 * MINUTE),
        };
        assert!(expired_offsets(&o, &since, 10 * MINUTE, 69 * MINUTE).is_empty());
        assert_eq!(
            expired_offsets(&o, &since, 10 * MINUTE, 70 * MINUTE),
            keys(&[("a", 0), ("a", 1)])
        );
    }

    #[test]
    fn empty_group_of_unknown_age_uses_each_commit_time() {
        let o = offsets(&[("a", 0, 0), ("a", 1, 50 * MINUTE)]);
        let unknown = GroupActivity::Empty { since_ms: None };
        assert_eq!(
            expired_offsets(&o, &unknown, 10 * MINUTE, 55 * MINUTE),
            keys(&[("a", 0)])
        );
    }

    #[test]
    fn consumer_group_keeps_subscribed_topics_and_expires_the_rest() {
        let o = offsets(&[
            ("kept", 0, 0),
            ("dropped", 0, 0),
            ("recent", 0, 95 * MINUTE),
        ]);
        let subscribed = GroupActivity::Subscribed(["kept".to_string()].into());
        assert_eq!(
            expired_offsets(&o, &subscribed, 10 * MINUTE, 100 * MINUTE),
            keys(&[("dropped", 0)])
        );
    }

    #[test]
    fn active_group_of_unknown_protocol_keeps_everything() {
        let o = offsets(&[("a", 0, 0)]);
        assert!(expired_offsets(&o, &GroupActivity::Active, 1, i64::MAX).is_empty());
    }
}
