//! The classic group's states and Kafka's table of legal transitions, its errors with their
//! wire codes, and the broker settings it reads.

use super::*;

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
pub(super) type Step = Result<(), IllegalTransition>;

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
