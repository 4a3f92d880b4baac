//! Delayed operations waiting for a condition ("purgatory" in Kafka's words), counted for
//! `/metrics` as `troupe_purgatory_size{operation}`. A waiting operation holds a [`Parked`]
//! guard for exactly as long as it waits, so the gauge cannot drift when a wait ends early
//! (timeout, error, a dropped request).

/// The kinds of delayed operation, by Kafka's purgatory names.
#[derive(Clone, Copy, Debug)]
pub enum Purgatory {
    /// An `acks=all` write waiting for its replication (Kafka's `Produce` purgatory).
    Produce,
    /// A fetch parked until `min_bytes` arrive or `max_wait_ms` passes.
    Fetch,
    /// A JoinGroup or SyncGroup parked until the rebalance completes (`Rebalance`).
    Rebalance,
}

impl Purgatory {
    pub fn label(self) -> &'static str {
        match self {
            Purgatory::Produce => "produce",
            Purgatory::Fetch => "fetch",
            Purgatory::Rebalance => "rebalance",
        }
    }
}

/// Counts one waiting operation until dropped.
#[derive(Debug)]
pub struct Parked(Purgatory);

impl Parked {
    pub fn new(kind: Purgatory) -> Parked {
        metrics::gauge!("troupe_purgatory_size", "operation" => kind.label()).increment(1.0);
        Parked(kind)
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        metrics::gauge!("troupe_purgatory_size", "operation" => self.0.label()).decrement(1.0);
    }
}
