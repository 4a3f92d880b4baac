//! `GroupCoordinator`: one per shard of consumer groups (a group's shard is its
//! `__consumer_offsets` partition modulo the number of coordinators). Owns the `Group` state
//! machines of its groups, their committed offsets, the JoinGroup/SyncGroup requests parked
//! until a rebalance completes, and their timers (through the `TimerWheel`).
//!
//! It coordinates exactly the `__consumer_offsets` partitions of its shard that this node
//! leads: `LoadPartition` (an election, from `CoordinatorElections`) replays one partition
//! while the rest of the shard keeps serving, and requests for that partition's groups answer
//! COORDINATOR_LOAD_IN_PROGRESS until it is done (a Heartbeat gets NONE, as in Kafka);
//! `UnloadPartition` (a resignation) forgets its groups, offsets, pending transactional
//! offsets and timers and answers parked JoinGroup/SyncGroup callers NOT_COORDINATOR. Groups
//! of partitions it does not hold answer NOT_COORDINATOR.
//!
//! Handlers send it messages; it runs the state machine and carries out the returned
//! `Effect`s in order. Group metadata (`Persist`) and committed offsets are appended to their
//! `__consumer_offsets` partition with `acks=all` (`delayed_produce`: complete once the high
//! watermark passes them, bounded by `offsets.commit.timeout.ms`) before anything that depends
//! on them is answered; the actor waits for each write (`ctx.wait`), so writes and replies
//! keep their order — and the shard serves nothing else while one waits for replication. A
//! failed write answers as Kafka's does (`WriteFailure`: a lost leadership is
//! NOT_COORDINATOR). It reaches logs only through their `PartitionReplica` actors.
//!
//! Transactional offsets (TxnOffsetCommit) are written as transactional batches and kept
//! pending per producer id, invisible to OffsetFetch, until that producer's marker decides
//! them: live, the `TxnCoordinator`'s marker writer sends `CompleteTxnOffsets` once the marker
//! is in the partition; at replay, the marker's control batch does the same.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::expiry::{expired_offsets, GroupActivity};
use super::group::*;
use super::records::{self, LoadedEntry, OffsetsRecord};
use super::txn_offsets::PendingTxnOffsets;
use super::view::{CommittedPartition, GroupSummary, GroupsView, MemberSummary};
use super::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::coordinator_partitions::{
    load_partition, CoordinatorPartitions, LoadPartition, PartitionLoader, PartitionState,
    UnloadPartition, WriteFailure,
};
use crate::actors::partition_replica::replica_manager::delayed_produce::append_replicated;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::purgatory::{Parked, Purgatory};
use crate::actors::timer_wheel::{CancelWakeup, ScheduleWakeup, TimerWheel};
use crate::error::BrokerError;
use crate::extension::events::{BrokerEvent, EventBus};
use crate::storage::AppendOrigin;
use crate::timing_wheel::TimerId;

/// A committed offset as OffsetFetch returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// Wall-clock time the coordinator stored it (offset expiry counts from here).
    pub commit_timestamp_ms: i64,
}

type TopicPartitionKey = (String, i32);
type TimerKey = (String, TimerKind);

/// `offsets.retention.minutes` and how often to apply it.
#[derive(Clone, Copy, Debug)]
pub struct OffsetsRetention {
    pub retention_ms: i64,
    pub check_interval: Duration,
}

pub struct GroupCoordinator {
    config: GroupConfig,
    retention: OffsetsRetention,
    /// `offsets.commit.timeout.ms`: how long a write waits for replication.
    write_timeout: Duration,
    replicas: Arc<ReplicaManager>,
    /// For logs: this shard is sent the `__consumer_offsets` partitions p with
    /// p % shards == shard.
    shard: usize,
    offsets_partitions: i32,
    /// The partitions it coordinates (led here) and whether each is loaded.
    partitions: CoordinatorPartitions,
    /// Markers that landed in a partition while it was loading (producer id, commit): decided
    /// once its replay is in.
    deferred_txn_completions: HashMap<i32, Vec<(i64, bool)>>,
    wheel: Addr<TimerWheel>,
    started: Instant,
    groups: HashMap<String, Group>,
    offsets: HashMap<String, BTreeMap<TopicPartitionKey, CommittedOffset>>,
    /// Where each committed offset sits in `__consumer_offsets` (batch first offset): a
    /// transaction's offsets replace a committed one only if written after it, as in Kafka.
    committed_at: HashMap<String, HashMap<TopicPartitionKey, i64>>,
    /// TxnOffsetCommits not yet decided by a marker.
    pending_txn: PendingTxnOffsets,
    /// Wall-clock time each Empty group became empty (offset expiry counts from it).
    empty_since: HashMap<String, i64>,
    parked_joins: HashMap<(String, String), (oneshot::Sender<JoinResponse>, Parked)>,
    parked_syncs: HashMap<(String, String), (oneshot::Sender<SyncResult>, Parked)>,
    /// Armed timers: sequence number (to ignore superseded wake-ups) and the wheel's id.
    timers: HashMap<TimerKey, (u64, Option<TimerId>)>,
    next_timer_seq: u64,
    /// Where this shard publishes its groups for HTTP readers (`with_view`).
    view: Option<Arc<GroupsView>>,
    /// Completed rebalances go to extensions here (`with_events`).
    events: EventBus,
    /// The generation last announced as rebalanced, per group.
    announced_generations: HashMap<String, i32>,
    next_member_seq: u64,
}

/// The reply channel of the request being handled, consumed by `Reply`/`Park*` effects.
enum Caller {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResult>),
    Heartbeat(oneshot::Sender<Result<(), GroupError>>),
    Leave(oneshot::Sender<LeaveResult>),
    None,
}

impl GroupCoordinator {
    pub fn new(
        config: GroupConfig,
        retention: OffsetsRetention,
        write_timeout: Duration,
        wheel: Addr<TimerWheel>,
        replicas: Arc<ReplicaManager>,
        shard: usize,
        offsets_partitions: i32,
    ) -> Self {
        GroupCoordinator {
            config,
            retention,
            write_timeout,
            replicas,
            shard,
            offsets_partitions,
            partitions: CoordinatorPartitions::default(),
            deferred_txn_completions: HashMap::new(),
            wheel,
            started: Instant::now(),
            groups: HashMap::new(),
            offsets: HashMap::new(),
            committed_at: HashMap::new(),
            pending_txn: PendingTxnOffsets::default(),
            empty_since: HashMap::new(),
            parked_joins: HashMap::new(),
            parked_syncs: HashMap::new(),
            timers: HashMap::new(),
            next_timer_seq: 0,
            view: None,
            events: EventBus::default(),
            announced_generations: HashMap::new(),
            next_member_seq: 0,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn partition_of(&self, group_id: &str) -> i32 {
        offsets_partition_for(group_id, self.offsets_partitions)
    }

    /// Whether this shard may serve `group_id` now: its partition is led here and loaded.
    fn check(&self, group_id: &str) -> Result<(), GroupError> {
        self.partitions
            .check(self.partition_of(group_id))
            .map(|_| ())
            .map_err(GroupError::from)
    }

    fn group_mut(&mut self, group_id: &str) -> &mut Group {
        let config = self.config.clone();
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, config))
    }

