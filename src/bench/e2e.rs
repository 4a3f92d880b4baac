//! `troupe bench e2e`: a producer sends at a fixed rate, each value starting with its send time;
//! a consumer assigned every partition at the current end records how long each record took
//! from `send` to `poll`. Both run in this process, so one monotonic clock serves both.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::client::{base_config, ensure_topic, payload, producer_config, progress};
use super::options::{show_properties, E2eOptions};
use super::process::resolve_pid;
use super::produce::{send_blocking, CountingContext, Deliveries};
use super::report::{BrokerMeter, Latency, Report};

/// How long the consumer waits for stragglers after the producer is done.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// The send timestamp at the front of each value: microseconds since the run's epoch.
const STAMP: usize = 8;

pub fn run(o: &E2eOptions) -> anyhow::Result<Report> {
    ensure_topic(&o.run.common.bootstrap, &o.run.topic)?;
    let record_size = o.run.producer.record_size.max(STAMP);
    let consumer = assigned_at_end(o)?;
    let producer: ThreadedProducer<CountingContext> =
        producer_config(&o.run.common.bootstrap, &o.run.producer)?
            .create_with_context(CountingContext(Arc::new(Deliveries::default())))
            .context("creating the producer")?;
    let deliveries = producer.context().0.clone();

    let epoch = Instant::now();
    let warmup_us = (o.warmup_secs * 1e6) as u64;
    let duration = Duration::from_secs_f64(o.duration_secs);
    let total = (o.rate as f64 * o.duration_secs) as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let bar = progress(Some(total), o.run.common.json, "e2e");
    let meter = BrokerMeter::start(resolve_pid(
        o.run.common.broker_pid,
        &o.run.common.bootstrap,
    ));

    let sender = {
        let (sent, done, topic, rate) = (
            sent.clone(),
            done.clone(),
            o.run.topic.topic.clone(),
            o.rate,
        );
        let mut value = payload(record_size);
        thread::spawn(move || -> anyhow::Result<()> {
            let mut n = 0u64;
            while epoch.elapsed() < duration {
                // Send what the rate owes up to now, then sleep to the next millisecond.
                let owed = (epoch.elapsed().as_secs_f64() * rate as f64) as u64;
                while n < owed.min(total) {
                    let now_us = epoch.elapsed().as_micros() as u64;
                    value[..STAMP].copy_from_slice(&now_us.to_be_bytes());
                    send_blocking(&producer, BaseRecord::to(&topic).payload(&value[..]))?;
                    n += 1;
                }
                sent.store(n, Ordering::Relaxed);
                thread::sleep(Duration::from_micros(500));
            }
            producer
                .flush(Duration::from_secs(60))
                .context("flushing")?;
            done.store(true, Ordering::Relaxed);
            Ok(())
        })
    };

    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut received, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut drain_started: Option<Instant> = None;
    loop {
        let finished = done.load(Ordering::Relaxed);
        if finished && received >= deliveries.delivered.load(Ordering::Relaxed) {
            break;
        }
        if finished
            && *drain_started.get_or_insert_with(Instant::now) + DRAIN_LIMIT < Instant::now()
        {
            break;
        }
        if sender.is_finished() && !finished {
            break; // the producer failed; its error is reported below
        }
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                let now_us = epoch.elapsed().as_micros() as u64;
                let Some(stamp) = m.payload().and_then(|p| p.get(..STAMP)) else {
                    continue;
                };
                let sent_us = u64::from_be_bytes(stamp.try_into().expect("8 bytes"));
                received += 1;
                bytes += m.payload_len() as u64;
                if sent_us >= warmup_us {
                    latencies.saturating_record(now_us.saturating_sub(sent_us).max(1));
                }
                if received % 256 == 0 {
                    bar.set_position(received);
                }
            }
            Some(Err(_)) => errors += 1,
            None => {}
        }
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
    let elapsed = epoch.elapsed();
    bar.finish_and_clear();
    let lost = deliveries
        .delivered
        .load(Ordering::Relaxed)
        .saturating_sub(received);
    let mut report = Report {
        mode: "e2e",
        bootstrap: o.run.common.bootstrap.clone(),
        settings: serde_json::json!({
            "topic": o.run.topic.topic, "partitions": o.run.topic.partitions,
            "record_size": record_size, "rate": o.rate, "duration_secs": o.duration_secs,
            "warmup_secs": o.warmup_secs, "acks": o.run.producer.acks,
            "compression": o.run.producer.compression, "linger_ms": o.run.producer.linger_ms,
            "not_received": lost,
            "producer_config": show_properties(&o.run.producer.producer_config),
            "consumer_config": show_properties(&o.consumer_config),
        }),
        errors: errors + deliveries.failed.load(Ordering::Relaxed) + lost,
        latency_ms: Some(Latency::from_micros(&latencies)),
        broker: meter.map(|m| m.finish(bytes)),
        ..Default::default()
    };
    report.throughput(received, bytes, elapsed);
    Ok(report)
}

/// A consumer assigned every partition of the topic at its current end offset, so it sees
/// exactly the records this run sends.
fn assigned_at_end(o: &E2eOptions) -> anyhow::Result<BaseConsumer> {
    let mut config = base_config(&o.run.common.bootstrap);
    config
        .set("group.id", "troupe-bench-e2e")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100");
    for (key, value) in &o.consumer_config {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().context("creating the consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&o.run.topic.topic), Duration::from_secs(10))
        .context("Metadata")?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(&o.run.topic.topic, p.id(), Duration::from_secs(10))
                .context("ListOffsets")?;
            assignment.add_partition_offset(&o.run.topic.topic, p.id(), Offset::Offset(high))?;
        }
    }
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;
    Ok(consumer)
}
