//! The owner-thread half of log compaction: snapshots for the cleaner, installing what it
//! cleaned, and finishing an install that a crash interrupted.
//!
//! Installing one cleaned group (a new segment based at B replacing closed segments B, B2, …)
//! is a sequence of renames, safe to interrupt anywhere:
//!
//! 1. Move the new files out of the scratch directory to `B.index.swap`, `B.timeindex.swap`,
//!    `B.txnindex.swap` (only when the group had aborted transactions) and last `B.log.swap`,
//!    and fsync. The `.log.swap` file is the commit point: before it exists the old segments
//!    are untouched; once it exists, recovery finishes the swap.
//! 2. Delete the replaced segments oldest first (each renamed to `.deleted`, then unlinked),
//!    fsyncing after each.
//! 3. Rename the index swaps and then the log swap to their final names, fsync, and open the
//!    new segment in place of the old ones.
//!
//! [`recover_interrupted_swaps`] runs at open, before segments are listed. For each
//! `B.log.swap` it deletes every `.log` segment whose base lies in [B, the swap's next offset)
//! (those the swap replaced; B itself always), then renames the swap into place. Index swaps
//! are renamed too; if an offset or time index swap is missing, the index of that name might
//! predate the swap, so it is removed and rebuilt from the log. A missing `B.txnindex.swap`
//! means either that the group had no aborted transactions (then neither had the old segment
//! B, whose entries are part of the group's) or that it was already renamed; either way the
//! `B.txnindex` found, if any, is right and stays.
//!
//! A replaced segment whose base lies at or past the swap's next offset had every record
//! dropped, so recovery keeps it. Since deletes go oldest first, such leftovers are always the
//! newest of their group, so every record that superseded a record in them (including any
//! tombstone that deleted its key) is still in the log: the result is less compacted, never
//! inconsistent, and the next pass cleans it again.

use std::fs;
use std::io;
use std::path::Path;

use super::{open_segment, wall_clock_ms, Log};
use crate::storage::checkpoint;
use crate::storage::cleaner::{
    self, CleanableSnapshot, CleanedGroup, CleanedLog, InstallOutcome, SegmentSnapshot,
};
use crate::storage::error::StorageError;
use crate::storage::remove_if_exists;
use crate::storage::segment::{self, LOG_FILE_SUFFIX, SWAP_FILE_SUFFIX};

impl Log {
    /// What the cleaner may work on now: the closed segments with their shared file handles
    /// and aborted transactions, the first dirty offset and, from the topic config and the
    /// open transactions, where cleaning must stop. Cheap: no file is read.
    pub fn cleanable_snapshot(&self, now_ms: i64) -> CleanableSnapshot {
        let segments = self.inactive_segments().map(SegmentSnapshot::of).collect();
        let snapshot = CleanableSnapshot::new(
            self.dir.clone(),
            segments,
            self.log_start_offset,
            self.active_segment().base_offset(),
            self.first_dirty_offset(),
            self.config.clone(),
            now_ms,
        );
        match self.producers.first_unstable_offset() {
            Some(first) => snapshot.stop_at_unstable_segment(self.segment_base_for(first)),
            None => snapshot,
        }
    }

    /// Where the next cleaning pass starts: the cleaner checkpoint, or the log start offset if
    /// there is none or it lies outside the log (retention or DeleteRecords moved past it).
    pub fn first_dirty_offset(&self) -> i64 {
        match self.cleaner_checkpoint {
            Some(offset) if (self.log_start_offset..=self.log_end_offset).contains(&offset) => {
                offset
            }
            _ => self.log_start_offset,
        }
    }

    /// Swaps cleaned segments in for the ones they replace, group by group (see the module
    /// docs), then moves the cleaner checkpoint to `cleaned.cleaned_up_to`. Only renames and
    /// the opening of each new segment; no scans.
    ///
    /// A group is installed only if the segments it replaces are still exactly in the log
    /// (same base offsets, same sizes, nothing between them); retention or DeleteRecords may
    /// have deleted some since the snapshot. Otherwise its files are discarded, and if some of
    /// its segments remain, the checkpoint stays where it was so that the next pass covers
    /// them. Log start and log end offsets never change.
    ///
    /// On an I/O error the segment map may lack segments that are on disk; the caller should
    /// reopen the log, whose recovery finishes or undoes the interrupted swap.
    pub fn install_cleaned(&mut self, cleaned: CleanedLog) -> Result<InstallOutcome, StorageError> {
        self.ensure_open()?;
        if cleaned.dir != self.dir {
            return Err(StorageError::Io(io::Error::other(format!(
                "cleaned segments of {} offered to the log in {}",
                cleaned.dir.display(),
                self.dir.display()
            ))));
        }
        let result = self.install_groups(&cleaned);
        cleaner::remove_scratch_dir(&self.dir);
        let mut outcome = result?;
        if !outcome.checkpoint_held {
            checkpoint::write_cleaner_offset(&self.dir, cleaned.cleaned_up_to)?;
            self.cleaner_checkpoint = Some(cleaned.cleaned_up_to);
        }
        outcome.first_dirty_offset = self.first_dirty_offset();
        tracing::info!(
            dir = %self.dir.display(),
            installed = outcome.installed,
            skipped = outcome.skipped,
            first_dirty_offset = outcome.first_dirty_offset,
            records_read = cleaned.stats.records_read,
            records_retained = cleaned.stats.records_retained,
            bytes_read = cleaned.stats.bytes_read,
            bytes_written = cleaned.stats.bytes_written,
            "installed cleaned log segments"
        );
        Ok(outcome)
    }

