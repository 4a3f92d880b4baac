//! `GroupCoordinator`: one per shard of consumer groups (a group's shard is its
//! `__consumer_offsets` partition modulo the number of coordinators). It owns one
//! [`GroupEntry`] per group (the state machine, committed and pending transactional offsets,
//! timers, parked callers, the requests waiting behind the group's write) and the shard's
//! `__consumer_offsets` partitions with their load state. It may not touch logs but through
//! their `PartitionReplica` actors, nor another shard's groups.
//!
//! It coordinates exactly the `__consumer_offsets` partitions of its shard that this node
//! leads: `LoadPartition` (an election, from `CoordinatorElections`) replays one partition
//! while the rest of the shard keeps serving, and requests for that partition's groups answer
//! COORDINATOR_LOAD_IN_PROGRESS until it is done (a Heartbeat gets NONE, as in Kafka);
//! `UnloadPartition` (a resignation) removes its groups' entries, which answers their parked
//! callers NOT_COORDINATOR. Groups of partitions it does not hold answer NOT_COORDINATOR.
//!
//! This file is the thin actor: each handler turns its message into a `GroupRequest` and
//! hands it to `route` (`requests`), which checks the partition, runs the state machine,
//! carries out its effects and replies. Writes to `__consumer_offsets` use `acks=all` and
//! wait for the high watermark (`metadata_manager`, Kafka's `GroupMetadataManager`); while
//! one waits, only its own group's later requests wait (in the group's entry, in arrival
//! order) — the shard keeps serving every other group.
//!
//! Transactional offsets (TxnOffsetCommit) are written as transactional batches and kept
//! pending in their group's entry, invisible to OffsetFetch, until that producer's marker
//! decides them: live, the `TxnCoordinator`'s marker writer sends `CompleteTxnOffsets` once the
//! marker is in the partition; at replay, the marker's control batch does the same.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::entry::{ArmedTimer, GroupEntry};
use super::group::*;
use super::offsets_partition_for;
use super::requests::GroupRequest;
use super::view::{CommittedPartition, GroupSummary, GroupsView, MemberSummary};
use crate::actors::coordinator_partitions::{
    CoordinatorPartitions, LoadPartition, UnloadPartition,
};
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::system_timer::{CancelWakeup, ScheduleWakeup, SystemTimer};
use crate::events::EventBus;

pub use super::messages::*;

pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) retention: OffsetsRetention,
    /// `offsets.commit.timeout.ms`: how long a write waits for replication.
    pub(super) write_timeout: Duration,
    pub(super) replicas: Arc<ReplicaManager>,
    /// For logs: this shard is sent the `__consumer_offsets` partitions p with
    /// p % shards == shard.
    pub(super) shard: usize,
    pub(super) offsets_partitions: i32,
    /// The partitions it coordinates (led here) and whether each is loaded.
    pub(super) partitions: CoordinatorPartitions,
    /// Markers that landed in a partition while it was loading (producer id, commit): decided
    /// once its replay is in.
    pub(super) deferred_txn_completions: HashMap<i32, Vec<(i64, bool)>>,
    pub(super) wheel: Addr<SystemTimer>,
    started: Instant,
    /// Every group of the shard's loaded partitions.
    pub(super) entries: HashMap<String, GroupEntry>,
    pub(super) next_incarnation: u64,
    next_timer_seq: u64,
    pub(super) next_member_seq: u64,
    /// Where this shard publishes its groups for HTTP readers (`with_view`).
    view: Option<Arc<GroupsView>>,
    /// Completed rebalances go to extensions here (`with_events`).
    pub(super) events: EventBus,
}

