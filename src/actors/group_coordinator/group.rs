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
//! # Why this file is long
//!
//! About 2,300 lines outside its tests, on purpose: it is one state machine over
//! one struct, and Kafka's rebalance rules (JoinGroup for new, known and static
//! members, the initial delay, completing the join, SyncGroup, sessions,
//! LeaveGroup, the pending-sync and rebalance timeouts) call each other's private
//! steps on the same private fields. Cut into files, those steps would all become
//! `pub(super)` and every rule would be read across several files; kept together,
//! the file reads top to bottom in the order of a rebalance, with the types first
//! and the scenario tests (one per Kafka behaviour) at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Kafka's `NewMemberJoinTimeoutMs`: how long a member that has never completed
/// a JoinGroup may stay parked. Its socket is muted while parked, so a client
/// that gave up cannot be detected any other way; without this, retried
/// JoinGroups would pile up defunct members for the whole rebalance.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

// ---------------------------------------------------------------------------
// States and transitions
// ---------------------------------------------------------------------------

/// Lifecycle state of a classic consumer group, named as Kafka names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum GroupState {
    /// No members. Offsets may still be committed ("simple" consumers).
    Empty,
    /// A rebalance started; waiting for members to (re)send JoinGroup.
    PreparingRebalance,
    /// JoinGroup answered; waiting for the leader's SyncGroup with the assignment.
    CompletingRebalance,
    /// Assignment distributed; members heartbeat.
    Stable,
    /// Deleted or unloaded (moved to another coordinator). Terminal.
    Dead,
}

impl GroupState {
    /// Every state, for exhaustive iteration.
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];

    /// The state name exactly as Kafka spells it in DescribeGroups / ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transition table of Kafka's group coordinator.
///
/// * `Empty` → `PreparingRebalance` (first JoinGroup) | `Dead` (delete / unload)
/// * `PreparingRebalance` → `CompletingRebalance` (join completed with members)
///   | `Empty` (join completed with nobody left) | `Dead`
/// * `CompletingRebalance` → `Stable` (leader's assignment stored)
///   | `PreparingRebalance` (membership changed before the assignment arrived) | `Dead`
/// * `Stable` → `PreparingRebalance` | `Dead`
/// * `Dead` → nothing: a dead group object is never reused.
///
/// Self-transitions are not in the table: no operation needs them, so asking
/// for one indicates a bug.
pub fn can_transition(from: GroupState, to: GroupState) -> bool {
    use GroupState::*;
    matches!(
        (from, to),
        (Empty, PreparingRebalance)
            | (Empty, Dead)
            | (PreparingRebalance, CompletingRebalance)
            | (PreparingRebalance, Empty)
            | (PreparingRebalance, Dead)
            | (CompletingRebalance, PreparingRebalance)
            | (CompletingRebalance, Stable)
            | (CompletingRebalance, Dead)
            | (Stable, PreparingRebalance)
            | (Stable, Dead)
    )
}

/// A transition that [`can_transition`] forbids was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: GroupState,
    pub to: GroupState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "illegal group state transition {} -> {}",
            self.from, self.to
        )
    }
}

impl std::error::Error for IllegalTransition {}

/// The outcome of a step of an operation: a refused transition stops the operation there
/// and is propagated to its public entry point (see [`Effect::Refused`]).
type Step = Result<(), IllegalTransition>;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Kafka protocol errors produced by group operations, with their wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupError {
    /// `UNKNOWN_SERVER_ERROR` (-1): an internal invariant was violated.
    UnknownServerError,
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14): returned by the actor while replaying.
    CoordinatorLoadInProgress,
    /// `COORDINATOR_NOT_AVAILABLE` (15): the group is Dead (deleted or being
    /// unloaded); the client rediscovers the coordinator and retries.
    CoordinatorNotAvailable,
    /// `NOT_COORDINATOR` (16): answers parked requests when the group is unloaded.
    NotCoordinator,
    /// `ILLEGAL_GENERATION` (22): the request carries a stale GenerationId.
    IllegalGeneration,
    /// `INCONSISTENT_GROUP_PROTOCOL` (23): ProtocolType differs, or no protocol is
    /// supported by every member.
    InconsistentGroupProtocol,
    /// `UNKNOWN_MEMBER_ID` (25).
    UnknownMemberId,
    /// `INVALID_SESSION_TIMEOUT` (26): outside the broker's min/max bounds.
    InvalidSessionTimeout,
    /// `REBALANCE_IN_PROGRESS` (27): the member must rejoin.
    RebalanceInProgress,
    /// `NON_EMPTY_GROUP` (68): DeleteGroups on a group with members.
    NonEmptyGroup,
    /// `GROUP_ID_NOT_FOUND` (69).
    GroupIdNotFound,
    /// `MEMBER_ID_REQUIRED` (79, KIP-394): rejoin with the MemberId handed out.
    MemberIdRequired,
    /// `GROUP_MAX_SIZE_REACHED` (81).
    GroupMaxSizeReached,
    /// `FENCED_INSTANCE_ID` (82, KIP-345): another process now owns this
    /// GroupInstanceId.
    FencedInstanceId,
    /// `INVALID_PRODUCER_EPOCH` (47): TxnOffsetCommit from a producer a newer one fenced
    /// (the `__consumer_offsets` partition refused its epoch).
    InvalidProducerEpoch,
    /// `UNSTABLE_OFFSET_COMMIT` (88): OffsetFetch with RequireStable while a transaction
    /// holds an uncommitted offset for the partition; the client retries.
    UnstableOffsetCommit,
}

impl GroupError {
    /// The Kafka wire error code.
    pub fn code(&self) -> i16 {
        match self {
            GroupError::UnknownServerError => -1,
            GroupError::CoordinatorLoadInProgress => 14,
            GroupError::CoordinatorNotAvailable => 15,
            GroupError::NotCoordinator => 16,
            GroupError::IllegalGeneration => 22,
            GroupError::InconsistentGroupProtocol => 23,
            GroupError::UnknownMemberId => 25,
            GroupError::InvalidSessionTimeout => 26,
            GroupError::RebalanceInProgress => 27,
            GroupError::NonEmptyGroup => 68,
            GroupError::GroupIdNotFound => 69,
            GroupError::MemberIdRequired => 79,
            GroupError::GroupMaxSizeReached => 81,
            GroupError::FencedInstanceId => 82,
            GroupError::InvalidProducerEpoch => 47,
            GroupError::UnstableOffsetCommit => 88,
        }
    }

