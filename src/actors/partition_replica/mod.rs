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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::watch;

use crate::actors::supervisor::{guard, SupervisorState};
use crate::error::BrokerError;
use crate::storage::{
    AbortedTxn, AppendOrigin, CleanableSnapshot, CleanedLog, FileSlice, InstallOutcome, Log,
    LogConfig,
};

pub mod leadership;

/// Identifies a partition: topic name and index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Offsets a reader needs alongside records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watermarks {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_end_offset: i64,
}

impl Watermarks {
    /// The watermarks of `log` (on one broker the high watermark is the log end).
    pub fn of(log: &Log) -> Watermarks {
        let leo = log.log_end_offset();
        Watermarks {
            log_start_offset: log.log_start_offset(),
            high_watermark: leo,
            last_stable_offset: log.last_stable_offset(),
            log_end_offset: leo,
        }
    }

    /// The offset a reader at `isolation` may read up to (exclusive).
    pub fn fetchable_offset(&self, isolation: IsolationLevel) -> i64 {
        match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark,
            IsolationLevel::ReadCommitted => self.last_stable_offset,
        }
    }
}

/// Which records a reader may see (Kafka's `IsolationLevel`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IsolationLevel {
    /// Everything below the high watermark, records of open and aborted transactions too.
    #[default]
    ReadUncommitted,
    /// Only below the last stable offset; the aborted transactions in what is read are
    /// listed so the reader can skip their records.
    ReadCommitted,
}

impl IsolationLevel {
    /// From a request's `isolation_level` field: 1 is READ_COMMITTED, anything else
    /// READ_UNCOMMITTED.
    pub fn from_wire(level: i8) -> IsolationLevel {
        if level == 1 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        }
    }
}

// ---- messages ----

/// Append batches (already framed; validated by the log before anything is written), from a
/// client's produce request or a coordinator's own writes (`origin`).
#[derive(Message)]
#[rtype(result = "Result<AppendResult, BrokerError>")]
pub struct AppendRecords {
    pub records: Bytes,
    pub origin: AppendOrigin,
}

#[derive(Debug, Clone)]
pub struct AppendResult {
    pub base_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
}

/// Append a transaction marker (a control batch) for `producer_id` ending its open transaction.
#[derive(Message)]
#[rtype(result = "Result<i64, BrokerError>")] // the marker's offset
pub struct WriteTxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// Read whole batches from `fetch_offset`, at most `max_bytes` (the first batch whole when
/// `min_one_batch`), never past the high watermark, or under READ_COMMITTED the last stable
/// offset.
#[derive(Message)]
#[rtype(result = "Result<ReadResult, BrokerError>")]
pub struct ReadRecords {
    pub fetch_offset: i64,
    pub max_bytes: usize,
    pub min_one_batch: bool,
    pub isolation_level: IsolationLevel,
}

#[derive(Debug)]
pub struct ReadResult {
    pub slices: Vec<FileSlice>,
    pub bytes: usize,
    pub watermarks: Watermarks,
    /// Under READ_COMMITTED, the aborted transactions overlapping the batches read (from the
    /// fetch offset); `None` under READ_UNCOMMITTED.
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
}

/// ListOffsets: -1 latest, -2 earliest, -3 max timestamp, else the first offset at or after
/// the timestamp. Returns (offset, timestamp), or (-1, -1) when nothing qualifies. Latest is
/// the high watermark, or under READ_COMMITTED the last stable offset; lookups by timestamp
/// only answer offsets below it.
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), BrokerError>")]
pub struct ListOffset {
    pub timestamp: i64,
    pub isolation_level: IsolationLevel,
}

/// DeleteRecords: move the log start offset to `offset` (-1 = high watermark).
#[derive(Message)]
#[rtype(result = "Result<i64, BrokerError>")]
pub struct DeleteRecordsBefore {
    pub offset: i64,
}

#[derive(Message)]
#[rtype(result = "Watermarks")]
pub struct GetWatermarks;

#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateLogConfig(pub LogConfig);

/// Close the log (flushing it and writing the clean-shutdown marker) and stop for good;
/// with `delete_data` the partition directory is removed (topic deletion).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClosePartition {
    pub delete_data: bool,
}

/// For the `LogCleaner`: the log's closed segments and cleaner checkpoint, when the log is
/// compacted (`cleanup.policy` includes `compact`); None otherwise.
#[derive(Message)]
#[rtype(result = "Option<CleanableSnapshot>")]
pub struct TakeCleanableSnapshot;

