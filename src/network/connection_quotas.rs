//! `ConnectionQuotas`: Kafka's connection limits (KIP-402, and KIP-612's broker and listener
//! creation rates) for every listener of this node, shared by their accept loops.
//!
//! Owns the counts of open connections per IP address, per listener and in total, and the
//! creation-rate buckets of the broker and of each listener. Its rules, as Kafka's
//! `ConnectionQuotas` has them:
//! - `max.connections` per listener (`listener.name.<l>.max.connections`, else the broker
//!   value) and broker-wide over all listeners: at the limit a listener stops accepting (the
//!   kernel's backlog holds new clients) until a connection closes. The inter-broker listener
//!   is exempt from the broker-wide limit when the node has other listeners, so replication
//!   never starves behind clients.
//! - `max.connection.creation.rate` per listener and broker-wide (not for the inter-broker
//!   listener): each accepted connection is recorded, and past the rate the listener waits
//!   until the rate holds again (at most one second, Kafka's quota window) before serving it.
//! - `max.connections.per.ip` (with `max.connections.per.ip.overrides`), over all listeners,
//!   the inter-broker one included: a connection past it is closed at once.
//!
//! A connection's counts are held by a `ConnectionSlot` (RAII): whichever way the connection
//! ends (TLS or SASL failure, normal close, a panic unwinding its actor), dropping the slot
//! gives the counts back and wakes the listeners waiting for one.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::{parse_host_counts, BrokerConfig};

/// Kafka's longest wait for a creation rate (`quota.window.size.seconds`, default 1).
const MAX_THROTTLE: Duration = Duration::from_secs(1);

/// One listener's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    pub name: Arc<str>,
    pub max_connections: u32,
    pub max_connection_creation_rate: u32,
}

/// Every limit of this node, resolved from the broker properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max.connections`: over all listeners but a protected inter-broker one.
    pub max_connections: u32,
    /// `max.connection.creation.rate`, broker-wide.
    pub max_connection_creation_rate: u32,
    pub max_connections_per_ip: u32,
    /// `max.connections.per.ip.overrides`, host names resolved at start-up.
    pub per_ip_overrides: HashMap<IpAddr, u32>,
    pub listeners: Vec<ListenerLimits>,
    /// `inter.broker.listener.name`.
    pub inter_broker_listener: Arc<str>,
}

impl ConnectionLimits {
    /// Reads the limits of `listeners` from `config`, per listener through
    /// `listener.name.<l>.`. Host names in the overrides are resolved now (as Kafka does); one
    /// that does not resolve stops the node with its name.
    pub fn from_config(
        config: &BrokerConfig,
        listeners: &[&str],
        inter_broker_listener: &str,
    ) -> Result<ConnectionLimits, String> {
        let int = |value: &str, name: &str| -> Result<u32, String> {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{name} must be an int >= 0"))
        };
        let max_connections_per_ip = int(
            config.get("max.connections.per.ip"),
            "max.connections.per.ip",
        )?;
        let mut per_ip_overrides = HashMap::new();
        let overrides = parse_host_counts(config.get("max.connections.per.ip.overrides"))
            .map_err(|e| format!("max.connections.per.ip.overrides: {e}"))?;
        if max_connections_per_ip == 0 && overrides.is_empty() {
            return Err("max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set".into());
        }
        for (host, count) in overrides {
            for ip in resolve(&host)? {
                per_ip_overrides.insert(ip, count as u32);
            }
        }
        let listeners = listeners
            .iter()
            .map(|name| {
                Ok(ListenerLimits {
                    name: Arc::from(*name),
                    max_connections: int(
                        config.listener_value(name, "max.connections"),
                        "max.connections",
                    )?,
                    max_connection_creation_rate: int(
                        config.listener_value(name, "max.connection.creation.rate"),
                        "max.connection.creation.rate",
                    )?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ConnectionLimits {
            max_connections: int(config.get("max.connections"), "max.connections")?,
            max_connection_creation_rate: int(
                config.get("max.connection.creation.rate"),
                "max.connection.creation.rate",
            )?,
            max_connections_per_ip,
            per_ip_overrides,
            listeners,
            inter_broker_listener: Arc::from(inter_broker_listener),
        })
    }
}

/// An override's host: an IP address as it is, a host name by every address it resolves to.
fn resolve(host: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs: Vec<IpAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("max.connections.per.ip.overrides: cannot resolve {host}: {e}"))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(format!(
            "max.connections.per.ip.overrides: {host} resolves to no address"
        ));
    }
    Ok(addrs)
}

/// Why a connection was closed as soon as it was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    /// Kafka's `TooManyConnectionsException`.
    #[error("{ip} already has the configured maximum of {max} connections")]
    TooManyConnectionsFromIp { ip: IpAddr, max: u32 },
}

