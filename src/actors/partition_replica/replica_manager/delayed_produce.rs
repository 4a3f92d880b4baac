//! `DelayedProduce`: the wait of an `acks=all` write for its replication, shared by client
//! produces (`ReplicaManager::append_records`, `append.rs`), the coordinators' own writes to
//! `__consumer_offsets` and `__transaction_state` ([`append_replicated`]), and transaction
//! markers ([`await_replication`]).
//!
//! Not an actor and not a purgatory object: the writer holds the wait itself, parked on the
//! partition's `Watermarks` watch, on the broker lease's expiry and on one `SystemTimer`
//! wake-up at its timeout, so nothing polls; a [`Parked`] guard counts it in the produce
//! purgatory while it waits. The write is complete when the high watermark reaches the end of
//! what was appended. It fails early when the partition stops being led here at the epoch it
//! was written at, or when this broker's lease runs out (NOT_LEADER_OR_FOLLOWER: the records
//! may be truncated by the next leader, and the client should look for it now rather than at
//! its request timeout) or when the ISR shrinks below `min.insync.replicas`
//! (NOT_ENOUGH_REPLICAS_AFTER_APPEND); the timeout answers REQUEST_TIMED_OUT.
//!
//! It may read the partition's watermarks and send it `AppendRecords`; it never touches a log
//! or the partition's state.

use std::time::Duration;

use actix::Addr;
use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use super::PartitionHandle;
use crate::actors::partition_replica::lease::BrokerLease;
use crate::actors::partition_replica::{AppendRecords, AppendResult, Watermarks};
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
    await_replication(timer, handle, &appended, timeout).await?;
    Ok(appended)
}

/// Waits until the high watermark passes what `appended` wrote, the write can no longer
/// complete, or `timeout` passes.
pub async fn await_replication(
    timer: &Addr<SystemTimer>,
    handle: &PartitionHandle,
    appended: &AppendResult,
    timeout: Duration,
) -> Result<(), BrokerError> {
    DelayedProduce {
        watermarks: handle.watermarks.clone(),
        lease: &handle.lease,
        appended,
    }
    .wait(timer, timeout)
    .await
}

/// An appended write waiting for the ISR to replicate it (Kafka's `DelayedProduce`).
struct DelayedProduce<'a> {
    /// The partition's watermarks, watched for the high watermark, leadership and ISR size.
    watermarks: watch::Receiver<Watermarks>,
    /// This broker's lease: once it runs out the write cannot be acknowledged here any more.
    lease: &'a BrokerLease,
    /// What the leader appended: where the write ends and at which leader epoch.
    appended: &'a AppendResult,
}

impl DelayedProduce<'_> {
    /// Completes at once when the watermarks already settle the write; otherwise parks on them
    /// and on one wake-up of `timer` at `timeout`.
    async fn wait(
        mut self,
        timer: &Addr<SystemTimer>,
        timeout: Duration,
    ) -> Result<(), BrokerError> {
        let appended = self.appended;
        let now = *self.watermarks.borrow_and_update();
        if let Some(outcome) = try_complete(&now, appended) {
            return outcome;
        }
        if !self.lease.is_held() {
            return Err(BrokerError::NotLeaderOrFollower);
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
            r = self.watermarks.wait_for(|w| try_complete(w, appended).is_some()) => match r {
                Ok(w) => try_complete(&w, appended).unwrap_or(Err(BrokerError::RequestTimedOut)),
                // The partition actor is gone (closed or deleted): no longer led here.
                Err(_) => Err(BrokerError::NotLeaderOrFollower),
            },
            // Not replicated yet, and another leader may already be taking writes.
            _ = self.lease.lapsed() => Err(BrokerError::NotLeaderOrFollower),
            _ = rx => Err(BrokerError::RequestTimedOut),
        };
        timer.do_send(CancelWakeup(wakeup));
        metrics::counter!("troupe_delayed_produce_completed_total").increment(1);
        result
    }
}

/// How a write stands given the partition's watermarks (Kafka's `DelayedProduce.tryComplete`):
/// `None` while it is still waiting.
fn try_complete(w: &Watermarks, appended: &AppendResult) -> Option<Result<(), BrokerError>> {
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
        assert_eq!(try_complete(&marks(11, true, 3, 3), &appended()), None);
        assert_eq!(
            try_complete(&marks(12, true, 3, 3), &appended()),
            Some(Ok(()))
        );
        // Replicated counts even if leadership moved right after.
        assert_eq!(
            try_complete(&marks(12, false, 4, 0), &appended()),
            Some(Ok(()))
        );
    }

    #[test]
    fn a_write_fails_when_leadership_moves_or_the_isr_is_too_small() {
        let moved = try_complete(&marks(11, false, 3, 0), &appended());
        assert_eq!(moved, Some(Err(BrokerError::NotLeaderOrFollower)));
        let new_epoch = try_complete(&marks(11, true, 4, 3), &appended());
        assert_eq!(new_epoch, Some(Err(BrokerError::NotLeaderOrFollower)));
        let shrunk = try_complete(&marks(11, true, 3, 1), &appended());
        assert_eq!(shrunk, Some(Err(BrokerError::NotEnoughReplicasAfterAppend)));
    }

    /// The write of `appended()`, parked with watermarks that never settle it, under `lease`,
    /// with a timeout far beyond the test.
    async fn park_under(lease: &BrokerLease) -> Result<(), BrokerError> {
        use actix::Actor;
        let (_tx, watermarks) = watch::channel(marks(11, true, 3, 3));
        let timer = SystemTimer::default().start();
        let appended = appended();
        let wait = DelayedProduce {
            watermarks,
            lease,
            appended: &appended,
        }
        .wait(&timer, Duration::from_secs(3600));
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("answered long before the request timeout")
    }

    #[actix::test]
    async fn a_write_waiting_for_replication_fails_when_the_lease_runs_out() {
        let lease = std::sync::Arc::new(BrokerLease::session(Duration::from_millis(300)));
        lease.renew(std::time::Instant::now());
        let expiry = actix::spawn({
            let lease = lease.clone();
            async move { lease.watch_expiry().await }
        });
        assert_eq!(
            park_under(&lease).await,
            Err(BrokerError::NotLeaderOrFollower)
        );
        expiry.abort();
    }

    #[actix::test]
    async fn a_write_is_not_parked_without_a_lease() {
        // No expiry timer runs: the refusal comes from the lease itself, before parking.
        let lease = BrokerLease::session(Duration::from_secs(4));
        assert_eq!(
            park_under(&lease).await,
            Err(BrokerError::NotLeaderOrFollower)
        );
    }
}
