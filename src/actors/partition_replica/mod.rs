//! `PartitionReplica`: one per partition hosted on this broker, the sole owner of its `Log`.
//!
//! Accepts appends, transaction markers, reads, offset lookups, record deletion and config
//! changes as messages; runs retention and time-based rolling on a timer. Invariants it keeps:
//! offsets are assigned only here, in append order; the log start offset only moves forward;
//! the high watermark never passes the log end offset (on one broker they are equal;
//! replication will lower it); the last stable offset never passes the high watermark.
//!
//! It publishes its [`Watermarks`] on a `watch` after every change, so parked fetches wake
//! without polling: read_uncommitted ones when the high watermark moves, read_committed ones
//! when the last stable offset does (a transaction marker moves it).
//!
//! A panic inside a handler is caught (`supervisor::guard`), the actor stops, and actix's
//! `Supervisor` restarts it in place: `started` re-opens the log from disk, which runs recovery.
//! Its mailbox survives the restart, so other messages are still served. It never touches
//! another actor's state; fsync runs on a blocking thread, not on the actor's arbiter.

mod follower;
mod leader;
pub mod leadership;
pub mod lease;
mod messages;
mod read;
pub mod replica_manager;

pub use messages::*;
pub use read::replay_partition;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use crate::actors::controller::Controller;
use crate::error::BrokerError;
use crate::events::EventBus;
use crate::runtime::supervision::{guard, SupervisorState};
use crate::storage::{CleanableSnapshot, InstallOutcome, Log, LogConfig};
use leadership::LeaderState;

/// What every partition actor on this node shares.
pub struct ReplicaContext {
    pub node_id: i32,
    /// Where ISR changes go (None: unit tests without a controller).
    pub controller: Option<Addr<Controller>>,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: i64,
    /// Leader appends are announced to extensions here.
    pub events: EventBus,
    /// Whether this broker may act as leader at all (`lease.rs`): a leader without it takes
    /// no writes.
    pub lease: Arc<lease::BrokerLease>,
}

/// The replica's part in replication.
enum Role {
    /// Metadata has not said yet, or the partition has no leader.
    Unknown,
    Leader(LeaderState),
    Follower {
        leader: i32,
        leader_epoch: i32,
    },
}

pub struct PartitionReplica {
    tp: TopicPartition,
    dir: PathBuf,
    config: LogConfig,
    log: Option<Log>,
    /// Publishes the watermarks so parked fetches wake without polling.
    watermarks_tx: watch::Sender<Watermarks>,
    health: Arc<SupervisorState>,
    retention_check_interval: Duration,
    flush_check_interval: Duration,
    closed: bool,
    context: Arc<ReplicaContext>,
    role: Role,
    /// A follower's high watermark (the leader's, capped at this log's end); for a leader the
    /// last one it had, where its own high watermark starts.
    known_high_watermark: i64,
    /// An AlterPartition this leader sent and has not heard back about.
    isr_change_in_flight: bool,
}

/// What a `PartitionReplica` starts with; the `ReplicaManager` fills it in when it opens the
/// partition.
pub struct PartitionReplicaSetup {
    pub tp: TopicPartition,
    pub dir: PathBuf,
    pub config: LogConfig,
    /// The already-opened log (opened off the actor thread at startup).
    pub log: Log,
    /// Where the replica publishes its watermarks.
    pub watermarks_tx: watch::Sender<Watermarks>,
    pub health: Arc<SupervisorState>,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval: Duration,
    /// `log.flush.scheduler.interval.ms`.
    pub flush_check_interval: Duration,
    pub context: Arc<ReplicaContext>,
}

impl PartitionReplica {
    pub fn new(setup: PartitionReplicaSetup) -> Self {
        let PartitionReplicaSetup {
            tp,
            dir,
            config,
            log,
            watermarks_tx,
            health,
            retention_check_interval,
            flush_check_interval,
            context,
        } = setup;
        let known_high_watermark = log.log_start_offset();
        PartitionReplica {
            context,
            role: Role::Unknown,
            known_high_watermark,
            isr_change_in_flight: false,
            tp,
            dir,
            config,
            log: Some(log),
            watermarks_tx,
            health,
            retention_check_interval,
            flush_check_interval,
            closed: false,
        }
    }

