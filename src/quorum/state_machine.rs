//! The replicated state machine: committed `MetadataBatch`es applied to a `MetadataImage`,
//! and the image's snapshots. openraft's `RaftStateMachine`.
//!
//! The image lives in memory; what is durable is the snapshot (file `snapshot`: one line of
//! openraft's `SnapshotMeta` as JSON — last log id and membership — then the image as JSON,
//! replaced atomically). At start the image comes from the snapshot and openraft re-applies the
//! committed entries after it (the log store persists the committed index), so the image is
//! back before the node serves. Every apply, snapshot install and the initial load publish a
//! `MetadataUpdate` through `Updates`.
//!
//! The snapshot data openraft ships to a follower is the image JSON alone; the meta travels
//! beside it in the RPC.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, StorageIOError};

use super::durable;
use super::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use super::updates::Updates;
use crate::metadata::MetadataImage;

pub(crate) const SNAPSHOT_FILE: &str = "snapshot";

pub(crate) struct StateMachine {
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshots: Arc<SnapshotStore>,
    updates: Arc<Updates>,
}

impl StateMachine {
    /// Loads the last snapshot under `dir`, if any, and publishes its image. Blocking.
    pub(crate) fn open(dir: &Path, updates: Arc<Updates>) -> io::Result<StateMachine> {
        std::fs::create_dir_all(dir)?;
        let stored = SnapshotStore::load(dir)?;
        let mut sm = StateMachine {
            image: Arc::new(MetadataImage::default()),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshots: Arc::new(SnapshotStore {
                dir: dir.to_path_buf(),
                slot: tokio::sync::Mutex::new(Slot::default()),
            }),
            updates,
        };
        if let Some((snapshot, image)) = stored {
            tracing::info!(meta = %snapshot.meta, "quorum state machine: loaded snapshot");
            sm.image = Arc::new(image);
            sm.last_applied = snapshot.meta.last_log_id;
            sm.membership = snapshot.meta.last_membership.clone();
            sm.snapshots
                .slot
                .try_lock()
                .expect("not shared yet")
                .current = Some(snapshot);
        }
        sm.updates
            .publish(index_of(sm.last_applied), Vec::new(), sm.image.clone());
        Ok(sm)
    }

    /// The snapshot store, for `SnapshotStore::close` at shutdown.
    pub(crate) fn snapshot_store(&self) -> Arc<SnapshotStore> {
        self.snapshots.clone()
    }
}

fn index_of(log_id: Option<LogId>) -> u64 {
    log_id.map_or(0, |l| l.index)
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    /// Applies a run of committed entries and publishes them as one update (one image clone
    /// per run rather than per entry). Runs of blank and membership entries publish nothing.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut responses = Vec::new();
        let mut image: Option<MetadataImage> = None;
        let mut records = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) if batch.records.is_empty() => {}
                EntryPayload::Normal(batch) => {
                    let image = image.get_or_insert_with(|| (*self.image).clone());
                    for record in &batch.records {
                        image.apply(record);
                    }
                    records.extend(batch.records);
                }
                EntryPayload::Membership(membership) => {
                    tracing::info!(log_id = %entry.log_id, %membership, "quorum membership applied");
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            responses.push(());
        }
        if let Some(image) = image {
            self.image = Arc::new(image);
            self.updates
                .publish(index_of(self.last_applied), records, self.image.clone());
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            image: self.image.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let image: MetadataImage = serde_json::from_slice(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        self.snapshots
            .save(StoredSnapshot {
                meta: meta.clone(),
                data: Arc::new(data),
            })
            .await?;
        self.image = Arc::new(image);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        tracing::info!(%meta, "quorum snapshot installed from the leader");
        self.updates
            .publish(index_of(self.last_applied), Vec::new(), self.image.clone());
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.snapshots.current().await.map(|s| s.to_snapshot()))
    }
}

