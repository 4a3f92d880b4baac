//! `TxnCoordinator`: one per shard of transactional ids (an id's shard is its
//! `__transaction_state` partition modulo the number of coordinators, one per arbiter). Owns
//! the `TxnMetadata` state machines of its ids, their timeout timers (through the
//! `SystemTimer`) and the marker rounds in flight.
//!
//! Handlers send it messages (`InitTxnProducerId`, `AddPartitionsToTxn`, `AddOffsetsToTxn`,
//! `VerifyPartitionsInTxn`, `EndTxn`, `DescribeTxns`, `ListTxns`); it runs the state machine
//! (`txn.rs`) and carries out the returned effects in order.
//!
//! It coordinates exactly the `__transaction_state` partitions of its shard that this node
//! leads: `LoadPartition` (an election) replays one partition while the rest keep serving —
//! its ids answer COORDINATOR_LOAD_IN_PROGRESS until then — and restarts the marker rounds of
//! what it left prepared and the timeouts of what it left open; `UnloadPartition` (a
//! resignation) forgets its ids, their timers and marker rounds. Ids of partitions it does not
//! hold answer NOT_COORDINATOR. The partition's leader epoch is the coordinator epoch its
//! markers carry. Invariants it keeps:
//! - every state change is appended to the id's `__transaction_state` partition with
//!   `acks=all` (`delayed_produce`, bounded by `request.timeout.ms`) before it takes effect
//!   or is answered; the actor waits for each write (`ctx.wait`), so no request sees a change
//!   that is not replicated, and changes of one id are written in order. A failed write
//!   answers as Kafka's does (`WriteFailure`: a lost leadership is NOT_COORDINATOR);
//! - a Prepare* transaction always has a marker round running: every partition in it gets its
//!   marker (retried until it lands), then Complete* is written;
//! - an Ongoing transaction has its timeout armed; a periodic sweep
//!   (`transaction.abort.timed.out.transaction.cleanup.interval.ms`) catches any it missed.
//!
//! It reaches logs only through `PartitionReplica` actors, producer ids only through the
//! `Controller`.
//!
//! This file owns the actor, its setup and what follows a decision: carrying out effects,
//! marker rounds, timeouts and the periodic sweeps. Its messages are in `../messages.rs`
//! (re-exported here), how each is answered in `requests.rs`, the writes and the partition
//! loads in `persistence.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::markers::{is_retriable, MarkerOutcome, MarkerWriter, TxnMarker};
pub use super::messages::*;
use super::txn::*;
use super::txn_partition_for;
use crate::actors::controller::Controller;
use crate::actors::coordinator_partitions::{CoordinatorPartitions, PartitionState, WriteFailure};
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::system_timer::{sleep_via, CancelWakeup, ScheduleWakeup, SystemTimer};
use crate::runtime::clock::wall_clock_ms;
use crate::timing_wheel::TimerId;

mod persistence;
mod requests;

/// Shortest and longest pause between marker retries.
const MARKER_RETRY_MIN: Duration = Duration::from_millis(50);
const MARKER_RETRY_MAX: Duration = Duration::from_secs(1);
/// Pause before writing Complete* again after that write failed.
const COMPLETE_RETRY: Duration = Duration::from_millis(500);
/// How a shard is placed and what it reaches.
pub struct TxnCoordinatorSetup {
    pub config: TxnConfig,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_check_interval: Duration,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub expiry_check_interval: Duration,
    /// `request.timeout.ms`: how long a state write waits for replication.
    pub write_timeout: Duration,
    pub replicas: Arc<ReplicaManager>,
    pub controller: Addr<Controller>,
    pub wheel: Addr<SystemTimer>,
    pub markers: MarkerWriter,
    /// For logs: this shard is sent the `__transaction_state` partitions p with
    /// p % shards == shard.
    pub shard: usize,
    pub txn_partitions: i32,
    /// Partitions of `__consumer_offsets` (AddOffsetsToTxn adds the group's).
    pub offsets_partitions: i32,
}