impl ConnectionRefused {
    /// The property that refused it (the `reason` label of the refusal metric).
    pub fn reason(&self) -> &'static str {
        match self {
            ConnectionRefused::TooManyConnectionsFromIp { .. } => "max.connections.per.ip",
        }
    }
}

/// Connections created per second, as a token bucket holding one second's worth: a
/// connection takes a token, and one taken on credit must wait until the bucket refills to
/// it, as Kafka's rate sensor delays a connection past its quota.
#[derive(Debug)]
struct CreationRate {
    per_second: u32,
    tokens: f64,
    last: Instant,
}

impl CreationRate {
    fn new(per_second: u32, now: Instant) -> CreationRate {
        CreationRate {
            per_second,
            tokens: Self::capacity(per_second),
            last: now,
        }
    }

    fn capacity(per_second: u32) -> f64 {
        f64::from(per_second.max(1))
    }

    /// Records one new connection at `now`; how long it must wait for the rate to hold.
    fn record(&mut self, now: Instant) -> Duration {
        let capacity = Self::capacity(self.per_second);
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        // Debt is bounded: a rate of 0 (every connection waits the longest throttle) must not
        // grow it forever.
        self.tokens = (self.tokens + elapsed * f64::from(self.per_second)).min(capacity) - 1.0;
        self.tokens = self.tokens.max(-capacity);
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        if self.per_second == 0 {
            return MAX_THROTTLE;
        }
        Duration::from_secs_f64(-self.tokens / f64::from(self.per_second)).min(MAX_THROTTLE)
    }
}

#[derive(Debug)]
struct ListenerState {
    max_connections: u32,
    count: u32,
    rate: CreationRate,
}

/// The counts and rates, without locking or waiting: every rule is a method here.
#[derive(Debug)]
struct QuotaState {
    max_connections: u32,
    max_connections_per_ip: u32,
    per_ip_overrides: HashMap<IpAddr, u32>,
    inter_broker_listener: Arc<str>,
    broker_rate: CreationRate,
    listeners: HashMap<Arc<str>, ListenerState>,
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
}

impl QuotaState {
    fn new(limits: ConnectionLimits, now: Instant) -> QuotaState {
        QuotaState {
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
            per_ip_overrides: limits.per_ip_overrides,
            inter_broker_listener: limits.inter_broker_listener,
            broker_rate: CreationRate::new(limits.max_connection_creation_rate, now),
            listeners: limits
                .listeners
                .into_iter()
                .map(|l| {
                    let state = ListenerState {
                        max_connections: l.max_connections,
                        count: 0,
                        rate: CreationRate::new(l.max_connection_creation_rate, now),
                    };
                    (l.name, state)
                })
                .collect(),
            per_ip: HashMap::new(),
            total: 0,
        }
    }

    /// KIP-402: the inter-broker listener escapes the broker-wide limits, but only when there
    /// are other listeners whose clients could starve it.
    fn protected(&self, listener: &str) -> bool {
        self.listeners.len() > 1 && listener.eq_ignore_ascii_case(&self.inter_broker_listener)
    }

    /// What keeps `listener` from taking one more connection, if anything.
    fn slot_unavailable(&self, listener: &str) -> bool {
        let Some(state) = self.listeners.get(listener) else {
            return false;
        };
        if state.count >= state.max_connections {
            return true;
        }
        !self.protected(listener) && self.total >= self.max_connections
    }

