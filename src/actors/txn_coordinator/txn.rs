//! One transactional id as a pure state machine: Kafka's transaction states, their legal
//! transitions, the producer id and epoch it hands out, the partitions of the open
//! transaction, its timeout and timestamps.
//!
//! # Why this module is pure
//!
//! The `TxnCoordinator` actor owns the outside world: the `__transaction_state` log, the
//! Controller that allocates producer ids, the timer wheel, the partitions that receive
//! markers and the connections that wait for answers. This module only decides. Every
//! operation takes the current wall-clock time and returns [`Effect`]s for the actor to carry
//! out **in order**, so every rule is a plain unit test.
//!
//! # Nothing changes until it is written
//!
//! Operations take `&self`. A change is an [`Effect::Persist`] carrying the whole next
//! metadata; the actor appends it to `__transaction_state`, and only once the append succeeded
//! does it [`TxnMetadata::install`] it and run the effects behind it (answers, markers,
//! timers). If the append fails, the effects behind it are dropped and the caller is told
//! COORDINATOR_NOT_AVAILABLE, with the metadata unchanged, which is Kafka's "prepare the
//! transition, write it, then complete it" without a pending-state field: the actor handles one
//! write at a time, so no other request can observe a half-made transition.
//!
//! # The protocol (Kafka's transaction version 1, where EndTxn does not bump the epoch)
//!
//! * InitProducerId: a new id gets a producer id and epoch 0; a known one gets its epoch
//!   bumped (a new producer id once the epoch is exhausted, the old one kept as
//!   `previous_producer_id` so a retry is recognised). An Ongoing transaction is fenced first:
//!   epoch + 1, PrepareAbort, markers, and the caller is told CONCURRENT_TRANSACTIONS so it
//!   retries once the abort completed.
//! * AddPartitionsToTxn / AddOffsetsToTxn: Empty or Complete* → Ongoing (the transaction
//!   starts, its timeout runs from now); Ongoing → Ongoing with more partitions.
//! * EndTxn: Ongoing → PrepareCommit / PrepareAbort, answered once that is written; markers go
//!   to every partition; once they all landed → CompleteCommit / CompleteAbort.
//! * Timeout (`transaction.timeout.ms` of the producer): an Ongoing transaction older than it
//!   is fenced and aborted like the InitProducerId case.
//! * Expiry (`transactional.id.expiration.ms`): an id idle in Empty or Complete* that long
//!   goes Dead and is tombstoned.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// `producerId` before one is assigned.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` before the first InitProducerId completes.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A partition in a transaction: topic and index.
pub type TxnPartition = (String, i32);

// ---------------------------------------------------------------------------
// States and transitions
// ---------------------------------------------------------------------------

/// Lifecycle state of a transactional id, named as Kafka names them (DescribeTransactions and
/// ListTransactions report these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction open (after InitProducerId, or never started).
    Empty,
    /// Partitions were added; the producer is writing.
    Ongoing,
    /// EndTxn(commit) written; commit markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a fence or a timeout written; abort markers are being written.
    PrepareAbort,
    /// Every commit marker landed.
    CompleteCommit,
    /// Every abort marker landed.
    CompleteAbort,
    /// Bumping the epoch to fence the producer of an Ongoing transaction; never written, it
    /// leads straight to PrepareAbort.
    PrepareEpochFence,
    /// Expired: about to be tombstoned and forgotten.
    Dead,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::PrepareEpochFence,
        TxnState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
            TxnState::Dead => "Dead",
        }
    }

    /// The state of a Kafka state name (ListTransactions filters), if it is one.
    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// States from which an idle transactional id may expire.
    pub fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kafka's transition table (each state's valid previous states):
///
/// * `Empty` ← Empty (epoch bump), CompleteCommit, CompleteAbort
/// * `Ongoing` ← Ongoing (more partitions), Empty, CompleteCommit, CompleteAbort
/// * `PrepareCommit` ← Ongoing
/// * `PrepareAbort` ← Ongoing, PrepareEpochFence
/// * `CompleteCommit` ← PrepareCommit
/// * `CompleteAbort` ← PrepareAbort
/// * `PrepareEpochFence` ← Ongoing
/// * `Dead` ← Empty, CompleteCommit, CompleteAbort
pub fn can_transition(from: TxnState, to: TxnState) -> bool {
    use TxnState::*;
    match to {
        Empty => matches!(from, Empty | CompleteCommit | CompleteAbort),
        Ongoing => matches!(from, Ongoing | Empty | CompleteCommit | CompleteAbort),
        PrepareCommit => from == Ongoing,
        PrepareAbort => matches!(from, Ongoing | PrepareEpochFence),
        CompleteCommit => from == PrepareCommit,
        CompleteAbort => from == PrepareAbort,
        PrepareEpochFence => from == Ongoing,
        Dead => matches!(from, Empty | CompleteCommit | CompleteAbort),
    }
}

/// A transition [`can_transition`] forbids was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: TxnState,
    pub to: TxnState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "illegal transaction state transition {} -> {}",
            self.from, self.to
        )
    }
}

impl std::error::Error for IllegalTransition {}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

pub use crate::error::{code_for_version, TxnError};

// ---------------------------------------------------------------------------
// Replies and effects
// ---------------------------------------------------------------------------

/// A successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnReply {
    /// InitProducerId.
    ProducerIdAndEpoch {
        producer_id: i64,
        producer_epoch: i16,
    },
    /// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn.
    Done,
}

