//! Consumer groups through rdkafka against the real binary: a group forms and consumes, and its
//! committed offsets survive kill -9 because they are written to `__consumer_offsets` before
//! OffsetCommit is acknowledged and replayed at startup.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

fn member(b: &Broker, group: &str) -> BaseConsumer {
    client_config(b)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap()
}

#[test]
fn committed_offsets_survive_kill_dash_nine() {
    let mut b = Broker::start_with(&["--override", "group.initial.rebalance.delay.ms=0"]);
    create_topic(&b, "orders", 2, &[]);
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(&b).create().unwrap();
    for i in 0..100 {
        producer
            .send(
                BaseRecord::<(), _>::to("orders")
                    .partition(i % 2)
                    .payload("x"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let c = member(&b, "billing");
    c.subscribe(&["orders"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < 100 && Instant::now() < deadline {
        if let Some(Ok(_)) = c.poll(Duration::from_millis(200)) {
            seen += 1;
        }
    }
    assert_eq!(seen, 100, "the group consumed everything");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("orders", 0, Offset::Offset(30))
        .unwrap();
    commit
        .add_partition_offset("orders", 1, Offset::Offset(20))
        .unwrap();
    c.commit(&commit, CommitMode::Sync).unwrap();
    drop(c);

    b.restart(); // kill -9, then start on the same data dir

    let c = member(&b, "billing");
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("orders", 0);
    wanted.add_partition("orders", 1);
    let committed = c
        .committed_offsets(wanted, Duration::from_secs(10))
        .unwrap();
    let offsets: Vec<Offset> = committed.elements().iter().map(|e| e.offset()).collect();
    assert_eq!(offsets, vec![Offset::Offset(30), Offset::Offset(20)]);

    // The group resumes from the committed positions.
    c.subscribe(&["orders"]).unwrap();
    let mut resumed = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while resumed < 100 && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            use rdkafka::message::Message;
            let floor = if m.partition() == 0 { 30 } else { 20 };
            assert!(m.offset() >= floor, "resumed below the committed offset");
            resumed += 1;
            if resumed == 50 {
                break; // 20 + 30 records remain after the commits
            }
        }
    }
    assert_eq!(resumed, 50);
}
