//! Reading a partition back as a consumer sees it: from its first offset up to the high
//! watermark as of the start of the read.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

/// Consumes `topic`-`partition` from the beginning (as group `group_id`, committing nothing)
/// until the high watermark it had when the read started, handing `each` every record.
/// Panics on a consumer error, or if the read takes longer than `timeout`.
pub fn read_to_end(
    bootstrap: &str,
    group_id: &str,
    topic: &str,
    partition: i32,
    timeout: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let (_, high) = c
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap();
    let mut last = -1;
    let deadline = Instant::now() + timeout;
    while last + 1 < high {
        assert!(
            Instant::now() < deadline,
            "reading {topic}-{partition} back timed out"
        );
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                each(&m);
                last = m.offset();
            }
            Some(Err(e)) => panic!("consumer error while reading {topic}-{partition}: {e}"),
            None => {}
        }
    }
}