    /// The high watermark this replica had before a restart (`replication-offset-checkpoint`),
    /// capped at its log end: where a leader's high watermark starts.
    pub fn start_high_watermark_at(&mut self, high_watermark: i64) {
        if let Some(log) = &self.log {
            self.known_high_watermark = high_watermark
                .min(log.log_end_offset())
                .max(log.log_start_offset());
        }
    }

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn watermarks(&self) -> Watermarks {
        let Some(log) = &self.log else {
            return Watermarks::default();
        };
        let leo = log.log_end_offset();
        let (high_watermark, is_leader, leader_epoch, isr_size) = match &self.role {
            Role::Leader(s) => (s.high_watermark, true, s.leader_epoch, s.isr.len()),
            Role::Follower { leader_epoch, .. } => {
                (self.known_high_watermark.min(leo), false, *leader_epoch, 0)
            }
            Role::Unknown => (self.known_high_watermark.min(leo), false, -1, 0),
        };
        let high_watermark = high_watermark.max(log.log_start_offset()).min(leo);
        Watermarks {
            log_start_offset: log.log_start_offset(),
            high_watermark,
            last_stable_offset: log.last_stable_offset().min(high_watermark),
            log_end_offset: leo,
            is_leader,
            leader_epoch,
            isr_size,
        }
    }

    /// Publishes the watermarks if they changed; waiters check their own field.
    fn publish_watermarks(&self) {
        if self.log.is_none() {
            return;
        }
        let now = self.watermarks();
        self.watermarks_tx.send_if_modified(|v| {
            let changed = *v != now;
            *v = now;
            changed
        });
    }

    /// Runs `f` against the log; a panic stops the actor so the supervisor restarts it.
    fn with_log<R>(
        &mut self,
        ctx: &mut Context<Self>,
        f: impl FnOnce(&mut Log) -> Result<R, BrokerError>,
    ) -> Result<R, BrokerError> {
        let Some(log) = self.log.as_mut() else {
            return Err(BrokerError::LeaderNotAvailable);
        };
        match guard(|| f(log)) {
            Ok(r) => r,
            Err(panic) => {
                tracing::error!(partition = %self.tp, %panic, "partition actor panicked; restarting it");
                // Drop the log without the clean-shutdown marker: the restart runs recovery.
                self.log = None;
                self.health
                    .record_restart(&format!("partition:{}", self.tp));
                ctx.stop();
                Err(BrokerError::LeaderNotAvailable)
            }
        }
    }

    fn reopen_log(&mut self) {
        match Log::open(&self.dir, self.config.clone(), Self::now_ms()) {
            Ok(log) => {
                tracing::info!(partition = %self.tp, log_end_offset = log.log_end_offset(), "partition log re-opened");
                self.log = Some(log);
                self.publish_watermarks();
            }
            Err(e) => {
                tracing::error!(partition = %self.tp, error = %e, "cannot re-open partition log")
            }
        }
    }

    /// Applies retention and time-based rolling; runs on the retention check interval.
    fn housekeeping(&mut self, ctx: &mut Context<Self>) {
        let now = Self::now_ms();
        let result = self.with_log(ctx, |log| {
            log.maybe_roll_by_time(now)?;
            log.expire_producers(now);
            Ok(log.enforce_retention(now)?)
        });
        self.publish_watermarks();
        match result {
            Ok(n) if n > 0 => {
                tracing::info!(partition = %self.tp, segments = n, "retention deleted segments")
            }
            Err(e) => tracing::warn!(partition = %self.tp, error = %e, "housekeeping failed"),
            _ => {}
        }
    }

    /// Honours `flush.ms`: hands an fsync of the active segment to a blocking thread.
    fn maybe_flush_by_time(&mut self) {
        let flush_ms = self.config.flush_ms;
        let Some(log) = self.log.as_mut() else { return };
        let now = Self::now_ms();
        if flush_ms == i64::MAX
            || log.unflushed_messages() == 0
            || now - log.last_flush_ms() < flush_ms
        {
            return;
        }
        match log.take_flush(now) {
            Ok(file) => {
                let tp = self.tp.clone();
                tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    if let Err(e) = file.sync_data() {
                        tracing::warn!(partition = %tp, error = %e, "fsync failed");
                    }
                    metrics::histogram!("troupe_log_flush_seconds")
                        .record(started.elapsed().as_secs_f64());
                });
            }
            Err(e) => tracing::warn!(partition = %self.tp, error = %e, "cannot hand off fsync"),
        }
    }
}

