//! One request for one group, from arrival to reply: the single path every group request of a
//! `GroupCoordinator` shard takes ([`GroupCoordinator::route`]).
//!
//! 1. Check the group's `__consumer_offsets` partition: not led here answers NOT_COORDINATOR,
//!    still loading COORDINATOR_LOAD_IN_PROGRESS (a Heartbeat gets NONE, as in Kafka).
//! 2. If the group has a write waiting for replication, the request waits in the group's entry,
//!    behind the requests that came before it; other groups are served meanwhile.
//! 3. Otherwise run it: the state machine (or the offsets bookkeeping) decides, and its
//!    `Effect`s are carried out in order. A write (`Persist`, committed offsets) marks the
//!    group busy; what follows it runs once it is replicated (or failed), then the group's
//!    waiting requests run in arrival order. So a group's writes and replies keep their order,
//!    while writes of different groups interleave.

use std::collections::VecDeque;
use std::future::Future;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::coordinator::{
    CommitOffsets, CommitTxnOffsets, CommittedOffset, DeleteOffsets, DeletedOffsets, FetchOffsets,
    FetchedOffset, GroupCoordinator, Heartbeat, JoinGroup, LeaveGroup, SyncGroup,
};
use super::entry::{active_subscriptions, GroupEntry, ParkedCaller};
use super::group::*;
use super::records;
use crate::actors::coordinator_partitions::WriteFailure;
use crate::error::{BrokerError, ResponseError};
use crate::events::BrokerEvent;

/// A request for one group with the channel its answer goes to.
pub enum GroupRequest {
    Join(JoinGroup, oneshot::Sender<JoinResponse>),
    Sync(SyncGroup, oneshot::Sender<SyncResult>),
    Heartbeat(Heartbeat, oneshot::Sender<Result<(), GroupError>>),
    Leave(LeaveGroup, oneshot::Sender<LeaveResult>),
    CommitOffsets(CommitOffsets, oneshot::Sender<Result<(), GroupError>>),
    CommitTxnOffsets(CommitTxnOffsets, oneshot::Sender<Result<(), GroupError>>),
    FetchOffsets(
        FetchOffsets,
        oneshot::Sender<Result<Vec<FetchedOffset>, GroupError>>,
    ),
    DeleteOffsets(DeleteOffsets, oneshot::Sender<DeletedOffsets>),
    Describe(oneshot::Sender<Result<GroupDescription, GroupError>>),
    Delete(oneshot::Sender<Result<(), GroupError>>),
    /// A timer of the group fired (`seq` tells a superseded one).
    Timer {
        kind: TimerKind,
        seq: u64,
    },
    /// A marker of `producer_id` decided the group's pending transactional offsets.
    CompleteTxn {
        producer_id: i64,
        commit: bool,
    },
}

impl GroupRequest {
    /// Answers a request the shard cannot serve now.
    fn refuse(self, e: GroupError) {
        match self {
            GroupRequest::Join(msg, tx) => answer(
                tx,
                JoinResponse {
                    member_id: msg.request.member_id,
                    result: Err(e),
                },
            ),
            GroupRequest::Sync(_, tx) => answer(tx, Err(e)),
            // As Kafka: a member of a group still loading is answered NONE, so it keeps its
            // session rather than rejoining.
            GroupRequest::Heartbeat(_, tx) => answer(
                tx,
                match e {
                    GroupError::CoordinatorLoadInProgress => Ok(()),
                    e => Err(e),
                },
            ),
            GroupRequest::Leave(_, tx) => answer(tx, Err(e)),
            GroupRequest::CommitOffsets(_, tx) | GroupRequest::CommitTxnOffsets(_, tx) => {
                answer(tx, Err(e))
            }
            GroupRequest::FetchOffsets(_, tx) => answer(tx, Err(e)),
            GroupRequest::DeleteOffsets(_, tx) => answer(tx, Err(e)),
            GroupRequest::Describe(tx) => answer(tx, Err(e)),
            GroupRequest::Delete(tx) => answer(tx, Err(e)),
            // The partition's next load reads its timers' state and markers from the log.
            GroupRequest::Timer { .. } | GroupRequest::CompleteTxn { .. } => {}
        }
    }
}

