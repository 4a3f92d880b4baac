//! TransactionIndex: a segment's `.txnindex`, the aborted transactions whose ABORT marker lies
//! in that segment, which a read_committed Fetch returns so consumers can skip their records.
//!
//! The file is Kafka's: a sequence of 34-byte big-endian [`AbortedTxn`] entries
//!
//! ```text
//! version int16 (0) | producerId int64 | firstOffset int64 | lastOffset int64 | lastStableOffset int64
//! ```
//!
//! where firstOffset is the transaction's first offset in this partition (it may lie in an
//! earlier segment), lastOffset the ABORT marker's offset, and lastStableOffset the LSO right
//! after the abort: any transaction aborted later started at or after it, which lets a search
//! stop early. Entries rise by lastOffset. The file is created with the first entry, so most
//! segments have none. This type keeps every entry in memory as well (34 bytes per aborted
//! transaction still in the log), so a fetch never reads the file.
//!
//! Durability follows the other indexes: appends are not fsynced; [`TransactionIndex::flush`]
//! runs when the segment is sealed or flushed. Entries lost in a crash are rebuilt by the log's
//! producer-state replay (see `log/producers.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::remove_if_exists;

/// Bytes of one entry.
pub const ABORTED_TXN_SIZE: usize = 34;
/// The entry version this broker writes and reads.
const CURRENT_VERSION: i16 = 0;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ABORTED_TXN_SIZE] {
        let mut out = [0u8; ABORTED_TXN_SIZE];
        out[..2].copy_from_slice(&CURRENT_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// Decodes one entry; an unknown version is refused, as Kafka refuses it.
    pub fn decode(bytes: &[u8; ABORTED_TXN_SIZE]) -> Result<AbortedTxn, String> {
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        if version != CURRENT_VERSION {
            return Err(format!("unknown aborted transaction version {version}"));
        }
        let field = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(raw)
        };
        Ok(AbortedTxn {
            producer_id: field(2),
            first_offset: field(10),
            last_offset: field(18),
            last_stable_offset: field(26),
        })
    }

    /// Whether the transaction's records overlap `[fetch_offset, upper_bound_offset)`.
    fn overlaps(&self, fetch_offset: i64, upper_bound_offset: i64) -> bool {
        self.last_offset >= fetch_offset && self.first_offset < upper_bound_offset
    }
}

/// The aborted transactions of one segment, on disk and in memory.
#[derive(Debug)]
pub struct TransactionIndex {
    path: PathBuf,
    base_offset: i64,
    entries: Vec<AbortedTxn>,
    /// Open once this index has written to its file (appended or cut it); sealed segments
    /// that are only read hold no descriptor.
    file: Option<File>,
}

impl TransactionIndex {
    /// An empty index for a new segment; a stale file of that name is removed.
    pub fn create(path: &Path, base_offset: i64) -> io::Result<TransactionIndex> {
        remove_if_exists(path)?;
        Ok(TransactionIndex {
            path: path.to_path_buf(),
            base_offset,
            entries: Vec::new(),
            file: None,
        })
    }

    /// Loads the index of an existing segment. A missing file is an empty index. Bytes after the
    /// last whole entry (a torn append) are cut off. `Err` names a defect that makes the entries
    /// untrustworthy (an unknown version, an entry before the segment's base or with its first
    /// offset after its last, entries that do not rise); the caller then resets the index and
    /// rebuilds it.
    pub fn open(
        path: &Path,
        base_offset: i64,
    ) -> io::Result<(TransactionIndex, Result<(), String>)> {
        let mut index = TransactionIndex {
            path: path.to_path_buf(),
            base_offset,
            entries: Vec::new(),
            file: None,
        };
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((index, Ok(()))),
            Err(e) => return Err(e),
        };
        let whole = bytes.len() - bytes.len() % ABORTED_TXN_SIZE;
        if whole < bytes.len() {
            index.writable()?.set_len(whole as u64)?;
        }
        let health = index.load_entries(&bytes[..whole]);
        Ok((index, health))
    }

    fn load_entries(&mut self, bytes: &[u8]) -> Result<(), String> {
        for chunk in bytes.chunks_exact(ABORTED_TXN_SIZE) {
            let mut raw = [0u8; ABORTED_TXN_SIZE];
            raw.copy_from_slice(chunk);
            let txn = AbortedTxn::decode(&raw)?;
            self.check_next(&txn)?;
            self.entries.push(txn);
        }
        Ok(())
    }

    /// Entries must lie in this segment, span forward, and rise by last offset.
    fn check_next(&self, txn: &AbortedTxn) -> Result<(), String> {
        if txn.last_offset < self.base_offset || txn.first_offset > txn.last_offset {
            return Err(format!(
                "aborted transaction {txn:?} does not belong to the segment at {}",
                self.base_offset
            ));
        }
        if let Some(last) = self.entries.last() {
            if last.last_offset >= txn.last_offset {
                return Err(format!(
                    "aborted transaction {txn:?} does not follow {}",
                    last.last_offset
                ));
            }
        }
        Ok(())
    }

    /// Appends an entry (creating the file with the first one). Its last offset must be above
    /// every entry's so far.
    pub fn append(&mut self, txn: AbortedTxn) -> io::Result<()> {
        self.check_next(&txn).map_err(io::Error::other)?;
        let position = (self.entries.len() * ABORTED_TXN_SIZE) as u64;
        let file = self.writable()?;
        file.set_len(position)?;
        std::os::unix::fs::FileExt::write_all_at(file, &txn.encode(), position)?;
        self.entries.push(txn);
        Ok(())
    }

    /// The file, opened for writing (and created) on first use.
    fn writable(&mut self) -> io::Result<&File> {
        match self.file {
            Some(ref file) => Ok(file),
            // Not O_APPEND: Linux would ignore the position of every write.
            None => Ok(self.file.insert(
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .write(true)
                    .open(&self.path)?,
            )),
        }
    }

    /// Drops the entries whose last offset is at or after `offset` (Kafka's `truncateTo`).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.partition_point(|t| t.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.writable()?.set_len((keep * ABORTED_TXN_SIZE) as u64)
    }

    /// Drops every entry, emptying the file if there is one.
    pub fn reset(&mut self) -> io::Result<()> {
        self.entries.clear();
        if self.file.is_some() || self.path.exists() {
            self.writable()?.set_len(0)?;
        }
        Ok(())
    }

    /// Fsyncs what this index wrote, if anything.
    pub fn flush(&self) -> io::Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        Ok(())
    }

    /// The entries, rising by last offset.
    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Kafka's `collectAbortedTxns`: the entries overlapping `[fetch_offset, upper_bound_offset)`
    /// and whether the search is complete, i.e. an entry's last stable offset reached the
    /// upper bound, so no later segment can hold an overlapping one.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> (Vec<AbortedTxn>, bool) {
        let mut found = Vec::new();
        for txn in &self.entries {
            if txn.overlaps(fetch_offset, upper_bound_offset) {
                found.push(*txn);
            }
            if txn.last_stable_offset >= upper_bound_offset {
                return (found, true);
            }
        }
        (found, false)
    }
}