impl Actor for PartitionReplica {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.closed {
            // Closed for good: stay idle (no timers) so the actor ends once its last address
            // is dropped; stopping here would make the supervisor restart it in a loop.
            return;
        }
        if self.log.is_none() {
            self.reopen_log();
        }
        self.publish_watermarks();
        ctx.run_interval(self.retention_check_interval, |act, ctx| {
            act.housekeeping(ctx)
        });
        if self.config.flush_ms != i64::MAX {
            ctx.run_interval(self.flush_check_interval, |act, _| {
                act.maybe_flush_by_time()
            });
        }
        let isr_check =
            Duration::from_millis((self.context.replica_lag_time_max_ms / 2).max(1) as u64);
        ctx.run_interval(isr_check, |act, ctx| act.maybe_shrink_isr(ctx));
    }
}

impl actix::Supervised for PartitionReplica {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        if !self.closed {
            tracing::warn!(partition = %self.tp, "restarting partition actor");
        }
    }
}

impl Handler<UpdateLogConfig> for PartitionReplica {
    type Result = ();
    fn handle(&mut self, msg: UpdateLogConfig, _: &mut Context<Self>) {
        self.config = msg.0.clone();
        if let Some(log) = self.log.as_mut() {
            log.update_config(msg.0);
        }
    }
}

impl Handler<ClosePartition> for PartitionReplica {
    type Result = ();
    fn handle(&mut self, msg: ClosePartition, ctx: &mut Context<Self>) {
        self.closed = true;
        if let Some(mut log) = self.log.take() {
            if let Err(e) = log.close() {
                tracing::warn!(partition = %self.tp, error = %e, "closing log failed");
            }
        }
        if msg.delete_data {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                tracing::warn!(partition = %self.tp, error = %e, "removing partition directory failed");
            }
        }
        ctx.stop();
    }
}

impl Handler<TakeCleanableSnapshot> for PartitionReplica {
    type Result = Option<CleanableSnapshot>;

    fn handle(&mut self, _: TakeCleanableSnapshot, _: &mut Context<Self>) -> Self::Result {
        let log = self.log.as_ref()?;
        if !log.config().compact {
            return None;
        }
        Some(log.cleanable_snapshot(Self::now_ms()))
    }
}

impl Handler<InstallCleaned> for PartitionReplica {
    type Result = Result<InstallOutcome, BrokerError>;

    fn handle(&mut self, msg: InstallCleaned, ctx: &mut Context<Self>) -> Self::Result {
        let result = self.with_log(ctx, |log| Ok(log.install_cleaned(msg.0)?));
        if let Err(BrokerError::KafkaStorage(e)) = &result {
            // An interrupted swap is finished or undone by recovery: re-open the log.
            tracing::warn!(partition = %self.tp, error = %e, "installing cleaned segments failed; re-opening the log");
            self.log = None;
            self.reopen_log();
        }
        result
    }
}

