//! Log compaction against the real binary with rdkafka: a compacted topic of 1,000,000 records
//! over 1,000 keys is cleaned down to the latest record per key while a consumer keeps reading
//! it; tombstones stay readable for `delete.retention.ms` and then go; keyless records are
//! refused; `__consumer_offsets` is compacted and still replays after kill -9.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::read_back::read_to_end;
use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// A broker whose cleaner and housekeeping run often, so tests need not wait long.
fn eager_cleaner_broker(extra: &[&str]) -> Broker {
    let mut args = vec![
        "--override",
        "log.cleaner.backoff.ms=200",
        "--override",
        "log.retention.check.interval.ms=200",
        "--override",
        "group.initial.rebalance.delay.ms=0",
    ];
    args.extend_from_slice(extra);
    Broker::start_with(&args)
}

fn producer(b: &Broker) -> ThreadedProducer<DefaultProducerContext> {
    client_config(b)
        .set("linger.ms", "20")
        .set("batch.num.messages", "5000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "2000000")
        .create()
        .unwrap()
}

/// Sends one record, waiting while the local queue is full.
fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, key: &str, value: Option<&str>) {
    let mut record = BaseRecord::<str, str>::to(topic).partition(0).key(key);
    if let Some(v) = value {
        record = record.payload(v);
    }
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
    }
}

/// What one read of partition 0, from its start to the high watermark as of the start, saw.
struct Pass {
    /// Key → its last value in the pass (None: a tombstone).
    latest: HashMap<String, Option<String>>,
    offsets: Vec<i64>,
}

fn read_pass(bootstrap: &str, topic: &str) -> Pass {
    let mut pass = Pass {
        latest: HashMap::new(),
        offsets: Vec::new(),
    };
    let each = |m: &BorrowedMessage<'_>| {
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        let value = m.payload().map(|v| String::from_utf8_lossy(v).into_owned());
        pass.latest.insert(key, value);
        pass.offsets.push(m.offset());
    };
    read_to_end(
        bootstrap,
        "compaction-reader",
        topic,
        0,
        Duration::from_secs(120),
        each,
    );
    pass
}

/// Reads until `done(pass)` or the deadline; returns the last pass.
fn read_until(b: &Broker, topic: &str, secs: u64, done: impl Fn(&Pass) -> bool) -> Pass {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let pass = read_pass(&b.bootstrap(), topic);
        if done(&pass) {
            return pass;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} still holds {} records, last {:?}",
            pass.offsets.len(),
            pass.latest
        );
        thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn million_records_over_thousand_keys_compact_to_the_latest_per_key() {
    const RECORDS: usize = 1_000_000;
    const KEYS: usize = 1_000;
    let b = eager_cleaner_broker(&[]);
    create_topic(
        &b,
        "prices",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1048576"),
            ("segment.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.1"),
        ],
    );
    let p = producer(&b);
    for i in 0..RECORDS {
        send(
            &p,
            "prices",
            &format!("key-{}", i % KEYS),
            Some(&format!("value-{i}")),
        );
    }
    p.flush(Duration::from_secs(60)).unwrap();
    let expected: HashMap<String, Option<String>> = (RECORDS - KEYS..RECORDS)
        .map(|i| (format!("key-{}", i % KEYS), Some(format!("value-{i}"))))
        .collect();

    // A reader keeps reading the log from the start while the cleaner rewrites it: every
    // complete pass ends with each key's latest value, and offsets only ever increase.
    let stop = Arc::new(AtomicBool::new(false));
    let concurrent = {
        let (stop, bootstrap, expected) = (stop.clone(), b.bootstrap(), expected.clone());
        thread::spawn(move || {
            let mut passes = 0;
            while !stop.load(Ordering::Relaxed) {
                let pass = read_pass(&bootstrap, "prices");
                assert!(
                    pass.offsets.windows(2).all(|w| w[0] < w[1]),
                    "offsets went backwards"
                );
                assert_eq!(pass.latest, expected, "a pass lost a key's latest value");
                passes += 1;
            }
            passes
        })
    };

    let cleaned = read_until(&b, "prices", 180, |pass| pass.offsets.len() == KEYS);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(cleaned.latest, expected);
    assert_eq!(
        *cleaned.offsets.last().unwrap(),
        RECORDS as i64 - 1,
        "records keep their offsets"
    );
    let passes = concurrent
        .join()
        .expect("the concurrent reader saw a bad pass");
    assert!(passes >= 1, "the concurrent reader completed no pass");
}

