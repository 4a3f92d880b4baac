//! Typed broker events and the bus that carries them to extensions.
//!
//! Rooms emit through [`EventBus::emit`], which builds the event only when some extension
//! listens, so a broker without extensions pays one atomic load per emission point. The bus is
//! a bounded broadcast channel: an extension that falls more than its capacity behind loses the
//! oldest events and is told how many (`Delivery::Lagged`), instead of the broker buffering
//! without bound.

use std::collections::BTreeSet;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::metadata::MetadataImage;

/// Something that happened in the broker. Where and when each fires is in docs/extensions.md.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum BrokerEvent {
    /// A leader appended records to a partition (on the leader's node only).
    BatchAppended {
        topic: String,
        partition: i32,
        /// Offset given to the first record.
        base_offset: i64,
        /// Offset of the last record.
        last_offset: i64,
        record_count: u32,
        /// The record batches as the producer sent them (v2 format, possibly compressed, base
        /// offsets not yet assigned: record `i` of the append has offset `base_offset + i`).
        records: Bytes,
    },
    /// A consumer group completed a rebalance: a new generation is Stable (on the group's
    /// coordinator).
    GroupRebalanced {
        group_id: String,
        generation_id: i32,
        protocol: Option<String>,
        members: Vec<String>,
    },
    /// A partition's leader or leader epoch changed (on every node, as it applies metadata).
    LeaderChanged {
        topic: String,
        partition: i32,
        /// None while the partition has no leader.
        leader: Option<i32>,
        leader_epoch: i32,
    },
    /// A broker registered, or came back from being fenced (on every node).
    BrokerJoined { node_id: i32 },
    /// A broker was fenced (missed heartbeats, shut down) or unregistered (on every node).
    BrokerLeft { node_id: i32 },
    /// A topic was created (on every node).
    TopicCreated {
        topic: String,
        partitions: usize,
        replication_factor: usize,
    },
    /// A topic was deleted (on every node).
    TopicDeleted { topic: String },
}

/// What an extension's subscription yields.
#[derive(Clone, Debug)]
pub enum Delivery {
    Event(BrokerEvent),
    /// This many events were dropped because the extension fell behind.
    Lagged(u64),
}

/// Events an extension may fall behind by before it loses the oldest.
pub const EVENT_BUS_CAPACITY: usize = 4096;

/// The broker's event bus; cloning shares it.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<BrokerEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(EVENT_BUS_CAPACITY).0,
        }
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

impl EventBus {
    /// Whether any extension listens (emitters may skip preparing an event otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Sends the event `make` builds, if anyone listens.
    pub fn emit(&self, make: impl FnOnce() -> BrokerEvent) {
        if self.has_subscribers() {
            let _ = self.sender.send(make());
        }
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription(self.sender.subscribe())
    }
}

/// One extension's view of the bus.
pub struct Subscription(broadcast::Receiver<BrokerEvent>);