pub struct TxnCoordinator {
    setup: TxnCoordinatorSetup,
    /// The partitions it coordinates (led here), whether each is loaded, their epochs.
    partitions: CoordinatorPartitions,
    txns: HashMap<String, TxnMetadata>,
    /// Armed timeouts: sequence number (to ignore superseded wake-ups) and the wheel's id.
    timers: HashMap<String, (u64, Option<TimerId>)>,
    next_timer_seq: u64,
    /// The marker round running for an id (a newer round supersedes an older one) and its
    /// task, cancelled when the id's partition is unloaded.
    marker_rounds: HashMap<String, (u64, SpawnHandle)>,
    next_round: u64,
}

type Caller = Option<oneshot::Sender<TxnResult>>;

impl TxnCoordinator {
    pub fn new(setup: TxnCoordinatorSetup) -> Self {
        TxnCoordinator {
            setup,
            partitions: CoordinatorPartitions::default(),
            txns: HashMap::new(),
            timers: HashMap::new(),
            next_timer_seq: 0,
            marker_rounds: HashMap::new(),
            next_round: 0,
        }
    }

    fn partition_of(&self, transactional_id: &str) -> i32 {
        txn_partition_for(transactional_id, self.setup.txn_partitions)
    }

    /// Whether this shard may serve the id now: its partition is led here and loaded.
    fn check(&self, transactional_id: &str) -> Result<(), TxnError> {
        self.partitions
            .check(self.partition_of(transactional_id))
            .map(|_| ())
            .map_err(TxnError::from)
    }

    /// Carries out effects in order; `caller` answers the request being handled. A `Persist`
    /// suspends the rest until the write is done (the actor handles nothing else meanwhile).
    fn run(&mut self, ctx: &mut Context<Self>, id: String, effects: Vec<Effect>, caller: Caller) {
        self.run_queue(ctx, id, effects.into(), caller);
    }

    fn run_queue(
        &mut self,
        ctx: &mut Context<Self>,
        id: String,
        mut effects: VecDeque<Effect>,
        mut caller: Caller,
    ) {
        while let Some(effect) = effects.pop_front() {
            match effect {
                Effect::Persist(next) => {
                    let write = self.append(&next);
                    ctx.wait(write.into_actor(self).map(move |result, act, ctx| match result {
                        Ok(()) => {
                            act.install(&id, next);
                            act.run_queue(ctx, id, effects, caller);
                        }
                        Err(e) => {
                            tracing::warn!(transactional_id = %id, state = %next.state, error = %e,
                                "writing transaction state failed");
                            if let Some(tx) = caller {
                                let _ = tx.send(Err(WriteFailure::of(&e).into()));
                            }
                            act.persist_failed(ctx, &id, &next);
                        }
                    }));
                    return;
                }
                Effect::Reply(r) => {
                    if let Some(tx) = caller.take() {
                        let _ = tx.send(r);
                    }
                }
                Effect::WriteMarkers {
                    producer_id,
                    producer_epoch,
                    commit,
                    partitions,
                } => self.send_markers(ctx, &id, producer_id, producer_epoch, commit, partitions),
                Effect::ScheduleTimeout { deadline_ms } => self.schedule(ctx, &id, deadline_ms),
                Effect::CancelTimeout => self.cancel(&id),
            }
        }
    }

    /// A written change takes effect. Dead means the tombstone is written: forget the id.
    fn install(&mut self, id: &str, next: TxnMetadata) {
        match self.txns.get_mut(id) {
            Some(current) if next.state == TxnState::Dead => {
                if can_transition(current.state, TxnState::Dead) {
                    self.txns.remove(id);
                    self.cancel(id);
                } else {
                    tracing::error!(transactional_id = %id, state = %current.state,
                        "expiry written for an id that may not expire");
                }
            }
            Some(current) => {
                if let Err(e) = current.install(next) {
                    // The plan was made from this very state, one write at a time: a bug.
                    tracing::error!(transactional_id = %id, error = %e, "transaction state not installed");
                }
            }
            None if next.state != TxnState::Dead => {
                self.txns.insert(id.to_string(), next);
            }
            None => {}
        }
    }

