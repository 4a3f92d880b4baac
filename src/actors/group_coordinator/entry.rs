//! `GroupEntry`: everything a coordinator shard holds for one group id, in one place (Kafka's
//! `GroupMetadata`): the group's state machine, its committed offsets and where each was
//! written, its pending transactional offsets, when it became empty, its armed timers, the
//! JoinGroup/SyncGroup callers parked in a rebalance, the last generation announced to
//! extensions, and the requests waiting behind its write in flight.
//!
//! Removing a group is removing its entry. Dropping an entry cancels its timers on the wheel
//! and answers its parked callers NOT_COORDINATOR (only an unload can remove a group with
//! parked callers: DeleteGroups and expiry remove Empty groups). The requests waiting in it
//! are handed back by [`GroupEntry::take_waiting`] first, so the shard routes them again.
//!
//! The group itself is a [`GroupKind`]: today only Kafka's classic protocol. The KIP-848
//! `consumer` and KIP-932 `share` groups will be further variants beside it, each with its own
//! state machine, sharing the offsets, timers and write queue of the entry.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use actix::Addr;
use tokio::sync::oneshot;

use super::coordinator::CommittedOffset;
use super::expiry::GroupActivity;
use super::group::{
    Group, GroupError, GroupMetadataSnapshot, GroupState, JoinResponse, SyncResult, TimerKind,
};
use super::requests::GroupRequest;
use super::txn_offsets::PendingTxnOffsets;
use crate::actors::system_timer::{CancelWakeup, SystemTimer};
use crate::runtime::purgatory::{Parked, Purgatory};
use crate::timing_wheel::TimerId;

pub type TopicPartitionKey = (String, i32);

/// The state machine of a group, by Kafka's group type.
#[derive(Debug)]
pub enum GroupKind {
    /// The classic rebalance protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup).
    Classic(Group),
}

/// A committed offset and the first offset of the `__consumer_offsets` batch that holds it
/// (a transaction's offsets replace it only if written after it, as in Kafka).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOffset {
    pub committed: CommittedOffset,
    pub log_offset: i64,
}

/// A timer armed on the wheel for this group.
#[derive(Debug)]
pub struct ArmedTimer {
    /// Shard-wide sequence number, so a superseded wake-up is recognised and ignored.
    pub seq: u64,
    /// The wheel's id, once the wheel has registered it.
    pub id: Option<TimerId>,
}

/// A JoinGroup or SyncGroup caller waiting for the rebalance, counted in the purgatory gauge.
#[derive(Debug)]
pub struct ParkedCaller<T> {
    pub reply: oneshot::Sender<T>,
    _parked: Parked,
}

impl<T> ParkedCaller<T> {
    pub fn new(reply: oneshot::Sender<T>) -> Self {
        ParkedCaller {
            reply,
            _parked: Parked::new(Purgatory::Rebalance),
        }
    }
}

/// One group of a coordinator shard.
pub struct GroupEntry {
    /// Shard-wide number of this entry, so a write completing after its group was removed
    /// (and perhaps created again) touches nothing of the new one.
    pub incarnation: u64,
    /// None for a group known only by its offsets (no member ever joined it here).
    pub group: Option<GroupKind>,
    pub offsets: BTreeMap<TopicPartitionKey, StoredOffset>,
    /// TxnOffsetCommits not yet decided by their producer's marker.
    pub pending_txn: PendingTxnOffsets,
    /// Wall-clock time the group last became Empty (offset expiry counts from it).
    pub empty_since: Option<i64>,
    /// The generation last announced to extensions as rebalanced.
    pub announced_generation: Option<i32>,
    pub parked_joins: HashMap<String, ParkedCaller<JoinResponse>>,
    pub parked_syncs: HashMap<String, ParkedCaller<SyncResult>>,
    pub timers: HashMap<TimerKind, ArmedTimer>,
    /// A write of this group waits for replication: later requests wait in `waiting`.
    pub writing: bool,
    /// Requests that arrived while `writing`, in arrival order.
    pub waiting: VecDeque<GroupRequest>,
    wheel: Addr<SystemTimer>,
}

