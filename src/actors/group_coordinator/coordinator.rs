//! `GroupCoordinator`: one per shard of consumer groups (a group's shard is its
//! `__consumer_offsets` partition modulo the number of coordinators). Owns the `Group` state
//! machines of its groups, their committed offsets, the JoinGroup/SyncGroup requests parked
//! until a rebalance completes, and their timers (through the `TimerWheel`).
//!
//! Handlers send it messages; it runs the state machine and carries out the returned
//! `Effect`s in order. Group metadata (`Persist`) and committed offsets are appended to its
//! `__consumer_offsets` partitions (records in `records.rs`) before anything that depends on
//! them is answered; the actor waits for each write (`ctx.wait`), so writes and replies keep
//! their order. At start it replays its partitions before serving. It reaches logs only
//! through their `PartitionReplica` actors.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::expiry::{expired_offsets, GroupActivity};
use super::group::*;
use super::records::{self, OffsetsRecord};
use super::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::partition_replica::{AppendRecords, GetWatermarks, IsolationLevel, ReadRecords};
use crate::actors::replica_manager::ReplicaManager;
use crate::actors::timer_wheel::{CancelWakeup, ScheduleWakeup, TimerWheel};
use crate::error::BrokerError;
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
    replicas: Arc<ReplicaManager>,
    /// This shard owns the `__consumer_offsets` partitions p with p % shards == shard.
    shard: usize,
    shards: usize,
    offsets_partitions: i32,
    wheel: Addr<TimerWheel>,
    started: Instant,
    groups: HashMap<String, Group>,
    offsets: HashMap<String, BTreeMap<TopicPartitionKey, CommittedOffset>>,
    /// Wall-clock time each Empty group became empty (offset expiry counts from it).
    empty_since: HashMap<String, i64>,
    parked_joins: HashMap<(String, String), oneshot::Sender<JoinResponse>>,
    parked_syncs: HashMap<(String, String), oneshot::Sender<SyncResult>>,
    /// Armed timers: sequence number (to ignore superseded wake-ups) and the wheel's id.
    timers: HashMap<TimerKey, (u64, Option<TimerId>)>,
    next_timer_seq: u64,
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
        wheel: Addr<TimerWheel>,
        replicas: Arc<ReplicaManager>,
        shard: usize,
        shards: usize,
        offsets_partitions: i32,
    ) -> Self {
        GroupCoordinator {
            config,
            retention,
            replicas,
            shard,
            shards,
            offsets_partitions,
            wheel,
            started: Instant::now(),
            groups: HashMap::new(),
            offsets: HashMap::new(),
            empty_since: HashMap::new(),
            parked_joins: HashMap::new(),
            parked_syncs: HashMap::new(),
            timers: HashMap::new(),
            next_timer_seq: 0,
            next_member_seq: 0,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
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

    /// Appends records to the group's `__consumer_offsets` partition.
    fn append(
        &self,
        group_id: &str,
        entries: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
    ) -> impl std::future::Future<Output = Result<(), BrokerError>> + 'static {
        let partition = offsets_partition_for(group_id, self.offsets_partitions);
        let handle = self.replicas.get(OFFSETS_TOPIC, partition);
        let batch = records::batch(&entries, Self::wall_clock_ms());
        let nothing_to_write = entries.is_empty();
        async move {
            if nothing_to_write {
                return Ok(());
            }
            let handle = handle.ok_or(BrokerError::CoordinatorNotAvailable)?;
            handle.addr.send(AppendRecords { records: batch }).await??;
            Ok(())
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
                        self.parked_joins
                            .insert((group_id.to_string(), member_id), tx);
                    }
                }
                Effect::ParkSync { member_id } => {
                    if let Caller::Sync(tx) = std::mem::replace(&mut caller, Caller::None) {
                        self.parked_syncs
                            .insert((group_id.to_string(), member_id), tx);
                    }
                }
                Effect::JoinResponse {
                    member_id,
                    response,
                } => {
                    if let Some(tx) = self.parked_joins.remove(&(group_id.to_string(), member_id)) {
                        let _ = tx.send(response);
                    }
                }
                Effect::SyncResponse { member_id, result } => {
                    if let Some(tx) = self.parked_syncs.remove(&(group_id.to_string(), member_id)) {
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
                            Ok(()) => effects,
                            Err(e) => {
                                tracing::warn!(group = %group, error = %e, "writing group metadata failed");
                                let mut failed: VecDeque<Effect> = effects.into_iter().map(fail_effect).collect();
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
                }
                if committed.is_empty() {
                    self.offsets.remove(&group_id);
                }
            }
            let expired_offsets_count = tombstones.len();
            let group_is_empty = matches!(activity, GroupActivity::Empty { .. });
            if group_is_empty && !self.offsets.contains_key(&group_id) {
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

    /// Replays this shard's `__consumer_offsets` partitions into groups and offsets.
    fn load(&mut self, ctx: &mut Context<Self>) {
        let partitions: Vec<i32> = (0..self.offsets_partitions)
            .filter(|p| *p as usize % self.shards == self.shard)
            .collect();
        let replicas = self.replicas.clone();
        let reading = async move {
            let mut all = Vec::new();
            for p in partitions {
                let Some(handle) = replicas.get(OFFSETS_TOPIC, p) else {
                    continue;
                };
                let Ok(marks) = handle.addr.send(GetWatermarks).await else {
                    continue;
                };
                let mut offset = marks.log_start_offset;
                while offset < marks.high_watermark {
                    let read = handle
                        .addr
                        .send(ReadRecords {
                            fetch_offset: offset,
                            max_bytes: 1 << 20,
                            min_one_batch: true,
                            isolation_level: IsolationLevel::ReadUncommitted,
                        })
                        .await;
                    let Ok(Ok(read)) = read else { break };
                    let mut bytes = bytes::BytesMut::new();
                    for slice in &read.slices {
                        match slice.read_bytes() {
                            Ok(b) => bytes.extend_from_slice(&b),
                            Err(_) => break,
                        }
                    }
                    let (decoded, next) = records::decode_batches(bytes.freeze());
                    all.extend(decoded);
                    match next {
                        Some(n) if n > offset => offset = n,
                        _ => break,
                    }
                }
            }
            all
        };
        ctx.wait(
            reading
                .into_actor(self)
                .map(|records, act, ctx| act.apply_loaded(ctx, records)),
        );
    }

    fn apply_loaded(&mut self, ctx: &mut Context<Self>, loaded: Vec<OffsetsRecord>) {
        let mut snapshots: HashMap<String, Option<GroupMetadataSnapshot>> = HashMap::new();
        let count = loaded.len();
        for r in loaded {
            match r {
                OffsetsRecord::Offset {
                    group,
                    topic,
                    partition,
                    value: Some(c),
                } => {
                    self.offsets
                        .entry(group)
                        .or_default()
                        .insert((topic, partition), c);
                }
                OffsetsRecord::Offset {
                    group,
                    topic,
                    partition,
                    value: None,
                } => {
                    if let Some(m) = self.offsets.get_mut(&group) {
                        m.remove(&(topic, partition));
                    }
                }
                OffsetsRecord::Group { group, value } => {
                    snapshots.insert(group, value);
                }
            }
        }
        let now = self.now_ms();
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
                    self.groups.insert(group_id.clone(), group);
                    self.run_effects(ctx, &group_id, effects, Caller::None);
                }
                Err(e) => {
                    tracing::warn!(group = %group_id, error = %e, "skipping unreadable group metadata")
                }
            }
        }
        if count > 0 {
            tracing::info!(
                shard = self.shard,
                records = count,
                groups = self.groups.len(),
                "group coordinator loaded"
            );
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
        self.load(ctx);
        ctx.run_interval(self.retention.check_interval, |act, ctx| {
            act.expire_offsets(ctx)
        });
    }
}

