//! What the group and transaction coordinators share about the internal-topic partitions they
//! coordinate (`__consumer_offsets`, `__transaction_state`): a node coordinates exactly the
//! partitions it leads, as in Kafka.
//!
//! - [`LoadPartition`] (Kafka's onElection) and [`UnloadPartition`] (onResignation): what the
//!   server's `CoordinatorElections` sends a shard as the metadata publisher applies images.
//! - [`CoordinatorPartitions`] (plain data, one per shard): each owned partition is Loading
//!   (replaying its log; requests for its groups or ids answer COORDINATOR_LOAD_IN_PROGRESS)
//!   or Active. A partition the shard does not own answers NOT_COORDINATOR.
//! - [`append_to_own_partition`]: a coordinator's write of its own records (`acks=all`, bounded
//!   wait); [`WriteFailure`]: how such a failed write is answered (Kafka's mapping: a lost
//!   leadership is NOT_COORDINATOR, so the client looks the coordinator up again; a timeout or
//!   too few replicas COORDINATOR_NOT_AVAILABLE).
//! - [`PartitionLoader`], [`elect_partition`] and [`load_partition`]: an election replays the
//!   partition into the shard.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::actors::group_coordinator::group::GroupError;
use crate::actors::partition_replica::replica_manager::delayed_produce::append_replicated;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::system_timer::SystemTimer;
use crate::actors::txn_coordinator::txn::TxnError;
use crate::error::BrokerError;
use crate::storage::AppendOrigin;

/// This node now leads `partition` at `leader_epoch`: replay it and coordinate what it holds.
/// `loaded` fires once the partition is Active (or the load was superseded).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LoadPartition {
    pub partition: i32,
    pub leader_epoch: i32,
    pub loaded: Option<oneshot::Sender<()>>,
}

/// This node no longer leads `partition`: forget everything it held (groups, offsets,
/// transactions, timers) and answer parked callers NOT_COORDINATOR.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnloadPartition {
    pub partition: i32,
}

// ---- one shard's partitions ----

impl Drop for CoordinatorPartitions {
    fn drop(&mut self) {
        for state in self.states.values() {
            count(state, -1);
        }
    }
}

/// Where a partition owned by a shard stands (Kafka's coordinator states, without the
/// transient ones a message-driven shard does not need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionState {
    /// Replaying the log; `load` identifies this replay, so a superseded one is ignored.
    Loading {
        epoch: i32,
        load: u64,
    },
    Active {
        epoch: i32,
    },
}

/// Why a shard cannot serve a group or transactional id right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// COORDINATOR_LOAD_IN_PROGRESS (14): clients retry the same coordinator.
    LoadInProgress,
    /// NOT_COORDINATOR (16): clients look the coordinator up again.
    NotCoordinator,
}

/// Coordinator partitions of this process (every shard of both coordinators) loading and
/// active, for the health endpoint.
static LOADING: AtomicI64 = AtomicI64::new(0);
static ACTIVE: AtomicI64 = AtomicI64::new(0);

/// (loading, active) coordinator partitions in this process.
pub fn coordinator_partition_counts() -> (i64, i64) {
    (
        LOADING.load(Ordering::Relaxed).max(0),
        ACTIVE.load(Ordering::Relaxed).max(0),
    )
}

fn count(state: &PartitionState, delta: i64) {
    match state {
        PartitionState::Loading { .. } => LOADING.fetch_add(delta, Ordering::Relaxed),
        PartitionState::Active { .. } => ACTIVE.fetch_add(delta, Ordering::Relaxed),
    };
}

/// The partitions one shard coordinates and their load state.
#[derive(Debug, Default)]
pub struct CoordinatorPartitions {
    states: HashMap<i32, PartitionState>,
    next_load: u64,
}

impl CoordinatorPartitions {
    /// An election: returns the load to start, or None when the partition is already loading
    /// or active (its epoch is updated if newer, as Kafka's runtime does).
    pub fn elect(&mut self, partition: i32, epoch: i32) -> Option<u64> {
        match self.states.get_mut(&partition) {
            Some(
                PartitionState::Loading { epoch: e, .. } | PartitionState::Active { epoch: e },
            ) => {
                *e = (*e).max(epoch);
                None
            }
            None => {
                self.next_load += 1;
                let load = self.next_load;
                let state = PartitionState::Loading { epoch, load };
                count(&state, 1);
                self.states.insert(partition, state);
                Some(load)
            }
        }
    }

    /// A replay finished: true when it is still the current load, which makes the partition
    /// Active; false when the partition was unloaded (or loaded again) meanwhile.
    pub fn loaded(&mut self, partition: i32, load: u64) -> bool {
        match self.states.get(&partition) {
            Some(&PartitionState::Loading { epoch, load: l }) if l == load => {
                let active = PartitionState::Active { epoch };
                count(&active, 1);
                if let Some(old) = self.states.insert(partition, active) {
                    count(&old, -1);
                }
                true
            }
            _ => false,
        }
    }

    /// Whether `load` is the replay currently running for `partition`.
    pub fn is_loading(&self, partition: i32, load: u64) -> bool {
        matches!(self.states.get(&partition), Some(PartitionState::Loading { load: l, .. }) if *l == load)
    }

