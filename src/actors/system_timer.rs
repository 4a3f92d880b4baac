//! The `SystemTimer` actor (Kafka's name for the clock that drives a timing wheel) owns the
//! broker's delayed-operation timers: it is the purgatory's clock. The wheel itself, a plain
//! data structure with no clock, is `timing_wheel::TimingWheel`.
//!
//! Delayed operations (a `Fetch` waiting for `min_bytes`, a `Produce` waiting for `acks=all`, a
//! `JoinGroup` waiting for the rebalance, a session timeout) each need "wake me at T unless I
//! finish first". Giving each its own tokio sleep would work but scatters thousands of timers
//! through the runtime and makes cancelling them awkward; Kafka's answer is one hierarchical
//! timing wheel behind a single clock thread. This actor is that clock: one
//! [`TimingWheel`] of `oneshot` senders and exactly one armed `run_later`, set for the wheel's
//! next expiration. When nothing is pending nothing is armed, so an idle broker does not tick.
//! The broker's shared wheel serves the coordinators; requests parked on a connection (fetch,
//! acks=all produce) use the wheel of their own arbiter ([`for_this_arbiter`]), so parking and
//! cancelling never wakes another core.
//!
//! Other actors and handlers schedule a wake-up with [`ScheduleWakeup`] (or [`sleep_via`]) and
//! get a [`TimerId`] plus a receiver that yields `()` once the delay has passed. The wheel only
//! signals; it never touches the waiter's state, so whatever the waiter does on wake-up (complete
//! the operation with a timeout, re-check a condition) happens in the waiter's own context.
//!
//! Outcomes for a waiter's receiver:
//! * `Ok(())`: the deadline was reached.
//! * `Err(RecvError)`: the wake-up was cancelled ([`CancelWakeup`]) or the wheel stopped; the
//!   sender is simply dropped, which is how a cancelled timer "never fires".
//!
//! Every handler first brings the wheel to the current time (firing anything due), so the
//! answers are consistent with mailbox order: [`CancelWakeup`] returns `true` exactly when the
//! deadline had not been reached yet, and [`PendingCount`] never counts overdue timers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::timing_wheel::{TimerId, TimingWheel, DEFAULT_TICK_MS, DEFAULT_WHEEL_SIZE};

/// Longest single sleep the actor arms. Deadlines further out (e.g. `Duration::MAX` delays) are
/// reached by re-arming on wake-up; this keeps `Instant` arithmetic far from its limits.
const MAX_ARMED_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// Asks the wheel to send `()` on `waker` once `delay` has elapsed. Returns the id to cancel it.
///
/// The deadline is rounded *up* to the wheel's millisecond, so the wake-up never arrives before
/// `delay` has passed; it may arrive up to a few ms later (tick rounding plus scheduling).
#[derive(Message)]
#[rtype(result = "TimerId")]
pub struct ScheduleWakeup {
    pub delay: Duration,
    pub waker: oneshot::Sender<()>,
}

/// Cancels a scheduled wake-up, dropping its sender so the receiver resolves with an error.
/// Replies `true` if the wake-up was still pending (its deadline not yet reached), `false` if it
/// had already fired, was already cancelled, or the id is unknown.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CancelWakeup(pub TimerId);

/// Number of wake-ups whose deadline has not been reached and that were not cancelled.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PendingCount;

/// The purgatory clock. See the module docs.
pub struct SystemTimer {
    timers: TimingWheel<oneshot::Sender<()>>,
    /// Zero of the wheel's millisecond clock. `Instant` is monotonic, so wall-clock jumps
    /// (NTP, suspend adjustments) cannot fire or delay timers.
    origin: Instant,
    /// The single pending `run_later`, with the wheel time (ms) it was armed for.
    armed: Option<Armed>,
}

struct Armed {
    due_ms: u64,
    handle: SpawnHandle,
}

impl Default for SystemTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemTimer {
    /// A wheel shaped like Kafka's purgatory: 1 ms ticks, 20 buckets per level.
    pub fn new() -> Self {
        Self::with_shape(DEFAULT_TICK_MS, DEFAULT_WHEEL_SIZE)
    }

