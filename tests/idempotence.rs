//! Idempotent produce against the real binary: responses lost on the way back (a test hook
//! closes the connection after the append) make librdkafka retry batches the log already
//! holds. With idempotence the broker answers the retries with the original offsets and every
//! record is stored once; without it, the same faults store duplicates — which is what shows
//! the faults happened.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::read_back::read_to_end;
use common::*;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const RECORDS: usize = 2_000;

fn lose_produce_responses(b: &Broker, count: usize) {
    let client = reqwest::blocking::Client::new();
    client
        .post(b.http_url(&format!("/test-hooks/drop-produce-responses/{count}")))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
}

fn drops_left(b: &Broker) -> usize {
    reqwest::blocking::get(b.http_url("/test-hooks/drop-produce-responses"))
        .unwrap()
        .text()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Produces RECORDS values "0".."1999" to partition 0 while `lost` responses go missing.
fn produce_through_lost_responses(b: &Broker, topic: &str, idempotent: bool, lost: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = client_config(b)
        .set(
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        )
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "100")
        .set("retry.backoff.ms", "50")
        .create()
        .unwrap();
    // One request first so the producer is connected (and has its id) before faults start.
    producer
        .send(BaseRecord::<(), str>::to(topic).partition(0).payload("0"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    lose_produce_responses(b, lost);
    for i in 1..RECORDS {
        let value = i.to_string();
        producer
            .send(
                BaseRecord::<(), str>::to(topic)
                    .partition(0)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(drops_left(b), 0, "every armed fault happened");
}

/// How many times each value is stored in partition 0.
fn stored_values(b: &Broker, topic: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let each = |m: &BorrowedMessage<'_>| {
        let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
        *counts.entry(value).or_insert(0) += 1;
    };
    read_to_end(
        &b.bootstrap(),
        "idempotence-reader",
        topic,
        0,
        Duration::from_secs(60),
        each,
    );
    counts
}

#[test]
fn idempotent_producer_stores_each_record_once_despite_lost_responses() {
    let b = Broker::start();
    create_topic(&b, "payments", 1, &[]);
    produce_through_lost_responses(&b, "payments", true, 3);
    let stored = stored_values(&b, "payments");
    assert_eq!(stored.len(), RECORDS, "every record is there");
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicates: {duplicated:?}");
}

#[test]
fn without_idempotence_the_same_faults_store_duplicates() {
    let b = Broker::start();
    create_topic(&b, "payments", 1, &[]);
    produce_through_lost_responses(&b, "payments", false, 3);
    let stored = stored_values(&b, "payments");
    assert_eq!(stored.len(), RECORDS, "every record is there");
    assert!(
        stored.values().any(|n| *n > 1),
        "retries of lost responses should have stored some records twice"
    );
}
