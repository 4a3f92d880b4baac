//! Transactions through librdkafka against the real binary (issue #4): InitProducerId for a
//! transactional id and its survival of kill -9, fencing of a zombie producer (idle, and with
//! a transaction open), commit and abort as read_committed consumers see them, transactional
//! offsets (invisible while open, visible once committed, also after replay), the abort of a
//! transaction past its timeout, and the two crash cases: a transaction open at kill -9 is
//! aborted after the restart once it times out, and a commit whose markers a kill -9
//! interrupted (a test hook holds them back) is completed after the restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(15);

fn transactional_producer(b: &Broker, id: &str) -> ThreadedProducer<DefaultProducerContext> {
    client_config(b)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .set("linger.ms", "0")
        .create()
        .unwrap()
}

fn group_consumer(b: &Broker, group: &str, isolation: &str) -> BaseConsumer {
    client_config(b)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation)
        .create()
        .unwrap()
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, value: &str) {
    p.send(BaseRecord::<(), str>::to(topic).partition(0).payload(value))
        .map_err(|(e, _)| e)
        .unwrap();
}

/// The committed offset of `topic`-0 for the consumer's group, as OffsetFetch answers it.
fn committed(c: &BaseConsumer, topic: &str) -> Offset {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let got = c.committed_offsets(tpl, TIMEOUT).unwrap();
    got.find_partition(topic, 0).unwrap().offset()
}

fn offsets(topic: &str, offset: i64) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .unwrap();
    tpl
}

/// librdkafka reports a fenced producer as the local fatal error `_FENCED` (from
/// PRODUCER_FENCED or INVALID_PRODUCER_EPOCH on the wire).
fn is_fenced(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match e {
        KafkaError::Transaction(rd) => matches!(
            rd.code(),
            Code::Fenced | Code::ProducerFenced | Code::InvalidProducerEpoch
        ),
        _ => false,
    }
}

#[test]
fn init_transactions_survives_kill_dash_nine() {
    let mut b = Broker::start();
    let p = transactional_producer(&b, "tx-init");
    p.init_transactions(TIMEOUT).unwrap();
    drop(p);
    b.restart();
    // The id is known after replay: a new producer gets the next epoch, not a fresh id.
    let p = transactional_producer(&b, "tx-init");
    p.init_transactions(TIMEOUT).unwrap();
    let log = b.log_text();
    assert!(
        log.contains("transaction coordinator loaded"),
        "the shard replayed __transaction_state:\n{log}"
    );
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let b = Broker::start();
    create_topic(&b, "fenced", 1, &[]);
    let zombie = transactional_producer(&b, "tx-zombie");
    zombie.init_transactions(TIMEOUT).unwrap();
    let successor = transactional_producer(&b, "tx-zombie");
    successor.init_transactions(TIMEOUT).unwrap();

    // The zombie's next transaction is refused at AddPartitionsToTxn (PRODUCER_FENCED), so
    // its commit fails with a fatal error.
    zombie.begin_transaction().unwrap();
    send(&zombie, "fenced", "from the zombie");
    let err = zombie
        .commit_transaction(TIMEOUT)
        .expect_err("a fenced producer cannot commit");
    assert!(is_fenced(&err), "fenced, got {err:?}");
}

#[test]
fn transactional_offsets_are_invisible_while_the_transaction_is_open() {
    let b = Broker::start();
    create_topic(&b, "source", 1, &[]);
    let p = transactional_producer(&b, "tx-offsets-open");
    p.init_transactions(TIMEOUT).unwrap();
    let reader = group_consumer(&b, "open-txn-group", "read_uncommitted");
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(
        &offsets("source", 5),
        &reader.group_metadata().unwrap(),
        TIMEOUT,
    )
    .unwrap();
    // Written and acknowledged, but pending: OffsetFetch does not show it.
    assert_eq!(committed(&reader, "source"), Offset::Invalid);
    // A read_committed consumer asks for stable offsets and is told to retry
    // (UNSTABLE_OFFSET_COMMIT) until the transaction ends.
    let stable = group_consumer(&b, "open-txn-group", "read_committed");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("source", 0);
    assert!(
        stable
            .committed_offsets(tpl, Duration::from_secs(2))
            .is_err(),
        "no stable offset while the transaction is open"
    );
}

fn read_committed_values(b: &Broker, topic: &str, expect: usize) -> Vec<String> {
    let c = group_consumer(b, &format!("reader-{topic}"), "read_committed");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => values.push(String::from_utf8_lossy(m.payload().unwrap()).into_owned()),
            Some(Err(e)) => panic!("consume: {e}"),
            None if values.len() >= expect => break,
            None => {}
        }
    }
    values
}

#[test]
fn commit_and_abort_decide_what_read_committed_consumers_see() {
    let b = Broker::start();
    create_topic(&b, "outcome", 1, &[]);
    let p = transactional_producer(&b, "tx-outcome");
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "outcome", "aborted");
    // Written to the partition before the abort, so the abort marker must hide it.
    p.flush(TIMEOUT).unwrap();
    p.abort_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "outcome", "committed");
    p.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(read_committed_values(&b, "outcome", 1), vec!["committed"]);
    // read_uncommitted sees both, and never the control records.
    assert_eq!(
        values_seen_within(&b, "outcome", "read_uncommitted", Duration::from_secs(2)),
        vec!["aborted", "committed"]
    );
}

