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

pub use crate::error::GroupError;

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