    /// A change could not be written; the metadata is unchanged. A completion is retried
    /// (its markers are already in), a timeout abort is retried by the periodic sweep, and an
    /// expiry by the next expiry pass; clients retry their own requests.
    fn persist_failed(&mut self, ctx: &mut Context<Self>, id: &str, next: &TxnMetadata) {
        if matches!(
            next.state,
            TxnState::CompleteCommit | TxnState::CompleteAbort
        ) {
            let id = id.to_string();
            ctx.run_later(COMPLETE_RETRY, move |act, ctx| act.complete(ctx, id));
        }
    }

    /// Every marker of the id's Prepare* transaction landed: write Complete*.
    fn complete(&mut self, ctx: &mut Context<Self>, id: String) {
        let Some(meta) = self.txns.get(&id) else {
            return;
        };
        let effects = meta.markers_written(wall_clock_ms());
        self.run(ctx, id, effects, None);
    }

    /// Starts a marker round: every partition gets its marker, failed ones are retried with
    /// backoff until all landed (or are gone), then the transaction completes.
    fn send_markers(
        &mut self,
        ctx: &mut Context<Self>,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        partitions: Vec<TxnPartition>,
    ) {
        self.next_round += 1;
        let round = self.next_round;
        let coordinator_epoch = match self.partitions.state(self.partition_of(id)) {
            Some(PartitionState::Active { epoch } | PartitionState::Loading { epoch, .. }) => epoch,
            None => return, // resigned: the next coordinator finishes the transaction
        };
        let marker = TxnMarker {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
        };
        let writer = self.setup.markers.clone();
        let wheel = self.setup.wheel.clone();
        let txn_id = id.to_string();
        let writing = async move {
            let mut pending = partitions;
            let mut backoff = MARKER_RETRY_MIN;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let results = writer.write_all(&pending, marker).await;
                let mut retry = Vec::new();
                for ((topic, partition), result) in pending.into_iter().zip(results) {
                    match result {
                        Ok(MarkerOutcome::Written) => {}
                        Ok(MarkerOutcome::PartitionGone) => {
                            tracing::info!(transactional_id = %txn_id, %topic, partition,
                                "no marker for a partition that no longer exists");
                        }
                        Err(e) if is_retriable(&e) => {
                            if attempt.is_power_of_two() || attempt == 0 {
                                tracing::warn!(transactional_id = %txn_id, %topic, partition, attempt, error = %e,
                                    "transaction marker not written; retrying");
                            }
                            retry.push((topic, partition));
                        }
                        Err(e) => {
                            tracing::error!(transactional_id = %txn_id, %topic, partition, error = %e,
                                "the partition refused the transaction marker; giving up on it");
                        }
                    }
                }
                pending = retry;
                if !pending.is_empty() {
                    attempt += 1;
                    if !sleep_via(&wheel, backoff).await.await {
                        tokio::time::sleep(backoff).await;
                    }
                    backoff = (backoff * 2).min(MARKER_RETRY_MAX);
                }
            }
        };
        let id = id.to_string();
        let key = id.clone();
        let task = ctx.spawn(writing.into_actor(self).map(move |(), act, ctx| {
            if act.marker_rounds.get(&id).map(|r| r.0) != Some(round) {
                return;
            }
            act.marker_rounds.remove(&id);
            let same_txn = act.txns.get(&id).is_some_and(|m| {
                m.producer_id == producer_id && m.producer_epoch == producer_epoch
            });
            if same_txn {
                act.complete(ctx, id);
            }
        }));
        if let Some((_, superseded)) = self.marker_rounds.insert(key, (round, task)) {
            // Not expected: a transaction is only prepared again once the previous round has
            // completed it. Should it happen, the older round's transaction is over.
            ctx.cancel_future(superseded);
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>, id: &str, deadline_ms: i64) {
        self.cancel(id);
        self.next_timer_seq += 1;
        let seq = self.next_timer_seq;
        self.timers.insert(id.to_string(), (seq, None));
        let delay =
            Duration::from_millis(deadline_ms.saturating_sub(wall_clock_ms()).max(0) as u64);
        let (tx, rx) = oneshot::channel();
        let wheel = self.setup.wheel.clone();
        let key = id.to_string();
        ctx.spawn(
            async move { wheel.send(ScheduleWakeup { delay, waker: tx }).await.ok() }
                .into_actor(self)
                .map(move |timer, act, _| match act.timers.get_mut(&key) {
                    Some(entry) if entry.0 == seq => entry.1 = timer,
                    _ => {
                        if let Some(timer) = timer {
                            act.setup.wheel.do_send(CancelWakeup(timer));
                        }
                    }
                }),
        );
        let key = id.to_string();
        ctx.spawn(rx.into_actor(self).map(move |fired, act, ctx| {
            if fired.is_ok() && act.timers.get(&key).is_some_and(|e| e.0 == seq) {
                act.timers.remove(&key);
                act.timeout_fired(ctx, key);
            }
        }));
    }