#[test]
fn a_successor_aborts_the_zombies_open_transaction() {
    let b = Broker::start();
    create_topic(&b, "takeover", 1, &[]);
    let zombie = transactional_producer(&b, "tx-takeover");
    zombie.init_transactions(TIMEOUT).unwrap();
    zombie.begin_transaction().unwrap();
    send(&zombie, "takeover", "zombie");
    zombie.flush(TIMEOUT).unwrap();

    // The successor's InitProducerId fences the zombie and aborts its transaction
    // (CONCURRENT_TRANSACTIONS until the abort markers landed; librdkafka retries).
    let successor = transactional_producer(&b, "tx-takeover");
    successor.init_transactions(TIMEOUT).unwrap();
    let err = zombie.commit_transaction(TIMEOUT).expect_err("fenced");
    assert!(is_fenced(&err), "fenced, got {err:?}");

    successor.begin_transaction().unwrap();
    send(&successor, "takeover", "successor");
    successor.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(read_committed_values(&b, "takeover", 1), vec!["successor"]);
}

#[test]
fn transactional_offsets_count_once_committed_also_after_kill_dash_nine() {
    let mut b = Broker::start();
    create_topic(&b, "consumed", 1, &[]);
    let p = transactional_producer(&b, "tx-offsets");
    p.init_transactions(TIMEOUT).unwrap();
    let reader = group_consumer(&b, "txn-group", "read_committed");
    let group = reader.group_metadata().unwrap();

    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&offsets("consumed", 7), &group, TIMEOUT)
        .unwrap();
    p.abort_transaction(TIMEOUT).unwrap();
    assert_eq!(committed(&reader, "consumed"), Offset::Invalid, "aborted");

    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&offsets("consumed", 9), &group, TIMEOUT)
        .unwrap();
    p.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(committed(&reader, "consumed"), Offset::Offset(9));

    // Replay decides them again from the markers in __consumer_offsets.
    drop(reader);
    b.restart();
    let reader = group_consumer(&b, "txn-group", "read_committed");
    assert_eq!(committed(&reader, "consumed"), Offset::Offset(9));
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let b = Broker::start();
    create_topic(&b, "slow", 1, &[]);
    let p: ThreadedProducer<DefaultProducerContext> = client_config(&b)
        .set("transactional.id", "tx-slow")
        .set("transaction.timeout.ms", "1000")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "slow", "too late");
    p.flush(TIMEOUT).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let err = p.commit_transaction(TIMEOUT).expect_err("timed out");
    assert!(
        matches!(err, KafkaError::Transaction(_)),
        "the coordinator aborted it, got {err:?}"
    );
    assert!(read_committed_values(&b, "slow", 0).is_empty());
}

/// Values a plain (read_uncommitted) producer writes are visible to read_committed readers
/// only once every transaction before them is decided: the LSO has moved past them.
fn send_plain(b: &Broker, topic: &str, value: &str) {
    let p: ThreadedProducer<DefaultProducerContext> = client_config(b).create().unwrap();
    send(&p, topic, value);
    p.flush(TIMEOUT).unwrap();
}

#[test]
fn a_transaction_open_at_kill_dash_nine_is_aborted_after_restart_when_it_times_out() {
    let mut b = Broker::start();
    create_topic(&b, "interrupted", 1, &[]);
    let p: ThreadedProducer<DefaultProducerContext> = client_config(&b)
        .set("transactional.id", "tx-interrupted")
        .set("transaction.timeout.ms", "3000")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "interrupted", "committed");
    p.commit_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "interrupted", "left open");
    p.flush(TIMEOUT).unwrap();
    drop(p); // the application dies with its transaction open…

    b.restart(); // …and so does the broker (kill -9)

    // The replayed coordinator times the transaction out and aborts it: the committed record
    // stays, the open one never shows, and the LSO moves on to records written after it.
    send_plain(&b, "interrupted", "after");
    assert_eq!(
        read_committed_values(&b, "interrupted", 2),
        vec!["committed", "after"]
    );
}

#[test]
fn a_commit_interrupted_before_its_markers_completes_after_restart() {
    let mut b = Broker::start();
    create_topic(&b, "prepared", 1, &[]);
    let p = transactional_producer(&b, "tx-prepared");
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "prepared", "one");
    send(&p, "prepared", "two");
    p.flush(TIMEOUT).unwrap();

    // PrepareCommit is written and EndTxn answered, but no marker reaches the partition.
    let client = reqwest::blocking::Client::new();
    client
        .post(b.http_url("/test-hooks/hold-txn-markers/true"))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    p.commit_transaction(TIMEOUT).unwrap();
    send_plain(&b, "prepared", "after");
    assert_eq!(
        values_seen_within(&b, "prepared", "read_uncommitted", Duration::from_secs(3)),
        vec!["one", "two", "after"],
        "the records are in the log"
    );
    assert!(
        values_seen_within(&b, "prepared", "read_committed", Duration::from_secs(3)).is_empty(),
        "without its marker the commit is not visible yet, nor anything after it"
    );
    drop(p);

    b.restart(); // kill -9 between PrepareCommit and the markers; the hook is gone with it

    assert_eq!(
        read_committed_values(&b, "prepared", 3),
        vec!["one", "two", "after"]
    );
}

/// Everything a consumer at `isolation` reads from the start of partition 0 within `window`.
fn values_seen_within(b: &Broker, topic: &str, isolation: &str, window: Duration) -> Vec<String> {
    let c = group_consumer(b, &format!("window-{topic}-{isolation}"), isolation);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            values.push(String::from_utf8_lossy(m.payload().unwrap()).into_owned());
        }
    }
    values
}
