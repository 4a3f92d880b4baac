//! kill -9 in the middle of an acks=all stream: after restart every acknowledged record reads
//! back byte-identical at the offset it was acknowledged with, and new records continue after
//! the log end.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

type Acked = Arc<Mutex<BTreeMap<(i32, i64), Vec<u8>>>>;

struct Recorder(Acked);
impl ClientContext for Recorder {}
impl ProducerContext for Recorder {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = r {
            self.0
                .lock()
                .unwrap()
                .insert((m.partition(), m.offset()), m.payload().unwrap().to_vec());
        }
    }
}

fn payload(i: u64) -> Vec<u8> {
    // Varied sizes and bytes, so a torn or shifted record cannot pass for another.
    let mut v = format!("record-{i}-").into_bytes();
    v.extend((0..(i % 300)).map(|j| (i.wrapping_mul(31).wrapping_add(j) % 251) as u8));
    v
}

#[test]
fn kill_dash_nine_loses_no_acknowledged_record() {
    let mut b = Broker::start();
    create_topic(&b, "crash", 3, &[]);
    let acked: Acked = Default::default();
    let producer: ThreadedProducer<Recorder> = client_config(&b)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "5000")
        .create_with_context(Recorder(acked.clone()))
        .unwrap();

    // Stream until a few thousand are acknowledged, then kill -9 mid-stream.
    let mut i = 0u64;
    let started = Instant::now();
    while acked.lock().unwrap().len() < 5000 && started.elapsed() < Duration::from_secs(60) {
        let p = payload(i);
        if producer
            .send(BaseRecord::<(), _>::to("crash").payload(&p))
            .is_ok()
        {
            i += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    b.kill9();
    let _ = producer.flush(Duration::from_secs(6));
    drop(producer);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 5000, "only {} acknowledged", acked.len());

    b.start_again();
    let consumer: BaseConsumer = client_config(&b)
        .set("group.id", "verify")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut ends = BTreeMap::new();
    for p in 0..3 {
        let (lo, hi) = consumer
            .fetch_watermarks("crash", p, Duration::from_secs(10))
            .unwrap();
        assert_eq!(lo, 0);
        ends.insert(p, hi);
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("crash", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let total: i64 = ends.values().sum();
    let mut read: BTreeMap<(i32, i64), Vec<u8>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (read.len() as i64) < total && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            read.insert(
                (m.partition(), m.offset()),
                m.payload().unwrap_or_default().to_vec(),
            );
        }
    }
    assert_eq!(read.len() as i64, total, "every stored record is readable");
    for ((p, off), bytes) in &acked {
        assert_eq!(
            read.get(&(*p, *off)),
            Some(bytes),
            "acknowledged record at {p}/{off} lost or changed"
        );
    }

    // Offsets continue right after what survived.
    let acked_after: Acked = Default::default();
    let producer: ThreadedProducer<Recorder> = client_config(&b)
        .set("acks", "all")
        .create_with_context(Recorder(acked_after.clone()))
        .unwrap();
    for p in 0..3 {
        producer
            .send(
                BaseRecord::<(), _>::to("crash")
                    .partition(p)
                    .payload("after"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    for ((p, off), _) in acked_after.lock().unwrap().iter() {
        assert_eq!(*off, ends[p], "partition {p} continues at its log end");
    }
}
