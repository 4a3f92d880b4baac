//! Metadata: brokers, controller and topic/partition leadership from the `MetadataCache`.
//! Fenced brokers are left out and listed as offline replicas; a partition without a leader
//! (-1) carries LEADER_NOT_AVAILABLE so clients retry (Kafka's metadata cache answers a
//! partition whose leader is not alive the same way).
//!
//! A broker without its lease (`partition_replica/lease.rs`) answers about itself as about a
//! fenced broker: cut off from the controller quorum, it cannot tell whether it was fenced and
//! its partitions given other leaders meanwhile. So it names no leader for the partitions it
//! leads and leaves itself out of the broker list. The latter matters to librdkafka: it sends
//! its metadata requests to the connected broker it used last, which would be this one again
//! and again; a broker missing from a Metadata answer it decommissions, and asks the others.
//! Unknown topics are created on the fly through the `Controller` when the client allows it
//! and `auto.create.topics.enable` is on, with `num.partitions` partitions.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};

use super::{authorized, authorized_operations, str_bytes, topic_name, CLUSTER};
use crate::actors::controller::{CreateTopics, NewTopic};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::{validate_topic_name, MetadataImage, TopicMeta};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: MetadataRequest,
    version: i16,
    client: &ClientInfo,
) -> MetadataResponse {
    let mut image = ctx.metadata.current();
    // v0: an empty list means "all topics"; v1+: null means all, empty means none.
    let requested: Option<Vec<(Option<String>, uuid::Uuid)>> = match req.topics {
        None => None,
        Some(t) if version == 0 && t.is_empty() => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| (t.name.map(|n| n.to_string()), t.topic_id))
                .collect(),
        ),
    };
    let allow_auto_create = (version < 4 || req.allow_auto_topic_creation)
        && ctx.config.get_bool("auto.create.topics.enable");
    // Kafka's checks: a topic is listed only to a principal allowed to DESCRIBE it (a topic
    // asked for by name answers TOPIC_AUTHORIZATION_FAILED instead), and auto-creation also
    // needs CREATE on the cluster or the topic.
    let may_describe = |name: &str| {
        authorized(
            ctx,
            client,
            AclOperation::Describe,
            ResourceType::Topic,
            name,
        )
    };
    let may_create_any = authorized(
        ctx,
        client,
        AclOperation::Create,
        ResourceType::Cluster,
        CLUSTER,
    );
    let may_create = |name: &str| {
        may_create_any || authorized(ctx, client, AclOperation::Create, ResourceType::Topic, name)
    };
    let operations = TopicOperations::new(
        ctx,
        client,
        version,
        req.include_topic_authorized_operations,
    );

    let mut topics = Vec::new();
    let mut live = LiveBrokers {
        image: image.clone(),
        node_id: ctx.node_id,
        lease_held: ctx.lease.is_held(),
    };
    match requested {
        None => {
            for t in image.topics.values().filter(|t| may_describe(&t.name)) {
                topics.push(operations.apply(topic_response(t, version, &live), &t.name));
            }
        }
        Some(list) => {
            if allow_auto_create {
                let missing: Vec<NewTopic> = list
                    .iter()
                    .filter_map(|(n, _)| n.clone())
                    .filter(|n| !image.topics.contains_key(n) && validate_topic_name(n).is_ok())
                    .filter(|n| may_describe(n) && may_create(n))
                    .map(|name| NewTopic {
                        name,
                        num_partitions: -1,
                        replication_factor: -1,
                        configs: Default::default(),
                        assignments: None,
                    })
                    .collect();
                if !missing.is_empty() {
                    if let Ok(results) = ctx
                        .controller
                        .send(CreateTopics {
                            topics: missing,
                            validate_only: false,
                        })
                        .await
                    {
                        for r in results.iter().filter_map(|r| r.as_ref().ok()) {
                            tracing::info!(topic = %r.name, partitions = r.partitions.len(), "auto-created topic");
                        }
                    }
                    image = ctx.metadata.current();
                    live.image = image.clone();
                }
            }
            for (name, id) in list {
                let found = match &name {
                    Some(n) => image.topics.get(n),
                    None => image.topic_by_id(&id),
                };
                let refused = match (&name, found) {
                    (Some(n), _) => !may_describe(n),
                    (None, Some(t)) => !may_describe(&t.name),
                    (None, None) => false,
                };
                match found {
                    Some(t) if !refused => {
                        topics.push(operations.apply(topic_response(t, version, &live), &t.name))
                    }
                    _ => {
                        let err = match &name {
                            _ if refused && name.is_some() => BrokerError::TopicAuthorizationFailed,
                            // A topic id the principal may not describe is not confirmed to exist.
                            None if refused => BrokerError::UnknownTopicId,
                            Some(n) if validate_topic_name(n).is_err() => {
                                BrokerError::InvalidTopic(n.clone())
                            }
                            Some(_) => BrokerError::UnknownTopicOrPartition,
                            None => BrokerError::UnknownTopicId,
                        };
                        topics.push(
                            MetadataResponseTopic::default()
                                .with_error_code(err.code())
                                .with_name(name.as_deref().map(topic_name))
                                .with_topic_id(if version >= 10 {
                                    id
                                } else {
                                    Default::default()
                                }),
                        );
                    }
                }
            }
        }
    }

    let brokers = broker_list(&live, &client.listener, version);
    // Fields a version lacks must stay at their defaults, or the encoder refuses the response.
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(if version >= 2 {
            Some(str_bytes(&image.cluster_id))
        } else {
            None
        })
        .with_controller_id(BrokerId(if version >= 1 {
            image.controller_id
        } else {
            -1
        }))
        .with_topics(topics)
        .with_cluster_authorized_operations(
            if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
                authorized_operations(ctx, client, ResourceType::Cluster, CLUSTER)
            } else {
                i32::MIN
            },
        )
}