impl GroupCoordinator {
    pub fn new(
        config: GroupConfig,
        retention: OffsetsRetention,
        write_timeout: Duration,
        wheel: Addr<SystemTimer>,
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
            entries: HashMap::new(),
            next_incarnation: 0,
            next_timer_seq: 0,
            next_member_seq: 0,
            view: None,
            events: EventBus::default(),
        }
    }

    /// Announces completed rebalances on `events`.
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// Publishes this shard's groups to `view` once a second.
    pub fn with_view(mut self, view: Arc<GroupsView>) -> Self {
        self.view = Some(view);
        self
    }

    /// The state machines' clock.
    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub(super) fn wall_clock_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    pub(super) fn partition_of(&self, group_id: &str) -> i32 {
        offsets_partition_for(group_id, self.offsets_partitions)
    }

    /// Whether this shard may serve `group_id` now: its partition is led here and loaded.
    pub(super) fn check(&self, group_id: &str) -> Result<(), GroupError> {
        self.partitions
            .check(self.partition_of(group_id))
            .map(|_| ())
            .map_err(GroupError::from)
    }

    /// The unique part of a new member id; the group prefixes the client id, as Kafka does.
    pub(super) fn next_member_id(seq: &mut u64) -> String {
        *seq += 1;
        format!("{}-{}", uuid::Uuid::new_v4().simple(), seq)
    }

    /// Arms timer `kind` of the group's entry `inc` on the wheel, replacing an armed one; when
    /// it fires it comes back as a request of the group.
    pub(super) fn schedule(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        inc: u64,
        kind: TimerKind,
        deadline_ms: u64,
    ) {
        self.next_timer_seq += 1;
        let seq = self.next_timer_seq;
        let delay = Duration::from_millis(deadline_ms.saturating_sub(self.now_ms()));
        let Some(entry) = self.entry_of(group_id, inc) else {
            return;
        };
        entry.cancel_timer(&kind);
        entry
            .timers
            .insert(kind.clone(), ArmedTimer { seq, id: None });
        let (tx, rx) = oneshot::channel();
        let wheel = self.wheel.clone();
        let (group, registered_kind) = (group_id.to_string(), kind.clone());
        ctx.spawn(
            async move { wheel.send(ScheduleWakeup { delay, waker: tx }).await.ok() }
                .into_actor(self)
                .map(move |id, act, _| {
                    let armed = act
                        .entries
                        .get_mut(&group)
                        .and_then(|e| e.timers.get_mut(&registered_kind));
                    match armed {
                        Some(timer) if timer.seq == seq => timer.id = id,
                        _ => {
                            if let Some(id) = id {
                                act.wheel.do_send(CancelWakeup(id));
                            }
                        }
                    }
                }),
        );
        let group = group_id.to_string();
        ctx.spawn(rx.into_actor(self).map(move |fired, act, ctx| {
            if fired.is_ok() {
                act.route(ctx, group, GroupRequest::Timer { kind, seq });
            }
        }));
    }

    /// Every group this shard holds (with members, or only committed offsets) as a summary.
    fn publish_view(&self) {
        let Some(view) = &self.view else { return };
        let mut listed: Vec<(&String, &GroupEntry)> =
            self.entries.iter().filter(|(_, e)| e.is_listed()).collect();
        listed.sort_by(|a, b| a.0.cmp(b.0));
        let summaries = listed
            .into_iter()
            .map(|(id, entry)| {
                let group = entry.classic();
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
                    offsets: entry
                        .offsets
                        .iter()
                        .map(|((topic, partition), s)| CommittedPartition {
                            topic: topic.clone(),
                            partition: *partition,
                            offset: s.committed.offset,
                        })
                        .collect(),
                }
            })
            .collect();
        view.publish(self.shard, summaries);
    }

    /// Routes a request of `group_id` and answers with its reply (`fallback` if the shard
    /// stopped before answering).
    fn ask<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: String,
        request: impl FnOnce(oneshot::Sender<T>) -> GroupRequest,
        fallback: T,
    ) -> ResponseFuture<T> {
        let (tx, rx) = oneshot::channel();
        self.route(ctx, group_id, request(tx));
        Box::pin(async move { rx.await.unwrap_or(fallback) })
    }

    /// One request per group id, answered in the order of `group_ids`.
    fn ask_each<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        group_ids: Vec<String>,
        request: impl Fn(oneshot::Sender<Result<T, GroupError>>) -> GroupRequest,
    ) -> Vec<oneshot::Receiver<Result<T, GroupError>>> {
        group_ids
            .into_iter()
            .map(|id| {
                let (tx, rx) = oneshot::channel();
                self.route(ctx, id, request(tx));
                rx
            })
            .collect()
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

/// The answer when the shard stopped before answering.
const GONE: GroupError = GroupError::CoordinatorNotAvailable;

impl Handler<JoinGroup> for GroupCoordinator {
    type Result = ResponseFuture<JoinResponse>;

    fn handle(&mut self, msg: JoinGroup, ctx: &mut Context<Self>) -> Self::Result {
        let fallback = JoinResponse {
            member_id: msg.request.member_id.clone(),
            result: Err(GONE),
        };
        let id = msg.group_id.clone();
        self.ask(ctx, id, |tx| GroupRequest::Join(msg, tx), fallback)
    }
}

impl Handler<SyncGroup> for GroupCoordinator {
    type Result = ResponseFuture<SyncResult>;

    fn handle(&mut self, msg: SyncGroup, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(ctx, id, |tx| GroupRequest::Sync(msg, tx), Err(GONE))
    }
}

impl Handler<Heartbeat> for GroupCoordinator {
    type Result = ResponseFuture<Result<(), GroupError>>;

    fn handle(&mut self, msg: Heartbeat, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(ctx, id, |tx| GroupRequest::Heartbeat(msg, tx), Err(GONE))
    }
}

impl Handler<LeaveGroup> for GroupCoordinator {
    type Result = ResponseFuture<LeaveResult>;

    fn handle(&mut self, msg: LeaveGroup, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(ctx, id, |tx| GroupRequest::Leave(msg, tx), Err(GONE))
    }
}

impl Handler<CommitOffsets> for GroupCoordinator {
    type Result = ResponseFuture<Result<(), GroupError>>;

    /// Offsets are acknowledged only once written to `__consumer_offsets`.
    fn handle(&mut self, msg: CommitOffsets, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(
            ctx,
            id,
            |tx| GroupRequest::CommitOffsets(msg, tx),
            Err(GONE),
        )
    }
}

impl Handler<CommitTxnOffsets> for GroupCoordinator {
    type Result = ResponseFuture<Result<(), GroupError>>;

    /// Acknowledged once written; visible only after the producer's COMMIT marker.
    fn handle(&mut self, msg: CommitTxnOffsets, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(
            ctx,
            id,
            |tx| GroupRequest::CommitTxnOffsets(msg, tx),
            Err(GONE),
        )
    }
}

impl Handler<FetchOffsets> for GroupCoordinator {
    type Result = ResponseFuture<Result<Vec<FetchedOffset>, GroupError>>;

    fn handle(&mut self, msg: FetchOffsets, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(ctx, id, |tx| GroupRequest::FetchOffsets(msg, tx), Err(GONE))
    }
}

impl Handler<DeleteOffsets> for GroupCoordinator {
    type Result = ResponseFuture<DeletedOffsets>;

    fn handle(&mut self, msg: DeleteOffsets, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.group_id.clone();
        self.ask(
            ctx,
            id,
            |tx| GroupRequest::DeleteOffsets(msg, tx),
            Err(GONE),
        )
    }
}

impl Handler<CompleteTxnOffsets> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: CompleteTxnOffsets, ctx: &mut Context<Self>) {
        self.marker_landed(ctx, msg.producer_id, msg.commit, msg.partition);
    }
}

