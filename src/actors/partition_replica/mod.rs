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

pub mod leadership;
mod messages;
pub mod replica_manager;

pub use messages::*;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::watch;

use crate::actors::controller::{AlterPartition, Controller};
use crate::error::BrokerError;
use crate::events::{BrokerEvent, EventBus};
use crate::metadata::PartitionMeta;
use crate::runtime::supervision::{guard, SupervisorState};
use crate::storage::{CleanableSnapshot, InstallOutcome, Log, LogConfig};
use leadership::{LeaderAndIsr, LeaderState, ReplicationConfig};

/// Reads a partition this node leads from its log start to its log end, whole batches at a
/// time, as a coordinator loads its internal-topic partition. `decode` turns the bytes of some
/// whole batches into entries and the offset after the last batch it read; reading stops
/// early (keeping what was decoded) at a batch `decode` cannot get past. A read the partition
/// refuses (no longer the leader, restarting) fails the whole replay: a partial load must
/// never pass for a complete one.
pub async fn replay_partition<T>(
    addr: &Addr<PartitionReplica>,
    mut decode: impl FnMut(Bytes) -> (Vec<T>, Option<i64>),
) -> Result<Vec<T>, BrokerError> {
    let mut entries = Vec::new();
    let marks = addr.send(GetWatermarks).await?;
    let mut offset = marks.log_start_offset;
    while offset < marks.log_end_offset {
        let read = addr
            .send(ReadRecords {
                fetch_offset: offset,
                max_bytes: 1 << 20,
                min_one_batch: true,
                isolation_level: IsolationLevel::LogEnd,
                replica_id: -1,
                current_leader_epoch: -1,
            })
            .await??;
        let mut bytes = bytes::BytesMut::new();
        for slice in &read.slices {
            let b = slice
                .read_bytes()
                .map_err(|e| BrokerError::KafkaStorage(e.to_string()))?;
            bytes.extend_from_slice(&b);
        }
        let (decoded, next) = decode(bytes.freeze());
        entries.extend(decoded);
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    Ok(entries)
}

// ---- actor ----

/// What every partition actor on this node shares.
pub struct ReplicaContext {
    pub node_id: i32,
    /// Where ISR changes go (set once the controller has started).
    pub controller: OnceLock<Addr<Controller>>,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: i64,
    /// Leader appends are announced to extensions here.
    pub events: EventBus,
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

    /// Leader-only operations: NOT_LEADER_OR_FOLLOWER elsewhere, and the caller's leader
    /// epoch (when given) must match: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.
    fn check_leader(&self, current_leader_epoch: i32) -> Result<(), BrokerError> {
        let my_epoch = match &self.role {
            Role::Leader(s) => s.leader_epoch,
            Role::Follower { leader_epoch, .. } => {
                check_epoch(current_leader_epoch, *leader_epoch)?;
                return Err(BrokerError::NotLeaderOrFollower);
            }
            Role::Unknown => return Err(BrokerError::NotLeaderOrFollower),
        };
        check_epoch(current_leader_epoch, my_epoch)
    }

    /// An `acks=all` write is refused up front while the ISR is smaller than
    /// `min.insync.replicas` (NOT_ENOUGH_REPLICAS, nothing written); returns that minimum.
    fn check_min_insync(&self, required_acks: i16) -> Result<i64, BrokerError> {
        let min_insync_replicas = self.config.min_insync_replicas;
        let isr_size = match &self.role {
            Role::Leader(s) => s.isr.len(),
            _ => 0,
        };
        if required_acks == -1 && (isr_size as i64) < min_insync_replicas {
            return Err(BrokerError::NotEnoughReplicas {
                isr: isr_size,
                min: min_insync_replicas,
            });
        }
        Ok(min_insync_replicas)
    }

    /// The leader epoch this replica leads at (-1 when it does not lead).
    fn leader_epoch(&self) -> i32 {
        match &self.role {
            Role::Leader(s) => s.leader_epoch,
            _ => -1,
        }
    }

    /// After anything that moved this leader's log end or a follower: recompute the high
    /// watermark (smallest LEO in the ISR) and publish.
    fn advance_high_watermark(&mut self) {
        let leo = self.log.as_ref().map(|l| l.log_end_offset());
        if let (Some(leo), Role::Leader(s)) = (leo, &mut self.role) {
            s.maybe_increment_high_watermark(leo, Self::now_ms());
            self.known_high_watermark = s.high_watermark;
        }
        self.publish_watermarks();
    }

    /// Asks the controller for a new ISR (Kafka's AlterPartition); the answer, or the
    /// metadata update carrying it, brings the new state.
    fn propose_isr(&mut self, new_isr: Vec<i32>, ctx: &mut Context<Self>) {
        let Role::Leader(s) = &self.role else { return };
        if self.isr_change_in_flight {
            return;
        }
        let Some(controller) = self.context.controller.get().cloned() else {
            return;
        };
        tracing::info!(partition = %self.tp, isr = ?s.isr, proposed = ?new_isr, "proposing an ISR change");
        let request = AlterPartition {
            broker_id: self.context.node_id,
            topic: self.tp.topic.clone(),
            partition: self.tp.partition,
            leader_epoch: s.leader_epoch,
            partition_epoch: s.partition_epoch,
            new_isr,
        };
        self.isr_change_in_flight = true;
        controller
            .send(request)
            .into_actor(self)
            .map(|answer, act, _| {
                act.isr_change_in_flight = false;
                match answer {
                    Ok(Ok(state)) => act.apply_leader_state(&state),
                    other => {
                        let reason = match other {
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                            Ok(Ok(_)) => unreachable!(),
                        };
                        tracing::warn!(partition = %act.tp, %reason, "ISR change not made");
                        if let Role::Leader(s) = &mut act.role {
                            s.isr_change_failed();
                        }
                    }
                }
            })
            .spawn(ctx);
    }

    /// A newer partition state for the leader this replica already is (an ISR change).
    fn apply_leader_state(&mut self, state: &PartitionMeta) {
        let now = Self::now_ms();
        let leo = self.log.as_ref().map(|l| l.log_end_offset()).unwrap_or(0);
        if let Role::Leader(s) = &mut self.role {
            if state.leader_epoch == s.leader_epoch && state.partition_epoch >= s.partition_epoch {
                let (before, after) = (s.isr.len(), state.isr.len());
                s.apply_partition_state(&leader_and_isr(state), leo, now);
                if after > before {
                    metrics::counter!("troupe_isr_expands_total").increment(1);
                } else if after < before {
                    metrics::counter!("troupe_isr_shrinks_total").increment(1);
                }
            }
        }
        self.advance_high_watermark();
    }

    /// Every half `replica.lag.time.max.ms`: followers that have not caught up for that long
    /// leave the ISR.
    fn maybe_shrink_isr(&mut self, ctx: &mut Context<Self>) {
        let now = Self::now_ms();
        let leo = self.log.as_ref().map(|l| l.log_end_offset()).unwrap_or(0);
        if self.isr_change_in_flight {
            return;
        }
        let proposal = match &mut self.role {
            Role::Leader(s) => s.isr_to_shrink(leo, now),
            _ => None,
        };
        if let Some(new_isr) = proposal {
            self.propose_isr(new_isr, ctx);
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

fn leader_and_isr(state: &PartitionMeta) -> LeaderAndIsr {
    LeaderAndIsr {
        leader: state.leader,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        replicas: state.replicas.clone(),
        isr: state.isr.clone(),
    }
}

/// Kafka's leader epoch check of a request: -1 means the caller did not say.
fn check_epoch(requested: i32, mine: i32) -> Result<(), BrokerError> {
    if requested < 0 || requested == mine {
        Ok(())
    } else if requested < mine {
        Err(BrokerError::FencedLeaderEpoch)
    } else {
        Err(BrokerError::UnknownLeaderEpoch)
    }
}

impl actix::Supervised for PartitionReplica {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        if !self.closed {
            tracing::warn!(partition = %self.tp, "restarting partition actor");
        }
    }
}

impl Handler<AppendRecords> for PartitionReplica {
    type Result = Result<AppendResult, BrokerError>;

    fn handle(&mut self, msg: AppendRecords, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(-1)?;
        let min_insync_replicas = self.check_min_insync(msg.required_acks)?;
        let leader_epoch = self.leader_epoch();
        let now = Self::now_ms();
        let announced = self
            .context
            .events
            .has_subscribers()
            .then(|| msg.records.clone());
        let info = self.with_log(ctx, |log| {
            Ok(log.append_from(msg.records, now, msg.origin)?)
        })?;
        metrics::counter!("troupe_bytes_in_total").increment(info.bytes as u64);
        metrics::counter!("troupe_records_in_total").increment(info.record_count as u64);
        if let Some(records) = announced {
            self.context.events.emit(|| BrokerEvent::BatchAppended {
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                base_offset: info.first_offset,
                last_offset: info.last_offset,
                record_count: info.record_count as u32,
                records,
            });
        }
        self.advance_high_watermark();
        Ok(AppendResult {
            base_offset: info.first_offset,
            next_offset: info.last_offset + 1,
            log_append_time: info.log_append_time,
            log_start_offset: self.watermarks().log_start_offset,
            leader_epoch,
            min_insync_replicas,
        })
    }
}

impl Handler<ReadRecords> for PartitionReplica {
    type Result = Result<ReadResult, BrokerError>;

    fn handle(&mut self, msg: ReadRecords, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(msg.current_leader_epoch)?;
        let from_follower = msg.replica_id >= 0;
        if from_follower {
            // A follower whose log runs past ours has diverged: it must truncate, and its
            // offset must not count as replication progress (it would join the ISR).
            let w = self.watermarks();
            if msg.fetch_offset < w.log_start_offset || msg.fetch_offset > w.log_end_offset {
                return Err(BrokerError::OffsetOutOfRange {
                    offset: msg.fetch_offset,
                    log_start: w.log_start_offset,
                    log_end: w.log_end_offset,
                });
            }
            self.on_follower_fetch(msg.replica_id, msg.fetch_offset, ctx);
        }
        let watermarks = self.watermarks();
        let read_committed = msg.isolation_level == IsolationLevel::ReadCommitted;
        let upper_bound = if from_follower {
            watermarks.log_end_offset
        } else {
            watermarks.fetchable_offset(msg.isolation_level)
        };
        let (read, aborted_transactions) = self.with_log(ctx, |log| {
            let read = log.read(
                msg.fetch_offset,
                msg.max_bytes,
                upper_bound,
                msg.min_one_batch,
            )?;
            let aborted = read_committed
                .then(|| log.aborted_transactions(msg.fetch_offset, read.next_offset));
            Ok((read, aborted))
        })?;
        Ok(ReadResult {
            slices: read.slices,
            bytes: read.bytes,
            watermarks,
            aborted_transactions,
        })
    }
}

impl Handler<WriteTxnMarker> for PartitionReplica {
    type Result = Result<AppendResult, BrokerError>;

    fn handle(&mut self, msg: WriteTxnMarker, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(-1)?;
        let min_insync_replicas = self.check_min_insync(msg.required_acks)?;
        let now = Self::now_ms();
        let info = self.with_log(ctx, |log| {
            Ok(log.append_txn_marker(
                msg.producer_id,
                msg.producer_epoch,
                msg.coordinator_epoch,
                msg.commit,
                now,
            )?)
        })?;
        self.advance_high_watermark();
        Ok(AppendResult {
            base_offset: info.first_offset,
            next_offset: info.last_offset + 1,
            log_append_time: info.log_append_time,
            log_start_offset: self.watermarks().log_start_offset,
            leader_epoch: self.leader_epoch(),
            min_insync_replicas,
        })
    }
}

impl Handler<ListOffset> for PartitionReplica {
    type Result = Result<(i64, i64), BrokerError>;

    fn handle(&mut self, msg: ListOffset, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(msg.current_leader_epoch)?;
        let w = self.watermarks();
        let fetchable = w.fetchable_offset(msg.isolation_level);
        let found = match msg.timestamp {
            -1 => return Ok((fetchable, -1)),
            -2 => return Ok((w.log_start_offset, -1)),
            -3 => self.with_log(ctx, |log| {
                Ok(log.max_timestamp().map(|(ts, offset)| (offset, ts)))
            })?,
            ts => self.with_log(ctx, |log| Ok(log.offset_for_timestamp(ts)?))?,
        };
        // As Kafka: only offsets a reader at this isolation level could fetch.
        Ok(found
            .filter(|&(offset, _)| offset < fetchable)
            .unwrap_or((-1, -1)))
    }
}

impl Handler<DeleteRecordsBefore> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: DeleteRecordsBefore, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(-1)?;
        let w = self.watermarks();
        let offset = if msg.offset == -1 {
            w.high_watermark
        } else {
            msg.offset
        };
        if offset < 0 || offset > w.high_watermark {
            return Err(BrokerError::OffsetOutOfRange {
                offset,
                log_start: w.log_start_offset,
                log_end: w.high_watermark,
            });
        }
        let log_start = self.with_log(ctx, |log| Ok(log.delete_records_before(offset)?))?;
        self.publish_watermarks();
        Ok(log_start)
    }
}

impl Handler<GetWatermarks> for PartitionReplica {
    type Result = MessageResult<GetWatermarks>;
    fn handle(&mut self, _: GetWatermarks, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.watermarks())
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

impl PartitionReplica {
    /// A follower fetched from `fetch_offset`: that is its log end offset now. It may move
    /// the high watermark (waking `acks=all` produces) or earn it a place in the ISR.
    fn on_follower_fetch(&mut self, replica_id: i32, fetch_offset: i64, ctx: &mut Context<Self>) {
        let now = Self::now_ms();
        let Some(leo) = self.log.as_ref().map(|l| l.log_end_offset()) else {
            return;
        };
        let expand = match &mut self.role {
            Role::Leader(s) => {
                if s.on_follower_fetch(replica_id, fetch_offset, leo, now)
                    .is_err()
                {
                    return; // not a replica of this partition
                }
                s.maybe_increment_high_watermark(leo, now);
                if self.isr_change_in_flight {
                    None
                } else {
                    s.maybe_expand_isr(replica_id)
                }
            }
            _ => None,
        };
        self.advance_high_watermark();
        if let Some(new_isr) = expand {
            self.propose_isr(new_isr, ctx);
        }
    }
}

impl Handler<BecomeLeaderOrFollower> for PartitionReplica {
    type Result = ();

    fn handle(&mut self, msg: BecomeLeaderOrFollower, ctx: &mut Context<Self>) {
        let state = msg.state;
        let me = self.context.node_id;
        let now = Self::now_ms();
        if state.leader == me {
            let already =
                matches!(&self.role, Role::Leader(s) if s.leader_epoch == state.leader_epoch);
            if already {
                self.apply_leader_state(&state);
                return;
            }
            let epoch = state.leader_epoch;
            let started = self.with_log(ctx, |log| {
                log.set_leader_epoch(epoch)?;
                Ok(log.log_end_offset())
            });
            let Ok(leo) = started else { return };
            tracing::info!(partition = %self.tp, leader_epoch = epoch, isr = ?state.isr, log_end_offset = leo, "became leader");
            let config = ReplicationConfig {
                replica_lag_time_max_ms: self.context.replica_lag_time_max_ms,
                min_insync_replicas: self.config.min_insync_replicas.clamp(1, i32::MAX as i64)
                    as i32,
            };
            self.role = Role::Leader(LeaderState::become_leader(
                me,
                &leader_and_isr(&state),
                leo,
                self.known_high_watermark,
                config,
                now,
            ));
            self.isr_change_in_flight = false;
        } else {
            if !matches!(&self.role, Role::Follower { leader, leader_epoch } if *leader == state.leader && *leader_epoch == state.leader_epoch)
            {
                tracing::info!(partition = %self.tp, leader = state.leader, leader_epoch = state.leader_epoch, "became follower");
            }
            if let Role::Leader(s) = &self.role {
                self.known_high_watermark = s.high_watermark;
            }
            self.role = if state.leader >= 0 {
                Role::Follower {
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                }
            } else {
                Role::Unknown
            };
        }
        self.advance_high_watermark();
    }
}

impl Handler<AppendAsFollower> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: AppendAsFollower, ctx: &mut Context<Self>) -> Self::Result {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let now = Self::now_ms();
        let leo = self.with_log(ctx, |log| {
            if !msg.records.is_empty() {
                log.append_as_follower(msg.records, now)?;
            }
            if msg.leader_log_start_offset > log.log_start_offset()
                && msg.leader_log_start_offset <= log.log_end_offset()
            {
                log.delete_records_before(msg.leader_log_start_offset)?;
            }
            Ok(log.log_end_offset())
        })?;
        self.known_high_watermark = msg.leader_high_watermark.min(leo);
        self.publish_watermarks();
        Ok(leo)
    }
}

