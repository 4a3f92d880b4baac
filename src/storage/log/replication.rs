//! The log's side of replication: leader epochs, the follower's append, and truncation.
//!
//! - A leader stamps its leader epoch into every batch it appends (`partitionLeaderEpoch`,
//!   outside the CRC) and records in the [`LeaderEpochCache`] where each epoch started. Until
//!   [`Log::set_leader_epoch`] is called the log stamps the latest epoch it knows, or 0, so a
//!   single broker behaves as before.
//! - A follower appends the leader's batches as they are ([`Log::append_as_follower`]): their
//!   offsets and bytes are kept, the producer state trusts them (no sequence checks), and new
//!   epochs found in their headers are recorded.
//! - After a leader change a follower cuts its log back to where it agrees with the new leader
//!   ([`Log::truncate_to`]), or, when it has nothing the leader still keeps, empties it and
//!   starts again at the leader's log start ([`Log::truncate_fully_and_start_at`]). Both
//!   leave segments, indexes, the epoch cache, producer state, transaction indexes and the
//!   cleaner checkpoint as a fresh `Log::open` of the same files would find them.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use bytes::Bytes;

use super::producers::{self, record_control_batch};
use super::{AppendInfo, Log};
use crate::storage::batch::{self, AppendOrigin, BatchHeader, ValidatedBatch};
use crate::storage::checkpoint;
use crate::storage::error::StorageError;
use crate::storage::leader_epoch::{
    CheckpointLoad, EpochEntry, LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET,
};
use crate::storage::producer_state::ProducerStateTable;
use crate::storage::segment::LogSegment;
use crate::storage::txn_index::AbortedTxn;

impl Log {
    /// The epoch appends stamp into their batches.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The partition becomes leader at `epoch` (>= 0): records that the epoch starts at the
    /// log end offset (Kafka's `maybeAssignEpochStartOffset` in `makeLeader`), durably, and
    /// stamps `epoch` into every batch and transaction marker appended from now on.
    pub fn set_leader_epoch(&mut self, epoch: i32) -> Result<(), StorageError> {
        self.ensure_open()?;
        self.leader_epoch_cache.assign(epoch, self.log_end_offset)?;
        self.leader_epoch = epoch;
        Ok(())
    }

