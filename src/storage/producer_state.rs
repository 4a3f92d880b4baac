//! Producer state: what a partition remembers of each idempotent producer, so that a retried
//! batch is answered with its first offsets instead of being written twice.
//!
//! Per producer id it keeps the epoch and the sequence ranges and offsets of the last five
//! batches (a producer has at most five requests in flight per partition), the coordinator
//! epoch of its last transaction marker, and the first offset of its open transaction, as
//! Kafka's `ProducerStateManager` does. Data batches are read from their headers alone —
//! producer id, epoch, base sequence, last offset delta, transactional bit — and a
//! transaction marker from its one small record, so rebuilding the table from the log never
//! decompresses a record.
//!
//! The rules for a data batch ([`ProducerStateTable::check`]), with Kafka's answers:
//! - an epoch older than the one on record → INVALID_PRODUCER_EPOCH;
//! - a batch identical (same epoch, first and last sequence) to one of the five remembered →
//!   a duplicate: not appended, answered with the original offsets;
//! - a newer epoch must start at sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - the same epoch must continue at last sequence + 1 (wrapping after `i32::MAX`), else
//!   OUT_OF_ORDER_SEQUENCE_NUMBER — unless the producer is unknown here (never seen, expired,
//!   or its batches deleted by retention), which accepts any sequence;
//! - a non-transactional batch while the producer has a transaction open → INVALID_TXN_STATE.
//!
//! A transactional batch opens a transaction at its base offset if none is open. A
//! transaction marker ([`ProducerStateTable::check_marker`]) must not carry an older producer
//! epoch (INVALID_PRODUCER_EPOCH) or an older coordinator epoch
//! (TRANSACTION_COORDINATOR_FENCED) than the producer's; it closes the open transaction, if
//! any, and a marker without one is still written, as Kafka writes it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::batch::BatchHeader;
use super::txn_marker::EndTxnMarker;

/// `producerId` of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` when there is none.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` of a batch without sequence numbers.
pub const NO_SEQUENCE: i32 = -1;
/// Coordinator epoch of a producer no transaction marker has named yet.
pub const NO_COORDINATOR_EPOCH: i32 = -1;
/// Batches remembered per producer: Kafka's `max.in.flight.requests.per.connection` bound
/// for idempotence.
pub const BATCHES_RETAINED: usize = 5;

/// Where one batch of a producer landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// One producer's state in one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_RETAINED`].
    pub batches: VecDeque<BatchMetadata>,
    /// Max timestamp of its last batch; idle producers expire by it.
    pub last_timestamp: i64,
    /// First offset of the producer's open transaction in this partition, if any.
    pub current_txn_first_offset: Option<i64>,
    /// Coordinator epoch of the last transaction marker written for this producer.
    #[serde(default = "no_coordinator_epoch")]
    pub coordinator_epoch: i32,
}

fn no_coordinator_epoch() -> i32 {
    NO_COORDINATOR_EPOCH
}

impl ProducerEntry {
    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: -1,
            current_txn_first_offset: None,
            coordinator_epoch: NO_COORDINATOR_EPOCH,
        }
    }

    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    /// Takes in a batch now in the log; see [`ProducerStateTable::record`].
    fn apply(&mut self, header: &BatchHeader, is_transactional: bool, is_control: bool) {
        if header.producer_epoch != self.epoch {
            // A newer epoch starts afresh (replay may also see an older one after truncation
            // elsewhere; it then wins, as the log says so). An open transaction stays open.
            *self = ProducerEntry {
                current_txn_first_offset: self.current_txn_first_offset,
                coordinator_epoch: self.coordinator_epoch,
                ..ProducerEntry::new(header.producer_epoch)
            };
        }
        self.last_timestamp = header.max_timestamp;
        if is_control {
            self.current_txn_first_offset = None;
            return;
        }
        if header.base_sequence >= 0 {
            self.batches.push_back(BatchMetadata {
                first_seq: header.base_sequence,
                last_seq: last_sequence(header.base_sequence, header.last_offset_delta),
                first_offset: header.base_offset,
                last_offset: header.last_offset(),
                max_timestamp: header.max_timestamp,
            });
            while self.batches.len() > BATCHES_RETAINED {
                self.batches.pop_front();
            }
        }
        if is_transactional && self.current_txn_first_offset.is_none() {
            self.current_txn_first_offset = Some(header.base_offset);
        }
    }

    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }
}

