//! Supervision bookkeeping: restart counters and readiness for the health endpoint.
//!
//! The restart *policy* is actix's `Supervisor`: an actor started under it is restarted in place
//! (same address, same mailbox) whenever it stops. actix does not catch panics, so actors run
//! their handlers through [`guard`], which turns a panic into a counted stop. This room owns the
//! counters and the readiness flag only; it never touches another actor's state.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use dashmap::DashMap;
use serde::Serialize;

/// Shared by every actor (to report restarts) and the HTTP endpoint (to show them).
#[derive(Default)]
pub struct SupervisorState {
    restarts: DashMap<String, u64>,
    total_restarts: AtomicU64,
    /// Partitions still opening/recovering their logs.
    recovering: AtomicI64,
    started: AtomicBool,
    serving: AtomicBool,
}

#[derive(Serialize)]
pub struct HealthSnapshot {
    pub status: &'static str,
    pub ready: bool,
    pub partitions_recovering: i64,
    pub total_restarts: u64,
    pub restarts: std::collections::BTreeMap<String, u64>,
}

impl SupervisorState {
    /// Records that the actor `name` (e.g. `partition:orders-3`) was restarted.
    pub fn record_restart(&self, name: &str) {
        *self.restarts.entry(name.to_string()).or_insert(0) += 1;
        self.total_restarts.fetch_add(1, Ordering::Relaxed);
        // The kind is the name's prefix: `partition`, `extension`, `connection-handler`, ...
        let kind = name.split(':').next().unwrap_or(name).to_string();
        metrics::counter!("troupe_actor_restarts_total", "actor" => kind).increment(1);
    }

    pub fn recovery_started(&self) {
        self.recovering.fetch_add(1, Ordering::SeqCst);
    }
    pub fn recovery_finished(&self) {
        self.recovering.fetch_sub(1, Ordering::SeqCst);
    }
    /// Called once startup has scheduled every partition's recovery.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
    }
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::SeqCst)
            && self.serving.load(Ordering::SeqCst)
            && self.recovering.load(Ordering::SeqCst) <= 0
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            status: if self.serving.load(Ordering::SeqCst) {
                "serving"
            } else {
                "starting"
            },
            ready: self.is_ready(),
            partitions_recovering: self.recovering.load(Ordering::SeqCst).max(0),
            total_restarts: self.total_restarts.load(Ordering::Relaxed),
            restarts: self
                .restarts
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
        }
    }
}

/// Runs a handler body, converting a panic into `Err(message)` so the caller can stop its
/// actor (and let actix's `Supervisor` restart it) instead of taking the process down.
pub fn guard<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()))
}

/// The text a panic was raised with, for logs.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_catches_panics_and_counts_restarts() {
        let state = SupervisorState::default();
        let r: Result<(), String> = guard(|| panic!("boom"));
        assert_eq!(r.unwrap_err(), "boom");
        assert_eq!(guard(|| 7).unwrap(), 7);
        state.record_restart("partition:a-0");
        state.record_restart("partition:a-0");
        let snap = state.snapshot();
        assert_eq!(snap.restarts["partition:a-0"], 2);
        assert_eq!(snap.total_restarts, 2);
    }

    #[test]
    fn ready_only_after_start_serving_and_recovery() {
        let state = SupervisorState::default();
        state.recovery_started();
        state.mark_started();
        state.set_serving(true);
        assert!(!state.is_ready());
        state.recovery_finished();
        assert!(state.is_ready());
    }
}
