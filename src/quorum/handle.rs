//! `Quorum`: the handle the rest of Troupe holds. It starts and stops the pieces (storage, raft
//! core, RPC server, leader watcher) and turns openraft's results into `QuorumError`s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use openraft::error::{CheckIsLeaderError, ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::{BasicNode, RaftMetrics, SnapshotPolicy};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::log_store::{LogStore, WriterThread};
use super::membership;
use super::network::{CallError, NetworkFactory, Peers};
use super::server::Server;
use super::shutdown::Shutdown;
use super::state_machine::{SnapshotStore, StateMachine};
use super::types::{
    to_raft_id, to_troupe_id, ForwardHandler, MetadataBatch, MetadataUpdate, NodeId, QuorumConfig,
    QuorumError, Raft,
};
use super::updates::Updates;
use super::wire::{Refused, Request, Response};
use crate::metadata::{MetadataImage, MetadataRecord};

/// Committed entries between two snapshots.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 1000;
/// Entries kept in the log behind a snapshot, so a follower slightly behind catches up from the
/// log instead of receiving the whole image.
pub const LOG_ENTRIES_KEPT_AFTER_SNAPSHOT: u64 = 1000;
/// Snapshot bytes per InstallSnapshot RPC (each goes out as a JSON byte array, ~4× larger).
pub(crate) const SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;
/// Deadline for one snapshot chunk to be sent and, for the last, installed.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 10_000;
/// `write` gives up (outcome unknown) after this: a leader cut off from its followers keeps
/// believing it leads, and its pending writes would otherwise wait forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// `confirm_leadership` gives up after this. The check itself ends within one raft heartbeat
/// interval; the rest is the wait for this node to apply what it has committed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts while `forward` has no leader to send to.
const FORWARD_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Snapshot cadence; tests lower it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    pub(crate) snapshot_every: u64,
    pub(crate) logs_kept_after_snapshot: u64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            snapshot_every: SNAPSHOT_EVERY_ENTRIES,
            logs_kept_after_snapshot: LOG_ENTRIES_KEPT_AFTER_SNAPSHOT,
        }
    }
}

#[derive(Clone)]
pub struct Quorum {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: i32,
    is_voter: bool,
    advertised: String,
    voters: BTreeMap<i32, String>,
    raft: Raft,
    updates: Arc<Updates>,
    forward: Arc<dyn ForwardHandler>,
    peers: Arc<Peers>,
    leader_rx: watch::Receiver<Option<i32>>,
    shutdown: Shutdown,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    log_writer: Mutex<Option<WriterThread>>,
    snapshots: Arc<SnapshotStore>,
    /// This voter found its raft log empty at start and initialized the membership: the
    /// metadata log is new (the bootstrap of a new cluster, or a new voter's first start).
    pristine: std::sync::atomic::AtomicBool,
}

impl Quorum {
    /// Opens storage under cfg.dir (replaying what is there), starts the RPC server on cfg.listen
    /// and the raft core. Voters: if the log is empty, initialize the cluster with the voters
    /// membership (every voter may call initialize with the same membership; the "already
    /// initialized" error is ignored). Returns quickly; leadership comes later.
    pub async fn start(
        cfg: QuorumConfig,
        forward: Arc<dyn ForwardHandler>,
    ) -> anyhow::Result<Quorum> {
        Quorum::start_tuned(cfg, forward, Tuning::default()).await
    }