/// Writes a whole index file at `path` from `entries` and fsyncs it; nothing is written when
/// there are none. For the cleaner, whose new segment carries its sources' entries.
pub fn write_index_file(path: &Path, entries: &[AbortedTxn]) -> io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(entries.len() * ABORTED_TXN_SIZE);
    for txn in entries {
        bytes.extend_from_slice(&txn.encode());
    }
    let mut file = File::create(path)?;
    file.write_all(&bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(producer_id: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_are_kafkas_34_big_endian_bytes() {
        let bytes = txn(0x0102030405060708, 9, 10, 11).encode();
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(&bytes[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[10..18], &9i64.to_be_bytes());
        assert_eq!(&bytes[26..34], &11i64.to_be_bytes());
        assert_eq!(
            AbortedTxn::decode(&bytes),
            Ok(txn(0x0102030405060708, 9, 10, 11))
        );
        let mut future = bytes;
        future[1] = 1;
        assert!(AbortedTxn::decode(&future).is_err());
    }

    #[test]
    fn appends_survive_reopen_and_torn_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.txnindex");
        let mut index = TransactionIndex::create(&path, 100).unwrap();
        assert!(!path.exists(), "created lazily");
        index.append(txn(1, 90, 105, 106)).unwrap();
        index.append(txn(2, 101, 110, 111)).unwrap();
        assert!(index.append(txn(3, 100, 110, 111)).is_err(), "must rise");
        index.flush().unwrap();
        drop(index);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 0]);
        fs::write(&path, &bytes).unwrap();

        let (mut index, health) = TransactionIndex::open(&path, 100).unwrap();
        assert_eq!(health, Ok(()));
        assert_eq!(index.entries().len(), 2);
        assert_eq!(fs::metadata(&path).unwrap().len(), 68);
        index.truncate_to(110).unwrap();
        assert_eq!(index.entries(), [txn(1, 90, 105, 106)]);
        index.append(txn(4, 107, 120, 121)).unwrap();
        drop(index);
        let (index, _) = TransactionIndex::open(&path, 100).unwrap();
        assert_eq!(index.entries()[1], txn(4, 107, 120, 121));
    }

    #[test]
    fn defects_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.txnindex");
        for entries in [
            vec![txn(1, 5, 50, 51)],                          // before the base
            vec![txn(1, 120, 110, 121)],                      // first after last
            vec![txn(1, 90, 110, 111), txn(2, 90, 110, 111)], // not rising
        ] {
            let bytes: Vec<u8> = entries.iter().flat_map(|t| t.encode()).collect();
            fs::write(&path, bytes).unwrap();
            let (_, health) = TransactionIndex::open(&path, 100).unwrap();
            assert!(health.is_err(), "{entries:?}");
        }
    }

    #[test]
    fn collect_stops_once_the_lso_passes_the_upper_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TransactionIndex::create(&dir.path().join("i"), 0).unwrap();
        index.append(txn(1, 0, 10, 5)).unwrap();
        index.append(txn(2, 5, 20, 21)).unwrap();
        index.append(txn(3, 30, 40, 41)).unwrap();
        assert_eq!(
            index.collect_aborted_txns(0, 5),
            (vec![txn(1, 0, 10, 5)], true)
        );
        assert_eq!(
            index.collect_aborted_txns(11, 21),
            (vec![txn(2, 5, 20, 21)], true)
        );
        assert_eq!(
            index.collect_aborted_txns(21, 100),
            (vec![txn(3, 30, 40, 41)], false)
        );
    }
}
