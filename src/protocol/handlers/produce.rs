//! Produce: decode → authorize → `ReplicaManager::append_records` → encode. The acks and
//! internal-topic rules, the appends and the `acks=all` replication wait live in the
//! ReplicaManager (`actors/partition_replica/replica_manager/append.rs`). acks=0 gets no
//! response (the router drops it).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{authorize, authorized, topic_name};
use crate::actors::partition_replica::replica_manager::{
    AppendOptions, PartitionAppend, PartitionAppendResult, TopicAppend,
};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
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
                )
            })
            .collect();
        TopicProduceResponse::default()
            .with_name(t.name)
            .with_partition_responses(partitions)
    });
    let refused_responses: Vec<TopicProduceResponse> = refused_responses.collect();
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
    let responses = results
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| partition_response(&t.topic, p, version))
                .collect();
            TopicProduceResponse::default()
                .with_name(topic_name(&t.topic))
                .with_partition_responses(partitions)
        })
        .chain(refused_responses)
        .collect();
    ProduceResponse::default().with_responses(responses)
}

fn partition_response(
    topic: &str,
    p: PartitionAppendResult,
    version: i16,
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
        }
    }
}
