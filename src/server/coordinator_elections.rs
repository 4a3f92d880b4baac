//! `CoordinatorElections` (not an actor; shared, behind a lock): after each metadata image is
//! applied, the metadata publisher hands it the image; it works out which partitions of the
//! coordinators' internal topics (`__consumer_offsets`, `__transaction_state`) this node now
//! leads (and hosts) and sends the owning shard `LoadPartition` (Kafka's onElection) or
//! `UnloadPartition` (onResignation). Shard = partition % shards. Shards register once they
//! have started; what this node already leads is loaded then. A node coordinates exactly the
//! partitions it leads, as in Kafka. It owns only what it last told each shard.

use std::collections::BTreeMap;

use actix::prelude::*;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::actors::coordinator_partitions::{LoadPartition, UnloadPartition};
use crate::metadata::MetadataImage;

/// Partitions of one internal topic this node leads: partition → leader epoch.
pub type Led = BTreeMap<i32, i32>;

/// A change in what this node leads of one internal topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadershipChange {
    Elected { partition: i32, leader_epoch: i32 },
    Resigned { partition: i32 },
}

/// The partitions of `topic` the image says this node leads, among those `hosted` here
/// (a partition whose log could not be opened cannot be loaded).
pub fn led_partitions(
    image: &MetadataImage,
    topic: &str,
    node_id: i32,
    hosted: impl Fn(i32) -> bool,
) -> Led {
    image
        .topics
        .get(topic)
        .map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.leader == node_id && hosted(p.index))
                .map(|p| (p.index, p.leader_epoch))
                .collect()
        })
        .unwrap_or_default()
}

/// What takes `before` to `after`: resignations first, then elections (a partition still led
/// at another epoch is elected again, which updates the shard's epoch).
pub fn leadership_changes(before: &Led, after: &Led) -> Vec<LeadershipChange> {
    let resigned = before
        .keys()
        .filter(|p| !after.contains_key(p))
        .map(|&partition| LeadershipChange::Resigned { partition });
    let elected = after.iter().filter(|(p, e)| before.get(p) != Some(e)).map(
        |(&partition, &leader_epoch)| LeadershipChange::Elected {
            partition,
            leader_epoch,
        },
    );
    resigned.chain(elected).collect()
}

/// The shards of one coordinator kind, as recipients of the two messages.
pub struct Shards {
    pub load: Vec<Recipient<LoadPartition>>,
    pub unload: Vec<Recipient<UnloadPartition>>,
}

impl Shards {
    pub fn of<A>(shards: &[Addr<A>]) -> Shards
    where
        A: Actor<Context = Context<A>> + Handler<LoadPartition> + Handler<UnloadPartition>,
    {
        Shards {
            load: shards.iter().map(|a| a.clone().recipient()).collect(),
            unload: shards.iter().map(|a| a.clone().recipient()).collect(),
        }
    }
}

struct Tracked {
    topic: &'static str,
    led: Led,
    shards: Option<Shards>,
}

/// Routes elections and resignations of the internal topics' partitions to coordinator
/// shards. Every delivery happens under one lock with `do_send`, so a shard receives the
/// changes of a partition in the order they were decided.
pub struct CoordinatorElections {
    node_id: i32,
    topics: Mutex<Vec<Tracked>>,
}

