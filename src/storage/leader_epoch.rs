//! LeaderEpochFileCache: which leader epoch each stretch of a partition's log was written in,
//! as (epoch, start offset) pairs, kept in the partition directory's `leader-epoch-checkpoint`.
//!
//! A leader records the epoch it was elected with and the log end offset at that moment; a
//! follower records every newer epoch it sees in the batches it copies (their
//! `partitionLeaderEpoch`). With that history a follower that comes back after a leader change
//! asks the new leader where its own last epoch ended (OffsetForLeaderEpoch) and truncates the
//! records the leader never had, instead of trusting a high watermark that may lie.
//!
//! The file is Kafka's text checkpoint: a version line (`0`), a line with the number of
//! entries, then one `epoch start_offset` line per entry, oldest first. Every change is written
//! whole to a temporary file, fsynced, renamed over the old one, and the directory fsynced, so
//! a crash leaves either the old or the new history. A missing or unreadable file loads as an
//! empty cache, and the log, which knows its batches, rebuilds it (see
//! [`LeaderEpochCache::open`]).
//!
//! Invariants (Kafka's): entries rise strictly in both epoch and start offset; an epoch, once
//! given a start offset, keeps it unless an assignment brings an earlier one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::checkpoint;

/// Name of the checkpoint file in a partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// OffsetForLeaderEpoch's UNDEFINED_EPOCH.
pub const UNDEFINED_EPOCH: i32 = -1;
/// OffsetForLeaderEpoch's UNDEFINED_EPOCH_OFFSET.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// Format version on the file's first line.
const CHECKPOINT_VERSION: u32 = 0;
/// A checkpoint larger than this is not ours; it is treated as damaged rather than read whole.
const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;

/// One leader epoch and the first offset written in it (Kafka's `EpochEntry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// How the checkpoint file looked when the cache was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointLoad {
    /// Read whole; the entries are the file's.
    Loaded,
    /// There was no file.
    Missing,
    /// The file could not be parsed (the reason says why); the cache starts empty.
    Corrupt(String),
}

