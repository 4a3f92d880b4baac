//! The messages a `PartitionReplica` accepts and the types they carry (`TopicPartition`,
//! `Watermarks`, `IsolationLevel`, the append and read results). Plain data: nothing here
//! touches a log or an actor's state; the handlers are in `mod.rs`.

use actix::prelude::*;
use bytes::Bytes;

use crate::error::BrokerError;
use crate::metadata::PartitionMeta;
use crate::storage::{
    AbortedTxn, AppendOrigin, CleanableSnapshot, CleanedLog, FileSlice, InstallOutcome, Log,
    LogConfig,
};

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
    /// Whether this replica leads the partition, at which leader epoch, with how many in-sync
    /// replicas: an `acks=all` produce waits on these as well as on the high watermark.
    pub is_leader: bool,
    pub leader_epoch: i32,
    pub isr_size: usize,
}

impl Watermarks {
    /// The watermarks of `log` before the replica knows its role: the high watermark is the
    /// log end offset until leadership says otherwise.
    pub fn of(log: &Log) -> Watermarks {
        let leo = log.log_end_offset();
        Watermarks {
            log_start_offset: log.log_start_offset(),
            high_watermark: leo,
            last_stable_offset: log.last_stable_offset(),
            log_end_offset: leo,
            is_leader: false,
            leader_epoch: -1,
            isr_size: 0,
        }
    }

    /// The offset a reader at `isolation` may read up to (exclusive).
    pub fn fetchable_offset(&self, isolation: IsolationLevel) -> i64 {
        match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark,
            IsolationLevel::ReadCommitted => self.last_stable_offset,
            IsolationLevel::LogEnd => self.log_end_offset,
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
    /// Everything up to the log end offset, replicated or not (Kafka's `FetchIsolation.LOG_END`).
    /// Never from the wire: a coordinator loading the internal-topic partition it now leads
    /// reads all of it, since the new leader's log is what the partition will hold.
    LogEnd,
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
/// Only the leader appends; with `required_acks` -1 it first checks that the ISR has at least
/// `min.insync.replicas` members (NOT_ENOUGH_REPLICAS otherwise, nothing written).
#[derive(Message)]
#[rtype(result = "Result<AppendResult, BrokerError>")]
pub struct AppendRecords {
    pub records: Bytes,
    pub origin: AppendOrigin,
    pub required_acks: i16,
}

#[derive(Debug, Clone)]
pub struct AppendResult {
    pub base_offset: i64,
    /// The offset after the last record written: an `acks=all` produce is complete when the
    /// high watermark reaches it.
    pub next_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The leader epoch the records were written at.
    pub leader_epoch: i32,
    /// `min.insync.replicas` of the partition when it was written.
    pub min_insync_replicas: i64,
}

/// What this node's metadata says about the partition now: it becomes (or stays) leader when
/// `state.leader` is this node, else a follower of `state.leader` (-1: no leader).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BecomeLeaderOrFollower {
    pub state: PartitionMeta,
}

/// Batches fetched from the leader, with offsets as the leader assigned them.
#[derive(Message)]
#[rtype(result = "Result<i64, BrokerError>")] // the new log end offset
pub struct AppendAsFollower {
    pub records: Bytes,
    pub leader_high_watermark: i64,
    pub leader_log_start_offset: i64,
}

/// A follower's view for its fetcher: latest leader epoch in its log, log end offset.
#[derive(Message)]
#[rtype(result = "FollowerPosition")]
pub struct GetFollowerPosition;

#[derive(Clone, Copy, Debug)]
pub struct FollowerPosition {
    pub latest_epoch: Option<i32>,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The leader epoch this replica follows at (-1: not a follower).
    pub following_epoch: i32,
}

/// Remove everything at and above `offset` (a follower whose log diverged from the leader's).
#[derive(Message)]
#[rtype(result = "Result<i64, BrokerError>")] // the new log end offset
pub struct TruncateTo {
    pub offset: i64,
    /// Set when the leader's log starts above ours: drop everything and restart at `offset`.
    pub fully: bool,
}

/// OffsetForLeaderEpoch on the leader: (epoch, end offset) of the largest epoch at or below
/// `epoch`, or (-1, -1).
#[derive(Message)]
#[rtype(result = "Result<(i32, i64), BrokerError>")]
pub struct EpochEndOffset {
    pub epoch: i32,
    pub current_leader_epoch: i32,
}

/// Append a transaction marker (a control batch) for `producer_id` ending its open transaction.
/// Only the leader appends; with `required_acks` -1 (what markers use, as in Kafka) it first
/// checks the ISR against `min.insync.replicas`, and the writer then waits for the high
/// watermark to pass `next_offset` of the answer.
#[derive(Message)]
#[rtype(result = "Result<AppendResult, BrokerError>")]
pub struct WriteTxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    pub required_acks: i16,
}

/// Read whole batches from `fetch_offset`, at most `max_bytes` (the first batch whole when
/// `min_one_batch`), never past the high watermark, or under READ_COMMITTED the last stable
/// offset.
///
/// `replica_id` ≥ 0 is a follower's fetch: it reads up to the log end offset and tells the
/// leader how far that follower got (its LEO is the fetch offset). `current_leader_epoch` (-1:
/// not given) fences clients and followers with a different view of leadership.
#[derive(Message)]
#[rtype(result = "Result<ReadResult, BrokerError>")]
pub struct ReadRecords {
    pub fetch_offset: i64,
    pub max_bytes: usize,
    pub min_one_batch: bool,
    pub isolation_level: IsolationLevel,
    pub replica_id: i32,
    pub current_leader_epoch: i32,
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
    pub current_leader_epoch: i32,
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
