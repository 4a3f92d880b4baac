//! The log cleaner: log compaction for topics whose `cleanup.policy` contains `compact`.
//!
//! A compacted log keeps, for every key, at least the latest record with that key. This room
//! owns the storage half of Kafka's LogCleaner: deciding which part of a log may be cleaned
//! ([`CleanableSnapshot`]), building the [`OffsetMap`] of the dirty section, and rewriting closed
//! segments into cleaned ones ([`clean`]). Putting the result in place is the log's own business
//! ([`Log::install_cleaned`](crate::storage::Log::install_cleaned)), as is scheduling, which
//! belongs to the caller.
//!
//! The work is split by thread. On the partition's owner thread, [`Log::cleanable_snapshot`]
//! (cheap, no scans) hands out the closed segments with their shared file handles. [`clean`]
//! then runs anywhere (a blocking pool), reading only through those handles with positional
//! reads while the owner keeps appending, and writes new segment files into the `cleaner`
//! scratch directory inside the partition directory, where they cannot collide with live
//! files. Back on the owner thread, `install_cleaned` swaps them in with renames.
//!
//! Vocabulary, as in Kafka: the *clean* section is the part of the log already compacted
//! (below the *first dirty offset*, kept in `cleaner-offset-checkpoint`); the *dirty* section
//! follows it up to the *first uncleanable offset*: the active segment's base, or earlier the
//! first segment holding a record younger than `min.compaction.lag.ms`.
//!
//! One pass:
//!
//! 1. The OffsetMap records, for each key in the dirty section, its latest offset. When the map
//!    is full the pass stops early: the cleaned range ends at the base offset of the segment in
//!    which it filled (or, if that would leave nothing to clean, at the first record that did
//!    not fit). Entries already taken from that segment are still safe to use: they point at
//!    records the pass does not touch.
//! 2. Every closed segment from the start of the log up to the end of the cleaned range is
//!    rewritten, consecutive segments grouped so that each group fits in `segment.bytes` (and
//!    its offsets in 32-bit deltas), each group into one new segment based at its first base
//!    offset. A record is dropped when
//!    - the map holds a later offset for its key (it is superseded);
//!    - it is a tombstone (null value) that is the latest for its key, lies in the cleaned
//!      range, and its batch's max timestamp is more than `delete.retention.ms` before now:
//!      consumers had that long to see the delete (Kafka records a per-batch delete horizon on
//!      a first pass instead; comparing the batch timestamp keeps no extra state);
//!    - it has no key (only possible for records written before the topic became compacted;
//!      Kafka's cleaner drops them too).
//!
//!    A batch whose records all survive is copied byte for byte; one with survivors is
//!    re-encoded keeping its offset span (see [`records::encode_retained_batch`]); one without
//!    is dropped. Control batches are copied as they are. Records keep their offsets, so
//!    readers see gaps, as in Kafka.
//!
//! Transactions: the dirty section ends before the segment holding the first offset of any
//! open transaction, so undecided records are never touched (Kafka stops at the same point,
//! offset for offset). A cleaned group's new segment carries the `.txnindex` entries of every
//! segment it replaces; offsets do not change, so the entries stay true. The cleaner does not
//! yet tell committed from aborted records: records of transactional batches never enter the
//! OffsetMap (an aborted write must not remove the committed record before it) and their
//! tombstones never expire; they go only when a later non-transactional record with the same
//! key supersedes them. Kafka instead drops aborted records and, once safe, transaction
//! markers.
//!
//! Not done here either: Kafka retains the last batch of each idempotent producer (possibly
//! emptied) so producer state survives cleaning; `max.compaction.lag.ms` and I/O throttling
//! are left to the caller.

mod batch_reader;
pub mod offset_map;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use self::batch_reader::BatchReader;
use self::offset_map::{OffsetMap, OFFSET_MAP_ENTRY_BYTES};
use super::batch::{BatchHeader, ValidatedBatch};
use super::checkpoint;
use super::error::StorageError;
use super::index::{NO_TIMESTAMP, TIME_INDEX_ENTRY_SIZE};
use super::log::LogConfig;
use super::records::{self, RawRecord};
use super::segment::{self, LogSegment};
use super::txn_index::{self, AbortedTxn};

