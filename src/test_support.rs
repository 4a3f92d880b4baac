//! Fixtures the unit tests share, so each test module builds its metadata and its record
//! batches the same way: metadata images with brokers (some fenced) and topics (internal ones
//! included), and record batches as producers send them (keyed or not, idempotent or
//! transactional, compressed or not), and the replicas of a one-node test cluster.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, TimestampType};
use uuid::Uuid;

use actix::Arbiter;

use crate::actors::partition_replica::lease::BrokerLease;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::partition_replica::ReplicaContext;
use crate::config::BrokerConfig;
use crate::metadata::{BrokerInfo, MetadataImage, PartitionMeta, TopicMeta};
use crate::runtime::supervision::SupervisorState;
use crate::storage::batch_builder::encode_records;

// ---- metadata ----

/// A registered broker: `broker{id}` on port `9090 + id`.
pub(crate) fn broker(id: i32) -> BrokerInfo {
    BrokerInfo {
        id,
        host: format!("broker{id}"),
        port: 9090 + id,
        rack: None,
        endpoints: Vec::new(),
    }
}

/// A partition at leader epoch 0 and partition epoch 0.
pub(crate) fn partition(index: i32, replicas: &[i32], isr: &[i32], leader: i32) -> PartitionMeta {
    PartitionMeta {
        index,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

/// Partition `i` led by `leaders[i]` (-1: no leader), each with every one of `replicas` in
/// sync.
pub(crate) fn partitions_led_by(leaders: &[i32], replicas: &[i32]) -> Vec<PartitionMeta> {
    leaders
        .iter()
        .enumerate()
        .map(|(i, &leader)| partition(i as i32, replicas, replicas, leader))
        .collect()
}

/// A topic without config overrides; internal when its name starts with `__`, as the
/// controller decides it.
pub(crate) fn topic(name: &str, partitions: Vec<PartitionMeta>) -> TopicMeta {
    TopicMeta {
        name: name.to_string(),
        id: Uuid::new_v4(),
        partitions,
        configs: BTreeMap::new(),
        internal: name.starts_with("__"),
    }
}

/// An image of `brokers` (registered; those in `fenced` fenced) and `topics`.
pub(crate) fn image(
    brokers: &[i32],
    fenced: &[i32],
    topics: impl IntoIterator<Item = TopicMeta>,
) -> MetadataImage {
    let mut image = MetadataImage::default();
    for &id in brokers {
        image.brokers.insert(id, broker(id));
    }
    image.fenced_brokers.extend(fenced.iter().copied());
    for t in topics {
        image.topic_ids.insert(t.id, t.name.clone());
        image.topics.insert(t.name.clone(), t);
    }
    image
}

// ---- record batches ----

/// One record of a [`BatchBuilder`] batch: key, value, timestamp, headers.
type TestRecord = (
    Option<Bytes>,
    Option<Bytes>,
    i64,
    Vec<(String, Option<Bytes>)>,
);

/// A v2 record batch as a client sends it, record by record: offsets from 0, sequences from
/// the base sequence, partition leader epoch 0, create-time timestamps.
#[derive(Clone)]
pub(crate) struct BatchBuilder {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    compression: Compression,
    records: Vec<TestRecord>,
}

impl BatchBuilder {
    /// A plain producer's batch (no producer id), uncompressed. Its sequences still count
    /// from 0: the encoder keeps records in one batch only while offset − sequence holds.
    pub(crate) fn plain() -> BatchBuilder {
        BatchBuilder::idempotent(-1, -1, 0)
    }

    /// An idempotent producer's batch, its first record at `base_sequence`.
    pub(crate) fn idempotent(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BatchBuilder {
        BatchBuilder {
            producer_id,
            producer_epoch,
            base_sequence,
            transactional: false,
            compression: Compression::None,
            records: Vec::new(),
        }
    }

    /// In the producer's transaction.
    pub(crate) fn transactional(mut self, transactional: bool) -> BatchBuilder {
        self.transactional = transactional;
        self
    }

    pub(crate) fn compression(mut self, compression: Compression) -> BatchBuilder {
        self.compression = compression;
        self
    }

    /// Adds a record; a `None` value is a tombstone.
    pub(crate) fn record(
        mut self,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
    ) -> BatchBuilder {
        self.records.push((key, value, timestamp, Vec::new()));
        self
    }

    /// Adds a header to the last record.
    pub(crate) fn header(mut self, name: &str, value: Option<Bytes>) -> BatchBuilder {
        let last = self
            .records
            .last_mut()
            .expect("a record to put the header on");
        last.3.push((name.to_string(), value));
        self
    }

    pub(crate) fn build(self) -> Bytes {
        let records: Vec<Record> = self
            .records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value, timestamp, headers))| Record {
                transactional: self.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: self.base_sequence + i as i32,
                timestamp,
                key,
                value,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (StrBytes::from_string(k), v))
                    .collect(),
            })
            .collect();
        encode_records(&records, self.compression).expect("encode batch")
    }
}

