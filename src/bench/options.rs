//! What `troupe bench` is told: the broker, the workload, the producer settings and, for
//! `produce`, which client drives the run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub mode: BenchMode,
}

impl BenchArgs {
    pub fn common(&self) -> &Common {
        match &self.mode {
            BenchMode::Produce(o) => &o.run.common,
            BenchMode::Consume(o) => &o.common,
            BenchMode::E2e(o) => &o.run.common,
            BenchMode::Footprint(o) => &o.common,
        }
    }
}

#[derive(Subcommand)]
pub enum BenchMode {
    /// Produce records as fast as the broker takes them; report throughput and broker CPU.
    Produce(ProduceOptions),
    /// Read a topic from its start to its end; report throughput.
    Consume(ConsumeOptions),
    /// Produce at a fixed rate and consume at once; report end-to-end latency percentiles.
    E2e(E2eOptions),
    /// The broker's resident memory idle, then after creating many partitions.
    Footprint(FootprintOptions),
}

/// Where the broker is and how to print.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Any broker of the cluster, host:port (comma-separated list allowed).
    #[arg(long, env = "TROUPE_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// The broker process to meter (CPU, RSS). Default: the local process listening on the
    /// bootstrap port, if any.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The topic a run uses; created when missing.
#[derive(Args, Clone, Debug)]
pub struct TopicOptions {
    #[arg(long, default_value = "troupe-bench")]
    pub topic: String,
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i32,
}

/// How records are made and sent.
#[derive(Args, Clone, Debug)]
pub struct ProducerOptions {
    /// Bytes of value per record.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// 0, 1 or all (the native driver: 1 or all).
    #[arg(long, default_value = "1")]
    pub acks: String,
    /// none, gzip, snappy or lz4.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// librdkafka `linger.ms` (the native driver sends each batch as soon as it is full).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Most bytes per partition batch (librdkafka `batch.size`).
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: usize,
    /// Producer instances, each on its own thread (librdkafka; the native driver takes
    /// --connections instead).
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Idempotent producer (`enable.idempotence`; the native driver: one producer id from
    /// InitProducerId, a sequence per partition, no retries).
    #[arg(long)]
    pub idempotent: bool,
    /// Any other librdkafka producer property, KEY=VALUE (repeatable; applied last;
    /// librdkafka driver only).
    #[arg(long = "producer-config", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub producer_config: Vec<(String, String)>,
}

/// A librdkafka property given as KEY=VALUE.
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Properties as given (KEY=VALUE), for a report's settings.
pub fn show_properties(properties: &[(String, String)]) -> Vec<String> {
    properties.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// How long a run lasts: a record count, or a duration.
#[derive(Args, Clone, Debug)]
pub struct Amount {
    /// Records to send (default 1,000,000 unless --duration-secs is given).
    #[arg(long)]
    pub records: Option<u64>,
    /// Send for this many seconds instead of a record count.
    #[arg(long)]
    pub duration_secs: Option<f64>,
}

impl Amount {
    /// (record limit, time limit); a count alone defaults to one million records.
    pub fn limits(&self) -> (Option<u64>, Option<Duration>) {
        match (self.records, self.duration_secs) {
            (None, None) => (Some(1_000_000), None),
            (r, d) => (r, d.map(Duration::from_secs_f64)),
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct ProduceOptions {
    #[command(flatten)]
    pub run: ProducerRun,
    #[command(flatten)]
    pub amount: Amount,
    /// The client that produces: librdkafka (built without SSL and SASL, so PLAINTEXT only)
    /// or native (Troupe's own Kafka client: any security.protocol of --command-config).
    #[arg(long, value_enum, default_value_t = Driver::Librdkafka)]
    pub driver: Driver,
    /// A Kafka client properties file (security.protocol, sasl.mechanism,
    /// sasl.username/sasl.password or sasl.jaas.config, ssl.ca.location ...), read as the
    /// admin commands read theirs. Anything but PLAINTEXT needs --driver native.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// Native driver: connections to each partition leader, each with one Produce request
    /// (one batch per partition it serves) in flight.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
}

/// Which client `troupe bench produce` drives.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// librdkafka through rdkafka: the stock client, comparable across brokers.
    Librdkafka,
    /// Troupe's own client (`client::KafkaConnection`): TLS and SASL through rustls.
    Native,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Librdkafka => "librdkafka",
            Driver::Native => "native",
        }
    }
}

/// What every mode that produces takes: the broker, the topic it creates and the producer's
/// settings.
#[derive(Args, Clone, Debug)]
pub struct ProducerRun {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub topic: TopicOptions,
    #[command(flatten)]
    pub producer: ProducerOptions,
}

#[derive(Args, Clone, Debug)]
pub struct ConsumeOptions {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value = "troupe-bench")]
    pub topic: String,
    /// Stop after this many records (default: everything up to the end offsets at start).
    #[arg(long)]
    pub records: Option<u64>,
    /// librdkafka `fetch.max.bytes` / `max.partition.fetch.bytes`.
    #[arg(long, default_value_t = 52_428_800)]
    pub fetch_max_bytes: usize,
}

#[derive(Args, Clone, Debug)]
pub struct E2eOptions {
    #[command(flatten)]
    pub run: ProducerRun,
    /// Records per second the producer sends (spread evenly).
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    pub duration_secs: f64,
    /// Seconds at the start whose latencies are not counted.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Any other librdkafka consumer property, KEY=VALUE (repeatable; applied last).
    #[arg(long = "consumer-config", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub consumer_config: Vec<(String, String)>,
}

#[derive(Args, Clone, Debug)]
pub struct FootprintOptions {
    #[command(flatten)]
    pub common: Common,
    /// Partitions to create in all.
    #[arg(long, default_value_t = 10_000)]
    pub partitions: u32,
    /// Partitions per topic (topics named `<prefix>-N`).
    #[arg(long, default_value_t = 10)]
    pub partitions_per_topic: u32,
    #[arg(long, default_value = "troupe-footprint")]
    pub topic_prefix: String,
    /// Seconds to let the broker settle before each reading.
    #[arg(long, default_value_t = 5.0)]
    pub settle_secs: f64,
}
