//! The log's side of Kafka transactions: writing the transaction markers a coordinator sends,
//! the last stable offset (LSO) that read_committed readers stop at, and the aborted
//! transactions they must be told about.
//!
//! A transactional batch opens its producer's transaction at its base offset (producer state,
//! `producers.rs`); a marker closes it. The LSO is the first offset of the earliest open
//! transaction, or the high watermark (the log end on one broker) when none is open; it never
//! falls below the log start. An ABORT marker that closes a transaction appends an
//! [`AbortedTxn`] to the `.txnindex` of the segment the marker lands in.

use bytes::BytesMut;

use super::Log;
use crate::storage::batch::{BatchHeader, ValidatedBatch};
use crate::storage::error::StorageError;
use crate::storage::producer_state::ProducerStateTable;
use crate::storage::txn_index::AbortedTxn;
use crate::storage::txn_marker::{self, ControlRecordType, EndTxnMarker};
use crate::storage::AppendInfo;

impl Log {
    /// Appends a COMMIT (`commit`) or ABORT marker ending `producer_id`'s transaction, as a
    /// control batch stamped `now_ms`. Refused (nothing written) when the producer epoch or
    /// the coordinator epoch is older than the producer's (INVALID_PRODUCER_EPOCH,
    /// TRANSACTION_COORDINATOR_FENCED). A producer without an open transaction here still gets
    /// its marker, as in Kafka; only an ABORT that closes a transaction writes an index entry.
    pub fn append_txn_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.ensure_open()?;
        if producer_id < 0 {
            return Err(StorageError::InvalidRecord(format!(
                "a transaction marker needs a producer id, not {producer_id}"
            )));
        }
        self.producers
            .check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        let marker = EndTxnMarker {
            control_type: if commit {
                ControlRecordType::Commit
            } else {
                ControlRecordType::Abort
            },
            coordinator_epoch,
        };
        let encoded = txn_marker::encode_marker_batch(producer_id, producer_epoch, marker, now_ms);
        let header = BatchHeader::parse(&encoded)
            .ok_or_else(|| StorageError::CorruptMessage("marker batch lost its header".into()))?;
        let mut bytes = BytesMut::from(&encoded[..]);
        let mut batches = [ValidatedBatch {
            position: 0,
            header,
        }];
        let info = self.assign_offsets(&mut bytes, &mut batches, now_ms)?;
        self.write_batches(&bytes, &batches, &info, now_ms)?;
        let aborted = complete_txn(&mut self.producers, &batches[0].header, &marker);
        self.advance_log_end(&info, now_ms)?;
        if let Some(txn) = aborted {
            self.active_segment_mut().txn_index_mut().append(txn)?;
        }
        Ok(info)
    }

    /// The last stable offset: the first offset of the earliest open transaction (never below
    /// the log start), or the high watermark when none is open.
    pub fn last_stable_offset(&self) -> i64 {
        let high_watermark = self.log_end_offset;
        match self.producers.first_unstable_offset() {
            Some(first) => first.max(self.log_start_offset).min(high_watermark),
            None => high_watermark,
        }
    }

    /// Every aborted transaction whose records overlap `[fetch_offset, upper_bound_offset)`,
    /// for a read_committed fetch: the segments' transaction indexes from the one holding
    /// `fetch_offset` on, until an entry's last stable offset shows no later one can overlap.
    pub fn aborted_transactions(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let mut found = Vec::new();
        if upper_bound_offset <= fetch_offset {
            return found;
        }
        let first_base = self.segment_base_for(fetch_offset);
        for segment in self.segments.range(first_base..).map(|(_, s)| s) {
            let (txns, complete) = segment
                .txn_index()
                .collect_aborted_txns(fetch_offset, upper_bound_offset);
            found.extend(txns);
            if complete {
                break;
            }
        }
        found
    }
}

/// Records a marker now in the log (its offset assigned) in the producer state and, when it
/// aborts an open transaction, returns the transaction's index entry. Appends and the replay
/// at open share this, so both write the same entries.
pub(super) fn complete_txn(
    producers: &mut ProducerStateTable,
    header: &BatchHeader,
    marker: &EndTxnMarker,
) -> Option<AbortedTxn> {
    let completed = producers.record_marker(header, marker)?;
    completed.is_aborted.then(|| AbortedTxn {
        producer_id: completed.producer_id,
        first_offset: completed.first_offset,
        last_offset: completed.last_offset,
        last_stable_offset: producers.last_stable_offset_after(&completed),
    })
}