/// One plain batch holding `values` (keys `key-0`, `key-1`, …) with record timestamps
/// `timestamps` (one per value).
pub(crate) fn encode_batch(values: &[&[u8]], timestamps: &[i64]) -> Bytes {
    encode_batch_with(values, timestamps, Compression::None)
}

/// Like [`encode_batch`] with a chosen compression codec.
pub(crate) fn encode_batch_with(
    values: &[&[u8]],
    timestamps: &[i64],
    compression: Compression,
) -> Bytes {
    values
        .iter()
        .zip(timestamps)
        .enumerate()
        .fold(
            BatchBuilder::plain().compression(compression),
            |b, (i, (value, ts))| {
                b.record(
                    Some(Bytes::from(format!("key-{i}"))),
                    Some(Bytes::copy_from_slice(value)),
                    *ts,
                )
            },
        )
        .build()
}

/// One record for [`encode_keyed_batch`]: key, value (None is a tombstone), timestamp.
pub(crate) type KeyedRecord<'a> = (Option<&'a str>, Option<&'a str>, i64);

/// One plain batch of keyed records, each with a header `h` = `header-<i>`.
pub(crate) fn encode_keyed_batch(records: &[KeyedRecord<'_>], compression: Compression) -> Bytes {
    keyed(BatchBuilder::plain(), records)
        .compression(compression)
        .build()
}

/// Adds keyed records to `batch`, each with a header `h` = `header-<i>`.
pub(crate) fn keyed(batch: BatchBuilder, records: &[KeyedRecord<'_>]) -> BatchBuilder {
    records
        .iter()
        .enumerate()
        .fold(batch, |b, (i, (key, value, ts))| {
            b.record(
                key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                *ts,
            )
            .header("h", Some(Bytes::from(format!("header-{i}"))))
        })
}

/// An idempotent (and maybe transactional) producer, tracking its next sequence.
pub(crate) struct Producer {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
    next_seq: i32,
}

impl Producer {
    /// Its batches' timestamp.
    pub(crate) const NOW_MS: i64 = 1_700_000_000_000;

    pub(crate) fn new(id: i64) -> Producer {
        Producer {
            id,
            epoch: 0,
            next_seq: 0,
        }
    }

    /// A batch of `count` keyed records ("k0", "k1", … by sequence, modulo 4).
    pub(crate) fn batch(&mut self, count: i32, transactional: bool) -> Bytes {
        let batch = (self.next_seq..self.next_seq + count).fold(
            BatchBuilder::idempotent(self.id, self.epoch, self.next_seq)
                .transactional(transactional),
            |b, seq| {
                b.record(
                    Some(Bytes::from(format!("k{}", seq % 4))),
                    Some(Bytes::from(format!("p{}-{seq}", self.id))),
                    Producer::NOW_MS,
                )
            },
        );
        self.next_seq += count;
        batch.build()
    }
}

// ---- replicas ----

/// The replicas of node 1 with its logs under `dir`, all on the current arbiter, with no
/// controller and default broker config, reconciled to `image` (so node 1 leads and follows
/// what the image says).
pub(crate) async fn node_one_replicas(dir: &Path, image: &MetadataImage) -> Arc<ReplicaManager> {
    let replicas = Arc::new(ReplicaManager::new(
        Arc::new(ReplicaContext {
            node_id: 1,
            controller: None,
            replica_lag_time_max_ms: 30_000,
            events: Default::default(),
            lease: Arc::new(BrokerLease::unbounded()),
        }),
        dir.to_path_buf(),
        vec![Arbiter::current()],
        Arc::new(SupervisorState::default()),
        BrokerConfig::default(),
        None,
    ));
    replicas.reconcile(image, &[]).await.unwrap();
    replicas
}
