//! Graceful shutdown under load (docs/operations.md, "Stopping"): SIGTERM while a producer is
//! writing with acks=all ends the process with status 0, answers or refuses every in-flight
//! request (nothing acknowledged is lost), closes every log cleanly (each partition directory
//! holds its clean-shutdown marker, so the next start skips recovery), and the restarted broker
//! serves every acknowledged record.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Collects the values the broker acknowledged.
#[derive(Clone, Default)]
struct Acked(Arc<Mutex<BTreeSet<String>>>);

impl ClientContext for Acked {}
impl ProducerContext for Acked {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = r {
            let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            self.0.lock().unwrap().insert(value);
        }
    }
}

#[test]
fn sigterm_under_acks_all_load_exits_cleanly_and_loses_no_acknowledged_record() {
    let mut b = Broker::start_with(&[
        "--override",
        "offsets.topic.num.partitions=1",
        "--override",
        "transaction.state.log.num.partitions=1",
    ]);
    create_topic(&b, "steady", 4, &[]);
    let acked = Acked::default();
    let producer: ThreadedProducer<Acked> = client_config(&b)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "5000")
        .create_with_context(acked.clone())
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let value = format!("r{i}");
                if producer
                    .send(BaseRecord::<(), _>::to("steady").payload(&value))
                    .is_ok()
                {
                    i += 1;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let _ = producer.flush(Duration::from_secs(10));
        })
    };
    // Let acknowledgements accumulate, then stop the broker mid-stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.0.lock().unwrap().len() < 500 {
        assert!(
            Instant::now() < deadline,
            "nothing acknowledged:\n{}",
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    assert_eq!(b.terminate(), Some(0), "SIGTERM exits 0:\n{}", b.log_text());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        started.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    let log = b.log_text();
    assert!(
        log.contains("draining connections") && log.contains("all partitions closed"),
        "{log}"
    );
    for p in 0..4 {
        let dir = b.data_dir().join(format!("steady-{p}"));
        assert!(
            dir.join("clean-shutdown").exists(),
            "{} was not closed cleanly",
            dir.display()
        );
    }

    b.start_again();
    let acked: BTreeSet<String> = acked.0.lock().unwrap().clone();
    let consumer: BaseConsumer = client_config(&b)
        .set("group.id", "shutdown-check")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition_offset("steady", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut stored = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !acked.is_subset(&stored) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            stored.insert(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    let lost: Vec<&String> = acked.difference(&stored).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost, e.g. {lost:?}",
        acked.len() - stored.len().min(acked.len())
    );
}
