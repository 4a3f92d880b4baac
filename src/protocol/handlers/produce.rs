//! Produce: each partition's batches go to its `PartitionReplica` (all partitions in
//! parallel); the replica validates and appends them untouched but for the base offset.
//! acks=0 gets no response (the router drops it); on one broker acks=1 and acks=-1 complete
//! when the append does, since the high watermark moves with the log end offset.

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::partition_handle;
use crate::actors::partition_replica::AppendRecords;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::storage::AppendOrigin;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ProduceRequest,
    version: i16,
) -> ProduceResponse {
    let acks_ok = matches!(req.acks, -1..=1);
    let image = ctx.metadata.current();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.to_string();
        let appends = topic.partition_data.into_iter().map(|p| {
            let name = name.clone();
            let handle = partition_handle(ctx, &image, &name, p.index);
            async move {
                let result: Result<_, BrokerError> = async {
                    if !acks_ok {
                        return Err(BrokerError::InvalidRequiredAcks);
                    }
                    if name == crate::actors::group_coordinator::OFFSETS_TOPIC
                        || name == crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC
                    {
                        // Only the coordinators write their internal topics.
                        return Err(BrokerError::InvalidTopic(format!("{name} is internal")));
                    }
                    let handle = handle?;
                    let records = p.records.filter(|r| !r.is_empty()).ok_or_else(|| BrokerError::InvalidRecord("no records".into()))?;
                    handle
                        .addr
                        .send(AppendRecords {
                            records,
                            origin: AppendOrigin::Client,
                        })
                        .await?
                }
                .await;
                match result {
                    Ok(r) => PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_base_offset(r.base_offset)
                        .with_log_append_time_ms(r.log_append_time)
                        .with_log_start_offset(if version >= 5 { r.log_start_offset } else { -1 }),
                    Err(e) => {
                        tracing::debug!(topic = %name, partition = p.index, error = %e, "produce refused");
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(e.code())
                            .with_error_message(if version >= 8 { Some(e.message()) } else { None })
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(-1)
                    }
                }
            }
        });
        let partition_responses = futures::future::join_all(appends).await;
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}
