//! One LogSegment: a `.log` file of record batches plus its OffsetIndex, TimeIndex and
//! TransactionIndex (the aborted transactions whose ABORT marker lies in it).
//!
//! A segment is append-only. Its files are named after its base offset (the first offset it
//! may hold) as 20 zero-padded digits, so a directory listing sorts in offset order and the
//! segment holding an offset is the one with the largest base offset not above it.
//!
//! The segment never trusts a length it reads from disk: every header is checked against the
//! bytes that remain in the file before it is used, so a torn or garbled file is detected,
//! never followed.
//!
//! Three parts live in files of their own under `segment/`: the file names (`files.rs`), the
//! header scanner that walks a file's batches for recovery, reads and lookups (`scanner.rs`),
//! and the read path (`read.rs`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::batch::{self, BatchHeader, ValidatedBatch};
use super::error::StorageError;
use super::index::{IndexCapacity, IndexLoad, OffsetIndex, TimeIndex, NO_TIMESTAMP};
use super::remove_if_exists;
use super::txn_index::TransactionIndex;

mod files;
mod read;
mod scanner;

pub use files::{
    file_name_stem, log_file_path, offset_index_path, parse_segment_file_name, swap_path,
    time_index_path, txn_index_path, CLEANED_FILE_SUFFIX, DELETED_FILE_SUFFIX, INDEX_FILE_SUFFIX,
    LOG_FILE_SUFFIX, SWAP_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX,
};
pub use scanner::scan_next_offset;
use scanner::{BatchScanner, Scanned};

/// A byte range of one segment file, whole batches only; readers pread it (or sendfile later).
#[derive(Clone, Debug)]
pub struct FileSlice {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u32,
}

impl FileSlice {
    /// Asks the kernel to start reading the range, and `ahead` bytes past it, into the page
    /// cache (`POSIX_FADV_WILLNEED`: asynchronous, returns at once). A consumer reading a cold
    /// log then finds the next fetch's bytes already cached, and `sendfile` does not stall the
    /// connection's thread on the disk.
    pub fn prefetch(&self, ahead: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: fadvise on an open descriptor; it touches no memory of ours.
        unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                self.position as libc::off_t,
                (self.len as u64 + ahead) as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }

    /// Reads the range into memory with one positional read; the file's cursor is untouched,
    /// so any number of readers can share the handle with the appender.
    pub fn read_bytes(&self) -> io::Result<Bytes> {
        let mut buf = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(Bytes::from(buf))
    }
}

/// Whether a segment's indexes could be trusted when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentHealth {
    /// Index files exist, are whole entries, and agree with the log file's tail.
    Consistent,
    /// Something is off (the reason says what); the segment must be recovered.
    NeedsRecovery(String),
}

/// What a read of one segment produced.
pub struct SegmentRead {
    /// The whole batches read, if any.
    pub slice: Option<FileSlice>,
    /// Offset after the last batch read (meaningless when `slice` is `None`).
    pub next_offset: i64,
    /// True when the read stopped for a limit (bytes, max offset) rather than the segment's
    /// end, so the log must not continue into the next segment.
    pub stopped: bool,
}

/// One segment of a partition's log.
pub struct LogSegment {
    base_offset: i64,
    dir: PathBuf,
    log: Arc<File>,
    /// Bytes of whole batches in the `.log` file; writes go at this position.
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    txn_index: TransactionIndex,
    /// The `.txnindex` was emptied at open (damaged, or the active segment's after an unclean
    /// shutdown); the log's producer-state replay rebuilds it.
    txn_index_needs_rebuild: bool,
    bytes_since_last_index_entry: u64,
    max_timestamp_so_far: i64,
    /// Last offset of the batch that carried `max_timestamp_so_far`.
    offset_of_max_timestamp_so_far: i64,
    /// Offset after the last batch (the base offset while empty).
    next_offset: i64,
    /// Wall-clock time of the first append (or of opening a non-empty segment), which
    /// `segment.ms` counts from.
    rolling_base_ms: Option<i64>,
}