    fn wall_clock_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    /// Appends records to the group's `__consumer_offsets` partition; resolves to the
    /// batch's first offset (-1 when there was nothing to write).
    fn append(
        &self,
        group_id: &str,
        entries: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
    ) -> impl std::future::Future<Output = Result<i64, BrokerError>> + 'static {
        let batch = (!entries.is_empty()).then(|| records::batch(&entries, Self::wall_clock_ms()));
        self.write_batch(group_id, batch)
    }

    /// Appends a TxnOffsetCommit's records as the producer's transactional batch.
    fn append_txn(
        &self,
        group_id: &str,
        entries: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
        producer_id: i64,
        producer_epoch: i16,
    ) -> impl std::future::Future<Output = Result<i64, BrokerError>> + 'static {
        let batch = (!entries.is_empty()).then(|| {
            records::txn_batch(&entries, producer_id, producer_epoch, Self::wall_clock_ms())
        });
        self.write_batch(group_id, batch)
    }

    /// Writes with `acks=all` and waits for replication (at most `offsets.commit.timeout.ms`).
    fn write_batch(
        &self,
        group_id: &str,
        batch: Option<bytes::Bytes>,
    ) -> impl std::future::Future<Output = Result<i64, BrokerError>> + 'static {
        let partition = self.partition_of(group_id);
        let handle = self.replicas.get(OFFSETS_TOPIC, partition);
        let (wheel, timeout) = (self.wheel.clone(), self.write_timeout);
        async move {
            let Some(batch) = batch else { return Ok(-1) };
            let handle = handle.ok_or(BrokerError::NotLeaderOrFollower)?;
            let appended =
                append_replicated(&handle, batch, AppendOrigin::Coordinator, &wheel, timeout)
                    .await?;
            Ok(appended.base_offset)
        }
    }

    /// Stores a committed offset written at `log_offset`.
    fn put_offset(
        &mut self,
        group_id: &str,
        key: TopicPartitionKey,
        committed: CommittedOffset,
        log_offset: i64,
    ) {
        self.committed_at
            .entry(group_id.to_string())
            .or_default()
            .insert(key.clone(), log_offset);
        self.offsets
            .entry(group_id.to_string())
            .or_default()
            .insert(key, committed);
    }

    fn remove_offset(&mut self, group_id: &str, key: &TopicPartitionKey) {
        if let Some(m) = self.offsets.get_mut(group_id) {
            m.remove(key);
        }
        if let Some(m) = self.committed_at.get_mut(group_id) {
            m.remove(key);
        }
    }

    /// A transaction marker of `producer_id` is in `__consumer_offsets` partition `partition`:
    /// its pending offsets for the groups of that partition become committed (each unless a
    /// commit written after it already replaced it, as Kafka decides) or are dropped.
    fn complete_txn_offsets(&mut self, producer_id: i64, commit: bool, partition: i32) {
        let n = self.offsets_partitions;
        let (offsets, committed_at) = (&self.offsets, &self.committed_at);
        let decided = self.pending_txn.complete(
            producer_id,
            commit,
            |group| offsets_partition_for(group, n) == partition,
            |group, key| {
                offsets
                    .get(group)
                    .filter(|m| m.contains_key(key))
                    .and_then(|_| committed_at.get(group))
                    .and_then(|m| m.get(key))
                    .copied()
            },
        );
        for (group_id, key, committed, log_offset) in decided {
            self.put_offset(&group_id, key, committed, log_offset);
        }
    }

    /// Carries out effects in order. `caller` answers the request being handled. A `Persist`
    /// suspends the rest until the write is done (the actor handles nothing else meanwhile).
    fn run_effects(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        effects: Vec<Effect>,
        caller: Caller,
    ) {
        self.run_effect_queue(ctx, group_id.to_string(), effects.into(), caller);
    }

    fn run_effect_queue(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: String,
        mut effects: VecDeque<Effect>,
        mut caller: Caller,
    ) {
        let group_id = group_id.as_str();
        while let Some(effect) = effects.pop_front() {
            match effect {
                Effect::Reply(reply) => match (reply, std::mem::replace(&mut caller, Caller::None))
                {
                    (Reply::Join(r), Caller::Join(tx)) => drop(tx.send(r)),
                    (Reply::Sync(r), Caller::Sync(tx)) => drop(tx.send(r)),
                    (Reply::Heartbeat(r), Caller::Heartbeat(tx)) => drop(tx.send(r)),
                    (Reply::Leave(r), Caller::Leave(tx)) => drop(tx.send(r)),
                    (reply, other) => {
                        tracing::warn!(group = group_id, ?reply, "reply without a matching caller");
                        caller = other;
                    }
                },
                Effect::ParkJoin { member_id } => {
                    if let Caller::Join(tx) = std::mem::replace(&mut caller, Caller::None) {
                        self.parked_joins.insert(
                            (group_id.to_string(), member_id),
                            (tx, Parked::new(Purgatory::Rebalance)),
                        );
                    }
                }
                Effect::ParkSync { member_id } => {
                    if let Caller::Sync(tx) = std::mem::replace(&mut caller, Caller::None) {
                        self.parked_syncs.insert(
                            (group_id.to_string(), member_id),
                            (tx, Parked::new(Purgatory::Rebalance)),
                        );
                    }
                }
                Effect::JoinResponse {
                    member_id,
                    response,
                } => {
                    if let Some((tx, _)) =
                        self.parked_joins.remove(&(group_id.to_string(), member_id))
                    {
                        let _ = tx.send(response);
                    }
                }
                Effect::SyncResponse { member_id, result } => {
                    if let Some((tx, _)) =
                        self.parked_syncs.remove(&(group_id.to_string(), member_id))
                    {
                        let _ = tx.send(result);
                    }
                }
                Effect::ScheduleTimer { kind, deadline_ms } => {
                    self.schedule(ctx, group_id, kind, deadline_ms)
                }
                Effect::CancelTimer { kind } => self.cancel((group_id.to_string(), kind)),
                Effect::Persist(mut snapshot) => {
                    self.stamp_state_time(group_id, &mut snapshot);
                    let write = self.append(
                        group_id,
                        vec![(
                            records::group_key(group_id),
                            Some(records::group_value(&snapshot)),
                        )],
                    );
                    let group = group_id.to_string();
                    ctx.wait(write.into_actor(self).map(move |result, act, ctx| {
                        let rest = match result {
                            Ok(_) => effects,
                            Err(e) => {
                                tracing::warn!(group = %group, error = %e, "writing group metadata failed");
                                let answer = GroupError::from(WriteFailure::of(&e));
                                let mut failed: VecDeque<Effect> =
                                    effects.into_iter().map(|fx| fail_effect(fx, answer)).collect();
                                let now = act.now_ms();
                                if let Some(g) = act.groups.get_mut(&group) {
                                    failed.extend(g.persist_failed(now));
                                }
                                failed
                            }
                        };
                        act.run_effect_queue(ctx, group, rest, caller);
                    }));
                    return;
                }
            }
        }
        self.announce_rebalance(group_id);
    }

    /// Stamps a snapshot about to be written with when the group entered its state, and
    /// remembers when Empty groups emptied.
    fn stamp_state_time(&mut self, group_id: &str, snapshot: &mut GroupMetadataSnapshot) {
        if snapshot.state == GroupState::Empty {
            let since = *self
                .empty_since
                .entry(group_id.to_string())
                .or_insert_with(Self::wall_clock_ms);
            snapshot.current_state_timestamp_ms = Some(since);
        } else {
            self.empty_since.remove(group_id);
            snapshot.current_state_timestamp_ms = Some(Self::wall_clock_ms());
        }
    }

    /// What offset expiry needs to know of a group.
    fn activity(&self, group_id: &str) -> GroupActivity {
        let Some(group) = self.groups.get(group_id) else {
            return GroupActivity::Empty { since_ms: None };
        };
        match group.state() {
            GroupState::Empty | GroupState::Dead => GroupActivity::Empty {
                since_ms: self.empty_since.get(group_id).copied(),
            },
            GroupState::Stable if group.protocol_type() == Some("consumer") => {
                GroupActivity::Subscribed(subscriptions(group).into_iter().collect())
            }
            _ => GroupActivity::Active,
        }
    }

    /// `offsets.retention.minutes`: tombstones expired offsets, then removes Empty groups
    /// left with no offsets (they become Dead, as in Kafka).
    fn expire_offsets(&mut self, ctx: &mut Context<Self>) {
        let now = Self::wall_clock_ms();
        let mut ids: Vec<String> = self.offsets.keys().cloned().collect();
        ids.extend(
            self.groups
                .keys()
                .filter(|k| !self.offsets.contains_key(*k))
                .cloned(),
        );
        for group_id in ids {
            let activity = self.activity(&group_id);
            let mut tombstones = Vec::new();
            if let Some(committed) = self.offsets.get_mut(&group_id) {
                for key in expired_offsets(committed, &activity, self.retention.retention_ms, now) {
                    tombstones.push((records::offset_key(&group_id, &key.0, key.1), None));
                    committed.remove(&key);
                    if let Some(at) = self.committed_at.get_mut(&group_id) {
                        at.remove(&key);
                    }
                }
                if committed.is_empty() {
                    self.offsets.remove(&group_id);
                }
            }
            let expired_offsets_count = tombstones.len();
            let group_is_empty = matches!(activity, GroupActivity::Empty { .. });
            if group_is_empty
                && !self.offsets.contains_key(&group_id)
                && !self.pending_txn.has_group(&group_id)
            {
                if let Some(mut group) = self.groups.remove(&group_id) {
                    if let Ok(effects) = group.delete() {
                        self.run_effects(ctx, &group_id, effects, Caller::None);
                    }
                    tombstones.push((records::group_key(&group_id), None));
                }
                self.empty_since.remove(&group_id);
            }
            if tombstones.is_empty() {
                continue;
            }
            tracing::info!(group = %group_id, expired_offsets = expired_offsets_count, "expired committed offsets");
            let write = self.append(&group_id, tombstones);
            ctx.spawn(write.into_actor(self).map(move |r, _, _| {
                if let Err(e) = r {
                    tracing::warn!(group = %group_id, error = %e, "writing expired-offset tombstones failed");
                }
            }));
        }
    }

    fn schedule(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        kind: TimerKind,
        deadline_ms: u64,
    ) {
        let key: TimerKey = (group_id.to_string(), kind);
        self.cancel(key.clone());
        self.next_timer_seq += 1;
        let seq = self.next_timer_seq;
        self.timers.insert(key.clone(), (seq, None));
        let delay = Duration::from_millis(deadline_ms.saturating_sub(self.now_ms()));
        let (tx, rx) = oneshot::channel();
        let wheel = self.wheel.clone();
        let registered_key = key.clone();
        ctx.spawn(
            async move { wheel.send(ScheduleWakeup { delay, waker: tx }).await.ok() }
                .into_actor(self)
                .map(
                    move |id, act, _| match act.timers.get_mut(&registered_key) {
                        Some(entry) if entry.0 == seq => entry.1 = id,
                        _ => {
                            if let Some(id) = id {
                                act.wheel.do_send(CancelWakeup(id));
                            }
                        }
                    },
                ),
        );
        ctx.spawn(rx.into_actor(self).map(move |fired, act, ctx| {
            if fired.is_ok() && act.timers.get(&key).is_some_and(|e| e.0 == seq) {
                act.timers.remove(&key);
                let now = act.now_ms();
                let (group_id, kind) = key;
                if let Some(group) = act.groups.get_mut(&group_id) {
                    let effects = group.timer_fired(kind, now);
                    act.run_effects(ctx, &group_id, effects, Caller::None);
                }
            }
        }));
    }

    fn cancel(&mut self, key: TimerKey) {
        if let Some((_, Some(id))) = self.timers.remove(&key) {
            self.wheel.do_send(CancelWakeup(id));
        }
    }

    /// An election: replays the partition unless it is already here (then only its epoch
    /// moves). `loaded` fires once it is Active, or the load was superseded.
    fn elect(
        &mut self,
        ctx: &mut Context<Self>,
        partition: i32,
        leader_epoch: i32,
        loaded: Option<oneshot::Sender<()>>,
    ) {
        match self.partitions.elect(partition, leader_epoch) {
            Some(load) => load_partition(self, ctx, partition, load, loaded),
            None => {
                if let Some(tx) = loaded {
                    let _ = tx.send(());
                }
            }
        }
    }

    /// Rebuilds one partition's offsets, pending transactional offsets and groups from its
    /// entries, in log order: a transactional offset stays pending until its producer's marker
    /// in the same partition commits or drops it; ones still undecided stay pending (their
    /// `TxnCoordinator` finishes the transaction and tells us). Markers that landed while it
    /// loaded are applied after.
    fn apply_loaded(&mut self, ctx: &mut Context<Self>, partition: i32, entries: Vec<LoadedEntry>) {
        let mut snapshots: HashMap<String, Option<GroupMetadataSnapshot>> = HashMap::new();
        let count = entries.len();
        for entry in entries {
            self.apply_loaded_entry(partition, entry, &mut snapshots);
        }
        for (producer_id, commit) in self
            .deferred_txn_completions
            .remove(&partition)
            .unwrap_or_default()
        {
            self.complete_txn_offsets(producer_id, commit, partition);
        }
        let now = self.now_ms();
        let mut groups = 0;
        for (group_id, snapshot) in snapshots {
            let Some(snapshot) = snapshot else { continue };
            if snapshot.state == GroupState::Empty {
                let since = snapshot
                    .current_state_timestamp_ms
                    .unwrap_or_else(Self::wall_clock_ms);
                self.empty_since.insert(group_id.clone(), since);
            }
            match Group::from_snapshot(snapshot, self.config.clone(), now) {
                Ok((group, effects)) => {
                    groups += 1;
                    self.groups.insert(group_id.clone(), group);
                    self.run_effects(ctx, &group_id, effects, Caller::None);
                }
                Err(e) => {
                    tracing::warn!(group = %group_id, error = %e, "skipping unreadable group metadata")
                }
            }
        }
        tracing::info!(
            shard = self.shard,
            partition,
            records = count,
            groups,
            "group coordinator loaded a __consumer_offsets partition"
        );
    }

    /// A resignation: everything the partition held is dropped; callers parked in a
    /// rebalance of its groups get NOT_COORDINATOR, so they find the new coordinator.
    fn unload(&mut self, partition: i32) {
        if !self.partitions.resign(partition) {
            return;
        }
        self.deferred_txn_completions.remove(&partition);
        let n = self.offsets_partitions;
        let here = |group_id: &str| offsets_partition_for(group_id, n) == partition;
        let dropped = self.groups.keys().filter(|g| here(g)).count();
        self.groups.retain(|g, _| !here(g));
        self.offsets.retain(|g, _| !here(g));
        self.committed_at.retain(|g, _| !here(g));
        self.empty_since.retain(|g, _| !here(g));
        self.pending_txn.drop_groups(|g| here(g));
        let joins: Vec<_> = self
            .parked_joins
            .keys()
            .filter(|(g, _)| here(g))
            .cloned()
            .collect();
        for key in joins {
            if let Some((tx, _)) = self.parked_joins.remove(&key) {
                let _ = tx.send(JoinResponse {
                    member_id: key.1,
                    result: Err(GroupError::NotCoordinator),
                });
            }
        }
        let syncs: Vec<_> = self
            .parked_syncs
            .keys()
            .filter(|(g, _)| here(g))
            .cloned()
            .collect();
        for key in syncs {
            if let Some((tx, _)) = self.parked_syncs.remove(&key) {
                let _ = tx.send(Err(GroupError::NotCoordinator));
            }
        }
        let timers: Vec<TimerKey> = self
            .timers
            .keys()
            .filter(|(g, _)| here(g))
            .cloned()
            .collect();
        for key in timers {
            self.cancel(key);
        }
        tracing::info!(
            shard = self.shard,
            partition,
            groups = dropped,
            "group coordinator unloaded a __consumer_offsets partition"
        );
    }

    fn apply_loaded_entry(
        &mut self,
        partition: i32,
        entry: LoadedEntry,
        snapshots: &mut HashMap<String, Option<GroupMetadataSnapshot>>,
    ) {
        let (record, batch_offset, txn_producer_id) = match entry {
            LoadedEntry::Marker {
                producer_id,
                commit,
            } => return self.complete_txn_offsets(producer_id, commit, partition),
            LoadedEntry::Record {
                record,
                batch_offset,
                txn_producer_id,
            } => (record, batch_offset, txn_producer_id),
        };
        match (record, txn_producer_id) {
            (OffsetsRecord::Group { group, value }, _) => {
                if value.is_none() {
                    // Deleted: replay drops its pending transactional offsets as the live
                    // DeleteGroups did.
                    self.pending_txn.drop_group(&group);
                }
                snapshots.insert(group, value);
            }
            (
                OffsetsRecord::Offset {
                    group,
                    topic,
                    partition: p,
                    value,
                },
                Some(producer_id),
            ) => match value {
                Some(committed) => {
                    self.pending_txn
                        .add(producer_id, &group, (topic, p), committed, batch_offset)
                }
                None => self.pending_txn.remove(producer_id, &group, &(topic, p)),
            },
            (
                OffsetsRecord::Offset {
                    group,
                    topic,
                    partition: p,
                    value: Some(c),
                },
                None,
            ) => self.put_offset(&group, (topic, p), c, batch_offset),
            (
                OffsetsRecord::Offset {
                    group,
                    topic,
                    partition: p,
                    value: None,
                },
                None,
            ) => self.remove_offset(&group, &(topic, p)),
        }
    }

    /// The unique part of a new member id; the group prefixes the client id, as Kafka does.
    fn next_member_id(seq: &mut u64) -> String {
        *seq += 1;
        format!("{}-{}", uuid::Uuid::new_v4().simple(), seq)
    }
}

