//! [`ReplicaManager::fetch_messages`] (Kafka's `fetchMessages`): the fetch path of consumers
//! and followers (the Fetch handler).
//!
//! Reads whole batches from each partition's `PartitionReplica` within the request's byte
//! limits, and parks in a [`DelayedFetch`] (long-poll) until `min_bytes` are available or
//! `max_wait` passes. Limits follow KIP-74: partitions are filled in request order until
//! `max_bytes`; each takes at most `partition_max_bytes`, except that the first batch of the
//! first non-empty partition is returned whole even when larger, so a consumer can always make
//! progress. A consumer reads below the high watermark, or under READ_COMMITTED below the last
//! stable offset (with the aborted transactions overlapping what it gets); a follower (replica
//! id ≥ 0) reads up to the log end, and its fetch offset tells the leader how far it got.
//!
//! Records are never read here: each partition answers with file ranges of its segments
//! ([`FetchedRecords::records`]), which the Fetch handler's encoder sends with `sendfile(2)`;
//! this only asks the kernel to read ahead of what goes out. Knows no wire format and never
//! touches a log: reads are messages to the partitions' actors, or answered from their
//! published watermarks.

use std::time::{Duration, Instant};

use actix::Addr;

use super::delayed_fetch::DelayedFetch;
use super::{PartitionHandle, ReplicaManager};
use crate::actors::partition_replica::{IsolationLevel, ReadRecords, ReadResult, Watermarks};
use crate::actors::system_timer::SystemTimer;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::storage::{AbortedTxn, FileSlice};

/// How far past what a fetch returns the kernel is asked to read ahead: a consumer's next fetch
/// of the partition usually starts where this one ended and asks for as much again, so the
/// read-ahead is what this fetch returns, at least `MIN_READ_AHEAD_BYTES` and at most
/// `MAX_READ_AHEAD_BYTES`. A cold consumer then finds its next fetch on its way from the disk
/// while it handles this one.
const MIN_READ_AHEAD_BYTES: u64 = 8 << 20;
const MAX_READ_AHEAD_BYTES: u64 = 64 << 20;

/// Who is fetching and within what limits (Kafka's `FetchParams`).
#[derive(Clone, Copy, Debug)]
pub struct FetchParams {
    /// -1 for a consumer; a follower's node id (≥ 0) reads up to the log end and parks on it.
    pub replica_id: i32,
    pub isolation: IsolationLevel,
    /// Bytes the whole response may hold (the first batch of the first partition with data
    /// excepted).
    pub max_bytes: usize,
    /// Bytes worth answering for; fewer park the fetch until `max_wait` passes.
    pub min_bytes: usize,
    pub max_wait: Duration,
}

impl FetchParams {
    /// The offset this reader may read up to in a partition with watermarks `w`.
    pub(super) fn fetchable(&self, w: &Watermarks) -> i64 {
        if self.replica_id >= 0 {
            w.log_end_offset
        } else {
            w.fetchable_offset(self.isolation)
        }
    }
}

/// One partition of a fetch, in request order.
#[derive(Clone, Copy, Debug)]
pub struct FetchPartition<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: usize,
    /// The leader epoch the fetcher believes current (-1: not given); another one is fenced.
    pub current_leader_epoch: i32,
}

/// What a fetch returns: each partition's answer in request order.
pub struct FetchResult {
    pub partitions: Vec<FetchPartitionResult>,
    /// Bytes of records in all the partitions' file ranges.
    pub bytes: usize,
}

pub struct FetchPartitionResult {
    pub partition: i32,
    pub result: Result<FetchedRecords, BrokerError>,
}

/// A partition's records and the offsets a reader needs alongside them.
pub struct FetchedRecords {
    /// The partition's watermarks when it was read (log start, high watermark, last stable
    /// offset).
    pub watermarks: Watermarks,
    /// Under READ_COMMITTED, the aborted transactions overlapping what was read; `None` under
    /// READ_UNCOMMITTED.
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
    /// Whole batches, as ranges of segment files.
    pub records: Vec<FileSlice>,
}

/// One partition of the fetch, resolved once.
pub(super) struct Target {
    partition: i32,
    fetch_offset: i64,
    partition_max_bytes: usize,
    current_leader_epoch: i32,
    pub(super) handle: Result<PartitionHandle, BrokerError>,
}

/// One partition's read in a round.
struct PartitionRead {
    fetched: FetchedRecords,
    /// How far the partition could be read when it was (the high watermark, the last stable
    /// offset under READ_COMMITTED, or the log end for a follower).
    fetchable_offset: i64,
    /// Bytes in the read's file ranges.
    bytes: usize,
}

/// Every partition read once, laid out within the limits.
struct Round {
    results: Vec<Result<FetchedRecords, BrokerError>>,
    /// Each partition's fetchable offset as read (-1 for a partition that answered with an
    /// error): a parked fetch wakes when one moves past it.
    fetchable_offsets: Vec<i64>,
    bytes: usize,
    any_error: bool,
}

