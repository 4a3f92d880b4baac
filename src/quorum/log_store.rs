//! The raft log on disk: openraft's `RaftLogStorage` for the metadata quorum.
//!
//! Files under the quorum directory:
//! - `raft.log`: one frame per entry, `[u32 BE payload length][u32 BE CRC-32C of payload]
//!   [payload = serde_json of the openraft Entry]`. Appends are fsynced before openraft is told
//!   they are durable. At open, the file is scanned and cut at the first frame that is short,
//!   over the length cap, fails its checksum or does not decode: after a crash only an append
//!   that was never acknowledged can be torn.
//! - `vote.json`, `committed.json`, `purged.json`: each replaced atomically (see `durable`).
//!
//! Every entry is also kept in memory (metadata logs are small: the state machine snapshots
//! every `SNAPSHOT_EVERY_ENTRIES` and the log is purged behind the snapshot), so reads never
//! touch the disk. All file mutations go, in order, through one writer thread: openraft may
//! queue an append and then a truncation or purge, and the file must see them in that order.
//! Truncating conflicting entries cuts the file at the first removed frame; a purge rewrites
//! the file with the entries that remain (write temp, fsync, rename, fsync dir), after first
//! recording the purge point so a crash between the two steps is repaired at open.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::durable;
use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

pub(crate) const LOG_FILE: &str = "raft.log";
const VOTE_FILE: &str = "vote.json";
const COMMITTED_FILE: &str = "committed.json";
const PURGED_FILE: &str = "purged.json";

/// Length and checksum, both u32 big-endian.
const FRAME_HEADER_LEN: usize = 8;
/// Largest entry read back from the log. No entry can be bigger: it arrived in (or was written
/// from) an RPC frame of at most `wire::MAX_FRAME_LEN` bytes.
const MAX_ENTRY_LEN: usize = 64 << 20;

/// The entries, shared with the log readers openraft hands to its replication tasks.
#[derive(Default)]
struct Entries {
    by_index: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
}

impl Entries {
    fn last_log_id(&self) -> Option<LogId> {
        self.by_index
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(self.last_purged)
    }

    /// Whether `index` may be stored next. No hole may open between stored entries; an empty
    /// log may start anywhere past the purge point (openraft starts it at 0, or right after a
    /// snapshot's purge point).
    fn accepts(&self, index: u64) -> bool {
        match self.by_index.keys().next_back() {
            Some(last) => index == last + 1,
            None => self.last_purged.is_none_or(|p| index > p.index),
        }
    }
}

pub(crate) struct LogStore {
    entries: Arc<Mutex<Entries>>,
    /// File offset of each entry's frame, as the file will be once every queued write is done.
    offsets: BTreeMap<u64, u64>,
    /// Length of `raft.log` once every queued write is done.
    file_len: u64,
    vote: Option<Vote>,
    committed: Option<LogId>,
    writer: mpsc::Sender<WriteOp>,
}

/// What `LogStore::open` hands back besides the store: the writer thread, to join at shutdown
/// so a restarted node never opens files the old one is still writing.
pub(crate) type WriterThread = std::thread::JoinHandle<()>;