    /// The Kafka error name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            GroupError::UnknownServerError => "UNKNOWN_SERVER_ERROR",
            GroupError::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            GroupError::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            GroupError::NotCoordinator => "NOT_COORDINATOR",
            GroupError::IllegalGeneration => "ILLEGAL_GENERATION",
            GroupError::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            GroupError::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            GroupError::InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            GroupError::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            GroupError::NonEmptyGroup => "NON_EMPTY_GROUP",
            GroupError::GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            GroupError::MemberIdRequired => "MEMBER_ID_REQUIRED",
            GroupError::GroupMaxSizeReached => "GROUP_MAX_SIZE_REACHED",
            GroupError::FencedInstanceId => "FENCED_INSTANCE_ID",
            GroupError::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            GroupError::UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
        }
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for GroupError {}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Broker settings that shape group behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms` (Kafka default 3000). The first
    /// rebalance of an Empty group waits this long so that a fleet of consumers
    /// starting together lands in one generation instead of one per arrival.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` (Kafka default 6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (Kafka default 1800000).
    pub max_session_timeout_ms: i32,
    /// `group.max.size`; `None` means unlimited (Kafka's default is `Int.MaxValue`).
    pub max_size: Option<usize>,
    /// See [`NEW_MEMBER_JOIN_TIMEOUT_MS`]; a field only so tests can shorten it.
    pub new_member_join_timeout_ms: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: None,
            new_member_join_timeout_ms: NEW_MEMBER_JOIN_TIMEOUT_MS,
        }
    }
}

// ---------------------------------------------------------------------------
// Requests, responses, effects
// ---------------------------------------------------------------------------

/// `(protocol name, protocol metadata)` pairs in the client's preference order,
/// e.g. `[("cooperative-sticky", ..), ("range", ..)]` for a consumer. The broker
/// never interprets the metadata bytes; it only hands them to the leader.
pub type ProtocolList = Vec<(String, Vec<u8>)>;

/// The timers the actor keeps for a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// `group.initial.rebalance.delay.ms` window of a group's first rebalance
    /// out of Empty (Kafka's `InitialDelayedJoin`).
    InitialRebalanceDelay,
    /// Deadline for members to rejoin during PreparingRebalance; the largest
    /// RebalanceTimeoutMs among members (Kafka's `DelayedJoin`).
    RebalanceTimeout,
    /// Deadline for members to send SyncGroup after the join completed; also the
    /// largest RebalanceTimeoutMs (Kafka's `DelayedSync`). Without it a leader
    /// that never sends its assignment would wedge the group in
    /// CompletingRebalance, since its members' heartbeats still succeed.
    PendingSync,
    /// A member's session (or, for a member that never completed a join, the
    /// new-member join timeout).
    MemberSession(String),
    /// A MemberId handed out with MEMBER_ID_REQUIRED that has not joined yet.
    PendingMember(String),
}

/// A JoinGroup request as the coordinator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// GroupInstanceId (KIP-345 static membership), JoinGroup v5+.
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: ProtocolList,
    pub session_timeout_ms: i32,
    /// Negative means "not sent" (JoinGroup v0): the session timeout is used,
    /// which is what Kafka does for v0 clients.
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+ (KIP-394): a dynamic member without a MemberId is first
    /// given one with MEMBER_ID_REQUIRED, so that retries after a lost response
    /// do not each create a new member.
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814): the client understands `SkipAssignment`.
    pub supports_skip_assignment: bool,
}

/// One entry of the member list the leader receives in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Vec<u8>,
}

/// A successful JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedGeneration {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    /// KIP-814: the receiver is the leader but must not compute a new assignment
    /// (a static leader rejoined without changing anything).
    pub skip_assignment: bool,
    /// Filled only for the leader, which computes the assignment from it.
    pub members: Vec<JoinMember>,
}

/// A JoinGroup answer. `member_id` is always meaningful: on MEMBER_ID_REQUIRED
/// it carries the id the client must rejoin with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub member_id: String,
    pub result: Result<JoinedGeneration, GroupError>,
}

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    /// SyncGroup v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    /// SyncGroup v5+: checked against the group's when present.
    pub protocol_name: Option<String>,
    /// `(MemberId, assignment)`; only the leader's are used.
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A successful SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAssignment {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

/// A SyncGroup answer.
pub type SyncResult = Result<SyncAssignment, GroupError>;

/// One member named in a (batched, KIP-345) LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMember {
    /// Empty when an admin removes a static member by GroupInstanceId alone.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// Per-member outcome of a LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLeaveResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub result: Result<(), GroupError>,
}

/// A LeaveGroup answer: a top-level error, or one result per named member.
pub type LeaveResult = Result<Vec<MemberLeaveResult>, GroupError>;

/// The answer to the request being handled by the current call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Join(JoinResponse),
    Sync(SyncResult),
    Heartbeat(Result<(), GroupError>),
    Leave(LeaveResult),
}

/// Something the actor must do, in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer the request handled by this call.
    Reply(Reply),
    /// Keep the calling JoinGroup's reply handle under `member_id`.
    ParkJoin { member_id: String },
    /// Keep the calling SyncGroup's reply handle under `member_id`.
    ParkSync { member_id: String },
    /// Answer the JoinGroup parked under `member_id`.
    JoinResponse {
        member_id: String,
        response: JoinResponse,
    },
    /// Answer the SyncGroup parked under `member_id`.
    SyncResponse {
        member_id: String,
        result: SyncResult,
    },
    /// Arm (or re-arm) a timer.
    ScheduleTimer { kind: TimerKind, deadline_ms: u64 },
    /// Disarm a timer.
    CancelTimer { kind: TimerKind },
    /// Write this metadata before executing any later effect.
    Persist(GroupMetadataSnapshot),
    /// The operation asked for a transition the table forbids (a bug in this module): it
    /// stopped there, the group keeps the last state it legally reached, and the actor logs
    /// this. The effects before it are carried out.
    Refused(IllegalTransition),
}