/// The reply channel of the request being handled, consumed by `Reply`/`Park*` effects.
pub enum Caller {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResult>),
    Heartbeat(oneshot::Sender<Result<(), GroupError>>),
    Leave(oneshot::Sender<LeaveResult>),
    None,
}

/// What a finished write resolves to: the batch's first offset (-1 when nothing was written).
type Written = Result<i64, BrokerError>;

impl GroupCoordinator {
    /// The one way into a group: check its partition, wait behind its write in flight, or run.
    pub(super) fn route(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: String,
        request: GroupRequest,
    ) {
        if let Err(e) = self.check(&group_id) {
            return request.refuse(e);
        }
        match self.entries.get_mut(&group_id) {
            Some(entry) if entry.writing => entry.waiting.push_back(request),
            _ => self.serve(ctx, group_id, request),
        }
    }

    /// Runs the requests that waited behind the group's write, in order, until one of them
    /// writes again.
    fn serve_waiting(&mut self, ctx: &mut Context<Self>, group_id: &str) {
        loop {
            let Some(entry) = self.entries.get_mut(group_id) else {
                return;
            };
            if entry.writing {
                return;
            }
            let Some(request) = entry.waiting.pop_front() else {
                return;
            };
            self.serve(ctx, group_id.to_string(), request);
        }
    }

    /// Runs one request of a group with no write in flight.
    fn serve(&mut self, ctx: &mut Context<Self>, group_id: String, request: GroupRequest) {
        let now = self.now_ms();
        match request {
            GroupRequest::Join(msg, tx) => {
                let mut seq = self.next_member_seq;
                let config = self.config.clone();
                let entry = self.entry(&group_id);
                let inc = entry.incarnation;
                let effects =
                    entry
                        .classic_or_new(&group_id, &config)
                        .join(msg.request, now, &mut || Self::next_member_id(&mut seq));
                self.next_member_seq = seq;
                self.run_effects(ctx, &group_id, inc, effects.into(), Caller::Join(tx));
            }
            GroupRequest::Sync(msg, tx) => {
                self.run_existing(ctx, &group_id, Caller::Sync(tx), |g| {
                    g.sync(msg.request, now)
                })
            }
            GroupRequest::Heartbeat(msg, tx) => {
                self.run_existing(ctx, &group_id, Caller::Heartbeat(tx), |g| {
                    g.heartbeat(
                        &msg.member_id,
                        msg.generation_id,
                        msg.group_instance_id.as_deref(),
                        now,
                    )
                })
            }
            GroupRequest::Leave(msg, tx) => {
                self.run_existing(ctx, &group_id, Caller::Leave(tx), |g| {
                    g.leave(msg.members, now)
                })
            }
            GroupRequest::Timer { kind, seq } => {
                let Some(entry) = self.entries.get_mut(&group_id) else {
                    return;
                };
                if entry.timers.get(&kind).is_none_or(|t| t.seq != seq) {
                    return;
                }
                entry.timers.remove(&kind);
                self.run_existing(ctx, &group_id, Caller::None, |g| g.timer_fired(kind, now));
            }
            GroupRequest::CommitOffsets(msg, tx) => self.commit_offsets(ctx, msg, tx),
            GroupRequest::CommitTxnOffsets(msg, tx) => self.commit_txn_offsets(ctx, msg, tx),
            GroupRequest::FetchOffsets(msg, tx) => answer(tx, Ok(self.fetch_offsets(msg))),
            GroupRequest::DeleteOffsets(msg, tx) => self.delete_offsets(ctx, msg, tx),
            GroupRequest::Describe(tx) => {
                let described = match self.entries.get(&group_id).and_then(GroupEntry::classic) {
                    Some(g) => g.describe(),
                    None => {
                        let mut g = Group::new(group_id, self.config.clone());
                        let _ = g.transition(GroupState::Dead);
                        g.describe()
                    }
                };
                answer(tx, Ok(described));
            }
            GroupRequest::Delete(tx) => {
                let deleted = self.delete_group(ctx, &group_id);
                answer(tx, deleted);
            }
            GroupRequest::CompleteTxn {
                producer_id,
                commit,
            } => {
                if let Some(entry) = self.entries.get_mut(&group_id) {
                    entry.complete_txn(producer_id, commit);
                }
                self.forget_if_vacant(&group_id);
            }
        }
    }