pub type TxnResult = Result<TxnReply, TxnError>;

/// Something the actor must do, in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Append this metadata to `__transaction_state` (a tombstone when its state is Dead),
    /// install it once written, and only then run the effects that follow. If the write fails,
    /// answer the caller COORDINATOR_NOT_AVAILABLE and drop the rest.
    Persist(TxnMetadata),
    /// Answer the request being handled.
    Reply(TxnResult),
    /// Write a commit or abort marker to each partition, retrying until every one landed,
    /// then call [`TxnMetadata::markers_written`].
    WriteMarkers {
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        partitions: Vec<TxnPartition>,
    },
    /// Arm the transaction timeout for this wall-clock time (replacing any armed one).
    ScheduleTimeout { deadline_ms: i64 },
    /// Disarm the transaction timeout.
    CancelTimeout,
}

/// VerifyOnly's answer: each partition, and whether it is in the transaction.
pub type Verified = Vec<(TxnPartition, Result<(), TxnError>)>;

/// The coordinator's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// Checks InitProducerId's arguments before any state is looked up: an empty transactional
/// id is INVALID_REQUEST, a timeout outside 1..=`max_timeout_ms` INVALID_TRANSACTION_TIMEOUT.
pub fn validate_init(
    transactional_id: &str,
    timeout_ms: i32,
    config: &TxnConfig,
) -> Result<(), TxnError> {
    if transactional_id.is_empty() {
        return Err(TxnError::InvalidRequest);
    }
    if timeout_ms <= 0 || timeout_ms > config.max_timeout_ms {
        return Err(TxnError::InvalidTransactionTimeout);
    }
    Ok(())
}

/// Epochs at or above this are exhausted: the coordinator always keeps one bump in reserve
/// to fence the last producer, so a client never holds `i16::MAX`.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// A producer id and epoch a client says it holds (InitProducerId v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

// ---------------------------------------------------------------------------
// The metadata of one transactional id
// ---------------------------------------------------------------------------

/// Everything the coordinator knows of one transactional id; written whole to
/// `__transaction_state` on every change (Troupe's JSON value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), so that a retried
    /// InitProducerId of the old id is recognised.
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump that a client asked for with its expected epoch (so a
    /// retry of that InitProducerId gets the same answer); -1 after a fence.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TxnPartition>,
    /// Wall-clock time the open transaction started (first partition added); -1 if none.
    pub start_ms: i64,
    /// Wall-clock time of the last change (expiry counts from it).
    pub last_update_ms: i64,
}

/// DescribeTransactions' view of one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub partitions: Vec<TxnPartition>,
}

