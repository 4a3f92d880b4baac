//! Fixtures the unit tests share, so each test module builds its metadata and its record
//! batches the same way: metadata images with brokers (some fenced) and topics (internal ones
//! included), and record batches as producers send them (keyed or not, idempotent or
//! transactional, compressed or not).

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::metadata::{BrokerInfo, MetadataImage, PartitionMeta, TopicMeta};

// ---- metadata ----

/// A registered broker: `broker{id}` on port `9090 + id`.
pub(crate) fn broker(id: i32) -> BrokerInfo {
    BrokerInfo {
        id,
        host: format!("broker{id}"),
        port: 9090 + id,
        rack: None,
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
