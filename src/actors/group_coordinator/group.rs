//! Consumer-group state machine for Kafka's classic rebalance protocol
//! (JoinGroup / SyncGroup / Heartbeat / LeaveGroup).
//!
//! # Why this module is pure
//!
//! The `GroupCoordinator` actor owns everything that touches the outside world:
//! the timer wheel, the log that persists group metadata, and the connections
//! that wait for answers. This module owns only the *decisions*. Every operation
//! takes the current time as `now_ms` and returns a list of [`Effect`]s that the
//! actor carries out **in order**. Keeping it free of clocks, I/O and async makes
//! every rebalance scenario a plain, deterministic unit test.
//!
//! # How the actor drives it
//!
//! * Each request handler (`join`, `sync`, `heartbeat`, `leave`) answers the
//!   *calling* request exactly once: either with [`Effect::Reply`], or by
//!   [`Effect::ParkJoin`] / [`Effect::ParkSync`], which tell the actor to keep the
//!   caller's reply handle under its MemberId. Parked requests are released
//!   later, possibly by the same call, by [`Effect::JoinResponse`] /
//!   [`Effect::SyncResponse`] naming that MemberId. A later `Park*` for the same
//!   MemberId replaces the earlier handle (Kafka likewise forgets a superseded
//!   callback: the client has already given up on that request).
//! * [`Effect::ScheduleTimer`] arms a timer; arming a [`TimerKind`] that is
//!   already armed replaces it. [`Effect::CancelTimer`] disarms it. When a timer
//!   expires the actor calls [`Group::timer_fired`]. Stale or early deliveries are
//!   tolerated: an early one is re-armed, one for a disarmed timer is ignored.
//! * [`Effect::Persist`] carries the metadata to write. The actor must write it
//!   *before* executing the effects that follow it, because those responses
//!   announce a GenerationId, membership or assignment that must survive a
//!   coordinator failover. If the write fails, the actor answers the responses
//!   that follow the `Persist` with its storage error itself and calls
//!   [`Group::persist_failed`].
//!
//! Group creation and lookup (`GROUP_ID_NOT_FOUND`, `COORDINATOR_LOAD_IN_PROGRESS`,
//! a JoinGroup with a MemberId for a group that does not exist) are the actor's
//! concern; this module starts from an existing [`Group`]. It owns no I/O and may
//! not reach the actor, the log or the clock; the actor keeps it in the group's
//! `GroupEntry` as `GroupKind::Classic`.
//!
//! # Illegal transitions
//!
//! Every transition goes through `go`, which checks Kafka's table
//! ([`can_transition`]) in every build. A refusal is a bug here: it propagates as
//! a typed [`IllegalTransition`] to the operation's entry point, which stops,
//! keeps the group in the last state it legally reached, and reports
//! [`Effect::Refused`] (the caller, if not answered yet, gets
//! UNKNOWN_SERVER_ERROR).
//!
//! # Layout
//!
//! This file holds the [`Group`] and its members, creation and accessors, the
//! transition guard, SyncGroup, Heartbeat, LeaveGroup, deletion, unloading and
//! offset-commit validation,
//! and the scenario tests (one per Kafka behaviour). Beside it: `state`
//! (states, the transition table, errors, settings), `effects` (requests,
//! answers and [`Effect`]s), `join` (JoinGroup), `rebalance` (preparing and
//! completing a rebalance, the protocol vote, timers firing) and `snapshot`
//! (DescribeGroups and the persisted metadata). They are child modules so the
//! steps of one rebalance share the group's private fields; their steps are
//! `pub(super)`, visible only inside this module.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Kafka's `NewMemberJoinTimeoutMs`: how long a member that has never completed
/// a JoinGroup may stay parked. Its socket is muted while parked, so a client
/// that gave up cannot be detected any other way; without this, retried
/// JoinGroups would pile up defunct members for the whole rebalance.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

mod effects;
mod join;
mod rebalance;
mod snapshot;
mod state;

pub use effects::*;
pub use snapshot::*;
pub use state::*;

// ---------------------------------------------------------------------------
// Members and the group
// ---------------------------------------------------------------------------

/// A member of the group.
///
/// What is persisted of it (`MemberSnapshot`: its ids, client, timeouts, protocols and the
/// current generation's assignment) is its `persisted` part, read through `Deref`; the rest is
/// the coordinator's live view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub persisted: MemberSnapshot,
    /// A JoinGroup from this member is parked.
    pub awaiting_join: bool,
    /// A SyncGroup from this member is parked.
    pub awaiting_sync: bool,
    pub last_heartbeat_ms: u64,
    /// Has not completed a join yet; expires on the new-member join timeout
    /// even while parked, unlike established members.
    pub is_new: bool,
    /// Order of joining the group; makes leader choice and listings deterministic.
    pub join_seq: u64,
    /// Deadline of the armed `MemberSession` timer, if any.
    pub session_deadline_ms: Option<u64>,
}

impl std::ops::Deref for Member {
    type Target = MemberSnapshot;
    fn deref(&self) -> &MemberSnapshot {
        &self.persisted
    }
}

impl std::ops::DerefMut for Member {
    fn deref_mut(&mut self) -> &mut MemberSnapshot {
        &mut self.persisted
    }
}

impl Member {
    /// Answers this member's parked JoinGroup and SyncGroup (if any) with `error`, so no reply
    /// handle is left behind when the member is fenced, removed or the group unloaded.
    fn fail_parked(
        &mut self,
        member_id: &str,
        response_member_id: String,
        error: GroupError,
        fx: &mut Vec<Effect>,
    ) {
        if self.awaiting_join {
            self.awaiting_join = false;
            fx.push(Effect::JoinResponse {
                member_id: member_id.to_string(),
                response: JoinResponse {
                    member_id: response_member_id,
                    result: Err(error),
                },
            });
        }
        if self.awaiting_sync {
            self.awaiting_sync = false;
            fx.push(Effect::SyncResponse {
                member_id: member_id.to_string(),
                result: Err(error),
            });
        }
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    fn metadata_for(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, meta)| meta.clone())
            .unwrap_or_default()
    }
}

/// The armed join-phase timer of a group in PreparingRebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinTimer {
    /// Kafka's `InitialDelayedJoin`: `delay_ms` is the length of the current
    /// window, `remaining_ms` the budget left for further extensions.
    InitialDelay {
        deadline_ms: u64,
        delay_ms: u64,
        remaining_ms: u64,
    },
    Rebalance {
        deadline_ms: u64,
    },
}

impl JoinTimer {
    fn kind(&self) -> TimerKind {
        match self {
            JoinTimer::InitialDelay { .. } => TimerKind::InitialRebalanceDelay,
            JoinTimer::Rebalance { .. } => TimerKind::RebalanceTimeout,
        }
    }

    fn deadline_ms(&self) -> u64 {
        match *self {
            JoinTimer::InitialDelay { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => {
                deadline_ms
            }
        }
    }
}

/// A classic consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    group_id: String,
    config: GroupConfig,
    state: GroupState,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    generation_id: i32,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// GroupInstanceId → MemberId currently owning it.
    static_members: BTreeMap<String, String>,
    /// MemberIds handed out with MEMBER_ID_REQUIRED → expiry deadline.
    pending_members: BTreeMap<String, u64>,
    /// Members that have not sent SyncGroup for the current generation.
    pending_sync: BTreeSet<String>,
    pending_sync_deadline_ms: Option<u64>,
    join_timer: Option<JoinTimer>,
    /// A member joined during the initial delay window (generation 0 only),
    /// which earns the window an extension.
    new_member_added: bool,
    next_join_seq: u64,
}

/// Timeouts arrive as wire `INT32`s; negative values count as zero.
fn ms(value: i32) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn join_reply(
    fx: &mut Vec<Effect>,
    member_id: String,
    result: Result<JoinedGeneration, GroupError>,
) {
    fx.push(Effect::Reply(Reply::Join(JoinResponse {
        member_id,
        result,
    })));
}

/// The effects of an operation that ended with `step`. A refused transition adds
/// [`Effect::Refused`] and, unless the caller was already answered or parked, answers it
/// with UNKNOWN_SERVER_ERROR through `reply` (None for operations without a caller).
fn conclude<R: Into<Option<Reply>>>(
    mut fx: Vec<Effect>,
    step: Step,
    reply: impl FnOnce(GroupError) -> R,
) -> Vec<Effect> {
    if let Err(refused) = step {
        let answered = fx.iter().any(|e| {
            matches!(
                e,
                Effect::Reply(_) | Effect::ParkJoin { .. } | Effect::ParkSync { .. }
            )
        });
        fx.push(Effect::Refused(refused));
        if !answered {
            if let Some(reply) = reply(GroupError::UnknownServerError).into() {
                fx.push(Effect::Reply(reply));
            }
        }
    }
    fx
}

impl Group {
    /// A new, Empty group at GenerationId 0.
    pub fn new(group_id: impl Into<String>, config: GroupConfig) -> Self {
        Group {
            group_id: group_id.into(),
            config,
            state: GroupState::Empty,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            pending_sync_deadline_ms: None,
            join_timer: None,
            new_member_added: false,
            next_join_seq: 0,
        }
    }

    // ----- accessors -------------------------------------------------------

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Replace the broker settings (dynamic config). Takes effect from the next
    /// decision that reads them.
    pub fn set_config(&mut self, config: GroupConfig) {
        self.config = config;
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }

