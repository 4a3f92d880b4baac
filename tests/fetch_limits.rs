//! A Fetch's size limits, as Kafka applies them (KIP-74): partitions are filled in request
//! order within the response's `max_bytes` and each partition's `partition_max_bytes`, whole
//! batches only, except that the first partition with data returns its first batch even when
//! that batch is larger than both. The broker reads the partitions in parallel, so these
//! checks pin down that the layout is still the sequential one.

mod common;

use bytes::Bytes;
use common::raw::RawConnection;
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use troupe::storage::batch_builder::{build_batch, NewRecord};

const TOPIC: &str = "limits";
const FETCH_VERSION: i16 = 12;
const PRODUCE_VERSION: i16 = 9;

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// One batch of one record with a 1,000-byte value.
fn batch(i: usize) -> Bytes {
    let record = NewRecord {
        key: None,
        value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; 1000])),
        headers: &[],
    };
    build_batch([record], 1_700_000_000_000, None).unwrap()
}

struct Client {
    raw: RawConnection,
}

impl Client {
    fn connect(b: &Broker) -> Client {
        Client {
            raw: RawConnection::open(b, "fetch-limits"),
        }
    }

    fn call<Req, Resp>(&mut self, api: ApiKey, version: i16, request: &Req) -> Resp
    where
        Req: Encodable,
        Resp: Decodable,
    {
        self.raw.call_typed(api, version, request)
    }

    fn produce(&mut self, partition: i32, records: Bytes) {
        let request = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name())
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ])]);
        // A new topic's partitions may take a moment to open: retry what is not yet led.
        for _ in 0..100 {
            let response: ProduceResponse = self.call(ApiKey::Produce, PRODUCE_VERSION, &request);
            let p = &response.responses[0].partition_responses[0];
            if p.error_code == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("produce to partition {partition} kept failing");
    }

    /// Fetches (fetch offset, partition_max_bytes) per partition 0, 1, 2 with `max_bytes`;
    /// returns each partition's batch count and high watermark, in partition order.
    fn fetch(&mut self, max_bytes: i32, partitions: [(i64, i32); 3]) -> Vec<(usize, i64)> {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic_name())
                .with_partitions(
                    partitions
                        .iter()
                        .enumerate()
                        .map(|(i, (offset, limit))| {
                            fetch_request::FetchPartition::default()
                                .with_partition(i as i32)
                                .with_fetch_offset(*offset)
                                .with_partition_max_bytes(*limit)
                        })
                        .collect(),
                )]);
        let response: FetchResponse = self.call(ApiKey::Fetch, FETCH_VERSION, &request);
        assert_eq!(response.error_code, 0);
        let parts = &response.responses[0].partitions;
        assert_eq!(parts.len(), 3);
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                assert_eq!(p.partition_index, i as i32, "partitions in request order");
                assert_eq!(p.error_code, 0);
                (
                    batch_count(p.records.as_deref().unwrap_or(&[])),
                    p.high_watermark,
                )
            })
            .collect()
    }
}

/// Whole batches in `records` (a partial trailing batch would fail the test).
fn batch_count(mut records: &[u8]) -> usize {
    let mut n = 0;
    while !records.is_empty() {
        assert!(records.len() >= 12, "a partial batch header");
        let len = 12 + i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize;
        assert!(records.len() >= len, "a partial batch");
        records = &records[len..];
        n += 1;
    }
    n
}

#[test]
fn a_fetch_fills_partitions_in_order_within_its_limits() {
    let b = Broker::start();
    create_topic(&b, TOPIC, 3, &[]);
    let mut client = Client::connect(&b);
    let one = batch(0).len() as i32;
    for partition in 0..3 {
        for i in 0..3 {
            client.produce(partition, batch(i));
        }
    }
    let roomy = one * 10;

    // Room for everything: three batches from each partition.
    assert_eq!(
        client.fetch(roomy * 3, [(0, roomy); 3]),
        vec![(3, 3), (3, 3), (3, 3)]
    );
    // max_bytes holds two and a half batches: the first partition takes two, the others
    // nothing (they would overflow the response), though each alone would fit its own limit.
    assert_eq!(
        client.fetch(one * 5 / 2, [(0, roomy); 3]),
        vec![(2, 3), (0, 3), (0, 3)]
    );
    // Four and a half: two partitions' worth is not there; the second takes what fits.
    assert_eq!(
        client.fetch(one * 9 / 2, [(0, roomy); 3]),
        vec![(3, 3), (1, 3), (0, 3)]
    );
    // A limit below one batch: the first partition with data still returns its first batch
    // (KIP-74), the others nothing.
    assert_eq!(
        client.fetch(100, [(0, roomy); 3]),
        vec![(1, 3), (0, 3), (0, 3)]
    );
    assert_eq!(
        client.fetch(roomy * 3, [(0, 100); 3]),
        vec![(1, 3), (0, 3), (0, 3)]
    );
    // "First with data", not first in the request: partition 0 is read to its end.
    assert_eq!(
        client.fetch(roomy * 3, [(3, 100), (0, 100), (0, 100)]),
        vec![(0, 3), (1, 3), (0, 3)]
    );
    // Per-partition limits of two batches each, the response roomy.
    assert_eq!(
        client.fetch(roomy * 3, [(0, one * 2); 3]),
        vec![(2, 3), (2, 3), (2, 3)]
    );
}

/// A partition that answers with an error carries an empty record set, as Kafka's does, never
/// a null one: librdkafka refuses a null set ("invalid MessageSetSize -1") and throws the whole
/// response away, so the other partitions' records would be lost with it. Checked in a
/// flexible and a non-flexible version (they encode null differently).
#[test]
fn an_error_partition_has_an_empty_record_set_and_the_others_keep_theirs() {
    let b = Broker::start();
    create_topic(&b, TOPIC, 1, &[]);
    let mut client = Client::connect(&b);
    client.produce(0, batch(0));
    for version in [4, FETCH_VERSION] {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic_name())
                .with_partitions(
                    [7, 0]
                        .iter()
                        .map(|p| {
                            fetch_request::FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(0)
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                )]);
        let response: FetchResponse = client.call(ApiKey::Fetch, version, &request);
        let parts = &response.responses[0].partitions;
        let missing = parts.iter().find(|p| p.partition_index == 7).unwrap();
        assert_eq!(
            missing.error_code, 3,
            "UNKNOWN_TOPIC_OR_PARTITION (v{version})"
        );
        assert_eq!(
            missing.records.as_deref(),
            Some(&[][..]),
            "an empty, not a null, record set (v{version})"
        );
        let present = parts.iter().find(|p| p.partition_index == 0).unwrap();
        assert_eq!(present.error_code, 0);
        assert_eq!(batch_count(present.records.as_deref().unwrap()), 1);
    }
}