    /// The latest leader epoch the log holds records (or a leadership start) of.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.leader_epoch_cache.latest_epoch()
    }

    /// The leader epoch history, for inspection.
    pub fn leader_epoch_cache(&self) -> &LeaderEpochCache {
        &self.leader_epoch_cache
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and where it ends, or
    /// (`UNDEFINED_EPOCH`, `UNDEFINED_EPOCH_OFFSET`) = (-1, -1); see
    /// [`LeaderEpochCache::end_offset_for`].
    pub fn end_offset_for_leader_epoch(&self, epoch: i32) -> (i32, i64) {
        self.leader_epoch_cache
            .end_offset_for(epoch, self.log_end_offset)
            .unwrap_or((UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET))
    }

    /// Records the first batch of every epoch newer than the cache's latest (batches without
    /// an epoch, -1, are skipped). Called before the batches are written.
    pub(super) fn record_batch_epochs(
        &mut self,
        batches: &[ValidatedBatch],
    ) -> Result<(), StorageError> {
        for b in batches {
            let epoch = b.header.partition_leader_epoch;
            if epoch >= 0 && self.latest_epoch().is_none_or(|latest| epoch > latest) {
                self.leader_epoch_cache
                    .assign(epoch, b.header.base_offset)?;
            }
        }
        Ok(())
    }

    /// Appends batches a leader sent to this follower (Kafka's `appendAsFollower`), keeping
    /// their offsets and bytes exactly as received.
    ///
    /// Every batch is validated before anything is written: framing, magic 2, CRC, a record
    /// count that fits the offset span (the cleaner may have shrunk a batch), a known codec.
    /// `max.message.bytes` is not applied (the leader accepted the batch), nor are the
    /// producer rules: control batches are welcome, and the producer state records each batch
    /// as the leader wrote it. Offsets must rise from batch to batch (else
    /// [`StorageError::OffsetsOutOfOrder`]).
    ///
    /// Batches wholly below the log end offset are skipped (the log has them). The first batch
    /// kept must not start below the log end (else [`StorageError::UnexpectedAppendOffset`]),
    /// except on an empty log (log start = log end), which restarts at that batch's base
    /// offset, as Kafka's `Partition` does when the leader's log start falls inside a batch.
    /// It may start above the log end: a compacted leader has gaps, which the follower keeps.
    ///
    /// Then, as for a leader's append: roll if needed, one write, indexes, the log end, new
    /// leader epochs from the batch headers, the producer state, transaction markers (each
    /// closes its producer's transaction; an ABORT adds its `.txnindex` entry and moves the
    /// LSO as [`Log::append_txn_marker`] would) and the `flush.messages` policy. Returns what
    /// was appended; `batch_count == 0` when every batch was skipped.
    pub fn append_as_follower(
        &mut self,
        records: Bytes,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.ensure_open()?;
        if records.is_empty() {
            return Ok(nothing_appended(self.log_end_offset));
        }
        let all = batch::validate_batches(&records, i32::MAX, AppendOrigin::Replication)?;
        check_offsets_rise(&all)?;
        let skip = all
            .iter()
            .take_while(|b| b.header.next_offset() <= self.log_end_offset)
            .count();
        let Some(first) = all.get(skip).map(|b| b.header) else {
            return Ok(nothing_appended(self.log_end_offset));
        };
        if first.base_offset < self.log_end_offset {
            if self.log_end_offset != self.log_start_offset {
                return Err(StorageError::UnexpectedAppendOffset {
                    first_offset: first.base_offset,
                    last_offset: all
                        .last()
                        .map_or(first.last_offset(), |b| b.header.last_offset()),
                    log_end_offset: self.log_end_offset,
                });
            }
            tracing::info!(
                dir = %self.dir.display(),
                first_offset = first.base_offset,
                log_start_offset = self.log_start_offset,
                "the first batch to replicate starts below the empty log's start; restarting the log at it"
            );
            self.truncate_fully_and_start_at(first.base_offset)?;
        } else if first.base_offset > self.log_end_offset {
            tracing::debug!(
                dir = %self.dir.display(),
                first_offset = first.base_offset,
                log_end_offset = self.log_end_offset,
                "replicated batches skip offsets (compacted on the leader)"
            );
        }
        let start = all[skip].position;
        let bytes = records.slice(start..);
        let batches: Vec<ValidatedBatch> = all[skip..]
            .iter()
            .map(|b| ValidatedBatch {
                position: b.position - start,
                header: b.header,
            })
            .collect();
        let info = follower_append_info(&batches, bytes.len());
        self.write_batches(&bytes, &batches, &info, now_ms)?;
        let aborted = record_replicated_batches(&mut self.producers, &bytes, &batches);
        self.advance_log_end(&info, now_ms)?;
        for txn in aborted {
            self.active_segment_mut().txn_index_mut().append(txn)?;
        }
        Ok(info)
    }

    /// Removes every record at and above `offset` (Kafka's `truncateTo`); returns whether
    /// anything was removed. Afterwards the log end offset is `offset`.
    ///
    /// - `offset` >= the log end: nothing to remove, but epoch entries starting at or after
    ///   the log end go (a leadership that ended before it appended anything).
    /// - `offset` below the log start: [`truncate_fully_and_start_at`](Self::truncate_fully_and_start_at)
    ///   (`offset`).
    /// - Otherwise: segments starting above `offset` are deleted, newest first; the segment
    ///   holding `offset` loses the batch containing it and everything after (file cut and
    ///   fsynced, index entries dropped); if the data kept ends below `offset` (it fell inside
    ///   a batch or a compaction gap) an empty segment is started at `offset`. Then the epoch
    ///   cache loses entries from `offset` on; producer-state snapshots above `offset` are
    ///   deleted and the producer state is rebuilt from the newest snapshot at or below it
    ///   plus the batch headers after it (the same replay as at open), which also drops open
    ///   transactions and aborted-transaction entries from `offset` on and so moves the LSO;
    ///   the cleaner checkpoint comes down to `offset` if it was above.
    ///
    /// Data goes before metadata, so a crash part-way leaves a log whose reopen (which cuts
    /// the epoch cache and snapshots back to the log end) is a prefix of the log before the
    /// truncation; the follower then truncates again.
    pub fn truncate_to(&mut self, offset: i64) -> Result<bool, StorageError> {
        self.ensure_open()?;
        self.refuse_negative(offset)?;
        if offset >= self.log_end_offset {
            self.leader_epoch_cache
                .truncate_from_end(self.log_end_offset)?;
            return Ok(false);
        }
        if offset < self.log_start_offset {
            self.truncate_fully_and_start_at(offset)?;
            return Ok(true);
        }
        tracing::info!(dir = %self.dir.display(), offset, log_end_offset = self.log_end_offset, "truncating log");
        let doomed: Vec<i64> = self
            .segments
            .range(offset + 1..)
            .map(|(&base, _)| base)
            .rev()
            .collect();
        for base in doomed {
            if let Some(segment) = self.segments.remove(&base) {
                segment.delete()?;
            }
        }
        let segment_index_bytes = self.config.segment_index_bytes;
        self.active_segment_mut()
            .truncate_to(offset, segment_index_bytes)?;
        if self.active_segment().next_offset() < offset {
            self.start_empty_segment_at(offset)?;
        }
        checkpoint::sync_dir(&self.dir)?;
        self.log_end_offset = offset;

        self.leader_epoch_cache.truncate_from_end(offset)?;
        producers::remove_snapshots_above(&self.dir, Some(offset))?;
        self.producers = producers::load_producer_state(
            &self.dir,
            &mut self.segments,
            self.log_start_offset,
            offset,
        )?;
        if self.cleaner_checkpoint.is_some_and(|c| c > offset) {
            checkpoint::write_cleaner_offset(&self.dir, offset)?;
            self.cleaner_checkpoint = Some(offset);
        }
        Ok(true)
    }

    /// A log cannot be cut to, or restarted at, a negative offset.
    fn refuse_negative(&self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset,
            });
        }
        Ok(())
    }

    /// Deletes the whole log and starts it again, empty, at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): log start = log end = `offset`, the epoch cache and every
    /// producer-state snapshot cleared, no producers, the cleaner checkpoint at `offset`. For a
    /// follower whose fetch offset the leader no longer has. The log start checkpoint is
    /// written first, so a crash part-way reopens at either the old log or the new start.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        self.ensure_open()?;
        self.refuse_negative(offset)?;
        tracing::info!(dir = %self.dir.display(), offset, "truncating the whole log and starting it again");
        checkpoint::write_log_start_offset(&self.dir, offset)?;
        while let Some((_, segment)) = self.segments.pop_last() {
            segment.delete()?;
        }
        let segment = LogSegment::create(&self.dir, offset, self.config.segment_index_bytes)?;
        self.segments.insert(offset, segment);
        checkpoint::sync_dir(&self.dir)?;
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.leader_epoch_cache.clear()?;
        producers::remove_snapshots_above(&self.dir, None)?;
        self.producers = ProducerStateTable::new();
        if self.cleaner_checkpoint.is_some() {
            checkpoint::write_cleaner_offset(&self.dir, offset)?;
            self.cleaner_checkpoint = Some(offset);
        }
        Ok(())
    }

    /// Starts an empty active segment at `offset`, above where the (truncated) active
    /// segment's data ends. The old one is sealed and kept, or deleted if it is empty and
    /// not the first segment (the first one's base bounds the log start at the next open).
    fn start_empty_segment_at(&mut self, offset: i64) -> Result<(), StorageError> {
        let segment = LogSegment::create(&self.dir, offset, self.config.segment_index_bytes)?;
        let has_earlier = self.segments.len() > 1;
        let old = self.segments.pop_last();
        self.segments.insert(offset, segment);
        if let Some((base, mut old)) = old {
            if old.size() == 0 && has_earlier {
                old.delete()?;
            } else {
                old.seal()?;
                self.segments.insert(base, old);
            }
        }
        Ok(())
    }
}