    /// Records a connection accepted on `listener` in the creation rates; how long to wait
    /// before serving it.
    fn record_creation(&mut self, listener: &str, now: Instant) -> Duration {
        let broker = if self.protected(listener) {
            Duration::ZERO
        } else {
            self.broker_rate.record(now)
        };
        let own = self
            .listeners
            .get_mut(listener)
            .map_or(Duration::ZERO, |l| l.rate.record(now));
        broker.max(own)
    }

    fn max_for_ip(&self, ip: &IpAddr) -> u32 {
        self.per_ip_overrides
            .get(ip)
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }

    /// Counts a connection from `ip` on `listener`, unless `ip` is at its limit. The caller has
    /// checked `slot_unavailable` under the same lock.
    fn admit(&mut self, listener: &str, ip: IpAddr) -> Result<(), ConnectionRefused> {
        let max = self.max_for_ip(&ip);
        let count = self.per_ip.entry(ip).or_insert(0);
        if *count >= max {
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
            return Err(ConnectionRefused::TooManyConnectionsFromIp { ip, max });
        }
        *count += 1;
        self.total += 1;
        if let Some(l) = self.listeners.get_mut(listener) {
            l.count += 1;
        }
        Ok(())
    }

    /// Gives back what `admit` counted.
    fn release(&mut self, listener: &str, ip: IpAddr) {
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
        self.total = self.total.saturating_sub(1);
        if let Some(l) = self.listeners.get_mut(listener) {
            l.count = l.count.saturating_sub(1);
        }
    }

    fn listener_count(&self, listener: &str) -> u32 {
        self.listeners.get(listener).map_or(0, |l| l.count)
    }
}

/// The limits of every listener of this node, shared by their accept loops (`Arc`).
#[derive(Debug)]
pub struct ConnectionQuotas {
    state: Mutex<QuotaState>,
    /// Woken whenever a connection closes.
    released: Notify,
}