impl LogStore {
    /// Opens (creating) the log under `dir`, truncating a torn tail. Blocking.
    pub(crate) fn open(dir: &Path) -> io::Result<(LogStore, WriterThread)> {
        std::fs::create_dir_all(dir)?;
        let vote: Option<Vote> = read_json(dir, VOTE_FILE)?;
        let mut committed: Option<LogId> = read_json(dir, COMMITTED_FILE)?;
        let last_purged: Option<LogId> = read_json(dir, PURGED_FILE)?;

        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let scan = scan_frames(&data);
        if let Some(reason) = &scan.stopped_because {
            tracing::warn!(
                path = %path.display(),
                kept_bytes = scan.good_len,
                dropped_bytes = data.len() as u64 - scan.good_len,
                "raft log: {reason}; truncating the tail"
            );
            file.set_len(scan.good_len)?;
            file.sync_all()?;
        }

        let mut entries = Entries {
            by_index: BTreeMap::new(),
            last_purged,
        };
        let mut offsets = BTreeMap::new();
        for (offset, entry) in scan.frames {
            let index = entry.log_id.index;
            // Left over from a crash between recording a purge point and rewriting the file.
            if last_purged.is_some_and(|p| index <= p.index) {
                continue;
            }
            if !entries.accepts(index) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "raft log {} has a hole before entry {index} (last: {:?})",
                        path.display(),
                        entries.last_log_id()
                    ),
                ));
            }
            offsets.insert(index, offset);
            entries.by_index.insert(index, entry);
        }
        // `committed` is advisory (written after the fact, without waiting); never let it point
        // past the log that survived.
        let last = entries.last_log_id();
        if committed > last {
            tracing::warn!(
                ?committed,
                ?last,
                "raft log: committed index past the log end; lowering it"
            );
            committed = last;
        }

        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            failed: None,
        };
        let thread = std::thread::Builder::new()
            .name("quorum-log-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok((
            LogStore {
                entries: Arc::new(Mutex::new(entries)),
                offsets,
                file_len: scan.good_len,
                vote,
                committed,
                writer: tx,
            },
            thread,
        ))
    }

    fn send(&self, op: WriteOp) -> io::Result<()> {
        self.writer
            .send(op)
            .map_err(|_| io::Error::other("the raft log writer thread has stopped"))
    }

    /// Queues `op` (built around a completion sender) and waits for the writer to run it.
    async fn run(
        &self,
        op: impl FnOnce(oneshot::Sender<io::Result<()>>) -> WriteOp,
    ) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(op(tx))?;
        rx.await
            .map_err(|_| io::Error::other("the raft log writer thread has stopped"))?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(read_range(&self.entries, range))
    }
}

/// Reads the in-memory log; what openraft's replication tasks hold.
pub(crate) struct LogReader {
    entries: Arc<Mutex<Entries>>,
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(read_range(&self.entries, range))
    }
}

fn read_range(entries: &Mutex<Entries>, range: impl RangeBounds<u64>) -> Vec<Entry> {
    entries
        .lock()
        .by_index
        .range(range)
        .map(|(_, e)| e.clone())
        .collect()
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let entries = self.entries.lock();
        Ok(LogState {
            last_purged_log_id: entries.last_purged,
            last_log_id: entries.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            entries: self.entries.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = to_json(vote).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        self.run(|done| WriteOp::Replace {
            name: VOTE_FILE,
            bytes,
            done: Some(done),
        })
        .await
        .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        self.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.vote)
    }

    /// Not waited on: a committed index that is older after a crash only means fewer entries
    /// are re-applied before the leader's next heartbeat brings the rest. The writer runs it
    /// before any later operation, and shutdown drains the writer.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes = to_json(&committed).map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        self.send(WriteOp::Replace {
            name: COMMITTED_FILE,
            bytes,
            done: None,
        })
        .map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        self.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // Encode everything first so a failure leaves memory untouched.
        let mut frames = Vec::new();
        let mut encoded: Vec<(u64, Entry)> = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let contiguous = match encoded.last() {
                Some((_, prev)) => index == prev.log_id.index + 1,
                None => self.entries.lock().accepts(index),
            };
            if !contiguous {
                let e = io::Error::other(format!(
                    "append of entry {} would leave a hole in the log",
                    entry.log_id
                ));
                return Err(StorageIOError::write_logs(AnyError::new(&e)).into());
            }
            let offset = self.file_len + frames.len() as u64;
            encode_frame(&entry, &mut frames)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            encoded.push((offset, entry));
        }
        if encoded.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        {
            let mut mem = self.entries.lock();
            for (offset, entry) in encoded {
                self.offsets.insert(entry.log_id.index, offset);
                mem.by_index.insert(entry.log_id.index, entry);
            }
        }
        self.file_len += frames.len() as u64;
        self.send(WriteOp::Append {
            frames,
            flushed: callback,
        })
        .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let since = log_id.index;
        tracing::debug!(%log_id, "raft log: truncating conflicting entries");
        self.entries.lock().by_index.split_off(&since);
        let removed = self.offsets.split_off(&since);
        if let Some((_, &start)) = removed.iter().next() {
            self.file_len = start;
            self.run(|done| WriteOp::Truncate { len: start, done })
                .await
                .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let err = |e: io::Error| StorageError::from(StorageIOError::write_logs(AnyError::new(&e)));
        // Record the purge point first: if the rewrite below never happens, open skips the
        // entries at or below it.
        let bytes = to_json(&log_id).map_err(err)?;
        self.run(|done| WriteOp::Replace {
            name: PURGED_FILE,
            bytes,
            done: Some(done),
        })
        .await
        .map_err(err)?;

        let mut frames = Vec::new();
        let mut offsets = BTreeMap::new();
        {
            let mut mem = self.entries.lock();
            mem.by_index = mem.by_index.split_off(&(log_id.index + 1));
            mem.last_purged = Some(log_id);
            for (index, entry) in &mem.by_index {
                offsets.insert(*index, frames.len() as u64);
                encode_frame(entry, &mut frames).map_err(err)?;
            }
        }
        self.offsets = offsets;
        self.file_len = frames.len() as u64;
        self.run(|done| WriteOp::Rewrite { frames, done })
            .await
            .map_err(err)?;
        tracing::debug!(%log_id, kept = self.offsets.len(), "raft log: purged");
        Ok(())
    }
}