/// Why a producer's batch is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerStateError {
    /// Kafka's INVALID_PRODUCER_EPOCH (47).
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    #[error("producer {producer_id} sent sequence {first_seq}; expected {expected}")]
    OutOfOrderSequence {
        producer_id: i64,
        first_seq: i32,
        expected: i32,
    },
    /// Kafka's INVALID_TXN_STATE (48): a non-transactional batch from a producer whose
    /// transaction is open here.
    #[error("producer {producer_id} sent a non-transactional batch inside its transaction open since offset {txn_first_offset}")]
    InvalidTxnState {
        producer_id: i64,
        txn_first_offset: i64,
    },
    /// Kafka's TRANSACTION_COORDINATOR_FENCED (52): a marker from a coordinator older than the
    /// one that wrote this producer's last marker.
    #[error("marker for producer {producer_id} from coordinator epoch {coordinator_epoch}, older than {current}")]
    TransactionCoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current: i32,
    },
}

/// A transaction a marker ended in this partition (Kafka's `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    /// The transaction's first offset in this partition.
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub is_aborted: bool,
}

/// What to do with a batch that passed the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data: append it.
    Append,
    /// Already written: answer with where it went.
    Duplicate(BatchMetadata),
}

/// The sequence of a batch's last record: `base + last_offset_delta`, wrapping to 0 after
/// `i32::MAX` as producers do.
pub fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    if base_sequence < 0 {
        return NO_SEQUENCE;
    }
    let sum = i64::from(base_sequence) + i64::from(last_offset_delta.max(0));
    (sum % (i64::from(i32::MAX) + 1)) as i32
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// Inside an open transaction a producer may only send transactional batches.
fn check_txn_state(entry: &ProducerEntry, header: &BatchHeader) -> Result<(), ProducerStateError> {
    match entry.current_txn_first_offset {
        Some(txn_first_offset) if !header.is_transactional() => {
            Err(ProducerStateError::InvalidTxnState {
                producer_id: header.producer_id,
                txn_first_offset,
            })
        }
        _ => Ok(()),
    }
}

/// Every producer's state in one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions as (first offset, producer id), so the first unstable offset (asked
    /// on every append and read) costs no scan. Derived from `producers`; not stored.
    #[serde(skip)]
    ongoing_txns: BTreeSet<(i64, i64)>,
}

