//! `BrokerLease`: whether this broker may still act as a partition leader.
//!
//! In a cluster the active controller fences a broker it has not heard from for
//! `broker.session.timeout.ms` and elects new leaders for its partitions. A broker cut off from
//! the controller quorum cannot see that happen, so it must step down by itself, and no later
//! than the controller acts: the lease starts at the *send* time of the last heartbeat the
//! active controller accepted (after confirming it still leads a quorum) and ends one session
//! timeout after it. The controller measures the same timeout from when it *received* that
//! heartbeat (or from when it became active), which is never earlier, so the lease has always
//! run out here before a new leader can be elected elsewhere.
//!
//! Without the lease a leader serves nothing as leader for clients: appends (every acks
//! level), waits for replication (answered the moment the lease runs out), consumer fetches
//! and its own leadership in Metadata. A single broker (no quorum) holds an unbounded lease.
//!
//! Reads are one atomic load and a clock read, so the produce path takes no lock. The `held`
//! watch only wakes writes parked for replication: [`BrokerLease::watch_expiry`] is the one
//! timer that publishes a lapse at the moment it happens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long a lease lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Term {
    /// A single broker is its own controller: nothing can fence it.
    Unbounded,
    /// `broker.session.timeout.ms` after each accepted heartbeat was sent.
    Session(Duration),
}

/// What the lease says at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// Single broker: always held.
    Unbounded,
    /// No heartbeat accepted yet since this broker started.
    NotGranted,
    /// Held until `until`.
    Held { until: Instant },
    /// Ran out at `at`; held again after the next accepted heartbeat.
    Expired { at: Instant },
}

impl LeaseState {
    pub fn is_held(self) -> bool {
        matches!(self, LeaseState::Unbounded | LeaseState::Held { .. })
    }
}

pub struct BrokerLease {
    term: Term,
    /// What `ends` counts from.
    origin: Instant,
    /// Nanoseconds after `origin` at which the lease ends; 0 while none was granted. Only moves
    /// forward.
    ends: AtomicU64,
    /// Whether the lease is held, as last published (by a renewal or by `watch_expiry`).
    held: watch::Sender<bool>,
}

impl BrokerLease {
    /// A single broker's lease: held for good.
    pub fn unbounded() -> BrokerLease {
        BrokerLease::new(Term::Unbounded, true)
    }

    /// A cluster node's lease: not held until the first accepted heartbeat, then for `session`
    /// after each accepted heartbeat was sent.
    pub fn session(session: Duration) -> BrokerLease {
        BrokerLease::new(Term::Session(session), false)
    }

    fn new(term: Term, held: bool) -> BrokerLease {
        BrokerLease {
            term,
            origin: Instant::now(),
            ends: AtomicU64::new(0),
            held: watch::channel(held).0,
        }
    }

    /// The active controller accepted (and confirmed it still leads a quorum for) a heartbeat
    /// or registration this broker sent at `sent_at`. An older answer arriving late never
    /// shortens the lease.
    pub fn renew(&self, sent_at: Instant) {
        let Term::Session(session) = self.term else {
            return;
        };
        let ends = (sent_at + session).saturating_duration_since(self.origin);
        // 0 means "never granted": a lease that ends at the origin is as good as none.
        let ends = (ends.as_nanos() as u64).max(1);
        self.ends.fetch_max(ends, Ordering::AcqRel);
        self.publish();
    }

    /// The lease now.
    pub fn state(&self) -> LeaseState {
        self.state_at(Instant::now())
    }

    /// The lease at `now`.
    pub fn state_at(&self, now: Instant) -> LeaseState {
        if self.term == Term::Unbounded {
            return LeaseState::Unbounded;
        }
        match self.ends.load(Ordering::Acquire) {
            0 => LeaseState::NotGranted,
            nanos => {
                let end = self.origin + Duration::from_nanos(nanos);
                if now < end {
                    LeaseState::Held { until: end }
                } else {
                    LeaseState::Expired { at: end }
                }
            }
        }
    }

    /// Whether this broker may act as a leader now.
    pub fn is_held(&self) -> bool {
        self.state().is_held()
    }

    /// Resolves once the lease is not held (at once if it is not now); never for a single
    /// broker. Relies on [`BrokerLease::watch_expiry`] running to notice the moment a held
    /// lease runs out.
    pub async fn lapsed(&self) {
        if self.term == Term::Unbounded {
            return std::future::pending().await;
        }
        if !self.is_held() {
            return;
        }
        let mut held = self.held.subscribe();
        // The sender lives in `self`, which outlives this borrow: the wait cannot fail.
        let _ = held.wait_for(|held| !*held).await;
    }