/// Loads the leader epoch cache of a log being opened. A missing or damaged checkpoint is
/// rebuilt from the batch headers' `partitionLeaderEpoch` when the log has batches; then
/// entries past the log end (lost in a crash, or a truncation the crash interrupted) and
/// before the log start are cut, as Kafka's `LogLoader` does.
pub(super) fn load_leader_epoch_cache(
    dir: &Path,
    segments: &BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
) -> Result<LeaderEpochCache, StorageError> {
    let (mut cache, load) = LeaderEpochCache::open(dir)?;
    if load != CheckpointLoad::Loaded {
        if segments.values().any(|s| s.size() > 0) {
            let entries = epochs_from_batches(segments)?;
            tracing::info!(dir = %dir.display(), entries = entries.len(), "rebuilt the leader epoch cache from batch headers");
            cache.replace(&entries)?;
        } else if matches!(load, CheckpointLoad::Corrupt(_)) {
            cache.clear()?;
        }
    }
    cache.truncate_from_end(log_end_offset)?;
    cache.truncate_from_start(log_start_offset)?;
    Ok(cache)
}

/// The first batch of each epoch, rising, from the stored batches' headers (-1 = none).
///
/// Epochs only rise along a log (a leader stamps its own; a follower copies its leader's), so
/// a segment whose first batch carries the same epoch as the next segment's first batch holds
/// no change of epoch, and only its first batch is read. Other segments, and the last one, are
/// read header by header. Batches without an epoch (producers' -1, in logs written before
/// Troupe stamped epochs) count as their own value in that comparison, so a change hidden
/// behind them may be found late, never wrongly.
fn epochs_from_batches(
    segments: &BTreeMap<i64, LogSegment>,
) -> Result<Vec<EpochEntry>, StorageError> {
    let firsts: Vec<Option<BatchHeader>> = segments
        .values()
        .map(|s| Ok(s.translate_offset(s.base_offset())?.map(|(_, h)| h)))
        .collect::<io::Result<_>>()?;
    let mut entries: Vec<EpochEntry> = Vec::new();
    let note = |entries: &mut Vec<EpochEntry>, header: &BatchHeader| {
        let epoch = header.partition_leader_epoch;
        if epoch >= 0 && entries.last().is_none_or(|last| epoch > last.epoch) {
            entries.push(EpochEntry {
                epoch,
                start_offset: header.base_offset,
            });
        }
    };
    for (i, segment) in segments.values().enumerate() {
        let Some(first) = firsts[i] else {
            continue;
        };
        let next_first = firsts[i + 1..].iter().flatten().next();
        if next_first.is_some_and(|n| n.partition_leader_epoch == first.partition_leader_epoch) {
            note(&mut entries, &first);
            continue;
        }
        segment.for_each_batch_header(segment.base_offset(), |header, _| {
            note(&mut entries, header);
            Ok::<(), io::Error>(())
        })?;
    }
    Ok(entries)
}

/// Batches must rise: each starts after the previous one ends.
fn check_offsets_rise(batches: &[ValidatedBatch]) -> Result<(), StorageError> {
    for pair in batches.windows(2) {
        let (before, after) = (&pair[0].header, &pair[1].header);
        if after.base_offset < before.next_offset() {
            return Err(StorageError::OffsetsOutOfOrder(format!(
                "batch at offset {} follows a batch ending at {}",
                after.base_offset,
                before.last_offset()
            )));
        }
    }
    Ok(())
}

/// What an append that wrote nothing reports.
fn nothing_appended(log_end_offset: i64) -> AppendInfo {
    AppendInfo {
        first_offset: log_end_offset,
        last_offset: log_end_offset - 1,
        log_append_time: -1,
        max_timestamp: -1,
        record_count: 0,
        batch_count: 0,
        bytes: 0,
    }
}

/// The [`AppendInfo`] of replicated batches (never empty), from their headers.
fn follower_append_info(batches: &[ValidatedBatch], bytes: usize) -> AppendInfo {
    let first = batches[0].header;
    let last = batches[batches.len() - 1].header;
    AppendInfo {
        first_offset: first.base_offset,
        last_offset: last.last_offset(),
        log_append_time: -1,
        max_timestamp: batches
            .iter()
            .map(|b| b.header.max_timestamp)
            .max()
            .unwrap_or(-1),
        record_count: batches
            .iter()
            .map(|b| i64::from(b.header.record_count))
            .sum(),
        batch_count: batches.len(),
        bytes,
    }
}