/// A file mutation, run by the writer thread in queue order.
enum WriteOp {
    Append {
        frames: Vec<u8>,
        flushed: LogFlushed<TypeConfig>,
    },
    Truncate {
        len: u64,
        done: oneshot::Sender<io::Result<()>>,
    },
    /// Replace the whole log file with `frames`.
    Rewrite {
        frames: Vec<u8>,
        done: oneshot::Sender<io::Result<()>>,
    },
    /// Atomically replace a small state file.
    Replace {
        name: &'static str,
        bytes: Vec<u8>,
        done: Option<oneshot::Sender<io::Result<()>>>,
    },
}

struct Writer {
    dir: PathBuf,
    file: File,
    /// After a failed write the file's state is unknown; refuse everything after it (openraft
    /// stops the node on a storage error anyway).
    failed: Option<String>,
}

impl Writer {
    /// Runs until the store (the only sender) is dropped, after draining what it queued.
    fn run(mut self, ops: mpsc::Receiver<WriteOp>) {
        for op in ops {
            match op {
                WriteOp::Append { frames, flushed } => {
                    let res = self.guarded(|w| {
                        w.file.write_all(&frames)?;
                        w.file.sync_data()
                    });
                    flushed.log_io_completed(res);
                }
                WriteOp::Truncate { len, done } => {
                    let res = self.guarded(|w| {
                        w.file.set_len(len)?;
                        w.file.sync_all()
                    });
                    let _ = done.send(res);
                }
                WriteOp::Rewrite { frames, done } => {
                    let res = self.guarded(|w| {
                        durable::replace_file(&w.dir, LOG_FILE, &frames)?;
                        w.file = OpenOptions::new()
                            .read(true)
                            .append(true)
                            .open(w.dir.join(LOG_FILE))?;
                        Ok(())
                    });
                    let _ = done.send(res);
                }
                WriteOp::Replace { name, bytes, done } => {
                    let res = self.guarded(|w| durable::replace_file(&w.dir, name, &bytes));
                    if let Err(e) = &res {
                        tracing::error!(file = name, "raft state file write failed: {e}");
                    }
                    if let Some(done) = done {
                        let _ = done.send(res);
                    }
                }
            }
        }
    }

