//! Fetch: reads whole batches from each partition's `PartitionReplica` within the request's
//! byte limits, and parks (long-poll) until `min_bytes` are available or `max_wait_ms` passes.
//!
//! Limits follow KIP-74: partitions are filled in request order until `max_bytes`; each takes
//! at most `partition_max_bytes`, except that the first batch of the first non-empty partition
//! is returned whole even when larger, so a consumer can always make progress.
//! A parked fetch waits on the partitions' watermark watches and on one `TimerWheel` wake-up;
//! it never polls. Fetch sessions are answered with session id 0, which tells clients to keep
//! sending full fetch requests (KIP-227's sessionless mode).
//!
//! `isolation_level` 1 (READ_COMMITTED) reads only below each partition's last stable offset,
//! lists the aborted transactions overlapping what it returns, and parks on the last stable
//! offset instead of the high watermark. Control batches (transaction markers) are returned
//! like any other; clients skip them.
//!
//! Records are never read here: each partition answers with file ranges of its segments, and
//! `encode` writes the response around them so the connection sends them with `sendfile(2)`.

mod encode;

pub use encode::{encode_fetch_response, PartitionRecords};

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};

use super::partition_handle;
use crate::actors::partition_replica::{IsolationLevel, ReadRecords};
use crate::actors::purgatory::{Parked, Purgatory};
use crate::actors::partition_replica::replica_manager::PartitionHandle;
use crate::actors::timer_wheel::{self, CancelWakeup, ScheduleWakeup};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::storage::FileSlice;

/// How far past what a fetch returns the kernel is asked to read ahead: a consumer's next fetch
/// of the partition usually starts where this one ended and asks for as much again, so the
/// read-ahead is what this fetch returns, at least `MIN_READ_AHEAD_BYTES` and at most
/// `MAX_READ_AHEAD_BYTES`. A cold consumer then finds its next fetch on its way from the disk
/// while it handles this one.
const MIN_READ_AHEAD_BYTES: u64 = 8 << 20;
const MAX_READ_AHEAD_BYTES: u64 = 64 << 20;

/// One partition of the request, resolved once.
struct Target {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    partition_max_bytes: usize,
    current_leader_epoch: i32,
    handle: Result<PartitionHandle, BrokerError>,
}

/// Who is fetching: a consumer reads below the high watermark (or the last stable offset); a
/// follower (replica id ≥ 0) reads up to the log end and parks on it.
#[derive(Clone, Copy)]
struct Reader {
    replica_id: i32,
    isolation: IsolationLevel,
}

impl Reader {
    fn fetchable(&self, w: &crate::actors::partition_replica::Watermarks) -> i64 {
        if self.replica_id >= 0 {
            w.log_end_offset
        } else {
            w.fetchable_offset(self.isolation)
        }
    }
}

/// The response without its records, and each partition's records (file ranges) in response
/// order, for [`encode_fetch_response`].
pub struct FetchReply {
    pub response: FetchResponse,
    pub records: Vec<PartitionRecords>,
}