// ---------------------------------------------------------------------------
// Members and the group
// ---------------------------------------------------------------------------

/// A member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Supported protocols in client preference order.
    pub protocols: ProtocolList,
    /// Assignment of the current generation (empty until the leader's SyncGroup).
    pub assignment: Vec<u8>,
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

/// DescribeGroups view of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Metadata for the chosen protocol; empty unless the group is Stable.
    pub metadata: Vec<u8>,
    /// Empty unless the group is Stable.
    pub assignment: Vec<u8>,
}

/// DescribeGroups view of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    /// Empty unless the group is Stable (Kafka reports no protocol mid-rebalance).
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One member as persisted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// All supported protocols (subscription metadata), preference order. Kafka
    /// stores only the chosen one; keeping all lets the protocol vote after a
    /// replay see the same choices as before.
    pub protocols: ProtocolList,
    pub assignment: Vec<u8>,
}

/// Group metadata as persisted by the actor and replayed by
/// [`Group::from_snapshot`]. Members are listed in join order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMetadataSnapshot {
    pub group_id: String,
    /// State at write time. Writes emitted as [`Effect::Persist`] are only ever
    /// in Empty, CompletingRebalance (join done, assignment pending) or Stable.
    pub state: GroupState,
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: Vec<MemberSnapshot>,
    /// Wall-clock time the group entered `state`, stamped by the coordinator when it writes
    /// the snapshot (Kafka's currentStateTimestamp); offset expiry of Empty groups counts
    /// from it. Absent in snapshots written before it existed.
    #[serde(default)]
    pub current_state_timestamp_ms: Option<i64>,
}

/// A snapshot that cannot describe a live group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSnapshot(pub String);

impl fmt::Display for InvalidSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid group snapshot: {}", self.0)
    }
}

