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

/// The value of the first sample line starting with `prefix` in a Prometheus scrape.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn scrape(b: &Broker) -> String {
    reqwest::blocking::get(b.http_url("/metrics"))
        .unwrap()
        .text()
        .unwrap()
}

fn get_json(b: &Broker, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::blocking::get(b.http_url(path)).unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

/// docs/metrics.md's table rows: (name, present always).
fn documented_metrics() -> Vec<(String, bool)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix("`troupe_")?.strip_suffix('`')?;
            Some((format!("troupe_{name}"), cells.get(4)? == &"always"))
        })
        .collect()
}

#[test]
fn gauges_lag_purgatory_health_and_admin_api_show_real_values() {
    let b = Broker::start_with(&[
        "--override",
        "offsets.topic.num.partitions=1",
        "--override",
        "transaction.state.log.num.partitions=1",
        "--override",
        "log.flush.interval.messages=1",
    ]);
    create_topic(&b, "lagged", 2, &[]);
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b).create().unwrap();
    for i in 0..30 {
        producer
            .send(
                BaseRecord::<(), _>::to("lagged")
                    .partition(i % 2)
                    .payload("v"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    // A group that committed offsets 10 and 5 of partitions holding 15 records each.
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let committer: BaseConsumer = client_config(&b)
        .set("group.id", "lag-group")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("lagged", 0, Offset::Offset(10))
        .unwrap();
    offsets
        .add_partition_offset("lagged", 1, Offset::Offset(5))
        .unwrap();
    committer.commit(&offsets, CommitMode::Sync).unwrap();

    // A consumer parked on an empty topic: its fetch waits in the purgatory.
    create_topic(&b, "quiet", 1, &[]);
    let parked = std::thread::spawn({
        let config = client_config(&b)
            .set("group.id", "quiet-group")
            .set("fetch.wait.max.ms", "4000")
            .clone();
        move || {
            let c: BaseConsumer = config.create().unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("quiet", 0, Offset::Beginning)
                .unwrap();
            c.assign(&tpl).unwrap();
            let until = std::time::Instant::now() + Duration::from_secs(6);
            while std::time::Instant::now() < until {
                c.poll(Duration::from_millis(100));
            }
        }
    });

    // The groups view refreshes every second; the parked fetch needs a moment to arrive.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = scrape(&b);
        let lag_seen = sample(&text, "troupe_consumer_group_lag_sum{group=\"lag-group\"}");
        let parked_seen = sample(&text, "troupe_purgatory_size{operation=\"fetch\"}");
        if lag_seen.is_some() && parked_seen.unwrap_or(0.0) >= 1.0 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no lag or parked fetch:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let v = |prefix: &str| sample(&text, prefix).unwrap_or_else(|| panic!("no {prefix}:\n{text}"));
    assert_eq!(
        v("troupe_consumer_group_lag{group=\"lag-group\",topic=\"lagged\",partition=\"0\"}"),
        5.0
    );
    assert_eq!(
        v("troupe_consumer_group_lag{group=\"lag-group\",topic=\"lagged\",partition=\"1\"}"),
        10.0
    );
    assert_eq!(
        v("troupe_consumer_group_lag_sum{group=\"lag-group\"}"),
        15.0
    );
    assert_eq!(
        v("troupe_consumer_group_lag_max{group=\"lag-group\"}"),
        10.0
    );
    // lagged (2) + quiet (1) + __consumer_offsets (1) + __transaction_state (1), all led here.
    assert_eq!(v("troupe_partition_count "), 5.0);
    assert_eq!(v("troupe_leader_count "), 5.0);
    assert_eq!(v("troupe_under_replicated_partitions "), 0.0);
    assert_eq!(v("troupe_offline_partitions "), 0.0);
    assert_eq!(v("troupe_active_controller_count "), 1.0);
    assert!(v("troupe_purgatory_size{operation=\"fetch\"}") >= 1.0);
    // flush.messages=1: every append (a batch of records) is flushed; both partitions had one.
    assert!(v("troupe_log_flush_seconds_count") >= 2.0);
    assert!(v("troupe_request_latency_seconds_bucket{api=\"Produce\",le=\"+Inf\"}") >= 1.0);
    assert!(v("troupe_actor_mailbox_depth{actor=\"partition\"}") >= 0.0);

    // docs/metrics.md and the scrape agree: everything exported is documented, everything
    // documented as always present is exported.
    let documented = documented_metrics();
    assert!(documented.len() > 20, "the doc's tables parse");
    let exported: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| l.starts_with("troupe_"))
        .map(|l| {
            let name = l.split(['{', ' ']).next().unwrap();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| documented.iter().any(|(d, _)| d == base))
                .unwrap_or(name)
                .to_string()
        })
        .collect();
    for name in &exported {
        assert!(
            documented.iter().any(|(d, _)| d == name),
            "{name} is exported but not in docs/metrics.md"
        );
    }
    for (name, always) in &documented {
        if *always {
            assert!(
                exported.contains(name),
                "{name} is documented as always present:\n{text}"
            );
        }
    }

    // Health per subsystem.
    let (code, health) = get_json(&b, "/readyz");
    assert_eq!(code, 200);
    let subsystems = &health["subsystems"];
    assert_eq!(subsystems["storage"]["ready"], true);
    assert_eq!(subsystems["storage"]["partitions_hosted"], 5);
    assert_eq!(subsystems["controller_quorum"]["mode"], "single");
    assert_eq!(subsystems["controller_quorum"]["active_controller_id"], 1);
    assert_eq!(subsystems["coordinators"]["ready"], true);
    assert_eq!(subsystems["coordinators"]["partitions_active"], 2);
    assert_eq!(subsystems["supervisors"]["total_restarts"], 0);
    // `--listen` is one PLAINTEXT listener; tests/listener_health.rs covers the others.
    let listeners = health["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{listeners:?}");
    assert_eq!(listeners[0]["security_protocol"], "PLAINTEXT");
    assert_eq!(listeners[0]["serving"], true);
    assert_eq!(
        listeners[0]["bound_address"],
        format!("127.0.0.1:{}", b.kafka_port).as_str()
    );

    // The HTTP admin API.
    let (_, cluster) = get_json(&b, "/v1/cluster");
    assert_eq!(cluster["controller_id"], 1);
    assert_eq!(cluster["brokers"].as_array().unwrap().len(), 1);
    assert_eq!(cluster["brokers"][0]["port"], b.kafka_port);
    assert_eq!(cluster["under_replicated_partitions"], 0);
    let (_, topics) = get_json(&b, "/v1/topics");
    let names: Vec<&str> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"lagged") && names.contains(&"__consumer_offsets"));
    let (_, lagged) = get_json(&b, "/v1/topics/lagged");
    assert_eq!(lagged["partitions"][1]["hosted_here"]["log_end_offset"], 15);
    assert_eq!(lagged["partitions"][1]["isr"], serde_json::json!([1]));
    let (code, missing) = get_json(&b, "/v1/topics/no-such-topic");
    assert_eq!(code, 404);
    assert!(missing["error"].as_str().unwrap().contains("no-such-topic"));
    let (_, group) = get_json(&b, "/v1/groups/lag-group");
    let lags: Vec<i64> = group["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["lag"].as_i64().unwrap())
        .collect();
    assert_eq!(lags, [5, 10]);
    let (code, _) = get_json(&b, "/v1/groups/nobody");
    assert_eq!(code, 404);
    parked.join().unwrap();
}