pub async fn handle(ctx: &Arc<BrokerContext>, req: FetchRequest, version: i16) -> FetchReply {
    let image = ctx.metadata.current();
    let mut targets = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let name = t.topic.as_str();
        for p in &t.partitions {
            let handle = partition_handle(ctx, &image, name, p.partition);
            targets.push(Target {
                topic_index: ti,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch: p.current_leader_epoch,
                handle,
            });
        }
    }
    let max_bytes = if req.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        req.max_bytes as usize
    };
    let min_bytes = req.min_bytes.max(0) as usize;
    let isolation = IsolationLevel::from_wire(req.isolation_level);
    // Fetch v15 moved the replica id into `replica_state`.
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let reader = Reader {
        replica_id,
        isolation,
    };
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = Instant::now() + max_wait;

    // The wheel of this connection's arbiter, the wake-up's id on it, and the receiver; only
    // a fetch that parks looks the wheel up.
    let mut timer: Option<(
        actix::Addr<timer_wheel::TimerWheel>,
        crate::timing_wheel::TimerId,
        tokio::sync::oneshot::Receiver<()>,
    )> = None;
    let mut timer_fired = false;
    let result = loop {
        let round = read_round(&targets, max_bytes, reader).await;
        let satisfied = round.bytes >= min_bytes.max(1) || round.any_error || min_bytes == 0;
        let expired = timer_fired || Instant::now() >= deadline;
        if satisfied || expired || max_wait.is_zero() {
            break round;
        }
        if timer.is_none() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wheel = timer_wheel::for_this_arbiter(&ctx.timer);
            match wheel
                .send(ScheduleWakeup {
                    delay: remaining,
                    waker: tx,
                })
                .await
            {
                Ok(id) => timer = Some((wheel, id, rx)),
                Err(_) => break round,
            }
        }
        let Some((_, _, rx)) = timer.as_mut() else {
            break round;
        };
        let _parked = Parked::new(Purgatory::Fetch);
        timer_fired = wait_for_data(&targets, &round.fetchable_offsets, reader, rx).await;
    };
    if let Some((wheel, id, _)) = timer {
        wheel.do_send(CancelWakeup(id));
    }

    let mut responses: Vec<FetchableTopicResponse> = req
        .topics
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
        })
        .collect();
    // Records go in response order: topic by topic, each topic's partitions in request order.
    let mut by_topic: Vec<Vec<PartitionRecords>> = vec![Vec::new(); responses.len()];
    for ((target, mut data), records) in targets.iter().zip(result.partitions).zip(result.records) {
        if version < 5 {
            data.log_start_offset = -1; // the field exists from v5
        }
        responses[target.topic_index].partitions.push(data);
        by_topic[target.topic_index].push(records);
    }
    metrics::counter!("troupe_bytes_out_total").increment(result.bytes as u64);
    FetchReply {
        response: FetchResponse::default()
            .with_responses(responses)
            .with_session_id(0),
        records: by_topic.into_iter().flatten().collect(),
    }
}

struct Round {
    partitions: Vec<PartitionData>,
    /// Each partition's records (None for a partition that answered with an error).
    records: Vec<PartitionRecords>,
    /// How far each partition could be read when it was (the high watermark, or the last
    /// stable offset under READ_COMMITTED; -1 when unknown).
    fetchable_offsets: Vec<i64>,
    bytes: usize,
    any_error: bool,
}

/// Reads every partition at once (each with data is one message to its partition actor,
/// maybe on another core; reading them one after another made a fetch wait out each hop in
/// turn), then lays the answers out in request order within `max_bytes` as Kafka does: the
/// first partition with data may exceed the limits by its first batch (KIP-74), later ones
/// only take whole batches that fit. The rare partition whose parallel read does not fit what
/// is left is read again with the smaller budget.
async fn read_round(targets: &[Target], max_bytes: usize, reader: Reader) -> Round {
    let first_reads = futures::future::join_all(targets.iter().map(|t| async move {
        match &t.handle {
            Err(e) => Err(e.clone()),
            Ok(h) => read_partition(h, t, t.partition_max_bytes.min(max_bytes), true, reader).await,
        }
    }))
    .await;
    let mut round = Round {
        partitions: Vec::with_capacity(targets.len()),
        records: Vec::with_capacity(targets.len()),
        fetchable_offsets: Vec::with_capacity(targets.len()),
        bytes: 0,
        any_error: false,
    };
    for (t, first_read) in targets.iter().zip(first_reads) {
        let budget = t
            .partition_max_bytes
            .min(max_bytes.saturating_sub(round.bytes));
        let data = match (first_read, &t.handle) {
            (Ok(read), Ok(h)) if round.bytes > 0 && read.3 > budget => {
                read_partition(h, t, budget, false, reader).await
            }
            (read, _) => read,
        };
        match data {
            Ok((pd, slices, fetchable, n)) => {
                // Only what goes out is read ahead: a read dropped for want of room would
                // otherwise pull its partition's next range off the disk ahead of the one that
                // is being sent.
                if let Some(last) = slices.last() {
                    last.prefetch((n as u64).clamp(MIN_READ_AHEAD_BYTES, MAX_READ_AHEAD_BYTES));
                }
                round.bytes += n;
                round.fetchable_offsets.push(fetchable);
                round.partitions.push(pd.with_partition_index(t.partition));
                round.records.push(Some(slices));
            }
            Err(e) => {
                round.any_error = true;
                round.fetchable_offsets.push(-1);
                round.partitions.push(error_partition(t.partition, &e));
                round.records.push(None);
            }
        }
    }
    round
}

