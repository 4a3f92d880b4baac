//! Client quotas at run time (Kafka's `ClientQuotaManager` and `ClientRequestQuotaManager`):
//! one manager per quota type (produce bytes, fetch bytes, request time), each measuring what
//! clients use against the quota that applies to them in the current metadata image, and
//! answering how long a client must be throttled (KIP-219).
//!
//! Lock-light: a sharded map of sensors (one `Rate` per user/client-id group the quota
//! applies to, each behind its own small mutex); a broker with no quota of a type set pays one
//! atomic load per request for it. Idle sensors expire after an hour, as Kafka's do.
//!
//! It owns measurement only; the protocol layer decides what to record and puts the throttle
//! time in the response, the connection mutes itself for it.

pub mod rate;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::metadata::quotas::key;
use crate::metadata::MetadataImage;
use rate::{throttle_time_ms, Rate, RateConfig};

/// Kafka's inactive sensor expiry.
const SENSOR_EXPIRY_MS: i64 = 3_600_000;

/// How many records between sweeps of idle sensors.
const SWEEP_EVERY: u64 = 4096;

/// What a quota limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaType {
    /// Produce request bytes against `producer_byte_rate`.
    Produce,
    /// Consumer fetch response bytes against `consumer_byte_rate`.
    Fetch,
    /// Time handling a client's requests against `request_percentage` (percent of one thread).
    Request,
}

impl QuotaType {
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => key::PRODUCER_BYTE_RATE,
            QuotaType::Fetch => key::CONSUMER_BYTE_RATE,
            QuotaType::Request => key::REQUEST_PERCENTAGE,
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            QuotaType::Produce => "produce",
            QuotaType::Fetch => "fetch",
            QuotaType::Request => "request",
        }
    }
}

/// Who shares one measurement: (user, client id), either part empty when the quota that
/// applies is shared across it (Kafka's quota metric tags).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SensorKey {
    user: String,
    client_id: String,
}

struct Sensor {
    rate: Rate,
    last_ms: i64,
}

/// One quota type's measurements.
pub struct ClientQuotaManager {
    quota_type: QuotaType,
    config: RateConfig,
    sensors: DashMap<SensorKey, Arc<Mutex<Sensor>>>,
    /// `(image version << 1) | whether any entity sets this type's key`, so a broker without
    /// such quotas skips the lookup.
    enabled: AtomicU64,
    records: AtomicU64,
}

impl ClientQuotaManager {
    pub fn new(quota_type: QuotaType, config: RateConfig) -> Self {
        ClientQuotaManager {
            quota_type,
            config,
            sensors: DashMap::new(),
            enabled: AtomicU64::new(u64::MAX),
            records: AtomicU64::new(0),
        }
    }

    pub fn quota_type(&self) -> QuotaType {
        self.quota_type
    }

    fn quotas_enabled(&self, image: &MetadataImage) -> bool {
        let cached = self.enabled.load(Ordering::Relaxed);
        if cached != u64::MAX && cached >> 1 == image.version {
            return cached & 1 == 1;
        }
        let on = image.client_quotas.has_key(self.quota_type.key());
        self.enabled
            .store((image.version << 1) | on as u64, Ordering::Relaxed);
        on
    }

    /// The quota (limit) for this client and the sensor it is measured in, if one applies.
    fn resolve(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
    ) -> Option<(SensorKey, f64)> {
        if !self.quotas_enabled(image) {
            return None;
        }
        let resolved = image
            .client_quotas
            .resolve(self.quota_type.key(), user, client_id)?;
        let (by_user, by_client) = resolved.level.shares();
        let key = SensorKey {
            user: if by_user { user.into() } else { String::new() },
            client_id: if by_client {
                client_id.into()
            } else {
                String::new()
            },
        };
        Some((key, resolved.limit))
    }

    fn sensor(&self, key: SensorKey) -> Arc<Mutex<Sensor>> {
        if let Some(s) = self.sensors.get(&key) {
            return s.clone();
        }
        self.sensors
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Mutex::new(Sensor {
                    rate: Rate::default(),
                    last_ms: 0,
                }))
            })
            .clone()
    }

    /// Records `value` for the client at `now_ms` and answers the throttle time (ms) the
    /// rate now calls for: 0 within quota or without one (Kafka's
    /// `maybeRecordAndGetThrottleTimeMs`). The request quota's answer is capped at one window,
    /// as Kafka's `ClientRequestQuotaManager` caps it.
    pub fn record(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> i64 {
        let Some((key, limit)) = self.resolve(image, user, client_id) else {
            return 0;
        };
        self.maybe_sweep(now_ms);
        let sensor = self.sensor(key);
        let mut s = sensor.lock();
        s.last_ms = now_ms;
        s.rate.record(self.config, value, now_ms);
        let observed = s.rate.measure(self.config, now_ms);
        if observed <= limit {
            return 0;
        }
        let window = s.rate.window_size(self.config, now_ms);
        let throttle = throttle_time_ms(observed, limit, window);
        match self.quota_type {
            QuotaType::Request => throttle.min(self.config.window_ms),
            _ => throttle,
        }
    }

    /// Takes back a value recorded for a response that was not sent (a throttled fetch is
    /// answered empty), as Kafka's `unrecordQuotaSensor`.
    pub fn unrecord(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) {
        if let Some((key, _)) = self.resolve(image, user, client_id) {
            let sensor = self.sensor(key);
            sensor.lock().rate.record(self.config, -value, now_ms);
        }
    }

    /// The most that can be recorded at once without certain throttling (Kafka's
    /// `getMaxValueInQuotaWindow`): quota × (samples − 1) windows; `None` without a quota.
    pub fn max_value_in_quota_window(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
    ) -> Option<f64> {
        self.resolve(image, user, client_id).map(|(_, limit)| {
            limit * (self.config.samples as f64 - 1.0) * self.config.window_ms as f64 / 1000.0
        })
    }

    /// Counts a throttle the broker applies (`troupe_throttle_time_seconds`).
    pub fn throttle(&self, throttle_ms: i64) {
        if throttle_ms > 0 {
            metrics::histogram!("troupe_throttle_time_seconds",
                "quota_type" => self.quota_type.label())
            .record(throttle_ms as f64 / 1000.0);
        }
    }

    fn maybe_sweep(&self, now_ms: i64) {
        if self.records.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        self.sensors.retain(|_, s| {
            s.try_lock()
                .is_none_or(|s| now_ms - s.last_ms < SENSOR_EXPIRY_MS)
        });
    }

    #[cfg(test)]
    fn sensor_count(&self) -> usize {
        self.sensors.len()
    }
}