/// From the `LogCleaner`: swap rewritten segments in for the ones they replace (groups whose
/// segments changed meanwhile are skipped).
#[derive(Message)]
#[rtype(result = "Result<InstallOutcome, BrokerError>")]
pub struct InstallCleaned(pub CleanedLog);

/// Test-only: panic inside the handler, to prove supervision contains it.
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct InjectPanic;

/// Reads a partition from its log start to its high watermark, whole batches at a time, as a
/// coordinator replays its internal topic at start. `decode` turns the bytes of some whole
/// batches into entries and the offset after the last batch it read; reading stops at the
/// first failure or when no progress is made.
pub async fn replay_partition<T>(
    addr: &Addr<PartitionReplica>,
    mut decode: impl FnMut(Bytes) -> (Vec<T>, Option<i64>),
) -> Vec<T> {
    let mut entries = Vec::new();
    let Ok(marks) = addr.send(GetWatermarks).await else {
        return entries;
    };
    let mut offset = marks.log_start_offset;
    while offset < marks.high_watermark {
        let read = addr
            .send(ReadRecords {
                fetch_offset: offset,
                max_bytes: 1 << 20,
                min_one_batch: true,
                isolation_level: IsolationLevel::ReadUncommitted,
            })
            .await;
        let Ok(Ok(read)) = read else { break };
        let mut bytes = bytes::BytesMut::new();
        for slice in &read.slices {
            match slice.read_bytes() {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(_) => break,
            }
        }
        let (decoded, next) = decode(bytes.freeze());
        entries.extend(decoded);
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    entries
}

// ---- actor ----

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
}

impl PartitionReplica {
    /// `log` is the already-opened log (opened off the actor thread at startup).
    pub fn new(
        tp: TopicPartition,
        dir: PathBuf,
        config: LogConfig,
        log: Log,
        watermarks_tx: watch::Sender<Watermarks>,
        health: Arc<SupervisorState>,
        retention_check_interval: Duration,
        flush_check_interval: Duration,
    ) -> Self {
        PartitionReplica {
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

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn watermarks(&self) -> Watermarks {
        self.log.as_ref().map(Watermarks::of).unwrap_or_default()
    }

    /// Publishes the watermarks if they changed; waiters check their own field.
    fn publish_watermarks(&self) {
        let Some(log) = &self.log else { return };
        let now = Watermarks::of(log);
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
                    if let Err(e) = file.sync_data() {
                        tracing::warn!(partition = %tp, error = %e, "fsync failed");
                    }
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
        let now = Self::now_ms();
        let info = self.with_log(ctx, |log| {
            Ok(log.append_from(msg.records, now, msg.origin)?)
        })?;
        metrics::counter!("troupe_bytes_in_total").increment(info.bytes as u64);
        metrics::counter!("troupe_records_in_total").increment(info.record_count as u64);
        self.publish_watermarks();
        Ok(AppendResult {
            base_offset: info.first_offset,
            log_append_time: info.log_append_time,
            log_start_offset: self.watermarks().log_start_offset,
        })
    }
}

impl Handler<ReadRecords> for PartitionReplica {
    type Result = Result<ReadResult, BrokerError>;

    fn handle(&mut self, msg: ReadRecords, ctx: &mut Context<Self>) -> Self::Result {
        let watermarks = self.watermarks();
        let read_committed = msg.isolation_level == IsolationLevel::ReadCommitted;
        let (read, aborted_transactions) = self.with_log(ctx, |log| {
            let read = log.read(
                msg.fetch_offset,
                msg.max_bytes,
                watermarks.fetchable_offset(msg.isolation_level),
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
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: WriteTxnMarker, ctx: &mut Context<Self>) -> Self::Result {
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
        self.publish_watermarks();
        Ok(info.first_offset)
    }
}

impl Handler<ListOffset> for PartitionReplica {
    type Result = Result<(i64, i64), BrokerError>;

    fn handle(&mut self, msg: ListOffset, ctx: &mut Context<Self>) -> Self::Result {
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
    use crate::storage::log::transaction_tests::Producer;

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
        let replica = PartitionReplica::new(
            tp,
            dir.to_path_buf(),
            config,
            log,
            tx,
            Arc::new(SupervisorState::default()),
            hour,
            hour,
        );
        (replica.start(), rx)
    }

    fn read(isolation_level: IsolationLevel) -> ReadRecords {
        ReadRecords {
            fetch_offset: 0,
            max_bytes: 1 << 20,
            min_one_batch: true,
            isolation_level,
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
        };
        assert_eq!(addr.send(marker).await.unwrap().unwrap(), 2);
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
        };
        let refused = addr.send(stale).await.unwrap().unwrap_err();
        assert_eq!(refused.code(), 47);
    }
}