impl Actor for GroupCoordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.retention.check_interval, |act, ctx| {
            act.expire_offsets(ctx)
        });
        if self.view.is_some() {
            ctx.run_interval(VIEW_PUBLISH_INTERVAL, |act, _| act.publish_view());
        }
    }
}

/// How often a shard refreshes its entry in the `GroupsView`.
const VIEW_PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

impl GroupCoordinator {
    /// Announces completed rebalances on `events`.
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// After a group's effects ran: a Stable generation not announced yet is a completed
    /// rebalance.
    fn announce_rebalance(&mut self, group_id: &str) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        let generation = group.generation_id();
        if group.state() != GroupState::Stable
            || self.announced_generations.get(group_id) == Some(&generation)
        {
            return;
        }
        self.announced_generations
            .insert(group_id.to_string(), generation);
        self.events.emit(|| BrokerEvent::GroupRebalanced {
            group_id: group_id.to_string(),
            generation_id: generation,
            protocol: group.protocol_name().map(str::to_string),
            members: group
                .members()
                .iter()
                .map(|m| m.member_id.clone())
                .collect(),
        });
    }

    /// Publishes this shard's groups to `view` once a second.
    pub fn with_view(mut self, view: Arc<GroupsView>) -> Self {
        self.view = Some(view);
        self
    }

    /// Every group this shard holds (with members, or only committed offsets) as a summary.
    fn publish_view(&self) {
        let Some(view) = &self.view else { return };
        let mut ids: BTreeSet<&String> = self.groups.keys().collect();
        ids.extend(self.offsets.keys());
        let summaries = ids
            .into_iter()
            .map(|id| {
                let group = self.groups.get(id);
                GroupSummary {
                    group_id: id.clone(),
                    state: group.map_or(GroupState::Empty, |g| g.state()).as_str(),
                    protocol_type: group.and_then(|g| g.protocol_type()).map(str::to_string),
                    protocol: group.and_then(|g| g.protocol_name()).map(str::to_string),
                    generation_id: group.map_or(0, |g| g.generation_id()),
                    members: group
                        .map(|g| {
                            g.members()
                                .into_iter()
                                .map(|m| MemberSummary {
                                    member_id: m.member_id.clone(),
                                    group_instance_id: m.group_instance_id.clone(),
                                    client_id: m.client_id.clone(),
                                    client_host: m.client_host.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    offsets: self
                        .offsets
                        .get(id)
                        .map(|o| {
                            o.iter()
                                .map(|((topic, partition), c)| CommittedPartition {
                                    topic: topic.clone(),
                                    partition: *partition,
                                    offset: c.offset,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        view.publish(self.shard, summaries);
    }
}

/// The answer an effect gives when the group metadata write before it failed (`e`, mapped
/// from the write's error as Kafka maps it): clients retry, finding the coordinator again
/// after NOT_COORDINATOR.
fn fail_effect(effect: Effect, e: GroupError) -> Effect {
    match effect {
        Effect::Reply(Reply::Join(r)) => Effect::Reply(Reply::Join(JoinResponse {
            result: Err(e),
            ..r
        })),
        Effect::Reply(Reply::Sync(_)) => Effect::Reply(Reply::Sync(Err(e))),
        Effect::Reply(Reply::Heartbeat(_)) => Effect::Reply(Reply::Heartbeat(Err(e))),
        Effect::Reply(Reply::Leave(_)) => Effect::Reply(Reply::Leave(Err(e))),
        Effect::JoinResponse {
            member_id,
            response,
        } => Effect::JoinResponse {
            member_id,
            response: JoinResponse {
                result: Err(e),
                ..response
            },
        },
        Effect::SyncResponse { member_id, .. } => Effect::SyncResponse {
            member_id,
            result: Err(e),
        },
        other => other,
    }
}

// ---- messages ----

#[derive(Message)]
#[rtype(result = "JoinResponse")]
pub struct JoinGroup {
    pub group_id: String,
    pub request: JoinRequest,
}

#[derive(Message)]
#[rtype(result = "SyncResult")]
pub struct SyncGroup {
    pub group_id: String,
    pub request: SyncRequest,
}

#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct Heartbeat {
    pub group_id: String,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
}

#[derive(Message)]
#[rtype(result = "LeaveResult")]
pub struct LeaveGroup {
    pub group_id: String,
    pub members: Vec<LeaveMember>,
}

/// OffsetCommit for one group: every partition gets the same verdict.
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct CommitOffsets {
    pub group_id: String,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<(String, i32, CommittedOffset)>,
}

/// One partition of an OffsetFetch answer: its committed offset (None if never committed), or
/// UNSTABLE_OFFSET_COMMIT.
pub type FetchedOffset = (String, i32, Result<Option<CommittedOffset>, GroupError>);

/// OffsetFetch: the requested partitions, or every committed one when `partitions` is None.
/// Offsets of open transactions are never returned; with `require_stable` (v7+) a partition
/// that has one answers UNSTABLE_OFFSET_COMMIT, so the client retries once it is decided.
/// The whole group fails with NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS.
#[derive(Message)]
#[rtype(result = "Result<Vec<FetchedOffset>, GroupError>")]
pub struct FetchOffsets {
    pub group_id: String,
    pub partitions: Option<Vec<(String, i32)>>,
    pub require_stable: bool,
}

/// TxnOffsetCommit for one group: validated like OffsetCommit (identified members must be
/// current), written as the producer's transactional batch, then kept pending until the
/// producer's transaction marker decides it.
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct CommitTxnOffsets {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<(String, i32, CommittedOffset)>,
}

/// From the marker writer, once a COMMIT or ABORT marker of `producer_id` is in
/// `__consumer_offsets` partition `partition`: decide that producer's pending offsets there.
/// While the partition loads the decision waits for the replay; a partition not held here is
/// ignored (its next load reads the marker from the log).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CompleteTxnOffsets {
    pub producer_id: i64,
    pub commit: bool,
    pub partition: i32,
}

/// DescribeGroups: one answer per id, in order (NOT_COORDINATOR or
/// COORDINATOR_LOAD_IN_PROGRESS for ids this shard cannot serve now).
#[derive(Message)]
#[rtype(result = "Vec<Result<GroupDescription, GroupError>>")]
pub struct DescribeGroups {
    pub group_ids: Vec<String>,
}

/// (group id, protocol type, state) of the groups this shard coordinates;
/// COORDINATOR_LOAD_IN_PROGRESS while one of its partitions is loading.
#[derive(Message)]
#[rtype(result = "Result<Vec<(String, String, &'static str)>, GroupError>")]
pub struct ListGroups;

#[derive(Message)]
#[rtype(result = "Vec<(String, Result<(), GroupError>)>")]
pub struct DeleteGroups {
    pub group_ids: Vec<String>,
}

// ---- handlers ----

fn reply_future<T: Send + 'static>(rx: oneshot::Receiver<T>, fallback: T) -> ResponseFuture<T> {
    Box::pin(async move { rx.await.unwrap_or(fallback) })
}

impl Handler<JoinGroup> for GroupCoordinator {
    type Result = ResponseFuture<JoinResponse>;

    fn handle(&mut self, msg: JoinGroup, ctx: &mut Context<Self>) -> Self::Result {
        let member_id = msg.request.member_id.clone();
        if let Err(e) = self.check(&msg.group_id) {
            return Box::pin(async move {
                JoinResponse {
                    member_id,
                    result: Err(e),
                }
            });
        }
        let (tx, rx) = oneshot::channel();
        let now = self.now_ms();

        let mut seq = self.next_member_seq;
        let effects = {
            let group = self.group_mut(&msg.group_id);
            group.join(msg.request, now, &mut || Self::next_member_id(&mut seq))
        };
        self.next_member_seq = seq;
        self.run_effects(ctx, &msg.group_id, effects, Caller::Join(tx));
        reply_future(
            rx,
            JoinResponse {
                member_id,
                result: Err(GroupError::CoordinatorNotAvailable),
            },
        )
    }
}

impl Handler<SyncGroup> for GroupCoordinator {
    type Result = ResponseFuture<SyncResult>;

    fn handle(&mut self, msg: SyncGroup, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.check(&msg.group_id) {
            return Box::pin(async move { Err(e) });
        }
        let (tx, rx) = oneshot::channel();
        let now = self.now_ms();
        match self.groups.get_mut(&msg.group_id) {
            None => return Box::pin(async { Err(GroupError::UnknownMemberId) }),
            Some(group) => {
                let effects = group.sync(msg.request, now);
                self.run_effects(ctx, &msg.group_id, effects, Caller::Sync(tx));
            }
        }
        reply_future(rx, Err(GroupError::CoordinatorNotAvailable))
    }
}

impl Handler<Heartbeat> for GroupCoordinator {
    type Result = ResponseFuture<Result<(), GroupError>>;

    fn handle(&mut self, msg: Heartbeat, ctx: &mut Context<Self>) -> Self::Result {
        match self.check(&msg.group_id) {
            // As Kafka: a member of a group still loading is answered NONE, so it keeps its
            // session rather than rejoining.
            Err(GroupError::CoordinatorLoadInProgress) => return Box::pin(async { Ok(()) }),
            Err(e) => return Box::pin(async move { Err(e) }),
            Ok(()) => {}
        }
        let (tx, rx) = oneshot::channel();
        let now = self.now_ms();
        match self.groups.get_mut(&msg.group_id) {
            None => return Box::pin(async { Err(GroupError::UnknownMemberId) }),
            Some(group) => {
                let effects = group.heartbeat(
                    &msg.member_id,
                    msg.generation_id,
                    msg.group_instance_id.as_deref(),
                    now,
                );
                self.run_effects(ctx, &msg.group_id, effects, Caller::Heartbeat(tx));
            }
        }
        reply_future(rx, Err(GroupError::CoordinatorNotAvailable))
    }
}

impl Handler<LeaveGroup> for GroupCoordinator {
    type Result = ResponseFuture<LeaveResult>;

    fn handle(&mut self, msg: LeaveGroup, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.check(&msg.group_id) {
            return Box::pin(async move { Err(e) });
        }
        let (tx, rx) = oneshot::channel();
        let now = self.now_ms();
        match self.groups.get_mut(&msg.group_id) {
            None => return Box::pin(async { Err(GroupError::UnknownMemberId) }),
            Some(group) => {
                let effects = group.leave(msg.members, now);
                self.run_effects(ctx, &msg.group_id, effects, Caller::Leave(tx));
            }
        }
        reply_future(rx, Err(GroupError::CoordinatorNotAvailable))
    }
}

impl Handler<CommitOffsets> for GroupCoordinator {
    type Result = AtomicResponse<Self, Result<(), GroupError>>;

    /// Offsets are acknowledged only once written to `__consumer_offsets`.
    fn handle(&mut self, msg: CommitOffsets, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.check(&msg.group_id) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        let now = self.now_ms();
        let validated = self.group_mut(&msg.group_id).validate_offset_commit(
            &msg.member_id,
            msg.generation_id,
            msg.group_instance_id.as_deref(),
            now,
        );
        let effects = match validated {
            Ok(effects) => effects,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        self.run_effects(ctx, &msg.group_id, effects, Caller::None);
        let wall = Self::wall_clock_ms();
        let mut msg = msg;
        for (_, _, committed) in &mut msg.offsets {
            committed.commit_timestamp_ms = wall;
        }
        let entries = msg
            .offsets
            .iter()
            .map(|(t, p, c)| {
                (
                    records::offset_key(&msg.group_id, t, *p),
                    Some(records::offset_value(c)),
                )
            })
            .collect();
        let write = self.append(&msg.group_id, entries);
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |result, act, _| {
            let log_offset = match result {
                Ok(base) => base,
                Err(e) => {
                    tracing::warn!(group = %msg.group_id, error = %e, "writing committed offsets failed");
                    return Err(WriteFailure::of(&e).into());
                }
            };
            for (topic, partition, offset) in msg.offsets {
                act.put_offset(&msg.group_id, (topic, partition), offset, log_offset);
            }
            Ok(())
        })))
    }
}

impl Handler<FetchOffsets> for GroupCoordinator {
    type Result = MessageResult<FetchOffsets>;

    fn handle(&mut self, msg: FetchOffsets, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.check(&msg.group_id) {
            return MessageResult(Err(e));
        }
        let committed = self.offsets.get(&msg.group_id);
        let unstable = if msg.require_stable {
            self.pending_txn.partitions_of(&msg.group_id)
        } else {
            Default::default()
        };
        let answer = |key: &TopicPartitionKey, c: Option<CommittedOffset>| {
            if unstable.contains(key) {
                Err(GroupError::UnstableOffsetCommit)
            } else {
                Ok(c)
            }
        };
        let out = match msg.partitions {
            Some(parts) => parts
                .into_iter()
                .map(|(t, p)| {
                    let key = (t, p);
                    let c = committed.and_then(|m| m.get(&key).cloned());
                    let r = answer(&key, c);
                    (key.0, key.1, r)
                })
                .collect(),
            None => committed
                .map(|m| {
                    m.iter()
                        .map(|(key, c)| (key.0.clone(), key.1, answer(key, Some(c.clone()))))
                        .collect()
                })
                .unwrap_or_default(),
        };
        MessageResult(Ok(out))
    }
}

impl Handler<CommitTxnOffsets> for GroupCoordinator {
    type Result = AtomicResponse<Self, Result<(), GroupError>>;

    /// Acknowledged once written; visible only after the producer's COMMIT marker.
    fn handle(&mut self, msg: CommitTxnOffsets, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.check(&msg.group_id) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        if let Err(e) = self.group_mut(&msg.group_id).validate_txn_offset_commit(
            &msg.member_id,
            msg.generation_id,
            msg.group_instance_id.as_deref(),
        ) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        if msg.offsets.is_empty() {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(()))));
        }
        let wall = Self::wall_clock_ms();
        let mut msg = msg;
        for (_, _, committed) in &mut msg.offsets {
            committed.commit_timestamp_ms = wall;
        }
        let entries = msg
            .offsets
            .iter()
            .map(|(t, p, c)| {
                (
                    records::offset_key(&msg.group_id, t, *p),
                    Some(records::offset_value(c)),
                )
            })
            .collect();
        let write = self.append_txn(&msg.group_id, entries, msg.producer_id, msg.producer_epoch);
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |result, act, _| {
            let log_offset = match result {
                Ok(base) => base,
                Err(BrokerError::InvalidProducerEpoch(m)) => {
                    tracing::info!(group = %msg.group_id, producer_id = msg.producer_id, "fenced TxnOffsetCommit: {m}");
                    return Err(GroupError::InvalidProducerEpoch);
                }
                Err(e) => {
                    tracing::warn!(group = %msg.group_id, error = %e, "writing transactional offsets failed");
                    return Err(WriteFailure::of(&e).into());
                }
            };
            for (topic, partition, committed) in msg.offsets {
                act.pending_txn.add(
                    msg.producer_id,
                    &msg.group_id,
                    (topic, partition),
                    committed,
                    log_offset,
                );
            }
            Ok(())
        })))
    }
}