/// Records replicated batches, now in the log, in the producer state, in order and without
/// checks (the leader made them): data batches by header, control batches by their marker.
/// Returns the aborted transactions the markers closed, for the active segment's index.
fn record_replicated_batches(
    producers: &mut ProducerStateTable,
    bytes: &[u8],
    batches: &[ValidatedBatch],
) -> Vec<AbortedTxn> {
    let mut aborted = Vec::new();
    for b in batches {
        let header = &b.header;
        if header.is_control() {
            aborted.extend(record_control_batch(producers, header, &bytes[b.range()]));
        } else {
            producers.record(header, header.is_transactional(), false);
        }
    }
    aborted
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::storage::batch::{compute_crc, write_base_offset};
    use crate::storage::leader_epoch::LEADER_EPOCH_CHECKPOINT_FILE;
    use crate::storage::log::tests::{concat, small_config, NOW};
    use crate::storage::segment;
    use crate::storage::LogConfig;
    use crate::test_support::encode_batch;
    use crate::test_support::Producer;

    /// The log tests' small indexes, and small segments, so a few batches span several of them.
    fn config() -> LogConfig {
        LogConfig {
            segment_bytes: 300,
            ..small_config()
        }
    }

    fn open(dir: &Path) -> Log {
        Log::open(dir, config(), NOW).unwrap()
    }

    /// Drops `log` and opens its directory again. Without a `close` first, that is what a
    /// crash leaves: nothing of the log's state outside its files survives.
    fn reopen(log: Log, dir: &Path) -> Log {
        drop(log);
        open(dir)
    }

    /// A new log in a directory of its own (kept alive as long as the returned `TempDir`).
    fn fresh_log() -> (tempfile::TempDir, Log) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        (dir, log)
    }

    fn single(value: &str) -> Bytes {
        encode_batch(&[value.as_bytes()], &[NOW])
    }

    /// The log's stored batches from `offset` on, as one buffer.
    fn raw(log: &Log, offset: i64) -> Bytes {
        read_all(log, offset, usize::MAX)
    }

    /// What a read of at most `max_bytes` from `offset` returns, as one buffer.
    fn read_all(log: &Log, offset: i64, max_bytes: usize) -> Bytes {
        let read = log.read(offset, max_bytes, i64::MAX, true).unwrap();
        let parts: Vec<Bytes> = read
            .slices
            .iter()
            .map(|s| s.read_bytes().unwrap())
            .collect();
        concat(&parts)
    }

    /// The stored batches from `offset` on, one `Bytes` each.
    fn batches(log: &Log, offset: i64) -> Vec<Bytes> {
        let bytes = raw(log, offset);
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let size = BatchHeader::parse(&bytes[at..]).unwrap().size() as usize;
            out.push(bytes.slice(at..at + size));
            at += size;
        }
        out
    }

    /// Headers of the stored batches from `offset` on.
    fn headers(log: &Log, offset: i64) -> Vec<BatchHeader> {
        batches(log, offset)
            .iter()
            .map(|b| BatchHeader::parse(b).unwrap())
            .collect()
    }

    fn bases(log: &Log) -> Vec<i64> {
        headers(log, log.log_start_offset())
            .iter()
            .map(|h| h.base_offset)
            .collect()
    }

    fn epochs(log: &Log) -> Vec<(i32, i64)> {
        log.leader_epoch_cache()
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    /// Copies everything `follower` lacks from `leader` the way a fetcher would: fetches of
    /// at most `max_bytes` (at least one batch) from the follower's log end.
    fn replicate(leader: &Log, follower: &mut Log, max_bytes: usize) {
        while follower.log_end_offset() < leader.log_end_offset() {
            let fetched = read_all(leader, follower.log_end_offset(), max_bytes);
            let info = follower.append_as_follower(fetched, NOW).unwrap();
            assert!(info.batch_count > 0);
        }
    }

    fn abort_list(log: &Log) -> Vec<AbortedTxn> {
        log.aborted_transactions(log.log_start_offset(), log.log_end_offset())
    }

    /// Everything two replicas must agree on.
    /// `log`, reopened from `dir` (recovered), ends at `end` with batches starting at
    /// `expected_bases`.
    fn reopened_at(log: Log, dir: &Path, end: i64, expected_bases: &[i64]) {
        let log = reopen(log, dir);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(bases(&log), expected_bases);
    }

    /// The follower, reopened from `dir` (recovered), is still the leader's replica.
    fn assert_same_replica_after_reopen(leader: &Log, follower: Log, dir: &Path) {
        let follower = reopen(follower, dir);
        assert_same_replica(leader, &follower);
    }

    fn assert_same_replica(leader: &Log, follower: &Log) {
        assert_eq!(follower.log_end_offset(), leader.log_end_offset());
        assert_eq!(raw(follower, 0), raw(leader, 0), "bytes differ");
        assert_eq!(follower.producer_state(), leader.producer_state());
        assert_eq!(follower.last_stable_offset(), leader.last_stable_offset());
        assert_eq!(abort_list(follower), abort_list(leader));
        assert_eq!(epochs(follower), epochs(leader));
    }

    #[test]
    fn appends_stamp_the_leader_epoch_outside_the_crc() {
        let (dir, mut log) = fresh_log();
        assert_eq!(log.leader_epoch(), 0);
        let sent = single("a");
        log.append(sent.clone(), NOW).unwrap();
        // Never set: epoch 0, recorded from the first append on.
        assert_eq!(headers(&log, 0)[0].partition_leader_epoch, 0);
        assert_eq!(epochs(&log), [(0, 0)]);

        log.set_leader_epoch(7).unwrap();
        assert_eq!(epochs(&log), [(0, 0), (7, 1)]);
        log.append(sent.clone(), NOW).unwrap();
        let mut producer = Producer::new(9);
        log.append(producer.batch(1, true), NOW).unwrap();
        log.append_txn_marker(9, 0, 0, true, NOW).unwrap();
        let stored = headers(&log, 1);
        assert_eq!(stored.len(), 3);
        for header in &stored {
            assert_eq!(header.partition_leader_epoch, 7);
        }
        assert!(stored[2].is_control(), "markers carry the epoch too");
        // The CRC the producer computed still holds: the epoch is outside what it covers.
        let original = BatchHeader::parse(&sent).unwrap();
        assert_eq!(stored[0].crc, original.crc);
        let bytes = raw(&log, 1);
        assert_eq!(
            stored[0].crc,
            compute_crc(&bytes[..stored[0].size() as usize])
        );
        batch::validate_batches(&bytes, i32::MAX, AppendOrigin::Replication).unwrap();
        assert_eq!(epochs(&log), [(0, 0), (7, 1)], "one entry per epoch");

        // A reopened log stamps the latest epoch it knows.
        log.close().unwrap();
        let log = open(dir.path());
        assert_eq!(log.leader_epoch(), 7);
        assert_eq!(epochs(&log), [(0, 0), (7, 1)]);
    }

    #[test]
    fn end_offset_for_leader_epoch_answers_from_the_cache() {
        let (_dir, mut log) = fresh_log();
        assert_eq!(log.end_offset_for_leader_epoch(0), (-1, -1));
        log.set_leader_epoch(1).unwrap();
        log.append(single("a"), NOW).unwrap();
        log.append(single("b"), NOW).unwrap();
        log.set_leader_epoch(3).unwrap();
        log.append(single("c"), NOW).unwrap();
        assert_eq!(log.end_offset_for_leader_epoch(3), (3, 3));
        assert_eq!(log.end_offset_for_leader_epoch(2), (1, 2));
        assert_eq!(log.end_offset_for_leader_epoch(1), (1, 2));
        assert_eq!(log.end_offset_for_leader_epoch(0), (0, 0));
        assert_eq!(log.end_offset_for_leader_epoch(4), (-1, -1));
        assert_eq!(log.end_offset_for_leader_epoch(-1), (-1, -1));
    }

    #[test]
    fn a_follower_keeps_the_leaders_offsets_bytes_and_producer_state() {
        let (_leader_dir, mut leader) = fresh_log();
        let (follower_dir, mut follower) = fresh_log();
        leader.set_leader_epoch(2).unwrap();
        let mut idempotent = Producer::new(77);
        for i in 0..6 {
            leader.append(single(&format!("plain-{i}")), NOW).unwrap();
            leader.append(idempotent.batch(2, false), NOW).unwrap();
        }
        leader.set_leader_epoch(5).unwrap();
        leader
            .append(
                encode_batch(&[b"x", b"y", b"z"], &[NOW, NOW + 1, NOW + 2]),
                NOW,
            )
            .unwrap();
        assert!(leader.segment_count() > 2);
        replicate(&leader, &mut follower, 200);
        assert_same_replica(&leader, &follower);
        assert_eq!(epochs(&follower), [(2, 0), (5, 18)]);
        assert_eq!(follower.end_offset_for_leader_epoch(2), (2, 18));
        // The follower's producer state answers a retry as the leader's would.
        let end = follower.log_end_offset();
        let mut retried = Producer::new(77);
        for _ in 0..5 {
            retried.batch(2, false);
        }
        let info = follower.append(retried.batch(2, false), NOW).unwrap();
        assert_eq!(info.batch_count, 0, "a duplicate, as on the leader");
        assert_eq!(follower.log_end_offset(), end);

        // It all survives a restart, clean or not.
        assert_same_replica_after_reopen(&leader, follower, follower_dir.path());
    }

    #[test]
    fn transactions_replicate_with_the_same_lso_and_aborted_list() {
        let (_leader_dir, mut leader) = fresh_log();
        let (follower_dir, mut follower) = fresh_log();
        let (mut a, mut b) = (Producer::new(10), Producer::new(20));
        leader.append(a.batch(2, true), NOW).unwrap(); // 0-1
        leader.append(b.batch(2, true), NOW).unwrap(); // 2-3
        replicate(&leader, &mut follower, usize::MAX);
        assert_eq!(follower.last_stable_offset(), 0);
        assert_same_replica(&leader, &follower);

        leader.append_txn_marker(10, 0, 3, false, NOW).unwrap(); // 4: abort a while b is open
        replicate(&leader, &mut follower, usize::MAX);
        assert_eq!(follower.last_stable_offset(), 2);
        assert_same_replica(&leader, &follower);

        leader.append(a.batch(1, true), NOW).unwrap(); // 5
        leader.append_txn_marker(20, 0, 3, true, NOW).unwrap(); // 6: commit b
        leader.append_txn_marker(10, 0, 3, false, NOW).unwrap(); // 7: abort a again
        leader.append(single("after"), NOW).unwrap(); // 8
        replicate(&leader, &mut follower, 150);
        assert_same_replica(&leader, &follower);
        assert_eq!(follower.last_stable_offset(), 9);
        let aborted: Vec<(i64, i64, i64, i64)> = abort_list(&follower)
            .iter()
            .map(|t| {
                (
                    t.producer_id,
                    t.first_offset,
                    t.last_offset,
                    t.last_stable_offset,
                )
            })
            .collect();
        assert_eq!(aborted, [(10, 0, 4, 2), (10, 5, 7, 8)]);
        assert_eq!(
            follower.producer_state().get(10).unwrap().coordinator_epoch,
            3
        );
        // The follower's .txnindex files hold the entries, and a crash rebuilds them.
        assert_same_replica_after_reopen(&leader, follower, follower_dir.path());
    }

    #[test]
    fn batches_below_the_log_end_are_skipped() {
        let (_leader_dir, mut leader) = fresh_log();
        let (_follower_dir, mut follower) = fresh_log();
        for i in 0..4 {
            leader
                .append(encode_batch(&[b"a", b"b"], &[i, i]), NOW)
                .unwrap();
        }
        let everything = raw(&leader, 0);
        let first_two = raw(&leader, 0).slice(..everything.len() / 2);
        assert_eq!(
            follower
                .append_as_follower(first_two.clone(), NOW)
                .unwrap()
                .last_offset,
            3
        );
        // The same fetch again: nothing is written.
        let again = follower.append_as_follower(first_two, NOW).unwrap();
        assert_eq!(again.batch_count, 0);
        assert_eq!((again.first_offset, again.last_offset), (4, 3));
        assert_eq!(follower.log_end_offset(), 4);
        // An overlapping fetch: only the new batches are written.
        let info = follower
            .append_as_follower(everything.clone(), NOW)
            .unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset, info.batch_count),
            (4, 7, 2)
        );
        assert_eq!(info.bytes, everything.len() / 2);
        assert_eq!(info.record_count, 4);
        assert_eq!(raw(&follower, 0), everything);
        assert_eq!(
            follower
                .append_as_follower(Bytes::new(), NOW)
                .unwrap()
                .batch_count,
            0
        );
    }

    /// `batch` with its base offset rewritten (the field lies outside the CRC).
    fn at_offset(batch: &Bytes, base_offset: i64) -> Bytes {
        let mut bytes = batch.to_vec();
        write_base_offset(&mut bytes, base_offset);
        Bytes::from(bytes)
    }

    #[test]
    fn overlapping_or_unordered_batches_are_refused_and_gaps_kept() {
        let (dir, mut follower) = fresh_log();
        let pair = encode_batch(&[b"a", b"b"], &[1, 2]);
        follower.append_as_follower(pair.clone(), NOW).unwrap(); // 0-1
        let size = follower.size_bytes();

        // Starts inside what the log has: refused.
        let err = follower
            .append_as_follower(at_offset(&pair, 1), NOW)
            .unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::UnexpectedAppendOffset {
                    first_offset: 1,
                    last_offset: 2,
                    log_end_offset: 2
                }
            ),
            "{err}"
        );
        // Batches going backwards: refused, nothing written.
        let err = follower
            .append_as_follower(concat(&[at_offset(&pair, 4), at_offset(&pair, 5)]), NOW)
            .unwrap_err();
        assert!(matches!(err, StorageError::OffsetsOutOfOrder(_)), "{err}");
        assert_eq!(follower.size_bytes(), size);
        // A corrupt batch behind a good one: refused, nothing written.
        let mut bad = at_offset(&pair, 4).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let err = follower
            .append_as_follower(concat(&[at_offset(&pair, 2), Bytes::from(bad)]), NOW)
            .unwrap_err();
        assert!(matches!(err, StorageError::CorruptMessage(_)), "{err}");
        assert_eq!(
            (follower.log_end_offset(), follower.size_bytes()),
            (2, size)
        );

        // A gap (the leader compacted offsets 2..10 away) is kept, as Kafka keeps it.
        let info = follower
            .append_as_follower(at_offset(&pair, 10), NOW)
            .unwrap();
        assert_eq!((info.first_offset, info.last_offset), (10, 11));
        assert_eq!(follower.log_end_offset(), 12);
        assert_eq!(bases(&follower), [0, 10]);
        assert_eq!(headers(&follower, 5)[0].base_offset, 10);
        reopened_at(follower, dir.path(), 12, &[0, 10]);
    }

    #[test]
    fn an_empty_log_restarts_at_a_batch_straddling_its_start() {
        let (_dir, mut follower) = fresh_log();
        follower.truncate_fully_and_start_at(5).unwrap();
        // The leader's log start (5) lies inside its batch 3-6.
        let batch = at_offset(&encode_batch(&[b"a", b"b", b"c", b"d"], &[1, 2, 3, 4]), 3);
        let info = follower.append_as_follower(batch, NOW).unwrap();
        assert_eq!((info.first_offset, info.last_offset), (3, 6));
        assert_eq!(follower.log_start_offset(), 3);
        assert_eq!(follower.log_end_offset(), 7);
        assert_eq!(follower.segment_base_offsets(), [3]);
    }

    /// A leader with idempotent, transactional and plain batches over several segments and
    /// two epochs: offsets 0..=20.
    fn busy_leader(dir: &Path) -> Log {
        let mut log = open(dir);
        log.set_leader_epoch(1).unwrap();
        let (mut idem, mut txn) = (Producer::new(1), Producer::new(2));
        for _ in 0..3 {
            log.append(idem.batch(2, false), NOW).unwrap(); // 2 offsets
            log.append(single("plain"), NOW).unwrap(); // 1
        }
        // 9
        log.set_leader_epoch(2).unwrap();
        log.append(txn.batch(1, true), NOW).unwrap(); // 9
        log.append_txn_marker(2, 0, 0, false, NOW).unwrap(); // 10: abort
        log.append(txn.batch(2, true), NOW).unwrap(); // 11-12
        log.append(idem.batch(2, false), NOW).unwrap(); // 13-14
        log.append_txn_marker(2, 0, 0, true, NOW).unwrap(); // 15: commit
        log.append(txn.batch(1, true), NOW).unwrap(); // 16: left open
        for _ in 0..4 {
            log.append(single("tail"), NOW).unwrap(); // 17-20
        }
        assert_eq!(log.log_end_offset(), 21);
        assert!(log.segment_count() >= 4, "{:?}", log.segment_base_offsets());
        log
    }

    /// A log holding exactly the batches below `offset` of `leader`, built by replication one
    /// batch per append (so it rolls segments as the leader did).
    fn replica_up_to(leader: &Log, offset: i64, dir: &Path) -> Log {
        let mut log = open(dir);
        for batch in batches(leader, 0) {
            if BatchHeader::parse(&batch).unwrap().next_offset() > offset {
                break;
            }
            log.append_as_follower(batch, NOW).unwrap();
        }
        log
    }

    /// Checks `log` (truncated at batch boundary `offset`) against a replica that only ever
    /// had the batches below `offset`.
    fn assert_truncated_like_a_fresh_replica(leader: &Log, log: &Log, offset: i64) {
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = replica_up_to(leader, offset, fresh_dir.path());
        assert_eq!(log.log_end_offset(), offset);
        assert_eq!(raw(log, 0), raw(&fresh, 0));
        assert_eq!(
            log.producer_state(),
            fresh.producer_state(),
            "offset {offset}"
        );
        assert_eq!(log.last_stable_offset(), fresh.last_stable_offset());
        assert_eq!(abort_list(log), abort_list(&fresh));
        assert_eq!(epochs(log), epochs(&fresh));
        assert_eq!(log.max_timestamp(), fresh.max_timestamp());
        // The indexes find the batch of every offset.
        for o in log.log_start_offset()..offset {
            let found = headers_at(log, o);
            assert_eq!(found, headers_at(&fresh, o), "offset {o}");
            assert!(found.base_offset <= o && o <= found.last_offset());
        }
    }

    fn headers_at(log: &Log, offset: i64) -> BatchHeader {
        let read = log.read(offset, 1, i64::MAX, true).unwrap();
        BatchHeader::parse(&read.slices[0].read_bytes().unwrap()).unwrap()
    }

    #[test]
    fn truncation_at_every_batch_boundary_matches_a_replica_that_never_had_the_rest() {
        let leader_dir = tempfile::tempdir().unwrap();
        let leader = busy_leader(leader_dir.path());
        let boundaries: Vec<i64> = headers(&leader, 0).iter().map(|h| h.base_offset).collect();
        for &offset in &boundaries {
            let dir = tempfile::tempdir().unwrap();
            let mut log = replica_up_to(&leader, 21, dir.path());
            assert!(log.truncate_to(offset).unwrap());
            assert_truncated_like_a_fresh_replica(&leader, &log, offset);
            // The files agree: a reopen, after a crash or a clean close, finds the same log.
            let mut log = reopen(log, dir.path());
            assert_truncated_like_a_fresh_replica(&leader, &log, offset);
            log.close().unwrap();
            let mut log = reopen(log, dir.path());
            assert_truncated_like_a_fresh_replica(&leader, &log, offset);
            // Replication continues from there and ends where the leader is.
            replicate(&leader, &mut log, 300);
            assert_same_replica(&leader, &log);
        }
    }

    #[test]
    fn truncation_within_a_segment_at_its_start_and_across_segments() {
        let leader_dir = tempfile::tempdir().unwrap();
        let leader = busy_leader(leader_dir.path());
        let batches = batches(&leader, 0);
        assert_eq!(batches.len(), 16);
        // A replica with four segments of four batches each.
        let dir = tempfile::tempdir().unwrap();
        let big = LogConfig {
            segment_bytes: 1 << 20,
            ..config()
        };
        let mut log = Log::open(dir.path(), big, NOW).unwrap();
        for (i, batch) in batches.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                log.roll().unwrap();
            }
            log.append_as_follower(batch.clone(), NOW).unwrap();
        }
        let base_of = |i: usize| BatchHeader::parse(&batches[i]).unwrap().base_offset;
        let segments = log.segment_base_offsets();
        assert_eq!(segments, [base_of(0), base_of(4), base_of(8), base_of(12)]);

        // In the middle of the active segment.
        log.truncate_to(base_of(13)).unwrap();
        assert_eq!(log.segment_base_offsets(), segments);
        assert_truncated_like_a_fresh_replica(&leader, &log, base_of(13));
        // At a segment's first offset: that segment is emptied and stays as the active one.
        log.truncate_to(base_of(12)).unwrap();
        assert_eq!(log.segment_base_offsets(), segments);
        assert_eq!(log.active_segment().size(), 0);
        assert_truncated_like_a_fresh_replica(&leader, &log, base_of(12));
        // Across several segments, into the middle of the second.
        log.truncate_to(base_of(5)).unwrap();
        assert_eq!(log.segment_base_offsets(), segments[..2]);
        for &gone in &segments[2..] {
            assert!(!segment::log_file_path(dir.path(), gone).exists());
            assert!(!segment::offset_index_path(dir.path(), gone).exists());
        }
        assert_truncated_like_a_fresh_replica(&leader, &log, base_of(5));

        // A leader's append continues at the truncation point, stamped.
        let offset = base_of(5);
        log.set_leader_epoch(9).unwrap();
        let info = log.append(single("new"), NOW).unwrap();
        assert_eq!(info.first_offset, offset);
        assert_eq!(log.log_end_offset(), offset + 1);
        assert_eq!(*epochs(&log).last().unwrap(), (9, offset));
        assert_eq!(headers(&log, offset)[0].partition_leader_epoch, 9);
        // And the reopened log agrees.
        let before = raw(&log, 0);
        let log = reopen(log, dir.path());
        assert_eq!(raw(&log, 0), before);
        assert_eq!(log.log_end_offset(), offset + 1);
        assert_eq!(*epochs(&log).last().unwrap(), (9, offset));
    }

    #[test]
    fn truncation_drops_open_transactions_aborts_and_epochs_above_it() {
        let leader_dir = tempfile::tempdir().unwrap();
        let leader = busy_leader(leader_dir.path());
        assert_eq!(leader.last_stable_offset(), 16);
        let dir = tempfile::tempdir().unwrap();
        let mut log = replica_up_to(&leader, 21, dir.path());
        assert_eq!(epochs(&log), [(1, 0), (2, 9)]);

        // Before the commit at 15: producer 2's second transaction is open again from 11.
        log.truncate_to(15).unwrap();
        assert_eq!(log.last_stable_offset(), 11);
        assert_eq!(abort_list(&log).len(), 1);
        // Before the abort at 10: its entry goes, on disk too.
        log.truncate_to(10).unwrap();
        assert_eq!(log.last_stable_offset(), 9);
        assert!(abort_list(&log).is_empty());
        for base in log.segment_base_offsets() {
            let path = segment::txn_index_path(dir.path(), base);
            assert_eq!(fs::read(path).unwrap_or_default().len(), 0);
        }
        // Before epoch 2 began: its entry goes.
        log.truncate_to(9).unwrap();
        assert_eq!(epochs(&log), [(1, 0)]);
        assert_eq!(log.last_stable_offset(), 9);
        assert_eq!(log.end_offset_for_leader_epoch(1), (1, 9));
        let log = reopen(log, dir.path());
        assert_eq!(epochs(&log), [(1, 0)]);
        assert_eq!(log.last_stable_offset(), 9);
    }

    #[test]
    fn truncating_at_or_past_the_end_only_trims_the_epoch_cache() {
        let (_dir, mut log) = fresh_log();
        log.append(single("a"), NOW).unwrap();
        // Leader at epoch 4 from offset 1, then demoted before appending anything.
        log.set_leader_epoch(4).unwrap();
        assert_eq!(epochs(&log), [(0, 0), (4, 1)]);
        assert!(!log.truncate_to(5).unwrap());
        assert_eq!(epochs(&log), [(0, 0)]);
        assert_eq!(log.log_end_offset(), 1);
        assert!(log.truncate_to(-1).is_err());
    }

    #[test]
    fn truncating_inside_a_batch_removes_the_batch_and_keeps_the_offset() {
        let (dir, mut log) = fresh_log();
        log.append(encode_batch(&[b"a", b"b"], &[1, 2]), NOW)
            .unwrap(); // 0-1
        log.append(encode_batch(&[b"c", b"d", b"e"], &[1, 2, 3]), NOW)
            .unwrap(); // 2-4
        log.truncate_to(3).unwrap();
        // The batch holding 3 went whole; the log ends at 3, in a new empty segment.
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(bases(&log), [0]);
        assert_eq!(log.segment_base_offsets(), [0, 3]);
        assert_eq!(log.append(single("f"), NOW).unwrap().first_offset, 3);
        reopened_at(log, dir.path(), 4, &[0, 3]);
    }

    #[test]
    fn truncating_the_only_batch_from_inside_keeps_the_log_start() {
        let (dir, mut log) = fresh_log();
        log.append(encode_batch(&[b"a", b"b", b"c"], &[1, 2, 3]), NOW)
            .unwrap(); // 0-2
        log.truncate_to(1).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 1));
        assert_eq!(log.segment_base_offsets(), [0, 1]);
        let log = reopen(log, dir.path());
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 1));
    }

    #[test]
    fn truncating_below_the_log_start_starts_the_log_again() {
        let (dir, mut log) = fresh_log();
        let mut producer = Producer::new(3);
        for _ in 0..8 {
            log.append(producer.batch(2, true), NOW).unwrap();
        }
        log.delete_records_before(6).unwrap();
        log.truncate_to(4).unwrap();
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (4, 4),
            "Kafka's truncateFullyAndStartAt"
        );
        assert_eq!(log.segment_base_offsets(), [4]);
        assert!(log.producer_state().is_empty());
        assert_eq!(log.last_stable_offset(), 4);
        assert!(log.leader_epoch_cache().is_empty());
        let snapshots = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".snapshot")
            })
            .count();
        assert_eq!(snapshots, 0);
        assert_eq!(log.append(single("x"), NOW).unwrap().first_offset, 4);
        let log = reopen(log, dir.path());
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 5));
        assert_eq!(epochs(&log), [(0, 4)]);
    }

    #[test]
    fn truncate_fully_can_move_the_log_forward_too() {
        let (dir, mut log) = fresh_log();
        for _ in 0..5 {
            log.append(single("x"), NOW).unwrap();
        }
        log.truncate_fully_and_start_at(100).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
        assert!(log.read(4, 100, i64::MAX, true).is_err());
        log.append_as_follower(at_offset(&single("y"), 100), NOW)
            .unwrap();
        log.close().unwrap();
        let log = reopen(log, dir.path());
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 101));
        assert_eq!(log.segment_base_offsets(), [100]);
    }

    #[test]
    fn truncation_brings_the_cleaner_checkpoint_down() {
        let (dir, mut log) = fresh_log();
        for _ in 0..6 {
            log.append(single("x"), NOW).unwrap();
        }
        checkpoint::write_cleaner_offset(dir.path(), 5).unwrap();
        log.cleaner_checkpoint = Some(5);
        log.truncate_to(3).unwrap();
        assert_eq!(
            checkpoint::read_cleaner_offset(dir.path()).unwrap(),
            Some(3)
        );
        assert_eq!(log.first_dirty_offset(), 3);
        log.truncate_to(4).unwrap();
        assert_eq!(
            checkpoint::read_cleaner_offset(dir.path()).unwrap(),
            Some(3)
        );
    }

    #[test]
    fn a_missing_or_damaged_epoch_checkpoint_is_rebuilt_from_batch_headers() {
        let (leader_dir, mut leader) = fresh_log();
        // Epoch changes inside segments and at their boundaries, over many segments.
        for epoch in [1, 2, 3, 5, 8] {
            leader.set_leader_epoch(epoch).unwrap();
            for _ in 0..(epoch + 2) {
                leader.append(single("value"), NOW).unwrap();
            }
        }
        assert!(leader.segment_count() > 4);
        let expected = epochs(&leader);
        assert_eq!(expected.len(), 5);
        leader.close().unwrap();
        drop(leader);
        let path = leader_dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);

        fs::remove_file(&path).unwrap();
        let log = open(leader_dir.path());
        assert_eq!(epochs(&log), expected);
        assert!(path.exists(), "the rebuilt cache is written");
        drop(log);

        fs::write(&path, "0\n7\ngarbage\n").unwrap();
        let log = open(leader_dir.path());
        assert_eq!(epochs(&log), expected);
        drop(log);

        // The rebuild starts no earlier than the log start.
        let mut log = open(leader_dir.path());
        log.delete_records_before(4).unwrap();
        assert_eq!(
            epochs(&log)[0],
            (2, 4),
            "the log start moved the first epoch up"
        );
        drop(log);
        fs::remove_file(&path).unwrap();
        let log = open(leader_dir.path());
        assert_eq!(epochs(&log)[0], (2, 4));
    }

    #[test]
    fn batches_without_an_epoch_rebuild_to_an_empty_cache() {
        let (dir, mut log) = fresh_log();
        let mut unstamped = single("old").to_vec();
        batch::write_partition_leader_epoch(&mut unstamped, -1);
        log.append_as_follower(Bytes::from(unstamped), NOW).unwrap();
        assert!(log.leader_epoch_cache().is_empty());
        assert_eq!(log.end_offset_for_leader_epoch(0), (-1, -1));
        let log = reopen(log, dir.path());
        assert!(log.leader_epoch_cache().is_empty());
    }

    #[test]
    fn a_stale_epoch_entry_past_the_log_end_is_cut_at_open() {
        let (dir, mut log) = fresh_log();
        log.append(single("a"), NOW).unwrap();
        log.close().unwrap();
        drop(log);
        // As if a crash lost appended data after the epoch was recorded.
        fs::write(
            dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE),
            "0\n2\n0 0\n3 5\n",
        )
        .unwrap();
        let log = open(dir.path());
        assert_eq!(epochs(&log), [(0, 0)]);
    }

    #[test]
    fn the_leader_path_refuses_replication_origin() {
        let (_dir, mut log) = fresh_log();
        assert!(matches!(
            log.append_from(single("a"), NOW, AppendOrigin::Replication),
            Err(StorageError::InvalidRecord(_))
        ));
    }

    #[test]
    fn the_lso_can_be_bounded_by_a_high_watermark() {
        let (_dir, mut log) = fresh_log();
        log.append(single("a"), NOW).unwrap();
        log.append(single("b"), NOW).unwrap();
        assert_eq!(log.last_stable_offset_at(1), 1);
        let mut txn = Producer::new(4);
        log.append(txn.batch(1, true), NOW).unwrap(); // 2
        assert_eq!(log.last_stable_offset_at(3), 2);
        assert_eq!(log.last_stable_offset_at(1), 1);
    }
}