impl Subscription {
    /// The next delivery; None once the bus is gone (the broker is stopping).
    pub async fn next(&mut self) -> Option<Delivery> {
        match self.0.recv().await {
            Ok(event) => Some(Delivery::Event(event)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Delivery::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// The events a metadata change means: topics created and deleted, partition leaders
/// changed, brokers joined and left. `before` is the image this node had applied.
pub fn metadata_changes(before: &MetadataImage, after: &MetadataImage) -> Vec<BrokerEvent> {
    let mut events = Vec::new();
    let live = |image: &MetadataImage| -> BTreeSet<i32> {
        image
            .brokers
            .keys()
            .filter(|id| !image.fenced_brokers.contains(id))
            .copied()
            .collect()
    };
    let (was_live, is_live) = (live(before), live(after));
    for id in is_live.difference(&was_live) {
        events.push(BrokerEvent::BrokerJoined { node_id: *id });
    }
    for id in was_live.difference(&is_live) {
        events.push(BrokerEvent::BrokerLeft { node_id: *id });
    }
    for (name, topic) in &after.topics {
        let old = before.topics.get(name).filter(|old| old.id == topic.id);
        if old.is_none() {
            if let Some(replaced) = before.topics.get(name) {
                // Deleted and created again between two applied updates.
                events.push(BrokerEvent::TopicDeleted {
                    topic: replaced.name.clone(),
                });
            }
            events.push(BrokerEvent::TopicCreated {
                topic: name.clone(),
                partitions: topic.partitions.len(),
                replication_factor: topic.partitions.first().map_or(0, |p| p.replicas.len()),
            });
        }
        for p in &topic.partitions {
            let was = old.and_then(|t| t.partitions.iter().find(|q| q.index == p.index));
            if was.is_none_or(|q| q.leader != p.leader || q.leader_epoch != p.leader_epoch) {
                events.push(BrokerEvent::LeaderChanged {
                    topic: name.clone(),
                    partition: p.index,
                    leader: (p.leader >= 0).then_some(p.leader),
                    leader_epoch: p.leader_epoch,
                });
            }
        }
    }
    for name in before.topics.keys() {
        if !after.topics.contains_key(name) {
            events.push(BrokerEvent::TopicDeleted {
                topic: name.clone(),
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{BrokerInfo, PartitionMeta, TopicMeta};

    /// (name, topic id, per partition (leader, leader epoch)).
    type TopicSpec<'a> = (&'a str, u128, &'a [(i32, i32)]);

    fn image(brokers: &[i32], fenced: &[i32], topics: &[TopicSpec]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in brokers {
            image.brokers.insert(
                *id,
                BrokerInfo {
                    id: *id,
                    host: "h".into(),
                    port: 9092,
                    rack: None,
                    endpoints: Vec::new(),
                },
            );
        }
        image.fenced_brokers = fenced.iter().copied().collect();
        for (name, id, partitions) in topics {
            image.topics.insert(
                name.to_string(),
                TopicMeta {
                    name: name.to_string(),
                    id: uuid::Uuid::from_u128(*id),
                    partitions: partitions
                        .iter()
                        .enumerate()
                        .map(|(i, (leader, epoch))| PartitionMeta {
                            index: i as i32,
                            replicas: vec![1, 2],
                            isr: vec![1, 2],
                            leader: *leader,
                            leader_epoch: *epoch,
                            partition_epoch: 0,
                        })
                        .collect(),
                    configs: Default::default(),
                    internal: false,
                },
            );
        }
        image
    }

    fn names(events: &[BrokerEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                BrokerEvent::BrokerJoined { node_id } => format!("joined {node_id}"),
                BrokerEvent::BrokerLeft { node_id } => format!("left {node_id}"),
                BrokerEvent::TopicCreated {
                    topic,
                    partitions,
                    replication_factor,
                } => {
                    format!("created {topic} {partitions}x{replication_factor}")
                }
                BrokerEvent::TopicDeleted { topic } => format!("deleted {topic}"),
                BrokerEvent::LeaderChanged {
                    topic,
                    partition,
                    leader,
                    leader_epoch,
                } => {
                    format!("leader {topic}-{partition} {leader:?}@{leader_epoch}")
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn diffs_brokers_topics_and_leaders() {
        let before = image(
            &[1, 2],
            &[],
            &[("a", 1, &[(1, 0), (2, 0)]), ("gone", 2, &[(1, 0)])],
        );
        let after = image(
            &[1, 2, 3],
            &[2],
            &[("a", 1, &[(1, 0), (1, 1)]), ("new", 3, &[(-1, 0)])],
        );
        assert_eq!(
            names(&metadata_changes(&before, &after)),
            [
                "joined 3",
                "left 2",
                "leader a-1 Some(1)@1",
                "created new 1x2",
                "leader new-0 None@0",
                "deleted gone",
            ]
        );
        assert!(metadata_changes(&after, &after).is_empty());
    }

    #[test]
    fn a_topic_recreated_between_updates_is_deleted_then_created() {
        let before = image(&[1], &[], &[("t", 1, &[(1, 0)])]);
        let after = image(&[1], &[], &[("t", 9, &[(1, 0)])]);
        assert_eq!(
            names(&metadata_changes(&before, &after)),
            ["deleted t", "created t 1x2", "leader t-0 Some(1)@0"]
        );
    }

    #[tokio::test]
    async fn emits_only_to_listeners_and_reports_lag() {
        let bus = EventBus::default();
        let mut built = 0;
        bus.emit(|| {
            built += 1;
            BrokerEvent::BrokerJoined { node_id: 1 }
        });
        assert_eq!(built, 0, "nobody listens: the event is not even built");
        let mut sub = bus.subscribe();
        for id in 0..(EVENT_BUS_CAPACITY as i32 + 5) {
            bus.emit(|| BrokerEvent::BrokerJoined { node_id: id });
        }
        assert!(matches!(sub.next().await, Some(Delivery::Lagged(5))));
        assert!(matches!(
            sub.next().await,
            Some(Delivery::Event(BrokerEvent::BrokerJoined { node_id: 5 }))
        ));
    }
}

/// One record of a `BatchAppended` event.
#[derive(Clone, Debug)]
pub struct AppendedRecord {
    /// The record's offset in the partition.
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Part of a transaction (it may still abort).
    pub transactional: bool,
    /// A transaction marker, not data.
    pub control: bool,
}

/// Decodes (and decompresses) the records of a `BatchAppended` event, with their offsets.
pub fn decode_appended(
    records: &Bytes,
    base_offset: i64,
) -> Result<Vec<AppendedRecord>, crate::error::BrokerError> {
    let mut buf = records.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
        .map_err(|e| crate::error::BrokerError::CorruptMessage(e.to_string()))?;
    let mut out = Vec::new();
    for set in sets {
        for r in set.records {
            out.push(AppendedRecord {
                offset: base_offset + out.len() as i64,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: crate::storage::records::header_pairs(r.headers),
                transactional: r.transactional,
                control: r.control,
            });
        }
    }
    Ok(out)
}