impl Handler<CompleteTxnOffsets> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: CompleteTxnOffsets, _: &mut Context<Self>) {
        match self.partitions.state(msg.partition) {
            Some(PartitionState::Active { .. }) => {
                self.complete_txn_offsets(msg.producer_id, msg.commit, msg.partition)
            }
            Some(PartitionState::Loading { .. }) => self
                .deferred_txn_completions
                .entry(msg.partition)
                .or_default()
                .push((msg.producer_id, msg.commit)),
            None => {}
        }
    }
}

impl Handler<DescribeGroups> for GroupCoordinator {
    type Result = MessageResult<DescribeGroups>;

    fn handle(&mut self, msg: DescribeGroups, _: &mut Context<Self>) -> Self::Result {
        let config = self.config.clone();
        MessageResult(
            msg.group_ids
                .into_iter()
                .map(|id| {
                    self.check(&id)?;
                    Ok(match self.groups.get(&id) {
                        Some(g) => g.describe(),
                        None => {
                            let mut g = Group::new(id, config.clone());
                            let _ = g.transition(GroupState::Dead);
                            g.describe()
                        }
                    })
                })
                .collect(),
        )
    }
}

impl Handler<ListGroups> for GroupCoordinator {
    type Result = MessageResult<ListGroups>;

    fn handle(&mut self, _: ListGroups, _: &mut Context<Self>) -> Self::Result {
        if self.partitions.any_loading() {
            return MessageResult(Err(GroupError::CoordinatorLoadInProgress));
        }
        let mut ids: Vec<&String> = self.groups.keys().collect();
        ids.extend(
            self.offsets
                .keys()
                .filter(|k| !self.groups.contains_key(*k)),
        );
        MessageResult(Ok(ids
            .into_iter()
            .map(|id| match self.groups.get(id) {
                Some(g) => (
                    id.clone(),
                    g.protocol_type().unwrap_or("").to_string(),
                    g.state().as_str(),
                ),
                None => (id.clone(), String::new(), GroupState::Empty.as_str()),
            })
            .filter(|(_, _, state)| *state != GroupState::Dead.as_str())
            .collect()))
    }
}