    /// A wheel with a custom tick and size (see [`TimingWheel::new`]). A coarser tick trades
    /// fewer cascades for later wake-ups; wake-ups are never early either way.
    pub fn with_shape(tick_ms: u64, wheel_size: usize) -> Self {
        SystemTimer {
            timers: TimingWheel::new(tick_ms, wheel_size, 0),
            origin: Instant::now(),
            armed: None,
        }
    }

    /// Milliseconds since `origin`, rounded down: a deadline `d` is due once `now_ms() >= d`,
    /// i.e. once at least `d` ms have really elapsed.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Wheel deadline for a wake-up `delay` from now, rounded up so it is never early.
    fn deadline_ms(&self, delay: Duration) -> u64 {
        let at = self.origin.elapsed().saturating_add(delay);
        let whole = at.as_millis() + u128::from(!at.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(whole).unwrap_or(u64::MAX)
    }

    /// Fires every wake-up whose deadline has been reached.
    fn expire_due(&mut self) {
        let now = self.now_ms();
        let due = self.timers.advance(now);
        if !due.is_empty() {
            tracing::trace!(
                fired = due.len(),
                now_ms = now,
                "timer wheel expired wake-ups"
            );
        }
        for waker in due {
            // A closed receiver means the waiter went away without cancelling: nothing to do.
            let _ = waker.send(());
        }
    }

    /// Makes the single armed `run_later` match the wheel's next expiration: none when idle,
    /// replaced when the next expiration moved (earlier insert, or the earliest was cancelled).
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = self.timers.next_expiration();
        if let (Some(armed), Some(next)) = (&self.armed, next) {
            if armed.due_ms == next {
                return;
            }
        }
        if let Some(armed) = self.armed.take() {
            ctx.cancel_future(armed.handle);
        }
        let Some(due_ms) = next else {
            return;
        };
        let sleep = self
            .origin
            .checked_add(Duration::from_millis(due_ms))
            .map_or(MAX_ARMED_SLEEP, |at| {
                at.saturating_duration_since(Instant::now())
            })
            .min(MAX_ARMED_SLEEP);
        let handle = ctx.run_later(sleep, |act, ctx| {
            act.armed = None;
            act.expire_due();
            act.rearm(ctx);
        });
        self.armed = Some(Armed { due_ms, handle });
    }

    /// Catch up with the clock: fire what is due and re-arm for what remains.
    fn sync(&mut self, ctx: &mut Context<Self>) {
        self.expire_due();
        self.rearm(ctx);
    }
}

thread_local! {
    /// The wheel of the arbiter running on this thread, once something here asked for it.
    static ARBITER_WHEEL: std::cell::RefCell<Option<Addr<SystemTimer>>> =
        const { std::cell::RefCell::new(None) };
}

/// The timer wheel of the arbiter this code runs on, started there on first use (and again if
/// it stopped). Requests parked on a connection's arbiter (a fetch waiting for data, a produce
/// waiting for acks=all) schedule and cancel their wake-ups here without waking another thread:
/// one wheel per core, as partitions are one shard per core. Outside an arbiter: `shared`.
pub fn for_this_arbiter(shared: &Addr<SystemTimer>) -> Addr<SystemTimer> {
    if actix::Arbiter::try_current().is_none() {
        return shared.clone();
    }
    ARBITER_WHEEL.with(|wheel| {
        let mut wheel = wheel.borrow_mut();
        match wheel.as_ref() {
            Some(addr) if addr.connected() => addr.clone(),
            _ => {
                let addr = SystemTimer::default().start();
                *wheel = Some(addr.clone());
                addr
            }
        }
    })
}

impl Actor for SystemTimer {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Dropping the wheel drops every sender, so all waiters observe a closed channel
        // instead of hanging forever.
        if !self.timers.is_empty() {
            tracing::debug!(
                pending = self.timers.len(),
                "timer wheel stopped with pending wake-ups"
            );
        }
    }
}

impl Handler<ScheduleWakeup> for SystemTimer {
    type Result = MessageResult<ScheduleWakeup>;

    fn handle(&mut self, msg: ScheduleWakeup, ctx: &mut Self::Context) -> Self::Result {
        // Advance first so the insert is placed relative to the real current time rather than
        // the time of the last expiration, which could be long ago.
        self.expire_due();
        let deadline = self.deadline_ms(msg.delay);
        let id = self.timers.insert(deadline, msg.waker);
        self.rearm(ctx);
        MessageResult(id)
    }
}

