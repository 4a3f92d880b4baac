//! `GroupCoordinator`: one per shard of consumer groups (a group's shard is its
//! `__consumer_offsets` partition modulo the number of coordinators). Owns the `Group` state
//! machines of its groups, their committed offsets, the JoinGroup/SyncGroup requests parked
//! until a rebalance completes, and their timers (through the `TimerWheel`).
//!
//! Handlers send it messages; it runs the state machine and carries out the returned
//! `Effect`s in order. It never touches partition logs. Not yet: writing group metadata and
//! offsets to `__consumer_offsets` (the `Persist` effect is a no-op for now, so groups and
//! offsets live in memory until the persistence step of issue #3 lands).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::group::*;
use crate::actors::timer_wheel::{CancelWakeup, ScheduleWakeup, TimerWheel};
use crate::timing_wheel::TimerId;

/// A committed offset as OffsetFetch returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

type TopicPartitionKey = (String, i32);
type TimerKey = (String, TimerKind);

pub struct GroupCoordinator {
    config: GroupConfig,
    wheel: Addr<TimerWheel>,
    started: Instant,
    groups: HashMap<String, Group>,
    offsets: HashMap<String, BTreeMap<TopicPartitionKey, CommittedOffset>>,
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
    pub fn new(config: GroupConfig, wheel: Addr<TimerWheel>) -> Self {
        GroupCoordinator {
            config,
            wheel,
            started: Instant::now(),
            groups: HashMap::new(),
            offsets: HashMap::new(),
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

    /// Carries out effects in order. `caller` answers the request being handled.
    fn run_effects(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        effects: Vec<Effect>,
        mut caller: Caller,
    ) {
        for effect in effects {
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
                // Durable group metadata is the next step of issue #3 (`__consumer_offsets`).
                Effect::Persist(_) => {}
            }
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

    fn next_member_id(seq: &mut u64, client_id: &str) -> String {
        *seq += 1;
        format!(
            "{}-{}-{}",
            if client_id.is_empty() {
                "member"
            } else {
                client_id
            },
            uuid::Uuid::new_v4().simple(),
            seq
        )
    }
}

impl Actor for GroupCoordinator {
    type Context = Context<Self>;
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
        let client_id = msg.request.client_id.clone();
        let mut seq = self.next_member_seq;
        let effects = {
            let group = self.group_mut(&msg.group_id);
            group.join(msg.request, now, &mut || {
                Self::next_member_id(&mut seq, &client_id)
            })
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
    type Result = Result<(), GroupError>;

    fn handle(&mut self, msg: CommitOffsets, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.now_ms();
        let effects = self.group_mut(&msg.group_id).validate_offset_commit(
            &msg.member_id,
            msg.generation_id,
            msg.group_instance_id.as_deref(),
            now,
        )?;
        self.run_effects(ctx, &msg.group_id, effects, Caller::None);
        let committed = self.offsets.entry(msg.group_id).or_default();
        for (topic, partition, offset) in msg.offsets {
            committed.insert((topic, partition), offset);
        }
        Ok(())
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
                    self.offsets.remove(&id);
                }),
                None if self.offsets.remove(&id).is_some() => Ok(()),
                None => Err(GroupError::GroupIdNotFound),
            };
            out.push((id, result));
        }
        MessageResult(out)
    }
}