/// The broker's three quota managers and the clock they share.
pub struct QuotaManagers {
    pub produce: ClientQuotaManager,
    pub fetch: ClientQuotaManager,
    pub request: ClientQuotaManager,
    epoch: Instant,
}

impl QuotaManagers {
    /// `window_seconds` is `quota.window.size.seconds`, `samples` `quota.window.num`.
    pub fn new(window_seconds: i64, samples: i64) -> Self {
        let config = RateConfig {
            window_ms: window_seconds.max(1) * 1000,
            samples: samples.clamp(1, 1_000) as usize,
        };
        QuotaManagers {
            produce: ClientQuotaManager::new(QuotaType::Produce, config),
            fetch: ClientQuotaManager::new(QuotaType::Fetch, config),
            request: ClientQuotaManager::new(QuotaType::Request, config),
            epoch: Instant::now(),
        }
    }

    /// Milliseconds on the managers' monotonic clock.
    pub fn now_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }
}

/// The user name quotas know a principal by: `alice` of `User:alice` (Kafka's
/// `KafkaPrincipal.getName`).
pub fn quota_user(principal: &str) -> &str {
    principal
        .split_once(':')
        .map_or(principal, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::quotas::{CLIENT_ID, USER};
    use crate::metadata::{ClientQuotaRecord, MetadataRecord};

    fn image_with(entity: &[(&str, Option<&str>)], key: &str, value: f64) -> MetadataImage {
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::ClientQuota(ClientQuotaRecord::set(
            entity, key, value,
        )));
        image
    }

    const CONFIG: RateConfig = RateConfig {
        window_ms: 1000,
        samples: 11,
    };

    #[test]
    fn produce_bytes_over_the_quota_are_throttled() {
        let m = ClientQuotaManager::new(QuotaType::Produce, CONFIG);
        let image = image_with(
            &[(CLIENT_ID, Some("limited"))],
            key::PRODUCER_BYTE_RATE,
            1000.0,
        );
        // No quota for this client, none at all for fetch.
        assert_eq!(m.record(&image, "u", "free", 1e9, 0), 0);
        let f = ClientQuotaManager::new(QuotaType::Fetch, CONFIG);
        assert_eq!(f.record(&image, "u", "limited", 1e9, 0), 0);
        assert_eq!(m.sensor_count(), 0);
        // 10 000 bytes over the assumed 10 s: exactly the quota.
        assert_eq!(m.record(&image, "u", "limited", 10_000.0, 0), 0);
        // 20 000 over 10 s: twice the quota, 10 s to wait.
        assert_eq!(m.record(&image, "u", "limited", 10_000.0, 0), 10_000);
        // Taking it back brings the rate within quota again.
        m.unrecord(&image, "u", "limited", 10_000.0, 0);
        assert_eq!(m.record(&image, "u", "limited", 0.0, 0), 0);
        assert_eq!(
            m.max_value_in_quota_window(&image, "u", "limited"),
            Some(10_000.0)
        );
        assert_eq!(m.max_value_in_quota_window(&image, "u", "free"), None);
    }

    #[test]
    fn a_user_quota_is_shared_by_its_client_ids() {
        let m = ClientQuotaManager::new(QuotaType::Produce, CONFIG);
        let image = image_with(&[(USER, Some("alice"))], key::PRODUCER_BYTE_RATE, 1000.0);
        assert_eq!(m.record(&image, "alice", "a", 10_000.0, 0), 0);
        assert!(m.record(&image, "alice", "b", 10_000.0, 0) > 0);
        // A per-client default measures each client id on its own.
        let m = ClientQuotaManager::new(QuotaType::Produce, CONFIG);
        let image = image_with(&[(CLIENT_ID, None)], key::PRODUCER_BYTE_RATE, 1000.0);
        assert_eq!(m.record(&image, "alice", "a", 10_000.0, 0), 0);
        assert_eq!(m.record(&image, "alice", "b", 10_000.0, 0), 0);
        assert_eq!(m.sensor_count(), 2);
    }

    #[test]
    fn request_time_throttle_is_capped_at_one_window() {
        let m = ClientQuotaManager::new(QuotaType::Request, CONFIG);
        let image = image_with(&[(USER, None)], key::REQUEST_PERCENTAGE, 10.0);
        // 1000 percent-seconds over 10 s: 100%, ten times the quota.
        assert_eq!(m.record(&image, "u", "c", 1000.0, 0), 1000);
    }

    #[test]
    fn principal_names_are_quota_users() {
        assert_eq!(quota_user("User:alice"), "alice");
        assert_eq!(quota_user("User:CN=a:b"), "CN=a:b");
        assert_eq!(quota_user("ANONYMOUS"), "ANONYMOUS");
    }
}