impl Handler<CancelWakeup> for SystemTimer {
    type Result = MessageResult<CancelWakeup>;

    fn handle(&mut self, msg: CancelWakeup, ctx: &mut Self::Context) -> Self::Result {
        self.expire_due();
        let was_pending = self.timers.cancel(msg.0).is_some();
        self.rearm(ctx);
        MessageResult(was_pending)
    }
}

impl Handler<PendingCount> for SystemTimer {
    type Result = MessageResult<PendingCount>;

    fn handle(&mut self, _msg: PendingCount, ctx: &mut Self::Context) -> Self::Result {
        self.sync(ctx);
        MessageResult(self.timers.len())
    }
}

/// A wake-up scheduled through [`sleep_via`]. Awaiting it yields `true` once the delay has
/// passed, or `false` if it was cancelled or the wheel is gone.
///
/// Dropping an unfinished `Wakeup` cancels its timer (a fire-and-forget [`CancelWakeup`]), so a
/// caller that completes early, e.g. a fetch that gathered `min_bytes` before `max_wait_ms`, does
/// not leave a timer behind in the wheel; [`into_parts`](Self::into_parts) opts out of that.
#[must_use = "a Wakeup does nothing unless awaited; dropping it cancels the timer"]
pub struct Wakeup {
    id: Option<TimerId>,
    rx: oneshot::Receiver<()>,
    /// Present while dropping `self` should cancel the timer.
    wheel: Option<Addr<SystemTimer>>,
    outcome: Option<bool>,
}

impl Wakeup {
    /// The timer's id, or `None` if the wheel could not be reached when scheduling (the wake-up
    /// then resolves to `false` at once).
    pub fn id(&self) -> Option<TimerId> {
        self.id
    }

    /// Cancels the timer and waits for the wheel's answer: `true` if it was still pending.
    pub async fn cancel(mut self) -> bool {
        match (self.wheel.take(), self.id) {
            (Some(wheel), Some(id)) => wheel.send(CancelWakeup(id)).await.unwrap_or(false),
            _ => false,
        }
    }

    /// The raw form `(timer id, receiver)`. The caller takes over: nothing is cancelled on drop,
    /// and early finishers should send [`CancelWakeup`] themselves.
    pub fn into_parts(mut self) -> (Option<TimerId>, oneshot::Receiver<()>) {
        self.wheel = None;
        let (_, closed) = oneshot::channel();
        (self.id, std::mem::replace(&mut self.rx, closed))
    }
}