/// Name of the scratch directory, inside the partition directory, where a pass writes its new
/// segments. [`Log::open`](crate::storage::Log::open) removes it.
pub const CLEANER_SCRATCH_DIR: &str = "cleaner";

/// Bytes of cleaned batches gathered before one write to the new segment.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// Broker-wide cleaner settings.
#[derive(Clone, Debug)]
pub struct CleanerConfig {
    /// Most distinct keys one pass may map; bounds the OffsetMap's memory at
    /// [`OFFSET_MAP_ENTRY_BYTES`] per entry divided by the load factor.
    pub max_map_entries: usize,
}

impl CleanerConfig {
    /// Kafka's sizing: `log.cleaner.dedupe.buffer.size` bytes (default 134217728) hold
    /// 24-byte entries, of which `log.cleaner.io.buffer.load.factor` (default 0.9) may be used.
    /// (Kafka splits the buffer among its cleaner threads; a caller running several passes at
    /// once should pass each its share.)
    pub fn from_dedupe_buffer(dedupe_buffer_bytes: u64, load_factor: f64) -> CleanerConfig {
        let slots = dedupe_buffer_bytes / OFFSET_MAP_ENTRY_BYTES as u64;
        let entries = (slots as f64 * load_factor.clamp(0.0, 1.0)) as u64;
        CleanerConfig {
            max_map_entries: usize::try_from(entries).unwrap_or(usize::MAX),
        }
    }
}

/// A closed segment as the cleaner sees it: fixed, since closed segments never change.
#[derive(Clone, Debug)]
pub struct SegmentSnapshot {
    pub base_offset: i64,
    /// Offset after the segment's last batch.
    pub next_offset: i64,
    /// Bytes of whole batches.
    pub size: u64,
    /// Largest record timestamp (file modification time if no batch had one), as retention
    /// and `min.compaction.lag.ms` see it.
    pub largest_timestamp: i64,
    /// The `.log` file, read with positional reads only.
    pub log_file: Arc<File>,
    /// The segment's aborted transactions; a cleaned group's new segment gets all of its
    /// sources' entries, since offsets, and so the transactions' ranges, never change.
    pub aborted_txns: Vec<AbortedTxn>,
}

impl SegmentSnapshot {
    pub(crate) fn of(segment: &LogSegment) -> SegmentSnapshot {
        SegmentSnapshot {
            base_offset: segment.base_offset(),
            next_offset: segment.next_offset(),
            size: segment.size(),
            largest_timestamp: segment.largest_timestamp(),
            log_file: Arc::clone(segment.log_file()),
            aborted_txns: segment.txn_index().entries().to_vec(),
        }
    }
}

/// What a cleaning pass may work on, taken from a log on its owner thread.
#[derive(Clone, Debug)]
pub struct CleanableSnapshot {
    /// The partition directory.
    pub dir: PathBuf,
    /// Closed (inactive) segments, oldest first.
    pub segments: Vec<SegmentSnapshot>,
    pub log_start_offset: i64,
    pub active_base_offset: i64,
    /// Where the dirty section starts: the cleaner checkpoint, or the log start offset when the
    /// checkpoint is missing or outside the log.
    pub first_dirty_offset: i64,
    /// Where the dirty section ends (exclusive): the active segment's base offset, or earlier
    /// the base of the segment holding the first unstable offset (see
    /// [`CleanableSnapshot::stop_at_unstable_segment`]) or of the first dirty segment too young
    /// for `min.compaction.lag.ms`.
    pub first_uncleanable_offset: i64,
    /// The topic's settings when the snapshot was taken.
    pub config: LogConfig,
}

impl CleanableSnapshot {
    pub(crate) fn new(
        dir: PathBuf,
        segments: Vec<SegmentSnapshot>,
        log_start_offset: i64,
        active_base_offset: i64,
        first_dirty_offset: i64,
        config: LogConfig,
        now_ms: i64,
    ) -> CleanableSnapshot {
        let first_uncleanable_offset = first_uncleanable_offset(
            &segments,
            first_dirty_offset,
            active_base_offset,
            config.min_compaction_lag_ms,
            now_ms,
        );
        CleanableSnapshot {
            dir,
            segments,
            log_start_offset,
            active_base_offset,
            first_dirty_offset,
            first_uncleanable_offset,
            config,
        }
    }