impl Handler<DescribeGroups> for GroupCoordinator {
    type Result = ResponseFuture<Vec<Result<GroupDescription, GroupError>>>;

    fn handle(&mut self, msg: DescribeGroups, ctx: &mut Context<Self>) -> Self::Result {
        let answers = self.ask_each(ctx, msg.group_ids, GroupRequest::Describe);
        Box::pin(async move {
            let mut out = Vec::with_capacity(answers.len());
            for rx in answers {
                out.push(rx.await.unwrap_or(Err(GONE)));
            }
            out
        })
    }
}

impl Handler<DeleteGroups> for GroupCoordinator {
    type Result = ResponseFuture<Vec<(String, Result<(), GroupError>)>>;

    fn handle(&mut self, msg: DeleteGroups, ctx: &mut Context<Self>) -> Self::Result {
        let ids = msg.group_ids.clone();
        let answers = self.ask_each(ctx, msg.group_ids, GroupRequest::Delete);
        Box::pin(async move {
            let mut out = Vec::with_capacity(answers.len());
            for (id, rx) in ids.into_iter().zip(answers) {
                out.push((id, rx.await.unwrap_or(Err(GONE))));
            }
            out
        })
    }
}

impl Handler<ListGroups> for GroupCoordinator {
    type Result = MessageResult<ListGroups>;

    fn handle(&mut self, _: ListGroups, _: &mut Context<Self>) -> Self::Result {
        if self.partitions.any_loading() {
            return MessageResult(Err(GroupError::CoordinatorLoadInProgress));
        }
        MessageResult(Ok(self
            .entries
            .iter()
            .filter(|(_, e)| e.is_listed())
            .map(|(id, e)| match e.classic() {
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

impl Handler<LoadPartition> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: LoadPartition, ctx: &mut Context<Self>) {
        self.elect(ctx, msg.partition, msg.leader_epoch, msg.loaded);
    }
}

impl Handler<UnloadPartition> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: UnloadPartition, ctx: &mut Context<Self>) {
        self.unload(ctx, msg.partition);
    }
}
