//! Produce: decode → authorize → `ReplicaManager::append_records` → encode. The acks and
//! internal-topic rules, the appends and the `acks=all` replication wait live in the
//! ReplicaManager (`actors/partition_replica/replica_manager/append.rs`). acks=0 gets no
//! response (the router drops it).
//!
//! KIP-951 (v10+): a partition refused with NOT_LEADER_OR_FOLLOWER (or FENCED_LEADER_EPOCH)
//! names its current leader, and the response lists that leader's endpoint on the client's
//! listener, so the producer retries there without a Metadata round trip.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};

use super::{authorize, authorized, str_bytes, topic_name};
use crate::actors::partition_replica::replica_manager::{
    AppendOptions, PartitionAppend, PartitionAppendResult, TopicAppend,
};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ProduceRequest,
    version: i16,
    client: &ClientInfo,
) -> ProduceResponse {
    // Kafka's checks: WRITE on the transactional id of a transactional produce (else every
    // partition is refused), then WRITE on each topic; nothing refused is appended.
    let refused_all = req.transactional_id.as_ref().and_then(|id| {
        authorize(
            ctx,
            client,
            AclOperation::Write,
            ResourceType::TransactionalId,
            id,
        )
        .err()
    });
    let (allowed, refused): (Vec<_>, Vec<_>) = req.topic_data.into_iter().partition(|t| {
        refused_all.is_none()
            && authorized(
                ctx,
                client,
                AclOperation::Write,
                ResourceType::Topic,
                &t.name,
            )
    });
    let image = ctx.metadata.current();
    let options = AppendOptions {
        required_acks: req.acks,
        timeout: Duration::from_millis(req.timeout_ms.max(0) as u64),
        image: &image,
        timer: &ctx.timer,
    };
    let topics = allowed
        .into_iter()
        .map(|t| TopicAppend {
            topic: t.name.to_string(),
            partitions: t
                .partition_data
                .into_iter()
                .map(|p| PartitionAppend {
                    partition: p.index,
                    records: p.records,
                })
                .collect(),
        })
        .collect();
    let results = ctx.replicas.append_records(options, topics).await;
    // The leaders named are those of the metadata as it is now, after any wait for
    // replication (a leader lost during it must not be named from the older image).
    let latest = ctx.metadata.current();
    let mut leaders = LeaderHints::new(&latest, &client.listener, version)
        .told_by(ctx.node_id, ctx.lease.is_held());
    let refused_responses = refused.into_iter().map(|t| {
        let error = refused_all
            .clone()
            .unwrap_or(BrokerError::TopicAuthorizationFailed);
        let partitions = t
            .partition_data
            .iter()
            .map(|p| {
                partition_response(
                    &t.name,
                    PartitionAppendResult {
                        partition: p.index,
                        result: Err(error.clone()),
                    },
                    version,
                    &mut leaders,
                )
            })
            .collect();
        TopicProduceResponse::default()
            .with_name(t.name)
            .with_partition_responses(partitions)
    });
    let refused_responses: Vec<TopicProduceResponse> = refused_responses.collect();
    let responses = results
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| partition_response(&t.topic, p, version, &mut leaders))
                .collect();
            TopicProduceResponse::default()
                .with_name(topic_name(&t.topic))
                .with_partition_responses(partitions)
        })
        .chain(refused_responses)
        .collect();
    ProduceResponse::default()
        .with_responses(responses)
        .with_node_endpoints(leaders.into_endpoints())
}

fn partition_response(
    topic: &str,
    p: PartitionAppendResult,
    version: i16,
    leaders: &mut LeaderHints,
) -> PartitionProduceResponse {
    match p.result {
        Ok(r) => PartitionProduceResponse::default()
            .with_index(p.partition)
            .with_base_offset(r.base_offset)
            .with_log_append_time_ms(r.log_append_time)
            .with_log_start_offset(if version >= 5 { r.log_start_offset } else { -1 }),
        Err(e) => {
            tracing::debug!(topic = %topic, partition = p.partition, error = %e, "produce refused");
            PartitionProduceResponse::default()
                .with_index(p.partition)
                .with_error_code(e.code())
                .with_error_message(if version >= 8 {
                    Some(e.message())
                } else {
                    None
                })
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1)
                .with_current_leader(leaders.after(topic, p.partition, &e))
        }
    }
}

/// KIP-951's additions to one response: each redirected partition's current leader, and the
/// endpoints of those leaders, each node once (the lookup is `MetadataImage::current_leader`).
struct LeaderHints<'a> {
    image: &'a MetadataImage,
    listener: &'a str,
    /// This node, and whether it may name itself (`CurrentLeader::told_by`).
    node_id: i32,
    presents_itself_live: bool,
    /// Produce v10+; older versions have neither field.
    wanted: bool,
    endpoints: BTreeMap<i32, NodeEndpoint>,
}

impl<'a> LeaderHints<'a> {
    fn new(image: &'a MetadataImage, listener: &'a str, version: i16) -> Self {
        LeaderHints {
            image,
            listener,
            node_id: -1,
            presents_itself_live: true,
            wanted: version >= 10,
            endpoints: BTreeMap::new(),
        }
    }

    /// Hints as node `node_id` gives them, holding its lease or not.
    fn told_by(self, node_id: i32, lease_held: bool) -> Self {
        LeaderHints {
            node_id,
            presents_itself_live: lease_held,
            ..self
        }
    }

    /// The `current_leader` of a partition answered with `error`: the default (-1, -1, not
    /// encoded) unless the error sends the client to the leader and this node knows it.
    fn after(&mut self, topic: &str, partition: i32, error: &BrokerError) -> LeaderIdAndEpoch {
        if !self.wanted || !error.names_current_leader() {
            return LeaderIdAndEpoch::default();
        }
        let leader = self
            .image
            .current_leader(topic, partition, self.listener)
            .told_by(self.node_id, self.presents_itself_live);
        if let Some(e) = leader.endpoint {
            self.endpoints.entry(e.node_id).or_insert_with(|| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(e.node_id))
                    .with_host(str_bytes(e.host))
                    .with_port(e.port)
                    .with_rack(e.rack.map(str_bytes))
            });
        }
        LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(leader.leader_id))
            .with_leader_epoch(leader.leader_epoch)
    }

    fn into_endpoints(self) -> Vec<NodeEndpoint> {
        self.endpoints.into_values().collect()
    }
}