    fn install_groups(&mut self, cleaned: &CleanedLog) -> Result<InstallOutcome, StorageError> {
        let mut outcome = InstallOutcome::default();
        for group in &cleaned.groups {
            if self.still_holds(group) {
                self.swap_in(&cleaned.scratch_dir, group)?;
                outcome.installed += 1;
                continue;
            }
            outcome.skipped += 1;
            let remains = group
                .replaced
                .iter()
                .any(|r| self.segments.contains_key(&r.base_offset));
            outcome.checkpoint_held |= remains;
            tracing::info!(dir = %self.dir.display(), base_offset = group.base_offset, "segments changed while cleaning; not installing their cleaned copy");
        }
        Ok(outcome)
    }

    /// Whether the closed segments `group` replaces are still in the log exactly as read.
    fn still_holds(&self, group: &CleanedGroup) -> bool {
        let (Some(first), Some(last)) = (group.replaced.first(), group.replaced.last()) else {
            return false;
        };
        let closed = last.base_offset < self.active_segment().base_offset();
        let contiguous = self
            .segments
            .range(first.base_offset..=last.base_offset)
            .count()
            == group.replaced.len();
        let unchanged = group.replaced.iter().all(|r| {
            self.segments
                .get(&r.base_offset)
                .is_some_and(|segment| segment.size() == r.size)
        });
        closed && contiguous && unchanged
    }

    /// Steps 1-3 of the install protocol for one group.
    fn swap_in(&mut self, scratch: &Path, group: &CleanedGroup) -> Result<(), StorageError> {
        let base_offset = group.base_offset;
        stage_swap(&self.dir, scratch, base_offset)?;
        for replaced in &group.replaced {
            if let Some(segment) = self.segments.remove(&replaced.base_offset) {
                segment.delete()?;
                checkpoint::sync_dir(&self.dir)?;
            }
        }
        complete_swap(&self.dir, base_offset)?;
        let segment = open_segment(
            &self.dir,
            base_offset,
            &self.config,
            false,
            true,
            wall_clock_ms(),
        )?;
        self.segments.insert(base_offset, segment);
        Ok(())
    }
}

/// Step 1: moves a cleaned segment's files from `scratch` to their `.swap` names in `dir`,
/// the log file last, fsyncing before and after it.
pub(super) fn stage_swap(dir: &Path, scratch: &Path, base_offset: i64) -> Result<(), StorageError> {
    let [log, index, time_index, txn_index] = cleaner::scratch_file_paths(scratch, base_offset);
    for (from, to) in [
        (index, segment::offset_index_path(dir, base_offset)),
        (time_index, segment::time_index_path(dir, base_offset)),
    ] {
        fs::rename(from, segment::swap_path(&to))?;
    }
    if txn_index.exists() {
        let to = segment::txn_index_path(dir, base_offset);
        fs::rename(txn_index, segment::swap_path(&to))?;
    }
    checkpoint::sync_dir(dir)?;
    fs::rename(
        log,
        segment::swap_path(&segment::log_file_path(dir, base_offset)),
    )?;
    checkpoint::sync_dir(scratch)?;
    checkpoint::sync_dir(dir)?;
    Ok(())
}

/// Step 3: renames a swapped-in segment's files to their final names, indexes first. An index
/// swap that is missing leaves no index of that name behind (it could be an old one); the
/// segment rebuilds it from the log when opened.
fn complete_swap(dir: &Path, base_offset: i64) -> Result<(), StorageError> {
    for index in [
        segment::offset_index_path(dir, base_offset),
        segment::time_index_path(dir, base_offset),
    ] {
        match fs::rename(segment::swap_path(&index), &index) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => remove_if_exists(&index)?,
            Err(e) => return Err(e.into()),
        }
    }
    let txn_index = segment::txn_index_path(dir, base_offset);
    match fs::rename(segment::swap_path(&txn_index), &txn_index) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let log = segment::log_file_path(dir, base_offset);
    fs::rename(segment::swap_path(&log), &log)?;
    checkpoint::sync_dir(dir)?;
    Ok(())
}

/// Finishes every swap a crash interrupted (see the module docs) and removes index swaps whose
/// log swap never came to be. Runs before the log lists its segments.
pub(super) fn recover_interrupted_swaps(dir: &Path) -> Result<(), StorageError> {
    let names = file_names(dir)?;
    if !names.iter().any(|name| name.ends_with(SWAP_FILE_SUFFIX)) {
        return Ok(());
    }
    let log_swap_suffix = format!("{LOG_FILE_SUFFIX}{SWAP_FILE_SUFFIX}");
    let mut swap_bases = Vec::new();
    for name in names {
        if let Some(base) = segment::parse_segment_file_name(&name, &log_swap_suffix) {
            swap_bases.push(base);
        }
    }
    swap_bases.sort_unstable();
    for base_offset in swap_bases {
        finish_swap(dir, base_offset)?;
    }
    for name in file_names(dir)? {
        if name.ends_with(SWAP_FILE_SUFFIX) {
            tracing::info!(dir = %dir.display(), file = %name, "removing index swap file without a log swap");
            fs::remove_file(dir.join(name))?;
        }
    }
    checkpoint::sync_dir(dir)?;
    Ok(())
}

/// Deletes the segments the swap at `base_offset` replaced and renames it into place.
fn finish_swap(dir: &Path, base_offset: i64) -> Result<(), StorageError> {
    let swap = segment::swap_path(&segment::log_file_path(dir, base_offset));
    let next_offset = segment::scan_next_offset(&swap, base_offset)?;
    let replaced_end = next_offset.max(base_offset + 1);
    for name in file_names(dir)? {
        let Some(old_base) = segment::parse_segment_file_name(&name, LOG_FILE_SUFFIX) else {
            continue;
        };
        if !(base_offset..replaced_end).contains(&old_base) {
            continue;
        }
        remove_if_exists(&segment::log_file_path(dir, old_base))?;
        // The indexes at the swap's own base are settled by complete_swap.
        if old_base != base_offset {
            remove_if_exists(&segment::offset_index_path(dir, old_base))?;
            remove_if_exists(&segment::time_index_path(dir, old_base))?;
            remove_if_exists(&segment::txn_index_path(dir, old_base))?;
        }
    }
    complete_swap(dir, base_offset)?;
    tracing::info!(dir = %dir.display(), base_offset, next_offset, "finished an interrupted swap of a cleaned segment");
    Ok(())
}