impl Future for Wakeup {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<bool> {
        let this = self.get_mut();
        if let Some(outcome) = this.outcome {
            return Poll::Ready(outcome);
        }
        match Pin::new(&mut this.rx).poll(cx) {
            Poll::Ready(result) => {
                let fired = result.is_ok();
                this.outcome = Some(fired);
                this.wheel = None;
                Poll::Ready(fired)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let (Some(wheel), Some(id)) = (self.wheel.take(), self.id) {
            // Only bother the wheel if the timer is still live (not fired, not closed).
            if let Err(oneshot::error::TryRecvError::Empty) = self.rx.try_recv() {
                wheel.do_send(CancelWakeup(id));
            }
        }
    }
}

/// Schedules a wake-up `delay` from now on `wheel`. This resolves as soon as the wheel has
/// registered the timer; await the returned [`Wakeup`] to wait for the delay itself:
///
/// ```text
/// let timeout = sleep_via(&wheel, Duration::from_millis(max_wait_ms)).await;
/// tokio::select! {
///     _ = data_arrived => {}   // `timeout` is dropped here, which cancels the timer
///     _ = timeout => {}        // deadline reached
/// }
/// ```
///
/// If the wheel's mailbox is closed the `Wakeup` has no id and resolves to `false` immediately.
pub async fn sleep_via(wheel: &Addr<SystemTimer>, delay: Duration) -> Wakeup {
    let (waker, rx) = oneshot::channel();
    let id = wheel.send(ScheduleWakeup { delay, waker }).await.ok();
    Wakeup {
        id,
        rx,
        wheel: id.map(|_| wheel.clone()),
        outcome: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-only probe of the armed `run_later`, to check the actor goes quiet when idle.
    #[derive(Message)]
    #[rtype(result = "Option<u64>")]
    struct ArmedFor;

    impl Handler<ArmedFor> for SystemTimer {
        type Result = Option<u64>;

        fn handle(&mut self, _msg: ArmedFor, _ctx: &mut Self::Context) -> Option<u64> {
            self.armed.as_ref().map(|armed| armed.due_ms)
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Stop;

    impl Handler<Stop> for SystemTimer {
        type Result = ();

        fn handle(&mut self, _msg: Stop, ctx: &mut Self::Context) {
            ctx.stop();
        }
    }

    /// Generous: CI machines are shared and slow; the lower bound is what must be exact.
    const SLACK: Duration = Duration::from_secs(2);

    async fn schedule(
        wheel: &Addr<SystemTimer>,
        delay: Duration,
    ) -> (TimerId, oneshot::Receiver<()>) {
        let (waker, rx) = oneshot::channel();
        let id = wheel
            .send(ScheduleWakeup { delay, waker })
            .await
            .expect("wheel alive");
        (id, rx)
    }

    #[actix::test]
    async fn wakeup_fires_after_its_delay() {
        let wheel = SystemTimer::new().start();
        for delay_ms in [0u64, 1, 7, 60] {
            let delay = Duration::from_millis(delay_ms);
            let started = Instant::now();
            let (_, rx) = schedule(&wheel, delay).await;
            assert_eq!(rx.await, Ok(()), "delay {delay_ms} ms");
            let elapsed = started.elapsed();
            assert!(
                elapsed >= delay,
                "fired after {elapsed:?}, before {delay:?}"
            );
            assert!(elapsed < delay + SLACK, "fired after {elapsed:?}");
        }
        // Sub-millisecond delays round up, never down.
        let started = Instant::now();
        let (_, rx) = schedule(&wheel, Duration::from_micros(1_500)).await;
        assert_eq!(rx.await, Ok(()));
        assert!(started.elapsed() >= Duration::from_micros(1_500));
    }

    #[actix::test]
    async fn cancelled_wakeup_never_fires() {
        let wheel = SystemTimer::new().start();
        let (id, rx) = schedule(&wheel, Duration::from_millis(40)).await;
        let (_, witness) = schedule(&wheel, Duration::from_millis(80)).await;
        assert!(wheel.send(CancelWakeup(id)).await.unwrap());
        assert!(
            !wheel.send(CancelWakeup(id)).await.unwrap(),
            "second cancel"
        );
        // Well past the cancelled deadline the witness fires; the cancelled one saw a drop.
        assert_eq!(witness.await, Ok(()));
        assert!(rx.await.is_err(), "cancelled wake-up must not deliver ()");
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);
    }

    #[actix::test]
    async fn earlier_deadline_inserted_later_fires_first() {
        let wheel = SystemTimer::new().start();
        let started = Instant::now();
        let (_, mut late) = schedule(&wheel, Duration::from_millis(300)).await;
        assert!(wheel.send(ArmedFor).await.unwrap().is_some());
        let (_, early) = schedule(&wheel, Duration::from_millis(20)).await;
        assert_eq!(early.await, Ok(()));
        let early_at = started.elapsed();
        assert!(early_at >= Duration::from_millis(20));
        assert!(
            early_at < Duration::from_millis(300),
            "earlier wake-up waited for the later one: {early_at:?}"
        );
        assert_eq!(late.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        assert_eq!(late.await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[actix::test]
    async fn pending_count_drops_to_zero_and_clock_goes_quiet() {
        let wheel = SystemTimer::new().start();
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);
        assert_eq!(wheel.send(ArmedFor).await.unwrap(), None);
        let mut receivers = Vec::new();
        for ms in [5u64, 10, 15] {
            receivers.push(schedule(&wheel, Duration::from_millis(ms)).await.1);
        }
        let (far, _far_rx) = schedule(&wheel, Duration::from_secs(3_600)).await;
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 4);
        for rx in receivers {
            assert_eq!(rx.await, Ok(()));
        }
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 1);
        assert!(wheel.send(CancelWakeup(far)).await.unwrap());
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);
        assert_eq!(
            wheel.send(ArmedFor).await.unwrap(),
            None,
            "idle wheel must not tick"
        );
    }

    #[actix::test]
    async fn extreme_delays_do_not_panic() {
        let wheel = SystemTimer::new().start();
        let (huge, _rx) = schedule(&wheel, Duration::MAX).await;
        let (_, rx) = schedule(&wheel, Duration::ZERO).await;
        assert_eq!(rx.await, Ok(()));
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 1);
        assert!(wheel.send(ArmedFor).await.unwrap().is_some());
        assert!(wheel.send(CancelWakeup(huge)).await.unwrap());
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);
    }