/// The answer an effect gives when the group metadata write before it failed: clients retry
/// with the coordinator, as after Kafka's failed group writes.
fn fail_effect(effect: Effect) -> Effect {
    let e = GroupError::CoordinatorNotAvailable;
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

/// OffsetFetch: the requested partitions, or every committed one when `partitions` is None.
#[derive(Message)]
#[rtype(result = "Vec<(String, i32, Option<CommittedOffset>)>")]
pub struct FetchOffsets {
    pub group_id: String,
    pub partitions: Option<Vec<(String, i32)>>,
}

#[derive(Message)]
#[rtype(result = "Vec<GroupDescription>")]
pub struct DescribeGroups {
    pub group_ids: Vec<String>,
}

/// (group id, protocol type, state)
#[derive(Message)]
#[rtype(result = "Vec<(String, String, &'static str)>")]
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
        let (tx, rx) = oneshot::channel();
        let now = self.now_ms();
        let member_id = msg.request.member_id.clone();

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
            if let Err(e) = result {
                tracing::warn!(group = %msg.group_id, error = %e, "writing committed offsets failed");
                return Err(GroupError::CoordinatorNotAvailable);
            }
            let committed = act.offsets.entry(msg.group_id).or_default();
            for (topic, partition, offset) in msg.offsets {
                committed.insert((topic, partition), offset);
            }
            Ok(())
        })))
    }
}

