//! What a run measured, printed as a table or as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::process::{self, RssSampler, Sample};

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub mode: &'static str,
    pub bootstrap: String,
    /// The workload's settings, for the record.
    pub settings: serde_json::Value,
    pub records: u64,
    pub bytes: u64,
    pub elapsed_seconds: f64,
    pub records_per_second: f64,
    pub megabytes_per_second: f64,
    /// Records the broker refused or that failed delivery.
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerUsage>,
    /// This process (the client) during the run: on a machine it shares with the broker, the
    /// cores it takes are the broker's to lose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footprint: Option<Footprint>,
}

/// End-to-end latency percentiles, in milliseconds.
#[derive(Serialize, Debug, Default)]
pub struct Latency {
    pub samples: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_micros(h: &hdrhistogram::Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            samples: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// The broker process during the run.
#[derive(Serialize, Debug, Default)]
pub struct BrokerUsage {
    pub pid: u32,
    pub cpu_seconds: f64,
    /// CPU seconds per GB (10^9 bytes) of record payload moved.
    pub cpu_seconds_per_gb: f64,
    pub rss_start_mb: f64,
    pub rss_peak_mb: f64,
    /// `VmHWM`: the largest resident set since the broker started.
    pub rss_high_water_mark_mb: f64,
}

/// The bench process's own CPU during the run.
#[derive(Serialize, Debug, Default)]
pub struct ClientUsage {
    pub cpu_seconds: f64,
    /// CPU seconds per GB (10^9 bytes) of record payload moved.
    pub cpu_seconds_per_gb: f64,
}

/// The broker's resident memory before and after creating partitions.
#[derive(Serialize, Debug, Default)]
pub struct Footprint {
    pub pid: u32,
    pub idle_rss_mb: f64,
    pub partitions_created: u32,
    pub rss_with_partitions_mb: f64,
    pub create_seconds: f64,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Meters the broker process across a run: CPU time and RSS at start, peak RSS sampled.
pub struct BrokerMeter {
    pid: u32,
    start: Sample,
    sampler: RssSampler,
}

impl BrokerMeter {
    pub fn start(pid: Option<u32>) -> Option<BrokerMeter> {
        let pid = pid?;
        let start = process::sample(pid)?;
        Some(BrokerMeter {
            pid,
            start,
            sampler: RssSampler::start(pid),
        })
    }

    /// The usage since `start`, charging the CPU time to `payload_bytes`.
    pub fn finish(self, payload_bytes: u64) -> BrokerUsage {
        let peak = self.sampler.finish();
        let end = process::sample(self.pid).unwrap_or(self.start);
        let cpu = end.cpu_seconds - self.start.cpu_seconds;
        BrokerUsage {
            pid: self.pid,
            cpu_seconds: cpu,
            cpu_seconds_per_gb: per_gb(cpu, payload_bytes),
            rss_start_mb: mb(self.start.rss_bytes),
            rss_peak_mb: mb(peak.max(end.rss_bytes)),
            rss_high_water_mark_mb: mb(end.peak_rss_bytes),
        }
    }
}

fn per_gb(cpu_seconds: f64, payload_bytes: u64) -> f64 {
    if payload_bytes == 0 {
        0.0
    } else {
        cpu_seconds / (payload_bytes as f64 / 1e9)
    }
}

/// Meters this process's CPU across a run.
pub struct ClientMeter {
    start: Option<Sample>,
}

impl ClientMeter {
    pub fn start() -> ClientMeter {
        ClientMeter {
            start: process::sample(std::process::id()),
        }
    }

    /// The CPU since `start`, charged to `payload_bytes`; None where `/proc` is not.
    pub fn finish(self, payload_bytes: u64) -> Option<ClientUsage> {
        let end = process::sample(std::process::id())?;
        let cpu = end.cpu_seconds - self.start?.cpu_seconds;
        Some(ClientUsage {
            cpu_seconds: cpu,
            cpu_seconds_per_gb: per_gb(cpu, payload_bytes),
        })
    }
}

impl Report {
    /// Fills the throughput fields from what moved in `elapsed`.
    pub fn throughput(&mut self, records: u64, bytes: u64, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.records = records;
        self.bytes = bytes;
        self.elapsed_seconds = secs;
        self.records_per_second = records as f64 / secs;
        self.megabytes_per_second = mb(bytes) / secs;
    }

    pub fn to_table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(t, "{k:<28} {v}");
        };
        row("mode", self.mode.to_string());
        row("bootstrap", self.bootstrap.clone());
        if let serde_json::Value::Object(m) = &self.settings {
            for (k, v) in m {
                row(&format!("  {k}"), v.to_string());
            }
        }
        if self.mode != "footprint" {
            row("records", self.records.to_string());
            row("payload MB", format!("{:.1}", mb(self.bytes)));
            row("elapsed s", format!("{:.2}", self.elapsed_seconds));
            row("records/s", format!("{:.0}", self.records_per_second));
            row("MB/s", format!("{:.1}", self.megabytes_per_second));
            row("errors", self.errors.to_string());
        }
        if let Some(l) = &self.latency_ms {
            row("latency samples", l.samples.to_string());
            row("latency p50 ms", format!("{:.3}", l.p50));
            row("latency p99 ms", format!("{:.3}", l.p99));
            row("latency p99.9 ms", format!("{:.3}", l.p999));
            row("latency max ms", format!("{:.3}", l.max));
        }
        if let Some(b) = &self.broker {
            row("broker pid", b.pid.to_string());
            row("broker CPU s", format!("{:.2}", b.cpu_seconds));
            row(
                "broker CPU s per GB",
                format!("{:.2}", b.cpu_seconds_per_gb),
            );
            row("broker RSS start MB", format!("{:.1}", b.rss_start_mb));
            row("broker RSS peak MB", format!("{:.1}", b.rss_peak_mb));
        }
        if let Some(c) = &self.client {
            row("client CPU s", format!("{:.2}", c.cpu_seconds));
            row(
                "client CPU s per GB",
                format!("{:.2}", c.cpu_seconds_per_gb),
            );
        }
        if let Some(f) = &self.footprint {
            row("broker pid", f.pid.to_string());
            row("idle RSS MB", format!("{:.1}", f.idle_rss_mb));
            row("partitions created", f.partitions_created.to_string());
            row("create s", format!("{:.1}", f.create_seconds));
            row(
                "RSS with partitions MB",
                format!("{:.1}", f.rss_with_partitions_mb),
            );
        }
        t
    }
}
