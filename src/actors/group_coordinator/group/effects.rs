//! What the classic group receives (JoinGroup, SyncGroup, LeaveGroup requests) and what it asks
//! of the actor ([`Effect`]): replies, parked requests, timers, writes.

use super::*;

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
