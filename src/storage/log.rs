//! Log: one partition's ordered list of LogSegments, the last of which is active.
//!
//! The log assigns offsets, decides when to roll to a new segment, finds the segment holding an
//! offset for reads, moves the log start offset (DeleteRecords and retention), and on open
//! recovers whatever a crash may have torn. It is single-writer: the owner serialises calls,
//! and reads hand out [`FileSlice`]s that stay valid after the log moves on.

mod cleaning;
mod producers;
mod replication;
mod retention;
mod transactions;

use crate::runtime::clock::wall_clock_ms;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::batch::{self, AppendOrigin, BatchHeader, ValidatedBatch};
use super::checkpoint::{self, TEMP_FILE_SUFFIX};
use super::cleaner;
use super::error::StorageError;
use super::leader_epoch::LeaderEpochCache;
use super::records;
use super::segment::{
    self, FileSlice, LogSegment, SegmentHealth, CLEANED_FILE_SUFFIX, DELETED_FILE_SUFFIX,
    INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX,
};

/// Which timestamp a topic stores (`message.timestamp.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Overwrite batch timestamps with the broker's clock at append.
    LogAppendTime,
}

/// Per-topic storage settings, with Kafka's names and defaults.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed it. Index entries hold u32
    /// positions, so beyond 4 GiB a segment is still readable but no longer indexed.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments older than this; negative means unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; negative means
    /// unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: i32,
    /// `index.interval.bytes`: bytes of batches between offset index entries.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: size each index file is preallocated to.
    pub segment_index_bytes: u32,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `flush.messages`: fsync after this many messages; `i64::MAX` leaves it to the OS.
    pub flush_messages: i64,
    /// `flush.ms`: the owner calls [`Log::flush`] when this much time passed since the last.
    pub flush_ms: i64,
    /// `cleanup.policy` contains `delete`: retention may delete segments.
    pub delete_retention_enabled: bool,
    /// `cleanup.policy` contains `compact`: every record must carry a key, and the log cleaner
    /// may remove records superseded by a later record with the same key.
    pub compact: bool,
    /// `delete.retention.ms`: how long the cleaner keeps a tombstone (a record with a key and
    /// a null value) after its batch's max timestamp, so consumers can see the delete.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: the dirty share of the cleanable log below which the
    /// cleaner leaves a log alone.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: segments holding records younger than this stay uncleaned.
    pub min_compaction_lag_ms: i64,
    /// `producer.id.expiration.ms` (broker-wide): idle producers are forgotten after this.
    pub producer_id_expiration_ms: i64,
    /// `min.insync.replicas`: not used by the log itself; the partition's leader refuses
    /// `acks=all` appends while its ISR is smaller.
    pub min_insync_replicas: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        const SEVEN_DAYS_MS: i64 = 7 * 24 * 60 * 60 * 1000;
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: SEVEN_DAYS_MS,
            retention_ms: SEVEN_DAYS_MS,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            message_timestamp_type: TimestampType::CreateTime,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            delete_retention_enabled: true,
            compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
            min_insync_replicas: 1,
        }
    }
}

/// What an append did, for the produce response. `batch_count == 0` means nothing was
/// written: the batch was an idempotent producer's retry, answered with its earlier offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batches, or -1 unless the topic uses LogAppendTime.
    pub log_append_time: i64,
    pub max_timestamp: i64,
    pub record_count: i64,
    pub batch_count: usize,
    pub bytes: usize,
}

/// Whole batches for a fetch, as ranges of segment files.
#[derive(Clone, Debug, Default)]
pub struct ReadResult {
    pub slices: Vec<FileSlice>,
    pub bytes: usize,
    /// Offset after the last batch returned (the fetch offset when none was): the upper bound
    /// of the range a read_committed fetch reports aborted transactions for.
    pub next_offset: i64,
}

/// A partition's log on disk.
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Segments by base offset; the last one is active. Never empty.
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
    /// The cleaner checkpoint as last read or written; see [`Log::first_dirty_offset`].
    cleaner_checkpoint: Option<i64>,
    /// Idempotent producers' epochs and recent sequences (see `producers.rs`).
    producers: crate::storage::producer_state::ProducerStateTable,
    /// Which leader epoch wrote which stretch of the log (see `replication.rs`).
    leader_epoch_cache: LeaderEpochCache,
    /// The epoch appends stamp into `partitionLeaderEpoch`: set by
    /// [`Log::set_leader_epoch`]; until then the latest epoch in the cache, or 0.
    leader_epoch: i32,
    unflushed_messages: i64,
    last_flush_ms: i64,
    /// Set by [`Log::close`]; after it the clean-shutdown marker is on disk, so writing more
    /// would make it lie.
    closed: bool,
}

impl Log {
    /// Opens or creates the partition directory; recovers: if no clean-shutdown marker, scans
    /// the last segment (and any segment whose index looks wrong) batch by batch, validating
    /// length, magic and CRC, truncates the file at the first torn or garbled batch, and
    /// rebuilds that segment's indexes. With the marker present, trusts index files whose size
    /// is a whole number of entries and whose last entry lies inside the log file, else
    /// rebuilds. Removes the marker after opening. Also removes leftover `.deleted`/`.cleaned`
    /// temp files and the cleaner's scratch directory, and first finishes any swap of cleaned
    /// segments that a crash interrupted.
    pub fn open(dir: &Path, config: LogConfig, now_ms: i64) -> Result<Log, StorageError> {
        fs::create_dir_all(dir)?;
        cleaner::remove_scratch_dir(dir);
        cleaning::recover_interrupted_swaps(dir)?;
        let clean_shutdown = checkpoint::has_clean_shutdown_marker(dir);
        let base_offsets = list_segment_base_offsets(dir)?;
        let checkpointed_start = checkpoint::read_log_start_offset(dir)?;
        let cleaner_checkpoint = checkpoint::read_cleaner_offset(dir)?;

        let mut segments = BTreeMap::new();
        for (i, &base_offset) in base_offsets.iter().enumerate() {
            let is_last = i + 1 == base_offsets.len();
            let segment = open_segment(dir, base_offset, &config, is_last, clean_shutdown, now_ms)?;
            segments.insert(base_offset, segment);
        }
        if segments.is_empty() {
            let base_offset = checkpointed_start.unwrap_or(0);
            let segment = LogSegment::create(dir, base_offset, config.segment_index_bytes)?;
            segments.insert(base_offset, segment);
        }

        let first_base = *segments.keys().next().unwrap_or(&0);
        let log_end_offset = segments
            .values()
            .next_back()
            .map_or(0, LogSegment::next_offset);
        let log_start_offset = checkpointed_start
            .unwrap_or(first_base)
            .max(first_base)
            .min(log_end_offset);
        if checkpointed_start != Some(log_start_offset) {
            checkpoint::write_log_start_offset(dir, log_start_offset)?;
        }
        let producers =
            producers::load_producer_state(dir, &mut segments, log_start_offset, log_end_offset)?;
        let leader_epoch_cache =
            replication::load_leader_epoch_cache(dir, &segments, log_start_offset, log_end_offset)?;
        checkpoint::remove_clean_shutdown_marker(dir)?;
        tracing::debug!(
            dir = %dir.display(),
            clean_shutdown,
            segments = segments.len(),
            log_start_offset,
            log_end_offset,
            "opened log"
        );
        Ok(Log {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            log_end_offset,
            cleaner_checkpoint,
            producers,
            leader_epoch: leader_epoch_cache.latest_epoch().unwrap_or(0),
            leader_epoch_cache,
            unflushed_messages: 0,
            last_flush_ms: now_ms,
            closed: false,
        })
    }

