//! The log's producer state (idempotence and transactions): sequences checked before an
//! append and recorded after it, snapshotted when a segment rolls and when the log closes,
//! rebuilt at open from the newest good snapshot plus the batches written after it (headers,
//! and the one record of each transaction marker).
//!
//! A snapshot `<20-digit offset>.snapshot` holds the state of every producer as of the batches
//! below that offset. Snapshots are written without fsync: a torn one fails its checksum and an
//! older one (or the log itself, from its start) is used instead, which costs a longer replay,
//! never a wrong answer. The newest [`SNAPSHOTS_KEPT`] are kept, and also the newest one at or
//! below the active segment's base, from which that segment's markers can be replayed.
//!
//! The replay also rebuilds transaction indexes. A segment's `.txnindex` is trusted when it
//! was sealed (fsynced at roll and at close) and reads back whole; the active segment's after
//! an unclean shutdown, and a damaged one, are emptied at open and flagged. The replay then
//! starts no later than the first flagged segment's base (snapshots above it are skipped, not
//! removed), and every ABORT marker it reads that closes a transaction adds the entry to its
//! segment's index unless the index already reaches that offset. Trusted indexes thus gain
//! nothing, and flagged ones get exactly the entries the appends wrote.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::transactions::complete_txn;
use super::{AppendInfo, Log};
use crate::storage::batch::{BatchHeader, ValidatedBatch};
use crate::storage::error::StorageError;
use crate::storage::producer_state::{ProducerStateTable, SequenceCheck};
use crate::storage::segment::{self, FileSlice, LogSegment};
use crate::storage::txn_index::AbortedTxn;
use crate::storage::txn_marker;

/// Suffix of a producer-state snapshot file.
pub const SNAPSHOT_FILE_SUFFIX: &str = ".snapshot";
/// Snapshots kept after a new one is written.
const SNAPSHOTS_KEPT: usize = 2;

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{SNAPSHOT_FILE_SUFFIX}",
        segment::file_name_stem(offset)
    ))
}