    pub(crate) async fn start_tuned(
        cfg: QuorumConfig,
        forward: Arc<dyn ForwardHandler>,
        tuning: Tuning,
    ) -> anyhow::Result<Quorum> {
        cfg.validate()?;
        let raft_config = openraft::Config {
            cluster_name: "troupe-metadata".into(),
            election_timeout_min: cfg.election_timeout_min_ms,
            election_timeout_max: cfg.election_timeout_max_ms,
            heartbeat_interval: cfg.heartbeat_interval_ms,
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(tuning.snapshot_every),
            max_in_snapshot_log_to_keep: tuning.logs_kept_after_snapshot,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            ..Default::default()
        }
        .validate()
        .context("quorum timing settings")?;

        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding the quorum RPC listener on {}", cfg.listen))?;

        let updates = Arc::new(Updates::default());
        let (log_store, log_writer, state_machine) = {
            let dir = cfg.dir.clone();
            let updates = updates.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                let (log_store, writer) = LogStore::open(&dir)?;
                let state_machine = StateMachine::open(&dir, updates)?;
                Ok((log_store, writer, state_machine))
            })
            .await?
            .with_context(|| format!("opening quorum storage in {}", cfg.dir.display()))?
        };
        let snapshots = state_machine.snapshot_store();

        let peers = Arc::new(Peers::new(cfg.tls.as_ref().map(|t| t.client.clone())));
        // Re-applies the committed entries after the snapshot before returning, so the image
        // is current before anything is served.
        let raft = openraft::Raft::new(
            to_raft_id(cfg.node_id),
            Arc::new(raft_config),
            NetworkFactory::new(
                peers.clone(),
                cfg.voters
                    .iter()
                    .map(|(id, addr)| (to_raft_id(*id), addr.clone()))
                    .collect(),
            ),
            log_store,
            state_machine,
        )
        .await
        .context("starting the raft core")?;

        let shutdown = Shutdown::new();
        let server = Arc::new(Server {
            node_id: cfg.node_id,
            raft: raft.clone(),
            forward: forward.clone(),
            tls: cfg
                .tls
                .as_ref()
                .map(|t| tokio_rustls::TlsAcceptor::from(t.server.clone())),
        });
        let server_task = tokio::spawn(server.run(listener, shutdown.clone()));
        let (leader_tx, leader_rx) = watch::channel(None);
        let watcher_task = tokio::spawn(watch_leadership(
            raft.metrics(),
            cfg.node_id,
            leader_tx,
            shutdown.clone(),
        ));

        let quorum = Quorum {
            inner: Arc::new(Inner {
                node_id: cfg.node_id,
                is_voter: cfg.is_voter,
                advertised: cfg.advertised.clone(),
                voters: cfg.voters.clone(),
                raft,
                updates,
                forward,
                peers,
                leader_rx,
                shutdown,
                tasks: Mutex::new(vec![server_task, watcher_task]),
                log_writer: Mutex::new(Some(log_writer)),
                snapshots,
                pristine: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        if cfg.is_voter {
            if let Err(e) = quorum.initialize_if_pristine().await {
                quorum.shutdown().await;
                return Err(e);
            }
        }
        tracing::info!(
            node = cfg.node_id,
            voter = cfg.is_voter,
            listen = %cfg.listen,
            dir = %cfg.dir.display(),
            "quorum node started"
        );
        Ok(quorum)
    }

    async fn initialize_if_pristine(&self) -> anyhow::Result<()> {
        let raft = &self.inner.raft;
        if raft.is_initialized().await? {
            return Ok(());
        }
        self.inner
            .pristine
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let members: BTreeMap<NodeId, BasicNode> = self
            .inner
            .voters
            .iter()
            .map(|(id, addr)| (to_raft_id(*id), BasicNode::new(addr)))
            .collect();
        match raft.initialize(members).await {
            Ok(()) => {
                tracing::info!(node = self.inner.node_id, voters = ?self.inner.voters, "quorum initialized");
                Ok(())
            }
            // Another voter's initial membership reached us first.
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context("initializing the quorum")),
        }
    }

    /// Replicate and apply records as one log entry. Only on the leader; returns the entry's
    /// log index once it is committed AND applied locally (so `image()` reflects it).
    /// `NotLeader` elsewhere; `Unavailable` if it is not committed within `WRITE_TIMEOUT`
    /// (outcome unknown).
    pub async fn write(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        let write = self.inner.raft.client_write(MetadataBatch { records });
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Err(_) => Err(QuorumError::Unavailable(format!(
                "write not committed within {WRITE_TIMEOUT:?}; it may still commit"
            ))),
            Ok(Ok(resp)) => Ok(resp.log_id.index),
            Ok(Err(e)) => Err(client_write_error(e)),
        }
    }

    /// Current leader (raft metrics).
    pub fn leader(&self) -> Option<i32> {
        let leader = self.inner.raft.metrics().borrow().current_leader;
        leader.and_then(to_troupe_id)
    }

    /// Whether this voter's raft log was empty when it started (its metadata log is new).
    pub fn was_pristine(&self) -> bool {
        self.inner
            .pristine
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether this node believes it leads (raft metrics): cheap, but a leader cut off from
    /// its followers keeps believing it. See `confirm_leadership` for proof.
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.inner.node_id)
    }

    /// Proves this node still leads: a heartbeat round that a majority of voters acknowledges
    /// at this node's term, after the call (openraft's `ensure_linearizable`, Raft's §8 read
    /// check). Once it succeeds, no other leader was elected before the call: the majority
    /// that voted for it would have refused this term. `NotLeader` when a higher term answered
    /// or this node does not lead; `Unavailable` when too few voters answered within the raft
    /// heartbeat interval.
    pub async fn confirm_leadership(&self) -> Result<(), QuorumError> {
        let check = self.inner.raft.ensure_linearizable();
        match tokio::time::timeout(CONFIRM_TIMEOUT, check).await {
            Err(_) => Err(QuorumError::Unavailable(format!(
                "leadership not confirmed within {CONFIRM_TIMEOUT:?}"
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(QuorumError::NotLeader {
                    leader: f.leader_id.and_then(to_troupe_id),
                })
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(QuorumError::Unavailable(e.to_string()))
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                Err(QuorumError::Unavailable(format!("raft core: {fatal}")))
            }
        }
    }

    /// Watch of leader changes: `Option<i32>` current leader.
    pub fn leader_watch(&self) -> watch::Receiver<Option<i32>> {
        self.inner.leader_rx.clone()
    }

    /// Latest applied image (as of the last apply on this node).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.inner.updates.image()
    }

    /// Every MetadataUpdate applied on this node, in order, from now on. The first thing a new
    /// subscriber gets is the current image as a MetadataUpdate with empty records.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<MetadataUpdate> {
        self.inner.updates.subscribe()
    }

    /// Sends `request` to the current leader's ForwardHandler (locally if this node leads)
    /// within `timeout`. While there is no leader, or the one it knows is unreachable or no
    /// longer leads, it waits briefly and tries again. A request that may have reached a
    /// leader's handler is never sent twice: a failure after sending is `Unavailable` at once.
    pub async fn forward(
        &self,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, QuorumError> {
        let deadline = Instant::now() + timeout;
        let me = self.inner.node_id;
        let mut problem = String::from("no quorum leader");
        loop {
            match self.leader() {
                Some(leader) if leader == me => {
                    return tokio::time::timeout_at(
                        deadline,
                        self.inner.forward.handle(me, request),
                    )
                    .await
                    .map_err(|_| {
                        QuorumError::Unavailable(format!(
                            "the controller did not answer within {timeout:?}"
                        ))
                    });
                }
                Some(leader) => match self.address_of(leader) {
                    None => problem = format!("no quorum address known for leader {leader}"),
                    Some(addr) => {
                        let req = Request::Forward {
                            from: me,
                            request: request.clone(),
                        };
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        match self.inner.peers.call(&addr, &req, remaining).await {
                            Ok(Response::Forward(Ok(bytes))) => return Ok(bytes),
                            Ok(Response::Forward(Err(Refused::NotLeader { leader: named }))) => {
                                problem =
                                    format!("node {leader} no longer leads (it names {named:?})")
                            }
                            Ok(Response::Forward(Err(Refused::Failed(reason)))) => {
                                return Err(QuorumError::Unavailable(reason))
                            }
                            Ok(other) => {
                                return Err(QuorumError::Unavailable(format!(
                                    "leader {leader} answered a forward with {other:?}"
                                )))
                            }
                            // Never sent, so safe to send again (maybe to a new leader).
                            Err(CallError::Connect(e)) => {
                                problem = format!("leader {leader} at {addr} is unreachable: {e}")
                            }
                            Err(e) => {
                                return Err(QuorumError::Unavailable(format!(
                                    "forward to leader {leader} at {addr}: {e}"
                                )))
                            }
                        }
                    }
                },
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(QuorumError::Unavailable(format!(
                    "forward gave up after {timeout:?}: {problem}"
                )));
            }
            tokio::time::sleep_until((now + FORWARD_RETRY_PAUSE).min(deadline)).await;
        }
    }

    #[cfg(test)]
    pub(crate) fn raft_metrics(&self) -> RaftMetrics<NodeId, BasicNode> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// The RPC address of `node`: this node's own `voters` entry first (how this node reaches a
    /// voter is its own configuration: NAT, proxies), else the membership's (learners).
    fn address_of(&self, node: i32) -> Option<String> {
        if let Some(addr) = self.inner.voters.get(&node) {
            return Some(addr.clone());
        }
        let from_membership = {
            let metrics = self.inner.raft.metrics();
            let metrics = metrics.borrow();
            metrics
                .membership_config
                .membership()
                .get_node(&to_raft_id(node))
                .map(|n| n.addr.clone())
        };
        from_membership
    }

    /// Observer nodes: ask the leader (via the voters' RPC) to add this node as a learner with
    /// its advertised address; retried until it succeeds or the quorum shuts down. Voters:
    /// no-op.
    pub async fn join_as_observer(&self) -> Result<(), QuorumError> {
        let inner = &self.inner;
        if inner.is_voter {
            return Ok(());
        }
        membership::join(
            &inner.peers,
            &inner.voters,
            inner.node_id,
            &inner.advertised,
            &inner.shutdown,
        )
        .await
    }

    /// Clean stop of the raft core and RPC server. Once it returns, nothing of this node
    /// writes to its directory any more, so a new `start` on it is safe.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutdown.trigger();
        if let Err(e) = inner.raft.shutdown().await {
            tracing::warn!(
                node = inner.node_id,
                "the raft core did not stop cleanly: {e}"
            );
        }
        inner.snapshots.close().await;
        let tasks = std::mem::take(&mut *inner.tasks.lock());
        for task in tasks {
            let _ = task.await;
        }
        inner.peers.clear();
        // The log store, the writer's only sender, went away with the raft core; the writer
        // exits once it has drained what was queued.
        let writer = inner.log_writer.lock().take();
        if let Some(writer) = writer {
            let joined = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::task::spawn_blocking(move || writer.join()),
            )
            .await;
            if joined.is_err() {
                tracing::warn!(
                    node = inner.node_id,
                    "the raft log writer did not stop within 10 s"
                );
            }
        }
        tracing::info!(node = inner.node_id, "quorum node stopped");
    }
}