    /// Validates EVERY batch in `records` before writing any: total length framing exact (no
    /// trailing partial batch, a batch's batchLength must be >= 49 and fit), magic == 2,
    /// CRC-32C, recordCount == lastOffsetDelta + 1 and >= 1, compression codec 0..=4, each
    /// batch size <= max_message_bytes (else MessageTooLarge). Then assigns consecutive offsets
    /// starting at log_end_offset, patches base offsets (and LogAppendTime), writes, updates
    /// indexes, rolls first when needed. On any validation failure nothing is appended
    /// (CorruptMessage / InvalidRecord / MessageTooLarge). Empty input → InvalidRecord. A
    /// compacted log also decodes every record and refuses the append (InvalidRecord) if any
    /// has a null key.
    pub fn append(&mut self, records: Bytes, now_ms: i64) -> Result<AppendInfo, StorageError> {
        self.append_from(records, now_ms, AppendOrigin::Client)
    }

    /// [`append`](Self::append) on behalf of `origin`: a coordinator's transactional batches
    /// may carry a producer id without a sequence (their producer epoch is still checked).
    pub fn append_from(
        &mut self,
        records: Bytes,
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, StorageError> {
        self.ensure_open()?;
        if origin == AppendOrigin::Replication {
            return Err(StorageError::InvalidRecord(
                "replicated batches keep their offsets: use append_as_follower".into(),
            ));
        }
        let mut batches = batch::validate_batches(&records, self.config.max_message_bytes, origin)?;
        if self.config.compact {
            records::require_keys(&records, &batches)?;
        }
        if let Some(retried) = self.check_producer_state(&batches)? {
            return Ok(retried);
        }
        let mut bytes = BytesMut::from(records);
        let info = self.assign_offsets(&mut bytes, &mut batches, now_ms)?;
        self.write_batches(&bytes, &batches, &info, now_ms)?;
        self.record_producer_batches(&batches);
        self.advance_log_end(&info, now_ms)?;
        Ok(info)
    }

    /// Writes batches whose offsets are assigned at the end of the active segment, rolling
    /// first when needed (the new segment starts at the first batch's offset: the log end on
    /// a leader, maybe past it on a follower copying a compacted log). New leader epochs in
    /// the batches are recorded first, as Kafka does, so the cache never lags the data.
    fn write_batches(
        &mut self,
        bytes: &[u8],
        batches: &[ValidatedBatch],
        info: &AppendInfo,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.record_batch_epochs(batches)?;
        if self.should_roll(bytes.len() as u64, info.last_offset, now_ms) {
            let base = batches
                .first()
                .map_or(self.log_end_offset, |b| b.header.base_offset);
            self.roll_at(base.max(self.log_end_offset))?;
        }
        let index_interval_bytes = self.config.index_interval_bytes;
        self.active_segment_mut()
            .append(bytes, batches, index_interval_bytes, now_ms)
    }

    /// Moves the log end past an append and fsyncs once `flush.messages` is reached.
    fn advance_log_end(&mut self, info: &AppendInfo, now_ms: i64) -> Result<(), StorageError> {
        self.log_end_offset = info.last_offset + 1;
        self.unflushed_messages = self.unflushed_messages.saturating_add(info.record_count);
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush_at(now_ms)?;
        }
        Ok(())
    }

    /// Gives each batch its offsets, starting at the log end, stamps the leader epoch, and
    /// stamps LogAppendTime when the topic asks for it. Header copies in `batches` are
    /// refreshed to match the bytes.
    fn assign_offsets(
        &self,
        bytes: &mut [u8],
        batches: &mut [ValidatedBatch],
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let mut next_offset = self.log_end_offset;
        let mut max_timestamp = -1;
        let mut record_count = 0i64;
        for validated in batches.iter_mut() {
            let range = validated.range();
            let batch_bytes = &mut bytes[range];
            batch::write_base_offset(batch_bytes, next_offset);
            batch::write_partition_leader_epoch(batch_bytes, self.leader_epoch);
            if log_append_time {
                batch::stamp_log_append_time(batch_bytes, now_ms);
            }
            validated.header = BatchHeader::parse(batch_bytes).ok_or_else(|| {
                StorageError::CorruptMessage("batch shrank while assigning offsets".into())
            })?;
            let count = i64::from(validated.header.record_count);
            next_offset = next_offset.checked_add(count).ok_or_else(|| {
                StorageError::InvalidRecord("offsets would overflow a 64-bit integer".into())
            })?;
            record_count += count;
            max_timestamp = max_timestamp.max(validated.header.max_timestamp);
        }
        Ok(AppendInfo {
            first_offset: self.log_end_offset,
            last_offset: next_offset - 1,
            log_append_time: if log_append_time { now_ms } else { -1 },
            max_timestamp,
            record_count,
            batch_count: batches.len(),
            bytes: bytes.len(),
        })
    }

    /// Whether the next append of `append_bytes` ending at `last_offset` must go to a new
    /// segment: the active one is not empty and would outgrow `segment_bytes`, is older than
    /// `segment_ms`, has a full index, or cannot express `last_offset` relative to its base.
    fn should_roll(&self, append_bytes: u64, last_offset: i64, now_ms: i64) -> bool {
        let active = self.active_segment();
        if active.size() == 0 {
            return false;
        }
        let too_big = active.size().saturating_add(append_bytes) > self.config.segment_bytes;
        let too_old = self.segment_too_old(active, now_ms);
        let offset_too_far = last_offset.saturating_sub(active.base_offset()) > i64::from(i32::MAX);
        too_big || too_old || active.indexes_full() || offset_too_far
    }

    fn segment_too_old(&self, segment: &LogSegment, now_ms: i64) -> bool {
        segment
            .rolling_base_ms()
            .is_some_and(|first| now_ms.saturating_sub(first) > self.config.segment_ms)
    }

    /// Seals the active segment and starts a new one at the log end offset. Does nothing if
    /// the active segment already starts there (it is empty).
    fn roll(&mut self) -> Result<(), StorageError> {
        self.roll_at(self.log_end_offset)
    }

    /// [`roll`](Self::roll) to a new segment starting at `new_base` (at or past the log end).
    fn roll_at(&mut self, new_base: i64) -> Result<(), StorageError> {
        if self.active_segment().base_offset() == new_base {
            return Ok(());
        }
        self.active_segment_mut().seal()?;
        let segment = LogSegment::create(&self.dir, new_base, self.config.segment_index_bytes)?;
        self.segments.insert(new_base, segment);
        self.write_producer_snapshot(new_base);
        checkpoint::sync_dir(&self.dir)?;
        tracing::debug!(dir = %self.dir.display(), base_offset = new_base, "rolled new log segment");
        Ok(())
    }

