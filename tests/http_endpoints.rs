//! The HTTP surface: /healthz and /readyz JSON, and /metrics in Prometheus text with
//! per-API request counters and latency histograms, byte counters and per-partition offsets.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

#[test]
fn health_ready_and_metrics_report_real_values() {
    let b = Broker::start_with(&[
        "--override",
        "offsets.topic.num.partitions=1",
        "--override",
        "transaction.state.log.num.partitions=1",
    ]);
    let ready = reqwest::blocking::get(b.http_url("/readyz")).unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["partitions_recovering"], 0);

    create_topic(&b, "metered", 2, &[]);
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b).create().unwrap();
    for i in 0..25 {
        producer
            .send(
                BaseRecord::<(), _>::to("metered")
                    .partition(i % 2)
                    .payload("0123456789"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let text = reqwest::blocking::get(b.http_url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no metric line starting {prefix}:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("troupe_requests_total{api=\"Produce\"}") >= 1.0);
    assert!(value("troupe_requests_total{api=\"CreateTopics\"}") >= 1.0);
    assert!(
        text.contains("troupe_request_latency_seconds"),
        "latency histogram/summary present"
    );
    assert!(value("troupe_bytes_in_total") > 250.0);
    assert_eq!(
        value("troupe_partitions"),
        4.0,
        "two of the test topic, one of __consumer_offsets and one of __transaction_state"
    );
    let leo0 = value("troupe_partition_log_end_offset{topic=\"metered\",partition=\"0\"}");
    let leo1 = value("troupe_partition_log_end_offset{topic=\"metered\",partition=\"1\"}");
    assert_eq!(leo0 + leo1, 25.0);
}
