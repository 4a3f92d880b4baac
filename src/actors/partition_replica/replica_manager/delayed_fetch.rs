//! `DelayedFetch`: a fetch parked until one of its partitions has more to read or its
//! `max_wait` passes (Kafka's `DelayedFetch`), used by `fetch_messages` (`fetch.rs`).
//!
//! Not an actor and not a purgatory object: the fetch holds the wait itself, parked on its
//! partitions' `Watermarks` watches (the high watermark, the last stable offset under
//! READ_COMMITTED, the log end for a follower) and on one wake-up of the `SystemTimer` of the
//! arbiter it runs on (`system_timer::for_this_arbiter`, so parking never wakes another core),
//! scheduled the first time it parks; nothing polls. A [`Parked`] guard counts it in the fetch
//! purgatory while it waits. It may only watch the partitions' watermarks: the reads
//! themselves are `fetch.rs`'s.

use std::time::Instant;

use actix::Addr;
use futures::FutureExt;
use tokio::sync::oneshot;

use super::fetch::{FetchParams, Target};
use crate::actors::partition_replica::Watermarks;
use crate::actors::system_timer::{self, CancelWakeup, ScheduleWakeup, SystemTimer};
use crate::runtime::purgatory::{Parked, Purgatory};
use crate::timing_wheel::TimerId;

/// A fetch's wait, from its first read round until it answers.
pub(super) struct DelayedFetch {
    /// When the fetch answers whatever it has (`max_wait` after it arrived).
    deadline: Instant,
    /// Scheduled the first time the fetch parks.
    wakeup: Option<Wakeup>,
    /// The wake-up has fired: one last read round, then answer.
    timer_fired: bool,
}

/// The deadline's wake-up on the wheel of the fetch's arbiter.
struct Wakeup {
    wheel: Addr<SystemTimer>,
    id: TimerId,
    /// Yields `()` at the deadline.
    fired: oneshot::Receiver<()>,
}

impl DelayedFetch {
    pub(super) fn new(deadline: Instant) -> DelayedFetch {
        DelayedFetch {
            deadline,
            wakeup: None,
            timer_fired: false,
        }
    }

    /// Whether the fetch must answer now: its wake-up fired or its deadline passed.
    pub(super) fn expired(&self) -> bool {
        self.timer_fired || Instant::now() >= self.deadline
    }

    /// Parks until a partition's fetchable offset moves past `seen` (what the last round read
    /// up to, by partition) or the deadline's wake-up fires. `timer` is the broker's shared
    /// wheel; the wake-up goes on this arbiter's own. False when the fetch cannot park (no
    /// wheel to wake it): answer now.
    pub(super) async fn park(
        &mut self,
        timer: &Addr<SystemTimer>,
        targets: &[Target],
        seen: &[i64],
        params: FetchParams,
    ) -> bool {
        if self.wakeup.is_none() {
            let (tx, rx) = oneshot::channel();
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let wheel = system_timer::for_this_arbiter(timer);
            match wheel
                .send(ScheduleWakeup {
                    delay: remaining,
                    waker: tx,
                })
                .await
            {
                Ok(id) => {
                    self.wakeup = Some(Wakeup {
                        wheel,
                        id,
                        fired: rx,
                    })
                }
                Err(_) => return false,
            }
        }
        let Some(wakeup) = self.wakeup.as_mut() else {
            return false;
        };
        let _parked = Parked::new(Purgatory::Fetch);
        self.timer_fired = wait_for_data(targets, seen, params, &mut wakeup.fired).await;
        true
    }

    /// The fetch answers: its wake-up, if any, is cancelled (fire-and-forget).
    pub(super) fn complete(self) {
        if let Some(wakeup) = self.wakeup {
            wakeup.wheel.do_send(CancelWakeup(wakeup.id));
        }
    }
}

/// Parks until any partition's fetchable offset moves past what was read, or the timer fires
/// (returns true then).
async fn wait_for_data(
    targets: &[Target],
    seen: &[i64],
    params: FetchParams,
    timer: &mut oneshot::Receiver<()>,
) -> bool {
    let mut waits = Vec::new();
    for (t, seen) in targets.iter().zip(seen) {
        if let Ok(h) = &t.handle {
            let mut rx = h.watermarks.clone();
            let seen = *seen;
            waits.push(
                async move {
                    // A closed partition never wakes anyone: wait for the timer instead of spinning.
                    let moved = |w: &Watermarks| params.fetchable(w) > seen;
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