    /// A resignation: true when the shard owned the partition.
    pub fn resign(&mut self, partition: i32) -> bool {
        match self.states.remove(&partition) {
            Some(old) => {
                count(&old, -1);
                true
            }
            None => false,
        }
    }

    /// Whether requests for what `partition` holds may be served; the leader epoch if so.
    pub fn check(&self, partition: i32) -> Result<i32, Unavailable> {
        match self.states.get(&partition) {
            Some(PartitionState::Active { epoch }) => Ok(*epoch),
            Some(PartitionState::Loading { .. }) => Err(Unavailable::LoadInProgress),
            None => Err(Unavailable::NotCoordinator),
        }
    }

    pub fn state(&self, partition: i32) -> Option<PartitionState> {
        self.states.get(&partition).copied()
    }

    /// Whether any partition is still loading (list operations answer
    /// COORDINATOR_LOAD_IN_PROGRESS then, as Kafka's do).
    pub fn any_loading(&self) -> bool {
        self.states
            .values()
            .any(|s| matches!(s, PartitionState::Loading { .. }))
    }
}

impl From<Unavailable> for GroupError {
    fn from(u: Unavailable) -> GroupError {
        match u {
            Unavailable::LoadInProgress => GroupError::CoordinatorLoadInProgress,
            Unavailable::NotCoordinator => GroupError::NotCoordinator,
        }
    }
}

impl From<Unavailable> for TxnError {
    fn from(u: Unavailable) -> TxnError {
        match u {
            Unavailable::LoadInProgress => TxnError::CoordinatorLoadInProgress,
            Unavailable::NotCoordinator => TxnError::NotCoordinator,
        }
    }
}

// ---- failed writes ----

/// How a coordinator answers when writing its own records failed (Kafka's mapping in its
/// coordinators' append callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// The partition is not (or no longer) led here, or its log failed: NOT_COORDINATOR.
    NotCoordinator,
    /// Timed out waiting for replication, too few in-sync replicas, the partition restarting:
    /// COORDINATOR_NOT_AVAILABLE (retriable).
    NotAvailable,
    /// The records themselves were refused, which is a bug here: UNKNOWN_SERVER_ERROR.
    Unexpected,
}

impl WriteFailure {
    pub fn of(e: &BrokerError) -> WriteFailure {
        match e {
            BrokerError::NotLeaderOrFollower
            | BrokerError::FencedLeaderEpoch
            | BrokerError::KafkaStorage(_) => WriteFailure::NotCoordinator,
            BrokerError::MessageTooLarge(_)
            | BrokerError::InvalidRecord(_)
            | BrokerError::CorruptMessage(_)
            | BrokerError::Internal(_) => WriteFailure::Unexpected,
            _ => WriteFailure::NotAvailable,
        }
    }
}

impl From<WriteFailure> for GroupError {
    fn from(f: WriteFailure) -> GroupError {
        match f {
            WriteFailure::NotCoordinator => GroupError::NotCoordinator,
            WriteFailure::NotAvailable => GroupError::CoordinatorNotAvailable,
            WriteFailure::Unexpected => GroupError::UnknownServerError,
        }
    }
}

impl From<WriteFailure> for TxnError {
    fn from(f: WriteFailure) -> TxnError {
        match f {
            WriteFailure::NotCoordinator => TxnError::NotCoordinator,
            WriteFailure::NotAvailable => TxnError::CoordinatorNotAvailable,
            WriteFailure::Unexpected => TxnError::UnknownServerError,
        }
    }
}

/// Appends one batch of a coordinator's own records to `partition` of its internal `topic` with
/// `acks=all` and waits for replication (at most `timeout`); the batch's base offset. The
/// replica is looked up now, so the write goes to the partition led when it was planned; not
/// led here is NOT_LEADER_OR_FOLLOWER. A failure is answered through [`WriteFailure::of`].
pub fn append_to_own_partition(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    batch: Bytes,
    wheel: &Addr<SystemTimer>,
    timeout: Duration,
) -> impl Future<Output = Result<i64, BrokerError>> + 'static {
    let handle = replicas.get(topic, partition);
    let wheel = wheel.clone();
    async move {
        let handle = handle.ok_or(BrokerError::NotLeaderOrFollower)?;
        let appended =
            append_replicated(&handle, batch, AppendOrigin::Coordinator, &wheel, timeout).await?;
        Ok(appended.base_offset)
    }
}

/// How long a coordinator waits before replaying a partition again after a failed read.
const LOAD_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// A coordinator shard that replays its internal topic's partitions as it is elected for them:
/// the group and transaction coordinators differ only in the topic, the decoder and what they
/// build from the entries.
pub trait PartitionLoader: Actor<Context = Context<Self>> {
    type Entry: Send + 'static;
    /// The internal topic, for the log line of a failed replay.
    const TOPIC: &'static str;
    /// This node's replica of `partition` of the internal topic.
    fn partition_handle(
        &self,
        partition: i32,
    ) -> Option<crate::actors::partition_replica::replica_manager::PartitionHandle>;
    fn coordinator_partitions(&mut self) -> &mut CoordinatorPartitions;
    fn decode(bytes: bytes::Bytes) -> (Vec<Self::Entry>, Option<i64>);
    fn apply_loaded(&mut self, ctx: &mut Context<Self>, partition: i32, entries: Vec<Self::Entry>);
}