fn client_write_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> QuorumError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => QuorumError::NotLeader {
            leader: f.leader_id.and_then(to_troupe_id),
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            QuorumError::Unavailable(e.to_string())
        }
        RaftError::Fatal(Fatal::StorageError(e)) => QuorumError::Storage(e.to_string()),
        RaftError::Fatal(fatal) => QuorumError::Unavailable(format!("raft core: {fatal}")),
    }
}

/// Publishes leader changes on the leader watch and logs leader and membership changes.
async fn watch_leadership(
    mut metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
    me: i32,
    leader_tx: watch::Sender<Option<i32>>,
    shutdown: Shutdown,
) {
    let mut membership_log_id = None;
    loop {
        {
            let m = metrics.borrow_and_update();
            let leader = m.current_leader.and_then(to_troupe_id);
            if *leader_tx.borrow() != leader {
                tracing::info!(
                    node = me,
                    ?leader,
                    term = m.current_term,
                    "quorum leader changed"
                );
                leader_tx.send_replace(leader);
            }
            let mc = &m.membership_config;
            if *mc.log_id() != membership_log_id {
                membership_log_id = *mc.log_id();
                let voters: Vec<NodeId> = mc.membership().voter_ids().collect();
                let learners: Vec<NodeId> = mc.membership().learner_ids().collect();
                tracing::info!(node = me, ?voters, ?learners, "quorum membership changed");
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}