impl ReplicaManager {
    /// Reads `partitions` within `params`' limits, parking (on the wheel of this arbiter, from
    /// the shared `timer`) while fewer than `min_bytes` are available, at most `max_wait`.
    /// Partitions not hosted here answer NOT_LEADER_OR_FOLLOWER, or
    /// UNKNOWN_TOPIC_OR_PARTITION when `image` does not know them. A consumer is answered
    /// NOT_LEADER_OR_FOLLOWER for every hosted partition while this broker holds no lease
    /// (`lease.rs`): another leader may already have taken writes this one does not have.
    /// Followers are served as before: whoever they follow decides what they truncate.
    pub async fn fetch_messages(
        &self,
        params: FetchParams,
        partitions: &[FetchPartition<'_>],
        image: &MetadataImage,
        timer: &Addr<SystemTimer>,
    ) -> FetchResult {
        let leading = params.replica_id >= 0 || self.replica_context.lease.is_held();
        let targets: Vec<Target> = partitions
            .iter()
            .map(|p| Target {
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                handle: self
                    .partition_or_error(image, p.topic, p.partition)
                    .and_then(|h| match leading {
                        true => Ok(h),
                        false => Err(BrokerError::NotLeaderOrFollower),
                    }),
            })
            .collect();
        let mut delayed = DelayedFetch::new(Instant::now() + params.max_wait);
        let round = loop {
            let round = read_round(&targets, params).await;
            let satisfied =
                round.bytes >= params.min_bytes.max(1) || round.any_error || params.min_bytes == 0;
            if satisfied || delayed.expired() || params.max_wait.is_zero() {
                break round;
            }
            if !delayed
                .park(timer, &targets, &round.fetchable_offsets, params)
                .await
            {
                break round;
            }
        };
        delayed.complete();
        FetchResult {
            partitions: targets
                .iter()
                .zip(round.results)
                .map(|(t, result)| FetchPartitionResult {
                    partition: t.partition,
                    result,
                })
                .collect(),
            bytes: round.bytes,
        }
    }
}

/// Reads every partition at once (each with data is one message to its partition actor,
/// maybe on another core; reading them one after another made a fetch wait out each hop in
/// turn), then lays the answers out in request order within `max_bytes` as Kafka does: the
/// first partition with data may exceed the limits by its first batch (KIP-74), later ones
/// only take whole batches that fit. The rare partition whose parallel read does not fit what
/// is left is read again with the smaller budget.
async fn read_round(targets: &[Target], params: FetchParams) -> Round {
    let max_bytes = params.max_bytes;
    let first_reads = futures::future::join_all(targets.iter().map(|t| async move {
        match &t.handle {
            Err(e) => Err(e.clone()),
            Ok(h) => read_partition(h, t, t.partition_max_bytes.min(max_bytes), true, params).await,
        }
    }))
    .await;
    let mut round = Round {
        results: Vec::with_capacity(targets.len()),
        fetchable_offsets: Vec::with_capacity(targets.len()),
        bytes: 0,
        any_error: false,
    };
    for (t, first_read) in targets.iter().zip(first_reads) {
        let budget = t
            .partition_max_bytes
            .min(max_bytes.saturating_sub(round.bytes));
        let read = match (first_read, &t.handle) {
            (Ok(read), Ok(h)) if round.bytes > 0 && read.bytes > budget => {
                read_partition(h, t, budget, false, params).await
            }
            (read, _) => read,
        };
        match read {
            Ok(read) => {
                // Only what goes out is read ahead: a read dropped for want of room would
                // otherwise pull its partition's next range off the disk ahead of the one that
                // is being sent.
                if let Some(last) = read.fetched.records.last() {
                    last.prefetch(
                        (read.bytes as u64).clamp(MIN_READ_AHEAD_BYTES, MAX_READ_AHEAD_BYTES),
                    );
                }
                round.bytes += read.bytes;
                round.fetchable_offsets.push(read.fetchable_offset);
                round.results.push(Ok(read.fetched));
            }
            Err(e) => {
                round.any_error = true;
                round.fetchable_offsets.push(-1);
                round.results.push(Err(e));
            }
        }
    }
    round
}

/// Reads one partition: the replica returns file ranges, which go to the socket as they are
/// (the partition actor never touches record bytes).
async fn read_partition(
    h: &PartitionHandle,
    target: &Target,
    budget: usize,
    min_one_batch: bool,
    params: FetchParams,
) -> Result<PartitionRead, BrokerError> {
    let read = match caught_up(h, target, params) {
        Some(nothing_new) => nothing_new,
        None => {
            h.addr
                .send(ReadRecords {
                    fetch_offset: target.fetch_offset,
                    max_bytes: budget,
                    min_one_batch,
                    isolation_level: params.isolation,
                    replica_id: params.replica_id,
                    current_leader_epoch: target.current_leader_epoch,
                })
                .await??
        }
    };
    let bytes = read.slices.iter().map(|s| s.len as usize).sum();
    Ok(PartitionRead {
        fetchable_offset: params.fetchable(&read.watermarks),
        bytes,
        fetched: FetchedRecords {
            watermarks: read.watermarks,
            aborted_transactions: read.aborted_transactions,
            records: read.slices,
        },
    })
}

/// The answer for a consumer already at the end of what it may read, known from the
/// partition's published watermarks without a message to its actor: nothing to return. A
/// long-polling consumer of many partitions then costs the partitions that have new data only.
/// Followers always go to the actor (their fetch offset is replication progress), and so does
/// anything the watermarks cannot settle (another leader epoch, not the leader, an offset
/// elsewhere).
fn caught_up(h: &PartitionHandle, target: &Target, params: FetchParams) -> Option<ReadResult> {
    let w = *h.watermarks.borrow();
    let settled = params.replica_id < 0
        && w.is_leader
        && (target.current_leader_epoch < 0 || target.current_leader_epoch == w.leader_epoch)
        && target.fetch_offset >= w.log_start_offset
        && target.fetch_offset == params.fetchable(&w);
    settled.then(|| ReadResult {
        slices: Vec::new(),
        bytes: 0,
        watermarks: w,
        aborted_transactions: (params.isolation == IsolationLevel::ReadCommitted).then(Vec::new),
    })
}
