//! A panic inside one partition's actor (injected through the test-only HTTP hook) restarts
//! that actor; the other partitions keep serving, the restart shows on /healthz, and the
//! panicked partition serves its data again after recovery.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

#[test]
fn panicking_partition_is_restarted_and_others_keep_serving() {
    let b = Broker::start();
    create_topic(&b, "sup", 3, &[]);
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(&b).set("acks", "all").create().unwrap();
    for p in 0..3 {
        for _ in 0..10 {
            producer
                .send(
                    BaseRecord::<(), _>::to("sup")
                        .partition(p)
                        .payload("before"),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(healthz(&b)["total_restarts"], 0);

    let client = reqwest::blocking::Client::new();
    let r = client
        .post(b.http_url("/test-hooks/panic/sup/0"))
        .send()
        .unwrap();
    assert!(r.status().is_success());

    // The broker is alive and the other partitions accept writes at once.
    for p in 1..3 {
        producer
            .send(BaseRecord::<(), _>::to("sup").partition(p).payload("after"))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let health = healthz(&b);
    assert_eq!(health["restarts"]["partition:sup-0"], 1, "{health}");
    assert_eq!(health["total_restarts"], 1);

    // The restarted partition recovered its log and serves again.
    producer
        .send(BaseRecord::<(), _>::to("sup").partition(0).payload("after"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let consumer: BaseConsumer = client_config(&b).set("group.id", "wm").create().unwrap();
    for p in 0..3 {
        let (lo, hi) = consumer
            .fetch_watermarks("sup", p, Duration::from_secs(10))
            .unwrap();
        assert_eq!((lo, hi), (0, 11), "partition {p}");
    }
}
