//! The sparse per-segment indexes: `.index` (OffsetIndex) and `.timeindex` (TimeIndex).
//!
//! Both are arrays of fixed-size big-endian entries in a memory-mapped file. The active
//! segment's files are preallocated to `segment_index_bytes` so appends are plain stores into
//! the map; when a segment stops being active its files are cut back to the used size, which is
//! also how a reopened broker knows how many entries there are. Entries are only hints for where
//! to start scanning the log, so a missing entry costs a longer scan, never a wrong answer; that
//! is why appends that cannot be recorded (index full, offset too far from the base) are
//! silently skipped instead of failing the produce.

use std::fs::OpenOptions;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::{MmapMut, MmapOptions};

/// Size of one `.index` entry: relative offset u32, file position u32.
pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;
/// Size of one `.timeindex` entry: timestamp i64, relative offset u32.
pub const TIME_INDEX_ENTRY_SIZE: usize = 12;
/// Timestamp Kafka uses for "none".
pub const NO_TIMESTAMP: i64 = -1;

/// What opening an index file found, so the segment can decide whether to rebuild it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexLoad {
    /// The file existed and held a whole number of entries.
    Loaded,
    /// The file did not exist and was created empty.
    Created,
    /// The file's size was not a whole number of entries; it was emptied.
    Misaligned,
}

/// How large an index file should be mapped.
#[derive(Clone, Copy, Debug)]
pub enum IndexCapacity {
    /// Exactly the entries present: an inactive segment that will never grow.
    UsedSize,
    /// Preallocated to this many bytes (rounded down to whole entries): the active segment.
    Preallocated(u64),
}

/// A memory-mapped file of fixed-size entries; the storage both index kinds share.
///
/// No file descriptor is kept: a mapping stays valid after its descriptor is closed, and a
/// broker with 10,000 partitions would otherwise hold 20,000 descriptors for indexes alone.
/// `resize` reopens the file by path for the moment it needs one.
///
/// The mapping itself is made on first use and can be given back ([`release`]): a sealed
/// segment's index is only read when a fetch or a timestamp lookup lands in that segment, so
/// the segment drops its mapping after opening or sealing, and idle segments hold neither
/// resident pages nor a mapping (the kernel's `vm.max_map_count` would otherwise bound
/// partitions × segments). Kafka's `LazyIndex` does the same.
struct IndexFile {
    path: PathBuf,
    /// The file mapped at its current length, made on first access; `None` inside when the
    /// file is empty or could not be mapped (then it reads as having no entries: entries are
    /// hints, so lookups scan from the segment's start, slower but right).
    map: OnceLock<Option<MmapMut>>,
    /// The file's length (what a mapping covers).
    len: usize,
    entry_size: usize,
    entries: usize,
    /// Entries written since the last msync; a clean map is never synced (msync of a 10 MiB
    /// mapping costs about a millisecond, times every partition at startup).
    dirty: bool,
}

