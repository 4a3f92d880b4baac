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
    /// the log start), or the high watermark when none is open. The log knows no high
    /// watermark of its own and uses its end offset; a replicated partition asks
    /// [`last_stable_offset_at`](Self::last_stable_offset_at).
    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset_at(self.log_end_offset)
    }

    /// The last stable offset under `high_watermark`: the first offset of the earliest open
    /// transaction (never below the log start), capped at the high watermark.
    pub fn last_stable_offset_at(&self, high_watermark: i64) -> i64 {
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

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::storage::cleaner::{clean, CleanerConfig};
    use crate::storage::producer_state::ProducerStateError;
    use crate::storage::segment;
    use crate::storage::LogConfig;
    use crate::test_support::Producer;

    const NOW: i64 = 1_700_000_000_000;

    impl Producer {
        /// Appends `count` records, in its transaction when `transactional`; the first offset.
        fn send(&mut self, log: &mut Log, count: i32, transactional: bool) -> i64 {
            let batch = self.batch(count, transactional);
            log.append(batch, NOW).unwrap().first_offset
        }

        fn end(&self, log: &mut Log, commit: bool) -> i64 {
            log.append_txn_marker(self.id, self.epoch, 0, commit, NOW)
                .unwrap()
                .first_offset
        }
    }

    fn config() -> LogConfig {
        LogConfig {
            index_interval_bytes: 128,
            segment_index_bytes: 4096,
            ..LogConfig::default()
        }
    }

    fn open(dir: &Path) -> Log {
        Log::open(dir, config(), NOW).unwrap()
    }

    fn aborted(log: &Log, from: i64, to: i64) -> Vec<(i64, i64)> {
        log.aborted_transactions(from, to)
            .iter()
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }

    /// Every segment's `.txnindex` bytes, by base offset (empty when there is no file).
    fn txn_index_files(log: &Log) -> Vec<(i64, Vec<u8>)> {
        log.segment_base_offsets()
            .into_iter()
            .map(|base| {
                let path = segment::txn_index_path(log.dir(), base);
                (base, fs::read(path).unwrap_or_default())
            })
            .collect()
    }

    /// Drops the log without closing it, as a crash would.
    fn crash(log: Log) {
        drop(log);
    }

    #[test]
    fn the_lso_stays_at_the_first_open_transaction_until_its_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let (mut a, mut b) = (Producer::new(1), Producer::new(2));
        a.send(&mut log, 2, false); // 0-1, idempotent only
        assert_eq!(log.last_stable_offset(), 2);
        let a_first = a.send(&mut log, 2, true); // 2-3
        b.send(&mut log, 1, true); // 4
        a.send(&mut log, 1, true); // 5
        assert_eq!(log.last_stable_offset(), a_first);
        let read = log
            .read(0, usize::MAX, log.last_stable_offset(), true)
            .unwrap();
        assert_eq!(
            read.next_offset, a_first,
            "nothing at or past the LSO is read"
        );

        let marker = a.end(&mut log, true); // 6
        assert_eq!(marker, 6);
        assert_eq!(log.last_stable_offset(), 4, "b's transaction is still open");
        b.end(&mut log, false); // 7
        assert_eq!(log.last_stable_offset(), 8);
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
        assert_eq!(aborted(&log, 0, 8), [(2, 4)]);
    }

    #[test]
    fn abort_entries_follow_kafka_and_answer_overlapping_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let (mut a, mut b) = (Producer::new(10), Producer::new(20));
        a.send(&mut log, 2, true); // 0-1
        b.send(&mut log, 2, true); // 2-3
        a.end(&mut log, false); // 4: aborts [0, 4] while b is open from 2
        a.send(&mut log, 1, true); // 5
        b.end(&mut log, true); // 6: a commit writes no entry
        a.end(&mut log, false); // 7: aborts [5, 7], nothing else open

        let entries = log.active_segment().txn_index().entries().to_vec();
        let expected = [
            AbortedTxn {
                producer_id: 10,
                first_offset: 0,
                last_offset: 4,
                last_stable_offset: 2,
            },
            AbortedTxn {
                producer_id: 10,
                first_offset: 5,
                last_offset: 7,
                last_stable_offset: 8,
            },
        ];
        assert_eq!(entries, expected);
        let path = segment::txn_index_path(dir.path(), 0);
        let on_disk = fs::read(path).unwrap();
        assert_eq!(on_disk.len(), 68);
        assert_eq!(&on_disk[..34], &expected[0].encode());

        assert_eq!(aborted(&log, 0, 8), [(10, 0), (10, 5)]);
        assert_eq!(aborted(&log, 0, 1), [(10, 0)]);
        assert_eq!(
            aborted(&log, 4, 5),
            [(10, 0)],
            "the marker is part of the range"
        );
        assert_eq!(aborted(&log, 5, 6), [(10, 5)]);
        assert_eq!(aborted(&log, 8, 9), Vec::<(i64, i64)>::new());
        assert_eq!(
            aborted(&log, 3, 3),
            Vec::<(i64, i64)>::new(),
            "an empty range"
        );
    }

    #[test]
    fn a_marker_without_an_open_transaction_is_written_without_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let p = Producer::new(5);
        assert_eq!(p.end(&mut log, false), 0);
        assert_eq!(log.log_end_offset(), 1);
        assert!(log.active_segment().txn_index().entries().is_empty());
        assert!(!segment::txn_index_path(dir.path(), 0).exists());
        let read = log.read(0, usize::MAX, i64::MAX, true).unwrap();
        let header = BatchHeader::parse(&read.slices[0].read_bytes().unwrap()).unwrap();
        assert!(header.is_control() && header.is_transactional());
        assert_eq!(header.producer_id, 5);
    }

    #[test]
    fn a_non_transactional_batch_inside_an_open_transaction_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let mut p = Producer::new(3);
        p.send(&mut log, 1, true);
        let plain = p.batch(1, false);
        let err = log.append(plain.clone(), NOW).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::ProducerState(ProducerStateError::InvalidTxnState {
                    producer_id: 3,
                    txn_first_offset: 0
                })
            ),
            "{err}"
        );
        assert_eq!(log.log_end_offset(), 1, "nothing written");
        p.end(&mut log, true);
        // Once the transaction is over the same batch is welcome.
        assert_eq!(log.append(plain, NOW).unwrap().first_offset, 2);
    }

    #[test]
    fn markers_with_an_old_producer_or_coordinator_epoch_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let mut p = Producer::new(8);
        p.epoch = 2;
        p.send(&mut log, 1, true);
        let stale = log.append_txn_marker(8, 1, 0, false, NOW).unwrap_err();
        assert!(
            matches!(
                stale,
                StorageError::ProducerState(ProducerStateError::InvalidProducerEpoch {
                    epoch: 1,
                    current: 2,
                    ..
                })
            ),
            "{stale}"
        );
        log.append_txn_marker(8, 2, 5, true, NOW).unwrap();
        p.send(&mut log, 1, true);
        let fenced = log.append_txn_marker(8, 2, 4, false, NOW).unwrap_err();
        assert!(
            matches!(
                fenced,
                StorageError::ProducerState(ProducerStateError::TransactionCoordinatorFenced {
                    coordinator_epoch: 4,
                    current: 5,
                    ..
                })
            ),
            "{fenced}"
        );
        assert_eq!(log.log_end_offset(), 3, "refused markers are not written");
        // A bumped epoch (the coordinator aborting a fenced producer's transaction) is fine.
        log.append_txn_marker(8, 3, 5, false, NOW).unwrap();
        assert_eq!(log.last_stable_offset(), 4);
        assert_eq!(aborted(&log, 0, 4), [(8, 2)]);
    }

    #[test]
    fn clients_may_not_write_control_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let marker = txn_marker::encode_marker_batch(
            1,
            0,
            EndTxnMarker {
                control_type: ControlRecordType::Commit,
                coordinator_epoch: 0,
            },
            NOW,
        );
        assert!(matches!(
            log.append(marker, NOW),
            Err(StorageError::InvalidRecord(_))
        ));
        assert_eq!(log.log_end_offset(), 0);
    }

    #[test]
    fn a_crash_rebuilds_the_lso_and_the_aborted_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let (mut a, mut b, mut c) = (Producer::new(1), Producer::new(2), Producer::new(3));
        a.send(&mut log, 2, true); // 0-1
        b.send(&mut log, 1, true); // 2
        log.roll().unwrap();
        a.send(&mut log, 1, true); // 3
        a.end(&mut log, false); // 4: aborts [0, 4] from the first segment
        log.roll().unwrap();
        b.end(&mut log, false); // 5: aborts [2, 5] from the first segment
        let c_first = c.send(&mut log, 2, true); // 6-7, left open
        a.send(&mut log, 1, true); // 8
        a.end(&mut log, false); // 9
        let lso = log.last_stable_offset();
        assert_eq!(lso, c_first);
        let entries = aborted(&log, 0, log.log_end_offset());
        assert_eq!(entries, [(1, 0), (2, 2), (1, 8)]);
        let files = txn_index_files(&log);
        crash(log);

        let mut log = open(dir.path());
        assert_eq!(log.last_stable_offset(), lso);
        assert_eq!(aborted(&log, 0, log.log_end_offset()), entries);
        assert_eq!(txn_index_files(&log), files);
        // The rebuilt state goes on working: c's transaction can still be aborted.
        c.end(&mut log, false);
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
        assert_eq!(aborted(&log, 6, 7), [(3, 6)]);
    }

    #[test]
    fn a_crash_after_clean_restarts_still_rebuilds_the_active_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let mut a = Producer::new(1);
        a.send(&mut log, 1, true);
        log.roll().unwrap(); // a snapshot at the active segment's base (1)
        for _ in 0..3 {
            // Each clean close leaves a snapshot above the active base.
            a.send(&mut log, 1, true);
            a.end(&mut log, false);
            log.close().unwrap();
            log = open(dir.path());
        }
        a.send(&mut log, 1, true);
        a.end(&mut log, false);
        let entries = aborted(&log, 0, log.log_end_offset());
        assert_eq!(entries.len(), 4);
        assert!(
            dir.path().join("00000000000000000001.snapshot").exists(),
            "the snapshot at the active segment's base outlives later ones"
        );
        let files = txn_index_files(&log);
        crash(log);
        // The unclean active segment's index is rebuilt from a snapshot at or below its base.
        let log = open(dir.path());
        assert_eq!(aborted(&log, 0, log.log_end_offset()), entries);
        assert_eq!(txn_index_files(&log), files);
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
    }

    #[test]
    fn a_damaged_sealed_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let (mut a, mut b) = (Producer::new(1), Producer::new(2));
        a.send(&mut log, 1, true);
        b.send(&mut log, 1, true);
        a.end(&mut log, false);
        b.end(&mut log, false);
        log.roll().unwrap();
        a.send(&mut log, 1, true);
        log.close().unwrap();
        let files = txn_index_files(&log);
        drop(log);
        let path = segment::txn_index_path(dir.path(), 0);
        let mut bytes = fs::read(&path).unwrap();
        bytes[18..26].copy_from_slice(&99i64.to_be_bytes()); // entries no longer rise
        fs::write(&path, bytes).unwrap();

        let log = open(dir.path());
        assert_eq!(txn_index_files(&log), files);
        assert_eq!(aborted(&log, 0, 4), [(1, 0), (2, 1)]);
        assert_eq!(log.last_stable_offset(), 4);
    }

    #[test]
    fn deleted_segments_take_their_index_along() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        let mut a = Producer::new(1);
        a.send(&mut log, 1, true);
        a.end(&mut log, false);
        log.roll().unwrap();
        assert!(segment::txn_index_path(dir.path(), 0).exists());
        log.delete_records_before(2).unwrap();
        assert!(!segment::txn_index_path(dir.path(), 0).exists());
        assert!(aborted(&log, 2, 3).is_empty());
    }

    #[test]
    fn compaction_keeps_the_aborted_transactions_of_the_segments_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            compact: true,
            delete_retention_enabled: false,
            ..config()
        };
        let mut log = Log::open(dir.path(), config.clone(), NOW).unwrap();
        let (mut a, mut b, mut plain) = (Producer::new(1), Producer::new(2), Producer::new(3));
        a.send(&mut log, 2, true); // 0-1
        a.end(&mut log, false); // 2
        log.roll().unwrap();
        b.send(&mut log, 1, true); // 3
        plain.send(&mut log, 4, false); // 4-7: supersedes keys k0..k3
        b.end(&mut log, false); // 8
        log.roll().unwrap();
        plain.send(&mut log, 4, false); // 9-12, supersedes again
        log.roll().unwrap();
        let before = aborted(&log, 0, log.log_end_offset());
        assert_eq!(before, [(1, 0), (2, 3)]);

        let snapshot = log.cleanable_snapshot(NOW);
        let cleaned = clean(
            &snapshot,
            &CleanerConfig {
                max_map_entries: 1024,
            },
            NOW,
        )
        .unwrap()
        .unwrap();
        assert!(
            cleaned.groups.iter().any(|g| g.replaced.len() > 1),
            "the test needs a group of several segments"
        );
        log.install_cleaned(cleaned).unwrap();
        assert_eq!(aborted(&log, 0, log.log_end_offset()), before);
        let bases = log.segment_base_offsets();
        for base in [3, 9] {
            if !bases.contains(&base) {
                assert!(!segment::txn_index_path(dir.path(), base).exists());
            }
        }
        log.close().unwrap();
        drop(log);
        let log = Log::open(dir.path(), config, NOW).unwrap();
        assert_eq!(aborted(&log, 0, log.log_end_offset()), before);
        assert_eq!(aborted(&log, 4, 5), [(2, 3)]);
    }

    #[test]
    fn the_cleaner_stops_before_the_segment_of_an_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            compact: true,
            ..config()
        };
        let mut log = Log::open(dir.path(), config, NOW).unwrap();
        let (mut open_txn, mut plain) = (Producer::new(1), Producer::new(2));
        plain.send(&mut log, 4, false);
        log.roll().unwrap(); // segment 4
        plain.send(&mut log, 1, false);
        open_txn.send(&mut log, 2, true); // 5-6, left open
        log.roll().unwrap(); // segment 7
        plain.send(&mut log, 4, false);
        log.roll().unwrap();
        assert_eq!(log.cleanable_snapshot(NOW).first_uncleanable_offset, 4);
        open_txn.end(&mut log, true);
        assert_eq!(
            log.cleanable_snapshot(NOW).first_uncleanable_offset,
            log.active_segment().base_offset(),
            "the active segment's base once nothing is open"
        );
    }
}
