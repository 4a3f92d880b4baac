//! A windowed rate as Kafka's metrics measure one (`SampledStat` + `Rate` of
//! `org.apache.kafka.common.metrics`): `samples` windows of `window_ms`, one extra slot for the
//! sample overlapping the oldest window, samples silent for the whole span reset, and the
//! elapsed time taken as at least `samples - 1` full windows so a fresh sensor does not see a
//! huge rate. The throttle time of a violation is KIP-219's: `(observed − quota) / quota ×
//! window`.

/// The shape of a quota's measurement (`quota.window.size.seconds`, `quota.window.num`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateConfig {
    pub window_ms: i64,
    pub samples: usize,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    start_ms: i64,
    last_event_ms: i64,
    value: f64,
}

impl Sample {
    fn new(now: i64) -> Sample {
        Sample {
            start_ms: now,
            last_event_ms: now,
            value: 0.0,
        }
    }
}

/// A per-second rate of recorded values.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    /// Adds `value` at `now` (ms) to the current sample, starting a new one when the current
    /// window is complete.
    pub fn record(&mut self, config: RateConfig, value: f64, now: i64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
        }
        if now - self.samples[self.current].start_ms >= config.window_ms {
            // One extra slot: the sample overlapping the start of the measured span.
            self.current = (self.current + 1) % (config.samples + 1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now));
            } else {
                self.samples[self.current] = Sample::new(now);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.last_event_ms = now;
    }

    /// Resets samples with no event within the whole measured span.
    fn purge_obsolete(&mut self, config: RateConfig, now: i64) {
        let expire = config.samples as i64 * config.window_ms;
        for s in &mut self.samples {
            if now - s.last_event_ms >= expire {
                *s = Sample::new(now);
            }
        }
    }

    /// The span (ms) the rate divides by: from the oldest sample's start, at least
    /// `samples - 1` full windows, at least 1 ms.
    pub fn window_size(&mut self, config: RateConfig, now: i64) -> i64 {
        self.purge_obsolete(config, now);
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now);
        let mut elapsed = now - oldest;
        let full = elapsed / config.window_ms.max(1);
        let min_full = config.samples as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * config.window_ms;
        }
        elapsed.max(1)
    }

    /// The rate per second at `now`.
    pub fn measure(&mut self, config: RateConfig, now: i64) -> f64 {
        let window = self.window_size(config, now);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (window as f64 / 1000.0)
    }

    /// Time of the last recorded event (ms), for expiring idle sensors.
    pub fn last_event_ms(&self) -> Option<i64> {
        self.samples.iter().map(|s| s.last_event_ms).max()
    }
}

/// KIP-219's throttle time (Kafka's `QuotaUtils.throttleTime`): how long no more may be
/// recorded for an `observed` rate, measured over `window_ms`, to fall back to `quota`.
pub fn throttle_time_ms(observed: f64, quota: f64, window_ms: i64) -> i64 {
    if quota <= 0.0 || observed <= quota {
        return 0;
    }
    ((observed - quota) / quota * window_ms as f64).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: RateConfig = RateConfig {
        window_ms: 1000,
        samples: 11,
    };

    #[test]
    fn a_fresh_rate_counts_at_least_samples_minus_one_windows() {
        let mut r = Rate::default();
        r.record(CONFIG, 1000.0, 0);
        // 10 full windows assumed: 1000 bytes over 10 s.
        assert_eq!(r.window_size(CONFIG, 0), 10_000);
        assert!((r.measure(CONFIG, 0) - 100.0).abs() < 1e-9);
        // Half a second later: 10.5 s.
        assert_eq!(r.window_size(CONFIG, 500), 10_500);
    }

    #[test]
    fn windows_roll_and_the_span_grows_to_the_oldest_sample() {
        let mut r = Rate::default();
        for second in 0..15 {
            r.record(CONFIG, 100.0, second * 1000);
        }
        // 12 slots (11 windows + the overlapping one) keep the samples of 3..=14 s; the one of
        // 3 s had its last event a whole span (11 s) ago and is reset: 4..=14 s remain.
        let now = 14_000;
        assert_eq!(r.window_size(CONFIG, now), 10_000);
        assert!((r.measure(CONFIG, now) - 110.0).abs() < 1e-9);
        // Mid-window the span covers the partial window too.
        r.record(CONFIG, 100.0, 14_500);
        assert_eq!(r.window_size(CONFIG, 14_500), 10_500);
    }

    #[test]
    fn samples_silent_for_the_whole_span_reset() {
        let mut r = Rate::default();
        r.record(CONFIG, 5000.0, 0);
        // 11 windows later nothing is left of it.
        assert_eq!(r.measure(CONFIG, 11_000), 0.0);
        r.record(CONFIG, 100.0, 11_000);
        assert!((r.measure(CONFIG, 11_000) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn throttle_time_is_kip_219s_formula() {
        // Twice the quota over 10 s: 10 s more bring it back.
        assert_eq!(throttle_time_ms(2000.0, 1000.0, 10_000), 10_000);
        // 10% over, 11 s window: 1.1 s.
        assert_eq!(throttle_time_ms(1100.0, 1000.0, 11_000), 1100);
        assert_eq!(throttle_time_ms(1000.0, 1000.0, 11_000), 0);
        assert_eq!(throttle_time_ms(500.0, 1000.0, 11_000), 0);
        // Rounded like Math.round.
        assert_eq!(throttle_time_ms(1000.5, 1000.0, 1001), 1);
    }

    #[test]
    fn a_rate_held_at_the_quota_by_its_throttle_converges() {
        // A client that always waits the throttle time it is given stays near the quota.
        let quota = 1000.0;
        let mut r = Rate::default();
        let mut now = 0;
        let mut sent = 0.0;
        while now < 60_000 {
            r.record(CONFIG, 500.0, now);
            sent += 500.0;
            let observed = r.measure(CONFIG, now);
            let window = r.window_size(CONFIG, now);
            now += throttle_time_ms(observed, quota, window).max(10);
        }
        let rate = sent / (now as f64 / 1000.0);
        // The first 10 windows' allowance is spread over 60 s; no more than that.
        assert!(rate > quota * 0.95 && rate < quota * 1.2, "{rate}");
    }
}