impl Handler<DeleteGroups> for GroupCoordinator {
    type Result = MessageResult<DeleteGroups>;

    fn handle(&mut self, msg: DeleteGroups, ctx: &mut Context<Self>) -> Self::Result {
        let mut out = Vec::new();
        for id in msg.group_ids {
            if let Err(e) = self.check(&id) {
                out.push((id, Err(e)));
                continue;
            }
            let result = match self.groups.get_mut(&id) {
                Some(group) => group.delete().map(|effects| {
                    self.run_effects(ctx, &id, effects, Caller::None);
                    self.groups.remove(&id);
                }),
                None if self.offsets.contains_key(&id) => Ok(()),
                None => Err(GroupError::GroupIdNotFound),
            };
            if result.is_ok() {
                // Tombstones for the group and each of its offsets, so replay forgets them.
                let mut tombstones = vec![(records::group_key(&id), None)];
                self.committed_at.remove(&id);
                self.pending_txn.drop_group(&id);
                if let Some(offsets) = self.offsets.remove(&id) {
                    tombstones.extend(
                        offsets
                            .keys()
                            .map(|(t, p)| (records::offset_key(&id, t, *p), None)),
                    );
                }
                let write = self.append(&id, tombstones);
                let group = id.clone();
                ctx.spawn(write.into_actor(self).map(move |r, _, _| {
                    if let Err(e) = r {
                        tracing::warn!(group = %group, error = %e, "writing group tombstones failed");
                    }
                }));
            }
            out.push((id, result));
        }
        MessageResult(out)
    }
}