/// An election (Kafka's onElection): replays the partition unless it is already here (then only
/// its epoch moves). `loaded` fires once it is Active, or the load was superseded.
pub fn elect_partition<A: PartitionLoader>(
    act: &mut A,
    ctx: &mut Context<A>,
    partition: i32,
    leader_epoch: i32,
    loaded: Option<oneshot::Sender<()>>,
) {
    match act.coordinator_partitions().elect(partition, leader_epoch) {
        Some(load) => load_partition(act, ctx, partition, load, loaded),
        None => {
            if let Some(tx) = loaded {
                let _ = tx.send(());
            }
        }
    }
}

/// Replays `partition` (load number `load`) off the shard's thread, applies it if the shard is
/// still loading that same election when the read ends, and retries a failed read after
/// `LOAD_RETRY` while it still is. `loaded` fires once the load ended either way.
pub fn load_partition<A: PartitionLoader>(
    act: &mut A,
    ctx: &mut Context<A>,
    partition: i32,
    load: u64,
    loaded: Option<oneshot::Sender<()>>,
) {
    let handle = act.partition_handle(partition);
    let reading = async move {
        let handle = handle.ok_or(BrokerError::NotLeaderOrFollower)?;
        crate::actors::partition_replica::replay_partition(&handle.addr, A::decode).await
    };
    ctx.spawn(reading.into_actor(act).map(move |read, act, ctx| {
        if !act.coordinator_partitions().is_loading(partition, load) {
            // Resigned (or elected again) meanwhile: this replay is stale.
            if let Some(tx) = loaded {
                let _ = tx.send(());
            }
            return;
        }
        match read {
            Ok(entries) => {
                act.coordinator_partitions().loaded(partition, load);
                act.apply_loaded(ctx, partition, entries);
                if let Some(tx) = loaded {
                    let _ = tx.send(());
                }
            }
            Err(e) => {
                tracing::warn!(topic = A::TOPIC, partition, error = %e, "replaying a coordinator partition failed; retrying");
                ctx.run_later(LOAD_RETRY, move |act, ctx| {
                    if act.coordinator_partitions().is_loading(partition, load) {
                        load_partition(act, ctx, partition, load, loaded);
                    } else if let Some(tx) = loaded {
                        let _ = tx.send(());
                    }
                });
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_loads_then_serves_and_a_superseded_load_is_ignored() {
        let mut parts = CoordinatorPartitions::default();
        assert_eq!(parts.check(7), Err(Unavailable::NotCoordinator));
        let first = parts.elect(7, 2).expect("a new partition loads");
        assert_eq!(parts.check(7), Err(Unavailable::LoadInProgress));
        assert!(parts.any_loading());
        // A newer epoch while loading: no second replay, the epoch moves.
        assert_eq!(parts.elect(7, 3), None);
        // Resigned and elected again while the first replay runs: that replay is stale.
        assert!(parts.resign(7));
        let second = parts.elect(7, 4).unwrap();
        assert!(!parts.loaded(7, first));
        assert!(parts.is_loading(7, second));
        assert!(parts.loaded(7, second));
        assert_eq!(parts.check(7), Ok(4));
        assert!(!parts.any_loading());
        // Active: an older epoch never moves it back.
        assert_eq!(parts.elect(7, 1), None);
        assert_eq!(parts.check(7), Ok(4));
        assert!(parts.resign(7));
        assert!(!parts.resign(7));
        assert_eq!(parts.check(7), Err(Unavailable::NotCoordinator));
    }

    #[test]
    fn failed_writes_map_as_kafka_maps_them() {
        assert_eq!(
            WriteFailure::of(&BrokerError::NotLeaderOrFollower),
            WriteFailure::NotCoordinator
        );
        assert_eq!(
            WriteFailure::of(&BrokerError::KafkaStorage("io".into())),
            WriteFailure::NotCoordinator
        );
        assert_eq!(
            WriteFailure::of(&BrokerError::RequestTimedOut),
            WriteFailure::NotAvailable
        );
        assert_eq!(
            WriteFailure::of(&BrokerError::NotEnoughReplicas { isr: 1, min: 2 }),
            WriteFailure::NotAvailable
        );
        assert_eq!(
            WriteFailure::of(&BrokerError::NotEnoughReplicasAfterAppend),
            WriteFailure::NotAvailable
        );
        assert_eq!(
            WriteFailure::of(&BrokerError::MessageTooLarge("big".into())),
            WriteFailure::Unexpected
        );
        assert_eq!(GroupError::from(WriteFailure::NotCoordinator).code(), 16);
        assert_eq!(TxnError::from(WriteFailure::NotAvailable).code(), 15);
        assert_eq!(GroupError::from(Unavailable::LoadInProgress).code(), 14);
        assert_eq!(TxnError::from(Unavailable::NotCoordinator).code(), 16);
    }
}