impl GroupEntry {
    pub fn new(incarnation: u64, wheel: Addr<SystemTimer>) -> Self {
        GroupEntry {
            incarnation,
            group: None,
            offsets: BTreeMap::new(),
            pending_txn: PendingTxnOffsets::default(),
            empty_since: None,
            announced_generation: None,
            parked_joins: HashMap::new(),
            parked_syncs: HashMap::new(),
            timers: HashMap::new(),
            writing: false,
            waiting: VecDeque::new(),
            wheel,
        }
    }

    /// The classic group, if the group has one.
    pub fn classic(&self) -> Option<&Group> {
        match &self.group {
            Some(GroupKind::Classic(g)) => Some(g),
            None => None,
        }
    }

    pub fn classic_mut(&mut self) -> Option<&mut Group> {
        match &mut self.group {
            Some(GroupKind::Classic(g)) => Some(g),
            None => None,
        }
    }

    /// The classic group, created Empty if the id had none.
    pub fn classic_or_new(
        &mut self,
        group_id: &str,
        config: &super::group::GroupConfig,
    ) -> &mut Group {
        let kind = self
            .group
            .get_or_insert_with(|| GroupKind::Classic(Group::new(group_id, config.clone())));
        match kind {
            GroupKind::Classic(g) => g,
        }
    }

    /// Whether ListGroups, the view and DeleteGroups know the group: it has a state machine
    /// or committed offsets (pending transactional offsets alone do not make a group).
    pub fn is_listed(&self) -> bool {
        self.group.is_some() || !self.offsets.is_empty()
    }

    /// Holds nothing at all: the shard may forget the entry.
    pub fn is_vacant(&self) -> bool {
        !self.is_listed()
            && self.pending_txn.is_empty()
            && self.parked_joins.is_empty()
            && self.parked_syncs.is_empty()
            && self.timers.is_empty()
            && !self.writing
            && self.waiting.is_empty()
    }

    /// Stores a committed offset written at `log_offset`.
    pub fn put_offset(
        &mut self,
        key: TopicPartitionKey,
        committed: CommittedOffset,
        log_offset: i64,
    ) {
        self.offsets.insert(
            key,
            StoredOffset {
                committed,
                log_offset,
            },
        );
    }

    /// A marker of `producer_id` decided this group's pending offsets: each committed one is
    /// installed unless a commit written after it already replaced it.
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool) {
        let offsets = &self.offsets;
        let decided = self.pending_txn.complete(producer_id, commit, |key| {
            offsets.get(key).map(|s| s.log_offset)
        });
        for (key, committed, log_offset) in decided {
            self.put_offset(key, committed, log_offset);
        }
    }

    /// Stamps a snapshot about to be written with when the group entered its state, and
    /// remembers when an Empty group emptied.
    pub fn stamp_state_time(&mut self, snapshot: &mut GroupMetadataSnapshot, now_wall_ms: i64) {
        if snapshot.state == GroupState::Empty {
            let since = *self.empty_since.get_or_insert(now_wall_ms);
            snapshot.current_state_timestamp_ms = Some(since);
        } else {
            self.empty_since = None;
            snapshot.current_state_timestamp_ms = Some(now_wall_ms);
        }
    }

    /// What offset expiry needs to know of the group.
    pub fn activity(&self) -> GroupActivity {
        let Some(group) = self.classic() else {
            return GroupActivity::Empty { since_ms: None };
        };
        match group.state() {
            GroupState::Empty | GroupState::Dead => GroupActivity::Empty {
                since_ms: self.empty_since,
            },
            GroupState::Stable if group.protocol_type() == Some("consumer") => {
                GroupActivity::Subscribed(subscriptions(group).into_iter().collect())
            }
            _ => GroupActivity::Active,
        }
    }

    /// A Stable generation not announced yet: a completed rebalance to announce (once).
    pub fn take_unannounced_generation(&mut self) -> Option<i32> {
        let group = self.classic()?;
        let generation = group.generation_id();
        if group.state() != GroupState::Stable || self.announced_generation == Some(generation) {
            return None;
        }
        self.announced_generation = Some(generation);
        Some(generation)
    }

    /// The requests waiting behind this group's write, to route again before the entry goes.
    pub fn take_waiting(&mut self) -> VecDeque<GroupRequest> {
        std::mem::take(&mut self.waiting)
    }

    /// Forgets the timer `kind` and cancels it on the wheel.
    pub fn cancel_timer(&mut self, kind: &TimerKind) {
        if let Some(ArmedTimer { id: Some(id), .. }) = self.timers.remove(kind) {
            self.wheel.do_send(CancelWakeup(id));
        }
    }
}