impl std::error::Error for InvalidSnapshot {}

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

    // ----- JoinGroup -------------------------------------------------------

    /// Handle a JoinGroup. `next_id` yields a fresh unique suffix (a UUID in
    /// production, a counter in tests); new MemberIds are
    /// `{GroupInstanceId or ClientId}-{suffix}` as in Kafka.
    pub fn join(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        next_id: &mut dyn FnMut() -> String,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let member_id = req.member_id.clone();
        let step = self
            .join_inner(req, now_ms, next_id, &mut fx)
            .and_then(|()| {
                // Kafka re-checks the join after every JoinGroup: this one may have been
                // the last member the rebalance was waiting for.
                self.try_complete_join(now_ms, &mut fx)
            });
        conclude(fx, step, |e| {
            Reply::Join(JoinResponse {
                member_id,
                result: Err(e),
            })
        })
    }

    fn join_inner(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        next_id: &mut dyn FnMut() -> String,
        fx: &mut Vec<Effect>,
    ) -> Step {
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            join_reply(fx, req.member_id, Err(GroupError::InvalidSessionTimeout));
            return Ok(());
        }
        if self.state == GroupState::Dead {
            join_reply(fx, req.member_id, Err(GroupError::CoordinatorNotAvailable));
            return Ok(());
        }
        if !self.accept_joining_member(&req) {
            // Kafka evicts a known member that is refused here: the group may
            // have been over the limit after `group.max.size` was lowered.
            if self.members.contains_key(&req.member_id) {
                self.remove_member_and_update(&req.member_id, now_ms, fx)?;
            }
            join_reply(fx, String::new(), Err(GroupError::GroupMaxSizeReached));
            return Ok(());
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, now_ms, next_id, fx)?;
        } else {
            self.join_known_member(req, now_ms, fx)?;
        }

        Ok(())
    }

    /// `group.max.size` admission. Mid-rebalance the number of members that
    /// already rejoined is what counts, so a shrunken limit keeps the earliest
    /// rejoiners and turns away the rest. A static member replacing its own
    /// GroupInstanceId does not grow the group and is always admitted.
    fn accept_joining_member(&self, req: &JoinRequest) -> bool {
        let Some(max) = self.config.max_size else {
            return true;
        };
        let replacing_static = req.member_id.is_empty()
            && req
                .group_instance_id
                .as_ref()
                .is_some_and(|i| self.static_members.contains_key(i));
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                replacing_static
                    || self
                        .members
                        .get(&req.member_id)
                        .is_some_and(|m| m.awaiting_join)
                    || self.members.values().filter(|m| m.awaiting_join).count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                replacing_static
                    || self.members.contains_key(&req.member_id)
                    || self.members.len() < max
            }
        }
    }

    /// Whether a member announcing `protocols` can be in this group. Kafka
    /// requires the group's ProtocolType and at least one protocol every member
    /// supports. The member being updated (`exclude`) is left out of the
    /// comparison, since its old protocol list is about to be replaced.
    fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &ProtocolList,
        exclude: Option<&str>,
    ) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| Some(m.member_id.as_str()) != exclude)
            .collect();
        protocols
            .iter()
            .any(|(name, _)| others.iter().all(|m| m.supports(name)))
    }

    fn join_new_member(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        next_id: &mut dyn FnMut() -> String,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let replaced = req
            .group_instance_id
            .as_ref()
            .and_then(|i| self.static_members.get(i))
            .cloned();
        if !self.supports_protocols(&req.protocol_type, &req.protocols, replaced.as_deref()) {
            join_reply(
                fx,
                String::new(),
                Err(GroupError::InconsistentGroupProtocol),
            );
            return Ok(());
        }
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let new_id = format!("{prefix}-{}", next_id());
        if req.group_instance_id.is_some() {
            // Static members skip MEMBER_ID_REQUIRED: the GroupInstanceId already
            // identifies them across retries.
            match replaced {
                Some(old_id) => {
                    self.update_static_member_and_rebalance(&old_id, new_id, req, now_ms, fx)?
                }
                None => self.add_member_and_rebalance(new_id, req, now_ms, fx)?,
            }
        } else if req.require_known_member_id {
            let deadline = now_ms + ms(req.session_timeout_ms);
            self.pending_members.insert(new_id.clone(), deadline);
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::PendingMember(new_id.clone()),
                deadline_ms: deadline,
            });
            join_reply(fx, new_id, Err(GroupError::MemberIdRequired));
        } else {
            self.add_member_and_rebalance(new_id, req, now_ms, fx)?;
        }

        Ok(())
    }

    fn join_known_member(&mut self, req: JoinRequest, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        let member_id = req.member_id.clone();
        let exclude = self
            .members
            .contains_key(&member_id)
            .then_some(member_id.as_str());
        if !self.supports_protocols(&req.protocol_type, &req.protocols, exclude) {
            join_reply(fx, member_id, Err(GroupError::InconsistentGroupProtocol));
            return Ok(());
        }
        if self.pending_members.contains_key(&member_id) {
            if req.group_instance_id.is_some() {
                // Pending ids are only ever handed to dynamic members; Kafka
                // treats this as an internal error too.
                join_reply(fx, member_id, Err(GroupError::UnknownServerError));
                return Ok(());
            }
            self.add_member_and_rebalance(member_id, req, now_ms, fx)?;
            return Ok(());
        }
        if let Err(e) = self.validate_current_member(&member_id, req.group_instance_id.as_deref()) {
            join_reply(fx, member_id, Err(e));
            return Ok(());
        }
        let (unchanged, is_leader) = {
            let m = &self.members[&member_id];
            (m.protocols == req.protocols, self.is_leader(&member_id))
        };
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(req, now_ms, fx)?,
            GroupState::CompletingRebalance if unchanged => {
                // Most likely the member lost our JoinGroup response: repeat it.
                let result = self.current_generation(is_leader, None, false);
                join_reply(fx, member_id, Ok(result));
            }
            GroupState::CompletingRebalance => self.update_member_and_rebalance(req, now_ms, fx)?,
            GroupState::Stable if is_leader || !unchanged => {
                // A leader's JoinGroup always rebalances: that is how a consumer
                // leader reacts to topic metadata changes that do not alter any
                // member's metadata.
                self.update_member_and_rebalance(req, now_ms, fx)?
            }
            GroupState::Stable => {
                let result = self.current_generation(false, None, false);
                join_reply(fx, member_id, Ok(result));
            }
            GroupState::Empty | GroupState::Dead => {
                join_reply(fx, member_id, Err(GroupError::UnknownMemberId));
            }
        }

        Ok(())
    }

    /// The JoinGroup answer for the current generation.
    fn current_generation(
        &self,
        with_members: bool,
        leader_override: Option<String>,
        skip_assignment: bool,
    ) -> JoinedGeneration {
        JoinedGeneration {
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: leader_override
                .or_else(|| self.leader_id.clone())
                .unwrap_or_default(),
            skip_assignment,
            members: if with_members {
                self.join_members()
            } else {
                Vec::new()
            },
        }
    }

    /// Every member's metadata for the chosen protocol, in join order.
    fn join_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members()
            .into_iter()
            .map(|m| JoinMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol),
            })
            .collect()
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    fn update_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let Some(m) = self.members.get_mut(&req.member_id) else {
            join_reply(fx, req.member_id, Err(GroupError::UnknownMemberId));
            return Ok(());
        };
        m.rebalance_timeout_ms = effective_rebalance_timeout(&req);
        m.session_timeout_ms = req.session_timeout_ms;
        m.protocols = req.protocols;
        m.awaiting_join = true;
        fx.push(Effect::ParkJoin {
            member_id: req.member_id,
        });
        self.maybe_prepare_rebalance(now_ms, fx)?;

        Ok(())
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        // Only arrivals during generation 0's delay window extend it.
        if self.state == GroupState::PreparingRebalance && self.generation_id == 0 {
            self.new_member_added = true;
        }
        if self.pending_members.remove(&member_id).is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::PendingMember(member_id.clone()),
            });
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        let join_seq = self.next_join_seq;
        self.next_join_seq += 1;
        let deadline = now_ms + self.config.new_member_join_timeout_ms;
        let rebalance_timeout_ms = effective_rebalance_timeout(&req);
        if let Some(instance) = &req.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms,
                protocols: req.protocols,
                assignment: Vec::new(),
                awaiting_join: true,
                awaiting_sync: false,
                last_heartbeat_ms: now_ms,
                is_new: true,
                join_seq,
                session_deadline_ms: Some(deadline),
            },
        );
        fx.push(Effect::ParkJoin {
            member_id: member_id.clone(),
        });
        fx.push(Effect::ScheduleTimer {
            kind: TimerKind::MemberSession(member_id),
            deadline_ms: deadline,
        });
        self.maybe_prepare_rebalance(now_ms, fx)?;

        Ok(())
    }

    /// KIP-345: a known GroupInstanceId rejoined without a MemberId, i.e. the
    /// process restarted. The new MemberId takes over the old member's place
    /// (and its assignment); the old MemberId is fenced from now on.
    fn update_static_member_and_rebalance(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let leader_before = self.leader_id.clone();
        self.replace_static_member(old_id, &new_id, fx);
        self.refresh_session(&new_id, now_ms, fx);
        if let Some(m) = self.members.get_mut(&new_id) {
            m.protocols = req.protocols.clone();
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = effective_rebalance_timeout(&req);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
        }
        match self.state {
            GroupState::Stable => {
                if self.select_protocol() == self.protocol_name {
                    // Nothing the assignment depends on changed: no rebalance.
                    // The MemberId swap must be durable before the member learns
                    // its new id, or a failover would fence the live process.
                    fx.push(Effect::Persist(self.snapshot()));
                    let is_leader = self.is_leader(&new_id);
                    // Pre-v9 clients get the *old* leader id, so a restarted
                    // leader acts as a follower instead of recomputing a
                    // trivial assignment; v9+ clients are told they lead but
                    // must skip the assignment (KIP-814).
                    let result = if req.supports_skip_assignment {
                        self.current_generation(is_leader, None, is_leader)
                    } else {
                        self.current_generation(
                            false,
                            Some(leader_before.unwrap_or_default()),
                            false,
                        )
                    };
                    join_reply(fx, new_id, Ok(result));
                } else {
                    self.park_join(&new_id, fx);
                    self.maybe_prepare_rebalance(now_ms, fx)?;
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already be computing an assignment keyed by the
                // old MemberId; only a new round keeps ids and assignment aligned.
                self.park_join(&new_id, fx);
                self.prepare_rebalance(now_ms, fx)?;
            }
            GroupState::PreparingRebalance => self.park_join(&new_id, fx),
            GroupState::Empty | GroupState::Dead => {
                // A known static member implies members, hence neither state.
                join_reply(fx, new_id, Err(GroupError::UnknownServerError));
            }
        }

        Ok(())
    }

    fn park_join(&mut self, member_id: &str, fx: &mut Vec<Effect>) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.awaiting_join = true;
            fx.push(Effect::ParkJoin {
                member_id: member_id.to_string(),
            });
        }
    }

    fn replace_static_member(&mut self, old_id: &str, new_id: &str, fx: &mut Vec<Effect>) {
        let Some(mut m) = self.members.remove(old_id) else {
            return;
        };
        // Fence the old process immediately if it is waiting on us, so two
        // processes never both believe they own the instance.
        m.fail_parked(old_id, old_id.to_string(), GroupError::FencedInstanceId, fx);
        if m.session_deadline_ms.take().is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::MemberSession(old_id.to_string()),
            });
        }
        m.member_id = new_id.to_string();
        if self.is_leader(old_id) {
            self.leader_id = Some(new_id.to_string());
        }
        if let Some(instance) = &m.group_instance_id {
            self.static_members
                .insert(instance.clone(), new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.members.insert(new_id.to_string(), m);
    }

    // ----- rebalance machinery --------------------------------------------

    fn maybe_prepare_rebalance(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
        ) {
            self.prepare_rebalance(now_ms, fx)?;
        }

        Ok(())
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| ms(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn prepare_rebalance(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for an assignment of a generation that will never
            // be completed must rejoin instead.
            for m in self.members.values_mut() {
                m.assignment.clear();
            }
            for id in self.member_ids_in_join_order() {
                if self.members[&id].awaiting_sync {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.awaiting_sync = false;
                    }
                    fx.push(Effect::SyncResponse {
                        member_id: id.clone(),
                        result: Err(GroupError::RebalanceInProgress),
                    });
                    self.refresh_session(&id, now_ms, fx);
                }
            }
        }
        self.clear_pending_sync(fx);
        let rebalance_timeout = self.rebalance_timeout_ms();
        let from_empty = self.state == GroupState::Empty;
        self.go(GroupState::PreparingRebalance)?;
        if from_empty {
            let delay = self.config.initial_rebalance_delay_ms;
            if delay == 0 {
                self.complete_join(now_ms, fx)?;
            } else {
                self.arm_join_timer(
                    JoinTimer::InitialDelay {
                        deadline_ms: now_ms + delay,
                        delay_ms: delay,
                        remaining_ms: rebalance_timeout.saturating_sub(delay),
                    },
                    fx,
                );
            }
        } else if self.has_all_members_joined() {
            self.complete_join(now_ms, fx)?;
        } else {
            self.arm_join_timer(
                JoinTimer::Rebalance {
                    deadline_ms: now_ms + rebalance_timeout,
                },
                fx,
            );
        }

        Ok(())
    }

    fn arm_join_timer(&mut self, timer: JoinTimer, fx: &mut Vec<Effect>) {
        if let Some(old) = self.join_timer.take() {
            if old.kind() != timer.kind() {
                fx.push(Effect::CancelTimer { kind: old.kind() });
            }
        }
        fx.push(Effect::ScheduleTimer {
            kind: timer.kind(),
            deadline_ms: timer.deadline_ms(),
        });
        self.join_timer = Some(timer);
    }

    fn disarm_join_timer(&mut self, fx: &mut Vec<Effect>) {
        if let Some(old) = self.join_timer.take() {
            fx.push(Effect::CancelTimer { kind: old.kind() });
        }
    }

    fn clear_pending_sync(&mut self, fx: &mut Vec<Effect>) {
        self.pending_sync.clear();
        if self.pending_sync_deadline_ms.take().is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::PendingSync,
            });
        }
    }

    fn drop_pending_sync(&mut self, member_id: &str, fx: &mut Vec<Effect>) {
        if self.pending_sync.remove(member_id) && self.pending_sync.is_empty() {
            self.clear_pending_sync(fx);
        }
    }

    /// Every member has rejoined and no MEMBER_ID_REQUIRED id is outstanding
    /// (a pending member is expected to rejoin imminently, so Kafka waits).
    fn has_all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty()
    }

    /// Complete the join early if nobody is missing. The initial delay window
    /// never completes early: its purpose is to wait for members not yet seen.
    fn try_complete_join(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if self.state == GroupState::PreparingRebalance
            && !matches!(self.join_timer, Some(JoinTimer::InitialDelay { .. }))
            && self.has_all_members_joined()
        {
            self.complete_join(now_ms, fx)?;
        }

        Ok(())
    }

    /// End of the join phase: start the next generation with whoever rejoined.
    fn complete_join(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        self.disarm_join_timer(fx);
        self.new_member_added = false;

        // Dynamic members that did not rejoin are gone. Static members are kept
        // (KIP-345): a restarting static process should get its old assignment
        // back, and its session timeout will remove it if it never returns.
        let laggards: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in laggards {
            self.remove_member(&id, fx);
        }

        let leader_rejoined = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join);
        if !leader_rejoined {
            match self.members().into_iter().find(|m| m.awaiting_join) {
                Some(m) => self.leader_id = Some(m.member_id.clone()),
                None if !self.members.is_empty() => {
                    // Only static members that have not rejoined remain: nobody
                    // to lead, so wait another round (Kafka does the same).
                    let deadline = now_ms + self.rebalance_timeout_ms();
                    self.arm_join_timer(
                        JoinTimer::Rebalance {
                            deadline_ms: deadline,
                        },
                        fx,
                    );
                    return Ok(());
                }
                None => self.leader_id = None,
            }
        }

        // GenerationIds are compared only for equality; wrap past i32::MAX to 1
        // rather than overflow.
        self.generation_id = self.generation_id.checked_add(1).unwrap_or(1);
        self.pending_sync.clear();

        if self.members.is_empty() {
            self.protocol_name = None;
            self.go(GroupState::Empty)?;
            fx.push(Effect::Persist(self.snapshot()));
            return Ok(());
        }

        let chosen = self.select_protocol();
        debug_assert!(chosen.is_some(), "join validation keeps a common protocol");
        self.protocol_name = chosen.or_else(|| {
            self.members()
                .first()
                .and_then(|m| m.protocols.first())
                .map(|(name, _)| name.clone())
        });
        // The previous generation's assignment is meaningless now; clearing it
        // keeps the persisted snapshot honest.
        for m in self.members.values_mut() {
            m.assignment.clear();
        }
        self.go(GroupState::CompletingRebalance)?;
        fx.push(Effect::Persist(self.snapshot()));

        let leader = self.leader_id.clone().unwrap_or_default();
        let everyone = self.join_members();
        for id in self.member_ids_in_join_order() {
            let was_parked = match self.members.get_mut(&id) {
                Some(m) => {
                    let parked = m.awaiting_join;
                    m.awaiting_join = false;
                    m.is_new = false;
                    parked
                }
                None => false,
            };
            if was_parked {
                fx.push(Effect::JoinResponse {
                    member_id: id.clone(),
                    response: JoinResponse {
                        member_id: id.clone(),
                        result: Ok(JoinedGeneration {
                            generation_id: self.generation_id,
                            protocol_type: self.protocol_type.clone(),
                            protocol_name: self.protocol_name.clone(),
                            leader_id: leader.clone(),
                            skip_assignment: false,
                            members: if id == leader {
                                everyone.clone()
                            } else {
                                Vec::new()
                            },
                        }),
                    },
                });
            }
            self.refresh_session(&id, now_ms, fx);
            self.pending_sync.insert(id);
        }
        let deadline = now_ms + self.rebalance_timeout_ms();
        self.pending_sync_deadline_ms = Some(deadline);
        fx.push(Effect::ScheduleTimer {
            kind: TimerKind::PendingSync,
            deadline_ms: deadline,
        });

        Ok(())
    }

    /// Kafka's protocol vote: among the protocols every member supports, each
    /// member votes for the first one in its own preference order, and the most
    /// votes wins. Ties (which Kafka breaks arbitrarily) go to the candidate
    /// with the best summed preference rank, then to the smallest name, so the
    /// outcome is deterministic.
    fn select_protocol(&self) -> Option<String> {
        let members: Vec<&Member> = self.members.values().collect();
        let first = members.first()?;
        let mut candidates: Vec<&str> = Vec::new();
        for (name, _) in &first.protocols {
            if !candidates.contains(&name.as_str()) && members.iter().all(|m| m.supports(name)) {
                candidates.push(name);
            }
        }
        // (votes, summed preference rank) per candidate.
        let mut tally: BTreeMap<&str, (usize, usize)> =
            candidates.iter().map(|c| (*c, (0, 0))).collect();
        for m in &members {
            if let Some((vote, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| tally.contains_key(n.as_str()))
            {
                if let Some(entry) = tally.get_mut(vote.as_str()) {
                    entry.0 += 1;
                }
            }
            for (candidate, entry) in tally.iter_mut() {
                let rank = m
                    .protocols
                    .iter()
                    .position(|(n, _)| n == candidate)
                    .unwrap_or(usize::MAX / 2);
                entry.1 = entry.1.saturating_add(rank);
            }
        }
        tally
            .into_iter()
            .max_by(|(a_name, (a_votes, a_rank)), (b_name, (b_votes, b_rank))| {
                a_votes
                    .cmp(b_votes)
                    .then(b_rank.cmp(a_rank))
                    .then(b_name.cmp(a_name))
            })
            .map(|(name, _)| name.to_string())
    }

    fn member_ids_in_join_order(&self) -> Vec<String> {
        self.members()
            .into_iter()
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// Record liveness and push the session deadline out.
    fn refresh_session(&mut self, member_id: &str, now_ms: u64, fx: &mut Vec<Effect>) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now_ms;
            let deadline = now_ms + ms(m.session_timeout_ms);
            m.session_deadline_ms = Some(deadline);
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::MemberSession(member_id.to_string()),
                deadline_ms: deadline,
            });
        }
    }

    /// Take a member out of every index. Parked requests are answered with
    /// UNKNOWN_MEMBER_ID so no reply handle is ever leaked; a still-running
    /// client then rejoins as a new member.
    fn remove_member(&mut self, member_id: &str, fx: &mut Vec<Effect>) -> Option<Member> {
        let mut m = self.members.remove(member_id)?;
        m.fail_parked(member_id, String::new(), GroupError::UnknownMemberId, fx);
        if m.session_deadline_ms.take().is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::MemberSession(member_id.to_string()),
            });
        }
        if let Some(instance) = &m.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.drop_pending_sync(member_id, fx);
        if self.is_leader(member_id) {
            self.leader_id = self.members().first().map(|m| m.member_id.clone());
        }
        Some(m)
    }

    /// Remove a member and let the group react: a settled group rebalances, a
    /// rebalancing group may now have everyone it waits for.
    fn remove_member_and_update(
        &mut self,
        member_id: &str,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        if self.remove_member(member_id, fx).is_none() {
            return Ok(());
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now_ms, fx)?
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, fx)?,
            GroupState::Empty | GroupState::Dead => {}
        }

        Ok(())
    }

    /// Kafka's member check: if a GroupInstanceId is given it must map to this
    /// MemberId (another id means this process was replaced: FENCED_INSTANCE_ID);
    /// otherwise the MemberId must be a member.
    fn validate_current_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        match group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(current) if current != member_id => Err(GroupError::FencedInstanceId),
                Some(_) => Ok(()),
                None => Err(GroupError::UnknownMemberId),
            },
            None if self.members.contains_key(member_id) => Ok(()),
            None => Err(GroupError::UnknownMemberId),
        }
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

    // ----- timers ----------------------------------------------------------

    /// A timer armed through [`Effect::ScheduleTimer`] expired.
    pub fn timer_fired(&mut self, kind: TimerKind, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        let step = self.timer_fired_inner(kind, now_ms, &mut fx);
        conclude(fx, step, |_| None::<Reply>)
    }

    fn timer_fired_inner(&mut self, kind: TimerKind, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if self.state == GroupState::Dead {
            return Ok(());
        }
        match kind {
            TimerKind::InitialRebalanceDelay | TimerKind::RebalanceTimeout => {
                self.join_timer_fired(kind, now_ms, fx)
            }
            TimerKind::PendingSync => self.pending_sync_fired(now_ms, fx),
            TimerKind::MemberSession(id) => self.session_fired(&id, now_ms, fx),
            TimerKind::PendingMember(id) => {
                let Some(&deadline) = self.pending_members.get(&id) else {
                    return Ok(());
                };
                if now_ms < deadline {
                    fx.push(Effect::ScheduleTimer {
                        kind: TimerKind::PendingMember(id),
                        deadline_ms: deadline,
                    });
                    return Ok(());
                }
                self.pending_members.remove(&id);
                self.try_complete_join(now_ms, fx)
            }
        }
    }

    fn join_timer_fired(&mut self, kind: TimerKind, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        let Some(timer) = self.join_timer else {
            return Ok(());
        };
        if timer.kind() != kind {
            return Ok(());
        }
        if now_ms < timer.deadline_ms() {
            fx.push(Effect::ScheduleTimer {
                kind,
                deadline_ms: timer.deadline_ms(),
            });
            return Ok(());
        }
        self.join_timer = None;
        if self.state != GroupState::PreparingRebalance {
            return Ok(());
        }
        match timer {
            // Kafka's InitialDelayedJoin: if someone arrived during this window,
            // wait another window, but never beyond the rebalance timeout in
            // total.
            JoinTimer::InitialDelay {
                delay_ms,
                remaining_ms,
                ..
            } if self.new_member_added && remaining_ms != 0 => {
                self.new_member_added = false;
                let next_delay = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                self.arm_join_timer(
                    JoinTimer::InitialDelay {
                        deadline_ms: now_ms + next_delay,
                        delay_ms: next_delay,
                        remaining_ms: remaining_ms.saturating_sub(delay_ms),
                    },
                    fx,
                );
            }
            _ => self.complete_join(now_ms, fx)?,
        }

        Ok(())
    }

    fn pending_sync_fired(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        let Some(deadline) = self.pending_sync_deadline_ms else {
            return Ok(());
        };
        if now_ms < deadline {
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::PendingSync,
                deadline_ms: deadline,
            });
            return Ok(());
        }
        self.pending_sync_deadline_ms = None;
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            return Ok(());
        }
        // Members that never asked for their assignment are presumed dead;
        // everyone else must rejoin so their partitions get redistributed.
        let missing: Vec<String> = self.pending_sync.iter().cloned().collect();
        for id in missing {
            self.remove_member(&id, fx);
        }
        self.prepare_rebalance(now_ms, fx)?;

        Ok(())
    }

    fn session_fired(&mut self, member_id: &str, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        let Some(m) = self.members.get_mut(member_id) else {
            return Ok(());
        };
        let Some(deadline) = m.session_deadline_ms else {
            return Ok(());
        };
        if now_ms < deadline {
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::MemberSession(member_id.to_string()),
                deadline_ms: deadline,
            });
            return Ok(());
        }
        m.session_deadline_ms = None;
        // An established member that is parked in JoinGroup or SyncGroup cannot
        // heartbeat, so its session is treated as satisfied; the rebalance and
        // pending-sync timeouts bound how long that lasts, and the session is
        // re-armed when the member is released. A member that never completed a
        // join gets no such grace (new-member join timeout).
        if !m.is_new && (m.awaiting_join || m.awaiting_sync) {
            return Ok(());
        }
        self.remove_member_and_update(member_id, now_ms, fx)?;

        Ok(())
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
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_current_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
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
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_current_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
        }
        Ok(())
    }

    // ----- DescribeGroups --------------------------------------------------

    /// DescribeGroups view. As in Kafka, protocol, member metadata and
    /// assignments are reported only for a Stable group: mid-rebalance they
    /// would describe a generation that is being replaced.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = self
            .members()
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata_for(&protocol)
                } else {
                    Vec::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Vec::new()
                },
            })
            .collect();
        GroupDescription {
            group_id: self.group_id.clone(),
            state: self.state.as_str(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    // ----- snapshots -------------------------------------------------------

    /// The group's durable metadata.
    pub fn snapshot(&self) -> GroupMetadataSnapshot {
        GroupMetadataSnapshot {
            group_id: self.group_id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            members: self
                .members()
                .into_iter()
                .map(|m| MemberSnapshot {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
            current_state_timestamp_ms: None,
        }
    }

    /// Rebuild a group from persisted metadata (coordinator load / failover).
    ///
    /// Members' sessions restart at `now_ms`: their clients have been talking to
    /// another broker, or to nobody, and deserve a full session to find us.
    /// * Stable stays Stable with its assignment; Empty stays Empty.
    /// * CompletingRebalance (written when the join completed, before the
    ///   leader's assignment) resumes waiting for SyncGroups of that
    ///   generation, bounded by the pending-sync timeout.
    /// * PreparingRebalance (only from a snapshot taken mid-rebalance) resumes
    ///   waiting for rejoins, bounded by the rebalance timeout.
    pub fn from_snapshot(
        snapshot: GroupMetadataSnapshot,
        config: GroupConfig,
        now_ms: u64,
    ) -> Result<(Group, Vec<Effect>), InvalidSnapshot> {
        let bad = |why: String| Err(InvalidSnapshot(why));
        if snapshot.state == GroupState::Dead {
            return bad("a Dead group has no metadata to replay".into());
        }
        if (snapshot.state == GroupState::Empty) != snapshot.members.is_empty() {
            return bad(format!(
                "state {} with {} members",
                snapshot.state,
                snapshot.members.len()
            ));
        }
        let mut group = Group::new(snapshot.group_id, config);
        group.state = snapshot.state;
        group.protocol_type = snapshot.protocol_type;
        group.generation_id = snapshot.generation_id;
        group.protocol_name = snapshot.protocol_name;
        group.leader_id = snapshot.leader_id;
        for ms_ in snapshot.members {
            if group.members.contains_key(&ms_.member_id) {
                return bad(format!("duplicate MemberId {}", ms_.member_id));
            }
            if let Some(instance) = &ms_.group_instance_id {
                if group
                    .static_members
                    .insert(instance.clone(), ms_.member_id.clone())
                    .is_some()
                {
                    return bad(format!("duplicate GroupInstanceId {instance}"));
                }
            }
            let join_seq = group.next_join_seq;
            group.next_join_seq += 1;
            group.members.insert(
                ms_.member_id.clone(),
                Member {
                    member_id: ms_.member_id,
                    group_instance_id: ms_.group_instance_id,
                    client_id: ms_.client_id,
                    client_host: ms_.client_host,
                    session_timeout_ms: ms_.session_timeout_ms,
                    rebalance_timeout_ms: ms_.rebalance_timeout_ms,
                    protocols: ms_.protocols,
                    assignment: ms_.assignment,
                    awaiting_join: false,
                    awaiting_sync: false,
                    last_heartbeat_ms: now_ms,
                    is_new: false,
                    join_seq,
                    session_deadline_ms: None,
                },
            );
        }
        if !group.members.is_empty() {
            if group.protocol_type.is_none() {
                return bad("members without a ProtocolType".into());
            }
            if !group
                .leader_id
                .as_ref()
                .is_some_and(|l| group.members.contains_key(l))
            {
                return bad("leader is not a member".into());
            }
            match (&group.protocol_name, group.state) {
                (Some(p), _) if group.members.values().all(|m| m.supports(p)) => {}
                (None, GroupState::PreparingRebalance) if group.select_protocol().is_some() => {}
                _ => return bad("no protocol supported by every member".into()),
            }
        }

        let mut fx = Vec::new();
        for id in group.member_ids_in_join_order() {
            group.refresh_session(&id, now_ms, &mut fx);
        }
        let deadline = now_ms + group.rebalance_timeout_ms();
        match group.state {
            GroupState::CompletingRebalance => {
                group.pending_sync = group.members.keys().cloned().collect();
                group.pending_sync_deadline_ms = Some(deadline);
                fx.push(Effect::ScheduleTimer {
                    kind: TimerKind::PendingSync,
                    deadline_ms: deadline,
                });
            }
            GroupState::PreparingRebalance => {
                group.arm_join_timer(
                    JoinTimer::Rebalance {
                        deadline_ms: deadline,
                    },
                    &mut fx,
                );
            }
            GroupState::Empty | GroupState::Stable | GroupState::Dead => {}
        }
        Ok((group, fx))
    }
}

fn effective_rebalance_timeout(req: &JoinRequest) -> i32 {
    if req.rebalance_timeout_ms < 0 {
        req.session_timeout_ms
    } else {
        req.rebalance_timeout_ms
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
            let answers = fx
                .iter()
                .filter(|e| matches!(e, Effect::Reply(Reply::Join(_)) | Effect::ParkJoin { .. }))
                .count();
            assert_eq!(
                answers, 1,
                "caller must be answered or parked exactly once: {fx:#?}"
            );
            self.apply(&fx);
            fx
        }

        fn sync(&mut self, req: SyncRequest) -> Vec<Effect> {
            let fx = self.g.sync(req, self.now);
            let answers = fx
                .iter()
                .filter(|e| matches!(e, Effect::Reply(Reply::Sync(_)) | Effect::ParkSync { .. }))
                .count();
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
    fn error_codes_match_kafka() {
        use GroupError::*;
        let expected = [
            (UnknownServerError, -1),
            (CoordinatorLoadInProgress, 14),
            (CoordinatorNotAvailable, 15),
            (NotCoordinator, 16),
            (IllegalGeneration, 22),
            (InconsistentGroupProtocol, 23),
            (UnknownMemberId, 25),
            (InvalidSessionTimeout, 26),
            (RebalanceInProgress, 27),
            (NonEmptyGroup, 68),
            (GroupIdNotFound, 69),
            (MemberIdRequired, 79),
            (GroupMaxSizeReached, 81),
            (FencedInstanceId, 82),
            (InvalidProducerEpoch, 47),
            (UnstableOffsetCommit, 88),
        ];
        for (e, code) in expected {
            assert_eq!(e.code(), code, "{}", e.name());
        }
        assert_eq!(MemberIdRequired.to_string(), "MEMBER_ID_REQUIRED (79)");
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2", "c3"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2", "c3"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2"]);
        let (result, _) = sim.leave(leave_of(&[&ids[0], &ids[1]]));
        assert!(result.unwrap().iter().all(|r| r.result.is_ok()));
        assert_eq!(sim.g.state(), Empty);
        assert!(sim.timers.is_empty());
    }

    #[test]
    fn leave_during_rebalance_can_complete_the_join() {
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1"]);
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
                    member_id: name.into(),
                    group_instance_id: None,
                    client_id: name.into(),
                    client_host: String::new(),
                    session_timeout_ms: 10_000,
                    rebalance_timeout_ms: 10_000,
                    protocols: protos.iter().map(|p| (p.to_string(), Vec::new())).collect(),
                    assignment: Vec::new(),
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2"]);
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
        let ids = sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        sim.join(jreq("", "c1"));
        sim.join(jreq("", "c2"));
        sim.finish_join_phase();
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
        let mut sim = Sim::new(cfg(3_000));
        sim.join(jreq("", "c1"));
        sim.join(jreq("", "c2"));
        sim.finish_join_phase();
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
        let mut sim = Sim::new(cfg(3_000));
        for c in ["c1", "c2", "c3"] {
            sim.join(jreq("", c));
        }
        sim.finish_join_phase();
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1"]);
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
        let ids = sim.form_stable_with(vec![static_jreq("", "c1", "i1"), jreq("", "c2")]);
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
        let mut sim = Sim::new(cfg(3_000));
        sim.join(jreq("", "c1"));
        sim.join(jreq("", "c2"));
        sim.finish_join_phase();
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1"]);
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
        let mut sim = Sim::new(cfg(3_000));
        let ids = sim.form_stable(&["c1", "c2"]);
        let fx = sim.g.persist_failed(sim.now);
        sim.apply(&fx);
        assert_eq!(sim.g.state(), PreparingRebalance);
        assert_eq!(
            sim.heartbeat(&ids[1], 1),
            Err(GroupError::RebalanceInProgress)
        );
    }
}
