//! `troupe bench produce --driver native`: the produce benchmark on Troupe's own Kafka client
//! instead of librdkafka, so it runs over every security protocol a `--command-config` names
//! (TLS through rustls, SASL PLAIN and SCRAM), with no OpenSSL in the binary.
//!
//! Setup (topic, leaders, versions, producer id) goes through the admin CLI's blocking
//! connection (`setup`); the records go through `client::KafkaConnection`s, `--connections`
//! to each partition leader with the topic's partitions spread over them, each a `Sender`
//! with one Produce request in flight. Batches are kafka-protocol's encoding (`batch`). It
//! prints the same report as the librdkafka driver, broker CPU per GB included.

mod batch;
mod sender;
mod setup;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use super::client::{payload, progress};
use super::options::ProduceOptions;
use super::process::resolve_pid;
use super::report::{BrokerMeter, ClientMeter, Report};
use crate::security::ClientSecurity;
use sender::{RunProgress, Sender};

pub fn run(o: &ProduceOptions, security: ClientSecurity) -> anyhow::Result<Report> {
    let p = &o.run.producer;
    let compression = batch::compression(&p.compression)?;
    let acks: i16 = if p.acks == "1" { 1 } else { -1 };
    let target = setup::prepare(
        &o.run.common.bootstrap,
        &security,
        &o.run.topic,
        p.idempotent,
    )?;
    let value = Bytes::from(payload(p.record_size));
    let records_per_batch = batch::records_per_batch(p.batch_size, p.record_size);
    let senders: Vec<Sender> = spread(&target.leaders, o.connections)
        .into_iter()
        .map(|(address, partitions)| Sender {
            address,
            partitions,
            security: security.clone(),
            topic: TopicName(StrBytes::from_string(o.run.topic.topic.clone())),
            produce_version: target.produce_version,
            acks,
            records_per_batch,
            compression,
            producer: target.producer,
            value: value.clone(),
        })
        .collect();
    let connections = senders.len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;

    let (record_limit, time_limit) = o.amount.limits();
    let bar = progress(record_limit, o.run.common.json, "produce");
    let pid = resolve_pid(o.run.common.broker_pid, &o.run.common.bootstrap);
    let meter = BrokerMeter::start(pid);
    let client_meter = ClientMeter::start();
    let started = Instant::now();
    let run_progress = Arc::new(RunProgress::new(record_limit, time_limit));
    runtime.block_on(async {
        let tasks: Vec<_> = senders
            .into_iter()
            .map(|s| tokio::spawn(s.run(run_progress.clone(), bar.clone())))
            .collect();
        for task in tasks {
            task.await??;
        }
        anyhow::Ok(())
    })?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let delivered = run_progress.delivered.load(Ordering::Relaxed);
    let bytes = delivered * p.record_size as u64;
    let mut report = Report {
        mode: "produce",
        bootstrap: o.run.common.bootstrap.clone(),
        settings: serde_json::json!({
            "driver": o.driver.name(),
            "security_protocol": security.protocol().name(),
            "topic": o.run.topic.topic, "partitions": target.leaders.len(),
            "record_size": p.record_size, "acks": p.acks,
            "compression": p.compression, "batch_size": p.batch_size,
            "records_per_batch": records_per_batch, "connections": connections,
            "idempotent": p.idempotent, "produce_version": target.produce_version,
        }),
        errors: run_progress.failed.load(Ordering::Relaxed),
        broker: meter.map(|m| m.finish(bytes)),
        client: client_meter.finish(bytes),
        ..Default::default()
    };
    report.throughput(delivered, bytes, elapsed);
    Ok(report)
}

/// Each leader's partitions spread round-robin over `connections` connections to it:
/// (leader address, its partitions) per connection that has any.
fn spread(leaders: &BTreeMap<i32, String>, connections: usize) -> Vec<(String, Vec<i32>)> {
    let mut by_leader: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (partition, address) in leaders {
        by_leader.entry(address).or_default().push(*partition);
    }
    let mut out = Vec::new();
    for (address, partitions) in by_leader {
        let n = connections.max(1).min(partitions.len());
        let mut groups = vec![Vec::new(); n];
        for (i, partition) in partitions.into_iter().enumerate() {
            groups[i % n].push(partition);
        }
        out.extend(groups.into_iter().map(|g| (address.to_string(), g)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_over_connections_to_their_leader() {
        let leaders: BTreeMap<i32, String> = [(0, "a:1"), (1, "b:1"), (2, "a:1"), (3, "a:1")]
            .into_iter()
            .map(|(p, a)| (p, a.to_string()))
            .collect();
        assert_eq!(
            spread(&leaders, 2),
            [
                ("a:1".to_string(), vec![0, 3]),
                ("a:1".to_string(), vec![2]),
                ("b:1".to_string(), vec![1]),
            ]
        );
        // No connection without a partition; every partition on exactly one connection.
        let all = spread(&leaders, 8);
        assert_eq!(all.len(), 4);
        let mut partitions: Vec<i32> = all.into_iter().flat_map(|(_, p)| p).collect();
        partitions.sort();
        assert_eq!(partitions, [0, 1, 2, 3]);
    }
}