impl CoordinatorElections {
    pub fn new(node_id: i32, topics: &[&'static str]) -> CoordinatorElections {
        CoordinatorElections {
            node_id,
            topics: Mutex::new(
                topics
                    .iter()
                    .map(|&topic| Tracked {
                        topic,
                        led: Led::new(),
                        shards: None,
                    })
                    .collect(),
            ),
        }
    }

    /// After an image is applied to this node's partitions: tells the shards what changed.
    pub fn publish(&self, image: &MetadataImage, hosted: impl Fn(&str, i32) -> bool) {
        let mut topics = self.topics.lock();
        for t in topics.iter_mut() {
            let after = led_partitions(image, t.topic, self.node_id, |p| hosted(t.topic, p));
            let changes = leadership_changes(&t.led, &after);
            if let Some(shards) = &t.shards {
                for change in &changes {
                    deliver(t.topic, shards, *change, None);
                }
            }
            t.led = after;
        }
    }

    /// A coordinator's shards have started: they are sent what this node leads now. The
    /// receivers fire as those loads finish (startup waits for them before serving).
    pub fn register(&self, topic: &str, shards: Shards) -> Vec<oneshot::Receiver<()>> {
        let mut topics = self.topics.lock();
        let Some(t) = topics.iter_mut().find(|t| t.topic == topic) else {
            return Vec::new();
        };
        let mut waits = Vec::new();
        for (&partition, &leader_epoch) in &t.led {
            let (tx, rx) = oneshot::channel();
            let change = LeadershipChange::Elected {
                partition,
                leader_epoch,
            };
            deliver(t.topic, &shards, change, Some(tx));
            waits.push(rx);
        }
        t.shards = Some(shards);
        waits
    }
}

fn deliver(
    topic: &str,
    shards: &Shards,
    change: LeadershipChange,
    loaded: Option<oneshot::Sender<()>>,
) {
    match change {
        LeadershipChange::Elected {
            partition,
            leader_epoch,
        } => {
            if let Some(shard) = shard_of(&shards.load, partition) {
                tracing::info!(
                    topic,
                    partition,
                    leader_epoch,
                    "coordinator partition elected here"
                );
                shard.do_send(LoadPartition {
                    partition,
                    leader_epoch,
                    loaded,
                });
            }
        }
        LeadershipChange::Resigned { partition } => {
            if let Some(shard) = shard_of(&shards.unload, partition) {
                tracing::info!(topic, partition, "coordinator partition resigned here");
                shard.do_send(UnloadPartition { partition });
            }
        }
    }
}

/// The shard owning `partition`: partition % shards.
fn shard_of<T>(shards: &[T], partition: i32) -> Option<&T> {
    (!shards.is_empty()).then(|| &shards[partition as usize % shards.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::PartitionMeta;
    use crate::test_support;

    fn led(pairs: &[(i32, i32)]) -> Led {
        pairs.iter().copied().collect()
    }

    #[test]
    fn changes_resign_first_then_elect_new_partitions_and_new_epochs() {
        let before = led(&[(0, 1), (1, 1), (2, 4)]);
        let after = led(&[(1, 1), (2, 5), (3, 0)]);
        assert_eq!(
            leadership_changes(&before, &after),
            vec![
                LeadershipChange::Resigned { partition: 0 },
                LeadershipChange::Elected {
                    partition: 2,
                    leader_epoch: 5
                },
                LeadershipChange::Elected {
                    partition: 3,
                    leader_epoch: 0
                },
            ]
        );
        assert!(leadership_changes(&after, &after).is_empty());
    }

    #[test]
    fn led_partitions_are_those_led_here_and_hosted() {
        let partition = |index, leader, leader_epoch| PartitionMeta {
            leader_epoch,
            ..test_support::partition(index, &[1, 2], &[1, 2], leader)
        };
        let image = test_support::image(
            &[],
            &[],
            [test_support::topic(
                "__consumer_offsets",
                vec![
                    partition(0, 1, 3),
                    partition(1, 2, 0),
                    partition(2, 1, 0),
                    partition(3, -1, 2),
                ],
            )],
        );
        let all = led_partitions(&image, "__consumer_offsets", 1, |_| true);
        assert_eq!(all, led(&[(0, 3), (2, 0)]));
        let hosted = led_partitions(&image, "__consumer_offsets", 1, |p| p != 2);
        assert_eq!(hosted, led(&[(0, 3)]));
        assert!(led_partitions(&image, "__transaction_state", 1, |_| true).is_empty());
    }
}