    fn cancel(&mut self, id: &str) {
        if let Some((_, Some(timer))) = self.timers.remove(id) {
            self.setup.wheel.do_send(CancelWakeup(timer));
        }
    }

    fn timeout_fired(&mut self, ctx: &mut Context<Self>, id: String) {
        let Some(meta) = self.txns.get(&id) else {
            return;
        };
        match meta.timeout_abort(wall_clock_ms()) {
            Some(effects) => {
                tracing::info!(transactional_id = %id, producer_id = meta.producer_id,
                    timeout_ms = meta.timeout_ms, "aborting a transaction past its timeout");
                self.run(ctx, id, effects, None);
            }
            // Early (the wall clock moved back): arm it again.
            None => {
                if let Some(deadline_ms) = meta.timeout_deadline_ms() {
                    self.schedule(ctx, &id, deadline_ms);
                }
            }
        }
    }

    /// The periodic sweep: aborts Ongoing transactions past their timeout that no timer
    /// aborted (a failed write, a lost wake-up).
    fn abort_timed_out(&mut self, ctx: &mut Context<Self>) {
        let now = wall_clock_ms();
        let due: Vec<(String, Vec<Effect>)> = self
            .txns
            .iter()
            .filter_map(|(id, m)| m.timeout_abort(now).map(|fx| (id.clone(), fx)))
            .collect();
        for (id, effects) in due {
            tracing::info!(transactional_id = %id, "aborting a transaction past its timeout");
            self.run(ctx, id, effects, None);
        }
    }

    /// `transactional.id.expiration.ms`: tombstones ids idle that long.
    fn expire_ids(&mut self, ctx: &mut Context<Self>) {
        let now = wall_clock_ms();
        let expiration = self.setup.config.id_expiration_ms;
        let expired: Vec<(String, Vec<Effect>)> = self
            .txns
            .iter()
            .filter_map(|(id, m)| m.expire(now, expiration).map(|fx| (id.clone(), fx)))
            .collect();
        if !expired.is_empty() {
            tracing::info!(
                shard = self.setup.shard,
                count = expired.len(),
                "expiring idle transactional ids"
            );
        }
        for (id, effects) in expired {
            self.run(ctx, id, effects, None);
        }
    }
}

impl Actor for TxnCoordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.setup.abort_check_interval, |act, ctx| {
            act.abort_timed_out(ctx)
        });
        ctx.run_interval(self.setup.expiry_check_interval, |act, ctx| {
            act.expire_ids(ctx)
        });
    }
}

#[cfg(test)]
mod tests;
