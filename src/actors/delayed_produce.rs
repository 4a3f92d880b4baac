//! DelayedProduce: the wait of an `acks=all` write for its replication, shared by client
//! produces (`handlers/produce.rs`), the coordinators' own writes to `__consumer_offsets` and
//! `__transaction_state`, and transaction markers.
//!
//! Not an actor and not a purgatory object: the writer holds the wait itself, parked on the
//! partition's `Watermarks` watch and on one `SystemTimer` wake-up at its timeout, so nothing
//! polls. The write is complete when the high watermark reaches the end of what was appended.
//! It fails early when the partition stops being led here at the epoch it was written at
//! (NOT_LEADER_OR_FOLLOWER: the records may be truncated by the next leader) or when the ISR
//! shrinks below `min.insync.replicas` (NOT_ENOUGH_REPLICAS_AFTER_APPEND); the timeout
//! answers REQUEST_TIMED_OUT.

use std::time::Duration;

use actix::Addr;
use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::actors::partition_replica::{AppendRecords, AppendResult, Watermarks};
use crate::actors::replica_manager::PartitionHandle;
use crate::actors::system_timer::{CancelWakeup, ScheduleWakeup, SystemTimer};
use crate::error::BrokerError;
use crate::runtime::purgatory::{Parked, Purgatory};
use crate::storage::AppendOrigin;

/// Appends `records` as the leader with `acks=all` (refused up front while the ISR is smaller
/// than `min.insync.replicas`) and waits, at most `timeout`, until they are replicated.
pub async fn append_replicated(
    handle: &PartitionHandle,
    records: Bytes,
    origin: AppendOrigin,
    timer: &Addr<SystemTimer>,
    timeout: Duration,
) -> Result<AppendResult, BrokerError> {
    let appended = handle
        .addr
        .send(AppendRecords {
            records,
            origin,
            required_acks: -1,
        })
        .await??;
    await_replication(timer, &handle.watermarks, &appended, timeout).await?;
    Ok(appended)
}

/// Waits until the high watermark passes what `appended` wrote, the write can no longer
/// complete, or `timeout` passes.
pub async fn await_replication(
    timer: &Addr<SystemTimer>,
    watermarks: &watch::Receiver<Watermarks>,
    appended: &AppendResult,
    timeout: Duration,
) -> Result<(), BrokerError> {
    let mut watermarks = watermarks.clone();
    let now = *watermarks.borrow_and_update();
    if let Some(outcome) = outcome(&now, appended) {
        return outcome;
    }
    let _parked = Parked::new(Purgatory::Produce);
    let (tx, rx) = oneshot::channel();
    let wakeup = timer
        .send(ScheduleWakeup {
            delay: timeout,
            waker: tx,
        })
        .await
        .map_err(|_| BrokerError::RequestTimedOut)?;
    let result = tokio::select! {
        r = watermarks.wait_for(|w| outcome(w, appended).is_some()) => match r {
            Ok(w) => outcome(&w, appended).unwrap_or(Err(BrokerError::RequestTimedOut)),
            // The partition actor is gone (closed or deleted): no longer led here.
            Err(_) => Err(BrokerError::NotLeaderOrFollower),
        },
        _ = rx => Err(BrokerError::RequestTimedOut),
    };
    timer.do_send(CancelWakeup(wakeup));
    metrics::counter!("troupe_delayed_produce_completed_total").increment(1);
    result
}

/// How a write stands given the partition's watermarks: `None` while it is still waiting.
fn outcome(w: &Watermarks, appended: &AppendResult) -> Option<Result<(), BrokerError>> {
    if w.high_watermark >= appended.next_offset {
        Some(Ok(()))
    } else if !w.is_leader || w.leader_epoch != appended.leader_epoch {
        Some(Err(BrokerError::NotLeaderOrFollower))
    } else if (w.isr_size as i64) < appended.min_insync_replicas {
        Some(Err(BrokerError::NotEnoughReplicasAfterAppend))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appended() -> AppendResult {
        AppendResult {
            base_offset: 10,
            next_offset: 12,
            log_append_time: -1,
            log_start_offset: 0,
            leader_epoch: 3,
            min_insync_replicas: 2,
        }
    }

    fn marks(
        high_watermark: i64,
        is_leader: bool,
        leader_epoch: i32,
        isr_size: usize,
    ) -> Watermarks {
        Watermarks {
            high_watermark,
            log_end_offset: 12,
            is_leader,
            leader_epoch,
            isr_size,
            ..Default::default()
        }
    }

    #[test]
    fn a_write_completes_when_the_high_watermark_passes_it() {
        assert_eq!(outcome(&marks(11, true, 3, 3), &appended()), None);
        assert_eq!(outcome(&marks(12, true, 3, 3), &appended()), Some(Ok(())));
        // Replicated counts even if leadership moved right after.
        assert_eq!(outcome(&marks(12, false, 4, 0), &appended()), Some(Ok(())));
    }

    #[test]
    fn a_write_fails_when_leadership_moves_or_the_isr_is_too_small() {
        let moved = outcome(&marks(11, false, 3, 0), &appended());
        assert_eq!(moved, Some(Err(BrokerError::NotLeaderOrFollower)));
        let new_epoch = outcome(&marks(11, true, 4, 3), &appended());
        assert_eq!(new_epoch, Some(Err(BrokerError::NotLeaderOrFollower)));
        let shrunk = outcome(&marks(11, true, 3, 1), &appended());
        assert_eq!(shrunk, Some(Err(BrokerError::NotEnoughReplicasAfterAppend)));
    }
}
