//! Consumer groups through rdkafka against the real binary: a group forms and consumes; its
//! committed offsets, generation and members' assignments survive kill -9 because they are
//! written to `__consumer_offsets` before they are acknowledged and replayed at startup; and
//! `offsets.retention.minutes` expires the offsets of a group left empty.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
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

/// Counts the assignments librdkafka receives: each one is a completed rebalance.
#[derive(Clone, Default)]
struct RebalanceCounter(Arc<AtomicUsize>);

impl ClientContext for RebalanceCounter {}

impl ConsumerContext for RebalanceCounter {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn counted_member(b: &Broker, group: &str) -> (BaseConsumer<RebalanceCounter>, RebalanceCounter) {
    let counter = RebalanceCounter::default();
    let consumer = client_config(b)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "300")
        .create_with_context(counter.clone())
        .unwrap();
    (consumer, counter)
}

/// The group as DescribeGroups shows it: state and (member id, assignment bytes), sorted.
fn described(c: &BaseConsumer<RebalanceCounter>, group: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let list = c
        .client()
        .fetch_group_list(Some(group), Duration::from_secs(5))
        .unwrap();
    let info = &list.groups()[0];
    let mut members: Vec<(String, Vec<u8>)> = info
        .members()
        .iter()
        .map(|m| (m.id().to_string(), m.assignment().unwrap_or(&[]).to_vec()))
        .collect();
    members.sort();
    (info.state().to_string(), members)
}

fn poll_for(consumers: &[&BaseConsumer<RebalanceCounter>], how_long: Duration) {
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        for c in consumers {
            let _ = c.poll(Duration::from_millis(50));
        }
    }
}

#[test]
fn generation_and_assignment_survive_kill_dash_nine() {
    let mut b = Broker::start_with(&["--override", "group.initial.rebalance.delay.ms=0"]);
    create_topic(&b, "events", 4, &[]);
    let (first, first_rebalances) = counted_member(&b, "auditors");
    let (second, second_rebalances) = counted_member(&b, "auditors");
    first.subscribe(&["events"]).unwrap();
    second.subscribe(&["events"]).unwrap();

    // Both members hold two partitions each once the group is Stable.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        poll_for(&[&first, &second], Duration::from_millis(200));
        let held = |c: &BaseConsumer<RebalanceCounter>| c.assignment().unwrap().count();
        if held(&first) == 2 && held(&second) == 2 && described(&first, "auditors").0 == "Stable" {
            break;
        }
        assert!(Instant::now() < deadline, "the group never settled");
    }
    poll_for(&[&first, &second], Duration::from_secs(1));
    let before = described(&first, "auditors");
    let rebalances_before = (
        first_rebalances.0.load(Ordering::SeqCst),
        second_rebalances.0.load(Ordering::SeqCst),
    );
    let assignment_before = (first.assignment().unwrap(), second.assignment().unwrap());

    b.restart(); // kill -9, then start on the same data dir

    // Heartbeats resume against the restarted broker with the old member ids and generation:
    // a forgotten generation would answer ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID and force a
    // rebalance, which the counters would see.
    poll_for(&[&first, &second], Duration::from_secs(5));
    let after = described(&first, "auditors");
    assert_eq!(after.0, "Stable");
    assert_eq!(after.1, before.1, "same members with the same assignments");
    assert_eq!(
        (
            first_rebalances.0.load(Ordering::SeqCst),
            second_rebalances.0.load(Ordering::SeqCst),
        ),
        rebalances_before,
        "no rebalance after the restart"
    );
    assert_eq!(
        (first.assignment().unwrap(), second.assignment().unwrap()),
        assignment_before
    );

    // The group is still live: a third member joins and the generation moves on from there.
    let (third, _) = counted_member(&b, "auditors");
    third.subscribe(&["events"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        poll_for(&[&first, &second, &third], Duration::from_millis(200));
        let (state, members) = described(&first, "auditors");
        if state == "Stable" && members.len() == 3 && third.assignment().unwrap().count() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the third member never got partitions"
        );
    }
}

#[test]
fn offsets_of_an_empty_group_expire_after_offsets_retention_minutes() {
    let b = Broker::start_with(&[
        "--override",
        "group.initial.rebalance.delay.ms=0",
        "--override",
        "offsets.retention.minutes=1",
        "--override",
        "offsets.retention.check.interval.ms=500",
    ]);
    create_topic(&b, "ledger", 1, &[]);
    let c = member(&b, "short-lived");
    c.subscribe(&["ledger"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.assignment().unwrap().count() == 0 {
        let _ = c.poll(Duration::from_millis(100));
        assert!(Instant::now() < deadline, "no assignment");
    }
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("ledger", 0, Offset::Offset(5))
        .unwrap();
    c.commit(&commit, CommitMode::Sync).unwrap();
    drop(c); // leaves the group: it is Empty from now on

    let committed = |consumer: &BaseConsumer| {
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition("ledger", 0);
        consumer
            .committed_offsets(wanted, Duration::from_secs(10))
            .unwrap()
            .elements()[0]
            .offset()
    };
    let probe = member(&b, "short-lived");
    let emptied = Instant::now();
    assert_eq!(committed(&probe), Offset::Offset(5));
    thread_sleep_until(emptied + Duration::from_secs(45));
    assert_eq!(
        committed(&probe),
        Offset::Offset(5),
        "kept within the retention"
    );

    let deadline = emptied + Duration::from_secs(90);
    while committed(&probe) != Offset::Invalid {
        assert!(Instant::now() < deadline, "offsets never expired");
        std::thread::sleep(Duration::from_millis(500));
    }
    let groups = probe
        .client()
        .fetch_group_list(None, Duration::from_secs(5))
        .unwrap();
    assert!(
        groups.groups().iter().all(|g| g.name() != "short-lived"),
        "an empty group without offsets is removed"
    );
}

fn thread_sleep_until(when: Instant) {
    if let Some(left) = when.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}
