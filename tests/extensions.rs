//! User actors (`troupe::extension`) in real broker processes: the two examples users copy
//! (`examples/audit.rs`, `examples/dead_letter_router.rs`) and an event log that also
//! panics on purpose (`examples/event_log.rs`), driven by a stock client (librdkafka).

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Every record of `topic`'s partition 0 once it holds `count` (within a deadline).
fn read_exactly(b: &Broker, topic: &str, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = client_config(b)
        .set("group.id", "extension-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    // The topic may not exist yet: the extension creates it on its first event.
    while consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map(|m| m.topics().first().is_none_or(|t| t.partitions().is_empty()))
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "{topic} never appeared:\n{}",
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    while got.len() < count && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push(m.detach());
        }
    }
    // Nothing more than expected arrives.
    let settle = Instant::now() + Duration::from_millis(700);
    while Instant::now() < settle {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push(m.detach());
        }
    }
    assert_eq!(got.len(), count, "{topic}: {got:?}\n{}", b.log_text());
    got
}

fn delete_topic(b: &Broker, name: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(b).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for r in rt
        .block_on(admin.delete_topics(&[name], &AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}

fn json_value(m: &rdkafka::message::OwnedMessage) -> serde_json::Value {
    serde_json::from_slice(m.payload().unwrap()).unwrap()
}

#[test]
fn audit_actor_records_each_topic_creation_and_deletion() {
    let b = Broker::start_example("audit", &[], &[("TROUPE_AUDIT_TOPIC", "audit-log")]);
    create_topic(&b, "orders", 3, &[]);
    create_topic(&b, "payments", 1, &[]);
    delete_topic(&b, "orders");
    let records = read_exactly(&b, "audit-log", 3);
    let seen: Vec<(String, String, Option<u64>)> = records
        .iter()
        .map(|m| {
            let v = json_value(m);
            assert_eq!(m.key(), Some(v["topic"].as_str().unwrap().as_bytes()));
            assert_eq!(v["node"], 1);
            assert!(v["at_ms"].as_u64().unwrap() > 1_700_000_000_000);
            (
                v["event"].as_str().unwrap().to_string(),
                v["topic"].as_str().unwrap().to_string(),
                v["partitions"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("topic_created".into(), "orders".into(), Some(3)),
            ("topic_created".into(), "payments".into(), Some(1)),
            ("topic_deleted".into(), "orders".into(), None),
        ]
    );
}

#[test]
fn router_copies_records_with_the_header_to_the_dead_letter_topic() {
    let b = Broker::start_example(
        "dead_letter_router",
        &[],
        &[
            ("TROUPE_DLT_TOPICS", "orders"),
            ("TROUPE_DLT_HEADER", "x-dead-letter"),
        ],
    );
    create_topic(&b, "orders", 1, &[]);
    create_topic(&b, "other", 1, &[]);
    for compression in ["none", "lz4"] {
        let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b)
            .set("compression.type", compression)
            .set("linger.ms", "50")
            .create()
            .unwrap();
        for i in 0..10 {
            let key = format!("{compression}-{i}");
            let mut record = BaseRecord::<_, _>::to("orders")
                .key(&key)
                .payload("order body");
            if i % 3 == 0 {
                record = record.headers(
                    OwnedHeaders::new()
                        .insert(rdkafka::message::Header {
                            key: "x-dead-letter",
                            value: Some("bad total"),
                        })
                        .insert(rdkafka::message::Header {
                            key: "trace",
                            value: Some("t-1"),
                        }),
                );
            }
            producer.send(record).map_err(|(e, _)| e).unwrap();
            // A record with the header on a topic the router does not watch stays put.
            producer
                .send(BaseRecord::<(), _>::to("other").payload("x").headers(
                    OwnedHeaders::new().insert(rdkafka::message::Header {
                        key: "x-dead-letter",
                        value: Some("y"),
                    }),
                ))
                .map_err(|(e, _)| e)
                .unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
    }
    // Keys 0, 3, 6, 9 of each of the two rounds.
    let routed = read_exactly(&b, "orders.DLT", 8);
    let mut keys = Vec::new();
    for m in &routed {
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        assert_eq!(m.payload(), Some(&b"order body"[..]));
        let headers = m.headers().unwrap();
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        assert_eq!(header("x-dead-letter").as_deref(), Some("bad total"));
        assert_eq!(header("trace").as_deref(), Some("t-1"));
        assert_eq!(header("dlt.origin.topic").as_deref(), Some("orders"));
        assert_eq!(header("dlt.origin.partition").as_deref(), Some("0"));
        // The origin offset points at the very record in the source topic.
        let offset: i64 = header("dlt.origin.offset").unwrap().parse().unwrap();
        let round = if key.starts_with("none") { 0 } else { 10 };
        let i: i64 = key.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(offset, round + i, "{key}");
        keys.push(key);
    }
    assert_eq!(
        keys,
        ["none-0", "none-3", "none-6", "none-9", "lz4-0", "lz4-3", "lz4-6", "lz4-9"]
    );
    let consumer: BaseConsumer = client_config(&b).create().unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    assert!(
        !metadata.topics().iter().any(|t| t.name() == "other.DLT"),
        "only watched topics are routed"
    );
}

/// Every JSON line of the event log whose "event" is `kind`.
fn events_of(lines: &[rdkafka::message::OwnedMessage], kind: &str) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(json_value)
        .filter(|v| v["event"] == kind)
        .collect()
}

/// Every record of `topic`'s partition 0, once it holds at least `count`.
fn read_at_least(b: &Broker, topic: &str, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = client_config(b)
        .set("group.id", "extension-tests-log")
        .set("topic.metadata.refresh.interval.ms", "200")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    let mut quiet_since = Instant::now();
    loop {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push(m.detach());
            quiet_since = Instant::now();
        }
        if got.len() >= count && quiet_since.elapsed() > Duration::from_millis(700) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count}:\n{}",
            got.len(),
            b.log_text()
        );
    }
}