impl IndexFile {
    /// Opens or creates the file and sets it to the requested capacity.
    fn open(
        path: &Path,
        entry_size: usize,
        capacity: IndexCapacity,
    ) -> io::Result<(IndexFile, IndexLoad)> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        let (entries, load) = if !existed {
            (0, IndexLoad::Created)
        } else if len % entry_size as u64 != 0 {
            file.set_len(0)?;
            (0, IndexLoad::Misaligned)
        } else {
            (
                usize::try_from(len / entry_size as u64).map_err(io::Error::other)?,
                IndexLoad::Loaded,
            )
        };
        drop(file);
        let mut index = IndexFile {
            path: path.to_path_buf(),
            map: OnceLock::from(None),
            len: 0,
            entry_size,
            entries,
            dirty: false,
        };
        index.resize(capacity)?;
        Ok((index, load))
    }

    /// Sets the file length for `capacity` (never below the entries in use). The file is
    /// mapped again on next use.
    fn resize(&mut self, capacity: IndexCapacity) -> io::Result<()> {
        let used = (self.entries * self.entry_size) as u64;
        let wanted = match capacity {
            IndexCapacity::UsedSize => used,
            IndexCapacity::Preallocated(bytes) => {
                (bytes - bytes % self.entry_size as u64).max(used)
            }
        };
        // Drop the old mapping before changing the length so no access can hit a page beyond
        // the end of the file.
        self.release()?;
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        file.set_len(wanted)?;
        self.len = usize::try_from(wanted).map_err(io::Error::other)?;
        Ok(())
    }

    /// Syncs what was written and unmaps the file; the next access maps it again.
    fn release(&mut self) -> io::Result<()> {
        self.flush()?;
        self.map = OnceLock::new();
        Ok(())
    }

    /// Maps the file at its current length (None when empty or when mapping fails: logged).
    fn map_file(&self) -> Option<MmapMut> {
        if self.len == 0 {
            return None;
        }
        let mapped = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .and_then(|file| {
                // SAFETY: the file is private to this segment, opened read-write, and only
                // this process changes its length, always through `resize`, which drops the
                // mapping first. The map covers exactly the file's length.
                unsafe { MmapOptions::new().len(self.len).map_mut(&file) }
            })
            .and_then(|map| {
                // Index pages are touched one at a time (appends at the end, binary
                // searches). Without this, a fault on the sparse preallocated tail reads
                // around it: the kernel allocates and zero-fills large page-cache folios, which
                // cost most of the broker's CPU when many partitions each append small batches
                // and count as resident memory of every active segment.
                map.advise(memmap2::Advice::Random)?;
                Ok(map)
            });
        match mapped {
            Ok(map) => Some(map),
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "cannot map an index file: lookups in its segment scan from the start");
                None
            }
        }
    }

    /// The mapped bytes, mapping the file first if needed.
    fn bytes(&self) -> &[u8] {
        self.map
            .get_or_init(|| self.map_file())
            .as_deref()
            .unwrap_or(&[])
    }

    /// The mapping to write through, mapping the file first if needed.
    fn bytes_mut(&mut self) -> Option<&mut MmapMut> {
        if self.map.get().is_none() {
            self.map = OnceLock::from(self.map_file());
        }
        self.map.get_mut().and_then(Option::as_mut)
    }

    /// Entries that can be read: all of them unless the file could not be mapped.
    fn readable_entries(&self) -> usize {
        self.entries.min(self.bytes().len() / self.entry_size)
    }

    fn max_entries(&self) -> usize {
        self.len / self.entry_size
    }

    /// Entry `n`, which must be below `readable_entries()`.
    fn entry(&self, n: usize) -> &[u8] {
        &self.bytes()[n * self.entry_size..(n + 1) * self.entry_size]
    }

    /// Stores one entry after the last; false when the map has no room.
    fn push(&mut self, entry: &[u8]) -> bool {
        if self.entries >= self.max_entries() || entry.len() != self.entry_size {
            return false;
        }
        let (start, size) = (self.entries * self.entry_size, self.entry_size);
        let Some(map) = self.bytes_mut() else {
            return false;
        };
        map[start..start + size].copy_from_slice(entry);
        self.entries += 1;
        self.dirty = true;
        true
    }

    /// Index of the last entry whose key is <= `target`, for keys that never decrease.
    fn largest_lower_bound(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Option<usize> {
        self.last_where(|raw| key(raw) <= target)
    }

    /// Index of the last entry for which `pred` holds, for a `pred` that holds for a prefix of
    /// the entries (true, ..., true, false, ..., false).
    fn last_where(&self, pred: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let (mut low, mut high) = (0usize, self.readable_entries());
        while low < high {
            let mid = low + (high - low) / 2;
            if pred(self.entry(mid)) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1)
    }

    /// Makes the index empty (before a rebuild) without giving back its capacity.
    fn reset(&mut self) {
        self.entries = 0;
    }

    /// Writes dirty pages of the map to disk.
    fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some(map) = self.map.get().and_then(Option::as_ref) {
                map.flush()?;
            }
            self.dirty = false;
        }
        Ok(())
    }
}

fn be_u32(buf: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&buf[at..at + 4]);
    u32::from_be_bytes(raw)
}

fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(raw)
}

/// Offset relative to a segment's base offset, if it fits the u32 an index entry stores.
fn relative_offset(base_offset: i64, offset: i64) -> Option<u32> {
    offset
        .checked_sub(base_offset)
        .and_then(|delta| u32::try_from(delta).ok())
}