impl LogSegment {
    /// Creates a new, empty active segment, replacing any stale files with its name.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        segment_index_bytes: u32,
    ) -> Result<LogSegment, StorageError> {
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(log_file_path(dir, base_offset))?;
        for path in [
            offset_index_path(dir, base_offset),
            time_index_path(dir, base_offset),
        ] {
            remove_if_exists(&path)?;
        }
        let capacity = IndexCapacity::Preallocated(u64::from(segment_index_bytes));
        let (offset_index, _) =
            OffsetIndex::open(&offset_index_path(dir, base_offset), base_offset, capacity)?;
        let (time_index, _) =
            TimeIndex::open(&time_index_path(dir, base_offset), base_offset, capacity)?;
        let txn_index = TransactionIndex::create(&txn_index_path(dir, base_offset), base_offset)?;
        Ok(LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            log: Arc::new(log),
            size: 0,
            offset_index,
            time_index,
            txn_index,
            txn_index_needs_rebuild: false,
            bytes_since_last_index_entry: 0,
            max_timestamp_so_far: NO_TIMESTAMP,
            offset_of_max_timestamp_so_far: base_offset,
            next_offset: base_offset,
            rolling_base_ms: None,
        })
    }

    /// Opens an existing segment and judges whether its indexes can be trusted. It does not
    /// recover anything itself; the log decides that, knowing whether the shutdown was clean.
    /// `active` preallocates the indexes for appending.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        segment_index_bytes: u32,
        active: bool,
        now_ms: i64,
    ) -> Result<(LogSegment, SegmentHealth), StorageError> {
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(log_file_path(dir, base_offset))?;
        let size = log.metadata()?.len();
        let capacity = if active {
            IndexCapacity::Preallocated(u64::from(segment_index_bytes))
        } else {
            IndexCapacity::UsedSize
        };
        let (offset_index, offset_load) =
            OffsetIndex::open(&offset_index_path(dir, base_offset), base_offset, capacity)?;
        let (time_index, time_load) =
            TimeIndex::open(&time_index_path(dir, base_offset), base_offset, capacity)?;
        let (txn_index, txn_index_needs_rebuild) = open_txn_index(dir, base_offset)?;
        let mut segment = LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            log: Arc::new(log),
            size,
            offset_index,
            time_index,
            txn_index,
            txn_index_needs_rebuild,
            bytes_since_last_index_entry: 0,
            max_timestamp_so_far: NO_TIMESTAMP,
            offset_of_max_timestamp_so_far: base_offset,
            next_offset: base_offset,
            rolling_base_ms: (size > 0).then_some(now_ms),
        };
        let health = match (offset_load, time_load) {
            (IndexLoad::Loaded, IndexLoad::Loaded) => segment.load_state_from_indexes()?,
            (offset_load, time_load) => SegmentHealth::NeedsRecovery(format!(
                "offset index {offset_load:?}, time index {time_load:?}"
            )),
        };
        if !active {
            // Mapped again by the first lookup that lands here.
            segment.release_indexes()?;
        }
        Ok((segment, health))
    }

    /// Fills in next offset, max timestamp and index bookkeeping from trusted-looking indexes,
    /// scanning only the batches after the last offset index entry. Reports any disagreement
    /// between the indexes and the log file.
    fn load_state_from_indexes(&mut self) -> Result<SegmentHealth, StorageError> {
        if let Err(reason) = self.offset_index.sanity_check(self.size) {
            return Ok(SegmentHealth::NeedsRecovery(reason));
        }
        let last_entry = self.offset_index.last_entry();
        let start = u64::from(last_entry.position);
        let mut scanner = BatchScanner::new(&self.log, self.size);
        let mut position = start;
        let mut next_offset = self.base_offset;
        loop {
            let header = match scanner.batch_at(position)? {
                Scanned::End => break,
                Scanned::Defect(reason) => return Ok(SegmentHealth::NeedsRecovery(reason)),
                Scanned::Batch(header) => header,
            };
            let indexed_batch = position == start && self.offset_index.entries() > 0;
            if indexed_batch && header.last_offset() != last_entry.offset {
                return Ok(SegmentHealth::NeedsRecovery(format!(
                    "last offset index entry names offset {} but the batch there ends at {}",
                    last_entry.offset,
                    header.last_offset()
                )));
            }
            if header.base_offset < next_offset {
                return Ok(SegmentHealth::NeedsRecovery(format!(
                    "batch at position {position} goes back to offset {}",
                    header.base_offset
                )));
            }
            next_offset = header.next_offset();
            position += header.size();
        }
        if let Err(reason) = self.time_index.sanity_check(next_offset) {
            return Ok(SegmentHealth::NeedsRecovery(reason));
        }
        let last_time_entry = self.time_index.last_entry();
        self.next_offset = next_offset;
        self.max_timestamp_so_far = last_time_entry.timestamp;
        self.offset_of_max_timestamp_so_far = last_time_entry.offset;
        self.bytes_since_last_index_entry = self.size - start;
        Ok(SegmentHealth::Consistent)
    }

    /// Rebuilds the segment from its `.log` file: validates every batch in turn (framing,
    /// magic, record count, codec, offsets that only rise, CRC), cuts the file at the first
    /// batch that fails, and rebuilds both indexes from the batches kept. Returns how many
    /// bytes were cut off.
    pub fn recover(
        &mut self,
        index_interval_bytes: u32,
        segment_index_bytes: u32,
    ) -> Result<u64, StorageError> {
        let capacity = IndexCapacity::Preallocated(u64::from(segment_index_bytes));
        self.offset_index.reset();
        self.time_index.reset();
        self.offset_index.resize(capacity)?;
        self.time_index.resize(capacity)?;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp_so_far = NO_TIMESTAMP;
        self.offset_of_max_timestamp_so_far = self.base_offset;
        self.next_offset = self.base_offset;

        let log = Arc::clone(&self.log);
        let file_len = log.metadata()?.len();
        let mut scanner = BatchScanner::new(&log, file_len);
        let mut position = 0u64;
        loop {
            match self.validate_stored_batch(&mut scanner, position)? {
                Ok(None) => break,
                Ok(Some(header)) => {
                    self.index_batch(position, &header, index_interval_bytes);
                    self.next_offset = header.next_offset();
                    position += header.size();
                }
                Err(reason) => {
                    tracing::warn!(
                        segment = %log_file_path(&self.dir, self.base_offset).display(),
                        position,
                        reason = %reason,
                        "truncating log segment at the first invalid batch"
                    );
                    break;
                }
            }
        }
        self.size = position;
        // Markers past the cut are gone; so are the entries they wrote.
        self.txn_index.truncate_to(self.next_offset)?;
        let truncated = file_len - position;
        if truncated > 0 {
            log.set_len(position)?;
            log.sync_all()?;
        }
        Ok(truncated)
    }

    /// Checks the stored batch at `position` the way recovery needs: `Ok(None)` at the end of
    /// the file, `Ok(Some)` for a good batch, `Err(reason)` for the first bad one.
    fn validate_stored_batch(
        &self,
        scanner: &mut BatchScanner<'_>,
        position: u64,
    ) -> io::Result<Result<Option<BatchHeader>, String>> {
        let header = match scanner.batch_at(position)? {
            Scanned::End => return Ok(Ok(None)),
            Scanned::Defect(reason) => return Ok(Err(reason)),
            Scanned::Batch(header) => header,
        };
        if let Err(reason) = batch::check_stored_record_count(&header)
            .and_then(|()| batch::check_compression_codec(&header))
        {
            return Ok(Err(reason));
        }
        if header.base_offset < self.next_offset {
            return Ok(Err(format!(
                "batch base offset {} is below the expected {}",
                header.base_offset, self.next_offset
            )));
        }
        let crc = scanner.crc_of_batch(position, &header)?;
        if crc != header.crc {
            return Ok(Err(format!(
                "CRC mismatch (stored {:#x}, computed {crc:#x})",
                header.crc
            )));
        }
        Ok(Ok(Some(header)))
    }

    /// Appends validated batches (offsets already assigned) as one write at the end of the
    /// file, then indexes them. If the write fails, the file is cut back so no partial batch
    /// stays behind.
    pub fn append(
        &mut self,
        bytes: &[u8],
        batches: &[ValidatedBatch],
        index_interval_bytes: u32,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        if let Err(e) = self.log.write_all_at(bytes, self.size) {
            if let Err(cut) = self.log.set_len(self.size) {
                tracing::error!(error = %cut, "could not cut a failed append off the segment");
            }
            return Err(e.into());
        }
        for validated in batches {
            let position = self.size + validated.position as u64;
            self.index_batch(position, &validated.header, index_interval_bytes);
            self.next_offset = validated.header.next_offset();
        }
        self.size += bytes.len() as u64;
        self.rolling_base_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Removes every batch holding an offset at or after `offset`: the batch containing
    /// `offset` and all after it (Kafka's `LogSegment.truncateTo`). The `.log` file is cut and
    /// fsynced, index entries for removed batches are dropped, both indexes are preallocated
    /// again (the segment becomes the active one), and the next offset, largest timestamp and
    /// index bookkeeping are recomputed from the indexes and the batches after the last offset
    /// index entry. Returns how many bytes were removed.
    pub fn truncate_to(
        &mut self,
        offset: i64,
        segment_index_bytes: u32,
    ) -> Result<u64, StorageError> {
        let cut = match self.translate_offset(offset)? {
            Some((position, _)) => position,
            None => self.size,
        };
        self.offset_index.truncate_to_position(cut);
        self.time_index.truncate_to_offset(offset);
        self.txn_index.truncate_to(offset)?;
        let capacity = IndexCapacity::Preallocated(u64::from(segment_index_bytes));
        self.offset_index.resize(capacity)?;
        self.time_index.resize(capacity)?;
        let truncated = self.size - cut;
        if truncated > 0 {
            self.log.set_len(cut)?;
            // A crash must not bring the removed batches back: they may differ from the
            // leader's.
            self.log.sync_all()?;
        }
        self.size = cut;
        self.reload_tail_state()?;
        Ok(truncated)
    }

    /// Recomputes the next offset, the largest timestamp and the bytes since the last index
    /// entry after a truncation. Every batch before the last offset index entry is covered by
    /// the time index's last entry (both are written at the same batches, and the time index
    /// records the largest timestamp so far), so only the batches from that entry on are read.
    fn reload_tail_state(&mut self) -> io::Result<()> {
        let start = u64::from(self.offset_index.last_entry().position).min(self.size);
        let last_time = self.time_index.last_entry();
        let mut max_timestamp = last_time.timestamp;
        let mut offset_of_max_timestamp = last_time.offset;
        let mut next_offset = self.base_offset;
        let mut scanner = BatchScanner::new(&self.log, self.size);
        let mut position = start;
        while let Scanned::Batch(header) = scanner.batch_at(position)? {
            if header.max_timestamp > max_timestamp {
                max_timestamp = header.max_timestamp;
                offset_of_max_timestamp = header.last_offset();
            }
            next_offset = header.next_offset();
            position += header.size();
        }
        self.next_offset = next_offset;
        self.max_timestamp_so_far = max_timestamp;
        self.offset_of_max_timestamp_so_far = offset_of_max_timestamp;
        self.bytes_since_last_index_entry = self.size - start;
        if self.size == 0 {
            self.rolling_base_ms = None;
        }
        Ok(())
    }

    /// Updates max timestamp tracking and adds index entries for one batch, following Kafka's
    /// rule: once at least `index_interval_bytes` were appended since the last entry, the next
    /// batch gets an offset index entry and the time index gets the max timestamp so far.
    fn index_batch(&mut self, position: u64, header: &BatchHeader, index_interval_bytes: u32) {
        if header.max_timestamp > self.max_timestamp_so_far {
            self.max_timestamp_so_far = header.max_timestamp;
            self.offset_of_max_timestamp_so_far = header.last_offset();
        }
        if self.bytes_since_last_index_entry >= u64::from(index_interval_bytes) {
            self.offset_index.append(header.last_offset(), position);
            self.time_index.maybe_append(
                self.max_timestamp_so_far,
                self.offset_of_max_timestamp_so_far,
                false,
            );
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.size();
    }

    /// Prepares the segment for a life as a read-only segment (on roll or close): records the
    /// final max timestamp in the time index so retention knows it after a restart, cuts both
    /// index files to their used size, and fsyncs everything so only the active segment can be
    /// torn by a crash.
    pub fn seal(&mut self) -> Result<(), StorageError> {
        self.time_index.maybe_append(
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
            true,
        );
        self.offset_index.resize(IndexCapacity::UsedSize)?;
        self.time_index.resize(IndexCapacity::UsedSize)?;
        self.flush()
    }

    /// Unmaps both indexes until a lookup needs them (a segment that is no longer appended).
    pub fn release_indexes(&mut self) -> Result<(), StorageError> {
        self.offset_index.release()?;
        self.time_index.release()?;
        Ok(())
    }

    /// Fsyncs the log file and the transaction index and writes the index maps back.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        self.log.sync_data()?;
        metrics::histogram!("troupe_log_flush_seconds").record(started.elapsed().as_secs_f64());
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()?;
        Ok(())
    }

    /// The timestamp retention compares against: the largest record timestamp, or the file's
    /// modification time when no batch carried a timestamp.
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp_so_far > NO_TIMESTAMP {
            return self.max_timestamp_so_far;
        }
        self.log
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(NO_TIMESTAMP)
    }

    /// Whether an index has no room left, which forces a roll.
    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    /// Removes the segment's files. The `.log` is renamed to `.deleted` first: segments are
    /// found by their `.log` names, so a crash part-way leaves no half segment, only leftovers
    /// that the next open removes. Readers holding a [`FileSlice`] keep reading the unlinked
    /// file.
    pub fn delete(self) -> Result<(), StorageError> {
        let paths = [
            log_file_path(&self.dir, self.base_offset),
            offset_index_path(&self.dir, self.base_offset),
            time_index_path(&self.dir, self.base_offset),
            txn_index_path(&self.dir, self.base_offset),
        ];
        drop(self);
        let mut doomed = Vec::with_capacity(paths.len());
        for path in paths {
            let mut name = path.clone().into_os_string();
            name.push(DELETED_FILE_SUFFIX);
            let target = PathBuf::from(name);
            match fs::rename(&path, &target) {
                Ok(()) => doomed.push(target),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        for path in doomed {
            remove_if_exists(&path)?;
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes of whole batches in the segment.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Offset after the segment's last batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn max_timestamp_so_far(&self) -> i64 {
        self.max_timestamp_so_far
    }

    pub fn rolling_base_ms(&self) -> Option<i64> {
        self.rolling_base_ms
    }

    /// The shared handle of the `.log` file.
    pub fn log_file(&self) -> &Arc<File> {
        &self.log
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// The aborted transactions whose ABORT marker lies in this segment.
    pub fn txn_index(&self) -> &TransactionIndex {
        &self.txn_index
    }

    pub fn txn_index_mut(&mut self) -> &mut TransactionIndex {
        &mut self.txn_index
    }

    /// Empties the transaction index and flags it for rebuilding. After an unclean shutdown the
    /// active segment's entries may be torn or missing (they are not fsynced per append), so
    /// the log replays this segment's markers instead of trusting them.
    pub fn discard_txn_index(&mut self) -> io::Result<()> {
        self.txn_index.reset()?;
        self.txn_index_needs_rebuild = true;
        Ok(())
    }

    /// Whether the `.txnindex` found at open was damaged or discarded and is empty now, so the
    /// log must rebuild it from the markers in this segment.
    pub fn txn_index_needs_rebuild(&self) -> bool {
        self.txn_index_needs_rebuild
    }

    /// Records that the log replayed this segment's markers into its `.txnindex`.
    pub fn mark_txn_index_rebuilt(&mut self) {
        self.txn_index_needs_rebuild = false;
    }
}

/// Loads a segment's transaction index; a damaged one is emptied and reported for rebuilding.
fn open_txn_index(dir: &Path, base_offset: i64) -> io::Result<(TransactionIndex, bool)> {
    let path = txn_index_path(dir, base_offset);
    let (mut index, health) = TransactionIndex::open(&path, base_offset)?;
    match health {
        Ok(()) => Ok((index, false)),
        Err(reason) => {
            tracing::warn!(file = %path.display(), reason = %reason, "transaction index is damaged; rebuilding it");
            index.reset()?;
            Ok((index, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::encode_batch;

    #[test]
    fn segment_file_names_are_twenty_digits() {
        assert_eq!(file_name_stem(42), "00000000000000000042");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log", LOG_FILE_SUFFIX),
            Some(42)
        );
        for bad in [
            "42.log",
            "0000000000000000004x.log",
            "00000000000000000042.index",
            "x",
        ] {
            assert_eq!(parse_segment_file_name(bad, LOG_FILE_SUFFIX), None, "{bad}");
        }
        assert_eq!(
            parse_segment_file_name("99999999999999999999.log", LOG_FILE_SUFFIX),
            None,
            "beyond i64"
        );
    }

    /// Appends `count` one-record batches at offsets base.. and returns their positions.
    fn append_batches(segment: &mut LogSegment, base: i64, count: i64) -> Vec<u64> {
        let mut positions = Vec::new();
        for i in 0..count {
            let mut bytes = encode_batch(&[format!("v{i}").as_bytes()], &[1000 + i]).to_vec();
            batch::write_base_offset(&mut bytes, base + i);
            let header = BatchHeader::parse(&bytes).unwrap();
            positions.push(segment.size());
            segment
                .append(
                    &bytes,
                    &[ValidatedBatch {
                        position: 0,
                        header,
                    }],
                    64,
                    0,
                )
                .unwrap();
        }
        positions
    }

    #[test]
    fn translate_offset_finds_every_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = LogSegment::create(dir.path(), 100, 4096).unwrap();
        let positions = append_batches(&mut segment, 100, 200);
        assert!(segment.offset_index().entries() > 10);
        for (i, &position) in positions.iter().enumerate() {
            let (found, header) = segment.translate_offset(100 + i as i64).unwrap().unwrap();
            assert_eq!(found, position);
            assert_eq!(header.base_offset, 100 + i as i64);
        }
        assert!(segment.translate_offset(300).unwrap().is_none());
        assert_eq!(segment.next_offset(), 300);
        assert_eq!(segment.max_timestamp_so_far(), 1199);
    }

    #[test]
    fn recover_rebuilds_the_same_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = LogSegment::create(dir.path(), 0, 4096).unwrap();
        append_batches(&mut segment, 0, 100);
        let offset_entries = segment.offset_index().entries();
        let time_entries = segment.time_index().entries();
        let lookups: Vec<_> = (0..100).map(|o| segment.offset_index().lookup(o)).collect();
        assert_eq!(segment.recover(64, 4096).unwrap(), 0);
        assert_eq!(segment.offset_index().entries(), offset_entries);
        assert_eq!(segment.time_index().entries(), time_entries);
        let rebuilt: Vec<_> = (0..100).map(|o| segment.offset_index().lookup(o)).collect();
        assert_eq!(lookups, rebuilt);
    }

    #[test]
    fn read_stops_at_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = LogSegment::create(dir.path(), 0, 4096).unwrap();
        let positions = append_batches(&mut segment, 0, 5);
        let one = positions[1];
        let read = segment.read(0, one * 2, i64::MAX, false).unwrap();
        assert_eq!(read.slice.unwrap().len as u64, one * 2);
        assert!(read.stopped);
        let read = segment.read(0, u64::MAX, 3, false).unwrap();
        assert_eq!(read.slice.unwrap().len as u64, positions[3]);
        assert!(read.stopped);
        let read = segment
            .read(positions[4], u64::MAX, i64::MAX, false)
            .unwrap();
        assert!(!read.stopped);
        assert_eq!(
            read.slice.unwrap().len as u64,
            segment.size() - positions[4]
        );
        let read = segment.read(0, 1, i64::MAX, false).unwrap();
        assert!(read.slice.is_none());
        let read = segment.read(0, 1, i64::MAX, true).unwrap();
        assert_eq!(read.slice.unwrap().len as u64, one);
    }

    /// A read that skips ahead through the offset index returns exactly what reading every
    /// header would: the same whole batches, next offset and reason to stop.
    #[test]
    #[allow(clippy::needless_range_loop)] // batch numbers are offsets, not just indexes
    fn read_through_the_index_matches_a_header_by_header_scan() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = LogSegment::create(dir.path(), 0, 4096).unwrap();
        let count = 30;
        let mut positions = append_batches(&mut segment, 0, count);
        assert!(
            segment.offset_index().entries() > 5,
            "the index has entries to skip to"
        );
        positions.push(segment.size());
        let size_of = |i: usize| positions[i + 1] - positions[i];
        for start in 0..count as usize {
            for max_bytes in [0, 1, 70, 150, 500, 1_000, 1_500, u64::MAX] {
                for max_offset in [0, 3, 10, 17, 29, 30, i64::MAX] {
                    for min_one_batch in [false, true] {
                        // Reference: batch by batch (batch i holds offset i).
                        let (mut len, mut last, mut stopped) = (0u64, None, false);
                        for i in start..count as usize {
                            let fits = len + size_of(i) <= max_bytes || (len == 0 && min_one_batch);
                            if (i as i64) >= max_offset || !fits {
                                stopped = true;
                                break;
                            }
                            len += size_of(i);
                            last = Some(i as i64);
                        }
                        let read = segment
                            .read(positions[start], max_bytes, max_offset, min_one_batch)
                            .unwrap();
                        let case = format!("start {start} max_bytes {max_bytes} max_offset {max_offset} min_one {min_one_batch}");
                        assert_eq!(read.slice.map_or(0, |s| s.len as u64), len, "{case}");
                        assert_eq!(read.stopped, stopped, "{case}");
                        if let Some(last) = last {
                            assert_eq!(read.next_offset, last + 1, "{case}");
                        }
                    }
                }
            }
        }
    }
}
