//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3) or the first offset at or after
//! a timestamp, answered by each partition's `PartitionReplica`. Under `isolation_level` 1
//! (READ_COMMITTED) latest is the last stable offset.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{authorize, partition_handle};
use crate::actors::partition_replica::{IsolationLevel, ListOffset};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ListOffsetsRequest,
    version: i16,
    client: &ClientInfo,
) -> ListOffsetsResponse {
    let image = ctx.metadata.current();
    let isolation_level = IsolationLevel::from_wire(req.isolation_level);
    let mut topics = Vec::new();
    for t in req.topics {
        let name = t.name.to_string();
        // Kafka's check: DESCRIBE on the topic.
        let allowed = authorize(
            ctx,
            client,
            AclOperation::Describe,
            ResourceType::Topic,
            &name,
        );
        let lookups = t.partitions.into_iter().map(|p| {
            let handle = allowed
                .clone()
                .and_then(|_| partition_handle(ctx, &image, &name, p.partition_index));
            async move {
                let r: Result<(i64, i64, i32), BrokerError> = async {
                    let h = handle?;
                    let epoch = h.watermarks.borrow().leader_epoch.max(0);
                    h.addr
                        .send(ListOffset {
                            timestamp: p.timestamp,
                            isolation_level,
                            current_leader_epoch: if version >= 4 {
                                p.current_leader_epoch
                            } else {
                                -1
                            },
                        })
                        .await?
                        .map(|(offset, timestamp)| (offset, timestamp, epoch))
                }
                .await;
                let resp =
                    ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                match r {
                    // leader_epoch exists from v4; the encoder refuses fields a version lacks.
                    Ok((offset, timestamp, epoch)) => resp
                        .with_offset(offset)
                        .with_timestamp(timestamp)
                        .with_leader_epoch(if version >= 4 { epoch } else { -1 }),
                    Err(e) => resp
                        .with_error_code(e.code())
                        .with_offset(-1)
                        .with_timestamp(-1),
                }
            }
        });
        let partitions = futures::future::join_all(lookups).await;
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