/// An entry of a segment index as the file stores it: `SIZE` big-endian bytes, its offset
/// relative to the segment's base offset.
pub trait IndexEntry: Copy {
    /// Bytes one entry takes in the file.
    const SIZE: usize;
    /// Reads an entry of the segment starting at `base_offset` from its `SIZE` bytes.
    fn decode(base_offset: i64, raw: &[u8]) -> Self;
    /// What stands for "no entry": the start of the segment starting at `base_offset`.
    fn segment_start(base_offset: i64) -> Self;
}

/// The sparse index of one segment, of entries `E`: [`OffsetIndex`] or [`TimeIndex`]. What the
/// two share (the file, its life from open to release, reading an entry) is written once here;
/// what each records and looks up is in its own impl block.
pub struct SegmentIndex<E> {
    base_offset: i64,
    file: IndexFile,
    entry: PhantomData<E>,
}

impl<E: IndexEntry> SegmentIndex<E> {
    /// Opens or creates the index file of the segment starting at `base_offset`.
    pub fn open(
        path: &Path,
        base_offset: i64,
        capacity: IndexCapacity,
    ) -> io::Result<(SegmentIndex<E>, IndexLoad)> {
        let (file, load) = IndexFile::open(path, E::SIZE, capacity)?;
        let index = SegmentIndex {
            base_offset,
            file,
            entry: PhantomData,
        };
        Ok((index, load))
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    pub fn entries(&self) -> usize {
        self.file.entries
    }

    fn entry(&self, n: usize) -> E {
        E::decode(self.base_offset, self.file.entry(n))
    }

    /// Entry `n` if there is one, else the segment's start.
    fn entry_or_start(&self, n: Option<usize>) -> E {
        n.map(|n| self.entry(n))
            .unwrap_or_else(|| E::segment_start(self.base_offset))
    }

    /// The last entry, or the segment's start when there is none.
    pub fn last_entry(&self) -> E {
        self.entry_or_start(self.file.readable_entries().checked_sub(1))
    }

    /// Empties the index before it is rebuilt from the log.
    pub fn reset(&mut self) {
        self.file.reset();
    }

    /// Remaps with a new capacity (preallocated for the active segment, exact otherwise).
    pub fn resize(&mut self, capacity: IndexCapacity) -> io::Result<()> {
        self.file.resize(capacity)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Syncs and unmaps the file until the next lookup maps it again (a sealed segment).
    pub fn release(&mut self) -> io::Result<()> {
        self.file.release()
    }

    /// Whether the file is mapped right now.
    pub fn is_mapped(&self) -> bool {
        self.file.map.get().is_some_and(Option::is_some)
    }
}

/// An `.index` entry: a batch's offset and the file position the batch starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

impl IndexEntry for OffsetPosition {
    const SIZE: usize = OFFSET_INDEX_ENTRY_SIZE;

    fn decode(base_offset: i64, raw: &[u8]) -> OffsetPosition {
        OffsetPosition {
            offset: base_offset + i64::from(be_u32(raw, 0)),
            position: be_u32(raw, 4),
        }
    }

    /// (base offset, 0).
    fn segment_start(base_offset: i64) -> OffsetPosition {
        OffsetPosition {
            offset: base_offset,
            position: 0,
        }
    }
}

/// Maps offsets to positions in the segment's `.log` file, one entry every
/// `index_interval_bytes` of appended batches.
pub type OffsetIndex = SegmentIndex<OffsetPosition>;

impl OffsetIndex {
    /// True when no further entry fits; the log rolls the segment rather than go unindexed.
    pub fn is_full(&self) -> bool {
        self.file.entries >= self.file.max_entries()
    }

    /// Records that the batch holding `offset` starts at `position`. Skipped (returns false)
    /// when the index is full, the offset does not increase, or either value does not fit the
    /// entry's u32 fields.
    pub fn append(&mut self, offset: i64, position: u64) -> bool {
        let (Some(relative), Ok(position)) = (
            relative_offset(self.base_offset, offset),
            u32::try_from(position),
        ) else {
            return false;
        };
        if self.file.entries > 0 && offset <= self.last_entry().offset {
            return false;
        }
        let mut entry = [0u8; OFFSET_INDEX_ENTRY_SIZE];
        entry[..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&entry)
    }

    /// The entry with the largest offset <= `target_offset`, or (base offset, 0): the place to
    /// start scanning for the batch that contains `target_offset`.
    pub fn lookup(&self, target_offset: i64) -> OffsetPosition {
        let base = self.base_offset;
        self.entry_or_start(
            self.file
                .largest_lower_bound(target_offset, |raw| base + i64::from(be_u32(raw, 0))),
        )
    }

    /// The last entry whose batch starts at or before `max_position` and ends below
    /// `end_offset`: every batch before that position lies whole within both bounds, so a read
    /// can take them without reading their headers.
    pub fn last_entry_within(&self, max_position: u64, end_offset: i64) -> Option<OffsetPosition> {
        let base = self.base_offset;
        self.file
            .last_where(|raw| {
                u64::from(be_u32(raw, 4)) <= max_position
                    && base + i64::from(be_u32(raw, 0)) < end_offset
            })
            .map(|n| self.entry(n))
    }

    /// Checks what a cheap look can: the last entry must point inside the log and must not
    /// repeat the one before it (a preallocated file left by a crash ends in zero entries).
    pub fn sanity_check(&self, log_size: u64) -> Result<(), String> {
        let entries = self.file.readable_entries();
        if entries == 0 {
            return Ok(());
        }
        let last = self.entry(entries - 1);
        if u64::from(last.position) >= log_size {
            return Err(format!(
                "last offset index entry points at position {} beyond log size {log_size}",
                last.position
            ));
        }
        if entries > 1 {
            let before = self.entry(entries - 2);
            if last.offset <= before.offset || last.position <= before.position {
                return Err("offset index entries do not increase at its end".into());
            }
        }
        Ok(())
    }

    /// Drops entries from the first one at or past `position` (the log was cut there).
    pub fn truncate_to_position(&mut self, position: u64) {
        while self.file.entries > 0 && u64::from(self.last_entry().position) >= position {
            self.file.entries -= 1;
        }
    }
}

/// A `.timeindex` entry: the largest timestamp seen so far in the segment and the offset of
/// the batch that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

impl IndexEntry for TimestampOffset {
    const SIZE: usize = TIME_INDEX_ENTRY_SIZE;

    fn decode(base_offset: i64, raw: &[u8]) -> TimestampOffset {
        TimestampOffset {
            timestamp: be_i64(raw, 0),
            offset: base_offset + i64::from(be_u32(raw, 8)),
        }
    }

    /// (NO_TIMESTAMP, base offset).
    fn segment_start(base_offset: i64) -> TimestampOffset {
        TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: base_offset,
        }
    }
}

/// Maps timestamps to offsets. Timestamps only rise from entry to entry, so a binary search
/// finds the place to start scanning for the first batch at or after a given time.
pub type TimeIndex = SegmentIndex<TimestampOffset>;

impl TimeIndex {
    /// True when only the slot kept for the segment's final entry is left. That last slot is
    /// reserved so that rolling can always record the segment's largest timestamp, which
    /// retention needs after a restart.
    pub fn is_full(&self) -> bool {
        self.file.entries + 1 >= self.file.max_entries()
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last entry's. Regular
    /// appends leave the final slot free; `is_final` (the entry written when the segment stops
    /// being active) may use it.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, is_final: bool) -> bool {
        let Some(relative) = relative_offset(self.base_offset, offset) else {
            return false;
        };
        let last = self.last_entry();
        let increases =
            self.file.entries == 0 || (timestamp > last.timestamp && offset >= last.offset);
        if !increases || timestamp <= NO_TIMESTAMP || (!is_final && self.is_full()) {
            return false;
        }
        let mut entry = [0u8; TIME_INDEX_ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&relative.to_be_bytes());
        self.file.push(&entry)
    }