    /// Ends the dirty section no later than `segment_base`, the base of the segment holding the
    /// log's first unstable offset. As in Kafka, records of a transaction not yet decided are
    /// never cleaned; stopping at a segment boundary keeps the rule simple.
    pub(crate) fn stop_at_unstable_segment(mut self, segment_base: i64) -> CleanableSnapshot {
        self.first_uncleanable_offset = self.first_uncleanable_offset.min(segment_base);
        self
    }

    /// Segments wholly before the first dirty offset.
    fn clean_segments(&self) -> impl Iterator<Item = &SegmentSnapshot> {
        let first_dirty = self.first_dirty_offset;
        self.segments
            .iter()
            .filter(move |s| s.next_offset <= first_dirty)
    }

    /// Segments holding dirty records that may be cleaned now.
    fn dirty_segments(&self) -> impl Iterator<Item = &SegmentSnapshot> {
        let (first_dirty, end) = (self.first_dirty_offset, self.first_uncleanable_offset);
        self.segments
            .iter()
            .filter(move |s| s.next_offset > first_dirty && s.base_offset < end)
    }

    /// Bytes of the clean section.
    pub fn clean_bytes(&self) -> u64 {
        self.clean_segments().map(|s| s.size).sum()
    }

    /// Bytes of the dirty section that may be cleaned now.
    pub fn cleanable_bytes(&self) -> u64 {
        self.dirty_segments().map(|s| s.size).sum()
    }

    /// Kafka's cleanable ratio: cleanable dirty bytes over clean plus cleanable dirty bytes.
    /// Segments held back by `min.compaction.lag.ms` count on neither side, since no pass could
    /// clean them yet. 0 for a log with nothing to weigh.
    pub fn dirty_ratio(&self) -> f64 {
        let dirty = self.cleanable_bytes();
        let total = self.clean_bytes() + dirty;
        if total == 0 {
            return 0.0;
        }
        dirty as f64 / total as f64
    }

    /// Whether a pass is due by Kafka's rule: the log is compacted, and its dirty ratio is above
    /// `min.cleanable.dirty.ratio` with something cleanable. The caller may decide otherwise;
    /// [`clean`] does not check this.
    pub fn needs_cleaning(&self) -> bool {
        self.config.compact
            && self.cleanable_bytes() > 0
            && self.dirty_ratio() > self.config.min_cleanable_dirty_ratio
    }
}

/// The active segment's base, or before it the base of the first segment holding dirty records
/// whose largest timestamp is within `min_compaction_lag_ms` of now.
fn first_uncleanable_offset(
    segments: &[SegmentSnapshot],
    first_dirty_offset: i64,
    active_base_offset: i64,
    min_compaction_lag_ms: i64,
    now_ms: i64,
) -> i64 {
    if min_compaction_lag_ms <= 0 {
        return active_base_offset;
    }
    let horizon = now_ms.saturating_sub(min_compaction_lag_ms);
    segments
        .iter()
        .filter(|s| s.next_offset > first_dirty_offset)
        .find(|s| s.largest_timestamp > horizon)
        .map_or(active_base_offset, |s| s.base_offset)
}

/// One closed segment a cleaned group replaces, as it was when the pass read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplacedSegment {
    pub base_offset: i64,
    pub size: u64,
}

/// One new segment, in the scratch directory, replacing consecutive closed segments.
#[derive(Clone, Debug)]
pub struct CleanedGroup {
    /// The replaced segments, oldest first; the first one's base is the new segment's.
    pub replaced: Vec<ReplacedSegment>,
    /// Base offset of the new segment, naming its files.
    pub base_offset: i64,
    /// Bytes of the new segment.
    pub size: u64,
}

/// Counters of one pass, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanerStats {
    /// Records in the rewritten segments.
    pub records_read: u64,
    /// Records written to the new segments.
    pub records_retained: u64,
    /// Bytes of the rewritten segments.
    pub bytes_read: u64,
    /// Bytes of the new segments.
    pub bytes_written: u64,
    /// Distinct keys in the OffsetMap.
    pub map_entries: usize,
    /// Whether the OffsetMap filled up and cut the pass short.
    pub map_full: bool,
}