    /// Runs a state-machine operation on an existing group; a group not here answers
    /// UNKNOWN_MEMBER_ID (a timer of a removed group does nothing).
    fn run_existing(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        caller: Caller,
        op: impl FnOnce(&mut Group) -> Vec<Effect>,
    ) {
        let Some(entry) = self.entries.get_mut(group_id) else {
            return caller.refuse(GroupError::UnknownMemberId, String::new());
        };
        let inc = entry.incarnation;
        let Some(group) = entry.classic_mut() else {
            return caller.refuse(GroupError::UnknownMemberId, String::new());
        };
        let effects = op(group);
        self.run_effects(ctx, group_id, inc, effects.into(), caller);
    }

    /// The group's entry, created empty if the shard has none.
    pub(super) fn entry(&mut self, group_id: &str) -> &mut GroupEntry {
        let (next, wheel) = (&mut self.next_incarnation, &self.wheel);
        self.entries.entry(group_id.to_string()).or_insert_with(|| {
            *next += 1;
            GroupEntry::new(*next, wheel.clone())
        })
    }

    /// The entry `inc`, unless the group was removed (and perhaps created again) since.
    pub(super) fn entry_of(&mut self, group_id: &str, inc: u64) -> Option<&mut GroupEntry> {
        self.entries
            .get_mut(group_id)
            .filter(|e| e.incarnation == inc)
    }

    /// Starts a write of `group_id`'s entry `inc`: the group's later requests wait until
    /// `then` has run with the write's outcome.
    pub(super) fn start_write(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        inc: u64,
        write: impl Future<Output = Written> + 'static,
        then: impl FnOnce(&mut Self, &mut Context<Self>, Written) + 'static,
    ) {
        if let Some(entry) = self.entry_of(group_id, inc) {
            entry.writing = true;
        }
        let group = group_id.to_string();
        ctx.spawn(write.into_actor(self).map(move |written, act, ctx| {
            if let Some(entry) = act.entry_of(&group, inc) {
                entry.writing = false;
            }
            then(act, ctx, written);
            act.serve_waiting(ctx, &group);
        }));
    }

    /// Carries out effects in order. A `Persist` writes first and runs the rest once it is
    /// replicated; if the write fails, the answers after it carry the failure. Effects of an
    /// entry removed meanwhile (an unload) only answer the caller.
    pub(super) fn run_effects(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
        inc: u64,
        mut effects: VecDeque<Effect>,
        mut caller: Caller,
    ) {
        while let Some(effect) = effects.pop_front() {
            if let Effect::Reply(reply) = effect {
                caller = caller.answer(group_id, reply);
                continue;
            }
            let Some(entry) = self.entry_of(group_id, inc) else {
                // Unloaded while its write was in flight: the caller must find the new
                // coordinator, unless the effects answer it first.
                if let Effect::ParkJoin { member_id } | Effect::ParkSync { member_id } = effect {
                    std::mem::replace(&mut caller, Caller::None)
                        .refuse(GroupError::NotCoordinator, member_id);
                }
                continue;
            };
            match effect {
                Effect::Reply(_) => {} // answered above
                Effect::ParkJoin { member_id } => {
                    if let Caller::Join(tx) = std::mem::replace(&mut caller, Caller::None) {
                        entry.parked_joins.insert(member_id, ParkedCaller::new(tx));
                    }
                }
                Effect::ParkSync { member_id } => {
                    if let Caller::Sync(tx) = std::mem::replace(&mut caller, Caller::None) {
                        entry.parked_syncs.insert(member_id, ParkedCaller::new(tx));
                    }
                }
                Effect::JoinResponse {
                    member_id,
                    response,
                } => {
                    if let Some(parked) = entry.parked_joins.remove(&member_id) {
                        let _ = parked.reply.send(response);
                    }
                }
                Effect::SyncResponse { member_id, result } => {
                    if let Some(parked) = entry.parked_syncs.remove(&member_id) {
                        let _ = parked.reply.send(result);
                    }
                }
                Effect::ScheduleTimer { kind, deadline_ms } => {
                    self.schedule(ctx, group_id, inc, kind, deadline_ms)
                }
                Effect::CancelTimer { kind } => entry.cancel_timer(&kind),
                Effect::Refused(refused) => {
                    tracing::error!(group = group_id, %refused, "group operation refused an illegal transition")
                }
                Effect::Persist(mut snapshot) => {
                    entry.stamp_state_time(&mut snapshot, Self::wall_clock_ms());
                    let record = (
                        records::group_key(group_id),
                        Some(records::group_value(&snapshot)),
                    );
                    let write = self.append(group_id, vec![record]);
                    let group = group_id.to_string();
                    self.start_write(ctx, group_id, inc, write, move |act, ctx, written| {
                        let rest = match written {
                            Ok(_) => effects,
                            Err(e) => act.persist_failed(&group, inc, &e, effects),
                        };
                        act.run_effects(ctx, &group, inc, rest, caller);
                    });
                    return;
                }
            }
        }
        self.announce_rebalance(group_id, inc);
    }