#[test]
fn tombstones_stay_for_delete_retention_ms_then_go() {
    let b = eager_cleaner_broker(&[]);
    create_topic(
        &b,
        "accounts",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "300"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "4000"),
        ],
    );
    let p = producer(&b);
    for (k, v) in [("alice", "1"), ("bob", "2"), ("carol", "3"), ("alice", "4")] {
        send(&p, "accounts", k, Some(v));
    }
    send(&p, "accounts", "bob", None);
    p.flush(Duration::from_secs(10)).unwrap();
    let tombstoned_at = Instant::now();

    // Compacted, with bob's tombstone still there for consumers to see.
    let pass = read_until(&b, "accounts", 30, |pass| pass.offsets.len() == 3);
    assert!(
        tombstoned_at.elapsed() < Duration::from_secs(4),
        "cleaning took longer than delete.retention.ms; the test proves nothing"
    );
    let expected: HashMap<String, Option<String>> = [
        ("alice".to_string(), Some("4".to_string())),
        ("bob".to_string(), None),
        ("carol".to_string(), Some("3".to_string())),
    ]
    .into();
    assert_eq!(pass.latest, expected);

    // After delete.retention.ms, the next cleaning (new writes make the log dirty) drops it.
    thread::sleep(Duration::from_millis(4500).saturating_sub(tombstoned_at.elapsed()));
    send(&p, "accounts", "dave", Some("5"));
    p.flush(Duration::from_secs(10)).unwrap();
    let pass = read_until(&b, "accounts", 30, |pass| !pass.latest.contains_key("bob"));
    assert_eq!(pass.latest.get("alice"), Some(&Some("4".to_string())));
    assert_eq!(pass.latest.get("carol"), Some(&Some("3".to_string())));
}

#[test]
fn compacted_topic_refuses_records_without_a_key() {
    let b = Broker::start();
    create_topic(&b, "keyed", 1, &[("cleanup.policy", "compact")]);
    let p: rdkafka::producer::FutureProducer = client_config(&b).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keyless = rt.block_on(p.send(
        rdkafka::producer::FutureRecord::<(), str>::to("keyed").payload("no key"),
        Duration::from_secs(10),
    ));
    match keyless {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert_eq!(code, RDKafkaErrorCode::InvalidRecord)
        }
        other => panic!("a keyless record was not refused: {other:?}"),
    }
    let keyed = rt.block_on(
        p.send(
            rdkafka::producer::FutureRecord::to("keyed")
                .key("k")
                .payload("v"),
            Duration::from_secs(10),
        ),
    );
    assert_eq!(
        keyed.unwrap().offset,
        0,
        "nothing of the refused batch was written"
    );
}

#[test]
fn consumer_offsets_are_compacted_and_still_replay() {
    let mut b = eager_cleaner_broker(&[
        "--override",
        "offsets.topic.num.partitions=1",
        "--override",
        "offsets.topic.segment.bytes=16384",
    ]);
    create_topic(&b, "work", 1, &[]);
    let c: BaseConsumer = client_config(&b)
        .set("group.id", "committer")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    const COMMITS: i64 = 2_000;
    for offset in 1..=COMMITS {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("work", 0, Offset::Offset(offset))
            .unwrap();
        c.commit(&tpl, CommitMode::Sync).unwrap();
    }
    // Two thousand commits of one partition compact to a handful of records.
    read_until(&b, "__consumer_offsets", 60, |pass| {
        pass.offsets.len() < 100
    });
    drop(c);

    b.restart(); // kill -9: the replay reads the compacted log
    let c: BaseConsumer = client_config(&b)
        .set("group.id", "committer")
        .create()
        .unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("work", 0);
    let committed = c
        .committed_offsets(wanted, Duration::from_secs(10))
        .unwrap();
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(COMMITS));
}