/// The outcome of [`clean`], to be installed with
/// [`Log::install_cleaned`](crate::storage::Log::install_cleaned) or thrown away with
/// [`CleanedLog::discard`].
#[derive(Debug)]
pub struct CleanedLog {
    /// The partition directory.
    pub dir: PathBuf,
    /// Where the new segments' files are.
    pub scratch_dir: PathBuf,
    /// New segments, oldest first.
    pub groups: Vec<CleanedGroup>,
    /// The new first dirty offset: everything below it has been cleaned.
    pub cleaned_up_to: i64,
    pub stats: CleanerStats,
}

impl CleanedLog {
    /// Removes the new segments' files without installing them.
    pub fn discard(self) {
        remove_scratch_dir(&self.dir);
    }
}

/// What [`Log::install_cleaned`](crate::storage::Log::install_cleaned) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallOutcome {
    /// Groups swapped in.
    pub installed: usize,
    /// Groups discarded because the segments they replace changed meanwhile.
    pub skipped: usize,
    /// True when a skipped group's segments partly remain, so the cleaner checkpoint was not
    /// moved and the next pass covers them again.
    pub checkpoint_held: bool,
    /// The first dirty offset after the install.
    pub first_dirty_offset: i64,
}

/// Path of the scratch directory of the partition directory `dir`.
pub fn scratch_dir(dir: &Path) -> PathBuf {
    dir.join(CLEANER_SCRATCH_DIR)
}

/// Removes the scratch directory and everything in it, if present. Failures are only logged:
/// leftovers cost disk space until the next pass or open, never correctness.
pub(crate) fn remove_scratch_dir(dir: &Path) {
    let scratch = scratch_dir(dir);
    if let Err(e) = fs::remove_dir_all(&scratch) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %scratch.display(), error = %e, "could not remove the cleaner scratch directory");
        }
    }
}

/// Runs one cleaning pass over `snapshot` (see the module docs). Blocking; reads only through
/// the snapshot's file handles and writes only into the scratch directory, which it empties
/// first, so at most one pass per partition may run at a time. `Ok(None)` when nothing is
/// dirty and cleanable, or when not even one key fits the OffsetMap.
pub fn clean(
    snapshot: &CleanableSnapshot,
    config: &CleanerConfig,
    now_ms: i64,
) -> Result<Option<CleanedLog>, StorageError> {
    if snapshot.first_dirty_offset >= snapshot.first_uncleanable_offset {
        return Ok(None);
    }
    let mut stats = CleanerStats::default();
    let mut map = OffsetMap::new(config.max_map_entries);
    let cleaned_up_to = build_offset_map(snapshot, &mut map, &mut stats)?;
    stats.map_entries = map.len();
    if cleaned_up_to <= snapshot.first_dirty_offset {
        tracing::warn!(dir = %snapshot.dir.display(), max_map_entries = config.max_map_entries, "offset map cannot hold a single key; not cleaning");
        return Ok(None);
    }
    let rule = RetentionRule {
        map: &map,
        cleaned_up_to,
        tombstone_horizon_ms: now_ms.saturating_sub(snapshot.config.delete_retention_ms),
    };
    remove_scratch_dir(&snapshot.dir);
    let scratch = scratch_dir(&snapshot.dir);
    fs::create_dir(&scratch)?;
    match rewrite_segments(snapshot, &rule, &scratch, &mut stats) {
        Ok(groups) => Ok(Some(CleanedLog {
            dir: snapshot.dir.clone(),
            scratch_dir: scratch,
            groups,
            cleaned_up_to,
            stats,
        })),
        Err(e) => {
            remove_scratch_dir(&snapshot.dir);
            Err(e)
        }
    }
}

/// Fills `map` from the dirty section and returns where the cleaned range ends: the first
/// uncleanable offset, or less when the map filled up.
fn build_offset_map(
    snapshot: &CleanableSnapshot,
    map: &mut OffsetMap,
    stats: &mut CleanerStats,
) -> Result<i64, StorageError> {
    let first_dirty = snapshot.first_dirty_offset;
    for segment in snapshot.dirty_segments() {
        let mut reader = BatchReader::new(segment);
        while let Some((header, bytes)) = reader.next_batch()? {
            let may_be_aborted = header.is_transactional();
            if header.next_offset() <= first_dirty || header.is_control() || may_be_aborted {
                continue;
            }
            let section = records::records_section(bytes, &header)
                .map_err(|e| undecodable(segment, &header, e))?;
            let batch_records = records::parse_records(&section, &header)
                .map_err(|e| undecodable(segment, &header, e))?;
            for record in batch_records.iter().filter(|r| r.offset >= first_dirty) {
                let Some(key) = record.key else { continue };
                if !map.put(key, record.offset) {
                    stats.map_full = true;
                    return Ok(end_of_full_map(segment, record.offset, first_dirty));
                }
            }
        }
    }
    Ok(snapshot.first_uncleanable_offset)
}