impl Drop for GroupEntry {
    /// The group is gone from this shard: its timers stop and whoever waits in its rebalance
    /// is sent to find the coordinator again.
    fn drop(&mut self) {
        for (_, timer) in self.timers.drain() {
            if let Some(id) = timer.id {
                self.wheel.do_send(CancelWakeup(id));
            }
        }
        for (member_id, parked) in self.parked_joins.drain() {
            let _ = parked.reply.send(JoinResponse {
                member_id,
                result: Err(GroupError::NotCoordinator),
            });
        }
        for (_, parked) in self.parked_syncs.drain() {
            let _ = parked.reply.send(Err(GroupError::NotCoordinator));
        }
    }
}

/// Topics the members of a `consumer` group subscribe to, read from their metadata for the
/// group's chosen protocol.
pub fn subscriptions(group: &Group) -> Vec<String> {
    let chosen = group.protocol_name().unwrap_or("");
    group
        .members()
        .iter()
        .flat_map(|m| {
            m.protocols
                .iter()
                .filter(|(name, _)| name == chosen)
                .flat_map(|(_, meta)| subscribed_topics(meta))
        })
        .collect()
}

/// Topics in a consumer-protocol subscription (version i16, then an array of strings), the
/// metadata every member of a `consumer` group sends with JoinGroup. Unreadable → none.
pub fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    let mut buf = metadata;
    let mut topics = Vec::new();
    if buf.len() < 6 {
        return topics;
    }
    buf = &buf[2..];
    let count = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    buf = &buf[4..];
    for _ in 0..count.max(0) {
        if buf.len() < 2 {
            break;
        }
        let len = i16::from_be_bytes([buf[0], buf[1]]);
        buf = &buf[2..];
        if len < 0 || buf.len() < len as usize {
            break;
        }
        topics.push(String::from_utf8_lossy(&buf[..len as usize]).into_owned());
        buf = &buf[len as usize..];
    }
    topics
}

/// Topics an active `consumer` group subscribes to (DeleteOffsets refuses their partitions).
pub fn active_subscriptions(entry: Option<&GroupEntry>) -> HashSet<String> {
    match entry.and_then(GroupEntry::classic) {
        Some(g)
            if !matches!(g.state(), GroupState::Empty | GroupState::Dead)
                && g.protocol_type() == Some("consumer") =>
        {
            subscriptions(g).into_iter().collect()
        }
        _ => HashSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::subscribed_topics;

    #[test]
    fn reads_consumer_protocol_subscriptions() {
        // version 1, topics ["orders", "audit"], then user data the parser ignores
        let meta = b"\x00\x01\x00\x00\x00\x02\x00\x06orders\x00\x05audit\xff\xff\xff\xff";
        assert_eq!(
            subscribed_topics(meta),
            vec!["orders".to_string(), "audit".to_string()]
        );
        assert!(subscribed_topics(b"\x00").is_empty());
        // A count larger than the bytes stops at what is there.
        assert_eq!(
            subscribed_topics(b"\x00\x00\x7f\xff\xff\xff\x00\x01a"),
            vec!["a".to_string()]
        );
    }
}