impl ProducerStateTable {
    pub fn new() -> ProducerStateTable {
        ProducerStateTable::default()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks a client's data batch before it is appended (offsets not yet assigned).
    /// Batches without a producer id always append.
    pub fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, ProducerStateError> {
        let producer_id = header.producer_id;
        if producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        let epoch = header.producer_epoch;
        if epoch < entry.epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        let first_seq = header.base_sequence;
        if first_seq < 0 {
            check_txn_state(entry, header)?;
            return Ok(SequenceCheck::Append);
        }
        let last_seq = last_sequence(first_seq, header.last_offset_delta);
        if let Some(duplicate) = entry.find_duplicate(epoch, first_seq, last_seq) {
            return Ok(SequenceCheck::Duplicate(duplicate));
        }
        if epoch != entry.epoch {
            if first_seq != 0 && entry.epoch != NO_PRODUCER_EPOCH {
                return Err(ProducerStateError::OutOfOrderSequence {
                    producer_id,
                    first_seq,
                    expected: 0,
                });
            }
            check_txn_state(entry, header)?;
            return Ok(SequenceCheck::Append);
        }
        if let Some(last) = entry.last_seq() {
            if !in_sequence(last, first_seq) {
                return Err(ProducerStateError::OutOfOrderSequence {
                    producer_id,
                    first_seq,
                    expected: if last == i32::MAX { 0 } else { last + 1 },
                });
            }
        }
        check_txn_state(entry, header)?;
        Ok(SequenceCheck::Append)
    }

    /// Checks a transaction marker before it is written: its producer epoch and coordinator
    /// epoch must not be older than the producer's. A producer unknown here accepts any.
    pub fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), ProducerStateError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id,
                epoch: producer_epoch,
                current: entry.epoch,
            });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(ProducerStateError::TransactionCoordinatorFenced {
                producer_id,
                coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records a transaction marker now in the log (`header` with its offset assigned):
    /// notes its epochs and closes the producer's open transaction, returning it, if there was
    /// one. Works for markers replayed from the log as well.
    pub fn record_marker(
        &mut self,
        header: &BatchHeader,
        marker: &EndTxnMarker,
    ) -> Option<CompletedTxn> {
        let first_offset = self
            .producers
            .get(&header.producer_id)
            .and_then(|e| e.current_txn_first_offset);
        self.record(header, true, true);
        if let Some(entry) = self.producers.get_mut(&header.producer_id) {
            entry.coordinator_epoch = marker.coordinator_epoch;
        }
        first_offset.map(|first_offset| CompletedTxn {
            producer_id: header.producer_id,
            first_offset,
            last_offset: header.base_offset,
            is_aborted: marker.is_abort(),
        })
    }

    /// Kafka's `lastStableOffset(completedTxn)`, asked once the transaction is recorded as
    /// complete: the first offset of the earliest transaction still open, or the offset after
    /// the marker when none is. It goes into the aborted transaction's index entry.
    pub fn last_stable_offset_after(&self, completed: &CompletedTxn) -> i64 {
        self.first_unstable_offset()
            .unwrap_or(completed.last_offset + 1)
    }

    /// Records a batch now in the log (offsets assigned): client appends after [`check`],
    /// and every batch replayed from the log at recovery. Control batches end the producer's
    /// open transaction.
    ///
    /// [`check`]: ProducerStateTable::check
    pub fn record(&mut self, header: &BatchHeader, is_transactional: bool, is_control: bool) {
        let producer_id = header.producer_id;
        if producer_id < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry::new(header.producer_epoch));
        let txn_before = entry.current_txn_first_offset;
        entry.apply(header, is_transactional, is_control);
        let txn_after = entry.current_txn_first_offset;
        if txn_before != txn_after {
            if let Some(first) = txn_before {
                self.ongoing_txns.remove(&(first, producer_id));
            }
            if let Some(first) = txn_after {
                self.ongoing_txns.insert((first, producer_id));
            }
        }
    }

    /// Drops producers idle for `expiration_ms` (`producer.id.expiration.ms`) that have no
    /// open transaction. Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Forgets batches below the new log start offset (retention, DeleteRecords); a producer
    /// left with none and no open transaction is forgotten, as Kafka does.
    pub fn truncate_head(&mut self, log_start_offset: i64) {
        self.producers.retain(|_, e| {
            while e
                .batches
                .front()
                .is_some_and(|b| b.last_offset < log_start_offset)
            {
                e.batches.pop_front();
            }
            !e.batches.is_empty() || e.current_txn_first_offset.is_some()
        });
    }

    /// The earliest first offset of any open transaction: the last stable offset cannot pass
    /// it.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing_txns.first().map(|&(first, _)| first)
    }
}

/// First line of a snapshot file: a tag, the format version and the CRC-32C of the JSON
/// body that follows, so a torn or foreign file is recognised and ignored.
const SNAPSHOT_TAG: &str = "troupe-producer-state";
const SNAPSHOT_VERSION: u32 = 1;

