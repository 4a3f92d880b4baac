//! DeleteRecords: moves each partition's log start offset forward (offset -1 = high watermark).
//! Kafka's check: DELETE on each topic (else its partitions TOPIC_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{authorize, partition_handle};
use crate::actors::partition_replica::DeleteRecordsBefore;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DeleteRecordsRequest,
    _version: i16,
    client: &ClientInfo,
) -> DeleteRecordsResponse {
    let image = ctx.metadata.current();
    let mut topics = Vec::new();
    for t in req.topics {
        let name = t.name.to_string();
        let allowed = authorize(
            ctx,
            client,
            AclOperation::Delete,
            ResourceType::Topic,
            &name,
        );
        let deletes = t.partitions.into_iter().map(|p| {
            let handle = allowed
                .clone()
                .and_then(|()| partition_handle(ctx, &image, &name, p.partition_index));
            async move {
                let r: Result<i64, BrokerError> = async {
                    let h = handle?;
                    h.addr
                        .send(DeleteRecordsBefore { offset: p.offset })
                        .await?
                }
                .await;
                let resp =
                    DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                match r {
                    Ok(low) => resp.with_low_watermark(low),
                    Err(e) => resp.with_error_code(e.code()).with_low_watermark(-1),
                }
            }
        });
        let partitions = futures::future::join_all(deletes).await;
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