fn file_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use kafka_protocol::records::Compression;

    use super::*;
    use crate::storage::batch::{self, BatchHeader};
    use crate::storage::cleaner::{clean, CleanerConfig, CleanerStats};
    use crate::storage::log::tests::read_records;
    use crate::storage::log::LogConfig;
    use crate::test_support::{encode_keyed_batch, keyed, BatchBuilder};

    const NOW: i64 = 1_700_000_000_000;
    const ROOMY_MAP: usize = 1 << 20;

    /// A record as a consumer sees it: offset, key, value (None for a tombstone).
    type Seen = (i64, String, Option<String>);

    /// A compacted log plus a model of everything appended to it.
    struct Harness {
        dir: tempfile::TempDir,
        log: Log,
        config: LogConfig,
        appended: BTreeMap<i64, (String, Option<String>)>,
    }

    fn compact_config(segment_bytes: u64) -> LogConfig {
        LogConfig {
            compact: true,
            delete_retention_enabled: false,
            segment_bytes,
            index_interval_bytes: 128,
            segment_index_bytes: 4096,
            ..LogConfig::default()
        }
    }

    impl Harness {
        fn new(config: LogConfig) -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let log = Log::open(dir.path(), config.clone(), NOW).unwrap();
            Harness {
                dir,
                log,
                config,
                appended: BTreeMap::new(),
            }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Appends one batch of (key, value) records stamped `ts`; returns its first offset.
        fn put_with(
            &mut self,
            records: &[(&str, Option<&str>)],
            ts: i64,
            compression: Compression,
        ) -> i64 {
            let keyed: Vec<_> = records.iter().map(|&(k, v)| (Some(k), v, ts)).collect();
            let info = self
                .log
                .append(encode_keyed_batch(&keyed, compression), NOW)
                .unwrap();
            for (i, (key, value)) in records.iter().enumerate() {
                self.appended.insert(
                    info.first_offset + i as i64,
                    (key.to_string(), value.map(str::to_string)),
                );
            }
            info.first_offset
        }

        /// Appends one uncompressed batch of (key, value, timestamp) records.
        fn put_records(&mut self, records: &[(&str, Option<&str>, i64)]) -> i64 {
            let keyed: Vec<_> = records.iter().map(|&(k, v, ts)| (Some(k), v, ts)).collect();
            let info = self
                .log
                .append(encode_keyed_batch(&keyed, Compression::None), NOW)
                .unwrap();
            for (i, (key, value, _)) in records.iter().enumerate() {
                self.appended.insert(
                    info.first_offset + i as i64,
                    (key.to_string(), value.map(str::to_string)),
                );
            }
            info.first_offset
        }

        fn put(&mut self, records: &[(&str, Option<&str>)]) -> i64 {
            self.put_with(records, NOW, Compression::None)
        }

        /// Closes the active segment so that everything so far may be cleaned.
        fn roll(&mut self) {
            self.log.roll().unwrap();
        }

        fn clean(&self, max_map_entries: usize, now_ms: i64) -> Option<CleanedLog> {
            let snapshot = self.log.cleanable_snapshot(now_ms);
            clean(&snapshot, &CleanerConfig { max_map_entries }, now_ms).unwrap()
        }

        fn clean_and_install(
            &mut self,
            max_map_entries: usize,
            now_ms: i64,
        ) -> Option<(CleanerStats, InstallOutcome)> {
            let cleaned = self.clean(max_map_entries, now_ms)?;
            let stats = cleaned.stats.clone();
            let outcome = self.log.install_cleaned(cleaned).unwrap();
            assert!(!cleaner::scratch_dir(self.path()).exists());
            Some((stats, outcome))
        }

        fn reopen(&mut self) {
            self.log.close().unwrap();
            self.log = Log::open(self.path(), self.config.clone(), NOW).unwrap();
        }

        /// Drops the log without closing it, as a crash would, and opens it again.
        fn crash_and_reopen(&mut self) {
            let placeholder = tempfile::tempdir().unwrap();
            let old = std::mem::replace(
                &mut self.log,
                Log::open(placeholder.path(), self.config.clone(), NOW).unwrap(),
            );
            drop(old);
            self.log = Log::open(self.path(), self.config.clone(), NOW).unwrap();
        }

        /// Every record from the log start, read and decoded as a consumer would.
        fn records(&self) -> Vec<Seen> {
            records_from(&self.log, self.log.log_start_offset())
        }

        /// Each key's latest appended record, as (offset, value).
        fn latest(&self) -> BTreeMap<String, (i64, Option<String>)> {
            let mut latest = BTreeMap::new();
            for (&offset, (key, value)) in &self.appended {
                latest.insert(key.clone(), (offset, value.clone()));
            }
            latest
        }

        /// Every record read back sits at the offset it was appended at, unchanged.
        fn assert_offsets_unchanged(&self) {
            let records = self.records();
            assert!(records.windows(2).all(|w| w[0].0 < w[1].0), "offsets rise");
            for (offset, key, value) in records {
                let appended = &self.appended[&offset];
                assert_eq!(
                    (&key, &value),
                    (&appended.0, &appended.1),
                    "offset {offset}"
                );
            }
        }

        /// Every key's latest record is still the last record for it (a tombstone may be gone).
        fn assert_latest_survive(&self) {
            let mut last_seen = BTreeMap::new();
            for (offset, key, value) in self.records() {
                last_seen.insert(key, (offset, value));
            }
            for (key, latest) in self.latest() {
                match last_seen.get(&key) {
                    Some(seen) => assert_eq!(seen, &latest, "key {key}"),
                    None => assert!(latest.1.is_none(), "key {key} lost its latest value"),
                }
            }
        }

        /// Exactly one record per key in the closed segments, the latest.
        fn assert_fully_compacted(&self) {
            let records = self.records();
            let latest: Vec<Seen> = self
                .latest()
                .into_iter()
                .filter(|(_, (_, value))| value.is_some())
                .map(|(key, (offset, value))| (offset, key, value))
                .collect();
            let mut sorted = latest.clone();
            sorted.sort();
            assert_eq!(records, sorted);
        }
    }

    fn records_from(log: &Log, offset: i64) -> Vec<Seen> {
        let text = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
        read_records(log, offset)
            .into_iter()
            .filter(|r| r.offset >= offset)
            .map(|record| {
                (
                    record.offset,
                    text(record.key.unwrap()),
                    record.value.map(text),
                )
            })
            .collect()
    }

    /// Headers of every batch in the log, in order.
    fn batch_headers(log: &Log) -> Vec<BatchHeader> {
        let result = log
            .read(log.log_start_offset(), usize::MAX, i64::MAX, true)
            .unwrap();
        let mut headers = Vec::new();
        for slice in result.slices {
            let bytes = slice.read_bytes().unwrap();
            let mut position = 0;
            while position < bytes.len() {
                let header = BatchHeader::parse(&bytes[position..]).unwrap();
                assert_eq!(
                    header.crc,
                    batch::compute_crc(&bytes[position..position + header.size() as usize])
                );
                position += header.size() as usize;
                headers.push(header);
            }
        }
        headers
    }

    /// The stored bytes of the batch holding `offset`.
    fn batch_bytes(log: &Log, offset: i64) -> Bytes {
        let result = log.read(offset, 1, i64::MAX, true).unwrap();
        result.slices[0].read_bytes().unwrap()
    }

    #[test]
    fn keeps_the_latest_value_per_key_with_offsets_unchanged() {
        let mut h = Harness::new(compact_config(200));
        h.put(&[("a", Some("a1")), ("b", Some("b1")), ("c", Some("c1"))]);
        h.put(&[("x", Some("x1")), ("a", Some("a2"))]);
        h.put(&[("d", Some("d1")), ("b", Some("b2"))]);
        h.put(&[("a", Some("a3")), ("e", Some("e1"))]);
        h.put(&[("c", Some("c2")), ("d", Some("d2"))]);
        // Out-of-order timestamps: re-encoding would move the base timestamp to the first
        // record's, so only a verbatim copy keeps these bytes.
        let all_kept = h.put_records(&[("f", Some("f1"), NOW), ("g", Some("g1"), NOW - 7)]);
        h.roll();
        assert!(h.log.segment_count() > 3, "the data spans several segments");
        let untouched = batch_bytes(&h.log, all_kept);
        let (start, end) = (h.log.log_start_offset(), h.log.log_end_offset());

        let (stats, outcome) = h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        assert_eq!((stats.records_read, stats.records_retained), (13, 8));
        assert!(stats.bytes_written < stats.bytes_read);
        assert_eq!(outcome.skipped, 0);
        assert_eq!(
            outcome.first_dirty_offset,
            h.log.active_segment().base_offset()
        );
        assert_eq!(
            (h.log.log_start_offset(), h.log.log_end_offset()),
            (start, end)
        );
        h.assert_offsets_unchanged();
        h.assert_fully_compacted();
        let offsets: Vec<i64> = h.records().iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            [3, 6, 7, 8, 9, 10, 11, 12],
            "consumers see the gaps"
        );
        assert_eq!(
            batch_bytes(&h.log, all_kept),
            untouched,
            "a batch kept whole is copied verbatim"
        );
        // Filtered batches still end where they ended.
        let spans: Vec<(i64, i64, i32)> = batch_headers(&h.log)
            .iter()
            .map(|b| (b.base_offset, b.last_offset(), b.record_count))
            .collect();
        assert_eq!(
            spans,
            [(3, 4, 1), (6, 6, 1), (7, 8, 2), (9, 10, 2), (11, 12, 2)]
        );
        // Reading from inside a gap lands on the next record; reading from 0 gets everything.
        assert_eq!(records_from(&h.log, 4)[0].0, 6);
        assert_eq!(records_from(&h.log, 5)[0].0, 6);
        assert_eq!(records_from(&h.log, 0).len(), 8);

        h.reopen();
        h.assert_offsets_unchanged();
        h.assert_fully_compacted();
        assert_eq!(
            h.log.first_dirty_offset(),
            h.log.active_segment().base_offset()
        );
        assert!(h.clean(ROOMY_MAP, NOW).is_none(), "nothing dirty is left");
        assert_eq!(
            (h.log.log_start_offset(), h.log.log_end_offset()),
            (start, end)
        );
        for base in h.log.segment_base_offsets() {
            assert!(segment::offset_index_path(h.path(), base).exists());
            assert!(segment::time_index_path(h.path(), base).exists());
        }
    }

    #[test]
    fn compressed_batches_are_re_encoded_with_their_codec() {
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut h = Harness::new(compact_config(1 << 20));
            let first = h.put_with(
                &[
                    ("a", Some("a1")),
                    ("b", Some("b1")),
                    ("c", Some("c1")),
                    ("d", Some("d1")),
                ],
                NOW - 5,
                compression,
            );
            h.put_with(&[("b", Some("b2")), ("d", Some("d2"))], NOW, compression);
            h.roll();
            let before = BatchHeader::parse(&batch_bytes(&h.log, first)).unwrap();

            h.clean_and_install(ROOMY_MAP, NOW).unwrap();
            h.assert_offsets_unchanged();
            h.assert_fully_compacted();
            let headers = batch_headers(&h.log);
            assert_eq!(headers.len(), 2, "{compression:?}");
            let filtered = headers[0];
            assert_eq!(filtered.compression_codec(), before.compression_codec());
            assert_eq!((filtered.base_offset, filtered.last_offset()), (0, 3));
            assert_eq!(filtered.record_count, 2);
            assert_eq!(filtered.max_timestamp, NOW - 5);
            assert_eq!(
                records_from(&h.log, 0),
                [
                    (0, "a".into(), Some("a1".into())),
                    (2, "c".into(), Some("c1".into())),
                    (4, "b".into(), Some("b2".into())),
                    (5, "d".into(), Some("d2".into())),
                ],
                "{compression:?}"
            );
            // Recovery accepts what the cleaner wrote.
            h.crash_and_reopen();
            h.assert_fully_compacted();
        }
    }

    #[test]
    fn the_active_segment_is_never_touched() {
        let mut h = Harness::new(compact_config(1 << 20));
        h.put(&[("a", Some("a1")), ("b", Some("b1"))]);
        h.put(&[("b", Some("b2"))]);
        h.roll();
        h.put(&[("a", Some("a2")), ("a", Some("a3"))]);
        let active = h.log.active_segment().base_offset();
        let active_bytes = fs::read(segment::log_file_path(h.path(), active)).unwrap();

        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        assert_eq!(
            fs::read(segment::log_file_path(h.path(), active)).unwrap(),
            active_bytes
        );
        // a1 is only superseded from the active segment, which the map does not cover.
        let offsets: Vec<i64> = h.records().iter().map(|r| r.0).collect();
        assert_eq!(offsets, [0, 2, 3, 4]);
        h.assert_offsets_unchanged();
        assert!(h.clean(ROOMY_MAP, NOW).is_none());
    }

    #[test]
    fn min_compaction_lag_holds_back_recent_segments() {
        let config = LogConfig {
            min_compaction_lag_ms: 10_000,
            ..compact_config(1 << 20)
        };
        let mut h = Harness::new(config);
        h.put_with(
            &[("a", Some("a1")), ("b", Some("b1"))],
            NOW - 60_000,
            Compression::None,
        );
        h.put_with(&[("a", Some("a2"))], NOW - 50_000, Compression::None);
        h.roll();
        let young = h.put_with(
            &[("b", Some("b2")), ("a", Some("a3"))],
            NOW - 5_000,
            Compression::None,
        );
        h.roll();
        h.put_with(&[("a", Some("a4"))], NOW - 60_000, Compression::None);
        h.roll();
        let young_bytes = fs::read(segment::log_file_path(h.path(), young)).unwrap();

        let snapshot = h.log.cleanable_snapshot(NOW);
        assert_eq!(snapshot.first_uncleanable_offset, young);
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        assert_eq!(
            fs::read(segment::log_file_path(h.path(), young)).unwrap(),
            young_bytes
        );
        let offsets: Vec<i64> = h.records().iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            [1, 2, 3, 4, 5],
            "only a1 went: b2 and a3 are too young to count"
        );
        assert_eq!(h.log.first_dirty_offset(), young);

        // Once the young segment ages, the rest is cleaned.
        h.clean_and_install(ROOMY_MAP, NOW + 10_000).unwrap();
        h.assert_fully_compacted();
    }

    #[test]
    fn dirty_ratio_tracks_what_was_cleaned() {
        let mut h = Harness::new(compact_config(1 << 20));
        for i in 0..4 {
            h.put(&[("a", Some(&format!("v{i}"))), ("b", Some("x"))]);
            h.roll();
        }
        let snapshot = h.log.cleanable_snapshot(NOW);
        assert_eq!(snapshot.dirty_ratio(), 1.0);
        assert!(snapshot.needs_cleaning());
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();

        let snapshot = h.log.cleanable_snapshot(NOW);
        assert_eq!(snapshot.dirty_ratio(), 0.0);
        assert!(!snapshot.needs_cleaning());
        let clean_bytes = snapshot.clean_bytes();
        h.put(&[("a", Some("v9"))]);
        h.roll();
        let snapshot = h.log.cleanable_snapshot(NOW);
        let dirty = snapshot.cleanable_bytes();
        assert_eq!(snapshot.clean_bytes(), clean_bytes);
        assert_eq!(
            snapshot.dirty_ratio(),
            dirty as f64 / (dirty + clean_bytes) as f64
        );
        assert!(snapshot.dirty_ratio() < 0.5);
        assert!(
            !snapshot.needs_cleaning(),
            "below min.cleanable.dirty.ratio"
        );
    }

    #[test]
    fn tombstones_outlive_delete_retention_then_go() {
        let config = LogConfig {
            delete_retention_ms: 1000,
            ..compact_config(1 << 20)
        };
        let mut h = Harness::new(config);
        h.put_with(
            &[("a", Some("a1")), ("b", Some("b1"))],
            NOW - 100,
            Compression::None,
        );
        h.put_with(&[("a", None)], NOW, Compression::None);
        h.roll();

        h.clean_and_install(ROOMY_MAP, NOW + 500).unwrap();
        assert_eq!(
            h.records(),
            [(1, "b".into(), Some("b1".into())), (2, "a".into(), None)],
            "the tombstone stays while consumers may still need it"
        );

        // Tombstones in the clean section go on the next pass, once old enough.
        h.put(&[("c", Some("c1"))]);
        h.roll();
        h.clean_and_install(ROOMY_MAP, NOW + 999).unwrap();
        assert_eq!(h.records().len(), 3, "not yet: the horizon is exclusive");
        h.put(&[("d", Some("d1"))]);
        h.roll();
        h.clean_and_install(ROOMY_MAP, NOW + 1001).unwrap();
        h.assert_fully_compacted();
        assert!(h.records().iter().all(|r| r.1 != "a"));
        h.assert_offsets_unchanged();
    }

    #[test]
    fn a_full_offset_map_stops_at_a_segment_boundary_and_the_next_pass_continues() {
        let mut h = Harness::new(compact_config(1200));
        for round in 0..3 {
            for chunk in 0..10 {
                let values: Vec<String> = (0..10)
                    .map(|k| format!("r{round}-{}", chunk * 10 + k))
                    .collect();
                let keys: Vec<String> = (0..10)
                    .map(|k| format!("key-{:03}", chunk * 10 + k))
                    .collect();
                let records: Vec<(&str, Option<&str>)> = keys
                    .iter()
                    .zip(&values)
                    .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                    .collect();
                h.put(&records);
            }
        }
        h.roll();
        let bases = h.log.segment_base_offsets();
        assert!(bases.len() > 5);

        let mut passes = 0;
        let mut first_dirty = h.log.first_dirty_offset();
        // 35 keys fill the map halfway through a batch of 10 distinct keys, never at a batch
        // (let alone segment) boundary, so stopping at the segment's base is visible.
        while let Some(cleaned) = h.clean(35, NOW) {
            passes += 1;
            assert!(cleaned.stats.map_entries <= 35);
            let snapshot = h.log.cleanable_snapshot(NOW);
            if cleaned.stats.map_full {
                assert!(
                    bases.contains(&cleaned.cleaned_up_to),
                    "stopped at segment {}",
                    cleaned.cleaned_up_to
                );
                assert!(cleaned.cleaned_up_to < snapshot.first_uncleanable_offset);
            }
            assert!(
                cleaned.cleaned_up_to > first_dirty,
                "every pass makes progress"
            );
            h.log.install_cleaned(cleaned).unwrap();
            first_dirty = h.log.first_dirty_offset();
            h.assert_offsets_unchanged();
            h.assert_latest_survive();
            assert!(passes < 50);
        }
        assert!(
            passes > 3,
            "a map of 35 keys cannot clean 100 keys in one pass"
        );
        h.assert_fully_compacted();
        assert_eq!(h.records().len(), 100);
    }

    #[test]
    fn a_map_too_small_for_one_segment_still_makes_progress() {
        let mut h = Harness::new(compact_config(1 << 20));
        h.put(&[
            ("a", Some("1")),
            ("b", Some("2")),
            ("c", Some("3")),
            ("a", Some("4")),
        ]);
        h.roll();
        let cleaned = h.clean(2, NOW).unwrap();
        assert!(cleaned.stats.map_full);
        assert_eq!(cleaned.cleaned_up_to, 2, "c at offset 2 did not fit");
        h.log.install_cleaned(cleaned).unwrap();
        h.assert_latest_survive();
        h.clean_and_install(2, NOW).unwrap();
        h.assert_fully_compacted();
        h.put(&[("z", Some("5"))]);
        h.roll();
        assert!(
            h.clean(0, NOW).is_none(),
            "a map without room cleans nothing"
        );
    }

    #[test]
    fn install_skips_groups_whose_segments_changed() {
        let config = LogConfig {
            delete_retention_enabled: true,
            retention_ms: -1,
            ..compact_config(300)
        };
        let mut h = Harness::new(config.clone());
        for i in 0..12 {
            h.put(&[("a", Some(&format!("a{i}"))), ("b", Some(&format!("b{i}")))]);
        }
        h.roll();
        let bases = h.log.segment_base_offsets();
        assert!(bases.len() >= 5);

        // Each segment fills segment.bytes, so each is a group of its own. Retention deletes
        // the first while the pass runs: its group is skipped, the others installed.
        let cleaned = h.clean(ROOMY_MAP, NOW).unwrap();
        assert!(cleaned.groups.iter().all(|g| g.replaced.len() == 1));
        let first_size = h.log.segments[&bases[0]].size();
        h.log.update_config(LogConfig {
            retention_bytes: (h.log.size_bytes() - first_size) as i64,
            ..config.clone()
        });
        assert_eq!(h.log.enforce_retention(NOW).unwrap(), 1);
        let outcome = h.log.install_cleaned(cleaned).unwrap();
        assert_eq!(outcome.skipped, 1);
        assert_eq!(outcome.installed, h.log.segment_count() - 1);
        assert!(
            !outcome.checkpoint_held,
            "the skipped group's segment is gone for good"
        );
        assert_eq!(h.log.log_start_offset(), bases[1]);
        h.assert_offsets_unchanged();
        h.assert_fully_compacted();
        let names: Vec<String> = file_names(h.path()).unwrap();
        assert!(
            names.iter().all(|n| !n.ends_with(SWAP_FILE_SUFFIX)),
            "{names:?}"
        );

        // A group of several segments loses its first to DeleteRecords: the checkpoint stays
        // so that the next pass covers the rest again.
        for i in 0..12 {
            h.put(&[("a", Some(&format!("a{i}"))), ("c", Some(&format!("c{i}")))]);
        }
        h.roll();
        h.log.update_config(LogConfig {
            segment_bytes: 1 << 20,
            ..config.clone()
        });
        let first_dirty = h.log.first_dirty_offset();
        let cleaned = h.clean(ROOMY_MAP, NOW).unwrap();
        assert_eq!(cleaned.groups.len(), 1);
        let second = h.log.segment_base_offsets()[1];
        h.log.delete_records_before(second).unwrap();
        let outcome = h.log.install_cleaned(cleaned).unwrap();
        assert_eq!((outcome.installed, outcome.skipped), (0, 1));
        assert!(outcome.checkpoint_held);
        assert_eq!(h.log.first_dirty_offset(), first_dirty);
        h.assert_offsets_unchanged();
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        h.assert_fully_compacted();
        assert_eq!(h.log.log_start_offset(), second);
    }

    #[test]
    fn transactional_records_neither_supersede_nor_expire() {
        let config = LogConfig {
            delete_retention_ms: 1000,
            ..compact_config(1 << 20)
        };
        let mut h = Harness::new(config);
        h.put(&[("a", Some("a1")), ("b", Some("b1"))]);
        // A transaction (which, for all the log knows, was aborted) overwrites a and deletes b.
        let txn = keyed(
            BatchBuilder::idempotent(9, 0, 0).transactional(true),
            &[
                (Some("a"), Some("a2"), NOW - 5000),
                (Some("b"), None, NOW - 5000),
            ],
        )
        .build();
        assert!(BatchHeader::parse(&txn).unwrap().is_transactional());
        h.log.append(txn, NOW).unwrap();
        // Decided (an open transaction would hold the cleaner back), but the cleaner does not
        // read markers yet.
        h.log.append_txn_marker(9, 0, 0, false, NOW).unwrap();
        h.put(&[("a", Some("a3"))]);
        h.roll();

        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        let offsets: Vec<i64> = h.records().iter().map(|r| r.0).collect();
        // a1 goes (a3 supersedes it); b1, the transaction's tombstone and its marker (4) stay;
        // a2 goes too, superseded by the non-transactional a3.
        assert_eq!(offsets, [1, 3, 4, 5]);
        assert!(batch_headers(&h.log)[1].is_transactional());
    }

    #[test]
    fn readers_of_replaced_segments_keep_reading() {
        let mut h = Harness::new(compact_config(1 << 20));
        h.put(&[("a", Some("a1")), ("b", Some("b1"))]);
        h.put(&[("a", Some("a2"))]);
        h.roll();
        let before = h.log.read(0, usize::MAX, i64::MAX, true).unwrap();
        let bytes_before: Vec<Bytes> = before
            .slices
            .iter()
            .map(|s| s.read_bytes().unwrap())
            .collect();
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        let bytes_after: Vec<Bytes> = before
            .slices
            .iter()
            .map(|s| s.read_bytes().unwrap())
            .collect();
        assert_eq!(bytes_before, bytes_after);
    }

    /// Cleans everything closed and stages the first group's swap, as step 1 of an install
    /// would, without going further; returns the group.
    fn stage_first_group(h: &mut Harness) -> CleanedGroup {
        let cleaned = h.clean(ROOMY_MAP, NOW).unwrap();
        let group = cleaned.groups[0].clone();
        stage_swap(h.path(), &cleaned.scratch_dir, group.base_offset).unwrap();
        group
    }

    /// Three segments: the first two clean into one group; the last segment is all
    /// superseded by the active one, to show that what a crash leaves of it stays consistent.
    fn crash_harness() -> Harness {
        let mut h = Harness::new(compact_config(1 << 20));
        h.put(&[("a", Some("a1")), ("b", Some("b1")), ("c", Some("c1"))]);
        h.put(&[("a", Some("a2"))]);
        h.roll();
        h.put(&[("b", Some("b2")), ("d", Some("d1"))]);
        h.roll();
        h.put(&[("d", None), ("e", Some("e1"))]);
        h.roll();
        h.put(&[("x", Some("x1"))]);
        h.log.update_config(LogConfig {
            segment_bytes: 1 << 20,
            ..h.config.clone()
        });
        h
    }

    #[test]
    fn crash_after_the_swap_is_staged_finishes_the_swap() {
        let mut h = crash_harness();
        let bases = h.log.segment_base_offsets();
        let group = stage_first_group(&mut h);
        assert_eq!(group.replaced.len(), 3);
        h.crash_and_reopen();
        assert_eq!(h.log.segment_base_offsets(), [bases[0], bases[3]]);
        h.assert_offsets_unchanged();
        h.assert_latest_survive();
        let names = file_names(h.path()).unwrap();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(SWAP_FILE_SUFFIX) && n != cleaner::CLEANER_SCRATCH_DIR),
            "{names:?}"
        );
        // The cleaner checkpoint was never moved, so the next pass simply cleans again.
        assert_eq!(h.log.first_dirty_offset(), 0);
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        h.assert_latest_survive();
    }

    #[test]
    fn crash_after_some_old_segments_are_deleted_finishes_the_swap() {
        let mut h = crash_harness();
        let bases = h.log.segment_base_offsets();
        stage_first_group(&mut h);
        // Deletes go oldest first; the crash hits after the first.
        fs::remove_file(segment::log_file_path(h.path(), bases[0])).unwrap();
        fs::remove_file(segment::offset_index_path(h.path(), bases[0])).unwrap();
        h.crash_and_reopen();
        assert_eq!(h.log.segment_base_offsets(), [bases[0], bases[3]]);
        h.assert_offsets_unchanged();
        h.assert_latest_survive();
        assert_eq!(h.records().len(), 6);
    }

    #[test]
    fn crash_leaving_a_wholly_dropped_segment_stays_consistent() {
        // The group's newest segment holds only an expired tombstone, so the cleaned copy (a1
        // alone) ends before that segment's base and recovery keeps the segment.
        let config = LogConfig {
            delete_retention_ms: 1000,
            ..compact_config(1 << 20)
        };
        let mut h = Harness::new(config);
        h.put(&[("a", Some("a1")), ("b", Some("b1"))]);
        h.roll();
        h.put_with(&[("b", None)], NOW - 5000, Compression::None);
        h.roll();
        h.put(&[("x", Some("x1"))]);
        let bases = h.log.segment_base_offsets();
        let group = stage_first_group(&mut h);
        assert_eq!(group.replaced.len(), 2);
        h.crash_and_reopen();
        assert_eq!(h.log.segment_base_offsets(), bases);
        assert_eq!(
            h.records(),
            [
                (0, "a".into(), Some("a1".into())),
                (2, "b".into(), None),
                (3, "x".into(), Some("x1".into())),
            ],
            "b1 is gone but so is nothing that deleted it"
        );
        // A later pass finishes the job.
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        h.assert_fully_compacted();
    }

    #[test]
    fn crash_between_renaming_indexes_and_log_rebuilds_the_indexes() {
        let mut h = crash_harness();
        let bases = h.log.segment_base_offsets();
        let group = stage_first_group(&mut h);
        for replaced in &group.replaced {
            let segment = h.log.segments.remove(&replaced.base_offset).unwrap();
            segment.delete().unwrap();
        }
        // The offset index made it to its final name, the time index and the log did not.
        let index = segment::offset_index_path(h.path(), group.base_offset);
        fs::rename(segment::swap_path(&index), &index).unwrap();
        h.crash_and_reopen();
        assert_eq!(h.log.segment_base_offsets(), [bases[0], bases[3]]);
        h.assert_offsets_unchanged();
        h.assert_latest_survive();
        for offset in h.records().iter().map(|r| r.0) {
            assert_eq!(records_from(&h.log, offset)[0].0, offset);
        }
    }

    #[test]
    fn crash_before_the_log_swap_keeps_the_old_segments() {
        let mut h = crash_harness();
        let bases = h.log.segment_base_offsets();
        let records = h.records();
        let cleaned = h.clean(ROOMY_MAP, NOW).unwrap();
        let base = cleaned.groups[0].base_offset;
        let [_, index, _, _] = cleaner::scratch_file_paths(&cleaned.scratch_dir, base);
        fs::rename(
            index,
            segment::swap_path(&segment::offset_index_path(h.path(), base)),
        )
        .unwrap();
        h.crash_and_reopen();
        assert_eq!(h.log.segment_base_offsets(), bases);
        assert_eq!(h.records(), records);
        let names = file_names(h.path()).unwrap();
        assert!(
            names.iter().all(|n| !n.ends_with(SWAP_FILE_SUFFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn retention_and_delete_records_keep_working_on_compacted_logs() {
        let config = LogConfig {
            delete_retention_enabled: true,
            retention_ms: 10_000,
            ..compact_config(1 << 20)
        };
        let mut h = Harness::new(LogConfig {
            segment_bytes: 150,
            ..config
        });
        h.put_with(&[("a", Some("a0"))], NOW - 30_000, Compression::None);
        h.roll();
        h.put_with(
            &[("a", Some("a1")), ("b", Some("b1"))],
            NOW - 20_000,
            Compression::None,
        );
        h.roll();
        h.put_with(&[("a", Some("a2"))], NOW - 15_000, Compression::None);
        h.roll();
        h.put_with(&[("c", Some("c1"))], NOW, Compression::None);
        h.roll();
        h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        assert_eq!(
            h.log.log_start_offset(),
            0,
            "cleaning never moves the log start"
        );
        assert_eq!(h.log.segments[&0].size(), 0, "a0 was superseded");
        // Retention by time looks at what cleaning left: b1 and a2 are older than retention.ms,
        // and the emptied first segment kept its age rather than looking new.
        assert_eq!(h.log.enforce_retention(NOW).unwrap(), 3);
        assert_eq!(h.log.log_start_offset(), 4);
        assert_eq!(h.records(), [(4, "c".into(), Some("c1".into()))]);
        assert_eq!(h.log.delete_records_before(5).unwrap(), 5);
        assert!(h.records().is_empty());
        assert!(h.clean(ROOMY_MAP, NOW).is_none());
    }

    #[test]
    #[cfg_attr(
        debug_assertions,
        ignore = "slow unoptimised; runs under cargo test --release"
    )]
    fn a_million_records_over_a_thousand_keys_clean_to_a_thousand() {
        const KEYS: u64 = 1000;
        const BATCHES: usize = 1000;
        const PER_BATCH: usize = 1000;
        let mut h = Harness::new(compact_config(256 * 1024));
        let keys: Vec<String> = (0..KEYS).map(|k| format!("key-{k:04}")).collect();
        let mut state = 42u64;
        let mut latest = vec![None; KEYS as usize];
        for b in 0..BATCHES {
            let mut values = Vec::with_capacity(PER_BATCH);
            let mut chosen = Vec::with_capacity(PER_BATCH);
            for i in 0..PER_BATCH {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let key = ((state >> 33) % KEYS) as usize;
                let n = b * PER_BATCH + i;
                chosen.push(key);
                values.push(format!("{n}"));
                latest[key] = Some(n as i64);
            }
            let records: Vec<_> = chosen
                .iter()
                .zip(&values)
                .map(|(&k, v)| (Some(keys[k].as_str()), Some(v.as_str()), NOW))
                .collect();
            h.log
                .append(encode_keyed_batch(&records, Compression::None), NOW)
                .unwrap();
        }
        h.roll();
        assert_eq!(h.log.log_end_offset(), (BATCHES * PER_BATCH) as i64);
        assert!(h.log.segment_count() > 50);

        let (stats, outcome) = h.clean_and_install(ROOMY_MAP, NOW).unwrap();
        assert_eq!(stats.records_read, (BATCHES * PER_BATCH) as u64);
        assert_eq!(stats.records_retained, KEYS);
        assert_eq!(stats.map_entries, KEYS as usize);
        assert_eq!(outcome.skipped, 0);
        let records = h.records();
        assert_eq!(records.len(), KEYS as usize);
        for (offset, key, value) in records {
            let k: usize = key["key-".len()..].parse().unwrap();
            assert_eq!(Some(offset), latest[k], "{key}");
            assert_eq!(value, Some(offset.to_string()));
        }
    }
}
