//! rdkafka (librdkafka) against the real binary: every codec and acks level round-trips,
//! LogAppendTime stamps batches, size limits refuse, and topics, configs and records survive
//! a restart.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

fn produce(b: &Broker, topic: &str, n: usize, extra: &[(&str, &str)]) {
    let mut cfg = client_config(b);
    cfg.set("linger.ms", "5");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = cfg.create().unwrap();
    for i in 0..n {
        let key = format!("k{}", i % 17);
        let value = format!("value-{i}-").repeat(1 + i % 5);
        let headers = OwnedHeaders::new().insert(Header {
            key: "seq",
            value: Some(i.to_string().as_bytes()),
        });
        producer
            .send(
                BaseRecord::to(topic)
                    .key(&key)
                    .payload(&value)
                    .headers(headers),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Reads every partition from the beginning until `n` records arrived.
fn consume(
    b: &Broker,
    topic: &str,
    partitions: i32,
    n: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = client_config(b)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.unwrap().detach());
        }
    }
    out
}

fn check_records(got: &[rdkafka::message::OwnedMessage], n: usize) {
    assert_eq!(got.len(), n, "record count");
    let mut seen = vec![false; n];
    for m in got {
        let h = m.headers().unwrap();
        let seq: usize = std::str::from_utf8(h.get(0).value.unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(!seen[seq], "record {seq} twice");
        seen[seq] = true;
        assert_eq!(m.key().unwrap(), format!("k{}", seq % 17).as_bytes());
        assert_eq!(
            m.payload().unwrap(),
            format!("value-{seq}-").repeat(1 + seq % 5).as_bytes()
        );
    }
}

/// zstd is not in rdkafka's default build (the brief keeps default features); it is covered
/// by confluent-kafka in the conformance kit and tests/clients.
#[test]
fn every_codec_and_acks_level_round_trips() {
    let b = Broker::start();
    for (i, codec) in ["none", "gzip", "snappy", "lz4"].iter().enumerate() {
        let acks = ["0", "1", "all"][i % 3];
        let topic = format!("codec-{codec}");
        create_topic(&b, &topic, 3, &[]);
        produce(
            &b,
            &topic,
            2000,
            &[("compression.codec", codec), ("acks", acks)],
        );
        let got = consume(&b, &topic, 3, 2000);
        check_records(&got, 2000);
        // Offsets are dense from 0 within each partition.
        for p in 0..3 {
            let offs: Vec<i64> = got
                .iter()
                .filter(|m| m.partition() == p)
                .map(|m| m.offset())
                .collect();
            assert_eq!(
                offs,
                (0..offs.len() as i64).collect::<Vec<_>>(),
                "{codec} partition {p}"
            );
        }
    }
}

#[test]
fn log_append_time_topic_stamps_broker_time() {
    let b = Broker::start();
    create_topic(&b, "lat", 1, &[("message.timestamp.type", "LogAppendTime")]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b).create().unwrap();
    producer
        .send(BaseRecord::<(), _>::to("lat").payload("x").timestamp(1_000))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let got = consume(&b, "lat", 1, 1);
    let ts = got[0].timestamp();
    assert!(
        matches!(ts, rdkafka::Timestamp::LogAppendTime(t) if t >= before),
        "{ts:?}"
    );
}

#[test]
fn oversized_batch_is_refused_and_nothing_is_appended() {
    let b = Broker::start();
    create_topic(&b, "small", 1, &[("max.message.bytes", "2000")]);
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b)
        .set("compression.codec", "none")
        .create()
        .unwrap();
    let big = vec![b'x'; 10_000];
    producer
        .send(BaseRecord::<(), _>::to("small").payload(&big))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let consumer: BaseConsumer = client_config(&b).set("group.id", "wm").create().unwrap();
    let (lo, hi) = consumer
        .fetch_watermarks("small", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!((lo, hi), (0, 0));
}

#[test]
fn topics_configs_and_records_survive_restart() {
    let mut b = Broker::start();
    create_topic(
        &b,
        "durable",
        4,
        &[("retention.ms", "3600000"), ("cleanup.policy", "delete")],
    );
    produce(&b, "durable", 1000, &[("acks", "all")]);
    assert_eq!(b.terminate(), Some(0), "SIGTERM is a clean exit");
    assert!(
        b.log_text().contains("all partitions closed"),
        "graceful shutdown closes every log"
    );
    b.start_again();
    let got = consume(&b, "durable", 4, 1000);
    check_records(&got, 1000);
    // The config override came back with the topic.
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        client_config(&b).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.describe_configs(
            &[rdkafka::admin::ResourceSpecifier::Topic("durable")],
            &rdkafka::admin::AdminOptions::new(),
        ))
        .unwrap();
    let cfg = res.into_iter().next().unwrap().unwrap();
    let retention = cfg.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    let md = admin
        .inner()
        .fetch_metadata(Some("durable"), Duration::from_secs(10))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 4);
    // A kill -9 restart keeps them too, and offsets continue where they were.
    b.restart();
    produce(&b, "durable", 10, &[("acks", "all")]);
    let consumer: BaseConsumer = client_config(&b).set("group.id", "wm").create().unwrap();
    let total: i64 = (0..4)
        .map(|p| {
            consumer
                .fetch_watermarks("durable", p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum();
    assert_eq!(total, 1010);
}