/// A view of the state machine at the moment openraft asked for a snapshot.
pub(crate) struct SnapshotBuilder {
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshots: Arc<SnapshotStore>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let now_ms = crate::runtime::clock::wall_clock_ms();
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{now_ms}", l.leader_id, l.index),
            None => format!("empty-{now_ms}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let data = serde_json::to_vec(&*self.image).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        let snapshot = StoredSnapshot {
            meta,
            data: Arc::new(data),
        };
        self.snapshots.save(snapshot.clone()).await?;
        tracing::info!(meta = %snapshot.meta, bytes = snapshot.data.len(), "quorum snapshot built");
        Ok(snapshot.to_snapshot())
    }
}

#[derive(Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    /// The image as JSON: exactly the bytes openraft sends to followers.
    data: Arc<Vec<u8>>,
}

impl StoredSnapshot {
    fn to_snapshot(&self) -> Snapshot<TypeConfig> {
        Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(self.data.to_vec())),
        }
    }
}

/// The durable current snapshot. The lock is held across the file write so a snapshot built
/// from an older state never replaces a newer installed one, on disk or in memory.
pub(crate) struct SnapshotStore {
    dir: PathBuf,
    slot: tokio::sync::Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    current: Option<StoredSnapshot>,
    /// Set at shutdown. openraft builds snapshots in a task of their own that can outlive the
    /// raft core; once closed, nothing more is written, so a node restarted on the same
    /// directory never has a stale build land on top of its files.
    closed: bool,
}

impl SnapshotStore {
    async fn current(&self) -> Option<StoredSnapshot> {
        self.slot.lock().await.current.clone()
    }

    /// Refuses every later save; waits for a save in progress.
    pub(crate) async fn close(&self) {
        self.slot.lock().await.closed = true;
    }

    async fn save(&self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        let mut slot = self.slot.lock().await;
        let signature = snapshot.meta.signature();
        let err = |e: io::Error| {
            StorageIOError::write_snapshot(Some(signature.clone()), AnyError::new(&e))
        };
        if slot.closed {
            return Err(err(io::Error::other("the quorum is shut down")).into());
        }
        if let Some(cur) = slot.current.as_ref() {
            if cur.meta.last_log_id > snapshot.meta.last_log_id {
                tracing::debug!(kept = %cur.meta, dropped = %snapshot.meta, "older snapshot not saved");
                return Ok(());
            }
        }
        let mut file = serde_json::to_vec(&snapshot.meta).map_err(|e| err(io::Error::other(e)))?;
        file.push(b'\n');
        file.extend_from_slice(&snapshot.data);
        durable::replace_file_async(self.dir.clone(), SNAPSHOT_FILE, file)
            .await
            .map_err(err)?;
        slot.current = Some(snapshot);
        Ok(())
    }

    /// Reads `dir/snapshot`: the stored snapshot and its decoded image.
    fn load(dir: &Path) -> io::Result<Option<(StoredSnapshot, MetadataImage)>> {
        let Some(file) = durable::read_file(dir, SNAPSHOT_FILE)? else {
            return Ok(None);
        };
        let bad = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}", dir.join(SNAPSHOT_FILE).display()),
            )
        };
        let split = file
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| bad("no meta line".into()))?;
        let meta: SnapshotMeta =
            serde_json::from_slice(&file[..split]).map_err(|e| bad(format!("meta: {e}")))?;
        let data = file[split + 1..].to_vec();
        let image: MetadataImage =
            serde_json::from_slice(&data).map_err(|e| bad(format!("image: {e}")))?;
        Ok(Some((
            StoredSnapshot {
                meta,
                data: Arc::new(data),
            },
            image,
        )))
    }
}