    /// Members in join order.
    pub fn members(&self) -> Vec<&Member> {
        let mut list: Vec<&Member> = self.members.values().collect();
        list.sort_by_key(|m| m.join_seq);
        list
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The MemberId currently owning a GroupInstanceId.
    pub fn static_member_id(&self, group_instance_id: &str) -> Option<&str> {
        self.static_members
            .get(group_instance_id)
            .map(String::as_str)
    }

    pub fn is_pending_member(&self, member_id: &str) -> bool {
        self.pending_members.contains_key(member_id)
    }

    pub fn pending_member_ids(&self) -> impl Iterator<Item = &str> {
        self.pending_members.keys().map(String::as_str)
    }

    /// Members that owe a SyncGroup for the current generation.
    pub fn pending_sync_member_ids(&self) -> impl Iterator<Item = &str> {
        self.pending_sync.iter().map(String::as_str)
    }

    // ----- state machine ---------------------------------------------------

    /// Move to `to` if the transition table allows it.
    pub fn transition(&mut self, to: GroupState) -> Result<(), IllegalTransition> {
        if can_transition(self.state, to) {
            self.state = to;
            Ok(())
        } else {
            Err(IllegalTransition {
                from: self.state,
                to,
            })
        }
    }

    /// Internal transitions are guarded by explicit state checks, so a refusal
    /// here is a bug in this module. In every build it is refused the same way:
    /// the group keeps its state and the typed [`IllegalTransition`] propagates
    /// (`?`) to the operation's entry point, which stops and reports it
    /// ([`Effect::Refused`]) rather than taking down the coordinator.
    fn go(&mut self, to: GroupState) -> Step {
        self.transition(to)
    }

    // ----- SyncGroup -------------------------------------------------------

    /// Handle a SyncGroup. Followers park until the leader's assignment arrives;
    /// the leader's SyncGroup stores it, persists, and releases everyone.
    pub fn sync(&mut self, req: SyncRequest, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Err(e) = self.validate_sync(&req) {
            fx.push(Effect::Reply(Reply::Sync(Err(e))));
            return fx;
        }
        let mut step = Ok(());
        match self.state {
            GroupState::Empty => {
                fx.push(Effect::Reply(Reply::Sync(Err(GroupError::UnknownMemberId))))
            }
            GroupState::PreparingRebalance => fx.push(Effect::Reply(Reply::Sync(Err(
                GroupError::RebalanceInProgress,
            )))),
            GroupState::Dead => fx.push(Effect::Reply(Reply::Sync(Err(
                GroupError::CoordinatorNotAvailable,
            )))),
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.awaiting_sync = true;
                }
                fx.push(Effect::ParkSync {
                    member_id: req.member_id.clone(),
                });
                self.drop_pending_sync(&req.member_id, &mut fx);
                if self.is_leader(&req.member_id) {
                    step = self.install_assignment(req.assignments, now_ms, &mut fx);
                }
            }
            GroupState::Stable => {
                self.drop_pending_sync(&req.member_id, &mut fx);
                let assignment = self.members[&req.member_id].assignment.clone();
                fx.push(Effect::Reply(Reply::Sync(Ok(SyncAssignment {
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                }))));
                self.refresh_session(&req.member_id, now_ms, &mut fx);
            }
        }
        conclude(fx, step, |e| Reply::Sync(Err(e)))
    }

    fn validate_sync(&self, req: &SyncRequest) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.validate_current_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        if let Some(t) = &req.protocol_type {
            if self.protocol_type.as_ref() != Some(t) {
                return Err(GroupError::InconsistentGroupProtocol);
            }
        }
        if let Some(n) = &req.protocol_name {
            if self.protocol_name.as_ref() != Some(n) {
                return Err(GroupError::InconsistentGroupProtocol);
            }
        }
        Ok(())
    }

    /// Store the leader's assignment (members it omitted get an empty one, ids
    /// that are not members are ignored), go Stable, persist, then release
    /// every parked SyncGroup.
    fn install_assignment(
        &mut self,
        assignments: Vec<(String, Vec<u8>)>,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let mut by_member: BTreeMap<String, Vec<u8>> = assignments.into_iter().collect();
        for (id, m) in self.members.iter_mut() {
            m.assignment = by_member.remove(id).unwrap_or_default();
        }
        self.go(GroupState::Stable)?;
        fx.push(Effect::Persist(self.snapshot()));
        for id in self.member_ids_in_join_order() {
            let released = match self.members.get_mut(&id) {
                Some(m) if m.awaiting_sync => {
                    m.awaiting_sync = false;
                    Some(m.assignment.clone())
                }
                _ => None,
            };
            if let Some(assignment) = released {
                fx.push(Effect::SyncResponse {
                    member_id: id.clone(),
                    result: Ok(SyncAssignment {
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        assignment,
                    }),
                });
                self.refresh_session(&id, now_ms, fx);
            }
        }

        Ok(())
    }

    // ----- Heartbeat -------------------------------------------------------

    /// Handle a Heartbeat. During PreparingRebalance the session is still
    /// refreshed but the answer is REBALANCE_IN_PROGRESS: that is how members
    /// learn they must rejoin. CompletingRebalance is fine because members may
    /// heartbeat between their JoinGroup response and SyncGroup.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let result =
            self.heartbeat_inner(member_id, generation_id, group_instance_id, now_ms, &mut fx);
        fx.push(Effect::Reply(Reply::Heartbeat(result)));
        fx
    }

    fn heartbeat_inner(
        &mut self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.validate_current_member(member_id, group_instance_id)?;
        if generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        match self.state {
            GroupState::Empty => Err(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.refresh_session(member_id, now_ms, fx);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                self.refresh_session(member_id, now_ms, fx);
                Err(GroupError::RebalanceInProgress)
            }
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
        }
    }

    // ----- LeaveGroup ------------------------------------------------------

    /// Handle a (possibly batched) LeaveGroup. Each member is removed
    /// independently; the group rebalances if members remain, and reaches Empty
    /// (a new generation, persisted) if none do.
    pub fn leave(&mut self, leaving: Vec<LeaveMember>, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.state == GroupState::Dead {
            fx.push(Effect::Reply(Reply::Leave(Err(
                GroupError::CoordinatorNotAvailable,
            ))));
            return fx;
        }
        let mut results = Vec::with_capacity(leaving.len());
        for lm in leaving {
            let result = match self.leave_one(&lm, now_ms, &mut fx) {
                Ok(result) => result,
                Err(refused) => return conclude(fx, Err(refused), |e| Reply::Leave(Err(e))),
            };
            results.push(MemberLeaveResult {
                member_id: lm.member_id,
                group_instance_id: lm.group_instance_id,
                result,
            });
        }
        fx.push(Effect::Reply(Reply::Leave(Ok(results))));
        fx
    }

    /// One member's leave: its answer, or the transition that stopped the whole request.
    fn leave_one(
        &mut self,
        lm: &LeaveMember,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<Result<(), GroupError>, IllegalTransition> {
        if lm.member_id.is_empty() {
            // Admin removal by GroupInstanceId alone (KIP-345).
            let current = lm
                .group_instance_id
                .as_ref()
                .and_then(|i| self.static_members.get(i))
                .cloned();
            let Some(current) = current else {
                return Ok(Err(GroupError::UnknownMemberId));
            };
            self.remove_member_and_update(&current, now_ms, fx)?;
            return Ok(Ok(()));
        }
        if self.pending_members.remove(&lm.member_id).is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::PendingMember(lm.member_id.clone()),
            });
            self.try_complete_join(now_ms, fx)?;
            return Ok(Ok(()));
        }
        if let Err(e) = self.validate_current_member(&lm.member_id, lm.group_instance_id.as_deref())
        {
            return Ok(Err(e));
        }
        self.remove_member_and_update(&lm.member_id, now_ms, fx)?;
        Ok(Ok(()))
    }

    // ----- persistence failure, deletion, unloading -------------------------

    /// The write requested by the most recent [`Effect::Persist`] failed. The
    /// actor has answered the responses that followed it with its storage
    /// error; the group abandons the generation it could not record and
    /// rebalances (Kafka does the same when storing an assignment fails).
    pub fn persist_failed(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance
        ) {
            for m in self.members.values_mut() {
                m.assignment.clear();
            }
            let step = self.prepare_rebalance(now_ms, &mut fx);
            return conclude(fx, step, |_| None::<Reply>);
        }
        fx
    }

    /// DeleteGroups eligibility: only an Empty group can be deleted; a Dead one
    /// is already gone.
    pub fn can_delete(&self) -> Result<(), GroupError> {
        match self.state {
            GroupState::Empty => Ok(()),
            GroupState::Dead => Err(GroupError::GroupIdNotFound),
            _ => Err(GroupError::NonEmptyGroup),
        }
    }

    /// DeleteGroups: mark the group Dead. The actor writes the tombstone and
    /// drops committed offsets.
    pub fn delete(&mut self) -> Result<Vec<Effect>, GroupError> {
        self.can_delete()?;
        let mut fx = Vec::new();
        self.cancel_all_timers(&mut fx);
        self.pending_members.clear();
        let step = self.go(GroupState::Dead);
        Ok(conclude(fx, step, |_| None::<Reply>))
    }

    /// The coordinator lost ownership of this group (partition leadership of
    /// `__consumer_offsets` moved). Parked requests are answered NOT_COORDINATOR
    /// so clients go find the new coordinator; the group becomes Dead.
    pub fn unload(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.state == GroupState::Dead {
            return fx;
        }
        for id in self.member_ids_in_join_order() {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            m.fail_parked(&id, id.clone(), GroupError::NotCoordinator, &mut fx);
        }
        self.cancel_all_timers(&mut fx);
        self.pending_members.clear();
        let step = self.go(GroupState::Dead);
        conclude(fx, step, |_| None::<Reply>)
    }

    fn cancel_all_timers(&mut self, fx: &mut Vec<Effect>) {
        self.disarm_join_timer(fx);
        self.clear_pending_sync(fx);
        for (id, m) in self.members.iter_mut() {
            if m.session_deadline_ms.take().is_some() {
                fx.push(Effect::CancelTimer {
                    kind: TimerKind::MemberSession(id.clone()),
                });
            }
        }
        for id in self.pending_members.keys() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::PendingMember(id.clone()),
            });
        }
    }

    // ----- OffsetCommit validation -----------------------------------------

    /// Validate an OffsetCommit against the group. A commit with GenerationId
    /// -1, no MemberId and no GroupInstanceId is a "simple" commit from a
    /// client not using group management, allowed only while the group is
    /// Empty. Otherwise MemberId and GenerationId must be current. During
    /// CompletingRebalance the member holds a valid generation but no
    /// assignment yet, so Kafka answers REBALANCE_IN_PROGRESS. A commit from a
    /// member counts as a sign of life, hence the session effects on success.
    pub fn validate_offset_commit(
        &mut self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
        now_ms: u64,
    ) -> Result<Vec<Effect>, GroupError> {
        let identified = self.validate_committer(member_id, generation_id, group_instance_id)?;
        if !identified && self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        let mut fx = Vec::new();
        match self.state {
            GroupState::Empty => {}
            GroupState::Stable | GroupState::PreparingRebalance => {
                self.refresh_session(member_id, now_ms, &mut fx);
            }
            GroupState::CompletingRebalance => return Err(GroupError::RebalanceInProgress),
            GroupState::Dead => return Err(GroupError::CoordinatorNotAvailable),
        }
        Ok(fx)
    }

    /// Validate a TxnOffsetCommit. Transactional producers on older protocol
    /// versions send neither MemberId nor GenerationId, so those commits are
    /// accepted whatever the group's state; identified ones must be current.
    pub fn validate_txn_offset_commit(
        &self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        self.validate_committer(member_id, generation_id, group_instance_id)?;
        Ok(())
    }

    /// The checks both kinds of offset commit share: the group is not Dead, and a commit
    /// that identifies a member (a GenerationId of 0 or more, a MemberId or a
    /// GroupInstanceId) comes from a current member in the current generation. Returns
    /// whether the commit identified a member; one that did not is anonymous.
    fn validate_committer(
        &self,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<bool, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let identified = generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some();
        if identified {
            self.validate_current_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
        }
        Ok(identified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GroupState::*;

    const PT: &str = "consumer";

    fn cfg(initial_delay_ms: u64) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: initial_delay_ms,
            ..GroupConfig::default()
        }
    }

    fn jreq(member_id: &str, client: &str) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: PT.into(),
            protocols: vec![("range".into(), format!("meta-{client}").into_bytes())],
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            client_id: client.into(),
            client_host: "/10.0.0.1".into(),
            require_known_member_id: false,
            supports_skip_assignment: false,
        }
    }

    fn static_jreq(member_id: &str, client: &str, instance: &str) -> JoinRequest {
        JoinRequest {
            group_instance_id: Some(instance.into()),
            ..jreq(member_id, client)
        }
    }

    fn with_protocols(mut req: JoinRequest, names: &[&str]) -> JoinRequest {
        req.protocols = names
            .iter()
            .map(|n| (n.to_string(), format!("{n}-{}", req.client_id).into_bytes()))
            .collect();
        req
    }

    fn sreq(
        member_id: &str,
        generation_id: i32,
        assignments: Vec<(String, Vec<u8>)>,
    ) -> SyncRequest {
        SyncRequest {
            member_id: member_id.into(),
            generation_id,
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments,
        }
    }

    fn leave_of(ids: &[&str]) -> Vec<LeaveMember> {
        ids.iter()
            .map(|id| LeaveMember {
                member_id: id.to_string(),
                group_instance_id: None,
            })
            .collect()
    }

    fn reply_join(fx: &[Effect]) -> JoinResponse {
        fx.iter()
            .find_map(|e| match e {
                Effect::Reply(Reply::Join(r)) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no join reply in {fx:#?}"))
    }

    fn reply_sync(fx: &[Effect]) -> SyncResult {
        fx.iter()
            .find_map(|e| match e {
                Effect::Reply(Reply::Sync(r)) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no sync reply in {fx:#?}"))
    }

    fn released_joins(fx: &[Effect]) -> BTreeMap<String, JoinResponse> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::JoinResponse {
                    member_id,
                    response,
                } => Some((member_id.clone(), response.clone())),
                _ => None,
            })
            .collect()
    }

    fn released_syncs(fx: &[Effect]) -> BTreeMap<String, SyncResult> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::SyncResponse { member_id, result } => {
                    Some((member_id.clone(), result.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn joined(r: &JoinResponse) -> &JoinedGeneration {
        r.result
            .as_ref()
            .unwrap_or_else(|e| panic!("join failed: {e}"))
    }

    fn position(fx: &[Effect], pred: impl Fn(&Effect) -> bool) -> usize {
        fx.iter()
            .position(pred)
            .unwrap_or_else(|| panic!("effect not found in {fx:#?}"))
    }

    fn is_persist(e: &Effect) -> bool {
        matches!(e, Effect::Persist(_))
    }

    fn session(id: &str) -> TimerKind {
        TimerKind::MemberSession(id.to_string())
    }

    /// Plays the actor: keeps the timer set and the parked reply handles, and
    /// checks the effect contract while doing so.
    struct Sim {
        g: Group,
        now: u64,
        timers: BTreeMap<TimerKind, u64>,
        parked_joins: BTreeSet<String>,
        parked_syncs: BTreeSet<String>,
        persisted: Vec<GroupMetadataSnapshot>,
        next_uuid: u32,
    }

    impl Sim {
        fn new(config: GroupConfig) -> Self {
            Sim {
                g: Group::new("g", config),
                now: 0,
                timers: BTreeMap::new(),
                parked_joins: BTreeSet::new(),
                parked_syncs: BTreeSet::new(),
                persisted: Vec::new(),
                next_uuid: 0,
            }
        }

        fn apply(&mut self, fx: &[Effect]) {
            for e in fx {
                match e {
                    Effect::Reply(_) => {}
                    Effect::ParkJoin { member_id } => {
                        self.parked_joins.insert(member_id.clone());
                    }
                    Effect::ParkSync { member_id } => {
                        self.parked_syncs.insert(member_id.clone());
                    }
                    Effect::JoinResponse { member_id, .. } => {
                        assert!(
                            self.parked_joins.remove(member_id),
                            "join {member_id} was not parked"
                        );
                    }
                    Effect::SyncResponse { member_id, .. } => {
                        assert!(
                            self.parked_syncs.remove(member_id),
                            "sync {member_id} was not parked"
                        );
                    }
                    Effect::ScheduleTimer { kind, deadline_ms } => {
                        assert!(*deadline_ms >= self.now, "{kind:?} scheduled in the past");
                        self.timers.insert(kind.clone(), *deadline_ms);
                    }
                    Effect::CancelTimer { kind } => {
                        assert!(
                            self.timers.remove(kind).is_some(),
                            "cancel of unarmed {kind:?}"
                        );
                    }
                    Effect::Persist(s) => self.persisted.push(s.clone()),
                    Effect::Refused(refused) => panic!("the machine refused {refused}"),
                }
            }
        }

        fn join(&mut self, req: JoinRequest) -> Vec<Effect> {
            let mut n = self.next_uuid;
            let fx = {
                let mut ids = || {
                    n += 1;
                    format!("u{n}")
                };
                self.g.join(req, self.now, &mut ids)
            };
            self.next_uuid = n;
            self.apply_answered_once(fx, |e| {
                matches!(e, Effect::Reply(Reply::Join(_)) | Effect::ParkJoin { .. })
            })
        }

        fn sync(&mut self, req: SyncRequest) -> Vec<Effect> {
            let fx = self.g.sync(req, self.now);
            self.apply_answered_once(fx, |e| {
                matches!(e, Effect::Reply(Reply::Sync(_)) | Effect::ParkSync { .. })
            })
        }

        /// Applies the effects of one request after checking that they answer or park
        /// its caller (`answers` picks those effects out) exactly once.
        fn apply_answered_once(
            &mut self,
            fx: Vec<Effect>,
            answers: impl Fn(&Effect) -> bool,
        ) -> Vec<Effect> {
            let answers = fx.iter().filter(|e| answers(e)).count();
            assert_eq!(
                answers, 1,
                "caller must be answered or parked exactly once: {fx:#?}"
            );
            self.apply(&fx);
            fx
        }

        fn heartbeat(&mut self, id: &str, generation: i32) -> Result<(), GroupError> {
            let fx = self.g.heartbeat(id, generation, None, self.now);
            self.apply(&fx);
            match fx.last() {
                Some(Effect::Reply(Reply::Heartbeat(r))) => *r,
                other => panic!("heartbeat reply must come last: {other:?}"),
            }
        }

        fn leave(&mut self, members: Vec<LeaveMember>) -> (LeaveResult, Vec<Effect>) {
            let fx = self.g.leave(members, self.now);
            self.apply(&fx);
            match fx.last() {
                Some(Effect::Reply(Reply::Leave(r))) => (r.clone(), fx),
                other => panic!("leave reply must come last: {other:?}"),
            }
        }

        /// Fire every timer due up to `to`, in deadline order.
        fn advance(&mut self, to: u64) -> Vec<Effect> {
            let mut all = Vec::new();
            loop {
                let due = self
                    .timers
                    .iter()
                    .filter(|(_, d)| **d <= to)
                    .min_by_key(|(_, d)| **d)
                    .map(|(k, d)| (k.clone(), *d));
                let Some((kind, deadline)) = due else { break };
                self.timers.remove(&kind);
                self.now = self.now.max(deadline);
                let fx = self.g.timer_fired(kind, self.now);
                self.apply(&fx);
                all.extend(fx);
            }
            self.now = self.now.max(to);
            all
        }

        /// Advance to the join-phase deadlines until the group leaves
        /// PreparingRebalance.
        fn finish_join_phase(&mut self) -> Vec<Effect> {
            let mut all = Vec::new();
            while self.g.state() == PreparingRebalance {
                let next = self
                    .timers
                    .iter()
                    .filter(|(k, _)| {
                        matches!(
                            k,
                            TimerKind::InitialRebalanceDelay | TimerKind::RebalanceTimeout
                        )
                    })
                    .map(|(_, d)| *d)
                    .min()
                    .expect("a rebalancing group has a join timer");
                all.extend(self.advance(next));
            }
            all
        }

        /// Join `reqs` into a fresh group (initial delay > 0), finish the join,
        /// have followers then the leader sync. Returns MemberIds in join order.
        fn form_stable_with(&mut self, reqs: Vec<JoinRequest>) -> Vec<String> {
            for r in reqs {
                self.join(r);
            }
            self.finish_join_phase();
            assert_eq!(self.g.state(), CompletingRebalance);
            let ids: Vec<String> = self
                .g
                .members()
                .iter()
                .map(|m| m.member_id.clone())
                .collect();
            let leader = self.g.leader_id().unwrap().to_string();
            let generation = self.g.generation_id();
            for id in ids.iter().filter(|id| **id != leader) {
                self.sync(sreq(id, generation, vec![]));
            }
            let assignments = ids
                .iter()
                .map(|id| (id.clone(), format!("assign-{id}").into_bytes()))
                .collect();
            self.sync(sreq(&leader, generation, assignments));
            assert_eq!(self.g.state(), Stable);
            assert!(self.parked_syncs.is_empty());
            ids
        }

        fn form_stable(&mut self, clients: &[&str]) -> Vec<String> {
            self.form_stable_with(clients.iter().map(|c| jreq("", c)).collect())
        }

        /// The static-membership fixture: static member `i1` (client c1, joins first and
        /// leads) beside dynamic member c2, formed into a Stable group.
        fn form_stable_static_pair(&mut self) -> Vec<String> {
            self.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")])
        }
    }

    /// A fresh group (3s initial delay) already Stable with `clients` as dynamic members
    /// (see [`Sim::form_stable`]); returns their MemberIds in join order.
    fn stable(clients: &[&str]) -> (Sim, Vec<String>) {
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(clients);
        (sim, ids)
    }

    /// A fresh group (3s initial delay) already Stable with the static pair of
    /// [`Sim::form_stable_static_pair`]; returns its MemberIds in join order.
    fn stable_static_pair() -> (Sim, Vec<String>) {
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_static_pair();
        (sim, ids)
    }

    /// A fresh group (3s initial delay) that `clients` joined as new members, in order,
    /// with the join phase over: CompletingRebalance, generation 1, the first client leads.
    fn completing(clients: &[&str]) -> Sim {
        let mut sim = Sim::new(cfg(3_000));
        for c in clients {
            sim.join(jreq("", c));
        }
        sim.finish_join_phase();
        sim
    }

    // ----- transition table -------------------------------------------------

    const LEGAL: [(GroupState, GroupState); 10] = [
        (Empty, PreparingRebalance),
        (Empty, Dead),
        (PreparingRebalance, CompletingRebalance),
        (PreparingRebalance, Empty),
        (PreparingRebalance, Dead),
        (CompletingRebalance, PreparingRebalance),
        (CompletingRebalance, Stable),
        (CompletingRebalance, Dead),
        (Stable, PreparingRebalance),
        (Stable, Dead),
    ];

    #[test]
    fn every_legal_transition_is_allowed() {
        for (from, to) in LEGAL {
            assert!(can_transition(from, to), "{from} -> {to}");
            let mut g = Group::new("g", cfg(0));
            g.state = from;
            assert_eq!(g.transition(to), Ok(()));
            assert_eq!(g.state(), to);
        }
    }

    #[test]
    fn every_illegal_transition_is_a_typed_error() {
        let mut illegal = 0;
        for from in GroupState::ALL {
            for to in GroupState::ALL {
                if LEGAL.contains(&(from, to)) {
                    continue;
                }
                illegal += 1;
                assert!(!can_transition(from, to), "{from} -> {to}");
                let mut g = Group::new("g", cfg(0));
                g.state = from;
                let err = g.transition(to).unwrap_err();
                assert_eq!(err, IllegalTransition { from, to });
                assert_eq!(
                    g.state(),
                    from,
                    "a refused transition must not change state"
                );
                assert!(err.to_string().contains(from.as_str()));
            }
        }
        assert_eq!(illegal, 25 - LEGAL.len());
    }

    #[test]
    fn an_illegal_internal_transition_is_refused_in_every_build_and_reported() {
        // `go` refuses whatever the build profile: the state stays, the error names both ends.
        let mut g = Group::new("g", cfg(0));
        assert_eq!(
            g.go(Stable),
            Err(IllegalTransition {
                from: Empty,
                to: Stable
            })
        );
        assert_eq!(g.state(), Empty);

        // Deep in an operation (a rebalance started while one is running, which the guards
        // never allow) the refusal propagates out of the step, changing nothing.
        let mut g = Group::new("g", cfg(3_000));
        let mut seq = 0;
        g.join(jreq("", "c1"), 0, &mut || {
            seq += 1;
            seq.to_string()
        });
        assert_eq!(g.state(), PreparingRebalance);
        let mut fx = Vec::new();
        let refused = IllegalTransition {
            from: PreparingRebalance,
            to: PreparingRebalance,
        };
        assert_eq!(g.prepare_rebalance(10, &mut fx), Err(refused));
        assert_eq!(g.state(), PreparingRebalance);

        // The operation's entry point reports it and answers a caller nothing answered yet
        // with UNKNOWN_SERVER_ERROR; a caller already parked is not answered twice.
        assert_eq!(
            conclude(Vec::new(), Err(refused), |e| Reply::Sync(Err(e))),
            vec![
                Effect::Refused(refused),
                Effect::Reply(Reply::Sync(Err(GroupError::UnknownServerError)))
            ]
        );
        let parked = vec![Effect::ParkSync {
            member_id: "m".into(),
        }];
        assert_eq!(
            conclude(parked.clone(), Err(refused), |e| Reply::Sync(Err(e))),
            [parked, vec![Effect::Refused(refused)]].concat()
        );
        assert_eq!(
            conclude(Vec::new(), Ok(()), |e| Reply::Sync(Err(e))),
            Vec::new()
        );
    }

    #[test]
    fn group_states_have_kafka_names() {
        let names: Vec<&str> = GroupState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "Empty",
                "PreparingRebalance",
                "CompletingRebalance",
                "Stable",
                "Dead"
            ]
        );
    }

    // ----- JoinGroup ----------------------------------------------------------

    #[test]
    fn member_id_required_round_trip() {
        let mut sim = Sim::new(cfg(3_000));
        let mut req = jreq("", "c1");
        req.require_known_member_id = true;

        let fx = sim.join(req.clone());
        let resp = reply_join(&fx);
        assert_eq!(resp.result, Err(GroupError::MemberIdRequired));
        assert_eq!(resp.member_id, "c1-u1");
        assert_eq!(
            sim.g.state(),
            Empty,
            "MEMBER_ID_REQUIRED does not start a rebalance"
        );
        assert!(sim.g.is_pending_member("c1-u1"));
        assert_eq!(sim.g.member_count(), 0);
        assert_eq!(
            sim.timers.get(&TimerKind::PendingMember("c1-u1".into())),
            Some(&10_000)
        );

        sim.now = 100;
        req.member_id = "c1-u1".into();
        let fx = sim.join(req);
        assert!(fx.contains(&Effect::ParkJoin {
            member_id: "c1-u1".into()
        }));
        assert!(!sim.g.is_pending_member("c1-u1"));
        assert!(!sim
            .timers
            .contains_key(&TimerKind::PendingMember("c1-u1".into())));
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(
            sim.timers.get(&TimerKind::InitialRebalanceDelay),
            Some(&3_100)
        );

        let fx = sim.advance(3_100);
        let resp = &released_joins(&fx)["c1-u1"];
        let gen = joined(resp);
        assert_eq!(resp.member_id, "c1-u1");
        assert_eq!(gen.generation_id, 1);
        assert_eq!(gen.leader_id, "c1-u1");
        assert_eq!(gen.protocol_name.as_deref(), Some("range"));
        assert_eq!(gen.protocol_type.as_deref(), Some(PT));
        assert_eq!(gen.members.len(), 1);
        assert_eq!(gen.members[0].metadata, b"meta-c1");
        assert_eq!(sim.g.state(), CompletingRebalance);
    }

    #[test]
    fn unclaimed_member_id_expires() {
        let mut sim = Sim::new(cfg(0));
        let mut req = jreq("", "c1");
        req.require_known_member_id = true;
        let id = reply_join(&sim.join(req.clone())).member_id;
        sim.advance(10_000);
        assert!(!sim.g.is_pending_member(&id));
        req.member_id = id;
        assert_eq!(
            reply_join(&sim.join(req)).result,
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn single_member_join_sync_stable_heartbeat() {
        let mut sim = Sim::new(cfg(0));
        // With no initial delay the lone member's join completes at once.
        let fx = sim.join(jreq("", "c1"));
        let id = "c1-u1";
        let persist = position(&fx, is_persist);
        let response = position(&fx, |e| matches!(e, Effect::JoinResponse { .. }));
        assert!(
            persist < response,
            "generation must be persisted before it is announced"
        );
        let resp = &released_joins(&fx)[id];
        assert_eq!(joined(resp).generation_id, 1);
        assert_eq!(joined(resp).leader_id, id);
        assert_eq!(sim.g.state(), CompletingRebalance);
        assert_eq!(
            sim.heartbeat(id, 1),
            Ok(()),
            "heartbeats are fine before SyncGroup"
        );

        sim.now = 50;
        let fx = sim.sync(sreq(id, 1, vec![(id.into(), b"p0".to_vec())]));
        assert!(
            position(&fx, is_persist) < position(&fx, |e| matches!(e, Effect::SyncResponse { .. }))
        );
        let assignment = released_syncs(&fx)[id].clone().unwrap();
        assert_eq!(assignment.assignment, b"p0");
        assert_eq!(assignment.protocol_name.as_deref(), Some("range"));
        assert_eq!(sim.g.state(), Stable);
        assert!(
            !sim.timers.contains_key(&TimerKind::PendingSync),
            "everyone synced"
        );
        assert_eq!(sim.persisted.last().unwrap().members[0].assignment, b"p0");

        for step in 1..=5 {
            sim.advance(50 + step * 9_000);
            assert_eq!(sim.heartbeat(id, 1), Ok(()));
            assert_eq!(sim.timers[&session(id)], sim.now + 10_000);
        }
        assert_eq!(sim.g.member(id).unwrap().last_heartbeat_ms, sim.now);
        assert_eq!(
            reply_sync(&sim.sync(sreq(id, 1, vec![])))
                .unwrap()
                .assignment,
            b"p0"
        );
    }

    #[test]
    fn three_members_leader_gets_all_metadata_and_leader_sync_releases_all() {
        let mut sim = Sim::new(cfg(3_000));
        for c in ["c1", "c2", "c3"] {
            sim.join(jreq("", c));
        }
        assert_eq!(sim.parked_joins.len(), 3);
        let fx = sim.finish_join_phase();
        let joins = released_joins(&fx);
        assert_eq!(joins.len(), 3);
        let leader = "c1-u1";
        for (id, resp) in &joins {
            let gen = joined(resp);
            assert_eq!(gen.generation_id, 1);
            assert_eq!(gen.leader_id, leader);
            if id == leader {
                let listed: Vec<(&str, &[u8])> = gen
                    .members
                    .iter()
                    .map(|m| (m.member_id.as_str(), m.metadata.as_slice()))
                    .collect();
                assert_eq!(
                    listed,
                    [
                        ("c1-u1", b"meta-c1".as_slice()),
                        ("c2-u2", b"meta-c2".as_slice()),
                        ("c3-u3", b"meta-c3".as_slice())
                    ]
                );
            } else {
                assert!(gen.members.is_empty(), "followers get no member list");
            }
        }

        // Followers park until the leader's assignment arrives.
        for f in ["c2-u2", "c3-u3"] {
            let fx = sim.sync(sreq(f, 1, vec![]));
            assert_eq!(
                fx.first(),
                Some(&Effect::ParkSync {
                    member_id: f.into()
                })
            );
            assert!(released_syncs(&fx).is_empty());
        }
        assert_eq!(sim.g.state(), CompletingRebalance);
        // The leader leaves c3 out of its map: c3 gets an empty assignment.
        let fx = sim.sync(sreq(
            leader,
            1,
            vec![
                ("c1-u1".into(), b"a1".to_vec()),
                ("c2-u2".into(), b"a2".to_vec()),
                ("ghost".into(), b"x".to_vec()),
            ],
        ));
        let persist = position(&fx, is_persist);
        assert!(fx
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Effect::SyncResponse { .. }))
            .all(|(i, _)| i > persist));
        let syncs = released_syncs(&fx);
        assert_eq!(syncs.len(), 3);
        assert_eq!(syncs["c1-u1"].as_ref().unwrap().assignment, b"a1");
        assert_eq!(syncs["c2-u2"].as_ref().unwrap().assignment, b"a2");
        assert_eq!(syncs["c3-u3"].as_ref().unwrap().assignment, b"");
        assert_eq!(sim.g.state(), Stable);
        assert!(sim.parked_syncs.is_empty());
    }

    #[test]
    fn join_while_stable_rebalances_and_members_rejoin() {
        let (mut sim, ids) = stable(&["c1", "c2"]);
        let fx = sim.join(jreq("", "c3"));
        let newcomer = "c3-u3";
        assert!(fx.contains(&Effect::ParkJoin {
            member_id: newcomer.into()
        }));
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(
            sim.timers.get(&TimerKind::RebalanceTimeout),
            Some(&(sim.now + 30_000))
        );

        for id in &ids {
            assert_eq!(sim.heartbeat(id, 1), Err(GroupError::RebalanceInProgress));
        }
        assert!(released_joins(&sim.join(jreq(&ids[0], "c1"))).is_empty());
        let fx = sim.join(jreq(&ids[1], "c2"));
        let joins = released_joins(&fx);
        assert_eq!(joins.len(), 3, "last rejoin completes the join at once");
        assert!(!sim.timers.contains_key(&TimerKind::RebalanceTimeout));
        let gen = joined(&joins[&ids[0]]);
        assert_eq!(gen.generation_id, 2);
        assert_eq!(gen.leader_id, ids[0], "existing leader keeps leading");
        assert_eq!(gen.members.len(), 3);
        assert_eq!(sim.g.state(), CompletingRebalance);
    }

    #[test]
    fn rebalance_timeout_removes_members_that_did_not_rejoin() {
        let (mut sim, ids) = stable(&["c1", "c2", "c3"]);
        let start = sim.now;
        // The leader rejoining forces a rebalance (e.g. topic metadata changed).
        sim.join(jreq(&ids[0], "c1"));
        assert_eq!(sim.g.state(), PreparingRebalance);
        sim.join(jreq(&ids[1], "c2"));
        // c3 stays alive but never rejoins.
        for t in [8_000, 16_000, 24_000] {
            sim.advance(start + t);
            assert_eq!(
                sim.heartbeat(&ids[2], 1),
                Err(GroupError::RebalanceInProgress)
            );
        }
        let fx = sim.advance(start + 30_000);
        let joins = released_joins(&fx);
        assert_eq!(joins.keys().collect::<Vec<_>>(), [&ids[0], &ids[1]]);
        assert!(fx.contains(&Effect::CancelTimer {
            kind: session(&ids[2])
        }));
        assert_eq!(joined(&joins[&ids[0]]).members.len(), 2);
        assert_eq!(sim.g.generation_id(), 2);
        assert!(sim.g.member(&ids[2]).is_none());
        assert_eq!(sim.heartbeat(&ids[2], 1), Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn new_member_join_timeout_evicts_parked_newcomer() {
        let mut sim = Sim::new(GroupConfig {
            new_member_join_timeout_ms: 20_000,
            ..cfg(3_000)
        });
        let ids = sim.form_stable(&["c1", "c2"]);
        let start = sim.now;
        sim.join(jreq("", "c3"));
        let newcomer = "c3-u3".to_string();
        sim.join(jreq(&ids[0], "c1"));
        for t in [8_000, 16_000] {
            sim.advance(start + t);
            assert_eq!(
                sim.heartbeat(&ids[1], 1),
                Err(GroupError::RebalanceInProgress)
            );
        }
        let fx = sim.advance(start + 20_000);
        let kicked = &released_joins(&fx)[&newcomer];
        assert_eq!(kicked.result, Err(GroupError::UnknownMemberId));
        assert_eq!(sim.g.state(), PreparingRebalance);
        sim.advance(start + 24_000);
        assert_eq!(
            sim.heartbeat(&ids[1], 1),
            Err(GroupError::RebalanceInProgress)
        );
        let fx = sim.advance(start + 30_000);
        assert_eq!(released_joins(&fx).keys().collect::<Vec<_>>(), [&ids[0]]);
        assert_eq!(sim.g.member_count(), 1);
    }

    #[test]
    fn session_expiry_triggers_rebalance_and_last_expiry_empties_group() {
        let (mut sim, ids) = stable(&["c1", "c2"]);
        let c2_deadline = sim.timers[&session(&ids[1])];
        sim.advance(c2_deadline - 5_000);
        assert_eq!(sim.heartbeat(&ids[0], 1), Ok(()));
        sim.advance(c2_deadline);
        assert!(sim.g.member(&ids[1]).is_none(), "silent member expired");
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(
            sim.heartbeat(&ids[0], 1),
            Err(GroupError::RebalanceInProgress)
        );
        let fx = sim.join(jreq(&ids[0], "c1"));
        assert_eq!(joined(&released_joins(&fx)[&ids[0]]).generation_id, 2);

        // Now the survivor goes silent too: the group empties.
        sim.sync(sreq(&ids[0], 2, vec![]));
        let deadline = sim.timers[&session(&ids[0])];
        let fx = sim.advance(deadline);
        assert_eq!(sim.g.state(), Empty);
        assert_eq!(
            sim.g.generation_id(),
            3,
            "the empty generation is a generation too"
        );
        let snap = fx.iter().find_map(|e| match e {
            Effect::Persist(s) => Some(s.clone()),
            _ => None,
        });
        assert_eq!(snap.unwrap().state, Empty);
        assert!(
            sim.timers.is_empty(),
            "no timer survives an emptied group: {:?}",
            sim.timers
        );
    }

    // ----- LeaveGroup ---------------------------------------------------------

    #[test]
    fn leave_of_last_member_empties_group() {
        let (mut sim, ids) = stable(&["c1"]);
        let (result, fx) = sim.leave(leave_of(&[&ids[0]]));
        let results = result.unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].result, Ok(()));
        assert_eq!(sim.g.state(), Empty);
        assert_eq!(sim.g.generation_id(), 2);
        assert_eq!(sim.g.protocol_name(), None);
        assert_eq!(sim.g.leader_id(), None);
        assert!(fx.iter().any(is_persist));
        assert!(sim.timers.is_empty());
    }

    #[test]
    fn batched_leave_reports_per_member_and_rebalances_the_rest() {
        let (mut sim, ids) = stable(&["c1", "c2", "c3"]);
        let (result, _) = sim.leave(leave_of(&[&ids[1], &ids[2], "nobody"]));
        let errors: Vec<Result<(), GroupError>> =
            result.unwrap().into_iter().map(|r| r.result).collect();
        assert_eq!(errors, [Ok(()), Ok(()), Err(GroupError::UnknownMemberId)]);
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(
            sim.heartbeat(&ids[0], 1),
            Err(GroupError::RebalanceInProgress)
        );
        let fx = sim.join(jreq(&ids[0], "c1"));
        assert_eq!(joined(&released_joins(&fx)[&ids[0]]).members.len(), 1);
        assert_eq!(sim.g.generation_id(), 2);
    }

    #[test]
    fn batched_leave_of_everyone_empties_group() {
        let (mut sim, ids) = stable(&["c1", "c2"]);
        let (result, _) = sim.leave(leave_of(&[&ids[0], &ids[1]]));
        assert!(result.unwrap().iter().all(|r| r.result.is_ok()));
        assert_eq!(sim.g.state(), Empty);
        assert!(sim.timers.is_empty());
    }

    #[test]
    fn leave_during_rebalance_can_complete_the_join() {
        let (mut sim, ids) = stable(&["c1", "c2"]);
        sim.join(jreq("", "c3"));
        sim.join(jreq(&ids[0], "c1"));
        let (_, fx) = sim.leave(leave_of(&[&ids[1]]));
        let joins = released_joins(&fx);
        assert_eq!(joins.len(), 2, "c2 was the only one missing");
        assert_eq!(sim.g.generation_id(), 2);
        // A member leaving while parked in JoinGroup gets its join answered.
        sim.sync(sreq(&ids[0], 2, vec![]));
        sim.sync(sreq("c3-u3", 2, vec![]));
        sim.join(jreq(&ids[0], "c1"));
        let (_, fx) = sim.leave(leave_of(&[&ids[0]]));
        assert_eq!(
            released_joins(&fx)[&ids[0]].result,
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn admin_leave_by_group_instance_id() {
        let (mut sim, ids) = stable_static_pair();
        let (result, _) = sim.leave(vec![
            LeaveMember {
                member_id: String::new(),
                group_instance_id: Some("i1".into()),
            },
            LeaveMember {
                member_id: String::new(),
                group_instance_id: Some("unknown".into()),
            },
        ]);
        let errors: Vec<_> = result.unwrap().into_iter().map(|r| r.result).collect();
        assert_eq!(errors, [Ok(()), Err(GroupError::UnknownMemberId)]);
        assert!(sim.g.member(&ids[0]).is_none());
        assert_eq!(sim.g.static_member_id("i1"), None);
        assert_eq!(
            sim.g.leader_id(),
            Some(ids[1].as_str()),
            "leadership moves to a remaining member"
        );
    }

    // ----- static membership (KIP-345) -------------------------------------

    #[test]
    fn static_member_restart_keeps_assignment_without_rebalance() {
        let (mut sim, ids) = stable_static_pair();
        let old = ids[0].clone();
        assert_eq!(
            old, "i1-u1",
            "static MemberIds are prefixed by the GroupInstanceId"
        );
        let generation = sim.g.generation_id();

        sim.now += 1_000;
        let fx = sim.join(static_jreq("", "c1", "i1"));
        let resp = reply_join(&fx);
        let new = resp.member_id.clone();
        assert_ne!(new, old);
        let gen = joined(&resp);
        assert_eq!(gen.generation_id, generation, "no generation bump");
        assert_eq!(
            gen.leader_id, old,
            "pre-v9 clients see the old leader id and act as followers"
        );
        assert!(!gen.skip_assignment);
        assert!(position(&fx, is_persist) < position(&fx, |e| matches!(e, Effect::Reply(_))));
        assert!(fx.contains(&Effect::CancelTimer {
            kind: session(&old)
        }));
        assert_eq!(sim.timers.get(&session(&new)), Some(&(sim.now + 10_000)));
        assert_eq!(sim.g.state(), Stable);
        assert_eq!(sim.g.static_member_id("i1"), Some(new.as_str()));
        assert_eq!(sim.g.leader_id(), Some(new.as_str()));
        assert_eq!(sim.persisted.last().unwrap().members[0].member_id, new);

        let sync = reply_sync(&sim.sync(sreq(&new, generation, vec![]))).unwrap();
        assert_eq!(
            sync.assignment,
            format!("assign-{old}").into_bytes(),
            "assignment kept"
        );
        assert_eq!(
            sim.heartbeat(&ids[1], generation),
            Ok(()),
            "other members undisturbed"
        );
    }

    #[test]
    fn old_static_member_id_is_fenced() {
        let (mut sim, ids) = stable_static_pair();
        let old = ids[0].clone();
        let new = reply_join(&sim.join(static_jreq("", "c1", "i1"))).member_id;

        let fx = sim.g.heartbeat(&old, 1, Some("i1"), sim.now);
        assert_eq!(
            fx.last(),
            Some(&Effect::Reply(Reply::Heartbeat(Err(
                GroupError::FencedInstanceId
            ))))
        );
        assert_eq!(sim.heartbeat(&old, 1), Err(GroupError::UnknownMemberId));
        let mut s = sreq(&old, 1, vec![]);
        s.group_instance_id = Some("i1".into());
        assert_eq!(reply_sync(&sim.sync(s)), Err(GroupError::FencedInstanceId));
        let fx = sim.join(static_jreq(&old, "c1", "i1"));
        assert_eq!(reply_join(&fx).result, Err(GroupError::FencedInstanceId));
        assert_eq!(
            sim.g.validate_offset_commit(&old, 1, Some("i1"), sim.now),
            Err(GroupError::FencedInstanceId)
        );
        let fx = sim.g.heartbeat(&new, 1, Some("i1"), sim.now);
        assert_eq!(fx.last(), Some(&Effect::Reply(Reply::Heartbeat(Ok(())))));
    }

    #[test]
    fn static_leader_restart_with_skip_assignment_support() {
        let (mut sim, _) = stable_static_pair();
        let mut req = static_jreq("", "c1", "i1");
        req.supports_skip_assignment = true;
        let resp = reply_join(&sim.join(req));
        let gen = joined(&resp);
        assert_eq!(gen.leader_id, resp.member_id, "v9+: told it leads");
        assert!(gen.skip_assignment, "but must not recompute the assignment");
        assert_eq!(gen.members.len(), 2);
    }

    #[test]
    fn static_restart_mid_rebalance_fences_parked_requests() {
        // CompletingRebalance: the old process is parked in SyncGroup.
        let mut sim = Sim::new(cfg(3_000));
        sim.join(static_jreq("", "c1", "i1"));
        sim.join(jreq("", "c2"));
        sim.finish_join_phase();
        let old = "i1-u1";
        // The follower waits in SyncGroup; the static leader restarts before
        // sending its assignment.
        sim.sync(sreq("c2-u2", 1, vec![]));
        let fx = sim.join(static_jreq("", "c1", "i1"));
        assert!(sim.g.member(old).is_none());
        assert_eq!(
            sim.g.state(),
            PreparingRebalance,
            "CompletingRebalance must start over"
        );
        assert_eq!(
            released_syncs(&fx)["c2-u2"],
            Err(GroupError::RebalanceInProgress),
            "parked follower told to rejoin"
        );
        let new = sim.g.static_member_id("i1").unwrap().to_string();
        assert!(fx.contains(&Effect::ParkJoin {
            member_id: new.clone()
        }));

        // PreparingRebalance: the replacement itself is parked; a second restart
        // fences it.
        let fx = sim.join(static_jreq("", "c1", "i1"));
        assert_eq!(
            released_joins(&fx)[&new].result,
            Err(GroupError::FencedInstanceId)
        );
        let newest = sim.g.static_member_id("i1").unwrap().to_string();
        assert!(sim.parked_joins.contains(&newest));
        let fx = sim.join(jreq("c2-u2", "c2"));
        let joins = released_joins(&fx);
        assert_eq!(joined(&joins[&newest]).generation_id, 2);
        assert_eq!(
            joined(&joins[&newest]).leader_id,
            newest,
            "leadership followed the instance"
        );
    }

    #[test]
    fn static_restart_fences_old_process_parked_in_sync() {
        let mut sim = Sim::new(cfg(3_000));
        sim.join(jreq("", "c1"));
        sim.join(static_jreq("", "c2", "i2"));
        sim.finish_join_phase();
        let old = "i2-u2";
        let mut s = sreq(old, 1, vec![]);
        s.group_instance_id = Some("i2".into());
        sim.sync(s);
        assert!(sim.parked_syncs.contains(old));
        let fx = sim.join(static_jreq("", "c2", "i2"));
        assert_eq!(released_syncs(&fx)[old], Err(GroupError::FencedInstanceId));
        assert!(sim.parked_syncs.is_empty());
        assert_eq!(sim.g.state(), PreparingRebalance);
    }

    #[test]
    fn static_members_survive_rebalance_timeout() {
        let (mut sim, ids) = stable_static_pair();
        let start = sim.now;
        // c2 changes its subscription: rebalance; the static leader is slow.
        let mut req = jreq(&ids[1], "c2");
        req.protocols = vec![("range".into(), b"meta-c2-v2".to_vec())];
        sim.join(req);
        for t in [8_000, 16_000, 24_000] {
            sim.advance(start + t);
            let fx = sim.g.heartbeat(&ids[0], 1, Some("i1"), sim.now);
            sim.apply(&fx);
        }
        let fx = sim.advance(start + 30_000);
        let joins = released_joins(&fx);
        assert_eq!(joins.keys().collect::<Vec<_>>(), [&ids[1]]);
        let gen = joined(&joins[&ids[1]]);
        assert_eq!(
            gen.leader_id, ids[1],
            "leadership moves to a member that rejoined"
        );
        assert_eq!(gen.members.len(), 2, "the static member is kept and listed");
        assert!(sim.g.member(&ids[0]).is_some());
    }

    // ----- protocols ----------------------------------------------------------

    #[test]
    fn inconsistent_protocols_are_rejected() {
        let mut sim = Sim::new(cfg(3_000));
        let mut empty = jreq("", "c0");
        empty.protocols.clear();
        assert_eq!(
            reply_join(&sim.join(empty)).result,
            Err(GroupError::InconsistentGroupProtocol)
        );
        let mut no_type = jreq("", "c0");
        no_type.protocol_type.clear();
        assert_eq!(
            reply_join(&sim.join(no_type)).result,
            Err(GroupError::InconsistentGroupProtocol)
        );
        assert_eq!(sim.g.state(), Empty);

        let ids = sim.form_stable(&["c1", "c2"]);
        let mut connect = jreq("", "c3");
        connect.protocol_type = "connect".into();
        let resp = reply_join(&sim.join(connect));
        assert_eq!(resp.result, Err(GroupError::InconsistentGroupProtocol));
        assert_eq!(resp.member_id, "");
        let other = with_protocols(jreq("", "c3"), &["roundrobin"]);
        assert_eq!(
            reply_join(&sim.join(other)).result,
            Err(GroupError::InconsistentGroupProtocol)
        );
        // An existing member may not drift away from what the others support.
        let drift = with_protocols(jreq(&ids[0], "c1"), &["roundrobin"]);
        assert_eq!(
            reply_join(&sim.join(drift)).result,
            Err(GroupError::InconsistentGroupProtocol)
        );
        assert_eq!(sim.g.state(), Stable, "rejections leave the group alone");
    }

    #[test]
    fn sole_member_may_switch_protocols() {
        let (mut sim, ids) = stable(&["c1"]);
        let fx = sim.join(with_protocols(jreq(&ids[0], "c1"), &["cooperative-sticky"]));
        let gen = joined(&released_joins(&fx)[&ids[0]]).clone();
        assert_eq!(gen.protocol_name.as_deref(), Some("cooperative-sticky"));
        assert_eq!(gen.generation_id, 2);
    }

    #[test]
    fn protocol_is_chosen_by_vote() {
        let mut sim = Sim::new(cfg(3_000));
        // Candidates (supported by all): a, b. Votes: a, b, b.
        sim.join(with_protocols(jreq("", "m1"), &["a", "b", "c"]));
        sim.join(with_protocols(jreq("", "m2"), &["b", "a"]));
        sim.join(with_protocols(jreq("", "m3"), &["c", "b", "a"]));
        let fx = sim.finish_join_phase();
        let joins = released_joins(&fx);
        let leader = joined(&joins["m1-u1"]);
        assert_eq!(leader.protocol_name.as_deref(), Some("b"));
        let metas: Vec<&[u8]> = leader
            .members
            .iter()
            .map(|m| m.metadata.as_slice())
            .collect();
        assert_eq!(
            metas,
            [b"b-m1".as_slice(), b"b-m2", b"b-m3"],
            "metadata of the chosen protocol"
        );
    }

    #[test]
    fn protocol_vote_ties_break_on_preference_then_name() {
        let mut g = Group::new("g", cfg(0));
        let add = |g: &mut Group, name: &str, protos: &[&str]| {
            let seq = g.next_join_seq;
            g.next_join_seq += 1;
            g.members.insert(
                name.into(),
                Member {
                    persisted: MemberSnapshot {
                        member_id: name.into(),
                        group_instance_id: None,
                        client_id: name.into(),
                        client_host: String::new(),
                        session_timeout_ms: 10_000,
                        rebalance_timeout_ms: 10_000,
                        protocols: protos.iter().map(|p| (p.to_string(), Vec::new())).collect(),
                        assignment: Vec::new(),
                    },
                    awaiting_join: false,
                    awaiting_sync: false,
                    last_heartbeat_ms: 0,
                    is_new: false,
                    join_seq: seq,
                    session_deadline_ms: None,
                },
            );
        };
        // 2 votes each; b ranks better overall (a: 0+0+1+2, b: 1+1+0+0).
        add(&mut g, "m1", &["a", "b"]);
        add(&mut g, "m2", &["a", "b"]);
        add(&mut g, "m3", &["b", "a"]);
        add(&mut g, "m4", &["b", "c", "a"]);
        assert_eq!(g.select_protocol().as_deref(), Some("b"));
        // Full tie: smallest name.
        let mut h = Group::new("h", cfg(0));
        add(&mut h, "m1", &["y", "x"]);
        add(&mut h, "m2", &["x", "y"]);
        assert_eq!(h.select_protocol().as_deref(), Some("x"));
    }

    // ----- generations and validation -------------------------------------

    #[test]
    fn illegal_generation_and_unknown_member() {
        let (mut sim, ids) = stable(&["c1"]);
        assert_eq!(
            reply_sync(&sim.sync(sreq(&ids[0], 5, vec![]))),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(
            sim.heartbeat(&ids[0], 0),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(
            sim.heartbeat("stranger", 1),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(
            reply_sync(&sim.sync(sreq("stranger", 1, vec![]))),
            Err(GroupError::UnknownMemberId)
        );
        let mut wrong_protocol = sreq(&ids[0], 1, vec![]);
        wrong_protocol.protocol_name = Some("roundrobin".into());
        assert_eq!(
            reply_sync(&sim.sync(wrong_protocol)),
            Err(GroupError::InconsistentGroupProtocol)
        );
        let mut right = sreq(&ids[0], 1, vec![]);
        right.protocol_type = Some(PT.into());
        right.protocol_name = Some("range".into());
        assert!(reply_sync(&sim.sync(right)).is_ok());
        assert_eq!(
            reply_join(&sim.join(jreq("stranger", "x"))).result,
            Err(GroupError::UnknownMemberId)
        );

        sim.join(jreq(&ids[0], "c1")); // leader rejoin -> completes at once (sole member)
        assert_eq!(sim.g.generation_id(), 2);
        assert_eq!(
            reply_sync(&sim.sync(sreq(&ids[0], 1, vec![]))),
            Err(GroupError::IllegalGeneration)
        );
    }

    #[test]
    fn sync_during_preparing_rebalance_is_rejected() {
        let (mut sim, ids) = stable(&["c1", "c2"]);
        sim.join(jreq("", "c3"));
        assert_eq!(
            reply_sync(&sim.sync(sreq(&ids[1], 1, vec![]))),
            Err(GroupError::RebalanceInProgress)
        );
    }

    #[test]
    fn invalid_session_timeout() {
        let mut sim = Sim::new(cfg(0));
        for bad in [5_999, 1_800_001, -1] {
            let mut r = jreq("", "c1");
            r.session_timeout_ms = bad;
            assert_eq!(
                reply_join(&sim.join(r)).result,
                Err(GroupError::InvalidSessionTimeout)
            );
        }
        let mut ok = jreq("", "c1");
        ok.session_timeout_ms = 6_000;
        ok.rebalance_timeout_ms = -1; // JoinGroup v0: no rebalance timeout
        sim.join(ok);
        assert_eq!(sim.g.member_count(), 1);
        assert_eq!(sim.g.members()[0].rebalance_timeout_ms, 6_000);
    }

    #[test]
    fn group_max_size() {
        let mut sim = Sim::new(GroupConfig {
            max_size: Some(2),
            ..cfg(3_000)
        });
        let ids = sim.form_stable_static_pair();
        let resp = reply_join(&sim.join(jreq("", "c3")));
        assert_eq!(resp.result, Err(GroupError::GroupMaxSizeReached));
        assert_eq!(resp.member_id, "");
        assert_eq!(sim.g.state(), Stable);
        // Replacing a static member does not grow the group.
        assert!(reply_join(&sim.join(static_jreq("", "c1", "i1")))
            .result
            .is_ok());
        assert_eq!(sim.heartbeat(&ids[1], 1), Ok(()));
    }

    #[test]
    fn rejoin_during_completing_rebalance() {
        let mut sim = completing(&["c1", "c2"]);
        let (leader, follower) = ("c1-u1", "c2-u2");
        // Lost JoinGroup responses: same metadata gets the same generation back.
        let again = reply_join(&sim.join(jreq(follower, "c2")));
        assert_eq!(joined(&again).generation_id, 1);
        assert!(joined(&again).members.is_empty());
        let again = reply_join(&sim.join(jreq(leader, "c1")));
        assert_eq!(joined(&again).members.len(), 2);
        assert_eq!(sim.g.state(), CompletingRebalance);

        // A leader's SyncGroup installs the assignment even with an empty map
        // (every member then gets an empty assignment) and is released at once.
        let fx = sim.sync(sreq(leader, 1, vec![]));
        assert_eq!(
            released_syncs(&fx)[leader].as_ref().unwrap().assignment,
            b""
        );
        assert_eq!(sim.g.state(), Stable);
        let late = reply_sync(&sim.sync(sreq(follower, 1, vec![]))).unwrap();
        assert!(late.assignment.is_empty());
    }

    #[test]
    fn metadata_change_during_completing_rebalance_restarts() {
        let mut sim = completing(&["c1", "c2"]);
        let (leader, follower) = ("c1-u1", "c2-u2");
        sim.sync(sreq(follower, 1, vec![]));
        let mut changed = jreq(leader, "c1");
        changed.protocols = vec![("range".into(), b"new-subscription".to_vec())];
        let fx = sim.join(changed);
        assert_eq!(
            released_syncs(&fx)[follower],
            Err(GroupError::RebalanceInProgress)
        );
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert!(!sim.timers.contains_key(&TimerKind::PendingSync));
        let fx = sim.join(jreq(follower, "c2"));
        let joins = released_joins(&fx);
        assert_eq!(joined(&joins[leader]).generation_id, 2);
        assert_eq!(
            joined(&joins[leader]).members[0].metadata,
            b"new-subscription"
        );
    }

    #[test]
    fn leader_that_never_syncs_is_removed_by_pending_sync_timeout() {
        let mut sim = completing(&["c1", "c2", "c3"]);
        let start = sim.now;
        assert_eq!(sim.timers[&TimerKind::PendingSync], start + 30_000);
        sim.sync(sreq("c2-u2", 1, vec![]));
        sim.sync(sreq("c3-u3", 1, vec![]));
        for t in [8_000, 16_000, 24_000] {
            sim.advance(start + t);
            assert_eq!(sim.heartbeat("c1-u1", 1), Ok(()));
        }
        let fx = sim.advance(start + 30_000);
        let syncs = released_syncs(&fx);
        assert_eq!(syncs["c2-u2"], Err(GroupError::RebalanceInProgress));
        assert_eq!(syncs["c3-u3"], Err(GroupError::RebalanceInProgress));
        assert!(sim.g.member("c1-u1").is_none());
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(sim.heartbeat("c1-u1", 1), Err(GroupError::UnknownMemberId));
        sim.join(jreq("c2-u2", "c2"));
        let fx = sim.join(jreq("c3-u3", "c3"));
        assert_eq!(joined(&released_joins(&fx)["c2-u2"]).leader_id, "c2-u2");
    }

    #[test]
    fn pending_member_holds_the_join_until_it_expires() {
        let (mut sim, ids) = stable(&["c1"]);
        let start = sim.now;
        let mut req = jreq("", "c2");
        req.require_known_member_id = true;
        let pending = reply_join(&sim.join(req)).member_id;
        assert_eq!(sim.g.state(), Stable);
        sim.join(jreq(&ids[0], "c1"));
        assert_eq!(
            sim.g.state(),
            PreparingRebalance,
            "waiting for the pending member"
        );
        let fx = sim.advance(start + 10_000);
        assert!(!sim.g.is_pending_member(&pending));
        assert_eq!(joined(&released_joins(&fx)[&ids[0]]).generation_id, 2);
    }

    #[test]
    fn cooperative_rebalances_back_to_back() {
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_with(vec![
            with_protocols(jreq("", "c1"), &["cooperative-sticky", "range"]),
            with_protocols(jreq("", "c2"), &["cooperative-sticky", "range"]),
        ]);
        assert_eq!(sim.g.protocol_name(), Some("cooperative-sticky"));
        for expected_gen in [2, 3] {
            // Round one: owned partitions in the subscription; round two: after
            // revoking, members rejoin immediately.
            sim.join(with_protocols(
                jreq(&ids[0], "c1"),
                &["cooperative-sticky", "range"],
            ));
            assert_eq!(
                sim.heartbeat(&ids[1], expected_gen - 1),
                Err(GroupError::RebalanceInProgress)
            );
            let fx = sim.join(with_protocols(
                jreq(&ids[1], "c2"),
                &["cooperative-sticky", "range"],
            ));
            assert_eq!(released_joins(&fx).len(), 2);
            assert_eq!(sim.g.generation_id(), expected_gen);
            sim.sync(sreq(&ids[1], expected_gen, vec![]));
            let assign = vec![
                (ids[0].clone(), vec![expected_gen as u8]),
                (ids[1].clone(), vec![]),
            ];
            sim.sync(sreq(&ids[0], expected_gen, assign));
            assert_eq!(sim.g.state(), Stable);
            assert_eq!(sim.heartbeat(&ids[1], expected_gen), Ok(()));
            assert_eq!(
                sim.heartbeat(&ids[1], expected_gen - 1),
                Err(GroupError::IllegalGeneration)
            );
        }
    }

    // ----- initial rebalance delay (KIP-134) --------------------------------

    #[test]
    fn initial_delay_extends_while_members_keep_arriving() {
        let mut sim = Sim::new(cfg(3_000));
        let req = |c: &str| {
            let mut r = jreq("", c);
            r.rebalance_timeout_ms = 10_000;
            r
        };
        sim.join(req("a"));
        assert_eq!(sim.timers[&TimerKind::InitialRebalanceDelay], 3_000);
        sim.advance(1_000);
        sim.join(req("b"));
        // All known members have joined, yet the delay window never completes early.
        assert_eq!(sim.g.state(), PreparingRebalance);

        let fx = sim.advance(3_000);
        assert!(released_joins(&fx).is_empty(), "b arrived: extend");
        assert_eq!(sim.timers[&TimerKind::InitialRebalanceDelay], 6_000);
        sim.advance(5_000);
        sim.join(req("c"));
        sim.advance(6_000);
        assert_eq!(sim.timers[&TimerKind::InitialRebalanceDelay], 9_000);
        sim.advance(8_000);
        sim.join(req("d"));
        sim.advance(9_000);
        // Only 1s of the 10s rebalance timeout budget is left.
        assert_eq!(sim.timers[&TimerKind::InitialRebalanceDelay], 10_000);
        sim.advance(9_500);
        sim.join(req("e"));
        let fx = sim.advance(10_000);
        let joins = released_joins(&fx);
        assert_eq!(joins.len(), 5, "budget exhausted: complete with everyone");
        assert_eq!(sim.g.generation_id(), 1);
        assert!(!sim.timers.contains_key(&TimerKind::InitialRebalanceDelay));
    }

    #[test]
    fn initial_delay_without_arrivals_completes_after_one_window() {
        let mut sim = Sim::new(cfg(3_000));
        sim.join(jreq("", "a"));
        assert!(released_joins(&sim.advance(2_999)).is_empty());
        assert_eq!(released_joins(&sim.advance(3_000)).len(), 1);
    }

    // ----- offsets, deletion, describe ------------------------------------

    #[test]
    fn offset_commit_validation() {
        let mut sim = Sim::new(cfg(3_000));
        // Simple (non-group-managed) commits only while Empty.
        assert_eq!(sim.g.validate_offset_commit("", -1, None, 0), Ok(vec![]));
        assert_eq!(
            sim.g.validate_offset_commit("", 0, None, 0),
            Err(GroupError::UnknownMemberId)
        );

        sim.join(jreq("", "c1"));
        sim.join(jreq("", "c2"));
        sim.finish_join_phase();
        assert_eq!(
            sim.g.validate_offset_commit("c1-u1", 1, None, sim.now),
            Err(GroupError::RebalanceInProgress),
            "CompletingRebalance: no assignment yet"
        );
        sim.sync(sreq("c2-u2", 1, vec![]));
        sim.sync(sreq("c1-u1", 1, vec![]));
        let now = sim.now + 5;
        let fx = sim.g.validate_offset_commit("c1-u1", 1, None, now).unwrap();
        assert_eq!(
            fx,
            [Effect::ScheduleTimer {
                kind: session("c1-u1"),
                deadline_ms: now + 10_000
            }],
            "a commit is a sign of life"
        );
        assert_eq!(
            sim.g.validate_offset_commit("", -1, None, now),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(
            sim.g.validate_offset_commit("c1-u1", 7, None, now),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(
            sim.g.validate_offset_commit("nobody", 1, None, now),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(sim.g.validate_txn_offset_commit("", -1, None), Ok(()));
        assert_eq!(
            sim.g.validate_txn_offset_commit("c1-u1", 7, None),
            Err(GroupError::IllegalGeneration)
        );

        sim.join(jreq("", "c3"));
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert!(
            sim.g.validate_offset_commit("c2-u2", 1, None, now).is_ok(),
            "allowed while rebalancing"
        );
    }

    #[test]
    fn delete_rules_and_dead_group() {
        let mut sim = Sim::new(cfg(3_000));
        assert_eq!(sim.g.can_delete(), Ok(()));
        sim.join(jreq("", "c1"));
        assert_eq!(sim.g.can_delete(), Err(GroupError::NonEmptyGroup));
        sim.finish_join_phase();
        assert_eq!(sim.g.can_delete(), Err(GroupError::NonEmptyGroup));
        sim.sync(sreq("c1-u1", 1, vec![]));
        assert_eq!(sim.g.delete(), Err(GroupError::NonEmptyGroup));
        assert!(sim.leave(leave_of(&["c1-u1"])).0.is_ok());
        assert_eq!(sim.g.state(), Empty);

        // A pending MemberId does not make the group non-empty.
        let mut req = jreq("", "c9");
        req.require_known_member_id = true;
        sim.join(req);
        let fx = sim.g.delete().unwrap();
        sim.apply(&fx);
        assert!(sim.timers.is_empty());
        assert_eq!(sim.g.state(), Dead);
        assert_eq!(sim.g.can_delete(), Err(GroupError::GroupIdNotFound));
        assert_eq!(
            sim.g.transition(Empty),
            Err(IllegalTransition {
                from: Dead,
                to: Empty
            })
        );

        let cna = Err(GroupError::CoordinatorNotAvailable);
        assert_eq!(
            reply_join(&sim.join(jreq("", "c1"))).result.map(|_| ()),
            cna
        );
        assert_eq!(
            reply_sync(&sim.sync(sreq("c1-u1", 2, vec![]))).map(|_| ()),
            cna
        );
        assert_eq!(sim.heartbeat("c1-u1", 2), cna);
        assert_eq!(sim.leave(leave_of(&["c1-u1"])).0.map(|_| ()), cna);
        assert_eq!(
            sim.g.validate_offset_commit("", -1, None, 0).map(|_| ()),
            cna
        );
        assert!(sim.g.timer_fired(TimerKind::RebalanceTimeout, 0).is_empty());
        assert_eq!(sim.g.describe().state, "Dead");
    }

    #[test]
    fn unload_answers_parked_requests_with_not_coordinator() {
        let mut sim = Sim::new(cfg(3_000));
        sim.join(jreq("", "c1"));
        sim.join(jreq("", "c2"));
        let fx = sim.g.unload();
        sim.apply(&fx);
        let joins = released_joins(&fx);
        assert_eq!(joins.len(), 2);
        assert!(joins
            .values()
            .all(|r| r.result == Err(GroupError::NotCoordinator)));
        assert!(sim.parked_joins.is_empty());
        assert!(sim.timers.is_empty(), "{:?}", sim.timers);
        assert_eq!(sim.g.state(), Dead);
        assert!(sim.g.unload().is_empty());
    }

    #[test]
    fn describe_reports_protocol_and_assignments_only_when_stable() {
        let mut sim = Sim::new(cfg(3_000));
        let d = sim.g.describe();
        assert_eq!(
            (d.state, d.protocol_type.as_str(), d.members.len()),
            ("Empty", "", 0)
        );
        let ids = sim.form_stable_static_pair();
        let d = sim.g.describe();
        assert_eq!(d.group_id, "g");
        assert_eq!(d.state, "Stable");
        assert_eq!(d.protocol_type, PT);
        assert_eq!(d.protocol, "range");
        assert_eq!(d.members.len(), 2);
        assert_eq!(d.members[0].member_id, ids[0]);
        assert_eq!(d.members[0].group_instance_id.as_deref(), Some("i1"));
        assert_eq!(d.members[0].client_id, "c1");
        assert_eq!(d.members[0].client_host, "/10.0.0.1");
        assert_eq!(d.members[0].metadata, b"meta-c1");
        assert_eq!(
            d.members[1].assignment,
            format!("assign-{}", ids[1]).into_bytes()
        );

        sim.join(jreq("", "c3"));
        let d = sim.g.describe();
        assert_eq!(d.state, "PreparingRebalance");
        assert_eq!(d.protocol, "");
        assert_eq!(d.members.len(), 3);
        assert!(d
            .members
            .iter()
            .all(|m| m.metadata.is_empty() && m.assignment.is_empty()));
    }

    // ----- snapshots ---------------------------------------------------------

    #[test]
    fn snapshot_round_trip_of_stable_group() {
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_with(vec![
            jreq("", "c1"),
            static_jreq("", "c2", "i2"),
            with_protocols(jreq("", "c3"), &["range", "roundrobin"]),
        ]);
        let snap = sim.g.snapshot();
        assert_eq!(
            &snap,
            sim.persisted.last().unwrap(),
            "last write is the current state"
        );
        assert_eq!(snap.state, Stable);
        assert_eq!(snap.members.len(), 3);

        let later = sim.now + 60_000;
        let (g2, fx) = Group::from_snapshot(snap.clone(), cfg(3_000), later).unwrap();
        assert_eq!(g2.state(), Stable);
        assert_eq!(g2.generation_id(), 1);
        assert_eq!(g2.leader_id(), Some(ids[0].as_str()));
        assert_eq!(g2.protocol_name(), Some("range"));
        assert_eq!(g2.static_member_id("i2"), Some(ids[1].as_str()));
        assert_eq!(g2.snapshot(), snap);
        let sessions: Vec<&Effect> = fx
            .iter()
            .filter(|e| matches!(e, Effect::ScheduleTimer { .. }))
            .collect();
        assert_eq!(sessions.len(), 3, "only session timers: {fx:#?}");
        assert!(fx.contains(&Effect::ScheduleTimer {
            kind: session(&ids[2]),
            deadline_ms: later + 10_000
        }));

        let mut replay = Sim::new(cfg(3_000));
        replay.g = g2;
        replay.now = later;
        replay.apply(&fx);
        assert_eq!(replay.heartbeat(&ids[1], 1), Ok(()));
        let a = reply_sync(&replay.sync(sreq(&ids[2], 1, vec![]))).unwrap();
        assert_eq!(a.assignment, format!("assign-{}", ids[2]).into_bytes());
        // Replayed static members can still be replaced and fenced.
        let new = reply_join(&replay.join(static_jreq("", "c2", "i2"))).member_id;
        assert_ne!(new, ids[1]);
        // Replayed groups rebalance normally.
        replay.join(jreq(&ids[0], "c1"));
        assert_eq!(replay.g.state(), PreparingRebalance);
    }

    #[test]
    fn snapshot_written_at_join_completion_resumes_awaiting_assignment() {
        let sim = completing(&["c1", "c2"]);
        let snap = sim.persisted.last().unwrap().clone();
        assert_eq!(snap.state, CompletingRebalance);
        assert_eq!(snap.generation_id, 1);

        let (g2, fx) = Group::from_snapshot(snap, cfg(3_000), 100_000).unwrap();
        let mut replay = Sim::new(cfg(3_000));
        replay.g = g2;
        replay.now = 100_000;
        replay.apply(&fx);
        assert_eq!(replay.timers[&TimerKind::PendingSync], 130_000);
        replay.sync(sreq("c2-u2", 1, vec![]));
        let fx = replay.sync(sreq("c1-u1", 1, vec![("c2-u2".into(), b"p".to_vec())]));
        assert_eq!(replay.g.state(), Stable);
        assert_eq!(
            released_syncs(&fx)["c2-u2"].as_ref().unwrap().assignment,
            b"p"
        );
        assert!(!replay.timers.contains_key(&TimerKind::PendingSync));
    }

    #[test]
    fn snapshot_of_empty_group_and_invalid_snapshots() {
        let (mut sim, ids) = stable(&["c1"]);
        assert!(sim.leave(leave_of(&[&ids[0]])).0.is_ok());
        let snap = sim.persisted.last().unwrap().clone();
        assert_eq!(
            (snap.state, snap.generation_id, snap.members.len()),
            (Empty, 2, 0)
        );
        let (g2, fx) = Group::from_snapshot(snap.clone(), cfg(3_000), 5).unwrap();
        assert_eq!((g2.state(), g2.generation_id()), (Empty, 2));
        assert!(fx.is_empty());

        let stable = {
            let mut s = Sim::new(cfg(3_000));
            s.form_stable(&["c1", "c2"]);
            s.g.snapshot()
        };
        let mut no_leader = stable.clone();
        no_leader.leader_id = Some("ghost".into());
        let mut duplicate = stable.clone();
        duplicate.members[1].member_id = duplicate.members[0].member_id.clone();
        let mut empty_with_members = stable.clone();
        empty_with_members.state = Empty;
        let mut dead = snap;
        dead.state = Dead;
        let mut unsupported = stable.clone();
        unsupported.protocol_name = Some("roundrobin".into());
        for bad in [no_leader, duplicate, empty_with_members, dead, unsupported] {
            assert!(Group::from_snapshot(bad, cfg(3_000), 0).is_err());
        }
    }

    // ----- timer robustness --------------------------------------------------

    #[test]
    fn early_or_stale_timer_deliveries_are_harmless() {
        let (mut sim, ids) = stable(&["c1"]);
        let deadline = sim.timers[&session(&ids[0])];
        // Early: re-armed at the real deadline, member kept.
        let fx = sim.g.timer_fired(session(&ids[0]), deadline - 1);
        assert_eq!(
            fx,
            [Effect::ScheduleTimer {
                kind: session(&ids[0]),
                deadline_ms: deadline
            }]
        );
        assert_eq!(sim.g.member_count(), 1);
        // Timers that are not armed do nothing.
        for kind in [
            TimerKind::RebalanceTimeout,
            TimerKind::InitialRebalanceDelay,
            TimerKind::PendingSync,
            TimerKind::PendingMember("x".into()),
            session("x"),
        ] {
            assert!(sim.g.timer_fired(kind, deadline + 100_000).is_empty());
        }
        assert_eq!(sim.g.state(), Stable);
    }

    #[test]
    fn persist_failure_abandons_the_generation() {
        let (mut sim, ids) = stable(&["c1", "c2"]);
        let fx = sim.g.persist_failed(sim.now);
        sim.apply(&fx);
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(
            sim.heartbeat(&ids[1], 1),
            Err(GroupError::RebalanceInProgress)
        );
    }
}