impl Handler<FetchOffsets> for GroupCoordinator {
    type Result = MessageResult<FetchOffsets>;

    fn handle(&mut self, msg: FetchOffsets, _: &mut Context<Self>) -> Self::Result {
        let committed = self.offsets.get(&msg.group_id);
        let out = match msg.partitions {
            Some(parts) => parts
                .into_iter()
                .map(|(t, p)| {
                    let c = committed.and_then(|m| m.get(&(t.clone(), p)).cloned());
                    (t, p, c)
                })
                .collect(),
            None => committed
                .map(|m| {
                    m.iter()
                        .map(|((t, p), c)| (t.clone(), *p, Some(c.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        };
        MessageResult(out)
    }
}

impl Handler<DescribeGroups> for GroupCoordinator {
    type Result = MessageResult<DescribeGroups>;

    fn handle(&mut self, msg: DescribeGroups, _: &mut Context<Self>) -> Self::Result {
        let config = self.config.clone();
        MessageResult(
            msg.group_ids
                .into_iter()
                .map(|id| match self.groups.get(&id) {
                    Some(g) => g.describe(),
                    None => {
                        let mut g = Group::new(id, config.clone());
                        let _ = g.transition(GroupState::Dead);
                        g.describe()
                    }
                })
                .collect(),
        )
    }
}

impl Handler<ListGroups> for GroupCoordinator {
    type Result = MessageResult<ListGroups>;

    fn handle(&mut self, _: ListGroups, _: &mut Context<Self>) -> Self::Result {
        let mut ids: Vec<&String> = self.groups.keys().collect();
        ids.extend(
            self.offsets
                .keys()
                .filter(|k| !self.groups.contains_key(*k)),
        );
        MessageResult(
            ids.into_iter()
                .map(|id| match self.groups.get(id) {
                    Some(g) => (
                        id.clone(),
                        g.protocol_type().unwrap_or("").to_string(),
                        g.state().as_str(),
                    ),
                    None => (id.clone(), String::new(), GroupState::Empty.as_str()),
                })
                .filter(|(_, _, state)| *state != GroupState::Dead.as_str())
                .collect(),
        )
    }
}

impl Handler<DeleteGroups> for GroupCoordinator {
    type Result = MessageResult<DeleteGroups>;

    fn handle(&mut self, msg: DeleteGroups, ctx: &mut Context<Self>) -> Self::Result {
        let mut out = Vec::new();
        for id in msg.group_ids {
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
                return Err(GroupError::CoordinatorNotAvailable);
            }
            if let Some(committed) = act.offsets.get_mut(&group_id) {
                for (t, p, code) in &answers {
                    if *code == 0 {
                        committed.remove(&(t.clone(), *p));
                    }
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
