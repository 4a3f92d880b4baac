//! Produce: decode → authorize → `ReplicaManager::append_records` → encode. The acks and
//! internal-topic rules, the appends and the `acks=all` replication wait live in the
//! ReplicaManager (`actors/partition_replica/replica_manager/append.rs`). acks=0 gets no
//! response (the router drops it).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::topic_name;
use crate::actors::partition_replica::replica_manager::{
    AppendOptions, PartitionAppend, PartitionAppendResult, TopicAppend,
};
use crate::broker::BrokerContext;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ProduceRequest,
    version: i16,
) -> ProduceResponse {
    // Authorization (the security issue) goes here, before anything is appended.
    let image = ctx.metadata.current();
    let options = AppendOptions {
        required_acks: req.acks,
        timeout: Duration::from_millis(req.timeout_ms.max(0) as u64),
        image: &image,
        timer: &ctx.timer,
    };
    let topics = req
        .topic_data
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