    /// Whole batches from the batch containing `offset`, never past `max_offset` (exclusive
    /// upper bound on batch base offsets; typically the high watermark), totalling at most
    /// max_bytes, except that when `min_one_batch` is true the first batch is returned whole
    /// even if larger. offset == log_end_offset → empty result. offset < log_start_offset or >
    /// log_end_offset → OffsetOutOfRange.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult, StorageError> {
        self.check_offset_in_range(offset)?;
        let mut result = ReadResult {
            next_offset: offset,
            ..ReadResult::default()
        };
        if offset == self.log_end_offset {
            return Ok(result);
        }
        let first_base = self.segment_base_for(offset);
        for segment in self.segments.range(first_base..).map(|(_, s)| s) {
            let start_position = if segment.base_offset() == first_base {
                match segment.translate_offset(offset)? {
                    Some((position, _)) => position,
                    None => continue,
                }
            } else {
                0
            };
            let remaining = max_bytes.saturating_sub(result.bytes) as u64;
            let read = segment.read(
                start_position,
                remaining,
                max_offset,
                min_one_batch && result.bytes == 0,
            )?;
            if let Some(slice) = read.slice {
                result.bytes += slice.len as usize;
                result.slices.push(slice);
                result.next_offset = read.next_offset;
            }
            if read.stopped || result.bytes >= max_bytes {
                break;
            }
        }
        Ok(result)
    }

    /// Errors unless `log_start_offset <= offset <= log_end_offset`.
    fn check_offset_in_range(&self, offset: i64) -> Result<(), StorageError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset,
            });
        }
        Ok(())
    }

    /// Base offset of the segment that would hold `offset`: the largest base not above it.
    fn segment_base_for(&self, offset: i64) -> i64 {
        self.segments.range(..=offset).next_back().map_or_else(
            || *self.segments.keys().next().unwrap_or(&0),
            |(&base, _)| base,
        )
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Earliest offset whose batch max timestamp >= ts (Kafka ListOffsets semantics): the
    /// (offset, timestamp) of the first record with timestamp >= `ts` in the first batch whose
    /// max timestamp reaches it, at or after the log start; `None` if there is none.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        for segment in self.segments.values() {
            let below_start = segment.next_offset() <= self.log_start_offset;
            if below_start || segment.max_timestamp_so_far() < ts {
                continue;
            }
            if let Some(found) = segment.find_offset_by_timestamp(ts, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Max timestamp over the log and the offset of the record that has it (ListOffsets -3),
    /// as (timestamp, offset), if any batch carried a timestamp. The first segment holding the
    /// maximum wins ties. Falls back to the batch's last offset if the batch cannot be read.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        // `max_by_key` keeps the last of equal maxima; iterating newest first makes that the
        // oldest segment, matching Kafka's choice.
        let segment = self
            .segments
            .values()
            .rev()
            .max_by_key(|segment| segment.max_timestamp_so_far())?;
        match segment.max_timestamp_record() {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the batch holding the max timestamp");
                None
            }
        }
    }

    /// Rolls when the active segment holds data whose first append is older than segment_ms,
    /// so that time-based retention can eventually delete it on a quiet partition.
    pub fn maybe_roll_by_time(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.ensure_open()?;
        let active = self.active_segment();
        if active.size() > 0 && self.segment_too_old(active, now_ms) {
            self.roll()?;
        }
        Ok(())
    }

    /// Replaces the topic configuration; it applies from the next operation on (index sizes
    /// from the next new segment).
    pub fn update_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Fsyncs the active segment's log and indexes (older segments were synced when they
    /// rolled) and records the wall-clock time as the last flush.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.flush_at(wall_clock_ms())
    }

    /// Like [`Log::flush`], recording `now_ms` as the flush time.
    pub fn flush_at(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.active_segment_mut().flush()?;
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Hands the caller an fsync of the active segment to run on another thread, counting the
    /// log as flushed from `now_ms` (a failed fsync is the caller's to report).
    pub fn take_flush(&mut self, now_ms: i64) -> io::Result<fs::File> {
        let file = self.active_segment_file()?;
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(file)
    }

    /// Messages appended since the last flush.
    pub fn unflushed_messages(&self) -> i64 {
        self.unflushed_messages
    }

    /// When the log was last flushed (or opened), in the clock the caller uses.
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms
    }

    /// A handle other threads can fsync with (File::try_clone of the active segment), so fsync
    /// can run off the actor thread.
    pub fn active_segment_file(&self) -> io::Result<fs::File> {
        self.active_segment().log_file().try_clone()
    }

    /// Bytes of batches in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of all segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    /// Flush, truncate indexes to used size, write the clean-shutdown marker. Reads still work
    /// afterwards; writes are refused, since the marker promises the files will not change.
    pub fn close(&mut self) -> Result<(), StorageError> {
        if self.closed {
            return Ok(());
        }
        self.active_segment_mut().seal()?;
        checkpoint::write_log_start_offset(&self.dir, self.log_start_offset)?;
        self.write_producer_snapshot(self.log_end_offset);
        checkpoint::write_clean_shutdown_marker(&self.dir)?;
        self.unflushed_messages = 0;
        self.closed = true;
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure_open(&self) -> Result<(), StorageError> {
        if self.closed {
            return Err(StorageError::Io(io::Error::other(format!(
                "log {} is closed",
                self.dir.display()
            ))));
        }
        Ok(())
    }

    fn active_segment(&self) -> &LogSegment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_segment_mut(&mut self) -> &mut LogSegment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }
}