impl Handler<LoadPartition> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: LoadPartition, ctx: &mut Context<Self>) {
        self.elect(ctx, msg.partition, msg.leader_epoch, msg.loaded);
    }
}

impl Handler<UnloadPartition> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: UnloadPartition, _: &mut Context<Self>) {
        self.unload(msg.partition);
    }
}

/// OffsetDelete: drops committed offsets of partitions the group is not subscribed to.
/// Answers per partition (GROUP_SUBSCRIBED_TO_TOPIC for topics an active member subscribes to).
#[derive(Message)]
#[rtype(result = "Result<Vec<(String, i32, i16)>, GroupError>")]
pub struct DeleteOffsets {
    pub group_id: String,
    pub partitions: Vec<(String, i32)>,
}

/// Kafka's GROUP_SUBSCRIBED_TO_TOPIC.
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

/// Topics the members of a `consumer` group subscribe to, read from their metadata for the
/// group's chosen protocol.
fn subscriptions(group: &Group) -> Vec<String> {
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

impl Handler<DeleteOffsets> for GroupCoordinator {
    type Result = AtomicResponse<Self, Result<Vec<(String, i32, i16)>, GroupError>>;

    fn handle(&mut self, msg: DeleteOffsets, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.check(&msg.group_id) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        let group = self.groups.get(&msg.group_id);
        if group.is_none() && !self.offsets.contains_key(&msg.group_id) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(GroupError::GroupIdNotFound))));
        }
        let subscribed: Vec<String> = match group {
            Some(g)
                if !matches!(g.state(), GroupState::Empty | GroupState::Dead)
                    && g.protocol_type() == Some("consumer") =>
            {
                subscriptions(g)
            }
            _ => Vec::new(),
        };
        let mut answers = Vec::new();
        let mut tombstones = Vec::new();
        for (topic, partition) in msg.partitions {
            if subscribed.contains(&topic) {
                answers.push((topic, partition, GROUP_SUBSCRIBED_TO_TOPIC));
            } else {
                tombstones.push((records::offset_key(&msg.group_id, &topic, partition), None));
                answers.push((topic, partition, 0));
            }
        }
        let write = self.append(&msg.group_id, tombstones);
        let group_id = msg.group_id;
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |result, act, _| {
            if let Err(e) = result {
                tracing::warn!(group = %group_id, error = %e, "writing offset tombstones failed");
                return Err(WriteFailure::of(&e).into());
            }
            for (t, p, code) in &answers {
                if *code == 0 {
                    act.remove_offset(&group_id, &(t.clone(), *p));
                }
            }
            Ok(answers)
        })))
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