/// A partition's leader epoch history, in memory and on disk.
#[derive(Debug)]
pub struct LeaderEpochCache {
    dir: PathBuf,
    /// Rising in epoch and in start offset.
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Loads `dir/leader-epoch-checkpoint`. A missing or damaged file gives an empty cache (a
    /// damaged one is logged); [`CheckpointLoad`] says which, so the caller can rebuild the
    /// history from its batches. Entries that break the ordering are dropped the way
    /// [`assign`](Self::assign) would drop them.
    pub fn open(dir: &Path) -> io::Result<(LeaderEpochCache, CheckpointLoad)> {
        let mut cache = LeaderEpochCache {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        };
        let path = cache.path();
        let text = match read_capped(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((cache, CheckpointLoad::Missing));
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let reason = e.to_string();
                tracing::warn!(path = %path.display(), reason = %reason, "leader epoch checkpoint is unreadable; starting from an empty cache");
                return Ok((cache, CheckpointLoad::Corrupt(reason)));
            }
            Err(e) => return Err(e),
        };
        match parse_checkpoint(&text) {
            Ok(entries) => {
                for entry in entries {
                    cache.assign_in_memory(entry);
                }
                Ok((cache, CheckpointLoad::Loaded))
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), reason = %reason, "leader epoch checkpoint is damaged; starting from an empty cache");
                Ok((cache, CheckpointLoad::Corrupt(reason)))
            }
        }
    }

    /// Path of the checkpoint file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE)
    }

    /// Records that `epoch` starts at `start_offset` (Kafka's `assign`), and writes the file if
    /// that changed anything. Nothing changes when `epoch` is the latest epoch and
    /// `start_offset` is not below its start (an epoch keeps its first start offset). Otherwise
    /// the entries that would break the ordering are removed first, newest first, while they
    /// have an epoch at or above `epoch` or a start offset at or above `start_offset`; so an
    /// older epoch, or the latest one at an earlier offset, replaces the entries after it.
    /// Negative epochs or offsets are refused (`InvalidInput`), as Kafka refuses them.
    /// Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> io::Result<bool> {
        if epoch < 0 || start_offset < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid leader epoch entry ({epoch}, {start_offset})"),
            ));
        }
        let entry = EpochEntry {
            epoch,
            start_offset,
        };
        if !self.assign_in_memory(entry) {
            return Ok(false);
        }
        self.write()?;
        Ok(true)
    }

    /// [`assign`](Self::assign) without the write; returns whether anything changed.
    fn assign_in_memory(&mut self, entry: EpochEntry) -> bool {
        let update_needed = self.entries.last().is_none_or(|latest| {
            entry.epoch != latest.epoch || entry.start_offset < latest.start_offset
        });
        if !update_needed {
            return false;
        }
        let mut removed = Vec::new();
        while let Some(last) = self.entries.last() {
            if last.epoch >= entry.epoch || last.start_offset >= entry.start_offset {
                removed.extend(self.entries.pop());
            } else {
                break;
            }
        }
        // Removing an entry for the same start offset means no data was written in it: the
        // expected case when a leader is re-elected before appending. Anything else is a
        // conflict worth a warning.
        if removed.len() > 1
            || removed
                .first()
                .is_some_and(|r| r.start_offset != entry.start_offset)
        {
            tracing::warn!(dir = %self.dir.display(), new = ?entry, removed = ?removed, "new leader epoch entry truncated conflicting entries");
        }
        self.entries.push(entry);
        true
    }

    /// The latest epoch, if any was recorded.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn earliest_entry(&self) -> Option<EpochEntry> {
        self.entries.first().copied()
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The epoch the record at `offset` was written in: the latest entry starting at or
    /// before it (Kafka's `epochForOffset`).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .take_while(|e| e.start_offset <= offset)
            .last()
            .map(|e| e.epoch)
    }

    /// OffsetForLeaderEpoch for `requested_epoch` on a log ending at `log_end_offset`, as
    /// (epoch, end offset) (Kafka's `endOffsetFor`):
    /// - the latest epoch → (it, `log_end_offset`), the leader still writing in it;
    /// - an older epoch → the largest epoch at or below it, ending where the next larger
    ///   epoch starts;
    /// - an epoch below every entry → (the requested epoch, the first entry's start offset):
    ///   the history before it is gone, and the follower may keep what precedes that offset;
    /// - `UNDEFINED_EPOCH`, an epoch above the latest, or an empty cache → `None`, which the
    ///   wire answers as (`UNDEFINED_EPOCH`, `UNDEFINED_EPOCH_OFFSET`).
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        if requested_epoch == UNDEFINED_EPOCH {
            return None;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return Some((requested_epoch, log_end_offset));
        }
        // The first entry with a larger epoch; none means the request is above the latest.
        let higher = self
            .entries
            .iter()
            .position(|e| e.epoch > requested_epoch)?;
        let end_offset = self.entries[higher].start_offset;
        match higher.checked_sub(1) {
            Some(floor) => Some((self.entries[floor].epoch, end_offset)),
            None => Some((requested_epoch, end_offset)),
        }
    }

    /// Drops every entry starting at or after `end_offset` (the log was truncated there), and
    /// writes the file if any went (Kafka's `truncateFromEnd`). A negative offset does nothing.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> io::Result<()> {
        if end_offset < 0 {
            return Ok(());
        }
        let keep = self
            .entries
            .partition_point(|e| e.start_offset < end_offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.write()
    }

    /// Forgets the history before `start_offset` (the log start moved there), and writes the
    /// file if anything changed (Kafka's `truncateFromStart`): the entries starting at or
    /// before it go, except that the epoch covering `start_offset` stays, now starting there.
    /// A negative offset does nothing.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> io::Result<()> {
        if start_offset < 0 {
            return Ok(());
        }
        let covered = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        let Some(covering) = covered.checked_sub(1) else {
            return Ok(());
        };
        if covering == 0 && self.entries[0].start_offset == start_offset {
            return Ok(());
        }
        let epoch = self.entries[covering].epoch;
        self.entries.drain(..covering);
        self.entries[0] = EpochEntry {
            epoch,
            start_offset,
        };
        self.write()
    }

    /// Drops every entry and writes the empty file (Kafka's `clearAndFlush`).
    pub fn clear(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.write()
    }

    /// Replaces the whole history (a rebuild from the log's batches) and writes it. The
    /// entries go through the same ordering rules as [`assign`](Self::assign).
    pub fn replace(&mut self, entries: &[EpochEntry]) -> io::Result<()> {
        self.entries.clear();
        for entry in entries {
            if entry.epoch >= 0 && entry.start_offset >= 0 {
                self.assign_in_memory(*entry);
            }
        }
        self.write()
    }

    /// Writes the entries durably: temporary file, fsync, rename, directory fsync.
    fn write(&self) -> io::Result<()> {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        checkpoint::write_file_atomically(&self.dir, LEADER_EPOCH_CHECKPOINT_FILE, text.as_bytes())
    }
}