/// Opens one segment found on disk and recovers it when the shutdown was unclean and it is
/// the last segment, or when its indexes do not look right. Sealed (non-last) segments are
/// cut back to read-only shape after a rebuild.
/// After an unclean shutdown the active segment's indexes are rebuilt from the log anyway,
/// and their preallocated, mostly sparse files would only cost page faults to inspect (tens of
/// seconds over 10,000 partitions). Empty them so recovery starts from nothing.
fn discard_active_indexes(dir: &Path, base_offset: i64) -> Result<(), StorageError> {
    for path in [
        super::segment::offset_index_path(dir, base_offset),
        super::segment::time_index_path(dir, base_offset),
    ] {
        match fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f.set_len(0)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn open_segment(
    dir: &Path,
    base_offset: i64,
    config: &LogConfig,
    is_last: bool,
    clean_shutdown: bool,
    now_ms: i64,
) -> Result<LogSegment, StorageError> {
    if is_last && !clean_shutdown {
        discard_active_indexes(dir, base_offset)?;
    }
    let (mut segment, health) = LogSegment::open(
        dir,
        base_offset,
        config.segment_index_bytes,
        is_last,
        now_ms,
    )?;
    if is_last && !clean_shutdown {
        segment.discard_txn_index()?;
    }
    let reason = match health {
        SegmentHealth::NeedsRecovery(reason) => Some(reason),
        SegmentHealth::Consistent if is_last && !clean_shutdown => {
            Some("unclean shutdown".to_string())
        }
        SegmentHealth::Consistent => None,
    };
    if let Some(reason) = reason {
        let truncated = segment.recover(config.index_interval_bytes, config.segment_index_bytes)?;
        tracing::info!(
            dir = %dir.display(),
            base_offset,
            reason = %reason,
            truncated_bytes = truncated,
            "recovered log segment"
        );
        if !is_last {
            segment.seal()?;
        }
    }
    Ok(segment)
}

/// Base offsets of the segments in `dir`, ascending, found by their `.log` files. Removes
/// leftovers of interrupted deletes, compactions and checkpoint writes, and index files whose
/// `.log` is gone.
fn list_segment_base_offsets(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if [DELETED_FILE_SUFFIX, CLEANED_FILE_SUFFIX, TEMP_FILE_SUFFIX]
            .iter()
            .any(|suffix| name.ends_with(suffix))
        {
            tracing::info!(file = %entry.path().display(), "removing leftover temporary file");
            fs::remove_file(entry.path())?;
        } else if let Some(base) = segment::parse_segment_file_name(&name, LOG_FILE_SUFFIX) {
            logs.push(base);
        } else if let Some(base) = [
            INDEX_FILE_SUFFIX,
            TIME_INDEX_FILE_SUFFIX,
            TXN_INDEX_FILE_SUFFIX,
        ]
        .iter()
        .find_map(|suffix| segment::parse_segment_file_name(&name, suffix))
        {
            indexes.push((base, entry.path()));
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            tracing::info!(file = %path.display(), "removing index file without a log file");
            fs::remove_file(path)?;
        }
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::{compute_crc, CRC_OFFSET, LAST_OFFSET_DELTA_OFFSET, MAGIC_OFFSET};
    use crate::test_support::{encode_batch, encode_batch_with};
    use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};
    use std::fs::OpenOptions;

    pub(super) const NOW: i64 = 1_700_000_000_000;

    pub(super) fn small_config() -> LogConfig {
        LogConfig {
            index_interval_bytes: 128,
            segment_index_bytes: 4096,
            ..LogConfig::default()
        }
    }

    fn open(dir: &Path, config: LogConfig) -> Log {
        Log::open(dir, config, NOW).unwrap()
    }

    /// A one-record batch whose value is `value` and timestamp `ts`.
    fn single(value: &str, ts: i64) -> Bytes {
        encode_batch(&[value.as_bytes()], &[ts])
    }

    /// The batches one after another in one buffer.
    pub(super) fn concat(batches: &[Bytes]) -> Bytes {
        let mut all = BytesMut::new();
        for b in batches {
            all.extend_from_slice(b);
        }
        all.freeze()
    }

    /// Every record from `offset` to the end, decoded.
    pub(super) fn read_records(log: &Log, offset: i64) -> Vec<Record> {
        let result = log.read(offset, usize::MAX, i64::MAX, true).unwrap();
        let mut records = Vec::new();
        for slice in result.slices {
            let mut bytes = slice.read_bytes().unwrap();
            for set in RecordBatchDecoder::decode_all(&mut bytes).unwrap() {
                records.extend(set.records);
            }
        }
        records
    }

    /// Base offsets of the batches a read returns.
    fn batch_bases(result: &ReadResult) -> Vec<i64> {
        let mut bases = Vec::new();
        for slice in &result.slices {
            let bytes = slice.read_bytes().unwrap();
            let mut position = 0;
            while position < bytes.len() {
                let header = BatchHeader::parse(&bytes[position..]).unwrap();
                bases.push(header.base_offset);
                position += header.size() as usize;
            }
        }
        bases
    }

    fn values(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect()
    }

    fn segment_log_path(dir: &Path, base: i64) -> PathBuf {
        segment::log_file_path(dir, base)
    }

    /// Which segments have a mapped offset index and time index, by base offset.
    fn mapped_indexes(log: &Log) -> Vec<(i64, bool, bool)> {
        log.segments
            .values()
            .map(|s| {
                (
                    s.base_offset(),
                    s.offset_index().is_mapped(),
                    s.time_index().is_mapped(),
                )
            })
            .collect()
    }

    #[test]
    fn sealed_segments_map_their_indexes_only_when_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 600,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        for i in 0..40 {
            log.append(single(&format!("v{i:02}"), 1_000 + i), NOW)
                .unwrap();
        }
        assert!(log.segment_count() >= 4, "several segments");
        let active = log.active_segment().base_offset();
        // Only the active segment has mapped indexes after rolling, and after reopening.
        for log in [&log, &open(dir.path(), config.clone())] {
            for (base, offset_mapped, time_mapped) in mapped_indexes(log) {
                let want = base == active;
                assert_eq!((offset_mapped, time_mapped), (want, want), "segment {base}");
            }
        }
        drop(log);
        let log = open(dir.path(), config);
        // A read in an old segment maps its offset index and finds the right records.
        let bases: Vec<i64> = log.segments.keys().copied().collect();
        let target = bases[1] + 1;
        let read = log.read(target, 1, i64::MAX, true).unwrap();
        assert_eq!(read.slices.len(), 1, "one batch, from one segment");
        let mut bytes = read.slices[0].read_bytes().unwrap();
        let records = RecordBatchDecoder::decode_all(&mut bytes).unwrap()[0]
            .records
            .clone();
        assert_eq!(values(&records), [format!("v{target:02}")]);
        let second = &log.segments[&bases[1]];
        assert!(second.offset_index().is_mapped());
        assert!(!log.segments[&bases[2]].offset_index().is_mapped() || bases[2] == active);
        // A timestamp lookup maps the time index it needs and answers as before.
        assert_eq!(
            log.offset_for_timestamp(1_000 + target)
                .unwrap()
                .map(|(o, _)| o),
            Some(target)
        );
    }

    #[test]
    fn append_and_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        let first = encode_batch(&[b"a", b"bb", b"ccc"], &[10, 20, 30]);
        let info = log.append(first.clone(), NOW).unwrap();
        assert_eq!(
            info,
            AppendInfo {
                first_offset: 0,
                last_offset: 2,
                log_append_time: -1,
                max_timestamp: 30,
                record_count: 3,
                batch_count: 1,
                bytes: first.len(),
            }
        );
        let info = log
            .append(encode_batch(&[b"d", b"e"], &[40, 50]), NOW)
            .unwrap();
        assert_eq!((info.first_offset, info.last_offset), (3, 4));
        assert_eq!(log.log_end_offset(), 5);

        let records = read_records(&log, 0);
        assert_eq!(values(&records), ["a", "bb", "ccc", "d", "e"]);
        let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 2, 3, 4]);
        let timestamps: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
        assert_eq!(timestamps, [10, 20, 30, 40, 50]);
        assert_eq!(records[1].key.as_deref(), Some(&b"key-1"[..]));

        // The stored first batch is byte for byte what was sent (its base offset was 0 already).
        let result = log.read(0, first.len(), i64::MAX, false).unwrap();
        assert_eq!(result.bytes, first.len());
        assert_eq!(result.slices[0].read_bytes().unwrap(), first);
        // Reading from inside a batch returns the whole batch.
        assert_eq!(
            batch_bases(&log.read(4, usize::MAX, i64::MAX, true).unwrap()),
            [3]
        );
    }

    #[test]
    fn compressed_batches_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            log.append(
                encode_batch_with(&[b"x", b"y"], &[100, 200], compression),
                NOW,
            )
            .unwrap();
        }
        let records = read_records(&log, 0);
        assert_eq!(values(&records), ["x", "y", "x", "y", "x", "y", "x", "y"]);
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
        assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((1, 200)));
    }

    #[test]
    fn multiple_batches_per_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        log.append(single("zero", 1), NOW).unwrap();
        let payload = concat(&[
            encode_batch(&[b"a", b"b"], &[1, 2]),
            single("c", 3),
            encode_batch(&[b"d", b"e", b"f"], &[4, 5, 6]),
        ]);
        let info = log.append(payload.clone(), NOW).unwrap();
        assert_eq!(info.batch_count, 3);
        assert_eq!(info.record_count, 6);
        assert_eq!((info.first_offset, info.last_offset), (1, 6));
        assert_eq!(info.bytes, payload.len());
        assert_eq!(log.log_end_offset(), 7);
        let all = log.read(0, usize::MAX, i64::MAX, true).unwrap();
        assert_eq!(batch_bases(&all), [0, 1, 3, 4]);
        let records = read_records(&log, 5);
        assert_eq!(values(&records), ["d", "e", "f"]);
        assert_eq!(records[0].offset, 4);
    }

    #[test]
    fn rolls_when_segment_bytes_would_be_exceeded() {
        let dir = tempfile::tempdir().unwrap();
        let batch_size = single("value-00", 1).len() as u64;
        let config = LogConfig {
            segment_bytes: batch_size * 3,
            ..small_config()
        };
        let mut log = open(dir.path(), config);
        for i in 0..10 {
            log.append(single(&format!("value-{i:02}"), i), NOW)
                .unwrap();
        }
        assert_eq!(log.segment_base_offsets(), [0, 3, 6, 9]);
        for base in [0, 3, 6, 9] {
            assert!(segment_log_path(dir.path(), base).exists());
            assert!(segment::offset_index_path(dir.path(), base).exists());
            assert!(segment::time_index_path(dir.path(), base).exists());
        }
        // The active segment's indexes are preallocated; rolled ones are cut to size.
        let active_index = segment::offset_index_path(dir.path(), 9);
        assert_eq!(fs::metadata(active_index).unwrap().len(), 4096);
        let active_time_index = segment::time_index_path(dir.path(), 9);
        assert_eq!(fs::metadata(active_time_index).unwrap().len(), 4092);
        assert_eq!(
            fs::metadata(segment::offset_index_path(dir.path(), 0))
                .unwrap()
                .len()
                % 8,
            0
        );
        assert!(
            fs::metadata(segment::time_index_path(dir.path(), 0))
                .unwrap()
                .len()
                <= 24
        );
        assert_eq!(log.size_bytes(), batch_size * 10);
        let all = log.read(0, usize::MAX, i64::MAX, false).unwrap();
        assert_eq!(all.slices.len(), 4);
        assert_eq!(all.bytes as u64, batch_size * 10);
        let records = read_records(&log, 0);
        assert_eq!(records.len(), 10);
        assert_eq!(values(&records)[7], "value-07");
        // A read bounded by bytes stays within one segment's worth.
        let partial = log
            .read(2, (batch_size * 2) as usize, i64::MAX, false)
            .unwrap();
        assert_eq!(batch_bases(&partial), [2, 3]);
    }

    #[test]
    fn index_lookups_across_many_batches() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            index_interval_bytes: 200,
            segment_bytes: 16 * 1024,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        let mut batch_of_offset = Vec::new();
        for i in 0..600i64 {
            let n = 1 + (i % 3) as usize;
            let values: Vec<String> = (0..n).map(|j| format!("record-{i}-{j}")).collect();
            let refs: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
            let info = log.append(encode_batch(&refs, &vec![i; n]), NOW).unwrap();
            batch_of_offset.extend(std::iter::repeat_n(info.first_offset, n));
        }
        assert!(log.segment_count() > 1);
        let check = |log: &Log| {
            for (offset, &base) in batch_of_offset.iter().enumerate() {
                let result = log.read(offset as i64, 1, i64::MAX, true).unwrap();
                assert_eq!(batch_bases(&result), [base], "offset {offset}");
            }
        };
        check(&log);
        log.close().unwrap();
        let log = open(dir.path(), config);
        check(&log);
    }

    #[test]
    fn timestamp_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            index_interval_bytes: 1,
            segment_bytes: 200,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        // offsets:                                 0    1    2
        log.append(encode_batch(&[b"a", b"b", b"c"], &[100, 150, 120]), NOW)
            .unwrap();
        //                                          3    4
        log.append(encode_batch(&[b"d", b"e"], &[200, 210]), NOW)
            .unwrap();
        //                                          5    6
        log.append(encode_batch(&[b"f", b"g"], &[180, 300]), NOW)
            .unwrap();
        //                                          7
        log.append(encode_batch(&[b"h"], &[250]), NOW).unwrap();
        assert!(log.segment_count() > 1);
        let check = |log: &Log| {
            assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
            assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((0, 100)));
            assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((1, 150)));
            assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((1, 150)));
            assert_eq!(log.offset_for_timestamp(151).unwrap(), Some((3, 200)));
            assert_eq!(log.offset_for_timestamp(205).unwrap(), Some((4, 210)));
            assert_eq!(log.offset_for_timestamp(211).unwrap(), Some((6, 300)));
            assert_eq!(log.offset_for_timestamp(300).unwrap(), Some((6, 300)));
            assert_eq!(log.offset_for_timestamp(301).unwrap(), None);
            assert_eq!(log.max_timestamp(), Some((300, 6)));
        };
        check(&log);
        log.close().unwrap();
        let mut log = open(dir.path(), config);
        check(&log);
        // Records below the log start offset are not answers.
        log.delete_records_before(2).unwrap();
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((2, 120)));
        assert_eq!(log.offset_for_timestamp(130).unwrap(), Some((3, 200)));
    }

    #[test]
    fn log_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Log>();
        assert_send::<FileSlice>();
    }

    #[test]
    fn max_timestamp_of_empty_log_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config());
        assert_eq!(log.max_timestamp(), None);
        assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    }

    #[test]
    fn log_append_time_rewrites_timestamps_and_keeps_crc_valid() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..small_config()
        };
        let mut log = open(dir.path(), config);
        log.append(single("first", 5), NOW).unwrap();
        let info = log
            .append(encode_batch(&[b"x", b"y"], &[1, 2]), NOW + 7)
            .unwrap();
        assert_eq!(info.log_append_time, NOW + 7);
        assert_eq!(info.max_timestamp, NOW + 7);
        let result = log.read(1, usize::MAX, i64::MAX, true).unwrap();
        let stored = result.slices[0].read_bytes().unwrap();
        let header = BatchHeader::parse(&stored).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.base_offset, 1);
        assert_eq!(header.max_timestamp, NOW + 7);
        assert_eq!(header.base_timestamp, NOW + 7);
        assert_eq!(header.crc, compute_crc(&stored));
        // kafka-protocol's decoder re-checks the CRC.
        let mut buf = stored.clone();
        let decoded = RecordBatchDecoder::decode(&mut buf).unwrap();
        assert_eq!(decoded.records.len(), 2);
        assert!(batch::validate_produce_batches(&stored, i32::MAX).is_ok());
        assert_eq!(
            log.offset_for_timestamp(NOW + 1).unwrap(),
            Some((1, NOW + 7))
        );
        assert_eq!(log.max_timestamp(), Some((NOW + 7, 1)));
    }

    #[test]
    fn retention_by_time_deletes_old_segments_and_moves_log_start() {
        let dir = tempfile::tempdir().unwrap();
        let batch_size = single("v", 0).len() as u64;
        let config = LogConfig {
            segment_bytes: batch_size * 2,
            retention_ms: 1000,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        // Segments [0,1] ts 1000-1001, [2,3] ts 2000-2001, [4,5] ts 3000-3001, [6] ts 4000.
        for (i, ts) in [1000, 1001, 2000, 2001, 3000, 3001, 4000]
            .into_iter()
            .enumerate()
        {
            let info = log.append(single("v", ts), NOW).unwrap();
            assert_eq!(info.first_offset, i as i64);
        }
        assert_eq!(log.segment_base_offsets(), [0, 2, 4, 6]);
        assert_eq!(log.enforce_retention(2001).unwrap(), 0);
        assert_eq!(log.enforce_retention(3002).unwrap(), 2);
        assert_eq!(log.segment_base_offsets(), [4, 6]);
        assert_eq!(log.log_start_offset(), 4);
        assert!(!segment_log_path(dir.path(), 0).exists());
        assert!(!segment::offset_index_path(dir.path(), 2).exists());
        assert!(matches!(
            log.read(3, 100, i64::MAX, true),
            Err(StorageError::OffsetOutOfRange {
                offset: 3,
                log_start: 4,
                log_end: 7
            })
        ));
        // The active segment is never deleted, however old.
        assert_eq!(log.enforce_retention(1_000_000).unwrap(), 1);
        assert_eq!(log.segment_base_offsets(), [6]);
        assert_eq!(log.log_start_offset(), 6);
        log.close().unwrap();
        let log = open(dir.path(), config);
        assert_eq!(log.log_start_offset(), 6);
        assert_eq!(log.log_end_offset(), 7);
    }

    #[test]
    fn retention_by_size_deletes_oldest_segments() {
        let dir = tempfile::tempdir().unwrap();
        let batch_size = single("v", 0).len() as u64;
        let config = LogConfig {
            segment_bytes: batch_size * 2,
            retention_ms: -1,
            retention_bytes: (batch_size * 3) as i64,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        for i in 0..7 {
            log.append(single("v", i), NOW).unwrap();
        }
        // 7 batches in [0,1] [2,3] [4,5] [6]; keeping at least 3 batches' worth leaves [4,5] [6].
        assert_eq!(log.enforce_retention(NOW).unwrap(), 2);
        assert_eq!(log.segment_base_offsets(), [4, 6]);
        assert_eq!(log.log_start_offset(), 4);
        assert_eq!(log.size_bytes(), batch_size * 3);
        assert_eq!(log.enforce_retention(NOW).unwrap(), 0);

        let mut disabled = config;
        disabled.delete_retention_enabled = false;
        disabled.retention_bytes = 0;
        log.update_config(disabled);
        assert_eq!(log.enforce_retention(NOW).unwrap(), 0);
    }

    #[test]
    fn delete_records_before_moves_log_start_forward_only() {
        let dir = tempfile::tempdir().unwrap();
        let batch_size = single("v0", 0).len() as u64;
        let config = LogConfig {
            segment_bytes: batch_size * 2,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        for i in 0..7 {
            log.append(single(&format!("v{i}"), i), NOW).unwrap();
        }
        assert_eq!(log.delete_records_before(3).unwrap(), 3);
        assert_eq!(log.log_start_offset(), 3);
        // [0,1] is wholly below 3 and goes; [2,3] stays since it holds offset 3.
        assert_eq!(log.segment_base_offsets(), [2, 4, 6]);
        assert!(matches!(
            log.read(2, 100, i64::MAX, true),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(values(&read_records(&log, 3))[0], "v3");
        assert_eq!(
            log.delete_records_before(1).unwrap(),
            3,
            "never moves backward"
        );
        assert!(matches!(
            log.delete_records_before(8),
            Err(StorageError::OffsetOutOfRange { offset: 8, .. })
        ));
        // Up to the log end: everything but the active segment goes, and reads are empty.
        assert_eq!(log.delete_records_before(7).unwrap(), 7);
        assert_eq!(log.segment_base_offsets(), [6]);
        assert!(log.read(7, 100, i64::MAX, true).unwrap().slices.is_empty());
        drop(log);
        // The checkpoint survives even an unclean shutdown.
        let mut log = open(dir.path(), config);
        assert_eq!(log.log_start_offset(), 7);
        assert_eq!(log.log_end_offset(), 7);
        assert_eq!(log.append(single("v7", 7), NOW).unwrap().first_offset, 7);
    }

    #[test]
    fn recovers_from_truncated_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        let mut total = 0u64;
        for i in 0..5 {
            total += log
                .append(
                    encode_batch(&[format!("value-{i}").as_bytes(), b"second"], &[i, i]),
                    NOW,
                )
                .unwrap()
                .bytes as u64;
        }
        drop(log); // no close: no clean-shutdown marker
        let path = segment_log_path(dir.path(), 0);
        let one = total / 5;
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(total - one / 2)
            .unwrap();

        let mut log = open(dir.path(), small_config());
        assert_eq!(log.log_end_offset(), 8);
        assert_eq!(fs::metadata(&path).unwrap().len(), one * 4);
        let records = read_records(&log, 0);
        assert_eq!(records.len(), 8);
        assert_eq!(values(&records)[6], "value-3");
        let info = log.append(single("after", 9), NOW).unwrap();
        assert_eq!(info.first_offset, 8);
        assert_eq!(values(&read_records(&log, 8)), ["after"]);

        // A cut inside the header of the only batch leaves an empty log.
        drop(log);
        let dir2 = tempfile::tempdir().unwrap();
        let mut log = open(dir2.path(), small_config());
        log.append(single("x", 1), NOW).unwrap();
        drop(log);
        let path = segment_log_path(dir2.path(), 0);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(30)
            .unwrap();
        let log = open(dir2.path(), small_config());
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(log.size_bytes(), 0);
    }

    #[test]
    fn recovers_from_garbled_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        let mut sizes = Vec::new();
        for i in 0..4 {
            sizes.push(
                log.append(single(&format!("value-{i}"), i), NOW)
                    .unwrap()
                    .bytes as u64,
            );
        }
        drop(log);
        let path = segment_log_path(dir.path(), 0);
        let mut bytes = fs::read(&path).unwrap();
        let last_start: u64 = sizes[..3].iter().sum();
        let garble_at = last_start as usize + 65;
        bytes[garble_at] ^= 0xff;
        bytes[garble_at + 1] ^= 0x55;
        fs::write(&path, &bytes).unwrap();

        let mut log = open(dir.path(), small_config());
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(log.size_bytes(), last_start);
        assert_eq!(
            values(&read_records(&log, 0)),
            ["value-0", "value-1", "value-2"]
        );
        assert_eq!(log.append(single("again", 9), NOW).unwrap().first_offset, 3);

        // A garbled length field in the middle of the file loses everything after it.
        log.close().unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let second = sizes[0] as usize;
        bytes[second + 8..second + 12].copy_from_slice(&i32::MAX.to_be_bytes());
        fs::write(&path, &bytes).unwrap();
        checkpoint::remove_clean_shutdown_marker(dir.path()).unwrap();
        let log = open(dir.path(), small_config());
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(values(&read_records(&log, 0)), ["value-0"]);
    }

    #[test]
    fn recovers_with_deleted_or_corrupt_index() {
        let dir = tempfile::tempdir().unwrap();
        let batch_size = single("value-000", 0).len() as u64;
        let config = LogConfig {
            index_interval_bytes: 1,
            segment_bytes: batch_size * 50,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        for i in 0..120 {
            log.append(single(&format!("value-{i:03}"), i), NOW)
                .unwrap();
        }
        assert_eq!(log.segment_base_offsets(), [0, 50, 100]);
        log.close().unwrap();

        // Delete one index, make another misaligned, zero-pad a third (as a crash before the
        // trim would leave it), and point a time index entry past the end.
        fs::remove_file(segment::offset_index_path(dir.path(), 0)).unwrap();
        let misaligned = segment::offset_index_path(dir.path(), 50);
        let mut bytes = fs::read(&misaligned).unwrap();
        bytes.push(7);
        fs::write(&misaligned, bytes).unwrap();
        let padded = segment::offset_index_path(dir.path(), 100);
        let mut bytes = fs::read(&padded).unwrap();
        bytes.extend_from_slice(&[0u8; 64]);
        fs::write(&padded, bytes).unwrap();
        let time_index = segment::time_index_path(dir.path(), 0);
        let mut bytes = fs::read(&time_index).unwrap();
        bytes.extend_from_slice(&i64::MAX.to_be_bytes());
        bytes.extend_from_slice(&1000u32.to_be_bytes());
        fs::write(&time_index, bytes).unwrap();

        let log = open(dir.path(), config);
        assert_eq!(log.log_end_offset(), 120);
        for offset in 0..120 {
            let result = log.read(offset, 1, i64::MAX, true).unwrap();
            assert_eq!(batch_bases(&result), [offset]);
        }
        assert!(
            fs::metadata(segment::offset_index_path(dir.path(), 0))
                .unwrap()
                .len()
                > 0
        );
        assert_eq!(log.max_timestamp(), Some((119, 119)));
        assert_eq!(log.offset_for_timestamp(60).unwrap(), Some((60, 60)));
    }

    #[test]
    fn rejected_appends_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            max_message_bytes: 200,
            ..small_config()
        };
        let mut log = open(dir.path(), config);
        log.append(single("ok", 1), NOW).unwrap();
        let good = single("good", 2);

        let mut bad_crc = good.to_vec();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let mut bad_magic = good.to_vec();
        bad_magic[MAGIC_OFFSET] = 1;
        let mut trailing = good.to_vec();
        trailing.extend_from_slice(&[0, 0, 0]);
        let mut count_mismatch = good.to_vec();
        count_mismatch[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&1i32.to_be_bytes());
        let crc = compute_crc(&count_mismatch);
        count_mismatch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let mut short_length = good.to_vec();
        short_length[8..12].copy_from_slice(&48i32.to_be_bytes());
        let mut long_length = good.to_vec();
        long_length[8..12].copy_from_slice(&10_000i32.to_be_bytes());
        let mut negative_length = good.to_vec();
        negative_length[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        let big_value = vec![b'x'; 300];
        let too_large = encode_batch(&[&big_value[..]], &[3]);

        type IsExpected = fn(&StorageError) -> bool;
        let cases: Vec<(&str, Bytes, IsExpected)> = vec![
            ("bad crc", Bytes::from(bad_crc), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
            ("wrong magic", Bytes::from(bad_magic), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
            ("trailing bytes", Bytes::from(trailing), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
            ("count mismatch", Bytes::from(count_mismatch), |e| {
                matches!(e, StorageError::InvalidRecord(_))
            }),
            ("short length", Bytes::from(short_length), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
            ("long length", Bytes::from(long_length), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
            ("negative length", Bytes::from(negative_length), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
            ("too large", too_large, |e| {
                matches!(e, StorageError::MessageTooLarge { max: 200, .. })
            }),
            ("empty", Bytes::new(), |e| {
                matches!(e, StorageError::InvalidRecord(_))
            }),
            ("tiny", Bytes::from_static(&[1, 2, 3]), |e| {
                matches!(e, StorageError::CorruptMessage(_))
            }),
        ];
        let size_before = log.size_bytes();
        for (name, payload, expected) in cases {
            // Alone, and behind a valid batch: either way nothing may be written.
            for payload in [payload.clone(), concat(&[good.clone(), payload])] {
                if payload == good {
                    continue;
                }
                let err = log.append(payload, NOW).unwrap_err();
                assert!(expected(&err), "{name}: {err}");
                assert_eq!(log.log_end_offset(), 1, "{name}");
                assert_eq!(log.size_bytes(), size_before, "{name}");
            }
        }
        assert_eq!(
            fs::metadata(segment_log_path(dir.path(), 0)).unwrap().len(),
            size_before
        );
        assert_eq!(log.append(good, NOW).unwrap().first_offset, 1);
    }

    #[test]
    fn compacted_log_refuses_records_without_keys() {
        use crate::test_support::encode_keyed_batch;
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            compact: true,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        let keyed = encode_keyed_batch(&[(Some("k"), Some("v"), 1)], Compression::None);
        log.append(keyed.clone(), NOW).unwrap();
        let size_before = log.size_bytes();
        for compression in [Compression::None, Compression::Lz4, Compression::Gzip] {
            let keyless = encode_keyed_batch(
                &[(Some("a"), Some("1"), 1), (None, Some("2"), 1)],
                compression,
            );
            // Alone, and behind a good batch: nothing of the request may be written.
            for payload in [keyless.clone(), concat(&[keyed.clone(), keyless])] {
                let err = log.append(payload, NOW).unwrap_err();
                assert!(
                    matches!(&err, StorageError::InvalidRecord(m) if m.contains("without key")),
                    "{compression:?}: {err}"
                );
                assert_eq!(log.log_end_offset(), 1);
                assert_eq!(log.size_bytes(), size_before);
            }
        }
        // Tombstones have keys, so they are welcome.
        let tombstone = encode_keyed_batch(&[(Some("k"), None, 2)], Compression::None);
        assert_eq!(log.append(tombstone, NOW).unwrap().first_offset, 1);
        // The check is for compacted topics only.
        log.update_config(LogConfig {
            compact: false,
            ..config
        });
        let keyless = encode_keyed_batch(&[(None, Some("x"), 3)], Compression::None);
        assert_eq!(log.append(keyless, NOW).unwrap().first_offset, 2);
    }

    #[test]
    fn reopen_after_clean_close_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let batch_size = single("v-00", 0).len() as u64;
        let config = LogConfig {
            segment_bytes: batch_size * 4,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone());
        for i in 0..10 {
            log.append(single(&format!("v-{i:02}"), 500 + i), NOW)
                .unwrap();
        }
        log.delete_records_before(2).unwrap();
        let bases = log.segment_base_offsets();
        log.close().unwrap();
        assert!(checkpoint::has_clean_shutdown_marker(dir.path()));
        assert!(
            log.append(single("late", 1), NOW).is_err(),
            "closed logs refuse writes"
        );
        // Active index files are cut to their used size on close.
        let active_index = segment::offset_index_path(dir.path(), 8);
        assert!(fs::metadata(&active_index).unwrap().len() < 4096);
        drop(log);

        let mut log = open(dir.path(), config);
        assert!(!checkpoint::has_clean_shutdown_marker(dir.path()));
        assert_eq!(log.segment_base_offsets(), bases);
        assert_eq!(log.log_start_offset(), 2);
        assert_eq!(log.log_end_offset(), 10);
        assert_eq!(log.size_bytes(), batch_size * 10);
        let records = read_records(&log, 2);
        assert_eq!(values(&records).len(), 8);
        assert_eq!(records[0].offset, 2);
        assert_eq!(log.max_timestamp(), Some((509, 9)));
        assert_eq!(log.offset_for_timestamp(505).unwrap(), Some((5, 505)));
        assert_eq!(
            log.append(single("v-10", 510), NOW).unwrap().first_offset,
            10
        );
        assert_eq!(values(&read_records(&log, 10)), ["v-10"]);
    }

    #[test]
    fn read_respects_max_offset_and_min_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        let batch = encode_batch(&[b"a", b"b"], &[1, 2]);
        let size = batch.len();
        for _ in 0..5 {
            log.append(batch.clone(), NOW).unwrap(); // batches at 0, 2, 4, 6, 8
        }
        let read = |offset, max_bytes, max_offset, min_one| {
            batch_bases(&log.read(offset, max_bytes, max_offset, min_one).unwrap())
        };
        assert_eq!(read(0, usize::MAX, 4, false), [0, 2]);
        assert_eq!(read(0, usize::MAX, 5, false), [0, 2, 4]);
        assert_eq!(read(3, usize::MAX, 6, false), [2, 4]);
        assert_eq!(read(4, usize::MAX, 4, true), Vec::<i64>::new());
        assert_eq!(read(0, size * 2, i64::MAX, false), [0, 2]);
        assert_eq!(read(0, size * 2 - 1, i64::MAX, false), [0]);
        assert_eq!(read(0, size - 1, i64::MAX, false), Vec::<i64>::new());
        assert_eq!(read(0, size - 1, i64::MAX, true), [0]);
        assert_eq!(read(0, 0, i64::MAX, true), [0]);
        assert_eq!(read(9, usize::MAX, i64::MAX, false), [8]);
        let result = log.read(2, size * 3, i64::MAX, false).unwrap();
        assert_eq!(result.bytes, size * 3);
        assert!(log
            .read(10, usize::MAX, i64::MAX, true)
            .unwrap()
            .slices
            .is_empty());
        assert!(matches!(
            log.read(11, 100, i64::MAX, true),
            Err(StorageError::OffsetOutOfRange {
                offset: 11,
                log_start: 0,
                log_end: 10
            })
        ));
        assert!(matches!(
            log.read(-1, 100, i64::MAX, true),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn flushes_after_flush_messages() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            flush_messages: 5,
            ..small_config()
        };
        let mut log = open(dir.path(), config);
        log.append(encode_batch(&[b"a", b"b"], &[1, 2]), NOW + 1)
            .unwrap();
        assert_eq!(log.unflushed_messages(), 2);
        assert_eq!(log.last_flush_ms(), NOW);
        log.append(encode_batch(&[b"c", b"d", b"e"], &[1, 2, 3]), NOW + 2)
            .unwrap();
        assert_eq!(log.unflushed_messages(), 0);
        assert_eq!(log.last_flush_ms(), NOW + 2);
        log.append(single("f", 1), NOW + 3).unwrap();
        assert_eq!(log.unflushed_messages(), 1);
        log.flush().unwrap();
        assert_eq!(log.unflushed_messages(), 0);
        let handle = log.active_segment_file().unwrap();
        handle.sync_all().unwrap();
    }

    #[test]
    fn rolls_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_ms: 1000,
            ..small_config()
        };
        let mut log = open(dir.path(), config);
        log.maybe_roll_by_time(NOW + 5000).unwrap();
        assert_eq!(log.segment_count(), 1, "an empty segment never rolls");
        log.append(single("a", 1), NOW).unwrap();
        log.maybe_roll_by_time(NOW + 1000).unwrap();
        assert_eq!(log.segment_count(), 1);
        log.maybe_roll_by_time(NOW + 1001).unwrap();
        assert_eq!(log.segment_base_offsets(), [0, 1]);
        log.append(single("b", 1), NOW + 2000).unwrap();
        log.append(single("c", 1), NOW + 3001).unwrap();
        assert_eq!(log.segment_base_offsets(), [0, 1, 2]);
        assert_eq!(values(&read_records(&log, 0)), ["a", "b", "c"]);
    }

    /// A small deterministic generator, so the garbage tests need no extra dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    /// Reads every offset and asks every timestamp question; nothing may panic.
    fn exercise(log: &Log) {
        for offset in log.log_start_offset()..=log.log_end_offset() {
            let result = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
            for slice in result.slices {
                slice.read_bytes().unwrap();
            }
        }
        for ts in [-1, 0, 100, i64::MAX] {
            let _ = log.offset_for_timestamp(ts);
        }
        let _ = log.max_timestamp();
    }

    #[test]
    fn garbage_files_never_panic() {
        let mut rng = Lcg(7);
        for round in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let mut log = open(dir.path(), small_config());
            for i in 0..(round % 7) {
                log.append(encode_batch(&[b"abc", b"defgh"], &[i, i + 1]), NOW)
                    .unwrap();
            }
            if round % 2 == 0 {
                log.close().unwrap();
            }
            drop(log);
            let log_path = segment_log_path(dir.path(), 0);
            let mut bytes = fs::read(&log_path).unwrap();
            match round % 4 {
                // Random bytes flipped anywhere.
                0 | 1 => {
                    for _ in 0..(1 + rng.next() % 4) {
                        if !bytes.is_empty() {
                            let at = (rng.next() as usize) % bytes.len();
                            bytes[at] ^= (1 + rng.next() % 255) as u8;
                        }
                    }
                }
                // Random garbage appended.
                2 => bytes.extend((0..rng.next() % 200).map(|_| rng.next() as u8)),
                // A garbage file altogether.
                _ => bytes = (0..rng.next() % 500).map(|_| rng.next() as u8).collect(),
            }
            fs::write(&log_path, &bytes).unwrap();
            let index = segment::offset_index_path(dir.path(), 0);
            let garbage: Vec<u8> = (0..(rng.next() % 6) * 8)
                .map(|_| rng.next() as u8)
                .collect();
            fs::write(&index, garbage).unwrap();
            let time_index = segment::time_index_path(dir.path(), 0);
            let garbage: Vec<u8> = (0..(rng.next() % 4) * 12)
                .map(|_| rng.next() as u8)
                .collect();
            fs::write(&time_index, garbage).unwrap();

            let mut log = open(dir.path(), small_config());
            exercise(&log);
            let leo = log.log_end_offset();
            assert_eq!(
                log.append(single("next", 1), NOW).unwrap().first_offset,
                leo
            );
            exercise(&log);
        }
    }

    #[test]
    fn open_removes_leftover_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        log.append(single("a", 1), NOW).unwrap();
        log.close().unwrap();
        for name in [
            "00000000000000000000.log.deleted",
            "00000000000000000000.index.cleaned",
            "log-start-offset.tmp",
            "00000000000000000500.index",
        ] {
            fs::write(dir.path().join(name), b"junk").unwrap();
        }
        let log = open(dir.path(), small_config());
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "00000000000000000000.index",
                "00000000000000000000.log",
                "00000000000000000000.timeindex",
                "00000000000000000001.snapshot",
                // The first append recorded leader epoch 0 starting at offset 0.
                "leader-epoch-checkpoint",
                "log-start-offset",
            ]
        );
        assert_eq!(log.log_end_offset(), 1);
    }
}