impl ConnectionQuotas {
    pub fn new(limits: ConnectionLimits) -> ConnectionQuotas {
        ConnectionQuotas {
            state: Mutex::new(QuotaState::new(limits, Instant::now())),
            released: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, QuotaState> {
        // The state is plain counters: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once `listener` may take one more connection; while it is at `max.connections`
    /// (its own or the broker's), waits for a connection to close. No polling.
    pub async fn wait_for_slot(&self, listener: &str) {
        let mut counted = false;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.state().slot_unavailable(listener) {
                return;
            }
            if !counted {
                counted = true;
                tracing::debug!(%listener, "max.connections reached: accepting paused until a connection closes");
                metrics::counter!("troupe_connection_accept_waits_total",
                    "listener" => listener.to_string(), "reason" => "max.connections")
                .increment(1);
            }
            released.await;
        }
    }

    /// Kafka's `ConnectionQuotas.inc` for a connection just accepted on `listener` from `ip`:
    /// records it in the creation rates and waits out their delay, waits for a slot, then
    /// counts it unless `ip` is at `max.connections.per.ip`. The slot gives the counts back
    /// when dropped.
    pub async fn admit(
        self: &Arc<Self>,
        listener: &Arc<str>,
        ip: IpAddr,
    ) -> Result<ConnectionSlot, ConnectionRefused> {
        let delay = self.state().record_creation(listener, Instant::now());
        if !delay.is_zero() {
            metrics::counter!("troupe_connection_accept_waits_total",
                "listener" => listener.to_string(), "reason" => "max.connection.creation.rate")
            .increment(1);
            tokio::time::sleep(delay).await;
        }
        loop {
            self.wait_for_slot(listener).await;
            let mut state = self.state();
            // Another listener may have taken the broker's last slot meanwhile.
            if state.slot_unavailable(listener) {
                continue;
            }
            let admitted = state.admit(listener, ip);
            let count = state.listener_count(listener);
            drop(state);
            set_listener_gauge(listener, count);
            return admitted.map(|()| ConnectionSlot {
                quotas: self.clone(),
                listener: listener.clone(),
                ip,
            });
        }
    }

    /// Open connections counted on `listener`.
    pub fn listener_count(&self, listener: &str) -> u32 {
        self.state().listener_count(listener)
    }

    /// Open connections counted from `ip`, over all listeners.
    pub fn ip_count(&self, ip: IpAddr) -> u32 {
        self.state().per_ip.get(&ip).copied().unwrap_or(0)
    }
}

fn set_listener_gauge(listener: &str, count: u32) {
    metrics::gauge!("troupe_listener_connections", "listener" => listener.to_string())
        .set(f64::from(count));
}

/// One open connection's share of the counts; dropping it (however the connection ended)
/// gives them back and lets a waiting listener accept again.
#[derive(Debug)]
pub struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    listener: Arc<str>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let count = {
            let mut state = self.quotas.state();
            state.release(&self.listener, self.ip);
            state.listener_count(&self.listener)
        };
        set_listener_gauge(&self.listener, count);
        self.quotas.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u32 = i32::MAX as u32;
    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn listener(name: &str, max_connections: u32, rate: u32) -> ListenerLimits {
        ListenerLimits {
            name: Arc::from(name),
            max_connections,
            max_connection_creation_rate: rate,
        }
    }

    fn limits(listeners: Vec<ListenerLimits>) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: MAX,
            max_connection_creation_rate: MAX,
            max_connections_per_ip: MAX,
            per_ip_overrides: HashMap::new(),
            listeners,
            inter_broker_listener: Arc::from("BROKER"),
        }
    }

    #[test]
    fn per_ip_limit_refuses_the_next_connection_and_frees_on_release() {
        let mut l = limits(vec![listener("CLIENT", MAX, MAX)]);
        l.max_connections_per_ip = 2;
        let mut s = QuotaState::new(l, Instant::now());
        s.admit("CLIENT", A).unwrap();
        s.admit("CLIENT", A).unwrap();
        assert_eq!(
            s.admit("CLIENT", A),
            Err(ConnectionRefused::TooManyConnectionsFromIp { ip: A, max: 2 })
        );
        // Another address has its own count; the refusal counted nothing.
        s.admit("CLIENT", B).unwrap();
        assert_eq!((s.total, s.listener_count("CLIENT")), (3, 3));
        s.release("CLIENT", A);
        s.admit("CLIENT", A).unwrap();
        s.release("CLIENT", A);
        s.release("CLIENT", A);
        s.release("CLIENT", B);
        assert!(s.per_ip.is_empty(), "no entry left for closed addresses");
        assert_eq!(s.total, 0);
    }

    #[test]
    fn per_ip_limit_counts_every_listener_the_inter_broker_one_included() {
        let mut l = limits(vec![
            listener("CLIENT", MAX, MAX),
            listener("BROKER", MAX, MAX),
        ]);
        l.max_connections_per_ip = 2;
        let mut s = QuotaState::new(l, Instant::now());
        s.admit("CLIENT", A).unwrap();
        s.admit("BROKER", A).unwrap();
        assert!(s.admit("BROKER", A).is_err());
        assert!(s.admit("CLIENT", A).is_err());
    }

    #[test]
    fn an_override_raises_or_lowers_one_address_limit() {
        let mut l = limits(vec![listener("CLIENT", MAX, MAX)]);
        l.max_connections_per_ip = 1;
        l.per_ip_overrides = HashMap::from([(A, 3), (B, 0)]);
        let mut s = QuotaState::new(l, Instant::now());
        for _ in 0..3 {
            s.admit("CLIENT", A).unwrap();
        }
        assert_eq!(
            s.admit("CLIENT", A),
            Err(ConnectionRefused::TooManyConnectionsFromIp { ip: A, max: 3 })
        );
        assert!(
            s.admit("CLIENT", B).is_err(),
            "an override of 0 refuses all"
        );
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        s.admit("CLIENT", c).unwrap();
        assert!(s.admit("CLIENT", c).is_err(), "others keep the default");
    }

    #[test]
    fn listener_max_connections_pauses_only_that_listener() {
        let l = limits(vec![
            listener("CLIENT", 2, MAX),
            listener("OTHER", MAX, MAX),
        ]);
        let mut s = QuotaState::new(l, Instant::now());
        s.admit("CLIENT", A).unwrap();
        assert!(!s.slot_unavailable("CLIENT"));
        s.admit("CLIENT", B).unwrap();
        assert!(s.slot_unavailable("CLIENT"));
        assert!(!s.slot_unavailable("OTHER"));
        s.release("CLIENT", A);
        assert!(!s.slot_unavailable("CLIENT"));
    }

    #[test]
    fn broker_max_connections_spans_listeners_but_spares_the_inter_broker_one() {
        let mut l = limits(vec![
            listener("CLIENT", MAX, MAX),
            listener("BROKER", MAX, MAX),
        ]);
        l.max_connections = 2;
        let mut s = QuotaState::new(l, Instant::now());
        s.admit("CLIENT", A).unwrap();
        s.admit("BROKER", B).unwrap();
        assert!(s.slot_unavailable("CLIENT"), "broker-wide total reached");
        assert!(
            !s.slot_unavailable("BROKER"),
            "inter-broker listener exempt"
        );
        s.admit("BROKER", B).unwrap();
        assert!(
            !s.slot_unavailable("broker"),
            "listener names are case-insensitive"
        );
        // Its own listener limit still holds.
        let mut l = limits(vec![
            listener("CLIENT", MAX, MAX),
            listener("BROKER", 1, MAX),
        ]);
        l.max_connections = 1;
        let mut s = QuotaState::new(l, Instant::now());
        s.admit("BROKER", A).unwrap();
        assert!(s.slot_unavailable("BROKER"));
    }

    #[test]
    fn a_lone_inter_broker_listener_is_not_exempt() {
        let mut l = limits(vec![listener("BROKER", MAX, MAX)]);
        l.max_connections = 1;
        let mut s = QuotaState::new(l, Instant::now());
        s.admit("BROKER", A).unwrap();
        assert!(s.slot_unavailable("BROKER"));
    }

    #[test]
    fn creation_rate_delays_connections_past_the_rate() {
        let t0 = Instant::now();
        let l = limits(vec![listener("CLIENT", MAX, 2)]);
        let mut s = QuotaState::new(l, t0);
        // One second's worth passes at once, then each waits for its share of a second.
        assert_eq!(s.record_creation("CLIENT", t0), Duration::ZERO);
        assert_eq!(s.record_creation("CLIENT", t0), Duration::ZERO);
        let d = s.record_creation("CLIENT", t0);
        assert!((d.as_secs_f64() - 0.5).abs() < 1e-6, "{d:?}");
        // Having waited it out, the next one waits again half a second.
        let t1 = t0 + Duration::from_millis(500);
        let d = s.record_creation("CLIENT", t1);
        assert!((d.as_secs_f64() - 0.5).abs() < 1e-6, "{d:?}");
        // After a quiet second the bucket is full again.
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(s.record_creation("CLIENT", t2), Duration::ZERO);
    }

    #[test]
    fn broker_creation_rate_spans_listeners_but_spares_the_inter_broker_one() {
        let t0 = Instant::now();
        let mut l = limits(vec![
            listener("CLIENT", MAX, MAX),
            listener("BROKER", MAX, MAX),
        ]);
        l.max_connection_creation_rate = 1;
        let mut s = QuotaState::new(l, t0);
        assert_eq!(s.record_creation("CLIENT", t0), Duration::ZERO);
        for _ in 0..10 {
            assert_eq!(s.record_creation("BROKER", t0), Duration::ZERO);
        }
        assert_eq!(s.record_creation("CLIENT", t0), Duration::from_secs(1));
    }

    #[test]
    fn a_zero_rate_delays_each_connection_by_the_longest_throttle() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(limits(vec![listener("CLIENT", MAX, 0)]), t0);
        assert_eq!(s.record_creation("CLIENT", t0), Duration::ZERO);
        for i in 1..100 {
            let d = s.record_creation("CLIENT", t0 + Duration::from_secs(i));
            assert_eq!(d, MAX_THROTTLE);
        }
    }

    #[test]
    fn limits_are_read_per_listener_with_kafka_defaults() {
        let mut cfg = BrokerConfig::default();
        let l = ConnectionLimits::from_config(&cfg, &["CLIENT"], "CLIENT").unwrap();
        assert_eq!(l.max_connections, MAX);
        assert_eq!(l.max_connections_per_ip, MAX);
        assert_eq!(l.max_connection_creation_rate, MAX);
        assert_eq!(l.listeners, vec![listener("CLIENT", MAX, MAX)]);
        cfg.set("max.connections", "10").unwrap();
        cfg.set("listener.name.client.max.connections", "4")
            .unwrap();
        cfg.set("listener.name.client.max.connection.creation.rate", "9")
            .unwrap();
        cfg.set("max.connections.per.ip.overrides", "127.0.0.1:5,::1:6")
            .unwrap();
        let l = ConnectionLimits::from_config(&cfg, &["CLIENT", "BROKER"], "BROKER").unwrap();
        assert_eq!(
            l.listeners,
            vec![listener("CLIENT", 4, 9), listener("BROKER", 10, MAX)]
        );
        assert_eq!(
            l.per_ip_overrides.get(&"127.0.0.1".parse().unwrap()),
            Some(&5)
        );
        assert_eq!(l.per_ip_overrides.get(&"::1".parse().unwrap()), Some(&6));

        let mut zero = BrokerConfig::default();
        zero.set("max.connections.per.ip", "0").unwrap();
        assert!(ConnectionLimits::from_config(&zero, &["CLIENT"], "CLIENT").is_err());
        zero.set("max.connections.per.ip.overrides", "127.0.0.1:1")
            .unwrap();
        assert!(ConnectionLimits::from_config(&zero, &["CLIENT"], "CLIENT").is_ok());
        zero.set("max.connections.per.ip.overrides", "no-such-host.invalid:1")
            .unwrap();
        let e = ConnectionLimits::from_config(&zero, &["CLIENT"], "CLIENT").unwrap_err();
        assert!(e.contains("no-such-host.invalid"), "{e}");
    }

    #[tokio::test]
    async fn a_closed_connection_wakes_a_listener_waiting_for_a_slot() {
        let quotas = Arc::new(ConnectionQuotas::new(limits(vec![listener(
            "CLIENT", 1, MAX,
        )])));
        let name: Arc<str> = Arc::from("CLIENT");
        let first = quotas.admit(&name, A).await.unwrap();
        let waiting = tokio::spawn({
            let quotas = quotas.clone();
            let name = name.clone();
            async move { quotas.admit(&name, B).await.map(|_slot| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "admitted past max.connections");
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("not woken by the close")
            .unwrap()
            .unwrap();
        assert_eq!(quotas.listener_count("CLIENT"), 0, "the slot was dropped");
    }

    #[tokio::test]
    async fn a_refused_connection_counts_nothing() {
        let mut l = limits(vec![listener("CLIENT", MAX, MAX)]);
        l.max_connections_per_ip = 1;
        let quotas = Arc::new(ConnectionQuotas::new(l));
        let name: Arc<str> = Arc::from("CLIENT");
        let _slot = quotas.admit(&name, A).await.unwrap();
        let refused = quotas.admit(&name, A).await.unwrap_err();
        assert_eq!(refused.reason(), "max.connections.per.ip");
        assert_eq!(
            (quotas.ip_count(A), quotas.listener_count("CLIENT")),
            (1, 1)
        );
    }

    #[tokio::test]
    async fn a_panic_unwinding_past_a_slot_gives_its_counts_back() {
        let quotas = Arc::new(ConnectionQuotas::new(limits(vec![listener(
            "CLIENT", 1, MAX,
        )])));
        let name: Arc<str> = Arc::from("CLIENT");
        let slot = quotas.admit(&name, A).await.unwrap();
        assert_eq!(quotas.ip_count(A), 1);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = slot;
            panic!("connection actor panicked");
        }));
        assert!(unwound.is_err());
        assert_eq!(
            (quotas.ip_count(A), quotas.listener_count("CLIENT")),
            (0, 0)
        );
        tokio::time::timeout(Duration::from_secs(10), quotas.admit(&name, A))
            .await
            .expect("the slot stayed taken")
            .unwrap();
    }
}