#[test]
fn an_extension_receives_appends_rebalances_leader_and_topic_events() {
    let b = Broker::start_example(
        "event_log",
        &["--override", "group.initial.rebalance.delay.ms=0"],
        &[],
    );
    create_topic(&b, "watched", 2, &[]);
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b).create().unwrap();
    for _ in 0..3 {
        producer
            .send(BaseRecord::<(), _>::to("watched").partition(1).payload("x"))
            .map_err(|(e, _)| e)
            .unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
    }
    let member: BaseConsumer = client_config(&b)
        .set("group.id", "watchers")
        .create()
        .unwrap();
    member.subscribe(&["watched"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while member.assignment().map(|a| a.count()).unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "never assigned");
        member.poll(Duration::from_millis(100));
    }
    // created + 2 leaders + 3 appends + 1 rebalance at least.
    let log = read_at_least(&b, "__troupe_events", 7);
    let created = events_of(&log, "topic_created");
    assert_eq!(created[0]["topic"], "watched");
    assert_eq!(created[0]["partitions"], 2);
    let leaders = events_of(&log, "leader_changed");
    let watched_leaders: Vec<_> = leaders.iter().filter(|l| l["topic"] == "watched").collect();
    assert_eq!(watched_leaders.len(), 2, "{leaders:?}");
    assert!(watched_leaders
        .iter()
        .all(|l| l["leader"] == 1 && l["leader_epoch"] == 0));
    let appends: Vec<_> = events_of(&log, "batch_appended")
        .into_iter()
        .filter(|a| a["topic"] == "watched")
        .collect();
    assert_eq!(appends.len(), 3, "{appends:?}");
    let offsets: Vec<i64> = appends
        .iter()
        .map(|a| a["base_offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2]);
    assert!(appends
        .iter()
        .all(|a| a["partition"] == 1 && a["records"] == 1));
    let rebalances = events_of(&log, "group_rebalanced");
    assert_eq!(rebalances.len(), 1, "{rebalances:?}");
    assert_eq!(rebalances[0]["group"], "watchers");
    assert_eq!(rebalances[0]["generation"], 1);
    assert_eq!(rebalances[0]["members"], 1);
    assert_eq!(rebalances[0]["protocol"], "range");
    assert!(
        !log.iter()
            .any(|m| json_value(m)["topic"] == "__troupe_events"
                && json_value(m)["event"] == "batch_appended"),
        "its own appends are not logged"
    );
}

#[test]
fn a_panicking_actor_is_restarted_and_the_broker_keeps_serving() {
    let b = Broker::start_example("event_log", &[], &[]);
    let restarts = |b: &Broker| {
        healthz(b)["restarts"]["extension:event-log"]
            .as_u64()
            .unwrap_or(0)
    };
    create_topic(&b, "panic-now-1", 1, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while restarts(&b) < 1 {
        assert!(
            Instant::now() < deadline,
            "no restart counted: {}",
            healthz(&b)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    create_topic(&b, "panic-later-1", 1, &[]);
    while restarts(&b) < 2 {
        assert!(
            Instant::now() < deadline,
            "no second restart: {}",
            healthz(&b)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Restarted, it handles the next event; the broker serves clients throughout.
    create_topic(&b, "normal", 1, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = read_at_least(&b, "__troupe_events", 1);
        let created = events_of(&log, "topic_created");
        if created.iter().any(|c| c["topic"] == "normal") {
            assert!(
                !created
                    .iter()
                    .any(|c| c["topic"].as_str().unwrap().starts_with("panic-")),
                "the events it panicked on were not logged: {created:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted actor never logged 'normal'"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b).create().unwrap();
    producer
        .send(BaseRecord::<(), _>::to("normal").payload("still serving"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let got = read_exactly(&b, "normal", 1);
    assert_eq!(got[0].payload(), Some(&b"still serving"[..]));
    assert_eq!(restarts(&b), 2);
    assert!(b.log_text().contains("extension panicked; restarting it"));
}