/// Reads one partition: the replica returns file ranges, which go to the socket as they are
/// (the partition actor never touches record bytes). Also returns how far the partition could
/// be read, and the bytes in the ranges.
async fn read_partition(
    h: &PartitionHandle,
    target: &Target,
    budget: usize,
    min_one_batch: bool,
    reader: Reader,
) -> Result<(PartitionData, Vec<FileSlice>, i64, usize), BrokerError> {
    let read = match caught_up(h, target, reader) {
        Some(nothing_new) => nothing_new,
        None => {
            h.addr
                .send(ReadRecords {
                    fetch_offset: target.fetch_offset,
                    max_bytes: budget,
                    min_one_batch,
                    isolation_level: reader.isolation,
                    replica_id: reader.replica_id,
                    current_leader_epoch: target.current_leader_epoch,
                })
                .await??
        }
    };
    let n = read.slices.iter().map(|s| s.len as usize).sum();
    let w = read.watermarks;
    let aborted = read.aborted_transactions.map(|txns| {
        txns.iter()
            .map(|t| {
                AbortedTransaction::default()
                    .with_producer_id(ProducerId(t.producer_id))
                    .with_first_offset(t.first_offset)
            })
            .collect()
    });
    let pd = PartitionData::default()
        .with_high_watermark(w.high_watermark)
        .with_last_stable_offset(w.last_stable_offset)
        .with_log_start_offset(w.log_start_offset)
        .with_aborted_transactions(aborted)
        .with_preferred_read_replica(BrokerId(-1));
    Ok((pd, read.slices, reader.fetchable(&w), n))
}

/// The answer for a consumer already at the end of what it may read, known from the
/// partition's published watermarks without a message to its actor: nothing to return. A
/// long-polling consumer of many partitions then costs the partitions that have new data only.
/// Followers always go to the actor (their fetch offset is replication progress), and so does
/// anything the watermarks cannot settle (another leader epoch, not the leader, an offset
/// elsewhere).
fn caught_up(
    h: &PartitionHandle,
    target: &Target,
    reader: Reader,
) -> Option<crate::actors::partition_replica::ReadResult> {
    let w = *h.watermarks.borrow();
    let settled = reader.replica_id < 0
        && w.is_leader
        && (target.current_leader_epoch < 0 || target.current_leader_epoch == w.leader_epoch)
        && target.fetch_offset >= w.log_start_offset
        && target.fetch_offset == reader.fetchable(&w);
    settled.then(|| crate::actors::partition_replica::ReadResult {
        slices: Vec::new(),
        bytes: 0,
        watermarks: w,
        aborted_transactions: (reader.isolation == IsolationLevel::ReadCommitted).then(Vec::new),
    })
}

fn error_partition(partition: i32, e: &BrokerError) -> PartitionData {
    let (hw, lso, lstart) = match e {
        BrokerError::OffsetOutOfRange {
            log_start, log_end, ..
        } => (*log_end, *log_end, *log_start),
        _ => (-1, -1, -1),
    };
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(e.code())
        .with_high_watermark(hw)
        .with_last_stable_offset(lso)
        .with_log_start_offset(lstart)
        .with_preferred_read_replica(BrokerId(-1))
}

/// Parks until any partition's fetchable offset (high watermark, or last stable offset under
/// READ_COMMITTED) moves past what was read, or the timer fires (returns true then).
async fn wait_for_data(
    targets: &[Target],
    seen: &[i64],
    reader: Reader,
    timer: &mut tokio::sync::oneshot::Receiver<()>,
) -> bool {
    let mut waits = Vec::new();
    for (t, seen) in targets.iter().zip(seen) {
        if let Ok(h) = &t.handle {
            let mut rx = h.watermarks.clone();
            let seen = *seen;
            waits.push(
                async move {
                    // A closed partition never wakes anyone: wait for the timer instead of spinning.
                    let moved = |w: &crate::actors::partition_replica::Watermarks| {
                        reader.fetchable(w) > seen
                    };
                    if rx.wait_for(moved).await.is_err() {
                        futures::future::pending::<()>().await;
                    }
                }
                .boxed(),
            );
        }
    }
    if waits.is_empty() {
        let _ = timer.await;
        return true;
    }
    tokio::select! {
        _ = futures::future::select_all(waits) => false,
        _ = timer => true,
    }
}