impl TxnMetadata {
    /// A transactional id seen for the first time, holding a freshly allocated producer id
    /// and no epoch yet (InitProducerId gives it epoch 0).
    pub fn new(
        transactional_id: impl Into<String>,
        producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
    ) -> TxnMetadata {
        TxnMetadata {
            transactional_id: transactional_id.into(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }

    /// Replaces this metadata with `next` (just written) if the state change is legal.
    pub fn install(&mut self, next: TxnMetadata) -> Result<(), IllegalTransition> {
        if !can_transition(self.state, next.state) {
            return Err(IllegalTransition {
                from: self.state,
                to: next.state,
            });
        }
        *self = next;
        Ok(())
    }

    /// The open transaction's timeout deadline (wall clock), when it is Ongoing. Kafka aborts
    /// a transaction open for *more* than its timeout.
    pub fn timeout_deadline_ms(&self) -> Option<i64> {
        (self.state == TxnState::Ongoing)
            .then(|| self.start_ms.saturating_add(self.timeout_ms as i64) + 1)
    }

    fn is_producer_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// Whether InitProducerId must be given a fresh producer id (`init_producer_id`'s
    /// `fresh_producer_id`): the epoch is exhausted and the caller, if it named its epoch,
    /// holds the current one.
    pub fn needs_new_producer_id(&self, expected: Option<ProducerIdAndEpoch>) -> bool {
        matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && self.is_producer_epoch_exhausted()
            && expected.is_none_or(|e| e.epoch == self.producer_epoch)
            && self.accepts_expected(expected)
    }

    /// Kafka's rule for the producer id a client names: accepted when this metadata was just
    /// created (no epoch yet: the client recovers from UNKNOWN_PRODUCER_ID), when it is the
    /// current id (the epoch is checked later), or when it is the previous id with an
    /// exhausted epoch (a retry of the InitProducerId that rotated it).
    fn accepts_expected(&self, expected: Option<ProducerIdAndEpoch>) -> bool {
        expected.is_none_or(|e| {
            self.producer_epoch == NO_PRODUCER_EPOCH
                || e.producer_id == self.producer_id
                || (e.producer_id == self.previous_producer_id && is_epoch_exhausted(e.epoch))
        })
    }

    fn next(&self, state: TxnState, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            state,
            last_update_ms: now_ms,
            ..self.clone()
        }
    }

    /// Fences the producer of the Ongoing transaction and aborts it: epoch + 1 (so its
    /// requests now fail with PRODUCER_FENCED), through PrepareEpochFence to PrepareAbort.
    fn fence_and_abort(&self, now_ms: i64) -> Result<TxnMetadata, TxnError> {
        if self.producer_epoch == i16::MAX {
            // Cannot happen: clients never hold an epoch past `i16::MAX - 1`.
            return Err(TxnError::UnknownServerError);
        }
        if !can_transition(self.state, TxnState::PrepareEpochFence)
            || !can_transition(TxnState::PrepareEpochFence, TxnState::PrepareAbort)
        {
            return Err(TxnError::InvalidTxnState);
        }
        let mut next = self.next(TxnState::PrepareAbort, now_ms);
        next.producer_epoch = self.producer_epoch + 1;
        next.last_producer_epoch = NO_PRODUCER_EPOCH;
        Ok(next)
    }

    fn abort_markers(next: &TxnMetadata) -> Effect {
        Effect::WriteMarkers {
            producer_id: next.producer_id,
            producer_epoch: next.producer_epoch,
            commit: false,
            partitions: next.partitions.iter().cloned().collect(),
        }
    }

    // ----- InitProducerId ---------------------------------------------------

    /// InitProducerId with a transactional id (already checked by [`validate_init`]).
    /// `expected`: the producer id and epoch the client holds (v3+), if it sent them.
    /// `fresh_producer_id`: a newly allocated id, required when
    /// [`needs_new_producer_id`](Self::needs_new_producer_id) says so.
    pub fn init_producer_id(
        &self,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        fresh_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let reply = |r: TxnResult| vec![Effect::Reply(r)];
        if !self.accepts_expected(expected) {
            return reply(Err(TxnError::ProducerFenced));
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                reply(Err(TxnError::ConcurrentTransactions))
            }
            TxnState::Ongoing => match self.fence_and_abort(now_ms) {
                // The fenced epoch is never handed out: the client is told to retry, and its
                // retry (after the abort completed) bumps the epoch once more.
                Ok(next) => vec![
                    Effect::Persist(next.clone()),
                    Effect::CancelTimeout,
                    Effect::Reply(Err(TxnError::ConcurrentTransactions)),
                    Self::abort_markers(&next),
                ],
                Err(e) => reply(Err(e)),
            },
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let next = if self.needs_new_producer_id(expected) {
                    let Some(fresh) = fresh_producer_id else {
                        return reply(Err(TxnError::UnknownServerError));
                    };
                    let mut next = self.next(TxnState::Empty, now_ms);
                    next.previous_producer_id = self.producer_id;
                    next.producer_id = fresh;
                    next.producer_epoch = 0;
                    next.last_producer_epoch = if expected.is_some() {
                        self.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    };
                    next
                } else {
                    let bumped = self.producer_epoch.wrapping_add(1);
                    let (epoch, last_epoch) = match expected {
                        None => (bumped, NO_PRODUCER_EPOCH),
                        Some(e)
                            if self.producer_epoch == NO_PRODUCER_EPOCH
                                || e.epoch == self.producer_epoch =>
                        {
                            (bumped, self.producer_epoch)
                        }
                        // A retry of a bump that succeeded: same answer, no new bump. A
                        // newer producer would have reset `last_producer_epoch` to -1.
                        Some(e) if e.epoch == self.last_producer_epoch => {
                            (self.producer_epoch, self.last_producer_epoch)
                        }
                        Some(_) => return reply(Err(TxnError::ProducerFenced)),
                    };
                    let mut next = self.next(TxnState::Empty, now_ms);
                    next.previous_producer_id = self.producer_id;
                    next.producer_epoch = epoch;
                    next.last_producer_epoch = last_epoch;
                    next
                };
                let mut next = next;
                next.timeout_ms = timeout_ms;
                next.partitions.clear();
                next.start_ms = -1;
                let answer = TxnReply::ProducerIdAndEpoch {
                    producer_id: next.producer_id,
                    producer_epoch: next.producer_epoch,
                };
                vec![Effect::Persist(next), Effect::Reply(Ok(answer))]
            }
            TxnState::Dead | TxnState::PrepareEpochFence => reply(Err(TxnError::InvalidTxnState)),
        }
    }

    // ----- AddPartitionsToTxn / AddOffsetsToTxn -------------------------------

    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), TxnError> {
        if producer_id != self.producer_id {
            Err(TxnError::InvalidProducerIdMapping)
        } else if producer_epoch != self.producer_epoch {
            Err(TxnError::ProducerFenced)
        } else {
            Ok(())
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): starts the transaction or adds to it.
    pub fn add_partitions(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
        now_ms: i64,
    ) -> Vec<Effect> {
        let reply = |r: TxnResult| vec![Effect::Reply(r)];
        if let Err(e) = self.check_producer(producer_id, producer_epoch) {
            return reply(Err(e));
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                reply(Err(TxnError::ConcurrentTransactions))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => reply(Err(TxnError::InvalidTxnState)),
            TxnState::Ongoing if partitions.iter().all(|p| self.partitions.contains(p)) => {
                reply(Ok(TxnReply::Done))
            }
            TxnState::Ongoing
            | TxnState::Empty
            | TxnState::CompleteCommit
            | TxnState::CompleteAbort => {
                let starting = self.state != TxnState::Ongoing;
                let mut next = self.next(TxnState::Ongoing, now_ms);
                if starting {
                    next.start_ms = now_ms;
                    next.partitions.clear();
                }
                next.partitions.extend(partitions.iter().cloned());
                let mut fx = vec![Effect::Persist(next.clone())];
                if let Some(deadline_ms) = next.timeout_deadline_ms().filter(|_| starting) {
                    fx.push(Effect::ScheduleTimeout { deadline_ms });
                }
                fx.push(Effect::Reply(Ok(TxnReply::Done)));
                fx
            }
        }
    }

    /// AddPartitionsToTxn v4+ with `verify_only` (a partition leader asks before accepting a
    /// transactional write): which partitions are in the open transaction. Nothing changes.
    pub fn verify_partitions(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
    ) -> Result<Verified, TxnError> {
        self.check_producer(producer_id, producer_epoch)?;
        if matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(partitions
            .iter()
            .map(|p| {
                let verdict = if self.partitions.contains(p) {
                    Ok(())
                } else {
                    Err(TxnError::TransactionAbortable)
                };
                (p.clone(), verdict)
            })
            .collect())
    }

    // ----- EndTxn -----------------------------------------------------------

    /// EndTxn from the client: Ongoing → PrepareCommit/PrepareAbort, answered once written,
    /// then markers. A retry of an EndTxn that already completed the same way answers NONE.
    pub fn end_txn(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Vec<Effect> {
        let reply = |r: TxnResult| vec![Effect::Reply(r)];
        if let Err(e) = self.check_producer(producer_id, producer_epoch) {
            return reply(Err(e));
        }
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                let state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                let next = self.next(state, now_ms);
                vec![
                    Effect::Persist(next.clone()),
                    Effect::CancelTimeout,
                    Effect::Reply(Ok(TxnReply::Done)),
                    Effect::WriteMarkers {
                        producer_id: next.producer_id,
                        producer_epoch: next.producer_epoch,
                        commit,
                        partitions: next.partitions.iter().cloned().collect(),
                    },
                ]
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                reply(Ok(TxnReply::Done))
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                reply(Err(TxnError::ConcurrentTransactions))
            }
            _ => reply(Err(TxnError::InvalidTxnState)),
        }
    }

    // ----- completion, timeout, expiry ----------------------------------------

    /// Every marker of the Prepare* transaction landed: → CompleteCommit / CompleteAbort.
    /// Anything else (a stale notification) changes nothing.
    pub fn markers_written(&self, now_ms: i64) -> Vec<Effect> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return Vec::new(),
        };
        let mut next = self.next(state, now_ms);
        next.partitions.clear();
        vec![Effect::Persist(next)]
    }

    /// The transaction timeout fired: an Ongoing transaction open for more than its timeout
    /// is fenced and aborted (Kafka's timeout abort: the producer's next request fails with
    /// PRODUCER_FENCED). None when it is not (yet) due.
    pub fn timeout_abort(&self, now_ms: i64) -> Option<Vec<Effect>> {
        if self.state != TxnState::Ongoing || self.timeout_deadline_ms()? > now_ms {
            return None;
        }
        let next = self.fence_and_abort(now_ms).ok()?;
        Some(vec![
            Effect::Persist(next.clone()),
            Effect::CancelTimeout,
            Self::abort_markers(&next),
        ])
    }

    /// `transactional.id.expiration.ms`: an id idle that long in Empty or Complete* goes Dead
    /// (the actor writes a tombstone and forgets it).
    pub fn expire(&self, now_ms: i64, expiration_ms: i64) -> Option<Vec<Effect>> {
        if !self.state.is_expiration_allowed()
            || self.last_update_ms > now_ms.saturating_sub(expiration_ms)
        {
            return None;
        }
        let mut next = self.next(TxnState::Dead, self.last_update_ms);
        next.partitions.clear();
        Some(vec![Effect::Persist(next)])
    }

    /// After `__transaction_state` was replayed: what to finish. Prepare* → write the markers
    /// again (then complete); Ongoing → arm its timeout.
    pub fn recover(&self) -> Vec<Effect> {
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => vec![Effect::WriteMarkers {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                commit: self.state == TxnState::PrepareCommit,
                partitions: self.partitions.iter().cloned().collect(),
            }],
            TxnState::Ongoing => self
                .timeout_deadline_ms()
                .map(|deadline_ms| vec![Effect::ScheduleTimeout { deadline_ms }])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn describe(&self) -> TxnDescription {
        TxnDescription {
            transactional_id: self.transactional_id.clone(),
            state: self.state,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            start_ms: self.start_ms,
            partitions: self.partitions.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TxnState::*;

    const T0: i64 = 1_700_000_000_000;

    fn tp(t: &str, p: i32) -> TxnPartition {
        (t.to_string(), p)
    }

    /// Runs effects the way the actor does when every write succeeds: installs each Persist.
    /// Returns the replies, the markers asked for and the timer effects.
    fn apply(meta: &mut TxnMetadata, fx: Vec<Effect>) -> Vec<Effect> {
        let mut rest = Vec::new();
        for e in fx {
            match e {
                Effect::Persist(next) => meta.install(next).expect("legal transition"),
                other => rest.push(other),
            }
        }
        rest
    }

    fn persisted(fx: &[Effect]) -> Option<&TxnMetadata> {
        fx.iter().find_map(|e| match e {
            Effect::Persist(m) => Some(m),
            _ => None,
        })
    }

    fn reply_of(fx: &[Effect]) -> TxnResult {
        fx.iter()
            .find_map(|e| match e {
                Effect::Reply(r) => Some(*r),
                _ => None,
            })
            .expect("a reply")
    }

    /// A fresh id after its first InitProducerId: producer 1000, epoch 0, Empty.
    fn initialised() -> TxnMetadata {
        let mut m = TxnMetadata::new("tx", 1000, 60_000, T0);
        let fx = m.init_producer_id(60_000, None, None, T0);
        apply(&mut m, fx);
        m
    }

    fn ongoing() -> TxnMetadata {
        let mut m = initialised();
        let fx = m.add_partitions(1000, 0, &[tp("a", 0), tp("b", 1)], T0 + 10);
        apply(&mut m, fx);
        m
    }

    fn in_state(state: TxnState) -> TxnMetadata {
        TxnMetadata { state, ..ongoing() }
    }

    // ----- the transition table ----------------------------------------------

    #[test]
    fn legal_transitions_are_kafkas() {
        let legal = [
            (Empty, Empty),
            (CompleteCommit, Empty),
            (CompleteAbort, Empty),
            (Ongoing, Ongoing),
            (Empty, Ongoing),
            (CompleteCommit, Ongoing),
            (CompleteAbort, Ongoing),
            (Ongoing, PrepareCommit),
            (Ongoing, PrepareAbort),
            (PrepareEpochFence, PrepareAbort),
            (PrepareCommit, CompleteCommit),
            (PrepareAbort, CompleteAbort),
            (Ongoing, PrepareEpochFence),
            (Empty, Dead),
            (CompleteCommit, Dead),
            (CompleteAbort, Dead),
        ];
        for from in TxnState::ALL {
            for to in TxnState::ALL {
                assert_eq!(
                    can_transition(from, to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn install_refuses_illegal_transitions_by_name() {
        for from in TxnState::ALL {
            for to in TxnState::ALL {
                let mut m = in_state(from);
                let next = in_state(to);
                let result = m.install(next);
                if can_transition(from, to) {
                    assert_eq!(result, Ok(()));
                    assert_eq!(m.state, to);
                } else {
                    assert_eq!(result, Err(IllegalTransition { from, to }));
                    assert_eq!(m.state, from, "an illegal transition changes nothing");
                    assert_eq!(
                        result.unwrap_err().to_string(),
                        format!("illegal transaction state transition {from} -> {to}")
                    );
                }
            }
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in TxnState::ALL {
            assert_eq!(TxnState::from_name(s.as_str()), Some(s));
        }
        assert_eq!(TxnState::from_name("Bogus"), None);
    }

    #[test]
    fn old_versions_see_invalid_producer_epoch_for_fenced() {
        assert_eq!(code_for_version(TxnError::ProducerFenced, 1, 2), 47);
        assert_eq!(code_for_version(TxnError::ProducerFenced, 2, 2), 90);
        assert_eq!(code_for_version(TxnError::ProducerFenced, 3, 4), 47);
        assert_eq!(code_for_version(TxnError::InvalidTxnState, 0, 2), 48);
    }

    // ----- InitProducerId -----------------------------------------------------

    #[test]
    fn init_validates_id_and_timeout() {
        let c = TxnConfig::default();
        assert_eq!(validate_init("", 1000, &c), Err(TxnError::InvalidRequest));
        assert_eq!(
            validate_init("tx", 900_001, &c),
            Err(TxnError::InvalidTransactionTimeout)
        );
        assert_eq!(
            validate_init("tx", 0, &c),
            Err(TxnError::InvalidTransactionTimeout)
        );
        assert_eq!(validate_init("tx", 900_000, &c), Ok(()));
    }

    #[test]
    fn first_init_hands_out_epoch_zero_after_persisting() {
        let m = TxnMetadata::new("tx", 1000, 60_000, T0);
        let fx = m.init_producer_id(30_000, None, None, T0 + 5);
        let next = persisted(&fx).expect("written before answering").clone();
        assert!(matches!(fx[0], Effect::Persist(_)), "persist comes first");
        assert_eq!((next.producer_id, next.producer_epoch), (1000, 0));
        assert_eq!(next.state, Empty);
        assert_eq!(next.timeout_ms, 30_000, "the request's timeout is kept");
        assert_eq!(next.last_update_ms, T0 + 5);
        assert_eq!(
            reply_of(&fx),
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id: 1000,
                producer_epoch: 0
            })
        );
        assert_eq!(m.producer_epoch, -1, "nothing changes before the write");
    }

    #[test]
    fn init_bumps_the_epoch_of_a_known_id() {
        for state in [Empty, CompleteCommit, CompleteAbort] {
            let mut m = TxnMetadata {
                producer_epoch: 4,
                ..in_state(state)
            };
            let fx = m.init_producer_id(60_000, None, None, T0);
            assert_eq!(
                reply_of(&fx),
                Ok(TxnReply::ProducerIdAndEpoch {
                    producer_id: 1000,
                    producer_epoch: 5
                })
            );
            apply(&mut m, fx);
            assert_eq!(m.state, Empty);
            assert!(m.partitions.is_empty());
            assert_eq!(m.start_ms, -1);
            assert_eq!(m.last_producer_epoch, -1);
        }
    }

    #[test]
    fn init_during_ongoing_fences_and_aborts_then_asks_to_retry() {
        let m = ongoing();
        let fx = m.init_producer_id(60_000, None, None, T0 + 100);
        let next = persisted(&fx).unwrap();
        assert_eq!(
            next.state, PrepareAbort,
            "through PrepareEpochFence to PrepareAbort"
        );
        assert_eq!(
            next.producer_epoch, 1,
            "the epoch is bumped to fence the zombie"
        );
        assert_eq!(next.last_producer_epoch, -1);
        assert_eq!(reply_of(&fx), Err(TxnError::ConcurrentTransactions));
        assert!(fx.contains(&Effect::CancelTimeout));
        assert!(fx.contains(&Effect::WriteMarkers {
            producer_id: 1000,
            producer_epoch: 1,
            commit: false,
            partitions: vec![tp("a", 0), tp("b", 1)],
        }));

        // Once the abort completed, the retry bumps once more and succeeds.
        let mut m = m;
        apply(&mut m, fx);
        let fx = m.markers_written(T0 + 200);
        apply(&mut m, fx);
        assert_eq!(m.state, CompleteAbort);
        let fx = m.init_producer_id(60_000, None, None, T0 + 300);
        assert_eq!(
            reply_of(&fx),
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id: 1000,
                producer_epoch: 2
            })
        );
    }

    #[test]
    fn init_while_markers_are_written_is_concurrent_transactions() {
        for state in [PrepareCommit, PrepareAbort] {
            let fx = in_state(state).init_producer_id(60_000, None, None, T0);
            assert_eq!(
                fx,
                vec![Effect::Reply(Err(TxnError::ConcurrentTransactions))]
            );
        }
    }

    #[test]
    fn init_in_states_never_kept_is_invalid_txn_state() {
        for state in [Dead, PrepareEpochFence] {
            let fx = in_state(state).init_producer_id(60_000, None, None, T0);
            assert_eq!(fx, vec![Effect::Reply(Err(TxnError::InvalidTxnState))]);
        }
    }

    #[test]
    fn init_with_a_foreign_producer_id_is_fenced() {
        let m = initialised();
        let fx = m.init_producer_id(
            60_000,
            Some(ProducerIdAndEpoch {
                producer_id: 7,
                epoch: 0,
            }),
            None,
            T0,
        );
        assert_eq!(fx, vec![Effect::Reply(Err(TxnError::ProducerFenced))]);
    }

    #[test]
    fn init_with_a_stale_epoch_is_fenced_and_a_retry_gets_the_same_answer() {
        let mut m = initialised(); // epoch 0
        let expected = |epoch| {
            Some(ProducerIdAndEpoch {
                producer_id: 1000,
                epoch,
            })
        };
        // The holder of epoch 0 recovers: bump to 1, remembering 0.
        let fx = m.init_producer_id(60_000, expected(0), None, T0);
        apply(&mut m, fx);
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (1, 0));
        // Its retry (response lost) is answered with epoch 1 again, no second bump.
        let fx = m.init_producer_id(60_000, expected(0), None, T0);
        assert_eq!(
            reply_of(&fx),
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id: 1000,
                producer_epoch: 1
            })
        );
        apply(&mut m, fx);
        assert_eq!(m.producer_epoch, 1);
        // A plain init (new producer) resets the remembered epoch; the old holder is fenced.
        let fx = m.init_producer_id(60_000, None, None, T0);
        apply(&mut m, fx);
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (2, -1));
        let fx = m.init_producer_id(60_000, expected(0), None, T0);
        assert_eq!(fx, vec![Effect::Reply(Err(TxnError::ProducerFenced))]);
    }

    #[test]
    fn exhausted_epoch_rotates_to_a_new_producer_id() {
        let mut m = TxnMetadata {
            producer_epoch: i16::MAX - 1,
            ..initialised()
        };
        assert!(m.needs_new_producer_id(None));
        // Without the fresh id the machine refuses rather than overflowing.
        let fx = m.init_producer_id(60_000, None, None, T0);
        assert_eq!(fx, vec![Effect::Reply(Err(TxnError::UnknownServerError))]);
        let exhausted = Some(ProducerIdAndEpoch {
            producer_id: 1000,
            epoch: i16::MAX - 1,
        });
        let fx = m.init_producer_id(60_000, exhausted, Some(2000), T0);
        assert_eq!(
            reply_of(&fx),
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id: 2000,
                producer_epoch: 0
            })
        );
        apply(&mut m, fx);
        assert_eq!(
            m.previous_producer_id, 1000,
            "the old id is kept for retries"
        );
        assert_eq!(m.last_producer_epoch, i16::MAX - 1);
        // A retry naming the old id and its exhausted epoch gets the same answer.
        assert!(!m.needs_new_producer_id(exhausted));
        let fx = m.init_producer_id(60_000, exhausted, None, T0);
        assert_eq!(
            reply_of(&fx),
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id: 2000,
                producer_epoch: 0
            })
        );
    }

    #[test]
    fn fresh_metadata_accepts_any_expected_producer() {
        // A client recovering from UNKNOWN_PRODUCER_ID names an id this coordinator never saw.
        let m = TxnMetadata::new("tx", 1000, 60_000, T0);
        let fx = m.init_producer_id(
            60_000,
            Some(ProducerIdAndEpoch {
                producer_id: 55,
                epoch: 3,
            }),
            None,
            T0,
        );
        assert_eq!(
            reply_of(&fx),
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id: 1000,
                producer_epoch: 0
            })
        );
    }

    // ----- AddPartitionsToTxn -------------------------------------------------

    #[test]
    fn add_partitions_starts_the_transaction_and_arms_its_timeout() {
        let m = initialised();
        let fx = m.add_partitions(1000, 0, &[tp("a", 0)], T0 + 50);
        let next = persisted(&fx).unwrap();
        assert_eq!(next.state, Ongoing);
        assert_eq!(next.start_ms, T0 + 50);
        assert_eq!(next.partitions, [tp("a", 0)].into());
        assert!(fx.contains(&Effect::ScheduleTimeout {
            deadline_ms: T0 + 50 + 60_000 + 1
        }));
        assert_eq!(reply_of(&fx), Ok(TxnReply::Done));
    }

    #[test]
    fn add_partitions_to_an_ongoing_transaction_keeps_its_start() {
        let m = ongoing();
        let fx = m.add_partitions(1000, 0, &[tp("c", 2)], T0 + 999);
        let next = persisted(&fx).unwrap();
        assert_eq!(next.start_ms, T0 + 10);
        assert_eq!(next.partitions.len(), 3);
        assert!(
            !fx.iter()
                .any(|e| matches!(e, Effect::ScheduleTimeout { .. })),
            "the timeout runs from the start"
        );
        // Partitions already in: answered without a write.
        let fx = m.add_partitions(1000, 0, &[tp("a", 0)], T0 + 999);
        assert_eq!(fx, vec![Effect::Reply(Ok(TxnReply::Done))]);
    }

    #[test]
    fn add_partitions_after_a_completed_transaction_starts_a_new_one() {
        let mut m = ongoing();
        let fx = m.end_txn(1000, 0, true, T0 + 20);
        apply(&mut m, fx);
        let fx = m.markers_written(T0 + 30);
        apply(&mut m, fx);
        let fx = m.add_partitions(1000, 0, &[tp("z", 0)], T0 + 40);
        let next = persisted(&fx).unwrap();
        assert_eq!(next.partitions, [tp("z", 0)].into());
        assert_eq!(next.start_ms, T0 + 40);
    }

    #[test]
    fn add_partitions_errors() {
        let m = ongoing();
        let only_reply = |fx: Vec<Effect>| match fx.as_slice() {
            [Effect::Reply(r)] => *r,
            other => panic!("expected only a reply, got {other:?}"),
        };
        assert_eq!(
            only_reply(m.add_partitions(999, 0, &[tp("c", 0)], T0)),
            Err(TxnError::InvalidProducerIdMapping)
        );
        assert_eq!(
            only_reply(m.add_partitions(1000, 1, &[tp("c", 0)], T0)),
            Err(TxnError::ProducerFenced)
        );
        for state in [PrepareCommit, PrepareAbort] {
            assert_eq!(
                only_reply(in_state(state).add_partitions(1000, 0, &[tp("c", 0)], T0)),
                Err(TxnError::ConcurrentTransactions)
            );
        }
        for state in [Dead, PrepareEpochFence] {
            assert_eq!(
                only_reply(in_state(state).add_partitions(1000, 0, &[tp("c", 0)], T0)),
                Err(TxnError::InvalidTxnState)
            );
        }
    }

    #[test]
    fn verify_partitions_reports_what_is_in_the_transaction() {
        let m = ongoing();
        assert_eq!(
            m.verify_partitions(1000, 0, &[tp("a", 0), tp("x", 0)]),
            Ok(vec![
                (tp("a", 0), Ok(())),
                (tp("x", 0), Err(TxnError::TransactionAbortable))
            ])
        );
        assert_eq!(
            m.verify_partitions(1000, 3, &[tp("a", 0)]),
            Err(TxnError::ProducerFenced)
        );
        assert_eq!(
            in_state(PrepareCommit).verify_partitions(1000, 0, &[tp("a", 0)]),
            Err(TxnError::ConcurrentTransactions)
        );
    }

    // ----- EndTxn ---------------------------------------------------------------

    #[test]
    fn commit_prepares_answers_then_writes_markers_then_completes() {
        let mut m = ongoing();
        let fx = m.end_txn(1000, 0, true, T0 + 20);
        assert_eq!(persisted(&fx).unwrap().state, PrepareCommit);
        let rest = apply(&mut m, fx);
        assert_eq!(
            rest,
            vec![
                Effect::CancelTimeout,
                Effect::Reply(Ok(TxnReply::Done)),
                Effect::WriteMarkers {
                    producer_id: 1000,
                    producer_epoch: 0,
                    commit: true,
                    partitions: vec![tp("a", 0), tp("b", 1)],
                },
            ]
        );
        let fx = m.markers_written(T0 + 30);
        apply(&mut m, fx);
        assert_eq!(m.state, CompleteCommit);
        assert!(m.partitions.is_empty());
        assert_eq!(
            m.producer_epoch, 0,
            "transaction version 1: EndTxn keeps the epoch"
        );
        assert_eq!(m.start_ms, T0 + 10);
    }

    #[test]
    fn abort_goes_through_prepare_abort() {
        let mut m = ongoing();
        let fx = m.end_txn(1000, 0, false, T0 + 20);
        apply(&mut m, fx);
        assert_eq!(m.state, PrepareAbort);
        let fx = m.markers_written(T0 + 30);
        apply(&mut m, fx);
        assert_eq!(m.state, CompleteAbort);
    }

    #[test]
    fn retried_end_txn_of_a_completed_transaction_answers_none() {
        let only = |fx: Vec<Effect>| match fx.as_slice() {
            [Effect::Reply(r)] => *r,
            other => panic!("expected only a reply, got {other:?}"),
        };
        assert_eq!(
            only(in_state(CompleteCommit).end_txn(1000, 0, true, T0)),
            Ok(TxnReply::Done)
        );
        assert_eq!(
            only(in_state(CompleteAbort).end_txn(1000, 0, false, T0)),
            Ok(TxnReply::Done)
        );
        // ... but the opposite outcome is a state error.
        assert_eq!(
            only(in_state(CompleteCommit).end_txn(1000, 0, false, T0)),
            Err(TxnError::InvalidTxnState)
        );
        assert_eq!(
            only(in_state(CompleteAbort).end_txn(1000, 0, true, T0)),
            Err(TxnError::InvalidTxnState)
        );
    }

    #[test]
    fn end_txn_errors() {
        let only = |fx: Vec<Effect>| match fx.as_slice() {
            [Effect::Reply(r)] => *r,
            other => panic!("expected only a reply, got {other:?}"),
        };
        assert_eq!(
            only(initialised().end_txn(1000, 0, true, T0)),
            Err(TxnError::InvalidTxnState),
            "nothing to commit in Empty"
        );
        assert_eq!(
            only(in_state(PrepareCommit).end_txn(1000, 0, true, T0)),
            Err(TxnError::ConcurrentTransactions)
        );
        assert_eq!(
            only(in_state(PrepareAbort).end_txn(1000, 0, false, T0)),
            Err(TxnError::ConcurrentTransactions)
        );
        assert_eq!(
            only(in_state(PrepareCommit).end_txn(1000, 0, false, T0)),
            Err(TxnError::InvalidTxnState)
        );
        assert_eq!(
            only(in_state(PrepareAbort).end_txn(1000, 0, true, T0)),
            Err(TxnError::InvalidTxnState)
        );
        for state in [Dead, PrepareEpochFence] {
            assert_eq!(
                only(in_state(state).end_txn(1000, 0, true, T0)),
                Err(TxnError::InvalidTxnState)
            );
        }
        assert_eq!(
            only(ongoing().end_txn(1000, 1, true, T0)),
            Err(TxnError::ProducerFenced)
        );
        assert_eq!(
            only(ongoing().end_txn(1, 0, true, T0)),
            Err(TxnError::InvalidProducerIdMapping)
        );
    }

    #[test]
    fn a_fenced_zombie_cannot_commit() {
        // Producer A (epoch 0) has a transaction open; producer B inits the same id.
        let mut m = ongoing();
        let fx = m.init_producer_id(60_000, None, None, T0 + 100);
        apply(&mut m, fx);
        let fx = m.end_txn(1000, 0, true, T0 + 101);
        assert_eq!(reply_of(&fx), Err(TxnError::ProducerFenced));
        assert_eq!(fx.len(), 1, "nothing written for the zombie");
    }

    // ----- timeout, expiry, recovery --------------------------------------------

    #[test]
    fn timeout_fences_and_aborts_only_once_due() {
        let m = ongoing(); // started at T0 + 10, timeout 60 s
        assert_eq!(
            m.timeout_abort(T0 + 10 + 60_000),
            None,
            "not more than the timeout yet"
        );
        let fx = m.timeout_abort(T0 + 10 + 60_001).expect("due");
        let next = persisted(&fx).unwrap();
        assert_eq!(next.state, PrepareAbort);
        assert_eq!(next.producer_epoch, 1);
        assert!(fx.contains(&Effect::WriteMarkers {
            producer_id: 1000,
            producer_epoch: 1,
            commit: false,
            partitions: vec![tp("a", 0), tp("b", 1)],
        }));
        assert!(!fx.iter().any(|e| matches!(e, Effect::Reply(_))));
        for state in [
            Empty,
            PrepareCommit,
            PrepareAbort,
            CompleteCommit,
            CompleteAbort,
        ] {
            assert_eq!(in_state(state).timeout_abort(i64::MAX), None);
        }
        // The producer of the aborted transaction is fenced.
        let mut m = m;
        apply(&mut m, fx);
        assert_eq!(
            reply_of(&m.add_partitions(1000, 0, &[tp("a", 0)], T0)),
            Err(TxnError::ProducerFenced)
        );
    }

    #[test]
    fn idle_ids_expire_only_from_expirable_states() {
        let day = 86_400_000;
        let m = TxnMetadata {
            last_update_ms: T0,
            ..initialised()
        };
        assert_eq!(m.expire(T0 + day - 1, day), None);
        let fx = m.expire(T0 + day, day).expect("expired");
        assert_eq!(persisted(&fx).unwrap().state, Dead);
        for state in [Ongoing, PrepareCommit, PrepareAbort] {
            let m = TxnMetadata {
                last_update_ms: T0,
                ..in_state(state)
            };
            assert_eq!(m.expire(i64::MAX, day), None, "{state}");
        }
    }

    #[test]
    fn recovery_finishes_prepared_transactions_and_rearms_timeouts() {
        let fx = in_state(PrepareCommit).recover();
        assert_eq!(
            fx,
            vec![Effect::WriteMarkers {
                producer_id: 1000,
                producer_epoch: 0,
                commit: true,
                partitions: vec![tp("a", 0), tp("b", 1)],
            }]
        );
        assert!(matches!(
            in_state(PrepareAbort).recover().as_slice(),
            [Effect::WriteMarkers { commit: false, .. }]
        ));
        assert_eq!(
            ongoing().recover(),
            vec![Effect::ScheduleTimeout {
                deadline_ms: T0 + 10 + 60_000 + 1
            }]
        );
        assert!(initialised().recover().is_empty());
        assert!(in_state(CompleteCommit).markers_written(T0).is_empty());
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let m = ongoing();
        let json = serde_json::to_vec(&m).unwrap();
        let back: TxnMetadata = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, m);
    }
}
