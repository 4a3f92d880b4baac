//! Fetch: reads whole batches from each partition's `PartitionReplica` within the request's
//! byte limits, and parks (long-poll) until `min_bytes` are available or `max_wait_ms` passes.
//!
//! Limits follow KIP-74: partitions are filled in request order until `max_bytes`; each takes
//! at most `partition_max_bytes`, except that the first batch of the first non-empty partition
//! is returned whole even when larger, so a consumer can always make progress.
//! A parked fetch waits on the partitions' high-watermark watches and on one `TimerWheel`
//! wake-up; it never polls. Fetch sessions are answered with session id 0, which tells clients
//! to keep sending full fetch requests (KIP-227's sessionless mode).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

use super::partition_handle;
use crate::actors::partition_replica::ReadRecords;
use crate::actors::replica_manager::PartitionHandle;
use crate::actors::timer_wheel::{CancelWakeup, ScheduleWakeup};
use crate::broker::BrokerContext;
use crate::error::BrokerError;

/// One partition of the request, resolved once.
struct Target {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    partition_max_bytes: usize,
    handle: Result<PartitionHandle, BrokerError>,
}

pub async fn handle(ctx: &Arc<BrokerContext>, req: FetchRequest, version: i16) -> FetchResponse {
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
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = Instant::now() + max_wait;

    let mut timer: Option<(
        crate::timing_wheel::TimerId,
        tokio::sync::oneshot::Receiver<()>,
    )> = None;
    let mut timer_fired = false;
    let result = loop {
        let round = read_round(&targets, max_bytes).await;
        let satisfied = round.bytes >= min_bytes.max(1) || round.any_error || min_bytes == 0;
        let expired = timer_fired || Instant::now() >= deadline;
        if satisfied || expired || max_wait.is_zero() {
            break round;
        }
        if timer.is_none() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let remaining = deadline.saturating_duration_since(Instant::now());
            match ctx
                .timer
                .send(ScheduleWakeup {
                    delay: remaining,
                    waker: tx,
                })
                .await
            {
                Ok(id) => timer = Some((id, rx)),
                Err(_) => break round,
            }
        }
        let Some((_, rx)) = timer.as_mut() else {
            break round;
        };
        timer_fired = wait_for_data(&targets, &round.high_watermarks, rx).await;
    };
    if let Some((id, _)) = timer {
        ctx.timer.do_send(CancelWakeup(id));
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
    for (target, mut data) in targets.iter().zip(result.partitions) {
        if version < 5 {
            data.log_start_offset = -1; // the field exists from v5
        }
        responses[target.topic_index].partitions.push(data);
    }
    metrics::counter!("troupe_bytes_out_total").increment(result.bytes as u64);
    FetchResponse::default()
        .with_responses(responses)
        .with_session_id(0)
}

struct Round {
    partitions: Vec<PartitionData>,
    /// High watermark each partition had when read (-1 when unknown).
    high_watermarks: Vec<i64>,
    bytes: usize,
    any_error: bool,
}

async fn read_round(targets: &[Target], max_bytes: usize) -> Round {
    let mut round = Round {
        partitions: Vec::new(),
        high_watermarks: Vec::new(),
        bytes: 0,
        any_error: false,
    };
    for t in targets {
        let budget = t
            .partition_max_bytes
            .min(max_bytes.saturating_sub(round.bytes));
        let data = match &t.handle {
            Err(e) => Err(e.clone()),
            Ok(h) => read_partition(h, t.fetch_offset, budget, round.bytes == 0).await,
        };
        match data {
            Ok((pd, hw, n)) => {
                round.bytes += n;
                round.high_watermarks.push(hw);
                round.partitions.push(pd.with_partition_index(t.partition));
            }
            Err(e) => {
                round.any_error = true;
                round.high_watermarks.push(-1);
                round.partitions.push(error_partition(t.partition, &e));
            }
        }
    }
    round
}

/// Reads one partition: the replica returns file ranges; the bytes are read here, on the
/// connection's thread, so the partition actor never blocks on a large read.
async fn read_partition(
    h: &PartitionHandle,
    offset: i64,
    budget: usize,
    min_one_batch: bool,
) -> Result<(PartitionData, i64, usize), BrokerError> {
    let read = h
        .addr
        .send(ReadRecords {
            fetch_offset: offset,
            max_bytes: budget,
            min_one_batch,
        })
        .await??;
    let records =
        read_slices(&read.slices).map_err(|e| BrokerError::KafkaStorage(e.to_string()))?;
    let n = records.len();
    let w = read.watermarks;
    let pd = PartitionData::default()
        .with_high_watermark(w.high_watermark)
        .with_last_stable_offset(w.last_stable_offset)
        .with_log_start_offset(w.log_start_offset)
        .with_preferred_read_replica(BrokerId(-1))
        .with_records(Some(records));
    Ok((pd, w.high_watermark, n))
}

fn read_slices(slices: &[crate::storage::FileSlice]) -> std::io::Result<Bytes> {
    match slices {
        [] => Ok(Bytes::new()),
        [one] => one.read_bytes(),
        many => {
            let mut buf = BytesMut::with_capacity(many.iter().map(|s| s.len as usize).sum());
            for s in many {
                buf.extend_from_slice(&s.read_bytes()?);
            }
            Ok(buf.freeze())
        }
    }
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

/// Parks until any partition's high watermark moves past what was read, or the timer fires
/// (returns true then).
async fn wait_for_data(
    targets: &[Target],
    seen: &[i64],
    timer: &mut tokio::sync::oneshot::Receiver<()>,
) -> bool {
    let mut waits = Vec::new();
    for (t, hw) in targets.iter().zip(seen) {
        if let Ok(h) = &t.handle {
            let mut rx = h.high_watermark.clone();
            let hw = *hw;
            waits.push(
                async move {
                    // A closed partition never wakes anyone: wait for the timer instead of spinning.
                    if rx.wait_for(|v| *v > hw).await.is_err() {
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