    /// The one timer of the lease: sleeps until the lease would end and, if no renewal moved
    /// the end meanwhile, publishes the lapse (waking every write parked for replication).
    /// Runs for the life of the broker; returns at once for a single broker.
    pub async fn watch_expiry(&self) {
        let mut held = self.held.subscribe();
        loop {
            match self.state() {
                LeaseState::Unbounded => return,
                LeaseState::Held { until } => {
                    tokio::time::sleep_until(until.into()).await;
                }
                LeaseState::NotGranted | LeaseState::Expired { .. } => {
                    self.publish();
                    // Until a renewal publishes that it is held again.
                    if held.wait_for(|held| *held).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Publishes whether the lease is held, judged under the watch's lock: a renewal stores
    /// its new end before it publishes, so whichever of a renewal and the expiry timer
    /// publishes last sees the other's effect, and a renewed lease is never left marked lapsed.
    fn publish(&self) {
        self.held.send_if_modified(|published| {
            let state = self.state();
            if *published == state.is_held() {
                return false;
            }
            *published = state.is_held();
            match state {
                LeaseState::Expired { .. } | LeaseState::NotGranted => tracing::warn!(
                    "broker lease expired: no heartbeat accepted by a controller that leads a \
                     quorum for broker.session.timeout.ms; this broker stops acting as leader \
                     of its partitions until one is"
                ),
                _ => tracing::info!("broker lease renewed: this broker leads its partitions again"),
            }
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_millis(4000);

    #[test]
    fn a_single_brokers_lease_never_expires() {
        let lease = BrokerLease::unbounded();
        assert_eq!(lease.state(), LeaseState::Unbounded);
        let much_later = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        assert!(lease.state_at(much_later).is_held());
        // Renewals change nothing.
        lease.renew(Instant::now());
        assert_eq!(lease.state_at(much_later), LeaseState::Unbounded);
    }

    #[test]
    fn a_cluster_lease_is_not_held_before_the_first_accepted_heartbeat() {
        let lease = BrokerLease::session(SESSION);
        assert_eq!(lease.state(), LeaseState::NotGranted);
        assert!(!lease.is_held());
    }

    #[test]
    fn a_lease_ends_one_session_after_the_accepted_heartbeat_was_sent() {
        let lease = BrokerLease::session(SESSION);
        let sent = Instant::now();
        lease.renew(sent);
        let end = sent + SESSION;
        // Within a microsecond: the end is kept in nanoseconds from the lease's origin.
        let LeaseState::Held { until } = lease.state_at(sent) else {
            panic!("held right after the renewal")
        };
        assert!(until.max(end) - until.min(end) < Duration::from_micros(1));
        assert!(lease.state_at(until - Duration::from_millis(1)).is_held());
        assert_eq!(lease.state_at(until), LeaseState::Expired { at: until });
        assert!(!lease.state_at(until + Duration::from_secs(60)).is_held());
    }

    #[test]
    fn a_late_answer_to_an_older_heartbeat_never_shortens_the_lease() {
        let lease = BrokerLease::session(SESSION);
        let first = Instant::now();
        let second = first + Duration::from_millis(1000);
        lease.renew(second);
        lease.renew(first);
        let LeaseState::Held { until } = lease.state_at(second) else {
            panic!("held")
        };
        assert!(until > first + SESSION + Duration::from_millis(999));
    }

    #[test]
    fn a_renewal_after_expiry_holds_the_lease_again() {
        let lease = BrokerLease::session(SESSION);
        let long_ago = Instant::now()
            .checked_sub(SESSION * 2)
            .expect("the clock is past twice the session");
        lease.renew(long_ago);
        assert!(matches!(lease.state(), LeaseState::Expired { .. }));
        lease.renew(Instant::now());
        assert!(lease.is_held());
    }

    #[tokio::test]
    async fn the_expiry_timer_wakes_waiters_when_the_lease_runs_out() {
        let lease = std::sync::Arc::new(BrokerLease::session(Duration::from_millis(500)));
        lease.renew(Instant::now());
        let timer = tokio::spawn({
            let lease = lease.clone();
            async move { lease.watch_expiry().await }
        });
        let waiter = tokio::spawn({
            let lease = lease.clone();
            async move { lease.lapsed().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A waiter only wakes once the lease has run out.
        let woke = waiter.is_finished();
        assert!(!woke || !lease.is_held(), "woken while the lease held");
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiter woke when the lease ran out")
            .unwrap();
        assert!(!lease.is_held());
        assert!(!*lease.held.borrow(), "the lapse is published");
        lease.renew(Instant::now());
        assert!(
            *lease.held.borrow(),
            "a renewal publishes the lease held again"
        );
        // A new waiter waits again, and the timer goes on to the renewed lease's end.
        let waiter = tokio::spawn({
            let lease = lease.clone();
            async move { lease.lapsed().await }
        });
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the renewed lease ran out too")
            .unwrap();
        timer.abort();
    }
}
