//! `troupe bench consume`: reads a topic from its start to the end offsets it had when the run
//! began, as one consumer assigned every partition (no group, nothing committed).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::client::{base_config, progress};
use super::options::ConsumeOptions;
use super::process::resolve_pid;
use super::report::{BrokerMeter, Report};

/// Gives up when nothing arrives for this long.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

pub fn run(o: &ConsumeOptions) -> anyhow::Result<Report> {
    let consumer: BaseConsumer = base_config(&o.common.bootstrap)
        .set("group.id", "troupe-bench-consume")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", o.fetch_max_bytes.to_string())
        .set("max.partition.fetch.bytes", o.fetch_max_bytes.to_string())
        .set("queued.max.messages.kbytes", "262144")
        .create()
        .context("creating the consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&o.topic), Duration::from_secs(10))
        .context("Metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        anyhow::bail!("topic {} has no partitions (does it exist?)", o.topic);
    }
    let mut assignment = TopicPartitionList::new();
    let mut available = 0u64;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&o.topic, p, Duration::from_secs(10))
            .with_context(|| format!("ListOffsets for partition {p}"))?;
        available += (high - low).max(0) as u64;
        assignment.add_partition_offset(&o.topic, p, Offset::Offset(low))?;
    }
    let target = o.records.unwrap_or(available).min(available);
    if target == 0 {
        anyhow::bail!("topic {} is empty: produce to it first", o.topic);
    }
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;

    let bar = progress(Some(target), o.common.json, "consume");
    let meter = BrokerMeter::start(resolve_pid(o.common.broker_pid, &o.common.bootstrap));
    let started = Instant::now();
    let (mut records, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut last_progress = Instant::now();
    while records < target {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload_len() as u64;
                last_progress = Instant::now();
                if records % 1024 == 0 {
                    bar.set_position(records);
                }
            }
            Some(Err(_)) => errors += 1,
            None if last_progress.elapsed() > IDLE_LIMIT => {
                anyhow::bail!("no record for {IDLE_LIMIT:?} after {records} of {target}")
            }
            None => {}
        }
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let mut report = Report {
        mode: "consume",
        bootstrap: o.common.bootstrap.clone(),
        settings: serde_json::json!({
            "topic": o.topic, "partitions": partitions.len(),
            "fetch_max_bytes": o.fetch_max_bytes,
        }),
        errors,
        broker: meter.map(|m| m.finish(bytes)),
        ..Default::default()
    };
    report.throughput(records, bytes, elapsed);
    Ok(report)
}