/// Where the cleaned range ends when the map filled at `offset` in `segment`: the segment's
/// base, unless that leaves nothing to clean; then the offset that did not fit, so every pass
/// makes progress however many keys one segment holds.
fn end_of_full_map(segment: &SegmentSnapshot, offset: i64, first_dirty: i64) -> i64 {
    if segment.base_offset > first_dirty {
        segment.base_offset
    } else {
        offset
    }
}

fn undecodable(segment: &SegmentSnapshot, header: &BatchHeader, reason: String) -> StorageError {
    StorageError::CorruptMessage(format!(
        "segment {}: batch at offset {} cannot be decoded: {reason}",
        segment.base_offset, header.base_offset
    ))
}

/// Decides, record by record, what survives a pass.
struct RetentionRule<'a> {
    map: &'a OffsetMap,
    /// End of the cleaned range; only tombstones below it may be removed, since a key's
    /// earlier records are only sure to be gone below it.
    cleaned_up_to: i64,
    /// Tombstones in batches whose max timestamp is below this are removed.
    tombstone_horizon_ms: i64,
}

impl RetentionRule<'_> {
    fn keeps(&self, record: &RawRecord<'_>, batch: &BatchHeader) -> bool {
        let Some(key) = record.key else {
            return false;
        };
        if self
            .map
            .get(key)
            .is_some_and(|latest| latest > record.offset)
        {
            return false;
        }
        let expired_tombstone = record.value.is_none()
            && !batch.is_transactional()
            && record.offset < self.cleaned_up_to
            && batch.max_timestamp < self.tombstone_horizon_ms;
        !expired_tombstone
    }
}

/// What happens to one batch.
enum Filtered {
    /// Every record survives: copy the batch as it is.
    Keep,
    /// Some survive: these are the re-encoded bytes.
    Rewrite(Vec<u8>),
    /// None survive.
    Drop,
}

/// Rewrites every closed segment below the end of the cleaned range, group by group.
fn rewrite_segments(
    snapshot: &CleanableSnapshot,
    rule: &RetentionRule<'_>,
    scratch: &Path,
    stats: &mut CleanerStats,
) -> Result<Vec<CleanedGroup>, StorageError> {
    let end = snapshot
        .segments
        .iter()
        .take_while(|s| s.base_offset < rule.cleaned_up_to)
        .count();
    let max_group_bytes = snapshot.config.segment_bytes.min(u64::from(u32::MAX));
    let mut groups = Vec::new();
    for group in group_segments(&snapshot.segments[..end], max_group_bytes) {
        groups.push(rewrite_group(
            group,
            rule,
            &snapshot.config,
            scratch,
            stats,
        )?);
    }
    checkpoint::sync_dir(scratch)?;
    Ok(groups)
}

/// Splits consecutive segments into groups that can each become one segment: at most
/// `max_group_bytes` of source data (a segment larger than that is a group of its own) and an
/// offset span a 32-bit relative offset can express.
fn group_segments(segments: &[SegmentSnapshot], max_group_bytes: u64) -> Vec<&[SegmentSnapshot]> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let base = segments[start].base_offset;
        let mut bytes = segments[start].size;
        let mut end = start + 1;
        while let Some(next) = segments.get(end) {
            let fits_bytes = bytes + next.size <= max_group_bytes;
            let fits_offsets = next.next_offset - base <= i64::from(i32::MAX);
            if !(fits_bytes && fits_offsets) {
                break;
            }
            bytes += next.size;
            end += 1;
        }
        groups.push(&segments[start..end]);
        start = end;
    }
    groups
}