/// KIP-430: the operations the principal may do on each listed topic, when asked (v8+).
struct TopicOperations<'a> {
    ctx: &'a BrokerContext,
    client: &'a ClientInfo,
    wanted: bool,
}

impl<'a> TopicOperations<'a> {
    fn new(ctx: &'a BrokerContext, client: &'a ClientInfo, version: i16, asked: bool) -> Self {
        TopicOperations {
            ctx,
            client,
            wanted: version >= 8 && asked,
        }
    }

    fn apply(&self, topic: MetadataResponseTopic, name: &str) -> MetadataResponseTopic {
        if !self.wanted {
            return topic;
        }
        let ops = authorized_operations(self.ctx, self.client, ResourceType::Topic, name);
        topic.with_topic_authorized_operations(ops)
    }
}

/// The brokers this answer may present as alive: registered and unfenced in the image, and
/// this broker only while it holds its lease.
struct LiveBrokers {
    image: Arc<MetadataImage>,
    node_id: i32,
    lease_held: bool,
}

impl LiveBrokers {
    fn is_live(&self, id: i32) -> bool {
        self.image.is_broker_live(id) && (id != self.node_id || self.lease_held)
    }
}

/// The live brokers, each at its address on the listener the client came through.
fn broker_list(live: &LiveBrokers, listener: &str, version: i16) -> Vec<MetadataResponseBroker> {
    live.image
        .brokers
        .values()
        .filter(|b| live.is_live(b.id))
        .filter_map(|b| {
            let (host, port) = b.address_for(listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_rack(if version >= 1 {
                        b.rack.as_deref().map(str_bytes)
                    } else {
                        None
                    }),
            )
        })
        .collect()
}

fn topic_response(t: &TopicMeta, version: i16, live: &LiveBrokers) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            let leader_live = p.leader >= 0 && live.is_live(p.leader);
            let error = if leader_live {
                0
            } else {
                BrokerError::LeaderNotAvailable.code()
            };
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_error_code(error)
                .with_leader_id(BrokerId(if leader_live { p.leader } else { -1 }))
                .with_leader_epoch(if version >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
                .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
                .with_offline_replicas(if version >= 5 {
                    p.replicas
                        .iter()
                        .filter(|b| !live.is_live(**b))
                        .map(|b| BrokerId(*b))
                        .collect()
                } else {
                    Vec::new()
                })
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&t.name)))
        .with_topic_id(if version >= 10 {
            t.id
        } else {
            Default::default()
        })
        .with_is_internal(version >= 1 && t.internal)
        .with_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{image, partitions_led_by, topic};

    /// Node 1's view: brokers 1, 2 and 3 (fenced); partitions led by 1, 2 and 3.
    fn node_one(lease_held: bool) -> (LiveBrokers, TopicMeta) {
        let t = topic("t", partitions_led_by(&[1, 2, 3], &[1, 2, 3]));
        let live = LiveBrokers {
            image: Arc::new(image(&[1, 2, 3], &[3], [t.clone()])),
            node_id: 1,
            lease_held,
        };
        (live, t)
    }

    /// Per partition: leader, error code, offline replicas.
    fn partitions(lease_held: bool) -> Vec<(i32, i16, Vec<i32>)> {
        let (live, t) = node_one(lease_held);
        topic_response(&t, 12, &live)
            .partitions
            .iter()
            .map(|p| {
                let offline = p.offline_replicas.iter().map(|b| b.0).collect();
                (p.leader_id.0, p.error_code, offline)
            })
            .collect()
    }

    fn brokers(lease_held: bool) -> Vec<i32> {
        let (live, _) = node_one(lease_held);
        broker_list(&live, "", 12)
            .iter()
            .map(|b| b.node_id.0)
            .collect()
    }

    #[test]
    fn a_broker_with_its_lease_answers_as_the_image_says() {
        let none = BrokerError::LeaderNotAvailable.code();
        assert_eq!(
            partitions(true),
            vec![(1, 0, vec![3]), (2, 0, vec![3]), (-1, none, vec![3])]
        );
        assert_eq!(brokers(true), vec![1, 2]);
    }

    #[test]
    fn a_broker_without_its_lease_answers_about_itself_as_about_a_fenced_broker() {
        let none = BrokerError::LeaderNotAvailable.code();
        // No leader for what it leads; other brokers' leadership as the image has it.
        assert_eq!(
            partitions(false),
            vec![
                (-1, none, vec![1, 3]),
                (2, 0, vec![1, 3]),
                (-1, none, vec![1, 3])
            ]
        );
        assert_eq!(brokers(false), vec![2]);
    }
}