/// The shard against a real `__consumer_offsets` partition: it serves only what it has loaded.
#[cfg(test)]
mod leadership_tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::actors::partition_replica::ReplicaContext;
    use crate::actors::supervisor::SupervisorState;
    use crate::config::BrokerConfig;
    use crate::metadata::{MetadataImage, PartitionMeta, TopicMeta};

    /// A one-node image where node 1 leads both partitions of `__consumer_offsets`.
    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        let partitions = (0..2)
            .map(|index| PartitionMeta {
                index,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            })
            .collect();
        image.topics.insert(
            OFFSETS_TOPIC.into(),
            TopicMeta {
                name: OFFSETS_TOPIC.into(),
                id: Default::default(),
                partitions,
                configs: Default::default(),
                internal: true,
            },
        );
        image
    }

    async fn start(dir: &std::path::Path) -> Addr<GroupCoordinator> {
        let replicas = Arc::new(ReplicaManager::new(
            Arc::new(ReplicaContext {
                node_id: 1,
                controller: OnceLock::new(),
                replica_lag_time_max_ms: 30_000,
                events: Default::default(),
            }),
            dir.to_path_buf(),
            vec![Arbiter::current()],
            Arc::new(SupervisorState::default()),
            BrokerConfig::default(),
        ));
        replicas.reconcile(&image(), &[]).await.unwrap();
        let retention = OffsetsRetention {
            retention_ms: i64::MAX,
            check_interval: Duration::from_secs(3600),
        };
        GroupCoordinator::new(
            GroupConfig::default(),
            retention,
            Duration::from_secs(5),
            TimerWheel::default().start(),
            replicas,
            0,
            2,
        )
        .start()
    }

    async fn load(gc: &Addr<GroupCoordinator>, partition: i32) {
        let (tx, rx) = oneshot::channel();
        gc.send(LoadPartition {
            partition,
            leader_epoch: 0,
            loaded: Some(tx),
        })
        .await
        .unwrap();
        rx.await.unwrap();
    }

    fn commit(group_id: &str, offset: i64) -> CommitOffsets {
        CommitOffsets {
            group_id: group_id.into(),
            member_id: String::new(),
            generation_id: -1,
            group_instance_id: None,
            offsets: vec![(
                "t".into(),
                0,
                CommittedOffset {
                    offset,
                    leader_epoch: -1,
                    metadata: None,
                    commit_timestamp_ms: 0,
                },
            )],
        }
    }

    fn fetch(group_id: &str) -> FetchOffsets {
        FetchOffsets {
            group_id: group_id.into(),
            partitions: None,
            require_stable: false,
        }
    }

    fn join(group_id: &str) -> JoinGroup {
        JoinGroup {
            group_id: group_id.into(),
            request: JoinRequest {
                member_id: String::new(),
                group_instance_id: None,
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), Vec::new())],
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 10_000,
                client_id: "c".into(),
                client_host: "h".into(),
                require_known_member_id: false,
                supports_skip_assignment: false,
            },
        }
    }

    /// A group id whose `__consumer_offsets` partition (of 2) is `partition`.
    fn group_in(partition: i32) -> String {
        (0..)
            .map(|i| format!("group-{i}"))
            .find(|g| offsets_partition_for(g, 2) == partition)
            .unwrap()
    }

    #[actix::test]
    async fn a_shard_serves_what_it_loaded_and_forgets_what_it_unloaded() {
        let dir = tempfile::tempdir().unwrap();
        let gc = start(dir.path()).await;
        let (g0, g1) = (group_in(0), group_in(1));

        let refused = gc.send(commit(&g0, 5)).await.unwrap();
        assert_eq!(
            refused,
            Err(GroupError::NotCoordinator),
            "nothing loaded yet"
        );
        load(&gc, 0).await;
        assert_eq!(gc.send(commit(&g0, 5)).await.unwrap(), Ok(()));
        let other = gc.send(commit(&g1, 7)).await.unwrap();
        assert_eq!(
            other,
            Err(GroupError::NotCoordinator),
            "partition 1 is not loaded"
        );
        let listed = gc.send(ListGroups).await.unwrap().unwrap();
        assert_eq!(listed.len(), 1);

        // A member parked in the initial rebalance delay when the partition moves away.
        let parked = gc.send(join(&g0));
        gc.send(UnloadPartition { partition: 0 }).await.unwrap();
        let answer = parked.await.unwrap();
        assert_eq!(answer.result.unwrap_err(), GroupError::NotCoordinator);
        let gone = gc.send(fetch(&g0)).await.unwrap();
        assert_eq!(gone, Err(GroupError::NotCoordinator));
        let described = gc
            .send(DescribeGroups {
                group_ids: vec![g0.clone()],
            })
            .await
            .unwrap();
        assert_eq!(
            described[0].as_ref().unwrap_err(),
            &GroupError::NotCoordinator
        );
        assert!(gc.send(ListGroups).await.unwrap().unwrap().is_empty());

        // Elected again: the committed offset is read back from the log.
        load(&gc, 0).await;
        let fetched = gc.send(fetch(&g0)).await.unwrap().unwrap();
        assert_eq!(fetched.len(), 1);
        assert_eq!(fetched[0].2.as_ref().unwrap().as_ref().unwrap().offset, 5);
    }
}

impl PartitionLoader for GroupCoordinator {
    type Entry = LoadedEntry;
    const TOPIC: &'static str = OFFSETS_TOPIC;
    fn partition_handle(
        &self,
        partition: i32,
    ) -> Option<crate::actors::partition_replica::replica_manager::PartitionHandle> {
        self.replicas.get(OFFSETS_TOPIC, partition)
    }
    fn coordinator_partitions(&mut self) -> &mut CoordinatorPartitions {
        &mut self.partitions
    }
    fn decode(bytes: bytes::Bytes) -> (Vec<Self::Entry>, Option<i64>) {
        records::decode_batches(bytes)
    }
    fn apply_loaded(&mut self, ctx: &mut Context<Self>, partition: i32, entries: Vec<Self::Entry>) {
        GroupCoordinator::apply_loaded(self, ctx, partition, entries)
    }
}