/// Reads a file as UTF-8, refusing (`InvalidData`) one that is too large or not text.
fn read_capped(path: &Path) -> io::Result<String> {
    let len = fs::metadata(path)?.len();
    if len > MAX_CHECKPOINT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes is too large for a leader epoch checkpoint"),
        ));
    }
    let bytes = fs::read(path)?;
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}

/// Parses Kafka's checkpoint text: version `0`, the entry count, then exactly that many
/// `epoch start_offset` lines (whitespace-separated). Anything else is an error.
fn parse_checkpoint(text: &str) -> Result<Vec<EpochEntry>, String> {
    let mut lines = text.lines();
    let version = lines.next().ok_or("empty file")?.trim();
    if version.parse::<u32>().ok() != Some(CHECKPOINT_VERSION) {
        return Err(format!("unknown version {version:?}"));
    }
    let count_line = lines.next().ok_or("no entry count")?.trim();
    let count: usize = count_line
        .parse()
        .map_err(|_| format!("bad entry count {count_line:?}"))?;
    let mut entries = Vec::new();
    for line in lines.by_ref() {
        if entries.len() == count {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("more than the {count} entries announced"));
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [epoch, offset] = fields[..] else {
            return Err(format!("malformed entry {line:?}"));
        };
        let entry = EpochEntry {
            epoch: epoch
                .parse()
                .map_err(|_| format!("bad epoch in {line:?}"))?,
            start_offset: offset
                .parse()
                .map_err(|_| format!("bad start offset in {line:?}"))?,
        };
        if entry.epoch < 0 || entry.start_offset < 0 {
            return Err(format!("negative entry {line:?}"));
        }
        entries.push(entry);
    }
    if entries.len() != count {
        return Err(format!(
            "{} entries where {count} were announced",
            entries.len()
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry {
            epoch,
            start_offset,
        }
    }

    fn cache_with(dir: &Path, entries: &[(i32, i64)]) -> LeaderEpochCache {
        let (mut cache, load) = LeaderEpochCache::open(dir).unwrap();
        assert_eq!(load, CheckpointLoad::Missing);
        for &(epoch, offset) in entries {
            cache.assign(epoch, offset).unwrap();
        }
        cache
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(i32, i64)> {
        cache
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    fn reopened(dir: &Path) -> Vec<(i32, i64)> {
        let (cache, load) = LeaderEpochCache::open(dir).unwrap();
        assert_eq!(load, CheckpointLoad::Loaded);
        pairs(&cache)
    }

    #[test]
    fn assign_records_new_epochs_and_persists_them_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_with(dir.path(), &[(2, 10), (4, 15), (10, 20)]);
        assert_eq!(cache.latest_epoch(), Some(10));
        assert_eq!(cache.earliest_entry(), Some(entry(2, 10)));
        let text = fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n3\n2 10\n4 15\n10 20\n");
        assert_eq!(reopened(dir.path()), [(2, 10), (4, 15), (10, 20)]);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn an_epoch_keeps_its_first_start_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[(2, 6)]);
        assert!(!cache.assign(2, 7).unwrap());
        assert!(!cache.assign(2, 6).unwrap());
        assert_eq!(pairs(&cache), [(2, 6)]);
        // The same epoch at an earlier offset does move it back (Kafka does the same).
        assert!(cache.assign(2, 5).unwrap());
        assert_eq!(pairs(&cache), [(2, 5)]);
    }

    #[test]
    fn conflicting_entries_are_removed_before_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        // A newer epoch at an offset not above the latest start replaces it.
        let mut cache = cache_with(dir.path(), &[(2, 9)]);
        cache.assign(3, 9).unwrap();
        assert_eq!(pairs(&cache), [(3, 9)]);
        cache.assign(4, 5).unwrap();
        assert_eq!(pairs(&cache), [(4, 5)]);

        // The latest epoch at an earlier offset truncates what starts at or after it.
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[(5, 11), (6, 12), (7, 13)]);
        cache.assign(7, 12).unwrap();
        assert_eq!(pairs(&cache), [(5, 11), (7, 12)]);
        assert_eq!(cache.end_offset_for(5, 0), Some((5, 12)));
        assert_eq!(cache.end_offset_for(6, 0), Some((5, 12)));

        // An older epoch removes every newer entry (Kafka's monotonic-epoch rule).
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[(1, 5), (2, 6)]);
        cache.assign(1, 7).unwrap();
        assert_eq!(pairs(&cache), [(1, 7)]);
        assert_eq!(reopened(dir.path()), [(1, 7)]);
    }

    #[test]
    fn negative_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[]);
        assert!(cache.assign(-1, 0).is_err());
        assert!(cache.assign(0, -1).is_err());
        assert!(cache.is_empty());
        assert!(!dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE).exists());
    }

    #[test]
    fn end_offset_for_follows_offset_for_leader_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let empty = cache_with(dir.path(), &[]);
        assert_eq!(empty.end_offset_for(0, 0), None);
        assert_eq!(empty.end_offset_for(UNDEFINED_EPOCH, 0), None);

        let cache = cache_with(dir.path(), &[(0, 10), (2, 13), (4, 17)]);
        // The latest epoch ends at the log end.
        assert_eq!(cache.end_offset_for(4, 30), Some((4, 30)));
        // An older epoch ends where the next larger one starts.
        assert_eq!(cache.end_offset_for(0, 30), Some((0, 13)));
        assert_eq!(cache.end_offset_for(2, 30), Some((2, 17)));
        // An epoch between entries answers with the largest epoch below it.
        assert_eq!(cache.end_offset_for(1, 30), Some((0, 13)));
        assert_eq!(cache.end_offset_for(3, 30), Some((2, 17)));
        // Below every entry: the requested epoch, ending where the first entry starts.
        let cache = cache_with(tempfile::tempdir().unwrap().path(), &[(5, 11), (6, 12)]);
        assert_eq!(cache.end_offset_for(4, 30), Some((4, 11)));
        // Undefined, or above the latest: undefined.
        assert_eq!(cache.end_offset_for(UNDEFINED_EPOCH, 30), None);
        assert_eq!(cache.end_offset_for(7, 30), None);
    }

    #[test]
    fn end_offsets_track_a_follower_copying_several_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[]);
        for (epoch, offset) in [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (2, 6), (2, 7)] {
            cache.assign(epoch, offset).unwrap();
        }
        assert_eq!(pairs(&cache), [(0, 0), (1, 3), (2, 6)]);
        assert_eq!(cache.end_offset_for(2, 9), Some((2, 9)));
        assert_eq!(cache.end_offset_for(1, 9), Some((1, 6)));
        assert_eq!(cache.end_offset_for(0, 9), Some((0, 3)));
        assert_eq!(cache.epoch_for_offset(0), Some(0));
        assert_eq!(cache.epoch_for_offset(5), Some(1));
        assert_eq!(cache.epoch_for_offset(100), Some(2));
        let cache = cache_with(tempfile::tempdir().unwrap().path(), &[(3, 10)]);
        assert_eq!(cache.epoch_for_offset(9), None);
    }

    #[test]
    fn truncate_from_end_drops_entries_at_or_after_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[(2, 6), (3, 8), (4, 11)]);
        cache.truncate_from_end(11).unwrap();
        assert_eq!(pairs(&cache), [(2, 6), (3, 8)]);
        assert_eq!(cache.latest_epoch(), Some(3));
        cache.truncate_from_end(9).unwrap();
        assert_eq!(pairs(&cache), [(2, 6), (3, 8)], "8 < 9 stays");
        cache.truncate_from_end(8).unwrap();
        assert_eq!(pairs(&cache), [(2, 6)]);
        cache.truncate_from_end(-1).unwrap();
        assert_eq!(pairs(&cache), [(2, 6)], "undefined does nothing");
        assert_eq!(reopened(dir.path()), [(2, 6)]);
        cache.truncate_from_end(0).unwrap();
        assert!(cache.is_empty());
        assert_eq!(reopened(dir.path()), []);
    }

    #[test]
    fn truncate_from_start_keeps_the_epoch_covering_the_new_start() {
        let cases: &[(i64, &[(i32, i64)])] = &[
            // Before the first entry, or at it: nothing changes.
            (5, &[(2, 6), (3, 8), (4, 11)]),
            (6, &[(2, 6), (3, 8), (4, 11)]),
            // Exactly at an entry: the ones before it go.
            (8, &[(3, 8), (4, 11)]),
            // Between entries: the covering epoch moves up to the start.
            (9, &[(3, 9), (4, 11)]),
            // Past the last entry: only the latest epoch remains, from the start.
            (11, &[(4, 11)]),
            (15, &[(4, 15)]),
            // Undefined does nothing.
            (-1, &[(2, 6), (3, 8), (4, 11)]),
        ];
        for &(start, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut cache = cache_with(dir.path(), &[(2, 6), (3, 8), (4, 11)]);
            cache.truncate_from_start(start).unwrap();
            assert_eq!(pairs(&cache), expected, "start {start}");
            assert_eq!(reopened(dir.path()), expected, "start {start}");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[(0, 0), (1, 7), (2, 10)]);
        cache.truncate_from_start(5).unwrap();
        assert_eq!(pairs(&cache), [(0, 5), (1, 7), (2, 10)]);
    }

    #[test]
    fn clear_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = cache_with(dir.path(), &[(2, 6), (3, 8)]);
        cache.clear().unwrap();
        assert!(cache.is_empty());
        assert_eq!(reopened(dir.path()), []);
        cache
            .replace(&[entry(1, 0), entry(3, 4), entry(2, 9), entry(-1, 10)])
            .unwrap();
        // (2, 9) conflicts with (3, 4) and wins, as an assign would; (-1, 10) is ignored.
        assert_eq!(pairs(&cache), [(1, 0), (2, 9)]);
        assert_eq!(reopened(dir.path()), [(1, 0), (2, 9)]);
    }

    #[test]
    fn damaged_files_load_as_empty_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
        for junk in [
            "",
            "1\n0\n",
            "0\n",
            "0\nx\n",
            "0\n2\n1 5\n",
            "0\n1\n1 5\n2 6\n",
            "0\n1\n1\n",
            "0\n1\n1 5 7\n",
            "0\n1\n-1 5\n",
            "0\n1\na b\n",
        ] {
            fs::write(&path, junk).unwrap();
            let (cache, load) = LeaderEpochCache::open(dir.path()).unwrap();
            assert!(matches!(load, CheckpointLoad::Corrupt(_)), "{junk:?}");
            assert!(cache.is_empty(), "{junk:?}");
        }
        fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let (_, load) = LeaderEpochCache::open(dir.path()).unwrap();
        assert!(matches!(load, CheckpointLoad::Corrupt(_)));
        // Kafka's own writer separates fields by one space; any whitespace is accepted, and a
        // trailing blank line too.
        fs::write(&path, "0\n2\n1\t5\n3   9\n\n").unwrap();
        assert_eq!(reopened(dir.path()), [(1, 5), (3, 9)]);
        // Entries out of order are normalised as assign would.
        fs::write(&path, "0\n2\n3 9\n1 5\n").unwrap();
        assert_eq!(reopened(dir.path()), [(1, 5)]);
    }
}