    /// A group metadata write failed: the answers after it carry the failure (as Kafka maps
    /// it), and the group abandons the generation it could not record.
    fn persist_failed(
        &mut self,
        group_id: &str,
        inc: u64,
        e: &BrokerError,
        effects: VecDeque<Effect>,
    ) -> VecDeque<Effect> {
        tracing::warn!(group = group_id, error = %e, "writing group metadata failed");
        let answer = GroupError::from(WriteFailure::of(e));
        let mut failed: VecDeque<Effect> = effects
            .into_iter()
            .map(|fx| fail_effect(fx, answer))
            .collect();
        let now = self.now_ms();
        if let Some(g) = self
            .entry_of(group_id, inc)
            .and_then(GroupEntry::classic_mut)
        {
            failed.extend(g.persist_failed(now));
        }
        failed
    }

    /// After a group's effects ran: a Stable generation not announced yet is a completed
    /// rebalance.
    fn announce_rebalance(&mut self, group_id: &str, inc: u64) {
        let Some(entry) = self
            .entries
            .get_mut(group_id)
            .filter(|e| e.incarnation == inc)
        else {
            return;
        };
        let Some(generation) = entry.take_unannounced_generation() else {
            return;
        };
        let Some(group) = entry.classic() else { return };
        let events = &self.events;
        events.emit(|| BrokerEvent::GroupRebalanced {
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

    /// OffsetCommit: validated against the group (created Empty if new), acknowledged only
    /// once written to `__consumer_offsets`.
    fn commit_offsets(
        &mut self,
        ctx: &mut Context<Self>,
        mut msg: CommitOffsets,
        tx: oneshot::Sender<Result<(), GroupError>>,
    ) {
        let now = self.now_ms();
        let config = self.config.clone();
        let entry = self.entry(&msg.group_id);
        let inc = entry.incarnation;
        let validated = entry
            .classic_or_new(&msg.group_id, &config)
            .validate_offset_commit(
                &msg.member_id,
                msg.generation_id,
                msg.group_instance_id.as_deref(),
                now,
            );
        let effects = match validated {
            Ok(effects) => effects,
            Err(e) => return answer(tx, Err(e)),
        };
        self.run_effects(ctx, &msg.group_id, inc, effects.into(), Caller::None);
        let wall = Self::wall_clock_ms();
        for (_, _, committed) in &mut msg.offsets {
            committed.commit_timestamp_ms = wall;
        }
        let write = self.append(&msg.group_id, offset_records(&msg.group_id, &msg.offsets));
        let group_id = msg.group_id.clone();
        self.start_write(ctx, &group_id, inc, write, move |act, _, written| {
            let log_offset = match written {
                Ok(base) => base,
                Err(e) => {
                    tracing::warn!(group = %msg.group_id, error = %e, "writing committed offsets failed");
                    return answer(tx, Err(WriteFailure::of(&e).into()));
                }
            };
            if let Some(entry) = act.entry_of(&msg.group_id, inc) {
                for (topic, partition, offset) in msg.offsets {
                    entry.put_offset((topic, partition), offset, log_offset);
                }
            }
            answer(tx, Ok(()));
        });
    }

    /// TxnOffsetCommit: acknowledged once written; visible only after the producer's COMMIT
    /// marker.
    fn commit_txn_offsets(
        &mut self,
        ctx: &mut Context<Self>,
        mut msg: CommitTxnOffsets,
        tx: oneshot::Sender<Result<(), GroupError>>,
    ) {
        let config = self.config.clone();
        let entry = self.entry(&msg.group_id);
        let inc = entry.incarnation;
        if let Err(e) = entry
            .classic_or_new(&msg.group_id, &config)
            .validate_txn_offset_commit(
                &msg.member_id,
                msg.generation_id,
                msg.group_instance_id.as_deref(),
            )
        {
            return answer(tx, Err(e));
        }
        if msg.offsets.is_empty() {
            return answer(tx, Ok(()));
        }
        let wall = Self::wall_clock_ms();
        for (_, _, committed) in &mut msg.offsets {
            committed.commit_timestamp_ms = wall;
        }
        let entries = offset_records(&msg.group_id, &msg.offsets);
        let write = self.append_txn(&msg.group_id, entries, msg.producer_id, msg.producer_epoch);
        let group_id = msg.group_id.clone();
        self.start_write(ctx, &group_id, inc, write, move |act, _, written| {
            let log_offset = match written {
                Ok(base) => base,
                Err(BrokerError::InvalidProducerEpoch(m)) => {
                    tracing::info!(group = %msg.group_id, producer_id = msg.producer_id, "fenced TxnOffsetCommit: {m}");
                    return answer(tx, Err(GroupError::InvalidProducerEpoch));
                }
                Err(e) => {
                    tracing::warn!(group = %msg.group_id, error = %e, "writing transactional offsets failed");
                    return answer(tx, Err(WriteFailure::of(&e).into()));
                }
            };
            if let Some(entry) = act.entry_of(&msg.group_id, inc) {
                for (topic, partition, committed) in msg.offsets {
                    entry
                        .pending_txn
                        .add(msg.producer_id, (topic, partition), committed, log_offset);
                }
            }
            answer(tx, Ok(()));
        });
    }

    /// OffsetFetch: the requested partitions, or every committed one; offsets of open
    /// transactions are never returned (UNSTABLE_OFFSET_COMMIT with `require_stable`).
    fn fetch_offsets(&self, msg: FetchOffsets) -> Vec<FetchedOffset> {
        let entry = self.entries.get(&msg.group_id);
        let unstable = match entry {
            Some(e) if msg.require_stable => e.pending_txn.partitions(),
            _ => Default::default(),
        };
        let answer = |key: &(String, i32), c: Option<CommittedOffset>| {
            if unstable.contains(key) {
                Err(GroupError::UnstableOffsetCommit)
            } else {
                Ok(c)
            }
        };
        let committed = |key: &(String, i32)| {
            entry
                .and_then(|e| e.offsets.get(key))
                .map(|s| s.committed.clone())
        };
        match msg.partitions {
            Some(parts) => parts
                .into_iter()
                .map(|key| {
                    let r = answer(&key, committed(&key));
                    (key.0, key.1, r)
                })
                .collect(),
            None => entry
                .map(|e| {
                    e.offsets
                        .iter()
                        .map(|(key, s)| {
                            (key.0.clone(), key.1, answer(key, Some(s.committed.clone())))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// OffsetDelete: tombstones the offsets of partitions the group does not consume, then
    /// forgets them.
    fn delete_offsets(
        &mut self,
        ctx: &mut Context<Self>,
        msg: DeleteOffsets,
        tx: oneshot::Sender<DeletedOffsets>,
    ) {
        let Some(entry) = self.entries.get(&msg.group_id).filter(|e| e.is_listed()) else {
            return answer(tx, Err(GroupError::GroupIdNotFound));
        };
        let inc = entry.incarnation;
        let subscribed = active_subscriptions(Some(entry));
        let mut answers = Vec::new();
        let mut tombstones = Vec::new();
        for (topic, partition) in msg.partitions {
            if subscribed.contains(&topic) {
                answers.push((
                    topic,
                    partition,
                    ResponseError::GroupSubscribedToTopic.code(),
                ));
            } else {
                tombstones.push((records::offset_key(&msg.group_id, &topic, partition), None));
                answers.push((topic, partition, 0));
            }
        }
        let write = self.append(&msg.group_id, tombstones);
        let group_id = msg.group_id;
        let group = group_id.clone();
        self.start_write(ctx, &group, inc, write, move |act, _, written| {
            if let Err(e) = written {
                tracing::warn!(group = %group_id, error = %e, "writing offset tombstones failed");
                return answer(tx, Err(WriteFailure::of(&e).into()));
            }
            if let Some(entry) = act.entry_of(&group_id, inc) {
                for (t, p, code) in &answers {
                    if *code == 0 {
                        entry.offsets.remove(&(t.clone(), *p));
                    }
                }
            }
            act.forget_if_vacant(&group_id);
            answer(tx, Ok(answers));
        });
    }

    /// DeleteGroups for one group: only an Empty group (or one known only by its offsets) is
    /// deleted; its entry goes, and tombstones make replay forget it.
    fn delete_group(&mut self, ctx: &mut Context<Self>, group_id: &str) -> Result<(), GroupError> {
        let Some(entry) = self.entries.get_mut(group_id).filter(|e| e.is_listed()) else {
            return Err(GroupError::GroupIdNotFound);
        };
        let inc = entry.incarnation;
        if let Some(group) = entry.classic_mut() {
            let effects = group.delete()?;
            self.run_effects(ctx, group_id, inc, effects.into(), Caller::None);
        }
        let mut tombstones = vec![(records::group_key(group_id), None)];
        if let Some(entry) = self.remove_entry(ctx, group_id) {
            tombstones.extend(
                entry
                    .offsets
                    .keys()
                    .map(|(t, p)| (records::offset_key(group_id, t, *p), None)),
            );
        }
        let write = self.append(group_id, tombstones);
        let group = group_id.to_string();
        ctx.spawn(write.into_actor(self).map(move |r, _, _| {
            if let Err(e) = r {
                tracing::warn!(group = %group, error = %e, "writing group tombstones failed");
            }
        }));
        Ok(())
    }

    /// Removes a group from the shard. Requests waiting behind its write are routed again
    /// (after an unload they answer NOT_COORDINATOR); dropping the entry does the rest.
    pub(super) fn remove_entry(
        &mut self,
        ctx: &mut Context<Self>,
        group_id: &str,
    ) -> Option<GroupEntry> {
        let mut entry = self.entries.remove(group_id)?;
        for request in entry.take_waiting() {
            self.route(ctx, group_id.to_string(), request);
        }
        Some(entry)
    }

    /// Forgets an entry left holding nothing.
    pub(super) fn forget_if_vacant(&mut self, group_id: &str) {
        if self
            .entries
            .get(group_id)
            .is_some_and(GroupEntry::is_vacant)
        {
            self.entries.remove(group_id);
        }
    }
}

impl Caller {
    /// Delivers `reply` if it is this caller's; returns what is left to answer.
    fn answer(self, group_id: &str, reply: Reply) -> Caller {
        match (reply, self) {
            (Reply::Join(r), Caller::Join(tx)) => answer(tx, r),
            (Reply::Sync(r), Caller::Sync(tx)) => answer(tx, r),
            (Reply::Heartbeat(r), Caller::Heartbeat(tx)) => answer(tx, r),
            (Reply::Leave(r), Caller::Leave(tx)) => answer(tx, r),
            (reply, other) => {
                tracing::warn!(group = group_id, ?reply, "reply without a matching caller");
                return other;
            }
        }
        Caller::None
    }

    /// Answers the caller with `e` (a JoinGroup under `member_id`).
    fn refuse(self, e: GroupError, member_id: String) {
        match self {
            Caller::Join(tx) => answer(
                tx,
                JoinResponse {
                    member_id,
                    result: Err(e),
                },
            ),
            Caller::Sync(tx) => answer(tx, Err(e)),
            Caller::Heartbeat(tx) => answer(tx, Err(e)),
            Caller::Leave(tx) => answer(tx, Err(e)),
            Caller::None => {}
        }
    }
}

/// Sends a request its answer (a caller that gave up is no error).
fn answer<T>(tx: oneshot::Sender<T>, value: T) {
    let _ = tx.send(value);
}

/// The records of committed offsets of `group_id`.
fn offset_records(
    group_id: &str,
    offsets: &[(String, i32, CommittedOffset)],
) -> Vec<(bytes::Bytes, Option<bytes::Bytes>)> {
    offsets
        .iter()
        .map(|(t, p, c)| {
            (
                records::offset_key(group_id, t, *p),
                Some(records::offset_value(c)),
            )
        })
        .collect()
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