impl Handler<InjectPanic> for PartitionReplica {
    type Result = Result<(), BrokerError>;
    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) -> Self::Result {
        self.with_log(ctx, |_| -> Result<(), BrokerError> {
            panic!("injected panic (test hook)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::AppendOrigin;
    use crate::test_support::Producer;

    const WAIT: Duration = Duration::from_millis(100);

    fn start(dir: &std::path::Path) -> (Addr<PartitionReplica>, watch::Receiver<Watermarks>) {
        let config = LogConfig::default();
        let log = Log::open(dir, config.clone(), PartitionReplica::now_ms()).unwrap();
        let (tx, rx) = watch::channel(Watermarks::of(&log));
        let tp = TopicPartition {
            topic: "t".into(),
            partition: 0,
        };
        let hour = Duration::from_secs(3600);
        let replica = PartitionReplica::new(PartitionReplicaSetup {
            tp,
            dir: dir.to_path_buf(),
            config,
            log,
            watermarks_tx: tx,
            health: Arc::new(SupervisorState::default()),
            retention_check_interval: hour,
            flush_check_interval: hour,
            context: Arc::new(ReplicaContext {
                node_id: 1,
                controller: None,
                replica_lag_time_max_ms: 30_000,
                events: Default::default(),
                lease: Arc::new(lease::BrokerLease::unbounded()),
            }),
        });
        let addr = replica.start();
        addr.do_send(BecomeLeaderOrFollower {
            state: crate::test_support::partition(0, &[1], &[1], 1),
        });
        (addr, rx)
    }

    fn read(isolation_level: IsolationLevel) -> ReadRecords {
        ReadRecords {
            fetch_offset: 0,
            max_bytes: 1 << 20,
            min_one_batch: true,
            isolation_level,
            replica_id: -1,
            current_leader_epoch: -1,
        }
    }

    #[actix::test]
    async fn a_marker_releases_read_committed_readers_parked_at_the_lso() {
        let dir = tempfile::tempdir().unwrap();
        let (addr, mut watermarks) = start(dir.path());
        let mut producer = Producer::new(42);
        let records = producer.batch(2, true);
        addr.send(AppendRecords {
            records,
            origin: AppendOrigin::Client,
            required_acks: 1,
        })
        .await
        .unwrap()
        .unwrap();

        let committed = addr.send(read(IsolationLevel::ReadCommitted)).await;
        let committed = committed.unwrap().unwrap();
        assert!(
            committed.slices.is_empty(),
            "the open transaction is unstable"
        );
        assert_eq!(committed.watermarks.last_stable_offset, 0);
        assert_eq!(committed.watermarks.high_watermark, 2);
        assert_eq!(committed.aborted_transactions, Some(Vec::new()));
        let uncommitted = addr.send(read(IsolationLevel::ReadUncommitted)).await;
        let uncommitted = uncommitted.unwrap().unwrap();
        assert!(uncommitted.bytes > 0 && uncommitted.aborted_transactions.is_none());
        let latest = |isolation_level| ListOffset {
            timestamp: -1,
            isolation_level,
            current_leader_epoch: -1,
        };
        let lso = addr.send(latest(IsolationLevel::ReadCommitted)).await;
        assert_eq!(lso.unwrap().unwrap(), (0, -1));

        // A read_committed fetch parks until the LSO passes what it saw.
        let parked = tokio::time::timeout(WAIT, watermarks.wait_for(|w| w.last_stable_offset > 0));
        assert!(
            parked.await.is_err(),
            "no wake-up while the transaction is open"
        );
        let marker = WriteTxnMarker {
            producer_id: 42,
            producer_epoch: 0,
            coordinator_epoch: 0,
            commit: false,
            required_acks: -1,
        };
        let written = addr.send(marker).await.unwrap().unwrap();
        assert_eq!((written.base_offset, written.next_offset), (2, 3));
        let woken = tokio::time::timeout(WAIT, watermarks.wait_for(|w| w.last_stable_offset > 0));
        assert_eq!(woken.await.unwrap().unwrap().last_stable_offset, 3);

        let committed = addr.send(read(IsolationLevel::ReadCommitted)).await;
        let committed = committed.unwrap().unwrap();
        assert!(committed.bytes > uncommitted.bytes, "data and marker");
        let aborted = committed.aborted_transactions.unwrap();
        assert_eq!(
            aborted
                .iter()
                .map(|t| (t.producer_id, t.first_offset))
                .collect::<Vec<_>>(),
            [(42, 0)]
        );
        let lso = addr.send(latest(IsolationLevel::ReadCommitted)).await;
        assert_eq!(lso.unwrap().unwrap(), (3, -1));
        let stale = WriteTxnMarker {
            producer_id: 42,
            producer_epoch: -1,
            coordinator_epoch: 0,
            commit: true,
            required_acks: -1,
        };
        let refused = addr.send(stale).await.unwrap().unwrap_err();
        assert_eq!(refused.code(), 47);
    }
}