/// Reads the last log id of the snapshot stored under `dir` (for tests and diagnostics).
#[cfg(test)]
pub(crate) fn stored_snapshot_last_log_id(dir: &Path) -> Option<LogId> {
    SnapshotStore::load(dir)
        .expect("readable snapshot")
        .and_then(|(s, _)| s.meta.last_log_id)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Duration;

    use openraft::testing::{StoreBuilder, Suite};

    use super::*;
    use crate::quorum::log_store::LogStore;

    type S = Suite<TypeConfig, LogStore, StateMachine, Builder, tempfile::TempDir>;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().unwrap();
            let (log, _writer) = LogStore::open(dir.path()).unwrap();
            let sm = StateMachine::open(dir.path(), Arc::new(Updates::default())).unwrap();
            Ok((dir, log, sm))
        }
    }

    /// Runs one case of openraft's storage conformance suite on a fresh store, in a runtime
    /// and thread of its own (several cases sleep a second for background purges, so they run
    /// side by side), bounded in time.
    fn spawn_case<F, Fu>(name: &'static str, case: F) -> std::thread::JoinHandle<Result<(), String>>
    where
        F: FnOnce(LogStore, StateMachine) -> Fu + Send + 'static,
        Fu: Future<Output = Result<(), StorageError>>,
    {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let (_dir, log, sm) = Builder.build().await.unwrap();
                tokio::time::timeout(Duration::from_secs(20), case(log, sm))
                    .await
                    .map_err(|_| format!("{name}: timed out"))?
                    .map_err(|e| format!("{name}: {e}"))
            })
        })
    }

    macro_rules! suite_cases {
        ($($case:ident),* $(,)?) => {{
            let running = vec![$((stringify!($case), spawn_case(stringify!($case), S::$case))),*];
            running
                .into_iter()
                .filter_map(|(name, t)| {
                    t.join()
                        .unwrap_or_else(|_| Err(format!("{name}: panicked")))
                        .err()
                })
                .collect::<Vec<String>>()
        }};
    }

    /// openraft's own conformance suite for a log store + state machine pair, case by case.
    #[test]
    fn openraft_storage_suite() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let failures = suite_cases!(
            last_membership_in_log_initial,
            last_membership_in_log,
            last_membership_in_log_multi_step,
            get_membership_initial,
            get_membership_from_log_and_empty_sm,
            get_membership_from_empty_log_and_sm,
            get_membership_from_log_le_sm_last_applied,
            get_membership_from_log_gt_sm_last_applied_1,
            get_membership_from_log_gt_sm_last_applied_2,
            get_initial_state_without_init,
            // Not run: get_initial_state_membership_from_log_and_sm appends entry 1 right
            // after the helper purged the log up to 2. openraft itself only ever appends past
            // the purge point, and this log refuses anything that would leave a hole.
            get_initial_state_with_state,
            get_initial_state_last_log_gt_sm,
            get_initial_state_last_log_lt_sm,
            get_initial_state_log_ids,
            get_initial_state_re_apply_committed,
            save_vote,
            get_log_entries,
            limited_get_log_entries,
            try_get_log_entry,
            initial_logs,
            get_log_state,
            get_log_id,
            last_id_in_log,
            last_applied_state,
            purge_logs_upto_0,
            purge_logs_upto_5,
            purge_logs_upto_20,
            delete_logs_since_11,
            delete_logs_since_0,
            append_to_log,
            snapshot_meta,
            apply_single,
            apply_multiple,
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        if let Err(e) = rt.block_on(S::transfer_snapshot(&Builder)) {
            panic!("transfer_snapshot: {e}");
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn snapshot_survives_reopen_and_an_older_build_does_not_replace_a_newer_install() {
        block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut sm = StateMachine::open(dir.path(), Arc::new(Updates::default())).unwrap();
            let mut image = MetadataImage::default();
            image.apply(&crate::metadata::MetadataRecord::ProducerIdBlock {
                next_producer_id: 42,
            });
            let old_builder = &mut sm.get_snapshot_builder().await;

            let meta = SnapshotMeta {
                last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(2, 1), 9)),
                last_membership: StoredMembership::default(),
                snapshot_id: "installed".into(),
            };
            let data = serde_json::to_vec(&image).unwrap();
            sm.install_snapshot(&meta, Box::new(Cursor::new(data)))
                .await
                .unwrap();
            assert_eq!(*sm.image, image);

            // A build that started before the install finishes after it.
            let built = old_builder.build_snapshot().await.unwrap();
            assert_eq!(built.meta.last_log_id, None);
            let current = sm.get_current_snapshot().await.unwrap().unwrap();
            assert_eq!(current.meta, meta);

            let updates = Arc::new(Updates::default());
            let reopened = StateMachine::open(dir.path(), updates.clone()).unwrap();
            assert_eq!(*reopened.image, image);
            assert_eq!(reopened.last_applied, meta.last_log_id);
            assert_eq!(*updates.image(), image, "reopen publishes the loaded image");
        });
    }
}