    fn guarded(&mut self, op: impl FnOnce(&mut Writer) -> io::Result<()>) -> io::Result<()> {
        if let Some(first) = &self.failed {
            return Err(io::Error::other(format!(
                "raft log writes are stopped after an earlier failure: {first}"
            )));
        }
        let res = op(self);
        if let Err(e) = &res {
            self.failed = Some(e.to_string());
        }
        res
    }
}

/// Appends one entry's frame to `out`.
fn encode_frame(entry: &Entry, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(entry).map_err(io::Error::other)?;
    if payload.len() > MAX_ENTRY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "entry {} is {} bytes, over the {MAX_ENTRY_LEN}-byte limit",
                entry.log_id,
                payload.len()
            ),
        ));
    }
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

struct Scan {
    /// (file offset, entry) of every intact frame, in file order.
    frames: Vec<(u64, Entry)>,
    /// Bytes up to the end of the last intact frame.
    good_len: u64,
    /// Why the scan stopped before the end of the data, if it did.
    stopped_because: Option<String>,
}

fn scan_frames(data: &[u8]) -> Scan {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    let stopped_because = loop {
        let rest = &data[pos..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < FRAME_HEADER_LEN {
            break Some(format!("torn frame header at byte {pos}"));
        }
        let len = u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > MAX_ENTRY_LEN {
            break Some(format!(
                "frame at byte {pos} claims {len} bytes, over the limit"
            ));
        }
        let Some(payload) = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
            break Some(format!("torn entry at byte {pos}"));
        };
        if crc32c::crc32c(payload) != crc {
            break Some(format!("checksum mismatch at byte {pos}"));
        }
        match serde_json::from_slice::<Entry>(payload) {
            Ok(entry) => frames.push((pos as u64, entry)),
            Err(e) => break Some(format!("undecodable entry at byte {pos}: {e}")),
        }
        pos += FRAME_HEADER_LEN + len;
    };
    Scan {
        frames,
        good_len: pos as u64,
        stopped_because,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(io::Error::other)
}

/// A state file's value; absent file or JSON `null` → `None`.
fn read_json<T: DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    match durable::read_file(dir, name)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice::<Option<T>>(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", dir.join(name).display()),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftLogStorageExt;
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::metadata::MetadataRecord;
    use crate::quorum::types::MetadataBatch;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(MetadataBatch {
                records: vec![MetadataRecord::ProducerIdBlock {
                    next_producer_id: (term * 1000 + index) as i64,
                }],
            }),
        }
    }

    /// Entries `indexes` of `term`.
    fn entries(term: u64, indexes: std::ops::Range<u64>) -> Vec<Entry> {
        indexes.map(|i| entry(term, i)).collect()
    }

    /// Opens a store in `dir` and appends entries `0..n` of term 1 to it.
    async fn open_with(dir: &Path, n: u64) -> (LogStore, WriterThread) {
        let (mut store, thread) = LogStore::open(dir).unwrap();
        store.blocking_append(entries(1, 0..n)).await.unwrap();
        (store, thread)
    }

    async fn open(dir: &Path) -> LogStore {
        let (store, _thread) = LogStore::open(dir).unwrap();
        store
    }

    /// Drops the store and waits for its writer to finish, as a shutdown does.
    fn close(store: LogStore, thread: WriterThread) {
        drop(store);
        thread.join().unwrap();
    }

    async fn all(store: &mut LogStore) -> Vec<Entry> {
        store.try_get_log_entries(..).await.unwrap()
    }

    fn log_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(LOG_FILE)).unwrap().len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn torn_tail_is_truncated_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let (store, thread) = open_with(dir.path(), 3).await;
        close(store, thread);
        let intact = log_len(dir.path());

        // A crash in the middle of the next append: a header and half a payload.
        let mut frame = Vec::new();
        encode_frame(&entry(1, 3), &mut frame).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        f.write_all(&frame[..frame.len() / 2]).unwrap();
        drop(f);

        let (mut store, thread) = LogStore::open(dir.path()).unwrap();
        assert_eq!(log_len(dir.path()), intact, "torn tail cut at open");
        assert_eq!(all(&mut store).await, entries(1, 0..3));
        store.blocking_append([entry(2, 3)]).await.unwrap();
        close(store, thread);

        let mut store = open(dir.path()).await;
        let got = all(&mut store).await;
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], entry(2, 3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checksum_mismatch_in_last_frame_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, thread) = open_with(dir.path(), 3).await;
        close(store, thread);

        // Flip a byte inside the last entry's payload.
        let path = dir.path().join(LOG_FILE);
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 3;
        data[last] ^= 0x55;
        std::fs::write(&path, &data).unwrap();

        let mut store = open(dir.path()).await;
        assert_eq!(all(&mut store).await, entries(1, 0..2));
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(1, 1)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conflicting_entries_are_truncated_durably() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, thread) = open_with(dir.path(), 6).await;
        // A new leader's log disagrees from index 3 on.
        store.truncate(log_id(1, 3)).await.unwrap();
        assert_eq!(all(&mut store).await.len(), 3);
        store
            .blocking_append([entry(2, 3), entry(2, 4)])
            .await
            .unwrap();
        let expected: Vec<Entry> = vec![
            entry(1, 0),
            entry(1, 1),
            entry(1, 2),
            entry(2, 3),
            entry(2, 4),
        ];
        assert_eq!(all(&mut store).await, expected);
        close(store, thread);

        let mut store = open(dir.path()).await;
        assert_eq!(all(&mut store).await, expected);
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(2, 4))
        );
        // A hole is refused rather than written.
        assert!(store.blocking_append([entry(2, 9)]).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_rewrites_the_file_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, thread) = open_with(dir.path(), 10).await;
        let before = log_len(dir.path());
        store.purge(log_id(1, 4)).await.unwrap();
        assert!(log_len(dir.path()) < before, "purged frames leave the file");
        assert_eq!(all(&mut store).await, entries(1, 5..10));
        // Appends after the rewrite go to the new file, and truncation offsets are right.
        store.blocking_append([entry(1, 10)]).await.unwrap();
        store.truncate(log_id(1, 8)).await.unwrap();
        store.blocking_append([entry(3, 8)]).await.unwrap();
        close(store, thread);

        let (mut store, thread) = LogStore::open(dir.path()).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
        assert_eq!(state.last_log_id, Some(log_id(3, 8)));
        let expected: Vec<Entry> = vec![entry(1, 5), entry(1, 6), entry(1, 7), entry(3, 8)];
        assert_eq!(all(&mut store).await, expected);

        // Purging past the end (a snapshot installed ahead of the log) empties the log; the
        // next entry follows the purge point.
        store.purge(log_id(4, 20)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(4, 20)));
        assert!(all(&mut store).await.is_empty());
        store.blocking_append([entry(4, 21)]).await.unwrap();
        close(store, thread);

        let mut store = open(dir.path()).await;
        assert_eq!(all(&mut store).await, vec![entry(4, 21)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_between_purge_point_and_rewrite_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let (store, thread) = open_with(dir.path(), 5).await;
        close(store, thread);
        // The purge point is recorded but the log file still holds the purged entries.
        durable::replace_file(dir.path(), PURGED_FILE, &to_json(&log_id(1, 2)).unwrap()).unwrap();

        let mut store = open(dir.path()).await;
        assert_eq!(all(&mut store).await, entries(1, 3..5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vote_and_committed_persist() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, thread) = open_with(dir.path(), 3).await;
        let vote = Vote::new_committed(3, 2);
        store.save_vote(&vote).await.unwrap();
        store.save_committed(Some(log_id(1, 2))).await.unwrap();
        close(store, thread);

        let mut store = open(dir.path()).await;
        assert_eq!(store.read_vote().await.unwrap(), Some(vote));
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 2)));
    }
}