    #[actix::test]
    async fn dropped_receiver_is_ignored() {
        let wheel = SystemTimer::new().start();
        let (_, rx) = schedule(&wheel, Duration::from_millis(5)).await;
        drop(rx);
        let (_, witness) = schedule(&wheel, Duration::from_millis(20)).await;
        assert_eq!(witness.await, Ok(()));
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);
    }

    #[actix::test]
    async fn sleep_via_waits_and_cancels_on_drop() {
        let wheel = SystemTimer::new().start();
        let started = Instant::now();
        let wakeup = sleep_via(&wheel, Duration::from_millis(25)).await;
        assert!(wakeup.id().is_some());
        assert!(wakeup.await);
        assert!(started.elapsed() >= Duration::from_millis(25));

        // An early finisher just drops the Wakeup; the wheel forgets the timer.
        let wakeup = sleep_via(&wheel, Duration::from_secs(600)).await;
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 1);
        drop(wakeup);
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);

        // Explicit cancel reports whether it was pending.
        let wakeup = sleep_via(&wheel, Duration::from_secs(600)).await;
        assert!(wakeup.cancel().await);

        // Raw parts: no cancel on drop, same tuple shape as ScheduleWakeup's reply.
        let (id, rx) = sleep_via(&wheel, Duration::from_millis(5))
            .await
            .into_parts();
        assert!(id.is_some());
        assert_eq!(rx.await, Ok(()));

        // select!-style race: the losing timeout is dropped and cancelled.
        let timeout = sleep_via(&wheel, Duration::from_secs(600)).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = timeout => panic!("600 s timeout fired"),
        }
        assert_eq!(wheel.send(PendingCount).await.unwrap(), 0);
    }

    #[actix::test]
    async fn stopped_wheel_releases_waiters() {
        let wheel = SystemTimer::new().start();
        let (_, rx) = schedule(&wheel, Duration::from_secs(600)).await;
        let pending = sleep_via(&wheel, Duration::from_secs(600)).await;
        wheel.send(Stop).await.unwrap();
        assert!(rx.await.is_err());
        assert!(!pending.await);
        // Scheduling on a dead wheel yields no id and resolves at once.
        let wakeup = sleep_via(&wheel, Duration::from_secs(600)).await;
        assert_eq!(wakeup.id(), None);
        assert!(!wakeup.await);
    }

    #[actix::test]
    async fn each_arbiter_has_its_own_wheel_that_comes_back_after_a_stop() {
        let shared = SystemTimer::new().start();
        let here = for_this_arbiter(&shared);
        assert!(
            here != shared,
            "an arbiter's requests do not use the shared wheel"
        );
        assert!(
            for_this_arbiter(&shared) == here,
            "one wheel per arbiter, kept"
        );
        let fired = sleep_via(&here, Duration::from_millis(5)).await;
        assert!(fired.await);

        let (tx, rx) = oneshot::channel();
        let other_shared = shared.clone();
        let arbiter = actix::Arbiter::new();
        assert!(arbiter.spawn(async move {
            let _ = tx.send(for_this_arbiter(&other_shared));
        }));
        let there = rx.await.unwrap();
        assert!(
            there != here && there != shared,
            "another arbiter gets another wheel"
        );
        arbiter.stop();

        here.send(Stop).await.unwrap();
        for _ in 0..200 {
            if !here.connected() {
                break;
            }
            actix::clock::sleep(Duration::from_millis(5)).await;
        }
        let again = for_this_arbiter(&shared);
        assert!(again != here, "a stopped wheel is replaced");
        assert!(sleep_via(&again, Duration::from_millis(5)).await.await);
    }
}