/// Offsets of the snapshot files in `dir`, ascending.
fn snapshot_offsets(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(offset) = entry
            .file_name()
            .to_str()
            .and_then(|name| segment::parse_segment_file_name(name, SNAPSHOT_FILE_SUFFIX))
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Removes the snapshots whose offset is above `offset` (all of them for `None`): the log was
/// truncated and they describe batches it no longer has.
pub(super) fn remove_snapshots_above(dir: &Path, offset: Option<i64>) -> Result<(), StorageError> {
    for snapshot in snapshot_offsets(dir)? {
        if offset.is_none_or(|o| snapshot > o) {
            fs::remove_file(snapshot_path(dir, snapshot))?;
        }
    }
    Ok(())
}

/// Rebuilds the producer state for a log being opened, and the transaction indexes of the
/// segments flagged for it: the newest snapshot that reads back intact at or below both the
/// log end and the first flagged segment's base, then every batch from its offset on (from the
/// log start when there is none). Snapshots above the log end (a truncated tail) are removed.
pub(super) fn load_producer_state(
    dir: &Path,
    segments: &mut BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
) -> Result<ProducerStateTable, StorageError> {
    let rebuild_from = segments
        .values()
        .find(|s| s.txn_index_needs_rebuild())
        .map_or(log_end_offset, LogSegment::base_offset);
    let loaded = newest_snapshot(dir, log_end_offset, rebuild_from)?;
    let (replay_from, mut table) = loaded.unwrap_or((log_start_offset, ProducerStateTable::new()));
    let replay_from = replay_from.max(log_start_offset);
    let first_base = segments
        .range(..=replay_from)
        .next_back()
        .map_or(replay_from, |(base, _)| *base);
    for segment in segments.range_mut(first_base..).map(|(_, s)| s) {
        let aborted = replay_segment(segment, replay_from, &mut table)?;
        let index = segment.txn_index_mut();
        let mut rebuilt = false;
        for txn in aborted {
            if index
                .entries()
                .last()
                .is_none_or(|l| l.last_offset < txn.last_offset)
            {
                index.append(txn)?;
                rebuilt = true;
            }
        }
        if rebuilt {
            // A sealed segment is not fsynced again; its rebuilt entries must last.
            index.flush()?;
        }
        segment.mark_txn_index_rebuilt();
    }
    table.truncate_head(log_start_offset);
    Ok(table)
}

/// The newest intact snapshot at or below `log_end_offset` and `at_most`, as (offset, table).
/// Those above the log end are removed; damaged ones too; those between are kept for later.
fn newest_snapshot(
    dir: &Path,
    log_end_offset: i64,
    at_most: i64,
) -> Result<Option<(i64, ProducerStateTable)>, StorageError> {
    for offset in snapshot_offsets(dir)?.into_iter().rev() {
        if offset > log_end_offset {
            fs::remove_file(snapshot_path(dir, offset))?;
            continue;
        }
        if offset > at_most {
            continue;
        }
        let bytes = fs::read(snapshot_path(dir, offset))?;
        match ProducerStateTable::decode_snapshot(&bytes) {
            Some(table) => return Ok(Some((offset, table))),
            None => {
                tracing::warn!(dir = %dir.display(), offset, "ignoring a damaged producer-state snapshot");
                fs::remove_file(snapshot_path(dir, offset))?;
            }
        }
    }
    Ok(None)
}

/// Replays the batches of `segment` from `replay_from` into `table`; returns the aborted
/// transactions whose markers it read.
fn replay_segment(
    segment: &LogSegment,
    replay_from: i64,
    table: &mut ProducerStateTable,
) -> Result<Vec<AbortedTxn>, StorageError> {
    let mut aborted = Vec::new();
    segment.for_each_batch_header(replay_from, |header, slice| -> Result<(), StorageError> {
        if header.base_offset < replay_from {
            return Ok(());
        }
        if header.is_control() {
            aborted.extend(replay_marker(table, header, slice)?);
        } else {
            table.record(header, header.is_transactional(), false);
        }
        Ok(())
    })?;
    Ok(aborted)
}

/// Replays one control batch read from a segment; see [`record_control_batch`].
fn replay_marker(
    table: &mut ProducerStateTable,
    header: &BatchHeader,
    slice: FileSlice,
) -> Result<Option<AbortedTxn>, StorageError> {
    let bytes = slice.read_bytes()?;
    Ok(record_control_batch(table, header, &bytes))
}

/// Records a control batch now in the log (`batch` is the whole batch), at replay and when a
/// follower copies one. Its record says COMMIT or ABORT; a batch without a readable marker
/// still closes the producer's transaction, without an index entry, so the LSO can never stick
/// behind it. Returns the index entry of an aborted transaction it closed.
pub(super) fn record_control_batch(
    table: &mut ProducerStateTable,
    header: &BatchHeader,
    batch: &[u8],
) -> Option<AbortedTxn> {
    match txn_marker::read_marker(batch, header) {
        Ok(Some(marker)) => return complete_txn(table, header, &marker),
        Ok(None) => {}
        Err(reason) => {
            tracing::warn!(offset = header.base_offset, reason = %reason, "unreadable transaction marker; closing the transaction as committed");
        }
    }
    table.record(header, true, true);
    None
}

impl Log {
    /// Idempotence checks for a produce, before anything is written. `Some` is the answer for
    /// a retried batch the log already holds (nothing is to be appended).
    pub(super) fn check_producer_state(
        &self,
        batches: &[ValidatedBatch],
    ) -> Result<Option<AppendInfo>, StorageError> {
        if !batches.iter().any(|b| b.header.producer_id >= 0) {
            return Ok(None);
        }
        if batches.len() > 1 {
            return Err(StorageError::InvalidRecord(
                "an idempotent producer sends one record batch per partition per request".into(),
            ));
        }
        match self.producers.check(&batches[0].header)? {
            SequenceCheck::Append => Ok(None),
            SequenceCheck::Duplicate(earlier) => Ok(Some(AppendInfo {
                first_offset: earlier.first_offset,
                last_offset: earlier.last_offset,
                log_append_time: -1,
                max_timestamp: earlier.max_timestamp,
                record_count: 0,
                batch_count: 0,
                bytes: 0,
            })),
        }
    }

    /// Records appended batches (offsets assigned) in the producer state.
    pub(super) fn record_producer_batches(&mut self, batches: &[ValidatedBatch]) {
        for b in batches {
            self.producers.record(
                &b.header,
                b.header.is_transactional(),
                b.header.is_control(),
            );
        }
    }

    /// Writes the producer state as of `offset` (every batch below it) and prunes old
    /// snapshots. A failure is logged, not returned: the snapshot only shortens recovery.
    pub(super) fn write_producer_snapshot(&self, offset: i64) {
        let result = (|| -> Result<(), StorageError> {
            let temp = self.dir.join(format!(
                "{}{SNAPSHOT_FILE_SUFFIX}{}",
                segment::file_name_stem(offset),
                crate::storage::checkpoint::TEMP_FILE_SUFFIX
            ));
            fs::write(&temp, self.producers.encode_snapshot())?;
            fs::rename(&temp, snapshot_path(&self.dir, offset))?;
            let offsets = snapshot_offsets(&self.dir)?;
            let active_base = self.active_segment().base_offset();
            let replay_point = offsets.iter().rev().find(|&&o| o <= active_base).copied();
            let stale = offsets.len().saturating_sub(SNAPSHOTS_KEPT);
            for old in offsets[..stale]
                .iter()
                .filter(|&&o| Some(o) != replay_point)
            {
                fs::remove_file(snapshot_path(&self.dir, *old))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), offset, error = %e, "writing a producer-state snapshot failed");
        }
    }

    /// Forgets producers idle for `producer.id.expiration.ms` (none with an open transaction).
    pub fn expire_producers(&mut self, now_ms: i64) -> usize {
        self.producers
            .expire(now_ms, self.config.producer_id_expiration_ms)
    }

    /// The producer state, for inspection (DescribeProducers, tests).
    pub fn producer_state(&self) -> &ProducerStateTable {
        &self.producers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LogConfig;
    use crate::test_support::BatchBuilder;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::Compression;

    const NOW: i64 = 1_700_000_000_000;
    const PID: i64 = 4242;

    /// A batch of `count` records from producer `PID` at `epoch`, sequences from `first_seq`.
    fn idempotent_batch(epoch: i16, first_seq: i32, count: i32) -> Bytes {
        (first_seq..first_seq + count)
            .fold(
                BatchBuilder::idempotent(PID, epoch, first_seq).compression(Compression::Lz4),
                |b, seq| b.record(None, Some(Bytes::from(format!("seq-{seq}"))), NOW),
            )
            .build()
    }

    fn config() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            ..LogConfig::default()
        }
    }

    #[test]
    fn a_retried_batch_gets_its_first_offsets_and_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        let first = log.append(idempotent_batch(0, 0, 3), NOW).unwrap();
        log.append(idempotent_batch(0, 3, 2), NOW).unwrap();
        let end = log.log_end_offset();
        let retried = log.append(idempotent_batch(0, 0, 3), NOW).unwrap();
        assert_eq!((retried.first_offset, retried.last_offset), (0, 2));
        assert_eq!(retried.first_offset, first.first_offset);
        assert_eq!(log.log_end_offset(), end, "nothing was appended");
    }

    #[test]
    fn gaps_and_stale_epochs_are_refused_with_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        log.append(idempotent_batch(1, 0, 2), NOW).unwrap();
        assert!(matches!(
            log.append(idempotent_batch(1, 5, 1), NOW),
            Err(StorageError::ProducerState(
                crate::storage::producer_state::ProducerStateError::OutOfOrderSequence { .. }
            ))
        ));
        assert!(matches!(
            log.append(idempotent_batch(0, 2, 1), NOW),
            Err(StorageError::ProducerState(
                crate::storage::producer_state::ProducerStateError::InvalidProducerEpoch { .. }
            ))
        ));
        assert_eq!(log.log_end_offset(), 2);
        // A bumped epoch starts again at sequence 0.
        log.append(idempotent_batch(2, 0, 1), NOW).unwrap();
        assert_eq!(log.log_end_offset(), 3);
    }

    #[test]
    fn idempotent_produce_allows_one_batch_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        let mut two = BytesMut::new();
        two.extend_from_slice(&idempotent_batch(0, 0, 1));
        two.extend_from_slice(&idempotent_batch(0, 1, 1));
        assert!(matches!(
            log.append(two.freeze(), NOW),
            Err(StorageError::InvalidRecord(_))
        ));
    }

    /// Appends batches of 2 from sequence 0 until the log has rolled a few times.
    fn fill(log: &mut Log, batches: i32) {
        for i in 0..batches {
            log.append(idempotent_batch(0, i * 2, 2), NOW).unwrap();
        }
        assert!(log.segment_count() > 2, "the test needs rolled segments");
    }

    #[test]
    fn dedup_survives_a_clean_restart_and_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        fill(&mut log, 12);
        log.close().unwrap();
        drop(log);

        // Clean: the snapshot written at close is the whole state.
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        let end = log.log_end_offset();
        let retried = log.append(idempotent_batch(0, 22, 2), NOW).unwrap();
        assert_eq!(retried.first_offset, end - 2);
        assert_eq!(log.log_end_offset(), end);
        log.append(idempotent_batch(0, 24, 2), NOW).unwrap();
        drop(log); // a crash: no close, no snapshot at the end

        // Unclean: the newest roll snapshot plus the headers after it.
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        let end = log.log_end_offset();
        let retried = log.append(idempotent_batch(0, 24, 2), NOW).unwrap();
        assert_eq!(retried.first_offset, end - 2);
        assert_eq!(log.log_end_offset(), end);
        assert!(matches!(
            log.append(idempotent_batch(0, 30, 1), NOW),
            Err(StorageError::ProducerState(_))
        ));
    }

    #[test]
    fn damaged_or_missing_snapshots_fall_back_to_replaying_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        fill(&mut log, 12);
        log.close().unwrap();
        drop(log);
        let snapshots = snapshot_offsets(dir.path()).unwrap();
        assert_eq!(snapshots.len(), SNAPSHOTS_KEPT);
        // Garble the newest; delete the other: the log itself is replayed from its start.
        fs::write(
            snapshot_path(dir.path(), snapshots[1]),
            b"troupe-producer-state 1 0\n{}",
        )
        .unwrap();
        fs::remove_file(snapshot_path(dir.path(), snapshots[0])).unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        let end = log.log_end_offset();
        let retried = log.append(idempotent_batch(0, 20, 2), NOW).unwrap();
        assert_eq!(retried.first_offset, end - 4);
        assert_eq!(log.producer_state().get(PID).unwrap().batches.len(), 5);
    }

    #[test]
    fn deleting_records_forgets_producers_whose_batches_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(), NOW).unwrap();
        log.append(idempotent_batch(0, 0, 2), NOW).unwrap();
        log.delete_records_before(2).unwrap();
        assert!(log.producer_state().get(PID).is_none());
        // Unknown again: any sequence is accepted, as after Kafka's retention.
        log.append(idempotent_batch(0, 9, 1), NOW).unwrap();
    }
}