/// Writes one group's surviving batches into one new segment in `scratch`.
fn rewrite_group(
    group: &[SegmentSnapshot],
    rule: &RetentionRule<'_>,
    config: &LogConfig,
    scratch: &Path,
    stats: &mut CleanerStats,
) -> Result<CleanedGroup, StorageError> {
    let base_offset = group[0].base_offset;
    let source_bytes: u64 = group.iter().map(|s| s.size).sum();
    let mut writer = CleanedSegmentWriter::create(scratch, base_offset, source_bytes, config)?;
    for segment in group {
        writer.replaces(segment);
        let mut reader = BatchReader::new(segment);
        while let Some((header, bytes)) = reader.next_batch()? {
            stats.bytes_read += header.size();
            match filter_batch(segment, &header, bytes, rule, stats)? {
                Filtered::Keep => writer.push(bytes, header)?,
                Filtered::Rewrite(new_bytes) => {
                    let new_header = BatchHeader::parse(&new_bytes).ok_or_else(|| {
                        StorageError::CorruptMessage("re-encoded batch lost its header".into())
                    })?;
                    writer.push(&new_bytes, new_header)?;
                }
                Filtered::Drop => {}
            }
        }
    }
    let size = writer.finish()?;
    stats.bytes_written += size;
    Ok(CleanedGroup {
        replaced: group
            .iter()
            .map(|s| ReplacedSegment {
                base_offset: s.base_offset,
                size: s.size,
            })
            .collect(),
        base_offset,
        size,
    })
}

/// Applies the retention rule to one batch's records.
fn filter_batch(
    segment: &SegmentSnapshot,
    header: &BatchHeader,
    bytes: &[u8],
    rule: &RetentionRule<'_>,
    stats: &mut CleanerStats,
) -> Result<Filtered, StorageError> {
    let count = u64::try_from(header.record_count).unwrap_or(0);
    stats.records_read += count;
    if header.is_control() {
        stats.records_retained += count;
        return Ok(Filtered::Keep);
    }
    let section =
        records::records_section(bytes, header).map_err(|e| undecodable(segment, header, e))?;
    let batch_records =
        records::parse_records(&section, header).map_err(|e| undecodable(segment, header, e))?;
    let kept: Vec<RawRecord<'_>> = batch_records
        .iter()
        .filter(|record| rule.keeps(record, header))
        .cloned()
        .collect();
    stats.records_retained += kept.len() as u64;
    if kept.len() == batch_records.len() {
        return Ok(Filtered::Keep);
    }
    if kept.is_empty() {
        return Ok(Filtered::Drop);
    }
    let encoded = records::encode_retained_batch(header, &kept)
        .map_err(|e| undecodable(segment, header, e))?;
    Ok(Filtered::Rewrite(encoded))
}

/// A new segment being filled with cleaned batches, written in buffered chunks and indexed as
/// the log indexes appends.
struct CleanedSegmentWriter {
    segment: LogSegment,
    /// The largest timestamp among the replaced segments, which an empty result keeps as its
    /// modification time.
    source_largest_timestamp: i64,
    /// The replaced segments' aborted transactions, in order.
    aborted_txns: Vec<AbortedTxn>,
    /// Where the `.txnindex` goes (it is written whole at the end, if there are entries).
    txn_index_path: PathBuf,
    pending: Vec<u8>,
    batches: Vec<ValidatedBatch>,
    index_interval_bytes: u32,
}

impl CleanedSegmentWriter {
    /// Creates the segment's files in `scratch`, with indexes big enough for `source_bytes`
    /// of batches at the topic's index interval (the output is never larger than its source).
    fn create(
        scratch: &Path,
        base_offset: i64,
        source_bytes: u64,
        config: &LogConfig,
    ) -> Result<CleanedSegmentWriter, StorageError> {
        let interval = u64::from(config.index_interval_bytes.max(1));
        let entries = source_bytes / interval + 2;
        let index_bytes = entries
            .saturating_mul(TIME_INDEX_ENTRY_SIZE as u64)
            .max(u64::from(config.segment_index_bytes));
        let index_bytes = u32::try_from(index_bytes).unwrap_or(u32::MAX);
        Ok(CleanedSegmentWriter {
            segment: LogSegment::create(scratch, base_offset, index_bytes)?,
            source_largest_timestamp: NO_TIMESTAMP,
            aborted_txns: Vec::new(),
            txn_index_path: segment::txn_index_path(scratch, base_offset),
            pending: Vec::new(),
            batches: Vec::new(),
            index_interval_bytes: config.index_interval_bytes,
        })
    }