impl ProducerStateTable {
    /// The table as a snapshot file's bytes.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut out = format!(
            "{SNAPSHOT_TAG} {SNAPSHOT_VERSION} {:08x}\n",
            crc32c::crc32c(&body)
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// Reads a snapshot file's bytes; None when the tag, version or checksum is wrong.
    pub fn decode_snapshot(bytes: &[u8]) -> Option<ProducerStateTable> {
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let header = std::str::from_utf8(&bytes[..newline]).ok()?;
        let body = &bytes[newline + 1..];
        let mut fields = header.split(' ');
        if fields.next()? != SNAPSHOT_TAG || fields.next()?.parse::<u32>().ok()? != SNAPSHOT_VERSION
        {
            return None;
        }
        let crc = u32::from_str_radix(fields.next()?, 16).ok()?;
        if crc32c::crc32c(body) != crc {
            return None;
        }
        let mut table: ProducerStateTable = serde_json::from_slice(body).ok()?;
        table.ongoing_txns = table
            .producers
            .iter()
            .filter_map(|(&id, e)| e.current_txn_first_offset.map(|first| (first, id)))
            .collect();
        Some(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: i64 = 1000;

    fn header(epoch: i16, base_seq: i32, records: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: 1,
            max_timestamp: 10 + base_offset,
            producer_id: PID,
            producer_epoch: epoch,
            base_sequence: base_seq,
            record_count: records,
        }
    }

    fn table_with(batches: &[(i16, i32, i32, i64)]) -> ProducerStateTable {
        let mut t = ProducerStateTable::new();
        for &(epoch, seq, n, offset) in batches {
            let h = header(epoch, seq, n, offset);
            assert_eq!(t.check(&h), Ok(SequenceCheck::Append));
            t.record(&h, false, false);
        }
        t
    }

    #[test]
    fn in_order_batches_append() {
        let t = table_with(&[(0, 0, 3, 0), (0, 3, 2, 3)]);
        assert_eq!(t.get(PID).unwrap().batches.len(), 2);
        assert_eq!(t.check(&header(0, 5, 1, 0)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn retried_batch_is_a_duplicate_with_its_original_offsets() {
        let t = table_with(&[(0, 0, 3, 100), (0, 3, 2, 103)]);
        match t.check(&header(0, 0, 3, -1)) {
            Ok(SequenceCheck::Duplicate(b)) => {
                assert_eq!((b.first_offset, b.last_offset), (100, 102))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            t.check(&header(0, 3, 2, -1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let batches: Vec<_> = (0..7).map(|i| (0, i, 1, i64::from(i))).collect();
        let t = table_with(&batches);
        assert_eq!(t.get(PID).unwrap().batches.len(), BATCHES_RETAINED);
        // Sequence 0 is no longer remembered: it is neither a duplicate nor the next one.
        assert!(matches!(
            t.check(&header(0, 0, 1, -1)),
            Err(ProducerStateError::OutOfOrderSequence { .. })
        ));
        assert!(matches!(
            t.check(&header(0, 2, 1, -1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn gaps_are_out_of_order() {
        let t = table_with(&[(0, 0, 3, 0)]);
        assert_eq!(
            t.check(&header(0, 4, 1, -1)),
            Err(ProducerStateError::OutOfOrderSequence {
                producer_id: PID,
                first_seq: 4,
                expected: 3
            })
        );
    }

    #[test]
    fn old_epoch_is_refused_and_new_epoch_must_start_at_zero() {
        let t = table_with(&[(3, 0, 1, 0)]);
        assert!(matches!(
            t.check(&header(2, 1, 1, -1)),
            Err(ProducerStateError::InvalidProducerEpoch { current: 3, .. })
        ));
        assert!(matches!(
            t.check(&header(4, 7, 1, -1)),
            Err(ProducerStateError::OutOfOrderSequence { expected: 0, .. })
        ));
        assert_eq!(t.check(&header(4, 0, 1, -1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn unknown_producer_accepts_any_sequence() {
        let t = ProducerStateTable::new();
        assert_eq!(t.check(&header(0, 42, 1, -1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(last_sequence(i32::MAX - 1, 2), 0);
        let t = table_with(&[(0, i32::MAX - 1, 2, 0)]);
        assert_eq!(t.get(PID).unwrap().batches[0].last_seq, i32::MAX);
        assert_eq!(t.check(&header(0, 0, 1, -1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn non_idempotent_batches_are_not_tracked() {
        let mut t = ProducerStateTable::new();
        let mut h = header(0, 0, 1, 0);
        h.producer_id = NO_PRODUCER_ID;
        assert_eq!(t.check(&h), Ok(SequenceCheck::Append));
        t.record(&h, false, false);
        assert!(t.is_empty());
    }

    #[test]
    fn transactions_open_on_data_and_close_on_a_marker() {
        let mut t = ProducerStateTable::new();
        t.record(&header(0, 0, 2, 10), true, false);
        t.record(&header(0, 2, 2, 12), true, false);
        assert_eq!(t.first_unstable_offset(), Some(10));
        let mut marker = header(0, NO_SEQUENCE, 1, 14);
        marker.base_sequence = NO_SEQUENCE;
        t.record(&marker, true, true);
        assert_eq!(t.first_unstable_offset(), None);
    }

    fn transactional(epoch: i16, base_seq: i32, records: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            attributes: 0x10,
            ..header(epoch, base_seq, records, base_offset)
        }
    }

    fn marker_header(epoch: i16, offset: i64) -> BatchHeader {
        BatchHeader {
            attributes: 0x30,
            base_sequence: NO_SEQUENCE,
            ..header(epoch, 0, 1, offset)
        }
    }

    fn abort(coordinator_epoch: i32) -> EndTxnMarker {
        EndTxnMarker {
            control_type: crate::storage::txn_marker::ControlRecordType::Abort,
            coordinator_epoch,
        }
    }

    #[test]
    fn only_transactional_batches_inside_an_open_transaction() {
        let mut t = ProducerStateTable::new();
        t.record(&transactional(0, 0, 2, 10), true, false);
        let refused = Err(ProducerStateError::InvalidTxnState {
            producer_id: PID,
            txn_first_offset: 10,
        });
        assert_eq!(t.check(&header(0, 2, 1, -1)), refused);
        assert_eq!(t.check(&header(1, 0, 1, -1)), refused, "a new epoch too");
        assert_eq!(
            t.check(&transactional(0, 2, 1, -1)),
            Ok(SequenceCheck::Append)
        );
        // A retry of a batch already written is still answered as a duplicate.
        assert!(matches!(
            t.check(&transactional(0, 0, 2, -1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn markers_check_both_epochs_and_complete_the_open_transaction() {
        let mut t = ProducerStateTable::new();
        assert_eq!(t.check_marker(PID, 0, 0), Ok(()), "unknown producers pass");
        t.record(&transactional(2, 0, 2, 10), true, false);
        assert_eq!(
            t.check_marker(PID, 1, 0),
            Err(ProducerStateError::InvalidProducerEpoch {
                producer_id: PID,
                epoch: 1,
                current: 2
            })
        );
        assert_eq!(t.check_marker(PID, 2, 0), Ok(()));
        let completed = t.record_marker(&marker_header(2, 12), &abort(7));
        assert_eq!(
            completed,
            Some(CompletedTxn {
                producer_id: PID,
                first_offset: 10,
                last_offset: 12,
                is_aborted: true
            })
        );
        assert_eq!(t.get(PID).unwrap().coordinator_epoch, 7);
        assert_eq!(t.last_stable_offset_after(&completed.unwrap()), 13);
        assert_eq!(
            t.check_marker(PID, 2, 6),
            Err(ProducerStateError::TransactionCoordinatorFenced {
                producer_id: PID,
                coordinator_epoch: 6,
                current: 7
            })
        );
        assert_eq!(
            t.record_marker(&marker_header(2, 13), &abort(7)),
            None,
            "nothing was open"
        );
    }

    #[test]
    fn snapshots_without_a_coordinator_epoch_still_load() {
        let mut t = table_with(&[(0, 0, 1, 0)]);
        t.record_marker(&marker_header(0, 1), &abort(3));
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains("\"coordinator_epoch\":3"));
        let old = json.replace(",\"coordinator_epoch\":3", "");
        let loaded: ProducerStateTable = serde_json::from_str(&old).unwrap();
        assert_eq!(
            loaded.get(PID).unwrap().coordinator_epoch,
            NO_COORDINATOR_EPOCH
        );
    }

    #[test]
    fn idle_producers_expire_unless_in_a_transaction() {
        let mut t = table_with(&[(0, 0, 1, 0)]);
        let mut other = header(0, 0, 1, 5);
        other.producer_id = PID + 1;
        t.record(&other, true, false);
        assert_eq!(t.expire(1_000_000, 1000), 1);
        assert!(t.get(PID).is_none());
        assert!(t.get(PID + 1).is_some());
    }

    #[test]
    fn snapshots_round_trip_and_reject_damage() {
        let mut t = table_with(&[(0, 0, 3, 0), (0, 3, 1, 3)]);
        t.record(&header(0, 4, 1, 4), true, false);
        let bytes = t.encode_snapshot();
        assert_eq!(ProducerStateTable::decode_snapshot(&bytes), Some(t));
        let mut torn = bytes.clone();
        torn.truncate(bytes.len() - 3);
        assert_eq!(ProducerStateTable::decode_snapshot(&torn), None);
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(ProducerStateTable::decode_snapshot(&flipped), None);
        assert_eq!(ProducerStateTable::decode_snapshot(b"garbage"), None);
    }

    #[test]
    fn truncating_the_head_forgets_deleted_batches() {
        let mut t = table_with(&[(0, 0, 1, 0), (0, 1, 1, 1)]);
        t.truncate_head(1);
        assert_eq!(t.get(PID).unwrap().batches.len(), 1);
        t.truncate_head(2);
        assert!(t.get(PID).is_none());
    }
}