    /// The entry with the largest timestamp <= `timestamp`, or (NO_TIMESTAMP, base offset).
    /// Every batch before that entry's offset has a max timestamp below the entry's, so the
    /// first batch reaching `timestamp` is at or after it.
    pub fn lookup(&self, timestamp: i64) -> TimestampOffset {
        self.entry_or_start(
            self.file
                .largest_lower_bound(timestamp, |raw| be_i64(raw, 0)),
        )
    }

    /// Checks the last entry refers to an offset below `next_offset` (the segment's end) and
    /// rises above the entry before it.
    pub fn sanity_check(&self, next_offset: i64) -> Result<(), String> {
        let entries = self.file.readable_entries();
        if entries == 0 {
            return Ok(());
        }
        let last = self.entry(entries - 1);
        if last.offset >= next_offset {
            return Err(format!(
                "last time index entry refers to offset {} at or past the segment end {next_offset}",
                last.offset
            ));
        }
        if entries > 1 {
            let before = self.entry(entries - 2);
            if last.timestamp <= before.timestamp || last.offset < before.offset {
                return Err("time index entries do not increase at its end".into());
            }
        }
        Ok(())
    }

    /// Drops the entries naming an offset at or after `offset` (the log was truncated there).
    pub fn truncate_to_offset(&mut self, offset: i64) {
        while self.file.entries > 0 && self.last_entry().offset >= offset {
            self.file.entries -= 1;
            self.file.dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_finds_largest_entry_not_above_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let (mut index, load) =
            OffsetIndex::open(&path, 100, IndexCapacity::Preallocated(1024)).unwrap();
        assert_eq!(load, IndexLoad::Created);
        for i in 1..=50u64 {
            assert!(index.append(100 + (i as i64) * 10, i * 1000));
        }
        assert_eq!(
            index.lookup(50),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        assert_eq!(
            index.lookup(109),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        assert_eq!(
            index.lookup(110),
            OffsetPosition {
                offset: 110,
                position: 1000
            }
        );
        assert_eq!(
            index.lookup(255),
            OffsetPosition {
                offset: 250,
                position: 15_000
            }
        );
        assert_eq!(
            index.lookup(10_000),
            OffsetPosition {
                offset: 600,
                position: 50_000
            }
        );
        // Offsets must increase.
        assert!(!index.append(600, 60_000));
        assert!(!index.append(100 + (1i64 << 33), 60_000));
    }

    #[test]
    fn offset_index_survives_trim_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        {
            let (mut index, _) =
                OffsetIndex::open(&path, 0, IndexCapacity::Preallocated(4096)).unwrap();
            index.append(5, 100);
            index.append(9, 200);
            index.resize(IndexCapacity::UsedSize).unwrap();
            assert!(index.is_full());
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
        let (index, load) = OffsetIndex::open(&path, 0, IndexCapacity::UsedSize).unwrap();
        assert_eq!(load, IndexLoad::Loaded);
        assert_eq!(index.entries(), 2);
        assert_eq!(
            index.lookup(8),
            OffsetPosition {
                offset: 5,
                position: 100
            }
        );
        assert!(index.sanity_check(300).is_ok());
        assert!(index.sanity_check(200).is_err());
    }

    #[test]
    fn misaligned_or_zero_padded_index_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.index");
        std::fs::write(&path, [1u8; 13]).unwrap();
        let (index, load) = OffsetIndex::open(&path, 0, IndexCapacity::UsedSize).unwrap();
        assert_eq!(load, IndexLoad::Misaligned);
        assert_eq!(index.entries(), 0);
        drop(index);
        let mut padded = vec![0u8; 64];
        padded[..8].copy_from_slice(&[0, 0, 0, 3, 0, 0, 0, 10]);
        std::fs::write(&path, padded).unwrap();
        let (index, _) = OffsetIndex::open(&path, 0, IndexCapacity::UsedSize).unwrap();
        assert!(index.sanity_check(1000).is_err());
    }

    #[test]
    fn time_index_keeps_rising_timestamps_and_reserves_final_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.timeindex");
        let (mut index, _) = TimeIndex::open(&path, 10, IndexCapacity::Preallocated(36)).unwrap();
        assert!(index.maybe_append(1000, 12, false));
        assert!(!index.maybe_append(900, 13, false));
        assert!(index.maybe_append(2000, 15, false));
        assert!(index.is_full());
        assert!(!index.maybe_append(3000, 18, false));
        assert!(index.maybe_append(3000, 18, true));
        assert_eq!(index.lookup(999).offset, 10);
        assert_eq!(index.lookup(999).timestamp, NO_TIMESTAMP);
        assert_eq!(
            index.lookup(1500),
            TimestampOffset {
                timestamp: 1000,
                offset: 12
            }
        );
        assert_eq!(
            index.lookup(5000),
            TimestampOffset {
                timestamp: 3000,
                offset: 18
            }
        );
        assert!(index.sanity_check(19).is_ok());
        assert!(index.sanity_check(18).is_err());
    }
}