    fn push(&mut self, bytes: &[u8], header: BatchHeader) -> Result<(), StorageError> {
        self.batches.push(ValidatedBatch {
            position: self.pending.len(),
            header,
        });
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= WRITE_BUFFER_BYTES {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), StorageError> {
        if !self.pending.is_empty() {
            self.segment
                .append(&self.pending, &self.batches, self.index_interval_bytes, 0)?;
            self.pending.clear();
            self.batches.clear();
        }
        Ok(())
    }

    /// Notes one replaced segment's largest timestamp and aborted transactions.
    fn replaces(&mut self, source: &SegmentSnapshot) {
        self.source_largest_timestamp = self.source_largest_timestamp.max(source.largest_timestamp);
        self.aborted_txns.extend_from_slice(&source.aborted_txns);
    }

    /// Writes what is left, cuts the indexes to size and fsyncs everything. Returns the
    /// segment's size.
    ///
    /// A segment left without batches has no timestamp of its own, and retention would judge it
    /// by its modification time: now, which would hold back time-based deletion of every
    /// segment after it. Like Kafka's cleaner it keeps its sources' age instead.
    fn finish(mut self) -> Result<u64, StorageError> {
        self.write_pending()?;
        self.segment.seal()?;
        txn_index::write_index_file(&self.txn_index_path, &self.aborted_txns)?;
        let size = self.segment.size();
        if size == 0 {
            if let Ok(age) = u64::try_from(self.source_largest_timestamp) {
                let modified = UNIX_EPOCH + Duration::from_millis(age);
                self.segment.log_file().set_modified(modified)?;
            }
        }
        Ok(size)
    }
}

/// Paths of a cleaned group's files in the scratch directory: log, offset index, time index,
/// transaction index (present only when the group had aborted transactions).
pub(crate) fn scratch_file_paths(scratch: &Path, base_offset: i64) -> [PathBuf; 4] {
    [
        segment::log_file_path(scratch, base_offset),
        segment::offset_index_path(scratch, base_offset),
        segment::time_index_path(scratch, base_offset),
        segment::txn_index_path(scratch, base_offset),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of a segment with the given shape; the file behind it is never read.
    fn segment(
        base_offset: i64,
        next_offset: i64,
        size: u64,
        largest_timestamp: i64,
    ) -> SegmentSnapshot {
        SegmentSnapshot {
            base_offset,
            next_offset,
            size,
            largest_timestamp,
            log_file: Arc::new(tempfile::tempfile().unwrap()),
            aborted_txns: Vec::new(),
        }
    }

    /// Offsets 0..30 in three segments of 100, 300 and 600 bytes, with these largest
    /// timestamps.
    fn three_segments(largest_timestamps: [i64; 3]) -> Vec<SegmentSnapshot> {
        [(0, 100), (10, 300), (20, 600)]
            .into_iter()
            .zip(largest_timestamps)
            .map(|((base, size), timestamp)| segment(base, base + 10, size, timestamp))
            .collect()
    }

    fn snapshot(
        segments: Vec<SegmentSnapshot>,
        first_dirty: i64,
        config: LogConfig,
        now_ms: i64,
    ) -> CleanableSnapshot {
        let active_base = segments.last().map_or(0, |s| s.next_offset);
        CleanableSnapshot::new(
            PathBuf::from("/nowhere"),
            segments,
            0,
            active_base,
            first_dirty,
            config,
            now_ms,
        )
    }

    #[test]
    fn dedupe_buffer_sizing_follows_kafka() {
        let config = CleanerConfig::from_dedupe_buffer(134_217_728, 0.9);
        assert_eq!(config.max_map_entries, 5_033_164);
        assert_eq!(
            CleanerConfig::from_dedupe_buffer(23, 0.9).max_map_entries,
            0
        );
        assert_eq!(
            CleanerConfig::from_dedupe_buffer(2400, 1.0).max_map_entries,
            100
        );
    }

    #[test]
    fn groups_fit_segment_bytes_and_relative_offsets() {
        let segments = vec![
            segment(0, 10, 400, 0),
            segment(10, 20, 500, 0),
            segment(20, 30, 200, 0),
            segment(30, 40, 2000, 0),
            segment(40, 50, 100, 0),
            segment(50, 60, 0, 0),
        ];
        let bases = |groups: Vec<&[SegmentSnapshot]>| -> Vec<Vec<i64>> {
            groups
                .iter()
                .map(|g| g.iter().map(|s| s.base_offset).collect())
                .collect()
        };
        assert_eq!(
            bases(group_segments(&segments, 1000)),
            [vec![0, 10], vec![20], vec![30], vec![40, 50]],
            "a segment over the limit is a group of its own"
        );
        assert_eq!(
            bases(group_segments(&segments, 1100)),
            [vec![0, 10, 20], vec![30], vec![40, 50]]
        );
        let far = vec![
            segment(0, 10, 1, 0),
            segment(10, i64::from(i32::MAX), 1, 0),
            segment(i64::from(i32::MAX), i64::from(i32::MAX) + 5, 1, 0),
        ];
        assert_eq!(
            bases(group_segments(&far, 1000)),
            [vec![0, 10], vec![i64::from(i32::MAX)]]
        );
        assert!(group_segments(&[], 1000).is_empty());
    }

    #[test]
    fn a_full_map_ends_the_range_at_a_segment_boundary_when_that_makes_progress() {
        let seg = segment(100, 200, 1, 0);
        assert_eq!(end_of_full_map(&seg, 150, 50), 100);
        assert_eq!(
            end_of_full_map(&seg, 150, 100),
            150,
            "else no pass would move on"
        );
        assert_eq!(end_of_full_map(&seg, 150, 120), 150);
    }

    #[test]
    fn dirty_ratio_weighs_cleanable_against_clean_bytes() {
        let config = LogConfig {
            compact: true,
            ..LogConfig::default()
        };
        let segments = || three_segments([1000, 2000, 3000]);
        let all_dirty = snapshot(segments(), 0, config.clone(), 10_000);
        assert_eq!(all_dirty.first_uncleanable_offset, 30);
        assert_eq!(all_dirty.dirty_ratio(), 1.0);
        assert!(all_dirty.needs_cleaning());

        let half = snapshot(segments(), 20, config.clone(), 10_000);
        assert_eq!((half.clean_bytes(), half.cleanable_bytes()), (400, 600));
        assert_eq!(half.dirty_ratio(), 0.6);
        assert!(half.needs_cleaning());
        let picky = LogConfig {
            min_cleanable_dirty_ratio: 0.6,
            ..config.clone()
        };
        assert!(
            !snapshot(segments(), 20, picky, 10_000).needs_cleaning(),
            "Kafka wants the ratio above the minimum"
        );

        // A first dirty offset inside a segment makes that whole segment dirty.
        assert_eq!(
            snapshot(segments(), 15, config.clone(), 10_000).dirty_ratio(),
            0.9
        );

        let clean = snapshot(segments(), 30, config.clone(), 10_000);
        assert_eq!(clean.dirty_ratio(), 0.0);
        assert!(!clean.needs_cleaning());
        assert_eq!(
            snapshot(Vec::new(), 0, config.clone(), 0).dirty_ratio(),
            0.0
        );

        let not_compacted = snapshot(segments(), 0, LogConfig::default(), 10_000);
        assert!(!not_compacted.needs_cleaning());
    }

    #[test]
    fn min_compaction_lag_stops_the_dirty_section_at_the_first_young_segment() {
        let config = LogConfig {
            compact: true,
            min_compaction_lag_ms: 5000,
            ..LogConfig::default()
        };
        let segments = || three_segments([1000, 8000, 2000]);
        // At 10 000 only records up to 5 000 may be cleaned: the second segment is too young,
        // and so is everything after it, whatever its timestamps.
        let snap = snapshot(segments(), 0, config.clone(), 10_000);
        assert_eq!(snap.first_uncleanable_offset, 10);
        assert_eq!(snap.cleanable_bytes(), 100);
        assert_eq!(snap.dirty_ratio(), 1.0);
        let later = snapshot(segments(), 0, config.clone(), 13_001);
        assert_eq!(later.first_uncleanable_offset, 30);
        // Young segments already clean do not matter.
        let snap = snapshot(segments(), 20, config, 10_000);
        assert_eq!(snap.first_uncleanable_offset, 30);
    }
}
