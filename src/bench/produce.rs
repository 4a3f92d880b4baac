//! `troupe bench produce`: as many records as the broker takes, from one or more producers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::client::{ensure_topic, payload, producer_config, progress};
use super::options::{show_properties, ProduceOptions};
use super::process::resolve_pid;
use super::report::{BrokerMeter, ClientMeter, Report};

/// Delivery outcomes, shared by every producer of a run.
#[derive(Default)]
pub struct Deliveries {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

/// Counts each delivery report.
pub struct CountingContext(pub Arc<Deliveries>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Sends `record` on `producer`, waiting for queue space while librdkafka's buffer is full.
pub fn send_blocking(
    producer: &ThreadedProducer<CountingContext>,
    mut record: BaseRecord<'_, (), [u8]>,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                thread::sleep(Duration::from_micros(200));
            }
            Err((e, _)) => return Err(e).context("producing"),
        }
    }
}

pub fn run(o: &ProduceOptions) -> anyhow::Result<Report> {
    ensure_topic(&o.run.common.bootstrap, &o.run.topic)?;
    let (record_limit, time_limit) = o.amount.limits();
    let producers = o.run.producer.producers.max(1);
    let deliveries = Arc::new(Deliveries::default());
    let value = Arc::new(payload(o.run.producer.record_size));
    let bar = progress(record_limit, o.run.common.json, "produce");
    let pid = resolve_pid(o.run.common.broker_pid, &o.run.common.bootstrap);
    let meter = BrokerMeter::start(pid);
    let client_meter = ClientMeter::start();
    let started = Instant::now();
    let mut threads = Vec::new();
    for i in 0..producers {
        let config = producer_config(&o.run.common.bootstrap, &o.run.producer)?;
        let producer: ThreadedProducer<CountingContext> = config
            .create_with_context(CountingContext(deliveries.clone()))
            .context("creating the producer")?;
        let share = record_limit
            .map(|n| n / producers as u64 + u64::from((i as u64) < n % producers as u64));
        let (topic, value, bar) = (o.run.topic.topic.clone(), value.clone(), bar.clone());
        threads.push(thread::spawn(move || -> anyhow::Result<()> {
            let mut sent = 0u64;
            while share.is_none_or(|n| sent < n) && time_limit.is_none_or(|t| started.elapsed() < t)
            {
                send_blocking(&producer, BaseRecord::to(&topic).payload(&value[..]))?;
                sent += 1;
                if sent.is_multiple_of(1024) {
                    bar.inc(1024);
                }
            }
            producer
                .flush(Duration::from_secs(120))
                .context("flushing the producer")?;
            Ok(())
        }));
    }
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a producer thread panicked"))??;
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let delivered = deliveries.delivered.load(Ordering::Relaxed);
    let bytes = delivered * o.run.producer.record_size as u64;
    let mut report = Report {
        mode: "produce",
        bootstrap: o.run.common.bootstrap.clone(),
        settings: serde_json::json!({
            "driver": o.driver.name(),
            "topic": o.run.topic.topic, "partitions": o.run.topic.partitions,
            "record_size": o.run.producer.record_size, "acks": o.run.producer.acks,
            "compression": o.run.producer.compression, "linger_ms": o.run.producer.linger_ms,
            "batch_size": o.run.producer.batch_size, "producers": producers,
            "idempotent": o.run.producer.idempotent,
            "producer_config": show_properties(&o.run.producer.producer_config),
        }),
        errors: deliveries.failed.load(Ordering::Relaxed),
        broker: meter.map(|m| m.finish(bytes)),
        client: client_meter.finish(bytes),
        ..Default::default()
    };
    report.throughput(delivered, bytes, elapsed);
    Ok(report)
}