impl Handler<GetFollowerPosition> for PartitionReplica {
    type Result = MessageResult<GetFollowerPosition>;

    fn handle(&mut self, _: GetFollowerPosition, _: &mut Context<Self>) -> Self::Result {
        let w = self.watermarks();
        let following_epoch = match &self.role {
            Role::Follower { leader_epoch, .. } => *leader_epoch,
            _ => -1,
        };
        MessageResult(FollowerPosition {
            latest_epoch: self.log.as_ref().and_then(|l| l.latest_epoch()),
            log_end_offset: w.log_end_offset,
            high_watermark: w.high_watermark,
            log_start_offset: w.log_start_offset,
            following_epoch,
        })
    }
}

impl Handler<TruncateTo> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: TruncateTo, ctx: &mut Context<Self>) -> Self::Result {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let tp = self.tp.clone();
        let leo = self.with_log(ctx, |log| {
            let before = log.log_end_offset();
            if msg.fully {
                log.truncate_fully_and_start_at(msg.offset)?;
            } else {
                log.truncate_to(msg.offset)?;
            }
            if log.log_end_offset() != before {
                tracing::info!(partition = %tp, from = before, to = log.log_end_offset(), "truncated the follower's log to the leader's");
            }
            Ok(log.log_end_offset())
        })?;
        self.known_high_watermark = self.known_high_watermark.min(leo);
        self.publish_watermarks();
        Ok(leo)
    }
}

impl Handler<EpochEndOffset> for PartitionReplica {
    type Result = Result<(i32, i64), BrokerError>;

    fn handle(&mut self, msg: EpochEndOffset, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(msg.current_leader_epoch)?;
        self.with_log(ctx, |log| Ok(log.end_offset_for_leader_epoch(msg.epoch)))
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
                controller: OnceLock::new(),
                replica_lag_time_max_ms: 30_000,
                events: Default::default(),
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
